"""Cohort search: the patients who match a text query and structured criteria, with match counts and best snippets.

The text part counts every matching passage in keyword mode (full text with clinical synonyms, like EMERSE: a
count a clinician can check), or groups the best passages of a vector/hybrid search (semantic, not exhaustive).
Structured criteria narrow the population first: age, sex, a condition, a medication and a lab threshold, each
a code or the words of its name (with the same synonyms: "HbA1c > 7" finds LOINC 4548-4).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone

from clinic.access import Actor, readable_patient_ids
from clinic.audit import Action, audit
from clinic.dates import years_before
from clinic.errors import InvalidInput
from clinic.models import Patient
from clinic.spreadsheet import csv_text
from search.models import Cohort
from search.negation import term_context
from search.selectors import SearchHit, _hits, expanded_terms, search_chunks
from search.synonyms import expansions

LAB_OPS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "="}
SEXES = ("male", "female", "other", "unknown")
SEMANTIC_DEPTH = 500  # passages a vector/hybrid cohort query groups
SNIPPETS_PER_PATIENT = 3


@dataclass(frozen=True)
class LabCriterion:
    test: str  # a LOINC code or words of the lab's name ("HbA1c", "systolic blood pressure")
    op: str  # one of LAB_OPS
    value: float
    latest: bool = False  # only each patient's latest result counts (else any result in the period)


@dataclass(frozen=True)
class CohortCriteria:
    q: str = ""
    mode: str = "keyword"
    age_min: int | None = None
    age_max: int | None = None
    sex: str = ""
    condition: str = ""  # a code or words of its name
    medication: str = ""
    lab: LabCriterion | None = None
    active_only: bool = False  # conditions still active, medications still prescribed
    date_from: dt.date | None = None  # notes and lab results in this period
    date_to: dt.date | None = None
    exclude_negated: bool = False
    exclude_uncertain: bool = False
    exclude_other_subject: bool = False

    def is_empty(self) -> bool:
        structured = (self.age_min, self.age_max, self.lab)
        return not (self.q.strip() or self.sex or self.condition or self.medication or any(v is not None for v in structured))

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("date_from", "date_to"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CohortCriteria:
        data = dict(data)
        lab = data.pop("lab", None)
        for key in ("date_from", "date_to"):
            if data.get(key):
                data[key] = dt.date.fromisoformat(str(data[key]))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known, lab=LabCriterion(**lab) if lab else None)

    def describe(self) -> str:
        parts = []
        if self.q.strip():
            parts.append(f"notes mention “{self.q.strip()}” ({self.mode})")
        if self.age_min is not None or self.age_max is not None:
            parts.append(
                f"age {self.age_min if self.age_min is not None else 0}–{self.age_max if self.age_max is not None else '…'}"
            )
        if self.sex:
            parts.append(self.sex)
        if self.condition:
            parts.append(f"{'active ' if self.active_only else ''}condition {self.condition}")
        if self.medication:
            parts.append(f"{'active ' if self.active_only else ''}medication {self.medication}")
        if self.lab:
            parts.append(f"{'latest ' if self.lab.latest else ''}{self.lab.test} {self.lab.op} {self.lab.value:g}")
        return "; ".join(parts) or "everyone"


@dataclass
class CohortMember:
    patient: Patient
    matches: int = 0  # passages that match the text query
    documents: int = 0  # distinct notes/reports among them
    hits: list[SearchHit] = field(default_factory=list)  # the best passages, with snippets
    best_chunk_ids: list[int] = field(default_factory=list)
    lab_value: float | None = None
    lab_unit: str = ""
    lab_date: dt.datetime | None = None


@dataclass
class CohortResult:
    criteria: CohortCriteria
    members: list[CohortMember]  # best first, at most `limit`
    total: int  # patients in the cohort
    matches: int  # matching passages over the whole cohort
    suppressed: bool = False  # a count below COHORT_MIN_COUNT, withheld from a counts-only reader

    @property
    def patient_ids(self) -> list[int]:
        return [member.patient.pk for member in self.members]


def validate_criteria(criteria: CohortCriteria) -> list[dict[str, str]]:
    """Problems as {field, message}; empty when the criteria can run."""
    problems = []
    if criteria.is_empty():
        problems.append({"field": "criteria", "message": "give a text query or at least one structured criterion"})
    if criteria.mode not in ("keyword", "vector", "hybrid"):
        problems.append({"field": "mode", "message": "use keyword, vector or hybrid"})
    for name in ("age_min", "age_max"):
        value = getattr(criteria, name)
        if value is not None and not 0 <= value <= 130:
            problems.append({"field": name, "message": "an age in years, 0 to 130"})
    if criteria.age_min is not None and criteria.age_max is not None and criteria.age_min > criteria.age_max:
        problems.append({"field": "age_min", "message": "age_min is above age_max"})
    if criteria.sex and criteria.sex not in SEXES:
        problems.append({"field": "sex", "message": f"use one of {', '.join(SEXES)}"})
    if criteria.lab is not None:
        if not criteria.lab.test.strip():
            problems.append({"field": "lab.test", "message": "name the lab (a LOINC code or its name)"})
        if criteria.lab.op not in LAB_OPS:
            problems.append({"field": "lab.op", "message": f"use one of {' '.join(LAB_OPS)}"})
    if criteria.date_from and criteria.date_to and criteria.date_from > criteria.date_to:
        problems.append({"field": "date_from", "message": "date_from is after date_to"})
    return problems


def cohort_query(criteria: CohortCriteria, *, limit: int | None = 100, patient_ids: list[int] | None = None) -> CohortResult:
    """Run the criteria: members ordered by matches (then name), the first `limit` with their best snippets.
    `patient_ids`: only these patients can be members (the charts the reader may see; None: everyone)."""
    allowed = _structured_patient_ids(criteria)  # None: no structured criteria
    if patient_ids is not None:
        allowed = set(patient_ids) if allowed is None else allowed & set(patient_ids)
    labs = _lab_values(criteria, allowed) if criteria.lab else None
    if labs is not None:
        allowed = set(labs) if allowed is None else allowed & set(labs)
    members: dict[int, CohortMember] = {}
    total_matches = 0
    if criteria.q.strip():
        grouped = (_keyword_matches if criteria.mode == "keyword" else _semantic_matches)(criteria, allowed)
        for patient_id, (matches, documents, best) in grouped.items():
            members[patient_id] = CohortMember(
                patient=Patient(pk=patient_id), matches=matches, documents=documents, best_chunk_ids=best
            )
            total_matches += matches
    else:
        ids = allowed if allowed is not None else set(Patient.objects.values_list("pk", flat=True))
        members = {pk: CohortMember(patient=Patient(pk=pk)) for pk in ids}
    patients = Patient.objects.in_bulk(list(members))
    ordered = sorted(
        (m for pk, m in members.items() if pk in patients),
        key=lambda m: (
            -m.matches,
            patients[m.patient.pk].family_name.lower(),
            patients[m.patient.pk].given_name.lower(),
            m.patient.pk,
        ),
    )
    for member in ordered:
        member.patient = patients[member.patient.pk]
        if labs and member.patient.pk in labs:
            member.lab_value, member.lab_unit, member.lab_date = labs[member.patient.pk]
    shown = ordered if limit is None else ordered[:limit]
    _fill_snippets(shown, criteria.q)
    return CohortResult(criteria=criteria, members=shown, total=len(ordered), matches=total_matches)


def _word_pattern(words: str) -> list[str]:
    """PostgreSQL regular expressions matching the words (and their synonyms) as whole words, any case."""
    phrases = [words.strip().lower()] + [p for p in expansions(words) if len(p) > 2]
    return [r"\m" + re.escape(p).replace(r"\ ", r"\s+") + r"\M" for p in phrases if p]


def _structured_patient_ids(criteria: CohortCriteria) -> set[int] | None:
    patients = Patient.objects.all()
    narrowed = False
    today = timezone.localdate()
    if criteria.sex:
        patients, narrowed = patients.filter(sex__iexact=criteria.sex), True
    if criteria.age_min is not None:
        patients, narrowed = patients.filter(birth_date__lte=years_before(day=today, years=criteria.age_min)), True
    if criteria.age_max is not None:
        patients, narrowed = patients.filter(birth_date__gt=years_before(day=today, years=criteria.age_max + 1)), True
    ids = set(patients.values_list("pk", flat=True)) if narrowed else None
    for table, words, active in (
        ("clinic_condition", criteria.condition, "clinical_status IN ('active', 'recurrence', 'relapse')"),
        ("clinic_medicationrequest", criteria.medication, "status = 'active'"),
    ):
        if not words.strip():
            continue
        sql = f"SELECT DISTINCT patient_id FROM {table} WHERE (code = %s OR display ~* ANY(%s))"
        if criteria.active_only:
            sql += f" AND {active}"
        with connection.cursor() as cursor:
            cursor.execute(sql, [words.strip(), _word_pattern(words)])
            found = {row[0] for row in cursor.fetchall()}
        ids = found if ids is None else ids & found
    return ids


_LAB_SQL = """
SELECT DISTINCT ON (patient_id) patient_id, value, unit, effective FROM (
    SELECT o.patient_id, o.value, o.unit, o.effective FROM clinic_observation o
    WHERE o.value IS NOT NULL AND (o.code = %(code)s OR o.display ~* ANY(%(patterns)s))
    UNION ALL
    SELECT o.patient_id, (c->>'value')::float, coalesce(c->>'unit', ''), o.effective
    FROM clinic_observation o CROSS JOIN LATERAL jsonb_array_elements(o.components) c
    WHERE o.components <> '[]'::jsonb AND jsonb_typeof(c->'value') = 'number'
      AND (c->>'code' = %(code)s OR c->>'display' ~* ANY(%(patterns)s))
) v
WHERE {period}
ORDER BY patient_id, effective DESC NULLS LAST
"""


def _lab_values(criteria: CohortCriteria, allowed: set[int] | None) -> dict[int, tuple[float, str, dt.datetime | None]]:
    """Patient → (value, unit, date) of the result that qualifies: the latest one, or the latest over the threshold."""
    lab = criteria.lab
    assert lab is not None
    period = ["TRUE"]
    params: dict[str, Any] = {"code": lab.test.strip(), "patterns": _word_pattern(lab.test)}
    if criteria.date_from:
        period.append("effective >= %(date_from)s")
        params["date_from"] = criteria.date_from
    if criteria.date_to:
        period.append("effective < %(date_to)s")
        params["date_to"] = criteria.date_to + dt.timedelta(days=1)
    if allowed is not None:
        period.append("patient_id = ANY(%(allowed)s)")
        params["allowed"] = sorted(allowed)
    threshold = f"value {LAB_OPS[lab.op]} %(threshold)s"
    params["threshold"] = lab.value
    sql = _LAB_SQL.replace("{period}", " AND ".join(period + ([] if lab.latest else [threshold])))
    if lab.latest:
        sql = f"SELECT * FROM ({sql}) latest WHERE {threshold}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: (float(row[1]), row[2], row[3]) for row in cursor.fetchall()}


_KEYWORD_SQL = """
SELECT c.id, c.patient_id, c.source_id, ts_rank_cd(c.search_vector, q.query) AS rank
FROM search_chunk c, (SELECT {tsquery} AS query) q
WHERE c.search_vector @@ q.query AND c.patient_id IS NOT NULL AND c.source_type IN ('note', 'report') AND {where}
"""


def _keyword_matches(criteria: CohortCriteria, allowed: set[int] | None) -> dict[int, tuple[int, int, list[int]]]:
    """Patient → (matching passages, distinct documents, best chunk ids), counting every passage that matches."""
    phrases = [criteria.q.strip()] + expansions(criteria.q)
    tsquery = " || ".join(["websearch_to_tsquery('english', %s)"] + ["phraseto_tsquery('english', %s)"] * (len(phrases) - 1))
    where, params = _chunk_filters(criteria, allowed)
    with connection.cursor() as cursor:
        cursor.execute(_KEYWORD_SQL.replace("{tsquery}", tsquery).replace("{where}", where), [*phrases, *params])
        rows = cursor.fetchall()
    if criteria.exclude_negated or criteria.exclude_uncertain or criteria.exclude_other_subject:
        rows = _without_excluded(rows, criteria)
    return _group(rows)


def _chunk_filters(criteria: CohortCriteria, allowed: set[int] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if allowed is not None:
        clauses.append("c.patient_id = ANY(%s)")
        params.append(sorted(allowed))
    if criteria.date_from:
        clauses.append("c.date >= %s")
        params.append(criteria.date_from)
    if criteria.date_to:
        clauses.append("c.date < %s")
        params.append(criteria.date_to + dt.timedelta(days=1))
    return " AND ".join(clauses), params


def _without_excluded(rows: list[tuple[Any, ...]], criteria: CohortCriteria) -> list[tuple[Any, ...]]:
    """Drop passages where the query's terms are negated, uncertain or about someone else (as excluded)."""
    from search.models import Chunk

    terms = expanded_terms(criteria.q)
    texts = dict(Chunk.objects.filter(pk__in=[row[0] for row in rows]).values_list("pk", "text"))
    kept = []
    for row in rows:
        context = term_context(texts.get(row[0], ""), terms)
        if context is not None and (
            (criteria.exclude_negated and context.negated)
            or (criteria.exclude_uncertain and context.uncertain)
            or (criteria.exclude_other_subject and context.other_subject)
        ):
            continue
        kept.append(row)
    return kept


