"""Reads of the agents app."""

from __future__ import annotations

from typing import Any

from agents.models import AssistantExchange, Draft
from clinic import models as m
from clinic.curation import Example


def draft_get(*, draft_id: int) -> Draft:
    return Draft.objects.select_related("patient").get(pk=draft_id)


def patient_drafts(*, patient: m.Patient, limit: int = 10) -> list[Draft]:
    return list(Draft.objects.filter(patient=patient).exclude(status=Draft.Status.SIGNED)[:limit])


def conversation(*, patient: m.Patient, user: Any, limit: int = 20) -> list[AssistantExchange]:
    """The user's last exchanges about this patient, oldest first."""
    rows = AssistantExchange.objects.filter(patient=patient, user=user).order_by("-asked_at", "-id")[:limit]
    return list(reversed(rows))


def exchange_get(*, exchange_id: int, user: Any) -> AssistantExchange:
    """One of this user's questions (conversations are per user)."""
    return AssistantExchange.objects.get(pk=exchange_id, user=user)


def cited_answer(answer: dict[str, Any]) -> str:
    """An answer as text with numbered citation marks and its sources listed after it."""
    sources: dict[tuple[Any, Any], tuple[int, str, str]] = {}
    sentences = []
    for sentence in answer.get("sentences") or []:
        marks = ""
        for citation in sentence.get("citations") or []:
            key = (citation.get("source_type"), citation.get("source_id"))
            if key not in sources:
                sources[key] = (len(sources) + 1, str(citation.get("source_type") or ""), str(citation.get("label") or ""))
            marks += f"[{sources[key][0]}]"
        sentences.append(f"{sentence.get('text', '')} {marks}".strip())
    text = " ".join(sentences) or str(answer.get("answer") or "")
    if sources:
        text += "\n\nSources:\n" + "\n".join(f"[{n}] {kind}: {label}" for n, kind, label in sources.values())
    return text


def exchange_examples(patient: m.Patient) -> list[Example]:
    """Dataset content `exchanges`: each answered question about the patient → its cited answer."""
    exchanges = AssistantExchange.objects.filter(patient=patient, status=AssistantExchange.Status.READY)
    return [
        Example(at=e.asked_at, instruction=e.question, response=cited_answer(e.answer), title="Question about the chart",
                source_key=f"exchange:{e.pk}:{e.asked_at.isoformat()}")
        for e in exchanges.order_by("asked_at", "id")
        if e.answer.get("sentences")
    ]  # fmt: skip


def draft_examples(patient: m.Patient) -> list[Example]:
    """Dataset content `drafts`: each signed draft → the writing task, the signed text and the generated text."""
    drafts = Draft.objects.filter(patient=patient, status=Draft.Status.SIGNED).order_by("signed_at", "id")
    return [
        Example(at=d.signed_at, instruction=f"Write a {d.get_kind_display().lower()} for this patient.",
                response=d.text, rejected=d.generated_text, title=d.get_kind_display(),
                source_key=f"draft:{d.pk}:{d.signed_at.isoformat() if d.signed_at else ''}")
        for d in drafts
    ]  # fmt: skip
