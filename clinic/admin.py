"""The data stewards' admin: ingestion runs and their errors, every clinical table, audit review, API tokens,
care teams and break-the-glass review.

Imported rows are read-only here: the source of truth is the FHIR they came from, so a correction is a
re-import (upload it below), which keeps the timeline, the search index and the audit trail consistent.
Clinical tables hold identified patient data: only a role with their view permission sees them (stewards'
roles do not have it; a superuser does), and every list and record opened here leaves an audit row.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from clinic import models as m
from clinic import services
from clinic.access import request_actor, user_roles
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.fhir.importer import error_text
from clinic.services import fhir_import_bytes

UPLOAD_SUFFIXES = (".json", ".ndjson", ".jsonl")


def pretty_json(value: Any) -> str:
    return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))  # fmt: skip


def counts_table(*columns: tuple[str, dict[str, int]]) -> str:
    """One row per key across several {key: count} dicts, one column each."""
    keys = sorted({k for _, counts in columns for k in counts})
    if not keys:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((title,) for title, _ in columns))
    rows = format_html_join(
        "",
        "<tr><td>{}</td>{}</tr>",
        ((k, format_html_join("", "<td>{}</td>", ((counts.get(k, 0),) for _, counts in columns))) for k in keys),
    )
    return format_html("<table><thead><tr><th>type</th>{}</tr></thead><tbody>{}</tbody></table>", head, rows)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: rows are written by imports and services, never by hand."""

    list_per_page = 50
    show_full_result_count = False  # counting large tables (observations) on every page is slow

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PatientDataAdmin(ReadOnlyAdmin):
    """Rows that are patient data: every list shown and every record opened leaves an audit row."""

    def patient_of(self, obj: Any) -> int | None:
        return getattr(obj, "patient_id", None)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", None) and response.context_data.get("cl")  # type: ignore[attr-defined]
        if changelist is not None:
            rows = list(changelist.result_list)
            audit(
                actor=request_actor(request),
                action=Action.ADMIN_LIST,
                patients=[p for p in map(self.patient_of, rows) if p is not None],
                target=self.opts.label,
                detail={"rows": [r.pk for r in rows], "query": request.GET.urlencode()[:500]},
            )
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        obj = (getattr(response, "context_data", None) or {}).get("original")
        if obj is not None:
            target = f"{self.opts.label}/{obj.pk}"
            audit(actor=request_actor(request), action=Action.ADMIN_VIEW, patient=self.patient_of(obj), target=target)
        return response


class FhirRecordAdmin(PatientDataAdmin):
    """An imported FHIR row: its fields, then the resource as imported."""

    exclude = ("raw",)
    readonly_fields = ("raw_json",)
    raw_id_fields = ["run"]
    search_fields = ["fhir_id"]

    @admin.display(description="resource as imported")
    def raw_json(self, obj: m.FhirRecord) -> str:
        return pretty_json(obj.raw)


class PatientRecordAdmin(FhirRecordAdmin):
    raw_id_fields = ["patient", "encounter", "run"]
    list_select_related = ["patient"]
    search_fields = ["display", "code", "fhir_id", "patient__name", "patient__mrn"]
    list_filter = ["status", "code_system"]


# Ingestion ---------------------------------------------------------------------------------------------------


class FhirUploadForm(forms.Form):
    file = forms.FileField(help_text="A FHIR R4 Bundle or resource (.json) or NDJSON (.ndjson, .jsonl).")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(UPLOAD_SUFFIXES):
            raise forms.ValidationError(f"{upload.name}: expected a .json, .ndjson or .jsonl file")
        if upload.size > settings.UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"{upload.name}: {upload.size:,} bytes is over the {settings.UPLOAD_MAX_BYTES:,}-byte limit"
            )
        return upload


@admin.register(m.BulkExport)
class BulkExportAdmin(ReadOnlyAdmin):
    """FHIR Bulk Data exports: who asked for what, how far they got (the files are the requester's alone)."""

    list_display = ("id", "user", "level", "status", "progress", "created_at", "finished_at")
    list_filter = ["status", "level"]
    search_fields = ["user__username", "request_url"]
    list_select_related = ["user"]
    exclude = ("patient_ids", "output")


