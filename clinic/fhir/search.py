"""FHIR search: each stored type's search parameters, and a search request turned into an ORM query.

`SEARCH_PARAMS` is the one table: the CapabilityStatement (clinic.fhir.capability) lists it, and `search_parse`
reads requests with it. Parameters map to the columns the importer fills (code, status, dates, the patient foreign
key, `updated_at` for `_lastUpdated`) and, where a column holds only the first coding or none, to the stored
resource (`raw`, JSONB containment): a code matches any coding of the concept, not only the first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.expressions import OrderBy, RawSQL

from clinic import models as m
from clinic.fhir.mapping import MAPPERS
from clinic.fhir.outcome import FhirError

DEFAULT_COUNT = 50
MAX_COUNT = 1000
# Parameters of every search that are about the result, not a filter (spec: "Search result parameters").
RESULT_PARAMS = {"_count", "_sort", "_include", "_summary", "_total", "_format", "_pretty", "_offset"}


@dataclass(frozen=True)
class Param:
    """One search parameter: its FHIR name and type, what it searches, and how a value becomes a filter."""

    name: str
    type: str  # FHIR SearchParamType: token, date, reference, string
    doc: str
    build: Callable[[str, str, str], Q]  # (modifier, value, table) → filter
    sort: str = ""  # the column `_sort=<name>` orders by, when it can
    modifiers: tuple[str, ...] = ()


# ---------------------------------------------------------------- values


_PREFIX = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)")
_DATE_VALUE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def date_range(value: str) -> tuple[dt.datetime, dt.datetime]:
    """The instants [start, end) a FHIR date search value covers at its precision ('2020' is the whole year).
    A time without a zone is UTC; ValueError when the value is not a FHIR date/dateTime."""
    # A '+' in a query string arrives as a space: '…T10:00:00 01:00' is '…+01:00'.
    value = re.sub(r" (\d{2}:\d{2})$", r"+\1", value.strip())
    match = _DATE_VALUE.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss][zone])")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if hour is not None and zone is None:
        zone = "Z"
    tz = dt.UTC if zone in (None, "Z") else dt.datetime.strptime(zone.replace(":", ""), "%z").tzinfo
    if month is None:
        start = dt.datetime(int(year), 1, 1, tzinfo=tz)
        return start, start.replace(year=start.year + 1)
    if day is None:
        start = dt.datetime(int(year), int(month), 1, tzinfo=tz)
        return start, (start + dt.timedelta(days=32)).replace(day=1)
    if hour is None:
        start = dt.datetime(int(year), int(month), int(day), tzinfo=tz)
        return start, start + dt.timedelta(days=1)
    start = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)
    if fraction:
        start = start.replace(microsecond=int(float(fraction) * 1_000_000))
        return start, start + dt.timedelta(microseconds=1)
    return start, start + (dt.timedelta(seconds=1) if second else dt.timedelta(minutes=1))


def date_filter(column: str, *, is_date: bool = False) -> Callable[[str, str, str], Q]:
    """A date parameter on one column, with FHIR's prefixes: eq (default), ne, gt, lt, ge, le, sa, eb."""

    def build(modifier: str, value: str, table: str) -> Q:
        prefix_match = _PREFIX.match(value)
        prefix = prefix_match.group(1) if prefix_match else "eq"
        if prefix == "ap":
            raise ValueError("the prefix ap (approximately) is not supported; use ge and le")
        start, end = date_range(value[len(prefix) :] if prefix_match else value)
        low: Any = start.date() if is_date else start
        high: Any = end.date() if is_date else end
        if prefix == "eq":
            return Q(**{f"{column}__gte": low, f"{column}__lt": high})
        if prefix == "ne":
            return ~Q(**{f"{column}__gte": low, f"{column}__lt": high}) & Q(**{f"{column}__isnull": False})
        if prefix in ("gt", "sa"):
            return Q(**{f"{column}__gte": high})
        if prefix in ("lt", "eb"):
            return Q(**{f"{column}__lt": low})
        if prefix == "ge":
            return Q(**{f"{column}__gte": low})
        return Q(**{f"{column}__lt": high})  # le

    return build


def _token(value: str) -> tuple[str | None, str]:
    """`system|code` → (system, code); `code` → (None, code); `|code` → ("", code); `system|` → (system, "")."""
    if "|" in value:
        system, _, code = value.partition("|")
        return system, code
    return None, value


