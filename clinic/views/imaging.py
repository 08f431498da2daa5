"""Clinician pages for imaging: a study, the series viewer, one slice's preview."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from clinic import imaging
from clinic import models as m
from clinic.access import request_actor
from clinic.audit import Action, audit
from clinic.views.chart import chart_or_403


def study_detail(request: HttpRequest, patient_id: int, study_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    study = m.ImagingStudy.objects.filter(pk=study_id, patient=patient).prefetch_related("series").first()
    if study is None:
        raise Http404(f"no imaging study {study_id} for this patient")
    audit(actor=request_actor(request), action=Action.IMAGING_VIEW, patient=patient, target=f"ImagingStudy/{study.pk}")
    return render(request, "clinic/imaging_study.html", {"patient": patient, "study": study})


def series_viewer(request: HttpRequest, patient_id: int, series_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    try:
        series = imaging.series_get(patient=patient, series_id=series_id)
    except m.ImagingSeries.DoesNotExist:
        raise Http404(f"no imaging series {series_id} for this patient") from None
    instances = list(series.instances.all())
    # A multi-frame instance contributes one slice per frame.
    slices = [
        {
            "id": i.pk,
            "preview": reverse("clinic:instance_preview", args=[i.pk]) + f"?frame={f}",
            "tags": i.tags | {"Frame": f + 1},
        }
        for i in instances
        for f in range(i.frames)
    ]
    audit(actor=request_actor(request), action=Action.IMAGING_VIEW, patient=patient, target=f"ImagingSeries/{series.pk}")
    context = {"patient": patient, "series": series, "instances": instances, "slices": slices}
    return render(request, "clinic/imaging_series.html", context)


def instance_preview(request: HttpRequest, instance_id: int) -> HttpResponse | FileResponse:
    """The PNG of one slice (rendered once, then served from the cache)."""
    try:
        instance = imaging.instance_get(instance_id=instance_id)
        frame = int(request.GET.get("frame", "0"))
    except (m.ImagingInstance.DoesNotExist, ValueError):
        raise Http404("no such image") from None
    patient = chart_or_403(request, instance.series.study.patient_id)
    try:
        path = imaging.instance_preview(instance=instance, frame=frame)
    except Exception as e:  # a decoder error is about the file, not the server: say so
        return HttpResponse(f"cannot render {instance.sop_instance_uid}: {e}", status=422, content_type="text/plain")
    audit(actor=request_actor(request), action=Action.IMAGING_VIEW, patient=patient, target=f"ImagingInstance/{instance.pk}")
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"
    return response