@admin.register(m.IngestionRun)
class IngestionRunAdmin(ReadOnlyAdmin):
    change_list_template = "admin/clinic/ingestionrun/change_list.html"
    list_display = ("__str__", "kind", "source", "status", "started_at", "duration_text", "units_text", "total", "user")
    list_filter = ["kind", "source", "status"]
    date_hierarchy = "started_at"
    search_fields = ["errors", "user__username"]
    list_select_related = ["user"]
    fields = (
        ("kind", "source", "status", "user"),
        ("started_at", "finished_at", "duration_text"),
        ("units", "units_failed", "total"),
        "counts_by_type",
        "skipped_types",
        "error_table",
    )
    readonly_fields = fields[0] + fields[1] + fields[2] + fields[3:]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)  # the rows it wrote stay; only the record of the run goes

    @admin.display(description="duration", ordering="finished_at")
    def duration_text(self, run: m.IngestionRun) -> str:
        return f"{run.duration.total_seconds():.1f} s" if run.duration else "running"

    @admin.display(description="units / failed")
    def units_text(self, run: m.IngestionRun) -> str:
        return f"{run.units} / {run.units_failed}"

    @admin.display(description="rows written / unchanged, by type")
    def counts_by_type(self, run: m.IngestionRun) -> str:
        return counts_table(("written", run.counts), ("unchanged", run.unchanged))

    @admin.display(description="not stored (type not supported)")
    def skipped_types(self, run: m.IngestionRun) -> str:
        return counts_table(("skipped", run.skipped))

    @admin.display(description="errors")
    def error_table(self, run: m.IngestionRun) -> str:
        if not run.errors:
            return "none"
        columns = ("file", "entry", "resource_type", "id", "field", "message")
        head = format_html_join("", "<th>{}</th>", ((c.replace("_", " "),) for c in columns))
        rows = format_html_join(
            "",
            "<tr>{}</tr>",
            ((format_html_join("", "<td>{}</td>", ((e.get(c, ""),) for c in columns)),) for e in run.errors),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    def get_urls(self) -> list[URLPattern]:
        upload = path("upload/", self.admin_site.admin_view(self.upload_view), name="clinic_ingestionrun_upload")
        return [upload, *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("clinic.import_data"):
            messages.error(request, "Importing FHIR needs the 'import data' permission (the steward role has it).")
            return redirect("admin:clinic_ingestionrun_changelist")
        form = FhirUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            run = fhir_import_bytes(name=upload.name, data=upload.read(), source="admin", actor=request_actor(request))
            self._report(request, run, upload.name)
            return HttpResponseRedirect(reverse("admin:clinic_ingestionrun_change", args=[run.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form, "title": "Upload FHIR file"}
        return TemplateResponse(request, "admin/clinic/ingestionrun/upload.html", context)

    def _report(self, request: HttpRequest, run: m.IngestionRun, name: str) -> None:
        if run.units_failed:
            detail = "; ".join(error_text(e) for e in run.errors[:5])
            messages.error(request, f"Rejected {name}: nothing from it was stored. {detail}")
        else:
            written = sum(run.counts.values())
            messages.success(request, f"Imported {name}: {written} rows written, {run.total - written} unchanged.")


# Clinical tables ---------------------------------------------------------------------------------------------


@admin.register(m.Organization)
class OrganizationAdmin(FhirRecordAdmin):
    def patient_of(self, obj: Any) -> int | None:
        return None

    list_display = ("name", "identifier_value", "city", "fhir_id")
    search_fields = ["name", "identifier_value", "fhir_id"]
    list_filter = ["city"]


@admin.register(m.Practitioner)
class PractitionerAdmin(FhirRecordAdmin):
    """Practitioners as imported; a steward links one to the Carebase user who is that person, which puts the user
    on the care team of the patients whose encounters the practitioner took part in."""

    list_display = ("name", "identifier_system", "identifier_value", "fhir_id", "user")
    search_fields = ["name", "identifier_value", "fhir_id", "user__username"]
    raw_id_fields = ["run", "user"]
    fields = ("name", "identifier_system", "identifier_value", "fhir_id", "user", "raw_json")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("name", "identifier_system", "identifier_value", "fhir_id", "raw_json")

    def patient_of(self, obj: Any) -> int | None:
        return None

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("clinic.change_practitioner"))


@admin.register(m.Patient)
class PatientAdmin(FhirRecordAdmin):
    list_display = ("name", "mrn", "birth_date", "sex", "city", "state", "deceased_at", "run")
    list_filter = ["sex", "state", "language"]
    search_fields = ["name", "family_name", "given_name", "mrn", "fhir_id"]
    date_hierarchy = "birth_date"

    def patient_of(self, obj: Any) -> int | None:
        return int(obj.pk)


@admin.register(m.Encounter)
class EncounterAdmin(FhirRecordAdmin):
    list_display = ("start", "patient", "class_code", "type_display", "reason_display", "status", "practitioner")
    list_filter = ["class_code", "status"]
    search_fields = ["type_display", "reason_display", "fhir_id", "patient__name", "patient__mrn"]
    date_hierarchy = "start"
    raw_id_fields = ["patient", "practitioner", "organization", "run"]
    list_select_related = ["patient", "practitioner"]


@admin.register(m.Condition)
class ConditionAdmin(PatientRecordAdmin):
    list_display = ("display", "code", "patient", "clinical_status", "verification_status", "onset", "abatement")
    list_filter = ["clinical_status", "verification_status", "category"]
    date_hierarchy = "onset"


@admin.register(m.Observation)
class ObservationAdmin(PatientRecordAdmin):
    list_display = ("display", "code", "patient", "effective", "value", "unit", "interpretation", "ref_low", "ref_high")
    list_filter = ["category", "interpretation", "status"]
    date_hierarchy = "effective"


@admin.register(m.MedicationRequest)
class MedicationRequestAdmin(PatientRecordAdmin):
    list_display = ("display", "code", "patient", "status", "intent", "authored_on", "dosage_text")
    list_filter = ["status", "intent"]
    date_hierarchy = "authored_on"
    raw_id_fields = ["patient", "encounter", "requester", "run"]


@admin.register(m.AllergyIntolerance)
class AllergyIntoleranceAdmin(PatientRecordAdmin):
    list_display = ("display", "patient", "clinical_status", "criticality", "category", "reaction_text", "recorded")
    list_filter = ["clinical_status", "criticality", "category", "allergy_type"]
    date_hierarchy = "recorded"

    @admin.display(description="reactions")
    def reaction_text(self, allergy: m.AllergyIntolerance) -> str:
        return "; ".join(f"{r.get('manifestation', '')} ({r.get('severity') or '?'})" for r in allergy.reactions)


@admin.register(m.Procedure)
class ProcedureAdmin(PatientRecordAdmin):
    list_display = ("display", "code", "patient", "status", "performed_start", "reason_display")
    date_hierarchy = "performed_start"


@admin.register(m.Immunization)
class ImmunizationAdmin(PatientRecordAdmin):
    list_display = ("display", "code", "patient", "status", "occurrence")
    date_hierarchy = "occurrence"


@admin.register(m.DiagnosticReport)
class DiagnosticReportAdmin(PatientRecordAdmin):
    list_display = ("display", "code", "patient", "category", "status", "effective", "result_count")
    list_filter = ["category", "status"]
    search_fields = [*PatientRecordAdmin.search_fields, "conclusion"]
    date_hierarchy = "effective"

    @admin.display(description="results")
    def result_count(self, report: m.DiagnosticReport) -> int:
        return len(report.result_ids)


@admin.register(m.CarePlan)
class CarePlanAdmin(PatientRecordAdmin):
    list_display = ("display", "patient", "status", "intent", "period_start", "period_end", "addresses")
    list_filter = ["status", "intent"]
    date_hierarchy = "period_start"


@admin.register(m.ClinicalNote)
class ClinicalNoteAdmin(PatientRecordAdmin):
    list_display = ("title", "display", "patient", "date", "status", "author", "author_user", "text_length")
    list_filter = ["display", "status", "content_type"]
    search_fields = [*PatientRecordAdmin.search_fields, "title"]
    date_hierarchy = "date"
    raw_id_fields = ["patient", "encounter", "author", "author_user", "run"]
    list_select_related = ["patient", "author", "author_user"]

    @admin.display(description="characters")
    def text_length(self, note: m.ClinicalNote) -> int:
        return len(note.text)


class ImagingSeriesInline(admin.TabularInline):
    model = m.ImagingSeries
    fields = ("number", "series_uid", "modality", "body_part", "description", "num_instances")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.ImagingStudy)
class ImagingStudyAdmin(PatientRecordAdmin):
    list_display = ("description", "patient", "modalities", "body_site", "started", "num_series", "num_instances")
    list_filter = ["modalities", "status"]
    search_fields = [*PatientRecordAdmin.search_fields, "study_uid", "description", "accession"]
    date_hierarchy = "started"
    inlines = (ImagingSeriesInline,)


@admin.register(m.ImagingSeries)
class ImagingSeriesAdmin(PatientDataAdmin):
    list_display = ("series_uid", "study", "number", "modality", "body_part", "num_instances")
    list_filter = ["modality"]
    search_fields = ["series_uid", "study__study_uid", "description"]
    raw_id_fields = ["study", "run"]
    list_select_related = ["study"]

    def patient_of(self, obj: Any) -> int | None:
        return int(obj.study.patient_id)


@admin.register(m.ImagingInstance)
class ImagingInstanceAdmin(PatientDataAdmin):
    list_display = ("sop_instance_uid", "series", "number", "rows", "columns", "frames", "slice_location")
    search_fields = ["sop_instance_uid", "series__series_uid"]
    raw_id_fields = ["series", "run"]
    list_select_related = ["series__study"]

    def patient_of(self, obj: Any) -> int | None:
        return int(obj.series.study.patient_id)

    readonly_fields = ("tags_json",)
    exclude = ("tags",)

    @admin.display(description="tags")
    def tags_json(self, instance: m.ImagingInstance) -> str:
        return pretty_json(instance.tags)


@admin.register(m.ClinVarVariant)
class ClinVarVariantAdmin(ReadOnlyAdmin):
    list_display = ("gene", "chrom", "pos", "ref", "alt", "significance", "review_status", "variation_id")
    list_filter = ["assembly", "significance"]
    search_fields = ["gene", "variation_id", "hgvs", "conditions"]
    raw_id_fields = ["run"]


@admin.register(m.GenomicReport)
class GenomicReportAdmin(PatientDataAdmin):
    list_display = ("file_name", "patient", "sample", "assembly", "imported_at", "num_variants", "num_pathogenic")
    list_filter = ["assembly"]
    search_fields = ["file_name", "sample", "patient__name", "patient__mrn"]
    date_hierarchy = "imported_at"
    raw_id_fields = ["patient", "run"]


@admin.register(m.GenomicVariant)
class GenomicVariantAdmin(PatientDataAdmin):
    list_display = ("gene", "chrom", "pos", "ref", "alt", "genotype", "zygosity", "significance", "patient")
    list_filter = ["zygosity", "significance"]
    search_fields = ["gene", "variant_id", "hgvs", "patient__name", "patient__mrn"]
    raw_id_fields = ["patient", "report"]
    list_select_related = ["patient"]


@admin.register(m.TimelineEvent)
class TimelineEventAdmin(PatientDataAdmin):
    list_display = ("time", "kind", "title", "flag", "patient")
    list_filter = ["kind", "flag"]
    search_fields = ["title", "patient__name", "patient__mrn"]
    date_hierarchy = "time"
    raw_id_fields = ["patient", "encounter"]
    list_select_related = ["patient"]


# Governance ---------------------------------------------------------------------------------------------------


@admin.register(m.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail can be read and filtered here, never changed or deleted (PostgreSQL refuses both).
    The steward's review pages (/audit/) add the access report, the break-the-glass queue and CSV."""

    list_display = ("at", "username", "channel", "action", "patient_id", "target")
    list_filter = ["action", "channel", "at"]
    search_fields = ["action", "target", "username"]
    date_hierarchy = "at"
    exclude = ("detail", "user", "patient")
    readonly_fields = ("detail_json", "patient_id", "username")

    @admin.display(description="detail")
    def detail_json(self, event: m.AuditEvent) -> str:
        return pretty_json(event.detail)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        audit(
            actor=request_actor(request),
            action=Action.AUDIT_READ,
            target="admin audit list",
            detail={"query": request.GET.urlencode()[:500]},
        )
        return super().changelist_view(request, extra_context)


class CareTeamMemberForm(forms.ModelForm):
    class Meta:
        model = m.CareTeamMember
        fields = ("patient", "user", "role", "starts_at", "ends_at")

    def clean_user(self) -> Any:
        user = self.cleaned_data["user"]
        if "clinician" not in user_roles(user) and not user.is_superuser:
            raise forms.ValidationError(f"{user.username} is not a clinician: give them the clinician role first")
        return user


@admin.register(m.CareTeamMember)
class CareTeamMemberAdmin(admin.ModelAdmin):
    """Explicit care-team assignments (encounters of a linked Practitioner and break-the-glass grants add to them)."""

    form = CareTeamMemberForm
    list_display = ("patient", "user", "role", "starts_at", "ends_at", "added_by")
    list_filter = ["role", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "patient__fhir_id", "patient__mrn"]
    raw_id_fields = ["patient", "user", "added_by"]
    readonly_fields = ("added_by",)

    def save_model(self, request: HttpRequest, obj: m.CareTeamMember, form: Any, change: bool) -> None:
        obj.added_by = obj.added_by or request.user  # type: ignore[assignment]  # the admin requires a login
        super().save_model(request, obj, form, change)
        detail = {"until": obj.ends_at.isoformat() if obj.ends_at else None, "role": obj.role, "changed": change}
        audit(
            actor=request_actor(request),
            action=Action.CARE_TEAM_GRANT,
            patient=obj.patient_id,
            target=f"user {obj.user.username}",
            detail=detail,
        )


@admin.register(m.BreakGlass)
class BreakGlassAdmin(ReadOnlyAdmin):
    """Break-the-glass events; reviewing happens on /audit/break-glass/ (each review is audited)."""

    list_display = ("at", "username", "patient", "reason", "expires_at", "review", "reviewed_by")
    list_filter = ["review", "channel"]
    search_fields = ["username", "reason", "patient__fhir_id"]
    date_hierarchy = "at"
    raw_id_fields = ["patient", "user", "reviewed_by"]


class ApiTokenForm(forms.ModelForm):
    scopes = forms.CharField(required=False, help_text="space-separated, e.g. user/*.read; empty: what the user's roles allow")
    days = forms.IntegerField(required=False, min_value=1, help_text="the token expires after this many days")

    class Meta:
        model = m.ApiToken
        fields = ("user", "name", "scopes", "patient")


@admin.register(m.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens: created here or with `manage.py create_api_token` (the raw token is shown once), revoked here."""

    list_display = ("prefix", "name", "user", "scopes", "created_at", "expires_at", "last_used_at", "revoked")
    list_filter = ["revoked", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["prefix", "name", "user__username", "scopes"]
    date_hierarchy = "created_at"
    readonly_fields = ("prefix", "user", "scopes", "patient", "created_at", "expires_at", "last_used_at", "revoked")
    raw_id_fields = ["user", "patient"]
    actions = ("revoke",)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        return ApiTokenForm if obj is None else super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("user", "name", "scopes", "days", "patient")
        return ("prefix", "name", "user", "scopes", "patient", "created_at", "expires_at", "last_used_at", "revoked")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None) -> HttpResponse:
        form = ApiTokenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                raw = services.api_token_create(
                    user=d["user"], name=d["name"], scopes=d["scopes"] or None, days=d["days"], patient=d["patient"],
                    actor=request_actor(request),
                )  # fmt: skip
            except (InvalidInput, ValueError) as e:
                messages.error(request, f"Not created: {e}")
            else:
                messages.success(request, f"Token for {d['user'].username} (shown once, copy it now): {raw}")
                return redirect("admin:clinic_apitoken_changelist")
        return super().add_view(request, form_url, extra_context)

    @admin.action(description="Revoke selected tokens", permissions=("change",))
    def revoke(self, request: HttpRequest, queryset: QuerySet[m.ApiToken]) -> None:
        with transaction.atomic():
            tokens = list(queryset.select_for_update().filter(revoked=False))
            m.ApiToken.objects.filter(pk__in=[t.pk for t in tokens]).update(revoked=True)
            for token in tokens:
                audit(actor=request_actor(request), action=Action.TOKEN_REVOKE, target=f"ApiToken/{token.pk} {token.prefix}")
        self.message_user(request, f"Revoked {len(tokens)} token(s).", messages.SUCCESS)


# Datasets and research consent have their own module (clinic/datasets_admin.py); importing it registers them.
from clinic import datasets_admin  # noqa: E402, F401
