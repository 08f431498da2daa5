"""Stewards manage decision support rules here: parameters checked per kind on save, and "try on the cohort"
before a rule goes live. Firings and decisions name patients: read-only, audited, for roles that read charts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from cds import services
from cds.models import CardDecision, Rule, RuleFiring
from clinic.access import request_actor
from clinic.admin import PatientDataAdmin, pretty_json
from clinic.errors import InvalidInput


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = [
            "name", "key", "kind", "enabled", "indicator", "summary", "detail", "suggestion", "parameters",
            "knowledge_doc_id", "reference", "reference_url",
        ]  # fmt: skip
        widgets = {"parameters": forms.Textarea(attrs={"rows": 18, "cols": 100, "class": "vLargeTextField mono"})}


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "key", "kind", "indicator", "enabled", "firings_30d", "try_link", "updated_at"]
    list_filter = ["enabled", "kind", "indicator"]
    search_fields = ["name", "key", "summary"]
    readonly_fields = ["created_at", "updated_at", "updated_by", "try_link"]
    actions = ["try_on_cohort", "enable", "disable"]
    fieldsets = [
        (None, {"fields": ["name", "key", "kind", "enabled", "try_link"]}),
        ("Card", {"fields": ["indicator", "summary", "detail", "suggestion"]}),
        ("Logic", {"fields": ["parameters"], "description": "JSON, checked for the kind on save: see docs/cds.md"}),
        ("Evidence", {"fields": ["knowledge_doc_id", "reference", "reference_url"]}),
        ("History", {"fields": ["created_at", "updated_at", "updated_by"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        obj.updated_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.display(description="fired, last 30 days")
    def firings_30d(self, rule: Rule) -> int:
        return rule.firings.filter(fired_at__gte=timezone.now() - dt.timedelta(days=30)).count()

    @admin.display(description="try")
    def try_link(self, rule: Rule) -> str:
        if not rule.pk:
            return "save the rule (disabled) first"
        return format_html('<a href="{}">Try on the cohort</a>', reverse("admin:cds_rule_trial", args=[rule.pk]))

    def get_urls(self) -> list[URLPattern]:
        trial = path("<int:rule_id>/trial/", self.admin_site.admin_view(self.trial_view), name="cds_rule_trial")
        return [trial, *super().get_urls()]

    def trial_view(self, request: HttpRequest, rule_id: int) -> HttpResponse:
        rule = get_object_or_404(Rule, pk=rule_id)
        try:
            trial = services.rule_trial(actor=request_actor(request), rule=rule)
        except InvalidInput as e:
            messages.error(request, f"{rule}: {e}")
            return HttpResponseRedirect(reverse("admin:cds_rule_change", args=[rule.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "trial": trial, "title": f"Try: {rule}"}
        return TemplateResponse(request, "admin/cds/rule/trial.html", context)

    @admin.action(description="Try the selected rules on the cohort (nothing recorded)")
    def try_on_cohort(self, request: HttpRequest, queryset: QuerySet[Rule]) -> HttpResponse | None:
        for rule in queryset:
            try:
                trial = services.rule_trial(actor=request_actor(request), rule=rule, show=0)
            except InvalidInput as e:
                messages.error(request, f"{rule}: {e}")
                continue
            count = "fewer than the smallest count shown" if trial.suppressed else str(trial.fired)
            messages.info(request, f"{rule}: would fire for {count} patient(s) of {trial.candidates} charts read")
        return None

    @admin.action(description="Enable (go live)")
    def enable(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        for rule in queryset:
            rule.enabled, rule.updated_by = True, request.user  # type: ignore[assignment]
            rule.save(update_fields=["enabled", "updated_by", "updated_at"])

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        queryset.update(enabled=False)


@admin.register(RuleFiring)
class RuleFiringAdmin(PatientDataAdmin):
    list_display = ["fired_at", "rule", "hook", "channel", "patient", "user", "summary"]
    list_filter = ["hook", "channel", "rule"]
    list_select_related = ["rule", "patient", "user"]
    search_fields = ["rule__key", "summary", "patient__name"]
    raw_id_fields = ["patient", "user", "rule"]
    exclude = ["citations", "card"]
    readonly_fields = ["citations_json", "card_json"]

    @admin.display(description="citations")
    def citations_json(self, firing: RuleFiring) -> str:
        return pretty_json(firing.citations)

    @admin.display(description="card as returned")
    def card_json(self, firing: RuleFiring) -> str:
        return pretty_json(firing.card) if firing.card else "—"


@admin.register(CardDecision)
class CardDecisionAdmin(PatientDataAdmin):
    list_display = ["at", "rule", "outcome", "reason", "username", "channel", "patient"]
    list_filter = ["outcome", "reason", "channel", "rule"]
    list_select_related = ["rule", "patient"]
    raw_id_fields = ["patient", "user", "rule", "firing"]
