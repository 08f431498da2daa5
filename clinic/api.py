"""REST endpoints of the clinic app (mounted at /api/v1 by carebase.api). Each starts with the access check
(clinic.access) and leaves its audit row (clinic.audit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from clinic import models as m
from clinic import selectors, services
from clinic.access import readable_patients, request_actor, require_patient, require_perm, require_scope
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.fhir.importer import error_text
from clinic.fhir.openapi import IMPORT_BODY
from clinic.selectors import TIMELINE_KINDS, patient_list, patient_timeline

router = Router(tags=["clinic"])


def _chart(request: HttpRequest, patient_id: int, *, write: bool = False) -> m.Patient:
    """The patient, when this request may open the chart (404 unknown, 403 not theirs)."""
    return require_patient(actor=request_actor(request), patient_id=patient_id, write=write)


class PatientOut(Schema):
    id: int
    fhir_id: str
    mrn: str
    name: str
    given_name: str
    family_name: str
    birth_date: dt.date | None
    sex: str
    deceased_at: dt.datetime | None
    age: int | None = None

    @staticmethod
    def resolve_age(obj: m.Patient) -> int | None:
        return obj.age()


class PatientPage(Schema):
    items: list[PatientOut]
    count: int


class PatientFilter(Schema):
    q: str = Field("", max_length=200, description="name fragment, MRN, FHIR id or birth date (YYYY-MM-DD)")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


@router.get("/patients", response=PatientPage, summary="List the patients you may read (search by name, MRN or birth date)")
def patients(request: HttpRequest, filters: Query[PatientFilter]) -> dict[str, Any]:
    actor = request_actor(request)
    found = patient_list(patients=readable_patients(actor=actor), query=filters.q)
    page = list(found[filters.offset : filters.offset + filters.limit])
    audit(actor=actor, action=Action.PATIENT_LIST, patients=[p.pk for p in page], detail={"q": filters.q})
    return {"items": page, "count": found.count()}


@router.get("/patients/{patient_id}", response=PatientOut, summary="One patient")
def patient(request: HttpRequest, patient_id: int) -> m.Patient:
    found = _chart(request, patient_id)
    audit(actor=request_actor(request), action=Action.PATIENT_VIEW, patient=found)
    return found


class TimelineEventOut(Schema):
    id: int
    time: dt.datetime
    kind: str
    title: str
    summary: str
    flag: str
    encounter_id: int | None
    source_id: int


class TimelinePageOut(Schema):
    items: list[TimelineEventOut]
    next_cursor: str | None


class TimelineFilter(Schema):
    kinds: str = Field("", description=f"comma-separated: {', '.join(TIMELINE_KINDS)}")
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    cursor: str = Field("", max_length=200)
    limit: int = Field(50, ge=1, le=500)


@router.get("/patients/{patient_id}/timeline", response=TimelinePageOut, summary="A patient's timeline, newest first")
def timeline(request: HttpRequest, patient_id: int, filters: Query[TimelineFilter]) -> dict[str, Any]:
    found = _chart(request, patient_id)
    kinds = [k.strip() for k in filters.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(TIMELINE_KINDS))
    if unknown:
        raise HttpError(400, f"kinds: unknown {', '.join(unknown)}; use {', '.join(TIMELINE_KINDS)}")
    try:
        page = patient_timeline(
            patient=found,
            kinds=kinds,
            date_from=filters.date_from,
            date_to=filters.date_to,
            cursor=filters.cursor or None,
            limit=filters.limit,
        )
    except ValueError as e:
        raise HttpError(400, f"cursor: {e}") from None
    audit(
        actor=request_actor(request),
        action=Action.TIMELINE_VIEW,
        patient=found,
        detail={"kinds": kinds, "events": len(page.events)},
    )
    return {"items": page.events, "next_cursor": page.next_cursor}


class ImportResultOut(Schema):
    run_id: int
    status: str
    counts: dict[str, int]
    unchanged: dict[str, int]
    skipped: dict[str, int]
    errors: list[dict[str, Any]]
    url: str = Field(..., description="this import's status (a large Bundle is imported on the worker: poll it)")
    detail: str | None = Field(None, description="on a rejected import (400): what was wrong, first error first")


def _import_result(run: m.IngestionRun) -> dict[str, Any]:
    return {
        "run_id": run.pk,
        "status": run.status,
        "counts": run.counts,
        "unchanged": run.unchanged,
        "skipped": run.skipped,
        "errors": [{**e, "text": error_text(e)} for e in run.errors],
        "url": f"/api/v1/imports/{run.pk}",
    }


@router.post(
    "/fhir",
    response={200: ImportResultOut, 202: ImportResultOut, 400: ImportResultOut},
    summary="Import a FHIR Bundle (or resource); large ones are imported on the worker (202)",
    openapi_extra=IMPORT_BODY,
)
def fhir_import(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """The request body is a FHIR Bundle (transaction, batch, collection or searchset) or one resource. Needs a
    `.write` scope and the import permission (stewards, integrations)."""
    actor = request_actor(request)
    require_scope(actor=actor, write=True)
    require_perm(actor=actor, perm="clinic.import_data", what="importing FHIR")
    if not request.body.strip():
        raise InvalidInput("request body: expected a FHIR Bundle in JSON")
    run = services.fhir_import_request(actor=actor, data=request.body)
    if run.status == m.IngestionRun.Status.RUNNING:
        return 202, _import_result(run)
    if run.units_failed:
        result = _import_result(run)
        return 400, {**result, "detail": "; ".join(e["text"] for e in result["errors"][:3]) or "import rejected"}
    return 200, _import_result(run)


@router.get("/imports/{run_id}", response=ImportResultOut, summary="An import's status, counts and errors")
def import_status(request: HttpRequest, run_id: int) -> dict[str, Any]:
    actor = request_actor(request)
    run = selectors.ingestion_run_get(run_id=run_id)
    if run.user_id != getattr(actor.user, "pk", None):
        require_perm(actor=actor, perm="clinic.view_ingestionrun", what="reading another user's import")
    return _import_result(run)


# --- imaging and genomics


class ImagingInstanceOut(Schema):
    id: int
    sop_instance_uid: str
    number: int | None
    slice_location: float | None
    rows: int | None
    columns: int | None
    frames: int
    pixel_spacing: list[float]
    preview_url: str
    api_preview_url: str


class ImagingSeriesOut(Schema):
    id: int
    series_uid: str
    number: int | None
    modality: str
    body_part: str
    description: str
    num_instances: int
    viewer_url: str
    instances: list[ImagingInstanceOut]


class ImagingStudyOut(Schema):
    id: int
    fhir_id: str
    study_uid: str | None
    started: dt.datetime | None
    modalities: str
    description: str
    num_series: int
    num_instances: int
    series: list[ImagingSeriesOut]


class ImagingOut(Schema):
    items: list[ImagingStudyOut]
    count: int


def _imaging_tree(request: HttpRequest, patient: m.Patient) -> list[dict[str, Any]]:
    from django.urls import reverse

    from clinic.imaging import patient_studies

    studies = patient_studies(patient=patient).prefetch_related("series__instances")
    return [
        {
            **{f: getattr(study, f) for f in ImagingStudyOut.model_fields if f != "series"},
            "series": [
                {
                    **{f: getattr(s, f) for f in ImagingSeriesOut.model_fields if f not in ("instances", "viewer_url")},
                    "viewer_url": reverse("clinic:series_viewer", args=[patient.pk, s.pk]),
                    "instances": [
                        {
                            **{f: getattr(i, f) for f in ImagingInstanceOut.model_fields if not f.endswith("_url")},
                            "preview_url": reverse("clinic:instance_preview", args=[i.pk]),
                            "api_preview_url": reverse("api:imaging_preview", args=[i.pk]),
                        }
                        for i in s.instances.all()
                    ],
                }
                for s in study.series.all()
            ],
        }
        for study in studies
    ]


@router.get("/patients/{patient_id}/imaging", response=ImagingOut, summary="A patient's imaging: studies → series → instances")
def patient_imaging(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    found = _chart(request, patient_id)
    items = _imaging_tree(request, found)
    audit(actor=request_actor(request), action=Action.IMAGING_VIEW, patient=found, detail={"studies": len(items)})
    return {"items": items, "count": len(items)}


@router.get("/imaging/instances/{instance_id}/preview", url_name="imaging_preview", summary="One slice as PNG")
def imaging_preview(request: HttpRequest, instance_id: int, frame: int = 0) -> Any:
    from django.http import FileResponse

    from clinic.imaging import instance_get, instance_preview

    instance = instance_get(instance_id=instance_id)
    patient = _chart(request, instance.series.study.patient_id)
    try:
        path = instance_preview(instance=instance, frame=frame)
    except Exception as e:  # the file's pixels cannot be decoded: a property of the file, not a server fault
        raise HttpError(422, f"cannot render {instance.sop_instance_uid}: {e}") from None
    audit(actor=request_actor(request), action=Action.IMAGING_VIEW, patient=patient, target=f"ImagingInstance/{instance.pk}")
    return FileResponse(path.open("rb"), content_type="image/png")


class GenomicVariantOut(Schema):
    id: int
    report_id: int
    assembly: str
    chrom: str
    pos: int
    ref: str
    alt: str
    variant_id: str
    gene: str
    genotype: str
    zygosity: str
    depth: int | None
    quality: float | None
    filter: str
    significance: str
    hgvs: str
    condition: str
    review_status: str
    actionable: bool

    @staticmethod
    def resolve_actionable(obj: m.GenomicVariant) -> bool:
        return obj.is_actionable


class GenomicVariantPage(Schema):
    items: list[GenomicVariantOut]
    count: int


class VariantFilter(Schema):
    significance: str = Field("", max_length=100, description="substring of the ClinVar significance, e.g. pathogenic")
    gene: str = Field("", max_length=100)
    limit: int = Field(500, ge=1, le=5000)
    offset: int = Field(0, ge=0)


@router.get("/patients/{patient_id}/variants", response=GenomicVariantPage, summary="A patient's variants, actionable first")
def patient_variants(request: HttpRequest, patient_id: int, filters: Query[VariantFilter]) -> dict[str, Any]:
    from clinic.genomics import patient_variants as variants_of

    found = _chart(request, patient_id)
    rows = variants_of(patient=found, significance=filters.significance, gene=filters.gene)
    page = list(rows[filters.offset : filters.offset + filters.limit])
    audit(actor=request_actor(request), action=Action.VARIANTS_VIEW, patient=found,
          detail={"significance": filters.significance, "gene": filters.gene, "returned": len(page)})  # fmt: skip
    return {"items": page, "count": rows.count()}


# --- access: break-the-glass, the audit trail


class BreakGlassIn(Schema):
    reason: str = Field(..., min_length=1, max_length=2000, description="why you need this chart (10 characters at least)")


class BreakGlassOut(Schema):
    id: int
    patient_id: int
    username: str
    reason: str
    at: dt.datetime
    expires_at: dt.datetime
    review: str


@router.post(
    "/patients/{patient_id}/break-glass",
    response={201: BreakGlassOut},
    summary="Open a chart outside your care team for a while, giving a reason (audited and reviewed)",
)
def break_glass(request: HttpRequest, patient_id: int, body: BreakGlassIn) -> tuple[int, m.BreakGlass]:
    patient = selectors.patient_by_id(patient_id=patient_id)
    return 201, services.break_glass_open(actor=request_actor(request), patient=patient, reason=body.reason)


class AuditFilter(Schema):
    patient: int | None = Field(None, ge=1, description="patient id: rows about this patient, lists that showed them")
    user: str = Field("", max_length=150, description="username")
    action: str = Field("", max_length=40, description="e.g. view.patient, break_glass, search")
    channel: str = Field("", max_length=10, description="web, api, admin, cli, worker")
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class AuditEventOut(Schema):
    id: int
    at: dt.datetime
    username: str
    action: str
    channel: str
    patient_id: int | None
    patients: list[int]
    target: str
    detail: dict[str, Any]


class AuditPage(Schema):
    items: list[AuditEventOut]
    count: int


@router.get("/audit", response=AuditPage, summary="The audit trail, newest first (stewards; reading it is audited)")
def audit_trail(request: HttpRequest, filters: Query[AuditFilter]) -> dict[str, Any]:
    actor = request_actor(request)
    require_perm(actor=actor, perm="clinic.review_audit", what="reading the audit trail")
    criteria = filters.dict(exclude={"limit", "offset"})
    rows = selectors.audit_events(**criteria)
    page = list(rows[filters.offset : filters.offset + filters.limit])
    count = rows.count()
    audit(actor=actor, action=Action.AUDIT_READ, detail={"filters": _jsonable(criteria), "returned": len(page)})
    return {"items": page, "count": count}


def _jsonable(criteria: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in criteria.items() if v not in (None, "")}
