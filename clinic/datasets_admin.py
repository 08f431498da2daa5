"""The stewards' admin for datasets and research consent (imported by clinic.admin).

A dataset is a definition: created here (then built on the worker), rebuilt with the Build button or action, never
edited (a new definition is a new dataset). Its page refreshes itself while it builds and renders the data card.
Research opt-outs are recorded here as new decisions, never edited; imported FHIR Consents appear beside them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from clinic import models as m
from clinic.access import request_actor
from clinic.admin import PatientDataAdmin
from clinic.consent import research_consent_set
from clinic.curation import content_kinds, dataset_build_enqueue, dataset_create, registered_content
from clinic.curation.define import definition_problems
from clinic.errors import InvalidInput

LIVE = (m.Dataset.Status.PENDING, m.Dataset.Status.BUILDING)


def _content_choices() -> list[tuple[str, str]]:
    labels = {kind: f"{kind} ({entry.label})" for kind, entry in registered_content().items()}
    return [(kind, labels.get(kind, kind.replace("_", " "))) for kind in content_kinds()]


class DatasetForm(forms.ModelForm):
    content = forms.MultipleChoiceField(choices=_content_choices, widget=forms.CheckboxSelectMultiple)
    condition_code = forms.CharField(required=False, help_text="cohort: patients with this condition code")
    sex = forms.ChoiceField(required=False, choices=[("", "any"), ("female", "female"), ("male", "male"),
                                                     ("other", "other"), ("unknown", "unknown")])  # fmt: skip
    age_min = forms.IntegerField(required=False, min_value=0)
    age_max = forms.IntegerField(required=False, min_value=0)

    class Meta:
        model = m.Dataset
        fields = ("name", "purpose", "content", "seed", "min_cell")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["min_cell"].initial = settings.DATASET_MIN_CELL

    def criteria(self) -> dict[str, Any]:
        return {key: self.cleaned_data.get(key) for key in ("condition_code", "sex", "age_min", "age_max")}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        fields = ("name", "purpose", "content", "min_cell")
        if all(f in data for f in fields):
            problems = definition_problems(purpose=data["purpose"], content=data["content"], criteria={},
                                           name=data["name"], min_cell=data["min_cell"])  # fmt: skip
            for problem in problems:
                self.add_error(problem["field"] if problem["field"] in self.fields else None, problem["message"])
        return data

    def validate_unique(self) -> None:
        """The name's uniqueness is the service's to say (definition_problems), in its words."""


@admin.register(m.Dataset)
class DatasetAdmin(admin.ModelAdmin):
    change_form_template = "admin/clinic/dataset/change_form.html"
    list_display = ("name", "purpose", "status", "progress_text", "patients", "records", "seed", "min_cell",
                    "created_by", "created_at", "built_at", "card_link")  # fmt: skip
    list_filter = ["purpose", "status"]
    search_fields = ["name"]
    date_hierarchy = "created_at"
    actions = ("build",)
    fields_after_creation = (
        "name", "purpose", "content", "criteria", "seed", "min_cell", "created_by", "created_at", "status",
        "progress_text", "error", "build_started_at", "built_at", "file", "sha256", "patients", "records", "card_html",
    )  # fmt: skip

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            return DatasetForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("name", "purpose", "content", "condition_code", "sex", "age_min", "age_max", "seed", "min_cell")
        return self.fields_after_creation

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields_after_creation if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: m.Dataset, form: Any, change: bool) -> None:
        if change:
            return  # a definition is never edited
        actor = request_actor(request)
        d = form.cleaned_data
        created = dataset_create(
            name=d["name"], purpose=d["purpose"], content=d["content"], criteria=form.criteria(), seed=d["seed"],
            min_cell=d["min_cell"], user=request.user, channel="admin",
        )  # fmt: skip
        obj.pk, obj.created_at = created.pk, created.created_at
        dataset_build_enqueue(actor=actor, dataset=created)
        messages.info(request, f"{created.name}: the build is queued for the worker; this page follows it.")

    def response_add(self, request: HttpRequest, obj: m.Dataset, post_url_continue: str | None = None) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:clinic_dataset_change", args=[obj.pk]))

    @admin.display(description="progress")
    def progress_text(self, dataset: m.Dataset) -> str:
        return dataset.progress_text or ("queued" if dataset.status == m.Dataset.Status.PENDING else "")

    @admin.display(description="data card")
    def card_link(self, dataset: m.Dataset) -> str:
        if not dataset.card:
            return "—"
        return format_html('<a href="{}">card</a>', reverse("admin:clinic_dataset_card", args=[dataset.pk]))

    @admin.display(description="data card")
    def card_html(self, dataset: m.Dataset) -> str:
        if not dataset.card:
            return "not built yet"
        return render_to_string("admin/clinic/dataset/_card.html", {"card": dataset.card})

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("<int:dataset_id>/build/", self.admin_site.admin_view(self.build_view), name="clinic_dataset_build"),
            path("<int:dataset_id>/card/", self.admin_site.admin_view(self.card_view), name="clinic_dataset_card"),
        ]
        return [*own, *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:  # fmt: skip
        dataset = m.Dataset.objects.filter(pk=object_id).first()
        live = {"refresh_seconds": 3 if dataset is not None and dataset.status in LIVE else 0}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **live})

    def build_view(self, request: HttpRequest, dataset_id: int) -> HttpResponse:
        dataset = get_object_or_404(m.Dataset, pk=dataset_id)
        if request.method == "POST":
            self._enqueue(request, [dataset])
        return redirect("admin:clinic_dataset_change", dataset.pk)

    def card_view(self, request: HttpRequest, dataset_id: int) -> HttpResponse:
        dataset = get_object_or_404(m.Dataset, pk=dataset_id)
        if not self.has_view_permission(request, dataset):
            return redirect("admin:index")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "original": dataset,
                   "title": f"Data card: {dataset.name}", "card": dataset.card}  # fmt: skip
        return TemplateResponse(request, "admin/clinic/dataset/card.html", context)

    @admin.action(description="Build selected datasets on the worker", permissions=("change",))
    def build(self, request: HttpRequest, queryset: QuerySet[m.Dataset]) -> None:
        self._enqueue(request, list(queryset))

    def _enqueue(self, request: HttpRequest, datasets: list[m.Dataset]) -> None:
        actor = request_actor(request)
        for dataset in datasets:
            if dataset_build_enqueue(actor=actor, dataset=dataset):
                messages.info(request, f"{dataset.name}: build queued")
            else:
                messages.warning(request, f"{dataset.name}: a build is running; it was not queued again")


class ResearchConsentForm(forms.Form):
    patient = forms.CharField(help_text="the patient's FHIR id or MRN")
    decision = forms.ChoiceField(choices=[("deny", "opt out of research"), ("permit", "withdraw an opt-out")])
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="e.g. the patient's letter of 3 May")

    def clean_patient(self) -> m.Patient:
        value = self.cleaned_data["patient"].strip()
        found = m.Patient.objects.filter(fhir_id=value).first() or m.Patient.objects.filter(mrn=value).first()
        if found is None:
            raise forms.ValidationError(f"no patient with FHIR id or MRN {value!r}")
        return found


@admin.register(m.ResearchConsent)
class ResearchConsentAdmin(PatientDataAdmin):
    list_display = ("patient_fhir_id", "decision", "status", "source", "decided_at", "recorded_by", "reason")
    list_filter = ["decision", "source", "status"]
    search_fields = ["patient__fhir_id", "patient__mrn", "fhir_id"]
    list_select_related = ["patient", "recorded_by"]
    exclude = ("raw", "patient")
    readonly_fields = ("patient_fhir_id", "fhir_id", "status", "decision", "decided_at", "source", "recorded_by", "reason")

    @admin.display(description="patient", ordering="patient__fhir_id")
    def patient_fhir_id(self, consent: m.ResearchConsent) -> str:
        return consent.patient.fhir_id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("clinic.add_researchconsent"))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            messages.error(request, "Recording an opt-out needs the 'add research consent' permission (stewards have it).")
            return redirect("admin:clinic_researchconsent_changelist")
        form = ResearchConsentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                research_consent_set(actor=request_actor(request), patient=d["patient"], opted_out=d["decision"] == "deny",
                                     reason=d["reason"])  # fmt: skip
            except InvalidInput as e:
                form.add_error(None, str(e))
            else:
                messages.success(request, f"Recorded for patient {d['patient'].fhir_id}: every later dataset build respects it.")
                return redirect("admin:clinic_researchconsent_changelist")
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form,
                   "title": "Record a research decision"}  # fmt: skip
        return TemplateResponse(request, "admin/clinic/researchconsent/add.html", context)