def _semantic_matches(criteria: CohortCriteria, allowed: set[int] | None) -> dict[int, tuple[int, int, list[int]]]:
    """Patient → the same, from the best SEMANTIC_DEPTH passages of a vector or hybrid search."""
    hits = search_chunks(
        query=criteria.q,
        mode=criteria.mode,
        limit=SEMANTIC_DEPTH,
        patient_ids=sorted(allowed) if allowed is not None else None,
        date_from=criteria.date_from,
        date_to=criteria.date_to,
        exclude_negated=criteria.exclude_negated,
        exclude_uncertain=criteria.exclude_uncertain,
        exclude_other_subject=criteria.exclude_other_subject,
    )
    rows = [
        (h.chunk_id, h.patient_id, h.source_id, h.score)
        for h in hits
        if h.patient_id is not None and (allowed is None or h.patient_id in allowed)
    ]
    return _group(rows)


def _group(rows: list[tuple[Any, ...]]) -> dict[int, tuple[int, int, list[int]]]:
    by_patient: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_patient.setdefault(row[1], []).append(row)
    grouped = {}
    for patient_id, matched in by_patient.items():
        best = sorted(matched, key=lambda r: (-float(r[3]), r[0]))[:SNIPPETS_PER_PATIENT]
        grouped[patient_id] = (len(matched), len({r[2] for r in matched}), [r[0] for r in best])
    return grouped