def concept_filter(path: str, *, many: bool = False, column: str = "", system_column: str = "") -> Callable[[str, str, str], Q]:
    """A token parameter on a CodeableConcept of the resource (`many`: a list of them), any of its codings.

    `column` holds the first coding's code (indexed): a row matches on it, or, only when the resource has more than
    one coding, on the stored resource (JSONB containment). Most resources have one coding, so most rows are decided
    by the index; partial indexes on the rows with more (migration 0005) keep the other arm indexed too."""

    def build(modifier: str, value: str, table: str) -> Q:
        system, code = _token(value)
        if not code and not system:
            raise ValueError("empty token; use code or system|code")
        wanted = {k: v for k, v in (("system", system), ("code", code)) if v}
        concept = {"coding": [wanted]}
        found = Q(raw__contains={path: [concept] if many else concept})
        if not column or not code or len(code) >= 64 or len(system or "") >= 200:  # the columns hold 64 and 200
            return found
        first = Q(**{column: code})
        if system and system_column:
            first &= Q(**{system_column: system})
        return first | (Q(RawSQL(more_codings_sql(path, many=many, table=table), [], output_field=BooleanField())) & found)

    return build


def more_codings_sql(path: str, *, many: bool, table: str) -> str:
    """SQL true when the concept(s) at `path` hold more than one coding (the partial indexes use the same text)."""
    one = f"jsonb_path_exists({table}.raw, '$.{path}.coding[1]')"
    return f"({one} OR jsonb_path_exists({table}.raw, '$.{path}[1]'))" if many else one


def coding_filter(path: str, *, many: bool = False) -> Callable[[str, str, str], Q]:
    """A token parameter on a Coding (Encounter.class, ImagingStudy.modality)."""

    def build(modifier: str, value: str, table: str) -> Q:
        system, code = _token(value)
        wanted = {k: v for k, v in (("system", system), ("code", code)) if v}
        if not wanted:
            raise ValueError("empty token; use code or system|code")
        return Q(raw__contains={path: [wanted] if many else wanted})

    return build


def code_filter(column: str) -> Callable[[str, str, str], Q]:
    """A token parameter on a plain code column (status, gender, intent)."""

    def build(modifier: str, value: str, table: str) -> Q:
        return Q(**{column: _token(value)[1]})

    return build


def identifier_filter(modifier: str, value: str, table: str) -> Q:
    system, code = _token(value)
    wanted = {k: v for k, v in (("system", system), ("value", code)) if v}
    if not wanted:
        raise ValueError("empty identifier; use value or system|value")
    return Q(raw__contains={"identifier": [wanted]})


def id_filter(modifier: str, value: str, table: str) -> Q:
    return Q(fhir_id=value)


def code_list_filter(path: str) -> Callable[[str, str, str], Q]:
    """A token parameter on a list of plain codes (AllergyIntolerance.category)."""

    def build(modifier: str, value: str, table: str) -> Q:
        return Q(raw__contains={path: [_token(value)[1]]})

    return build


def _like(modifier: str, value: str) -> tuple[str, str]:
    """(SQL comparison, parameter) for a string search: starts with (default), contains or exact."""
    if modifier == "exact":
        return "= %s", value
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return "LIKE %s", ("%" if modifier == "contains" else "") + escaped + "%"


_NAMES = "jsonb_array_elements(CASE jsonb_typeof({t}.raw->'name') WHEN 'array' THEN {t}.raw->'name' ELSE '[]' END) AS n"
_GIVEN = "jsonb_array_elements_text(CASE jsonb_typeof(n->'given') WHEN 'array' THEN n->'given' ELSE '[]' END) AS g"


def human_name_filter(part: str) -> Callable[[str, str, str], Q]:
    """A string parameter on the HumanNames of the stored resource: `family`, `given` or `name` (any part)."""

    def build(modifier: str, value: str, table: str) -> Q:
        comparison, param = _like(modifier, value)
        family, text, given = ("n->>'family'", "n->>'text'", "g") if modifier == "exact" else _LOWERED
        any_given = f"EXISTS (SELECT 1 FROM {_GIVEN} WHERE {given} {comparison})"
        if part == "family":
            where, params = f"{family} {comparison}", [param]
        elif part == "given":
            where, params = any_given, [param]
        else:
            where, params = f"{family} {comparison} OR {text} {comparison} OR {any_given}", [param] * 3
        sql = f"EXISTS (SELECT 1 FROM {_NAMES} WHERE {where})".format(t=f'"{table}"')
        return Q(RawSQL(sql, params, output_field=BooleanField()))

    return build


