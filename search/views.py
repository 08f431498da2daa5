"""Clinician pages of the search app: live search within one chart, and population search with cohorts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clinic.access import request_actor
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.views.chart import chart_or_403
from search.api import cohort_csv_response, hit_url
from search.cohorts import LAB_OPS, CohortCriteria, LabCriterion, cohort_query_audited, cohort_save
from search.models import Cohort
from search.services import search_audited


class ChartSearchForm(forms.Form):
    q = forms.CharField(max_length=500, required=False, strip=True)
    mode = forms.ChoiceField(choices=[(m, m) for m in ("hybrid", "keyword", "vector")], required=False)
    exclude_negated = forms.BooleanField(required=False)


def patient_search(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    form = ChartSearchForm(request.GET)
    results: list[dict[str, object]] = []
    if form.is_valid() and form.cleaned_data["q"]:
        hits = search_audited(
            actor=request_actor(request),
            query=form.cleaned_data["q"],
            patient_id=patient.pk,
            mode=form.cleaned_data["mode"] or "hybrid",
            exclude_negated=form.cleaned_data["exclude_negated"],
            limit=20,
        )
        results = [{"hit": h, "url": hit_url(h)} for h in hits]
    else:
        audit(actor=request_actor(request), action=Action.PATIENT_VIEW, patient=patient, target="chart search")
    context = {"patient": patient, "form": form, "results": results, "searched": bool(form.data.get("q"))}
    template = "search/_patient_search.html#results" if getattr(request, "htmx", False) else "search/patient_search.html"
    return render(request, template, context, status=200 if form.is_valid() else 400)


class CohortForm(forms.Form):
    """The population search: text the notes mention, and structured criteria."""

    q = forms.CharField(max_length=2000, required=False, strip=True, label="Notes mention")
    mode = forms.ChoiceField(
        choices=[("keyword", "keyword (counts every passage)"), ("hybrid", "hybrid"), ("vector", "semantic")], required=False
    )
    age_min = forms.IntegerField(min_value=0, max_value=130, required=False, label="Age from")
    age_max = forms.IntegerField(min_value=0, max_value=130, required=False, label="to")
    sex = forms.ChoiceField(choices=[("", "any sex"), ("female", "female"), ("male", "male"), ("other", "other")], required=False)
    condition = forms.CharField(max_length=200, required=False, help_text="code or name, e.g. diabetes or 44054006")
    medication = forms.CharField(max_length=200, required=False, help_text="code or name, e.g. metformin")
    active_only = forms.BooleanField(required=False, label="active only")
    lab_test = forms.CharField(max_length=200, required=False, label="Lab", help_text="code or name, e.g. HbA1c")
    lab_op = forms.ChoiceField(choices=[(op, op) for op in LAB_OPS], required=False, initial=">")
    lab_value = forms.FloatField(required=False, label="value")
    lab_latest = forms.BooleanField(required=False, label="latest result")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    exclude_negated = forms.BooleanField(required=False, label="hide negated")
    exclude_uncertain = forms.BooleanField(required=False, label="hide uncertain")
    exclude_other_subject = forms.BooleanField(required=False, label="hide family/other")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("lab_test") and data.get("lab_value") is None:
            self.add_error("lab_value", "give the threshold for the lab")
        if data.get("lab_value") is not None and not data.get("lab_test"):
            self.add_error("lab_test", "name the lab the threshold is for")
        return data

    def criteria(self) -> CohortCriteria:
        d = self.cleaned_data
        lab = LabCriterion(d["lab_test"], d["lab_op"] or ">", d["lab_value"], d["lab_latest"]) if d.get("lab_test") else None
        return CohortCriteria(
            q=d["q"],
            mode=d["mode"] or "keyword",
            age_min=d["age_min"],
            age_max=d["age_max"],
            sex=d["sex"],
            condition=d["condition"],
            medication=d["medication"],
            lab=lab,
            active_only=d["active_only"],
            date_from=d["date_from"],
            date_to=d["date_to"],
            exclude_negated=d["exclude_negated"],
            exclude_uncertain=d["exclude_uncertain"],
            exclude_other_subject=d["exclude_other_subject"],
        )

    @staticmethod
    def params(criteria: CohortCriteria) -> dict[str, Any]:
        """The form's GET parameters for saved criteria (a saved cohort opens as a search)."""
        data = criteria.as_json()
        lab = data.pop("lab") or {}
        data.update({"lab_test": lab.get("test", ""), "lab_op": lab.get("op", ">"), "lab_value": lab.get("value")})
        data["lab_latest"] = lab.get("latest", False)
        return {k: ("on" if v is True else v) for k, v in data.items() if v not in (None, "", False)}


def population_search(request: HttpRequest) -> HttpResponse:
    """Search across the population: patients grouped with match counts and best snippets, saved as cohorts."""
    form = CohortForm(request.GET or None)
    cohorts = Cohort.objects.filter(owner=request.user)[:50]  # type: ignore[misc]  # pages require a login
    context: dict[str, Any] = {"form": form, "cohorts": cohorts}
    status = 200
    if form.is_bound:
        if form.is_valid():
            criteria = form.criteria()
            try:
                result = cohort_query_audited(criteria=criteria, actor=request_actor(request), limit=200)
                context.update(result=result, query_string=urlencode(CohortForm.params(criteria)))
            except InvalidInput as error:
                context["problems"] = [f"{p['field']}: {p['message']}" for p in error.errors] or [str(error)]
                status = 400
        else:
            status = 400
    template = "search/population.html#results" if getattr(request, "htmx", False) else "search/population.html"
    return render(request, template, context, status=status)


def population_export(request: HttpRequest) -> HttpResponse:
    form = CohortForm(request.GET)
    if not form.is_valid():
        return HttpResponse(f"Bad criteria: {form.errors.as_text()}", status=400, content_type="text/plain")
    try:
        return cohort_csv_response("cohort", form.criteria(), request)
    except InvalidInput as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")


@require_POST
def cohort_create(request: HttpRequest) -> HttpResponse:
    form = CohortForm(request.POST)
    name = request.POST.get("name", "")
    if not form.is_valid():
        messages.error(request, f"Not saved: {form.errors.as_text()}")
        return redirect("search:population")
    try:
        cohort = cohort_save(name=name, criteria=form.criteria(), actor=request_actor(request))
    except InvalidInput as error:
        messages.error(request, f"Not saved: {error}")
        return redirect(f"{redirect('search:population').url}?{urlencode(CohortForm.params(form.criteria()))}")
    messages.success(request, f"Saved cohort “{cohort.name}” ({cohort.patient_count} patients).")
    return redirect("search:cohort_detail", cohort.pk)


def cohort_detail(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = get_object_or_404(Cohort, pk=cohort_id, owner=request.user)
    params = CohortForm.params(CohortCriteria.from_json(cohort.criteria))
    return redirect(f"{redirect('search:population').url}?{urlencode(params)}&cohort={cohort.pk}")


def cohort_export(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = get_object_or_404(Cohort, pk=cohort_id, owner=request.user)
    return cohort_csv_response(cohort.name, CohortCriteria.from_json(cohort.criteria), request)


@require_POST
def cohort_delete(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = get_object_or_404(Cohort, pk=cohort_id, owner=request.user)
    cohort.delete()
    messages.success(request, f"Deleted cohort “{cohort.name}”.")
    return redirect("search:population")
