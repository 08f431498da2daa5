"""Clinician pages: function views that check access, read through selectors, audit, and render one template."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from clinic import models as m
from clinic import selectors, services
from clinic.access import PatientAccessDenied, readable_patients, request_actor, require_patient
from clinic.audit import Action, audit
from clinic.charts import trend_chart
from clinic.errors import InvalidInput
from clinic.forms import TimelineFilterForm

DEFAULT_TREND_CODES = ("4548-4", "8480-6", "2339-0", "39156-5")  # HbA1c, systolic BP, glucose, BMI


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def chart_or_403(request: HttpRequest, patient_id: int) -> m.Patient:
    """The patient, when this user may open the chart: 404 for an unknown id, 403 (with break-the-glass for
    clinicians, see forbidden()) when it is not theirs. Every chart page starts here."""
    try:
        return require_patient(actor=request_actor(request), patient_id=patient_id)
    except m.Patient.DoesNotExist:
        raise Http404(f"no patient with id {patient_id}") from None


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 page; for a chart, the reason and a break-the-glass form when the user is a clinician."""
    patient = exception.patient if isinstance(exception, PatientAccessDenied) else None
    actor = request_actor(request)
    context = {
        "message": str(exception or "") or "You may not open this page.",
        "patient": patient,
        "can_break_glass": patient is not None and (actor.has_perm("clinic.break_glass") or actor.is_superuser),
    }
    template = "clinic/forbidden.html#message" if getattr(request, "htmx", False) else "clinic/forbidden.html"
    return render(request, template, context, status=403)


@require_POST
def break_glass(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Open a chart outside the care team with a reason; back to the form with the problem otherwise."""
    try:
        patient = selectors.patient_by_id(patient_id=patient_id)
    except m.Patient.DoesNotExist:
        raise Http404(f"no patient with id {patient_id}") from None
    try:
        services.break_glass_open(actor=request_actor(request), patient=patient, reason=request.POST.get("reason", ""))
    except InvalidInput as e:
        context = {"message": str(e), "patient": patient, "can_break_glass": True, "reason": request.POST.get("reason", "")}
        return render(request, "clinic/forbidden.html", context, status=400)
    return redirect("clinic:patient_detail", patient.pk)


def patient_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    actor = request_actor(request)
    found = selectors.patient_list(patients=readable_patients(actor=actor), query=query)
    page = Paginator(found, 25).get_page(request.GET.get("page"))
    audit(
        actor=actor,
        action=Action.PATIENT_LIST,
        patients=[p.pk for p in page],
        detail={"query": query, "count": page.paginator.count},
    )
    fragment = request.htmx and not request.htmx.history_restore_request  # a restored history entry needs the whole page
    template = "clinic/patient_list.html#results" if fragment else "clinic/patient_list.html"
    return render(request, template, {"page": page, "query": query})


def patient_detail(request: HtmxHttpRequest, patient_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    form = TimelineFilterForm(request.GET)
    try:
        context = _timeline_context(request, patient, form)
    except ValueError as e:
        return HttpResponseBadRequest(str(e), content_type="text/plain")
    context |= _trend_context(patient, request.GET.get("code", ""))
    context["banner"] = selectors.patient_banner(patient=patient)
    audit(actor=request_actor(request), action=Action.PATIENT_VIEW, patient=patient, detail=_audit_detail(context))
    return render(request, "clinic/patient_detail.html", context)


def patient_timeline(request: HtmxHttpRequest, patient_id: int) -> HttpResponse:
    """The timeline fragment (filters, next pages) for htmx; the whole patient page at a real URL otherwise."""
    if not request.htmx:
        return patient_detail(request, patient_id)
    patient = chart_or_403(request, patient_id)
    try:
        context = _timeline_context(request, patient, TimelineFilterForm(request.GET))
    except ValueError as e:
        return HttpResponseBadRequest(str(e), content_type="text/plain")
    audit(actor=request_actor(request), action=Action.TIMELINE_VIEW, patient=patient, detail=_audit_detail(context))
    return render(request, "clinic/patient_detail.html#timeline-items", context)


def timeline_item(request: HtmxHttpRequest, patient_id: int, kind: str, source_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    try:
        item = selectors.timeline_item(patient=patient, kind=kind, source_id=source_id)
    except ObjectDoesNotExist:
        raise Http404(f"no {kind} {source_id} in this patient's chart") from None
    audit(actor=request_actor(request), action=Action.ITEM_VIEW, patient=patient, target=f"{kind}/{source_id}")
    template = "clinic/item_detail.html#detail" if request.htmx else "clinic/item_detail.html"
    return render(request, template, {"patient": patient, "kind": kind, "item": item})


def lab_trend(request: HtmxHttpRequest, patient_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    context = {"patient": patient, **_trend_context(patient, request.GET.get("code", ""))}
    audit(actor=request_actor(request), action=Action.TREND_VIEW, patient=patient, target=context["trend_code"])
    template = "clinic/trend.html#trend" if request.htmx else "clinic/trend.html"
    return render(request, template, context)


def _timeline_context(request: HtmxHttpRequest, patient: m.Patient, form: TimelineFilterForm) -> dict[str, Any]:
    """One page of the filtered timeline; ValueError with a message naming the bad parameter."""
    if not form.is_valid():
        raise ValueError(form.error_message())
    f = form.cleaned_data
    page = selectors.patient_timeline(
        patient=patient, kinds=f["kind"], date_from=f["date_from"], date_to=f["date_to"], cursor=f["cursor"] or None
    )
    more = request.GET.copy()
    more["cursor"] = page.next_cursor or ""
    prefix = reverse("clinic:timeline_item", args=[patient.pk, "kind", 0]).removesuffix("kind/0/")
    for event in page.events:  # one reverse() for the page, not one per item (a third of the fragment's time)
        event.url = f"{prefix}{event.kind}/{event.source_id}/"  # type: ignore[attr-defined]
    return {
        "patient": patient,
        "filters": f,
        "kinds": m.TimelineEvent.Kind.choices,
        "groups": selectors.timeline_groups(events=page.events, after_cursor=f["cursor"] or None),
        "event_count": len(page.events),
        "next_query": more.urlencode() if page.next_cursor else "",
    }


def _trend_context(patient: m.Patient, code: str) -> dict[str, Any]:
    codes = selectors.lab_codes(patient=patient)
    known = {c for c, _, _ in codes}
    code = code or next((c for c in DEFAULT_TREND_CODES if c in known), codes[0][0] if codes else "")
    low, high = selectors.lab_reference_range(patient=patient, code=code) if code else (None, None)
    points = selectors.lab_trend(patient=patient, code=code) if code else []
    label = next((d for c, d, _ in codes if c == code), code)
    return {"lab_codes": codes, "trend_code": code, "trend_label": label, "chart": trend_chart(points, low, high)}


def _audit_detail(context: dict[str, Any]) -> dict[str, Any]:
    f = context["filters"]
    dates = [str(d) if d else "" for d in (f["date_from"], f["date_to"])]
    return {"kinds": f["kind"], "dates": dates, "events": context["event_count"], "trend": context.get("trend_code", "")}
