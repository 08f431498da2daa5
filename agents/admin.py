"""Data stewards review questions asked and drafts written (read-only: edits happen in the clinician's editor)."""

from __future__ import annotations

from django.contrib import admin

from agents.models import AssistantExchange, Draft
from clinic.admin import PatientDataAdmin


@admin.register(AssistantExchange)
class AssistantExchangeAdmin(PatientDataAdmin):
    list_display = ["asked_at", "patient", "user", "question", "backend"]
    list_filter = ["backend"]
    search_fields = ["question", "patient__name"]
    raw_id_fields = ["patient", "user"]


@admin.register(Draft)
class DraftAdmin(PatientDataAdmin):
    list_display = ["created_at", "kind", "status", "patient", "created_by", "backend", "signed_at"]
    list_filter = ["kind", "status", "backend"]
    search_fields = ["patient__name"]
    raw_id_fields = ["patient", "encounter", "created_by", "signed_by", "note"]
