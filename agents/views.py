"""The assistant panel on the patient page: ask, draft, edit, sign. Fragments for htmx, whole pages otherwise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents import quality as q
from agents import services
from agents.models import AssistantExchange, Draft
from clinic import models as m
from clinic.access import request_actor, require_perm
from clinic.errors import InvalidInput
from clinic.views.chart import chart_or_403

PANEL = "agents/_assistant_panel.html"
MAX_WEEKS = 104


def _draft_or_404(request: HttpRequest, draft_id: int) -> Draft:
    """A draft of a chart this user may open (403 otherwise), its read audited."""
    try:
        return services.draft_read(actor=request_actor(request), draft_id=draft_id)
    except Draft.DoesNotExist:
        raise Http404(f"no draft with id {draft_id}") from None


def numbered(patient_id: int, sentences: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sentences with citation numbers, and the numbered sources (each links to its record on the timeline)."""
    sources: dict[tuple[str, int], dict[str, Any]] = {}
    out = []
    for s in sentences:
        refs = []
        for c in s.get("citations", []):
            key = (c["source_type"], int(c["source_id"]))
            if key not in sources:
                url = reverse("clinic:timeline_item", args=[patient_id, key[0], key[1]])
                sources[key] = {"n": len(sources) + 1, "url": url, "label": c.get("label", ""), "kind": key[0]}
            refs.append(sources[key])
        out.append({**s, "refs": refs})
    return out, list(sources.values())


def _exchange_context(patient: m.Patient, answer: dict[str, Any], question: str) -> dict[str, Any]:
    sentences, sources = numbered(patient.pk, answer.get("sentences", []))
    waiting = answer.get("status") in ("pending", "running")
    return {
        "patient": patient,
        "question": question,
        "sentences": sentences,
        "sources": sources,
        "answer": answer,
        "waiting": waiting,
    }


