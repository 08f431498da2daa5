"""REST endpoints of the search app (mounted at /api/v1 by carebase.api)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from clinic.access import request_actor
from search.cohorts import CohortCriteria, CohortResult, LabCriterion, cohort_csv, cohort_query_audited, cohort_save
from search.models import Cohort
from search.selectors import NOTE_KINDS, SearchHit
from search.services import search_audited

router = Router(tags=["search"])


class SearchIn(Schema):
    q: str = Field(..., min_length=1, max_length=2000, description="free text")
    corpus: Literal["notes", "knowledge"] = "notes"
    mode: Literal["keyword", "vector", "hybrid"] = "hybrid"
    patient: int | None = Field(None, ge=1, description="search within one chart")
    kinds: str = Field("", max_length=100, description="comma-separated: note, report")
    note_type: str = Field("", max_length=200)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    exclude_negated: bool = False
    exclude_uncertain: bool = False
    exclude_other_subject: bool = False
    limit: int = Field(10, ge=1, le=100)


class SearchResultOut(Schema):
    chunk_id: int
    source_type: str
    source_id: str
    patient: int | None
    score: float
    title: str
    section: str
    date: dt.datetime | None
    snippet: str
    negated: bool
    uncertain: bool
    other_subject: bool
    url: str | None


class SearchOut(Schema):
    query: str
    mode: str
    corpus: str
    results: list[SearchResultOut]


@router.get("/search", response=SearchOut, summary="Keyword, vector or hybrid search over notes/reports or knowledge")
def search(request: HttpRequest, params: Query[SearchIn]) -> dict[str, Any]:
    kinds = [k.strip() for k in params.kinds.split(",") if k.strip()]
    if unknown := [k for k in kinds if k not in NOTE_KINDS]:
        raise HttpError(400, f"kinds: unknown {', '.join(unknown)} (use {', '.join(NOTE_KINDS)})")
    if params.date_from and params.date_to and params.date_from > params.date_to:
        raise HttpError(400, "date_from is after date_to")
    if not params.q.strip():
        raise HttpError(400, "q: empty query")
    hits = search_audited(
        actor=request_actor(request),
        query=params.q,
        corpus=params.corpus,
        mode=params.mode,
        patient_id=params.patient,
        kinds=kinds or None,
        note_type=params.note_type or None,
        date_from=params.date_from,
        date_to=params.date_to,
        exclude_negated=params.exclude_negated,
        exclude_uncertain=params.exclude_uncertain,
        exclude_other_subject=params.exclude_other_subject,
        limit=params.limit,
    )
    return {"query": params.q, "mode": params.mode, "corpus": params.corpus, "results": [_out(h) for h in hits]}


def _out(hit: SearchHit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "source_type": hit.source_type,
        "source_id": hit.source_id,
        "patient": hit.patient_id,
        "score": hit.score,
        "title": hit.title,
        "section": hit.section,
        "date": hit.date,
        "snippet": hit.snippet,
        "negated": hit.negated,
        "uncertain": hit.uncertain,
        "other_subject": hit.other_subject,
        "url": hit_url(hit),
    }


def hit_url(hit: SearchHit) -> str | None:
    """The item on the patient's timeline (notes and reports); knowledge documents have none."""
    if hit.patient_id is None or hit.source_type not in NOTE_KINDS:
        return None
    return f"/patients/{hit.patient_id}/items/{hit.source_type}/{hit.source_id}/"


class LabIn(Schema):
    test: str = Field(..., min_length=1, max_length=200, description='a LOINC code or the lab\'s name, e.g. "HbA1c"')
    op: Literal[">", ">=", "<", "<=", "="] = ">"
    value: float
    latest: bool = Field(False, description="only each patient's latest result counts")


class CohortIn(Schema):
    q: str = Field("", max_length=2000, description="free text the notes and reports mention")
    mode: Literal["keyword", "vector", "hybrid"] = Field("keyword", description="keyword counts every matching passage")
    age_min: int | None = Field(None, ge=0, le=130)
    age_max: int | None = Field(None, ge=0, le=130)
    sex: Literal["", "male", "female", "other", "unknown"] = ""
    condition: str = Field("", max_length=200, description="a SNOMED code or words of the condition's name")
    medication: str = Field("", max_length=200, description="an RxNorm code or words of the medication's name")
    lab: LabIn | None = None
    active_only: bool = False
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    exclude_negated: bool = False
    exclude_uncertain: bool = False
    exclude_other_subject: bool = False
    limit: int = Field(100, ge=1, le=1000, description="patients listed (the count covers all)")

    def criteria(self) -> CohortCriteria:
        data = self.dict(exclude={"limit", "lab"})
        lab = LabCriterion(**self.lab.dict()) if self.lab else None
        return CohortCriteria(**data, lab=lab)


class CohortHitOut(Schema):
    source_type: str
    source_id: str
    date: dt.datetime | None
    section: str
    snippet: str
    url: str | None


