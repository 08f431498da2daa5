"""The steward's audit review: the trail with filters and CSV, a patient's access report, the break-the-glass
queue. Reading the audit trail is itself audited."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from clinic import models as m
from clinic import selectors, services
from clinic.access import Actor, request_actor, require_perm
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.forms import AuditFilterForm, BreakGlassReviewForm
from clinic.spreadsheet import csv_text

EXPORT_LIMIT = 100_000
CSV_COLUMNS = ["id", "at", "username", "channel", "action", "patient_id", "patients", "target", "detail", "hash"]


def _steward(request: HttpRequest) -> Actor:
    actor = request_actor(request)
    require_perm(actor=actor, perm="clinic.review_audit", what="reviewing the audit trail")
    return actor


def audit_list(request: HttpRequest) -> HttpResponse:
    actor = _steward(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "clinic/audit/list.html", {"form": form}, status=400)
    page = Paginator(selectors.audit_events(**form.criteria()), 50).get_page(request.GET.get("page"))
    audit(actor=actor, action=Action.AUDIT_READ, detail={"filters": request.GET.dict(), "page": page.number})
    query = request.GET.copy()
    query.pop("page", None)
    template = "clinic/audit/list.html#results" if getattr(request, "htmx", False) else "clinic/audit/list.html"
    return render(request, template, {"form": form, "page": page, "query": query.urlencode()})


def audit_export(request: HttpRequest) -> HttpResponse:
    actor = _steward(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    events = list(selectors.audit_events(**form.criteria())[:EXPORT_LIMIT])
    rows = ([getattr(e, c) if c != "at" else e.at.isoformat() for c in CSV_COLUMNS] for e in events)
    audit(actor=actor, action=Action.AUDIT_EXPORT, detail={"filters": request.GET.dict(), "rows": len(events)})
    response = HttpResponse(csv_text(CSV_COLUMNS, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


def access_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Who opened this chart, when, how often, and on which basis."""
    actor = _steward(request)
    patient = get_object_or_404(m.Patient, pk=patient_id)
    report = selectors.patient_access_report(patient_id=patient.pk)
    audit(actor=actor, action=Action.AUDIT_READ, target=f"access report of patient {patient.pk}", detail={"patient": patient.pk})
    return render(request, "clinic/audit/access_report.html", {"patient": patient, "report": report})


def break_glass_queue(request: HttpRequest) -> HttpResponse:
    actor = _steward(request)
    review = request.GET.get("review", m.BreakGlass.Review.PENDING)
    review = review if review in m.BreakGlass.Review.values else ""
    page = Paginator(selectors.break_glass_queue(review=review), 50).get_page(request.GET.get("page"))
    audit(actor=actor, action=Action.AUDIT_READ, target="break-the-glass queue", detail={"review": review})
    context = {"page": page, "review": review, "reviews": m.BreakGlass.Review.choices, "form": BreakGlassReviewForm()}
    return render(request, "clinic/audit/break_glass.html", context)


@require_POST
def break_glass_review(request: HttpRequest, event_id: int) -> HttpResponse:
    actor = _steward(request)
    event = get_object_or_404(m.BreakGlass, pk=event_id)
    form = BreakGlassReviewForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidInput(form.errors.as_text())
        services.break_glass_review(actor=actor, event=event, review=form.cleaned_data["review"], note=form.cleaned_data["note"])
    except InvalidInput as e:
        return HttpResponse(f"Not reviewed: {e}", status=400, content_type="text/plain")
    return redirect("audit:break_glass")