def _fill_snippets(members: list[CohortMember], query: str) -> None:
    """Each member's best passages as hits with highlighted snippets (one query for the page)."""
    wanted = [chunk_id for m in members for chunk_id in m.best_chunk_ids]
    if not wanted:
        return
    hits = {h.chunk_id: h for h in _hits([(chunk_id, 0.0) for chunk_id in wanted], query)}
    for member in members:
        member.hits = [hits[c] for c in member.best_chunk_ids if c in hits]


CSV_COLUMNS = [
    "patient_id",
    "fhir_id",
    "mrn",
    "name",
    "birth_date",
    "age",
    "sex",
    "matches",
    "documents",
    "lab_value",
    "lab_unit",
    "lab_date",
]


def cohort_csv(result: CohortResult) -> str:
    """The cohort as CSV, one row per patient (identified: for use inside the hospital, and audited)."""
    rows = []
    for m in result.members:
        p = m.patient
        rows.append(
            [
                p.pk,
                p.fhir_id,
                p.mrn,
                p.name,
                p.birth_date.isoformat() if p.birth_date else "",
                p.age() if p.birth_date else "",
                p.sex,
                m.matches,
                m.documents,
                "" if m.lab_value is None else f"{m.lab_value:g}",
                m.lab_unit,
                m.lab_date.isoformat() if m.lab_date else "",
            ]
        )
    return csv_text(CSV_COLUMNS, rows)