class CohortMemberOut(Schema):
    id: int
    fhir_id: str
    mrn: str
    name: str
    birth_date: dt.date | None
    age: int | None
    sex: str
    matches: int
    documents: int
    lab_value: float | None
    lab_unit: str
    lab_date: dt.datetime | None
    snippets: list[CohortHitOut]


class CohortResultOut(Schema):
    description: str
    count: int
    matches: int
    suppressed: bool = Field(False, description="a count too small to show to a counts-only reader (a researcher)")
    patients: list[CohortMemberOut]


class CohortSaveIn(CohortIn):
    name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=1000)


class CohortOut(Schema):
    id: int
    name: str
    description: str
    criteria: dict[str, Any]
    patient_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


@router.post("/cohorts/query", response=CohortResultOut, summary="Patients matching text and structured criteria, grouped")
def cohorts_query(request: HttpRequest, body: CohortIn) -> dict[str, Any]:
    result = cohort_query_audited(criteria=body.criteria(), actor=request_actor(request), limit=body.limit)
    return cohort_out(result)


@router.post("/cohorts", response={201: CohortOut}, summary="Save a cohort (same name: updated)")
def cohorts_save(request: HttpRequest, body: CohortSaveIn) -> tuple[int, Cohort]:
    criteria = CohortIn(**body.dict(exclude={"name", "description"})).criteria()
    return 201, cohort_save(name=body.name, description=body.description, criteria=criteria, actor=request_actor(request))


@router.get("/cohorts", response=list[CohortOut], summary="Your saved cohorts")
def cohorts_list(request: HttpRequest) -> Any:
    return Cohort.objects.filter(owner=request.user)  # type: ignore[misc]  # login required


@router.get("/cohorts/{cohort_id}", response=CohortResultOut, summary="A saved cohort, re-run now")
def cohorts_get(request: HttpRequest, cohort_id: int, limit: int = 100) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise HttpError(400, "limit: between 1 and 1000")
    cohort = get_object_or_404(Cohort, pk=cohort_id, owner=request.user)
    result = cohort_query_audited(criteria=CohortCriteria.from_json(cohort.criteria), actor=request_actor(request), limit=limit)
    return cohort_out(result)


@router.get("/cohorts/{cohort_id}/export", summary="A saved cohort as CSV, one row per patient")
def cohorts_export(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = get_object_or_404(Cohort, pk=cohort_id, owner=request.user)
    return cohort_csv_response(cohort.name, CohortCriteria.from_json(cohort.criteria), request)


@router.delete("/cohorts/{cohort_id}", response={204: None}, summary="Delete a saved cohort")
def cohorts_delete(request: HttpRequest, cohort_id: int) -> tuple[int, None]:
    get_object_or_404(Cohort, pk=cohort_id, owner=request.user).delete()
    return 204, None


def cohort_csv_response(name: str, criteria: CohortCriteria, request: HttpRequest) -> HttpResponse:
    result = cohort_query_audited(criteria=criteria, actor=request_actor(request), limit=None, export=True)
    response = HttpResponse(cohort_csv(result), content_type="text/csv; charset=utf-8")
    filename = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)[:80] or "cohort"
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def cohort_out(result: CohortResult) -> dict[str, Any]:
    return {
        "description": result.criteria.describe(),
        "count": result.total,
        "matches": result.matches,
        "suppressed": result.suppressed,
        "patients": [
            {
                "id": m.patient.pk,
                "fhir_id": m.patient.fhir_id,
                "mrn": m.patient.mrn,
                "name": m.patient.name,
                "birth_date": m.patient.birth_date,
                "age": m.patient.age(),
                "sex": m.patient.sex,
                "matches": m.matches,
                "documents": m.documents,
                "lab_value": m.lab_value,
                "lab_unit": m.lab_unit,
                "lab_date": m.lab_date,
                "snippets": [
                    {
                        "source_type": h.source_type,
                        "source_id": h.source_id,
                        "date": h.date,
                        "section": h.section,
                        "snippet": h.snippet,
                        "url": hit_url(h),
                    }
                    for h in m.hits
                ],
            }
            for m in result.members
        ],
    }


@router.get("/fhir/Group/{cohort_id}/$export", tags=["FHIR R4"], summary="Bulk Data: export a saved cohort's patients (a Group)")
def group_export(request: HttpRequest, cohort_id: str) -> HttpResponse:
    """A saved cohort is a FHIR Group; its members are the patients it held when saved, of those you may read now."""
    from clinic.fhir.api import export_kickoff
    from clinic.fhir.outcome import FhirError

    owner = getattr(request_actor(request).user, "pk", None)
    valid = cohort_id.isascii() and cohort_id.isdigit() and len(cohort_id) < 10  # not "¹", which isdigit() admits
    cohort = Cohort.objects.filter(pk=int(cohort_id), owner_id=owner).first() if valid else None
    if cohort is None:
        raise FhirError(404, f"Group/{cohort_id}: no saved cohort of yours has this id")
    return export_kickoff(request, level="group", patient_ids=list(cohort.patient_ids), group=str(cohort.pk))
