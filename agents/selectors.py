"""Reads of the agents app."""

from __future__ import annotations

from typing import Any

from agents.models import AssistantExchange, Draft
from clinic import models as m


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
