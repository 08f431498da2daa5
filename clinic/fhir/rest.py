"""FHIR RESTful reads: read, search (searchset Bundles with paging and _include) and paged $everything. Each
checks access through clinic.access and leaves one audit row naming the patients it showed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone

from clinic import models as m
from clinic.access import Actor, readable_patient_ids, require_access, require_patient, require_scope
from clinic.audit import Action, audit
from clinic.fhir.export import PATIENT_SCOPED, everything_page, imaging_study_resource, resource_get, resource_patient_id
from clinic.fhir.outcome import FhirError, issue, operation_outcome
from clinic.fhir.search import MAX_COUNT, SEARCH_PARAMS, SearchRequest, date_range, search_parse, search_queryset


def _known_type(resource_type: str, fhir_id: str = "") -> None:
    if "\x00" in fhir_id:  # PostgreSQL stores no NUL character: no id holds one
        raise FhirError(404, f"{resource_type}/{fhir_id!r} not found")
    if resource_type not in SEARCH_PARAMS:
        raise FhirError(404, f"{resource_type}: not a resource type stored here ({', '.join(SEARCH_PARAMS)})",
                        code="not-supported")  # fmt: skip


def fhir_read(*, actor: Actor, resource_type: str, fhir_id: str) -> dict[str, Any]:
    """One stored resource by type and id (404 unknown, 403 another's chart), audited."""
    _known_type(resource_type, fhir_id)
    resource = resource_get(resource_type=resource_type, fhir_id=fhir_id)
    if resource is None:
        raise FhirError(404, f"{resource_type}/{fhir_id} not found")
    patient_id = resource_patient_id(resource_type=resource_type, fhir_id=fhir_id)
    if patient_id is not None:
        require_patient(actor=actor, patient_id=patient_id, resource=resource_type)
    else:
        require_scope(actor=actor, resource=resource_type)
    audit(actor=actor, action=Action.FHIR_READ, patient=patient_id, target=f"{resource_type}/{fhir_id}")
    return resource


# ---------------------------------------------------------------- search


def _searched_patients(actor: Actor, request: SearchRequest) -> list[int] | None:
    """The patients whose resources the search may return: those it names (each must be readable: 403 otherwise),
    else every readable one (None: all)."""
    rtype = request.resource_type
    if rtype not in PATIENT_SCOPED and rtype != "Patient":
        require_scope(actor=actor, resource=rtype)
        return None
    named: set[int] | None = None
    for fhir_ids in request.patient_fhir_ids:  # each occurrence narrows (AND); its values widen (OR)
        found = set()
        for patient in m.Patient.objects.filter(fhir_id__in=fhir_ids).defer("raw"):
            found.add(require_access(actor=actor, patient=patient, resource=rtype).pk)
        named = found if named is None else named & found
    if named is not None:
        return sorted(named)
    require_scope(actor=actor, resource=rtype)
    return readable_patient_ids(actor=actor, resource=rtype)


def _page_rows(request: SearchRequest, rows: Any) -> list[tuple[dict[str, Any], int | None]]:
    """(resource, patient id) of one page of rows."""
    rtype = request.resource_type
    patient_column = "id" if rtype == "Patient" else "patient_id" if rtype in PATIENT_SCOPED else None
    page = rows[request.offset : request.offset + request.count]
    found = [(raw, row_id, patient) for row_id, raw, patient in page.values_list("id", "raw", patient_column or "id")]
    if rtype == "ImagingStudy" and any(not raw for raw, _, _ in found):
        studies = m.ImagingStudy.objects.select_related("patient").prefetch_related("series").in_bulk([i for _, i, _ in found])
        found = [(raw or imaging_study_resource(studies[i], studies[i].patient), i, p) for raw, i, p in found]
    return [(raw, patient if patient_column else None) for raw, _, patient in found]


def _link(base_url: str, rtype: str, params: list[tuple[str, str]], offset: int) -> str:
    kept = [(k, v) for k, v in params if k != "_offset"] + ([("_offset", str(offset))] if offset else [])
    return f"{base_url}{rtype}" + (f"?{urlencode(kept)}" if kept else "")


def fhir_search(
    *, actor: Actor, resource_type: str, query: list[tuple[str, str]], base_url: str, lenient: bool = False
) -> dict[str, Any]:
    """A searchset Bundle of the stored resources matching the query, among the charts the actor may read; the
    page's patients are audited."""
    _known_type(resource_type)
    request = search_parse(resource_type=resource_type, query=query, lenient=lenient)
    patient_ids = _searched_patients(actor, request)
    rows = search_queryset(request=request, patient_ids=patient_ids)
    total = rows.count()
    page = [] if request.summary_count else _page_rows(request, rows)
    entries = [_entry(base_url, raw, "match") for raw, _ in page]
    shown = {patient for _, patient in page if patient is not None}
    if request.include_patients and shown and actor.allows(resource="Patient"):
        for raw in m.Patient.objects.filter(pk__in=shown).order_by("id").values_list("raw", flat=True):
            entries.append(_entry(base_url, raw, "include"))
    if request.ignored:
        warnings = [issue(text, severity="warning", code="not-supported") for text in request.ignored]
        entries.append({"resource": operation_outcome(*warnings), "search": {"mode": "outcome"}})
    links = [{"relation": "self", "url": _link(base_url, resource_type, request.accepted, request.offset)}]
    if not request.summary_count and request.offset + request.count < total:
        links.append(
            {"relation": "next", "url": _link(base_url, resource_type, request.accepted, request.offset + request.count)}
        )
    if request.offset and not request.summary_count:
        previous = max(0, request.offset - request.count)
        links.append({"relation": "previous", "url": _link(base_url, resource_type, request.accepted, previous)})
    named = patient_ids[0] if request.patient_fhir_ids and patient_ids and len(patient_ids) == 1 else None
    audit(
        actor=actor,
        action=Action.FHIR_SEARCH,
        patient=named,
        patients=shown,
        target=_link("", resource_type, request.accepted, request.offset)[:300],
        detail={"total": total, "returned": len(page)},
    )
    return _bundle("searchset", entries, total=total, links=links)


def _entry(base_url: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}{resource.get('resourceType')}/{resource.get('id')}",
        "resource": resource,
        "search": {"mode": mode},
    }


