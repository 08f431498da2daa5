"""Tools over the ecosystem. Each returns facts: one sentence of text plus the ids of the rows it came from.

The extractive backend composes answers and drafts from these facts directly; the generative backends get
the same functions as LangChain tools (`langchain_tools`) and must cite the ids the tools hand them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from django.db import transaction

from cds.services import assistant_cards
from clinic import models as m
from clinic.selectors import active_medications, active_problems
from clinic.timeline import KIND_MODELS

logger = logging.getLogger(__name__)

SEMANTIC_TAG = re.compile(
    r"\s*\((disorder|finding|substance|situation|procedure|morphologic abnormality|qualifier value|"
    r"observable entity|regime/therapy|product|person|event|body structure|navigational concept)\)\s*$"
)


class Citation(TypedDict):
    source_type: str  # the timeline kind: observation, condition, medication, allergy, note, report, …
    source_id: int
    label: str


@dataclass
class Fact:
    text: str
    citations: list[Citation] = field(default_factory=list)

    def as_sentence(self) -> dict[str, Any]:
        return {"text": self.text, "citations": list(self.citations)}


def clean(display: str) -> str:
    """A SNOMED display without its semantic tag: 'Prediabetes (finding)' -> 'Prediabetes'."""
    return SEMANTIC_TAG.sub("", display or "").strip()


def number(value: float) -> str:
    """A value as stored: 5.6, 120.0, 7.25 (two decimals at most)."""
    return str(value) if round(value, 2) == value else f"{value:.2f}"


def day(when: dt.datetime | dt.date | None) -> str:
    return when.date().isoformat() if isinstance(when, dt.datetime) else (when.isoformat() if when else "an unknown date")


def cite(kind: str, row: Any, label: str = "") -> Citation:
    return {"source_type": kind, "source_id": int(row.pk), "label": label or str(row)}


def join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def problem_list(*, patient: m.Patient) -> list[Fact]:
    facts = []
    for c in active_problems(patient=patient):
        since = f" since {day(c.onset)}" if c.onset else ""
        facts.append(Fact(f"{clean(c.display)} is an active problem{since}.", [cite("condition", c, clean(c.display))]))
    return facts


def medication_list(*, patient: m.Patient) -> list[Fact]:
    facts = []
    for med in active_medications(patient=patient):
        started = f", prescribed {day(med.authored_on)}" if med.authored_on else ""
        dose = f" ({med.dosage_text})" if med.dosage_text else ""
        facts.append(Fact(f"{med.display}{dose}{started}.", [cite("medication", med, med.display)]))
    return facts


def medication_history(*, patient: m.Patient, names: list[str]) -> list[Fact]:
    """For each drug named, its first prescription and its current status."""
    facts = []
    for name in names:
        rows = list(m.MedicationRequest.objects.filter(patient=patient, display__icontains=name).order_by("authored_on", "id"))
        if not rows:
            continue
        first, last = rows[0], rows[-1]
        status = f"; its latest order ({day(last.authored_on)}) is {last.status}" if last.status else ""
        text = f"{first.display} was first prescribed on {day(first.authored_on)}{status}."
        facts.append(
            Fact(
                text,
                [cite("medication", first, first.display)] + ([cite("medication", last, last.display)] if last != first else []),
            )
        )
    return facts


def allergy_rows(*, patient: m.Patient) -> list[m.AllergyIntolerance]:
    return list(m.AllergyIntolerance.objects.filter(patient=patient).order_by("display", "id"))


def allergy_list(*, patient: m.Patient) -> list[Fact]:
    facts = []
    seen: set[str] = set()
    for a in allergy_rows(patient=patient):
        name = clean(a.display)
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        status = f" ({a.clinical_status})" if a.clinical_status and a.clinical_status != "active" else ""
        reactions = [r["manifestation"] for r in a.reactions if r.get("manifestation")]
        reacts = f", reaction: {', '.join(clean(r) for r in reactions)}" if reactions else ""
        facts.append(Fact(f"Allergy to {name}{status}{reacts}.", [cite("allergy", a, name)]))
    return facts


def observation_names(*, patient: m.Patient) -> dict[str, str]:
    """Display name -> code of every numeric observation and component of this patient."""
    names: dict[str, str] = {}
    rows = m.Observation.objects.filter(patient=patient).values_list("code", "display", "value", "components").distinct()
    for code, display, value, components in rows:
        if value is not None and display:
            names.setdefault(display, code)
        for comp in components or []:
            if comp.get("value") is not None and comp.get("display"):
                names.setdefault(comp["display"], comp.get("code", ""))
    return names


def lab_values(*, patient: m.Patient, code: str, display: str) -> list[tuple[m.Observation, float, str]]:
    """(observation, value, unit), oldest first, for a code as a whole observation or a panel component."""
    points = []
    rows = m.Observation.objects.filter(patient=patient, effective__isnull=False)
    for obs in rows.filter(code=code).exclude(value=None).order_by("effective", "id"):
        points.append((obs, float(obs.value), obs.unit))  # type: ignore[arg-type]
    if not points:
        for obs in rows.filter(components__contains=[{"code": code}]).order_by("effective", "id"):
            for comp in obs.components:
                if comp.get("code") == code and comp.get("value") is not None:
                    points.append((obs, float(comp["value"]), comp.get("unit", "")))
    return points


def lab_latest(*, patient: m.Patient, code: str, display: str) -> list[Fact]:
    points = lab_values(patient=patient, code=code, display=display)
    if not points:
        return []
    obs, value, unit = max(points, key=lambda p: (p[0].effective, p[0].pk))
    flag = {"H": " (high)", "L": " (low)"}.get(obs.flag, "")
    text = f"The most recent {display} is {number(value)} {unit}{flag}, measured on {day(obs.effective)}."
    return [Fact(re.sub(r" +", " ", text).replace(" ,", ","), [cite("observation", obs, display)])]


def lab_trend(*, patient: m.Patient, code: str, display: str, last: int = 5) -> list[Fact]:
    points = lab_values(patient=patient, code=code, display=display)[-last:]
    if len(points) < 2:
        return lab_latest(patient=patient, code=code, display=display)
    series = "; ".join(f"{number(v)} {u} on {day(o.effective)}".replace("  ", " ") for o, v, u in points)
    return [
        Fact(
            f"{display} over the last {len(points)} measurements: {series}.",
            [cite("observation", o, display) for o, _, _ in points],
        )
    ]


def encounters(
    *, patient: m.Patient, start: dt.datetime | None = None, end: dt.datetime | None = None, limit: int = 5
) -> list[Fact]:
    rows = m.Encounter.objects.filter(patient=patient).exclude(start=None)
    if start:
        rows = rows.filter(start__gte=start)
    if end:
        rows = rows.filter(start__lte=end)
    facts = []
    for e in rows.order_by("-start", "-id")[:limit]:
        reason = f" for {clean(e.reason_display)}" if e.reason_display else ""
        facts.append(Fact(f"{e.type_display or 'Encounter'} on {day(e.start)}{reason}.", [cite("encounter", e, str(e))]))
    return facts


def procedures(*, patient: m.Patient, encounter: m.Encounter | None = None, limit: int = 8) -> list[Fact]:
    rows = m.Procedure.objects.filter(patient=patient)
    if encounter is not None:
        rows = rows.filter(encounter=encounter)
    return [
        Fact(f"{clean(p.display)} was performed on {day(p.performed_start)}.", [cite("procedure", p, clean(p.display))])
        for p in rows.order_by("-performed_start", "-id")[:limit]
    ]


def imaging_studies(*, patient: m.Patient, limit: int = 5) -> list[Fact]:
    rows = m.ImagingStudy.objects.filter(patient=patient).order_by("-started", "-id")[:limit]
    return [
        Fact(f"{s.description or 'Imaging study'} ({s.modalities}) on {day(s.started)}.", [cite("imaging", s, s.description)])
        for s in rows
    ]


def genomic_variants(*, patient: m.Patient, limit: int = 8) -> list[Fact]:
    facts = []
    for v in m.GenomicVariant.objects.filter(patient=patient).select_related("report").order_by("-significance", "gene")[:limit]:
        meaning = f", {v.significance}" if v.significance else ""
        condition = f" ({v.condition})" if v.condition else ""
        text = f"Variant {v.gene or v.chrom} {v.hgvs or f'{v.chrom}:{v.pos} {v.ref}>{v.alt}'}{meaning}{condition}."
        facts.append(Fact(text, [cite("genomics", v.report, str(v))]))
    return facts


def care_gaps(*, patient: m.Patient) -> list[Fact]:
    """The decision support rules' cards (care gaps, alerts, recommendations), each citing the chart records it
    rests on; the same rules and cards as the patient page and CDS Hooks (cds)."""
    facts = []
    for card in assistant_cards(patient=patient):
        cited = [c for c in card.finding.citations if c["source_type"] in KIND_MODELS and c["source_id"]]
        citations: list[Citation] = [
            {"source_type": c["source_type"], "source_id": int(c["source_id"]), "label": c["label"]} for c in cited
        ]
        facts.append(Fact(f"{card.finding.summary.rstrip('.')}.", citations))
    return facts or [Fact("The decision support rules find no care gap or alert in this chart.", [])]


def chart_search(*, patient: m.Patient, query: str, limit: int = 3) -> list[Fact]:
    """Sentences from notes and reports of this chart; nothing when search is unavailable."""
    return _search(query=query, corpus="notes", patient_id=patient.pk, limit=limit)


def knowledge_search(*, query: str, limit: int = 3) -> list[Fact]:
    return _search(query=query, corpus="knowledge", patient_id=None, limit=limit)


def _search(*, query: str, corpus: str, patient_id: int | None, limit: int) -> list[Fact]:
    try:
        from search.selectors import search_chunks  # type: ignore[attr-defined]

        with transaction.atomic():  # a savepoint: a failing search must not break the caller's transaction
            hits = search_chunks(query=query, corpus=corpus, patient_id=patient_id, limit=limit, exclude_negated=True)
    except Exception:  # search is optional for the assistant: no hits rather than no answer
        logger.warning("chart search unavailable (the query is not logged: it may name the patient)", exc_info=True)
        return []
    facts = []
    for hit in hits:
        snippet = re.sub(r"\s+", " ", (hit.snippet or hit.text or "")).strip()[:300]
        if not snippet:
            continue
        kind = {"note": "note", "report": "report"}.get(hit.source_type, hit.source_type)
        label = f"{hit.title or kind} {hit.date or ''}".strip()
        source_id = int(hit.source_id) if str(hit.source_id).isdigit() else 0
        facts.append(
            Fact(f"{label}: {snippet.rstrip('.')}.", [{"source_type": kind, "source_id": source_id, "label": label[:200]}])
        )
    return facts


Result = tuple[str, list[Fact]]


def result(facts: list[Fact]) -> Result:
    return render(facts), facts


def render(facts: list[Fact]) -> str:
    """Facts as tool output text, each line with the `kind:id` of its source rows."""
    lines = [f.text + " [cite: " + ", ".join(f"{c['source_type']}:{c['source_id']}" for c in f.citations) + "]" for f in facts]
    return "\n".join(lines) or "No matching records."


def langchain_tools(*, patient: m.Patient) -> list[Any]:
    """The same tools for LangChain's agent loop, bound to one patient.

    Each returns (text, facts): the model reads the text, the loop keeps the facts (LangChain's artifact) so
    the answer cites the rows the tool read, not whatever ids the model repeats.
    """
    from langchain_core.tools import StructuredTool

    def tool(func: Callable[..., Result], name: str, description: str) -> Any:
        return StructuredTool.from_function(func, name=name, description=description, response_format="content_and_artifact")

    def labs(name: str) -> Result:
        names = observation_names(patient=patient)
        hits = [(d, c) for d, c in names.items() if name.lower() in d.lower()]
        return result([f for d, c in hits[:3] for f in lab_trend(patient=patient, code=c, display=d)])

    def search_chart(query: str) -> Result:
        return result(chart_search(patient=patient, query=query))

    def search_knowledge(query: str) -> Result:
        return result(knowledge_search(query=query))

    return [
        tool(lambda: result(problem_list(patient=patient)), "problem_list", "Active problems."),
        tool(lambda: result(medication_list(patient=patient)), "active_medications", "Active medications."),
        tool(lambda: result(allergy_list(patient=patient)), "allergies", "Recorded allergies."),
        tool(labs, "lab_trend", "Recent values of a lab test, by name."),
        tool(lambda: result(encounters(patient=patient)), "encounters", "Recent encounters."),
        tool(lambda: result(imaging_studies(patient=patient)), "imaging", "Imaging studies."),
        tool(lambda: result(genomic_variants(patient=patient)), "variants", "Genomic variants."),
        tool(lambda: result(care_gaps(patient=patient)), "care_gaps", "Care gaps, alerts and recommendations."),
        tool(search_chart, "search_chart", "Search notes and reports."),
        tool(search_knowledge, "search_knowledge", "Search the knowledge corpus."),
    ]
