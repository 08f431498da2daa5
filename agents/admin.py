"""Data stewards review questions asked and drafts written (read-only: edits happen in the clinician's editor)."""

from __future__ import annotations

from django.contrib import admin

from agents.models import AssistantExchange, Draft, EvaluationRun, Feedback
from clinic.admin import PatientDataAdmin, ReadOnlyAdmin, pretty_json


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


@admin.register(Feedback)
class FeedbackAdmin(PatientDataAdmin):
    list_display = ["at", "rating", "text", "correction", "user", "backend", "model_name", "patient"]
    list_filter = ["rating", "backend"]
    search_fields = ["text", "correction"]
    raw_id_fields = ["patient", "user", "exchange", "draft"]


@admin.register(EvaluationRun)
class EvaluationRunAdmin(ReadOnlyAdmin):
    """Runs of `manage.py evaluate` (no patient data); the quality page compares them."""

    list_display = ["__str__", "backend", "model_name", "embedding_model", "code_version", "finished_at"]
    list_filter = ["backend"]
    exclude = ["figures", "skipped", "options"]
    readonly_fields = ["figures_json", "skipped_json", "options_json"]

    @admin.display(description="figures")
    def figures_json(self, run: EvaluationRun) -> str:
        return pretty_json(run.figures)

    @admin.display(description="skipped suites")
    def skipped_json(self, run: EvaluationRun) -> str:
        return pretty_json(run.skipped)

    @admin.display(description="options")
    def options_json(self, run: EvaluationRun) -> str:
        return pretty_json(run.options)
