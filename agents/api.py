"""REST endpoints of the agents app (mounted at /api/v1 by carebase.api): ask, drafts, edits, signatures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from agents import services
from agents.models import Draft
from agents.selectors import draft_get
from agents.services import draft_read, exchange_read, patient_drafts_read
from clinic.access import request_actor, require_patient

router = Router(tags=["agents"])


class CitationOut(Schema):
    source_type: str
    source_id: int
    label: str = ""


class SentenceOut(Schema):
    text: str
    citations: list[CitationOut]
    support: float | None = None
    supported: bool | None = None


class AskIn(Schema):
    question: str = Field(..., min_length=1, max_length=2000, description="a question about this patient's chart")


class ToolCallOut(Schema):
    name: str
    input: str = ""
    facts: int = 0
    sources: list[str] = Field(default_factory=list, description="kind:id of the rows the tool read")
    error: str | None = None


class AskOut(Schema):
    id: int
    status: str
    question: str
    answer: str
    sentences: list[SentenceOut]
    tools: list[str]
    tool_calls: list[ToolCallOut] = Field(default_factory=list, description="tools the model chose to call")
    backend: str
    asked_at: str
    poll_url: str | None = None
    partial_text: str = Field("", description="while pending: the model's text so far, unchecked and uncited")


class DraftIn(Schema):
    kind: Draft.Kind = Field(..., description="discharge_summary, progress_note, referral_letter or patient_instructions")
    encounter: int | None = Field(None, description="encounter id (default: the last admission, else the last encounter)")
    date_from: dt.date | None = Field(None, description="period: draft about the last admission (else encounter) in it")
    date_to: dt.date | None = None


class SectionOut(Schema):
    title: str
    sentences: list[SentenceOut]


class DraftOut(Schema):
    id: int
    patient_id: int
    kind: str
    status: str
    encounter_id: int | None
    period_start: dt.date | None
    period_end: dt.date | None
    backend: str
    model_name: str
    created_at: dt.datetime
    signed_at: dt.datetime | None
    note_id: int | None
    error: str
    sections: list[SectionOut]
    partial_text: str = Field("", description="while running: the section being written, unchecked and uncited")
    text: str
    url: str

    @staticmethod
    def resolve_url(obj: Draft) -> str:
        return f"/api/v1/drafts/{obj.pk}"


class DraftEditIn(Schema):
    sections: list[SectionOut]


class SignOut(Schema):
    draft: DraftOut
    note_id: int


@router.post("/patients/{patient_id}/ask", response=AskOut, summary="Ask about a patient's chart; every sentence cited")
def ask(request: HttpRequest, patient_id: int, body: AskIn) -> dict[str, Any]:
    actor = request_actor(request)
    patient = require_patient(actor=actor, patient_id=patient_id)
    return services.question_ask(actor=actor, patient=patient, question=body.question)


@router.get("/asks/{exchange_id}", response=AskOut, summary="A question you asked earlier: its status and answer")
def ask_read(request: HttpRequest, exchange_id: int) -> dict[str, Any]:
    return exchange_read(actor=request_actor(request), exchange_id=exchange_id).as_answer()


@router.post("/patients/{patient_id}/drafts", response={202: DraftOut}, summary="Start a draft note (generated on a worker)")
def draft_create(request: HttpRequest, patient_id: int, body: DraftIn) -> tuple[int, Draft]:
    actor = request_actor(request)
    patient = require_patient(actor=actor, patient_id=patient_id, write=True)
    draft = services.draft_create(
        actor=actor,
        patient=patient,
        kind=body.kind,
        encounter_id=body.encounter,
        date_from=body.date_from,
        date_to=body.date_to,
    )
    return 202, draft_get(draft_id=draft.pk)


@router.get("/patients/{patient_id}/drafts", response=list[DraftOut], summary="A patient's drafts, newest first")
def draft_list(request: HttpRequest, patient_id: int) -> list[Draft]:
    actor = request_actor(request)
    return patient_drafts_read(actor=actor, patient=require_patient(actor=actor, patient_id=patient_id), limit=50)


@router.get("/drafts/{draft_id}", response=DraftOut, summary="A draft: status, sections, sentences with citations and support")
def draft_detail(request: HttpRequest, draft_id: int) -> Draft:
    return draft_read(actor=request_actor(request), draft_id=draft_id)


@router.put("/drafts/{draft_id}", response=DraftOut, summary="Replace a ready draft's sections (its author's edits)")
def draft_edit(request: HttpRequest, draft_id: int, body: DraftEditIn) -> Draft:
    sections = [s.dict() for s in body.sections]
    actor = request_actor(request)
    return services.draft_edit(actor=actor, draft=draft_read(actor=actor, draft_id=draft_id), sections=sections)


@router.post("/drafts/{draft_id}/retry", response={202: DraftOut}, summary="Write a failed draft again (its author only)")
def draft_retry(request: HttpRequest, draft_id: int) -> tuple[int, Draft]:
    """A draft fails when its worker died mid-way or the model failed (its `error` says which); this starts it again
    as when it was created. 400 when the draft is not failed."""
    actor = request_actor(request)
    services.draft_retry(actor=actor, draft=draft_read(actor=actor, draft_id=draft_id))
    return 202, draft_get(draft_id=draft_id)


@router.post("/drafts/{draft_id}/sign", response=SignOut, summary="Sign a ready draft: it becomes a final clinical note")
def draft_sign(request: HttpRequest, draft_id: int) -> dict[str, Any]:
    actor = request_actor(request)
    note = services.draft_sign(actor=actor, draft=draft_read(actor=actor, draft_id=draft_id))
    return {"draft": draft_get(draft_id=draft_id), "note_id": note.pk}
