from __future__ import annotations

from django.urls import URLPattern, path

from search import views

app_name = "search"
urlpatterns: list[URLPattern] = [
    path("", views.population_search, name="population"),
    path("export.csv", views.population_export, name="population_export"),
    path("cohorts/", views.cohort_create, name="cohort_create"),
    path("cohorts/<int:cohort_id>/", views.cohort_detail, name="cohort_detail"),
    path("cohorts/<int:cohort_id>/export.csv", views.cohort_export, name="cohort_export"),
    path("cohorts/<int:cohort_id>/delete", views.cohort_delete, name="cohort_delete"),
    path("patients/<int:patient_id>/", views.patient_search, name="patient_search"),
]
