from __future__ import annotations

from django.urls import path

from clinic.views import chart, datasets, genomics, imaging

app_name = "clinic"
urlpatterns = [
    path("", chart.patient_list, name="patient_list"),
    path("patients/<int:patient_id>/", chart.patient_detail, name="patient_detail"),
    path("patients/<int:patient_id>/timeline/", chart.patient_timeline, name="patient_timeline"),
    path("patients/<int:patient_id>/items/<str:kind>/<int:source_id>/", chart.timeline_item, name="timeline_item"),
    path("patients/<int:patient_id>/trend/", chart.lab_trend, name="lab_trend"),
    path("patients/<int:patient_id>/break-glass/", chart.break_glass, name="break_glass"),
    path("patients/<int:patient_id>/imaging/studies/<int:study_id>/", imaging.study_detail, name="study_detail"),
    path("patients/<int:patient_id>/imaging/series/<int:series_id>/", imaging.series_viewer, name="series_viewer"),
    path("imaging/instances/<int:instance_id>/preview.png", imaging.instance_preview, name="instance_preview"),
    path("patients/<int:patient_id>/genomics/", genomics.genomics_panel, name="genomics_panel"),
    path("datasets/", datasets.dataset_list, name="dataset_list"),
    path("datasets/<slug:name>/download/", datasets.dataset_download, name="dataset_download"),
]
