"""Reads over stored imaging: a patient's studies, one series, one instance."""

from __future__ import annotations

from django.db.models import QuerySet

from clinic import models as m


def patient_studies(*, patient: m.Patient) -> QuerySet[m.ImagingStudy]:
    return m.ImagingStudy.objects.filter(patient=patient).order_by("-started", "id")


def series_get(*, patient: m.Patient, series_id: int) -> m.ImagingSeries:
    return m.ImagingSeries.objects.select_related("study").get(pk=series_id, study__patient=patient)


def instance_get(*, instance_id: int) -> m.ImagingInstance:
    return m.ImagingInstance.objects.select_related("series__study").get(pk=instance_id)
