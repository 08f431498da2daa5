from __future__ import annotations

from django.urls import path

from clinic.views import audit

app_name = "audit"
urlpatterns = [
    path("", audit.audit_list, name="list"),
    path("export.csv", audit.audit_export, name="export"),
    path("patients/<int:patient_id>/", audit.access_report, name="access_report"),
    path("break-glass/", audit.break_glass_queue, name="break_glass"),
    path("break-glass/<int:event_id>/review/", audit.break_glass_review, name="break_glass_review"),
]
