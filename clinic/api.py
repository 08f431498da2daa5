"""REST endpoints of the clinic app (mounted at /api/v1 by carebase.api)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import Field

from clinic import models as m
from clinic.audit import audit_record
from clinic.errors import InvalidInput
from clinic.fhir.export import patient_everything, resource_get
from clinic.fhir.importer import error_text
from clinic.selectors import TIMELINE_KINDS, patient_get, patient_list, patient_timeline
from clinic.services import fhir_import_bytes

router = Router(tags=["clinic"])


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


@router.get("/patients", response=PatientPage, summary="List patients (search by name, MRN or birth date)")
def patients(request: HttpRequest, filters: Query[PatientFilter]) -> dict[str, Any]:
    found = patient_list(query=filters.q)
    page = list(found[filters.offset : filters.offset + filters.limit])
    audit_record(request=request, action="list.patients", detail={"q": filters.q, "returned": [p.pk for p in page]})
    return {"items": page, "count": found.count()}


@router.get("/patients/{patient_id}", response=PatientOut, summary="One patient")
def patient(request: HttpRequest, patient_id: int) -> m.Patient:
    found = patient_get(patient_id=patient_id)
    audit_record(request=request, action="view.patient", patient=found)
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
    found = patient_get(patient_id=patient_id)
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
    audit_record(request=request, action="view.timeline", patient=found, detail={"kinds": kinds, "events": len(page.events)})
    return {"items": page.events, "next_cursor": page.next_cursor}


class ImportResultOut(Schema):
    run_id: int
    status: str
    counts: dict[str, int]
    unchanged: dict[str, int]
    skipped: dict[str, int]
    errors: list[dict[str, Any]]


@router.post("/fhir", response={200: ImportResultOut, 400: ImportResultOut}, summary="Import a FHIR Bundle (or resource)")
def fhir_import(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """The request body is a FHIR Bundle (transaction, batch, collection or searchset) or one resource."""
    if not request.body.strip():
        raise InvalidInput("request body: expected a FHIR Bundle in JSON")
    run = fhir_import_bytes(name="request body", data=request.body, source="api", user=request.user)
    errors = [{**e, "text": error_text(e)} for e in run.errors]
    body = {
        "run_id": run.pk,
        "status": run.status,
        "counts": run.counts,
        "unchanged": run.unchanged,
        "skipped": run.skipped,
        "errors": errors,
    }
    return (400 if run.units_failed else 200), body


@router.get("/fhir/Patient/{fhir_id}/$everything", summary="Everything held for one patient, as a FHIR Bundle")
def fhir_everything(request: HttpRequest, fhir_id: str) -> dict[str, Any]:
    found = m.Patient.objects.get(fhir_id=fhir_id)
    bundle = patient_everything(patient=found)
    audit_record(request=request, action="export.everything", patient=found, detail={"entries": len(bundle["entry"])})
    return bundle


@router.get("/fhir/{resource_type}/{fhir_id}", summary="One imported FHIR resource by type and id")
def fhir_read(request: HttpRequest, resource_type: str, fhir_id: str) -> dict[str, Any]:
    resource = resource_get(resource_type=resource_type, fhir_id=fhir_id)
    if resource is None:
        raise HttpError(404, f"{resource_type}/{fhir_id} not found")
    patient_ref = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    patient = m.Patient.objects.filter(fhir_id=patient_ref.partition("/")[2]).first() if patient_ref else None
    if resource_type == "Patient":
        patient = m.Patient.objects.filter(fhir_id=fhir_id).first()
    audit_record(request=request, action="export.resource", patient=patient, target=f"{resource_type}/{fhir_id}")
    return resource


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
                    "viewer_url": reverse("multimodal:series_viewer", args=[patient.pk, s.pk]),
                    "instances": [
                        {
                            **{f: getattr(i, f) for f in ImagingInstanceOut.model_fields if not f.endswith("_url")},
                            "preview_url": reverse("multimodal:instance_preview", args=[i.pk]),
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
    found = patient_get(patient_id=patient_id)
    items = _imaging_tree(request, found)
    audit_record(request=request, action="view.imaging", patient=found, detail={"studies": len(items)})
    return {"items": items, "count": len(items)}


@router.get("/imaging/instances/{instance_id}/preview", url_name="imaging_preview", summary="One slice as PNG")
def imaging_preview(request: HttpRequest, instance_id: int, frame: int = 0) -> Any:
    from django.http import FileResponse

    from clinic.imaging import instance_get, instance_preview

    instance = instance_get(instance_id=instance_id)
    try:
        path = instance_preview(instance=instance, frame=frame)
    except Exception as e:  # the file's pixels cannot be decoded: a property of the file, not a server fault
        raise HttpError(422, f"cannot render {instance.sop_instance_uid}: {e}") from None
    audit_record(request=request, action="view.imaging", patient=instance.series.study.patient_id,
                 target=f"ImagingInstance/{instance.pk}")  # fmt: skip
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

    found = patient_get(patient_id=patient_id)
    rows = variants_of(patient=found, significance=filters.significance, gene=filters.gene)
    page = list(rows[filters.offset : filters.offset + filters.limit])
    audit_record(request=request, action="view.variants", patient=found,
                 detail={"significance": filters.significance, "gene": filters.gene, "returned": len(page)})  # fmt: skip
    return {"items": page, "count": rows.count()}
