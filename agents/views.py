"""The assistant panel on the patient page: ask, draft, edit, sign. Fragments for htmx, whole pages otherwise."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents import services
from agents.models import AssistantExchange, Draft
from agents.selectors import conversation, draft_get, draft_is_stale, exchange_get, patient_drafts
from clinic import models as m
from clinic.errors import InvalidInput
from clinic.selectors import patient_get

PANEL = "agents/_assistant_panel.html"


def _patient_or_404(patient_id: int) -> m.Patient:
    try:
        return patient_get(patient_id=patient_id)
    except m.Patient.DoesNotExist:
        raise Http404(f"no patient with id {patient_id}") from None


def _draft_or_404(draft_id: int) -> Draft:
    try:
        return draft_get(draft_id=draft_id)
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


@login_required
def panel(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The conversation so far and open drafts (loaded into the panel once the patient page is up)."""
    patient = _patient_or_404(patient_id)
    exchanges = [_exchange_context(patient, x.as_answer(), x.question) for x in conversation(patient=patient, user=request.user)]
    drafts = [_draft_context(d) for d in patient_drafts(patient=patient)]
    return render(request, f"{PANEL}#history", {"patient": patient, "exchanges": exchanges, "drafts": drafts})


@login_required
@require_POST
def ask(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = _patient_or_404(patient_id)
    question = request.POST.get("question", "")
    try:
        answer = services.question_ask(patient=patient, question=question, request=request)
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    if not getattr(request, "htmx", False):
        return redirect(reverse("clinic:patient_detail", args=[patient.pk]) + "#assistant")
    return render(request, f"{PANEL}#exchange", {"x": _exchange_context(patient, answer, question)})


@login_required
def exchange_detail(request: HttpRequest, exchange_id: int) -> HttpResponse:
    """One question and its answer (the panel polls this while a model is answering)."""
    try:
        exchange = exchange_get(exchange_id=exchange_id, user=request.user)
    except AssistantExchange.DoesNotExist:
        raise Http404(f"no question {exchange_id} of yours") from None
    return render(
        request, f"{PANEL}#exchange", {"x": _exchange_context(exchange.patient, exchange.as_answer(), exchange.question)}
    )


@login_required
@require_POST
def draft_create(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = _patient_or_404(patient_id)
    try:
        draft = services.draft_create(patient=patient, kind=request.POST.get("kind", ""), request=request)
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    return _draft_response(request, draft)


@login_required
def draft_detail(request: HttpRequest, draft_id: int) -> HttpResponse:
    draft = _draft_or_404(draft_id)
    if draft_is_stale(draft=draft) and services.runs_inline():
        services.draft_generate(draft_id=draft.pk)
        draft = _draft_or_404(draft_id)
    return _draft_response(request, draft)


@login_required
@require_POST
def draft_edit(request: HttpRequest, draft_id: int) -> HttpResponse:
    draft = _draft_or_404(draft_id)
    texts = [request.POST.get(f"section-{i}", "") for i in range(len(draft.sections))]
    try:
        draft = services.section_text_edit(draft=draft, texts=texts, request=request)
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    return _draft_response(request, draft)


@login_required
@require_POST
def draft_sign(request: HttpRequest, draft_id: int) -> HttpResponse:
    draft = _draft_or_404(draft_id)
    try:
        services.draft_sign(draft=draft, request=request)
    except InvalidInput as e:
        return render(request, f"{PANEL}#error", {"message": str(e)}, status=400)
    return _draft_response(request, _draft_or_404(draft_id))


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
