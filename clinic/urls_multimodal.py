"""Clinician pages for imaging and genomics (owned by the multimodal work; included at / by carebase.urls)."""

from __future__ import annotations

from django.urls import URLPattern, path

from clinic import views_multimodal as views

app_name = "multimodal"
urlpatterns: list[URLPattern] = [
    path("patients/<int:patient_id>/imaging/studies/<int:study_id>/", views.study_detail, name="study_detail"),
    path("patients/<int:patient_id>/imaging/series/<int:series_id>/", views.series_viewer, name="series_viewer"),
    path("imaging/instances/<int:instance_id>/preview.png", views.instance_preview, name="instance_preview"),
    path("patients/<int:patient_id>/genomics/", views.genomics_panel, name="genomics_panel"),
]