def _raise_if_invalid(problems: list[dict[str, str]]) -> None:
    if problems:
        raise InvalidInput("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)


def counts_only(actor: Actor) -> bool:
    """A researcher (or anyone allowed cohort counts but no chart): counts, never identities."""
    return readable_patient_ids(actor=actor) == [] and actor.has_perm("clinic.query_cohort_counts")


def cohort_query_audited(
    *, criteria: CohortCriteria, actor: Actor, limit: int | None = 100, export: bool = False
) -> CohortResult:
    """Run a cohort query over the charts the actor may see and leave the audit row (criteria, patients shown).
    Readers with cohort counts but no chart access get the counts alone, and none below COHORT_MIN_COUNT."""
    _raise_if_invalid(validate_criteria(criteria))
    anonymous = counts_only(actor)
    if anonymous and export:
        raise PermissionDenied("exporting a cohort lists identified patients: it needs access to their charts")
    readable = None if anonymous else readable_patient_ids(actor=actor)
    result = cohort_query(criteria, limit=0 if anonymous else limit, patient_ids=readable)
    if anonymous and 0 < result.total < settings.COHORT_MIN_COUNT:
        result = CohortResult(criteria=criteria, members=[], total=0, matches=0, suppressed=True)
    audit(
        actor=actor,
        action=Action.COHORT_EXPORT if export else Action.COHORT_QUERY,
        patients=result.patient_ids,
        target=criteria.describe()[:300],
        detail={"criteria": criteria.as_json(), "total": result.total, "counts_only": anonymous},
    )
    return result


def cohort_save(*, name: str, criteria: CohortCriteria, actor: Actor, description: str = "") -> Cohort:
    """Save (or update, by name) the actor's cohort with the patients it holds now (of those they may see)."""
    name = name.strip()
    problems = validate_criteria(criteria)
    if not name:
        problems.insert(0, {"field": "name", "message": "name the cohort"})
    _raise_if_invalid(problems)
    if counts_only(actor):
        raise PermissionDenied("a saved cohort lists identified patients: it needs access to their charts")
    result = cohort_query(criteria, limit=None, patient_ids=readable_patient_ids(actor=actor))
    with transaction.atomic():
        cohort, _ = Cohort.objects.update_or_create(
            owner=actor.user,
            name=name[:200],
            defaults={
                "criteria": criteria.as_json(),
                "description": description[:1000],
                "patient_ids": result.patient_ids,
                "patient_count": result.total,
            },
        )
        audit(
            actor=actor,
            action=Action.COHORT_SAVE,
            patients=result.patient_ids,
            target=name[:300],
            detail={"criteria": criteria.as_json()},
        )
    return cohort
