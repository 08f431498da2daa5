"""Clinician pages for imaging (study, series viewer, slice previews) and genomics (the patient's variant panel)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from clinic import genomics, imaging
from clinic import models as m
from clinic.audit import audit_record
from clinic.views import _patient_or_404


def study_detail(request: HttpRequest, patient_id: int, study_id: int) -> HttpResponse:
    patient = _patient_or_404(patient_id)
    study = m.ImagingStudy.objects.filter(pk=study_id, patient=patient).prefetch_related("series").first()
    if study is None:
        raise Http404(f"no imaging study {study_id} for this patient")
    audit_record(request=request, action="view.imaging", patient=patient, target=f"ImagingStudy/{study.pk}")
    return render(request, "clinic/imaging_study.html", {"patient": patient, "study": study})


def series_viewer(request: HttpRequest, patient_id: int, series_id: int) -> HttpResponse:
    patient = _patient_or_404(patient_id)
    try:
        series = imaging.series_get(patient=patient, series_id=series_id)
    except m.ImagingSeries.DoesNotExist:
        raise Http404(f"no imaging series {series_id} for this patient") from None
    instances = list(series.instances.all())
    # A multi-frame instance contributes one slice per frame.
    slices = [
        {
            "id": i.pk,
            "preview": reverse("multimodal:instance_preview", args=[i.pk]) + f"?frame={f}",
            "tags": i.tags | {"Frame": f + 1},
        }
        for i in instances
        for f in range(i.frames)
    ]
    audit_record(request=request, action="view.imaging", patient=patient, target=f"ImagingSeries/{series.pk}")
    context = {"patient": patient, "series": series, "instances": instances, "slices": slices}
    return render(request, "clinic/imaging_series.html", context)


def instance_preview(request: HttpRequest, instance_id: int) -> HttpResponse | FileResponse:
    """The PNG of one slice (rendered once, then served from the cache)."""
    try:
        instance = imaging.instance_get(instance_id=instance_id)
        frame = int(request.GET.get("frame", "0"))
    except (m.ImagingInstance.DoesNotExist, ValueError):
        raise Http404("no such image") from None
    try:
        path = imaging.instance_preview(instance=instance, frame=frame)
    except Exception as e:  # a decoder error is about the file, not the server: say so
        return HttpResponse(f"cannot render {instance.sop_instance_uid}: {e}", status=422, content_type="text/plain")
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"
    return response


def genomics_panel(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The variants panel at a real URL (the patient page loads it from here): actionable first, then the rest."""
    patient = _patient_or_404(patient_id)
    significance = request.GET.get("significance", "")[:100]
    gene = request.GET.get("gene", "").strip()[:100]
    panel = genomics.variant_panel(patient=patient, significance=significance, gene=gene)
    audit_record(request=request, action="view.variants", patient=patient, detail={"significance": significance, "gene": gene})
    context = {"patient": patient, "panel": True, "significance": significance, "gene": gene, **panel}
    return render(request, "clinic/_genomics_panel.html", context)