_LOWERED = ("lower(n->>'family')", "lower(n->>'text')", "lower(g)")


def name_column_filter(modifier: str, value: str, table: str) -> Q:
    """A string parameter on a `name` column (Practitioner, Organization): any word starting with the value."""
    if modifier == "exact":
        return Q(name=value)
    if modifier == "contains":
        return Q(name__icontains=value)
    return Q(name__iregex=r"(^|[\s,.])" + re.escape(value))


_ID = re.compile(r"^[A-Za-z0-9\-.]{1,128}$")


def reference_id(value: str, target: str) -> str:
    """The id of a reference search value: `Patient/123`, `123` or an absolute URL ending in `Patient/123`."""
    parts = value.strip().rstrip("/").split("/")
    rtype, rid = (parts[-2], parts[-1]) if len(parts) > 1 else (target, parts[0])
    if rtype != target or not _ID.match(rid):
        raise ValueError(f"{value!r} is not a reference to a {target} (use {target}/id or the id)")
    return rid


def encounter_filter(modifier: str, value: str, table: str) -> Q:
    return Q(encounter__fhir_id=reference_id(value, "Encounter"))


def _patient_placeholder(modifier: str, value: str, table: str) -> Q:
    """Patient references are resolved (and access-checked) by `search_run`, not here."""
    raise AssertionError("patient references are resolved by search_run")


# ---------------------------------------------------------------- the table


def _common() -> list[Param]:
    return [
        Param("_id", "token", "Logical id of the resource", id_filter, sort="fhir_id"),
        Param("_lastUpdated", "date", "When the resource was last stored here", date_filter("updated_at"), sort="updated_at"),
    ]


def _patient_refs(*names: str) -> list[Param]:
    return [
        Param(n, "reference", f"The patient ({n}): Patient/id or id", _patient_placeholder, modifiers=("Patient",)) for n in names
    ]


def _date(name: str, column: str, doc: str) -> Param:
    return Param(name, "date", doc, date_filter(column), sort=column)


def _status(column: str = "status", name: str = "status") -> Param:
    return Param(name, "token", f"{name} code", code_filter(column), sort=column)


def _code(path: str, doc: str, name: str = "code", many: bool = False) -> Param:
    return Param(name, "token", doc, concept_filter(path, many=many, column="code", system_column="code_system"), sort="code")


def _category(path: str = "category", many: bool = True) -> Param:
    return Param("category", "token", "Category (system|code or code)", concept_filter(path, many=many))


ENCOUNTER_REF = Param("encounter", "reference", "The encounter: Encounter/id or id", encounter_filter)
STRING_MODIFIERS = ("exact", "contains")
NAME_WORDS = Param("name", "string", "A word of the name (starts with; :exact, :contains)", name_column_filter, sort="name",
                   modifiers=STRING_MODIFIERS)  # fmt: skip