def panel(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The conversation so far and open drafts (loaded into the panel once the patient page is up)."""
    patient = chart_or_403(request, patient_id)
    actor = request_actor(request)
    history = services.conversation_read(actor=actor, patient=patient)
    services.drafts_abandoned_fail(patient=patient)  # shown failed, with their retry button, never "running" forever
    exchanges = [_exchange_context(patient, x.as_answer(), x.question) for x in history]
    drafts = [_draft_context(d) for d in services.patient_drafts_read(actor=actor, patient=patient, open_only=True)]
    return render(request, f"{PANEL}#history", {"patient": patient, "exchanges": exchanges, "drafts": drafts})


@require_POST
def ask(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    question = request.POST.get("question", "")
    try:
        answer = services.question_ask(actor=request_actor(request), patient=patient, question=question)
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    if not getattr(request, "htmx", False):
        return redirect(reverse("clinic:patient_detail", args=[patient.pk]) + "#assistant")
    return render(request, f"{PANEL}#exchange", {"x": _exchange_context(patient, answer, question)})


def exchange_detail(request: HttpRequest, exchange_id: int) -> HttpResponse:
    """One question and its answer (the panel polls this while a model is answering)."""
    try:
        exchange = services.exchange_read(actor=request_actor(request), exchange_id=exchange_id)
    except AssistantExchange.DoesNotExist:
        raise Http404(f"no question {exchange_id} of yours") from None
    return render(
        request, f"{PANEL}#exchange", {"x": _exchange_context(exchange.patient, exchange.as_answer(), exchange.question)}
    )


@require_POST
def draft_create(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = chart_or_403(request, patient_id)
    try:
        draft = services.draft_create(actor=request_actor(request), patient=patient, kind=request.POST.get("kind", ""))
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    return _draft_response(request, _draft_or_404(request, draft.pk))


def draft_detail(request: HttpRequest, draft_id: int) -> HttpResponse:
    draft = _draft_or_404(request, draft_id)
    if draft.status == Draft.Status.RUNNING and services.drafts_abandoned_fail(patient=draft.patient):
        draft = _draft_or_404(request, draft_id)
    return _draft_response(request, draft)


def _draft_changed(request: HttpRequest, draft_id: int, change: Callable[..., Any]) -> HttpResponse:
    """One of the author's or signer's actions on a draft (the service checks who may), then the draft as it is now;
    a refusal is the panel's error at 400."""
    draft = _draft_or_404(request, draft_id)
    try:
        change(actor=request_actor(request), draft=draft)
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    return _draft_response(request, _draft_or_404(request, draft_id))


@require_POST
def draft_retry(request: HttpRequest, draft_id: int) -> HttpResponse:
    return _draft_changed(request, draft_id, services.draft_retry)


@require_POST
def draft_edit(request: HttpRequest, draft_id: int) -> HttpResponse:
    def edit(*, actor: Any, draft: Draft) -> None:
        texts = [request.POST.get(f"section-{i}", "") for i in range(len(draft.sections))]
        services.section_text_edit(actor=actor, draft=draft, texts=texts)

    return _draft_changed(request, draft_id, edit)


@require_POST
def draft_sign(request: HttpRequest, draft_id: int) -> HttpResponse:
    return _draft_changed(request, draft_id, services.draft_sign)


@require_POST
def feedback(request: HttpRequest) -> HttpResponse:
    """Rate one sentence of an answer or a draft (helpful, wrong, unsupported), maybe with a correction."""
    post = request.POST
    try:
        given = services.feedback_give(
            actor=request_actor(request), sentence=_number(post, "sentence"), rating=post.get("rating", ""),
            exchange_id=_number(post, "exchange"), draft_id=_number(post, "draft"), section=_number(post, "section"),
            correction=post.get("correction", ""),
        )  # fmt: skip
    except (AssistantExchange.DoesNotExist, Draft.DoesNotExist):
        raise Http404("no such answer or draft of yours") from None
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    if not getattr(request, "htmx", False):
        return redirect(reverse("clinic:patient_detail", args=[given.patient_id]) + "#assistant")
    return render(request, f"{PANEL}#feedback-given", {"given": given})


def _number(post: Any, field: str) -> Any:
    """An optional whole number from the form; InvalidInput naming the field when it is not one."""
    value = post.get(field, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"{field}: expected a whole number, got {value[:20]!r}")
    return int(value)


def _draft_context(draft: Draft) -> dict[str, Any]:
    sections = []
    for section in draft.sections:
        sentences, sources = numbered(draft.patient_id, section["sentences"])
        text = " ".join(s["text"] for s in section["sentences"])
        sections.append({"title": section["title"], "sentences": sentences, "sources": sources, "text": text})
    flagged = sum(1 for sec in draft.sections for s in sec["sentences"] if not s.get("supported", True))
    return {"draft": draft, "sections": sections, "flagged": flagged}


def _draft_response(request: HttpRequest, draft: Draft) -> HttpResponse:
    context = {"d": _draft_context(draft), "patient": draft.patient}
    if getattr(request, "htmx", False):
        return render(request, f"{PANEL}#draft", context)
    return render(request, "agents/draft_page.html", context)


def quality_page(request: HttpRequest) -> HttpResponse:
    """The steward's quality page: unsupported sentences, negative feedback, edits before signing, card decisions
    per week, per backend and model, per rule; and the evaluation runs compared."""
    require_perm(actor=request_actor(request), perm="agents.view_quality", what="the quality page")
    try:
        weeks = _number(request.GET, "weeks")
        weeks = 12 if weeks is None else weeks
        base = _number(request.GET, "base")
        if not 1 <= weeks <= MAX_WEEKS:
            raise InvalidInput(f"weeks: between 1 and {MAX_WEEKS}")
    except InvalidInput as e:
        return HttpResponse(str(e), status=400, content_type="text/plain")
    since = timezone.now() - dt.timedelta(weeks=weeks)
    runs, base_run = q.evaluation_runs(base_id=base)
    context = {
        "weeks": weeks,
        "models": q.model_weeks(since=since),
        "rules": q.rule_weeks(since=since),
        "runs": runs,
        "base": base_run,
    }
    return render(request, "agents/quality.html", context)
