from __future__ import annotations

from django.urls import path

from clinic import views

app_name = "clinic"
urlpatterns = [
    path("", views.patient_list, name="patient_list"),
    path("patients/<int:patient_id>/", views.patient_detail, name="patient_detail"),
    path("patients/<int:patient_id>/timeline/", views.patient_timeline, name="patient_timeline"),
    path("patients/<int:patient_id>/items/<str:kind>/<int:source_id>/", views.timeline_item, name="timeline_item"),
    path("patients/<int:patient_id>/trend/", views.lab_trend, name="lab_trend"),
]