SEARCH_PARAMS: dict[str, list[Param]] = {
    "Patient": [
        Param(
            "name",
            "string",
            "Any part of a name (starts with; :exact, :contains)",
            human_name_filter("name"),
            sort="name",
            modifiers=STRING_MODIFIERS,
        ),
        Param(
            "family",
            "string",
            "Family name (starts with; :exact, :contains)",
            human_name_filter("family"),
            sort="family_name",
            modifiers=STRING_MODIFIERS,
        ),
        Param(
            "given",
            "string",
            "Given name (starts with; :exact, :contains)",
            human_name_filter("given"),
            sort="given_name",
            modifiers=STRING_MODIFIERS,
        ),
        Param("birthdate", "date", "Date of birth", date_filter("birth_date", is_date=True), sort="birth_date"),
        Param("gender", "token", "male | female | other | unknown", code_filter("sex"), sort="sex"),
        Param("identifier", "token", "An identifier (system|value or value), the MRN among them", identifier_filter),
    ],  # fmt: skip
    "Encounter": [
        *_patient_refs("patient", "subject"),
        _date("date", "start", "Start of the encounter's period"),
        _status(),
        Param("class", "token", "Encounter class (system|code or code)", coding_filter("class")),
        Param("type", "token", "Encounter type", concept_filter("type", many=True, column="type_code")),
        Param("reason-code", "token", "Reason for the encounter", concept_filter("reasonCode", many=True, column="reason_code")),
    ],
    "Condition": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _code("code", "Condition code (system|code or code, any coding)"),
        _category(),
        _status("clinical_status", "clinical-status"),
        _status("verification_status", "verification-status"),
        _date("onset-date", "onset", "Onset date/time"),
        _date("recorded-date", "recorded", "Date recorded"),
        _date("abatement-date", "abatement", "Abatement date/time"),
        _date("date", "onset", "Carebase alias of onset-date (R4 Condition has no `date`)"),
    ],
    "Observation": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _code("code", "Observation code, e.g. a LOINC (system|code or code, any coding)"),
        _category(),
        _status(),
        _date("date", "effective", "Effective date/time (effective[x], else issued)"),
    ],
    "MedicationRequest": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _code("medicationCodeableConcept", "Medication code, e.g. RxNorm (system|code or code)"),
        _category(),
        _status(),
        _status("intent", "intent"),
        _date("authoredon", "authored_on", "When the prescription was written"),
    ],
    "AllergyIntolerance": [
        *_patient_refs("patient"),
        _code("code", "Allergy or intolerance code"),
        Param("category", "token", "food | medication | environment | biologic", code_list_filter("category")),
        _status("clinical_status", "clinical-status"),
        _status("verification_status", "verification-status"),
        _status("allergy_type", "type"),
        _status("criticality", "criticality"),
        _date("date", "recorded", "Date recorded"),
    ],
    "Procedure": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _code("code", "Procedure code"),
        _category(many=False),
        _status(),
        _date("date", "performed_start", "When the procedure was performed (start)"),
    ],
    "Immunization": [
        *_patient_refs("patient"),
        _code("vaccineCode", "Vaccine code (CVX)", name="vaccine-code"),
        _code("vaccineCode", "Carebase alias of vaccine-code"),
        _status(),
        _date("date", "occurrence", "Vaccination date"),
    ],
    "DiagnosticReport": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _code("code", "Report code"),
        _category(),
        _status(),
        _date("date", "effective", "Clinically relevant time"),
        _date("issued", "issued", "When the report was issued"),
    ],
    "CarePlan": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _category(),
        _status(),
        _status("intent", "intent"),
        _date("date", "period_start", "Start of the plan's period"),
    ],
    "DocumentReference": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _code("type", "Kind of document (LOINC)", name="type"),
        _code("type", "Carebase alias of type"),
        _category(),
        _status(),
        _date("date", "date", "When the document was created"),
    ],
    "ImagingStudy": [
        *_patient_refs("patient", "subject"),
        ENCOUNTER_REF,
        _status(),
        Param("modality", "token", "Modality of a series (DICOM code)", coding_filter("modality", many=True)),
        _date("started", "started", "When the study started"),
        _date("date", "started", "Carebase alias of started"),
    ],
    "Practitioner": [
        NAME_WORDS,
        Param("identifier", "token", "An identifier, e.g. the NPI (system|value or value)", identifier_filter),
    ],
    "Organization": [NAME_WORDS, Param("identifier", "token", "An identifier (system|value or value)", identifier_filter)],
}
for _params in SEARCH_PARAMS.values():
    _params[:0] = _common()

PATIENT_REFERENCES = {"patient", "subject"}


def params_of(resource_type: str) -> dict[str, Param]:
    return {p.name: p for p in SEARCH_PARAMS[resource_type]}


def includes_of(resource_type: str) -> list[str]:
    """The `_include` values a type supports: its patient references (the Patient is one row away)."""
    return [f"{resource_type}:{p.name}" for p in SEARCH_PARAMS[resource_type] if p.name in PATIENT_REFERENCES]


# ---------------------------------------------------------------- a request


@dataclass
class SearchRequest:
    """A search request, parsed: filters, the patients it names, order, page and what it ignored."""

    resource_type: str
    filters: list[Q] = field(default_factory=list)
    patient_fhir_ids: list[set[str]] = field(default_factory=list)  # each occurrence of patient/subject: any of
    order: list[Any] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0
    include_patients: bool = False
    summary_count: bool = False
    accepted: list[tuple[str, str]] = field(default_factory=list)  # the parameters used, for the self link
    ignored: list[str] = field(default_factory=list)


def _values(raw: str) -> list[str]:
    """The OR-ed values of one parameter: split on commas not escaped with a backslash."""
    parts = re.split(r"(?<!\\),", raw)
    return [p.replace("\\,", ",") for p in parts if p != ""]


def _int(name: str, value: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,9}", value.strip()):
        raise FhirError(400, f"{name}: {value!r} is not a whole number", expression=name)
    return max(low, min(high, int(value)))