def _bundle(
    kind: str, entries: list[dict[str, Any]], *, total: int | None = None, links: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": timezone.now().isoformat()},
        "type": kind,
    }
    if total is not None:
        bundle["total"] = total
    if links:
        bundle["link"] = links
    bundle["entry"] = entries
    return bundle


# ---------------------------------------------------------------- $everything

EVERYTHING_PARAMS = {"_count", "_offset", "_since", "_format", "_pretty"}


def fhir_everything(*, actor: Actor, fhir_id: str, query: list[tuple[str, str]], base_url: str) -> dict[str, Any]:
    """Patient/{id}/$everything: the whole chart in one Bundle, or pages of `_count` with next links; `_since`
    keeps what changed since then."""
    params = dict(query)
    unknown = sorted(set(params) - EVERYTHING_PARAMS)
    if unknown:
        raise FhirError(400, f"$everything: unknown parameter {', '.join(unknown)}; supported: _count, _since",
                        code="not-supported", expression=unknown[0])  # fmt: skip
    count = _whole("_count", params.get("_count"), 1, MAX_COUNT)
    offset = _whole("_offset", params.get("_offset"), 0, 10**9) or 0
    since = parse_instant(params["_since"], "_since") if params.get("_since") else None
    _known_type("Patient", fhir_id)
    patient = m.Patient.objects.filter(fhir_id=fhir_id).first()
    if patient is None:
        raise FhirError(404, f"Patient/{fhir_id} not found")
    require_patient(actor=actor, patient_id=patient.pk)
    entries, total = everything_page(patient=patient, since=since, offset=offset, count=count)
    path = f"Patient/{fhir_id}/$everything"
    accepted = [(k, v) for k, v in query if k in EVERYTHING_PARAMS]
    links = [{"relation": "self", "url": _link(base_url, path, accepted, offset)}]
    if count is not None and offset + count < total:
        links.append({"relation": "next", "url": _link(base_url, path, accepted, offset + count)})
    audit(actor=actor, action=Action.EVERYTHING_EXPORT, patient=patient,
          detail={"entries": len(entries), "total": total, "offset": offset})  # fmt: skip
    return _bundle("searchset", entries, total=total, links=links)


def _whole(name: str, value: str | None, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise FhirError(400, f"{name}: {value!r} is not a whole number", expression=name)
    return max(low, min(high, int(value)))


def parse_instant(value: str, name: str) -> dt.datetime:
    """A FHIR instant (or a coarser date: its start) from a parameter, or FhirError 400 naming it."""
    try:
        return date_range(value)[0]
    except ValueError as e:
        raise FhirError(400, f"{name}: {e}", expression=name) from None