def search_parse(*, resource_type: str, query: list[tuple[str, str]], lenient: bool = False) -> SearchRequest:
    """A search's query string (name/value pairs, in order) → SearchRequest; FhirError 400 naming the parameter
    that is wrong. Unknown parameters are an error, or ignored (and listed) when `lenient` (Prefer: handling=lenient)."""
    known = params_of(resource_type)
    request = SearchRequest(resource_type)
    for key, raw in query:
        name, _, modifier = key.partition(":")
        if name in RESULT_PARAMS:
            _result_param(request, name, raw, known)
            request.accepted.append((key, raw))
            continue
        param = known.get(name)
        if param is None or (modifier and modifier not in param.modifiers):
            problem = (
                f"unknown search parameter {name!r} for {resource_type}; supported: {', '.join(sorted(known))}"
                if param is None
                else f"{key}: the modifier :{modifier} is not supported (use {', '.join(param.modifiers) or 'none'})"
            )
            if lenient:
                request.ignored.append(problem)
                continue
            raise FhirError(400, problem, code="not-supported", expression=key)
        values = _values(raw)
        if not values:
            raise FhirError(400, f"{key}: empty value", expression=key)
        if name in PATIENT_REFERENCES:
            try:
                request.patient_fhir_ids.append({reference_id(v, "Patient") for v in values})
            except ValueError as e:
                raise FhirError(400, f"{key}: {e}", expression=key) from None
        else:
            request.filters.append(_any_of(param, modifier, values, key, _table(resource_type)))
        request.accepted.append((key, raw))
    if not request.order:
        request.order = ["id"]
    return request


def _table(resource_type: str) -> str:
    return MAPPERS[resource_type][0]._meta.db_table


def _any_of(param: Param, modifier: str, values: list[str], key: str, table: str) -> Q:
    found = Q()
    for value in values:
        try:
            found |= param.build(modifier, value, table)
        except ValueError as e:
            raise FhirError(400, f"{key}: {e}", expression=key) from None
    return found


def _result_param(request: SearchRequest, name: str, raw: str, known: dict[str, Param]) -> None:
    if name == "_count":
        request.count = _int("_count", raw, 0, MAX_COUNT)
        request.summary_count = request.summary_count or request.count == 0
    elif name == "_offset":
        request.offset = _int("_offset", raw, 0, 10**9)
    elif name == "_sort":
        request.order = _order(raw, known)
    elif name == "_include":
        if raw not in includes_of(request.resource_type):
            supported = ", ".join(includes_of(request.resource_type)) or "none"
            raise FhirError(400, f"_include={raw}: not supported for {request.resource_type} (supported: {supported})",
                            code="not-supported", expression="_include")  # fmt: skip
        request.include_patients = True
    elif name == "_summary":
        if raw not in ("count", "false"):
            raise FhirError(400, f"_summary={raw}: only count and false are supported", code="not-supported")
        request.summary_count = raw == "count"
    elif name == "_format" and raw not in ("json", "application/json", "application/fhir+json"):
        raise FhirError(406, f"_format={raw}: this server speaks JSON only (json, application/fhir+json)")
    elif name == "_total" and raw not in ("none", "estimate", "accurate"):
        raise FhirError(400, f"_total={raw}: use none, estimate or accurate")


def _order(raw: str, known: dict[str, Param]) -> list[Any]:
    order: list[Any] = []
    for key in filter(None, raw.split(",")):
        descending = key.startswith("-")
        param = known.get(key.lstrip("-"))
        if param is None or not param.sort:
            sortable = ", ".join(sorted(p.name for p in known.values() if p.sort))
            raise FhirError(400, f"_sort={raw}: cannot sort by {key.lstrip('-')!r} (sortable: {sortable})", expression="_sort")
        column = F(param.sort)
        order.append(OrderBy(column, descending=descending, nulls_last=True))
    # Ties broken by id, so pages never overlap or skip rows.
    return [*order, "id"]


def search_queryset(*, request: SearchRequest, patient_ids: list[int] | None) -> QuerySet[Any]:
    """The rows matching a parsed request, among `patient_ids` (None: every patient), in the requested order."""
    model = MAPPERS[request.resource_type][0]
    rows = model._default_manager.all()
    if patient_ids is not None:
        rows = rows.filter(pk__in=patient_ids) if model is m.Patient else rows.filter(patient_id__in=patient_ids)
    if model is m.ClinicalNote:
        rows = rows.exclude(raw={})  # notes that never were a FHIR resource (signed drafts) are not searchable here
    for condition in request.filters:
        rows = rows.filter(condition)
    return rows.order_by(*request.order)
