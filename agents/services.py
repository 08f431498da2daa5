"""Writes of the agents app: questions, drafts, edits, signatures. Each audits itself."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents import drafting, grounding, llm
from agents.edits import section_edits
from agents.models import AssistantExchange, Draft, Feedback
from agents.selectors import conversation
from clinic import models as m
from clinic.access import Actor, require_access, require_perm
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.hooks import records_changed
from clinic.timeline import KIND_MODELS, timeline_event_for, timeline_upsert

logger = logging.getLogger(__name__)
DRAFT_KINDS = [k.value for k in Draft.Kind]


@transaction.atomic
def question_ask(*, actor: Actor, patient: m.Patient, question: str) -> dict[str, Any]:
    """Answer a question about one chart the actor may read, keep it in their conversation and audit it."""
    require_access(actor=actor, patient=patient)
    question = (question or "").strip()
    if not question:
        raise InvalidInput("question: ask something, e.g. 'What is the most recent Hemoglobin A1c?'")
    if len(question) > 2000:
        raise InvalidInput("question: at most 2000 characters")
    if not runs_inline():  # a model answers on the llm queue; the client polls
        exchange = AssistantExchange.objects.create(
            patient=patient,
            user=actor.user,
            question=question,
            backend=llm.backend_name(),
            status=AssistantExchange.Status.PENDING,
        )
        audit(
            actor=actor,
            action=Action.ASK,
            patient=patient,
            target=f"exchange:{exchange.pk}",
            detail={"question": question, "queued": True},
        )
        from agents.tasks import exchange_answer_task
        from carebase.jobs import enqueue

        enqueue(exchange_answer_task, exchange.pk)
        return exchange.as_answer()
    answer = llm.answer(patient=patient, question=question)
    exchange = AssistantExchange.objects.create(
        patient=patient, user=actor.user, question=question, backend=answer.get("backend", ""), answer=answer
    )
    audit(
        actor=actor,
        action=Action.ASK,
        patient=patient,
        target=f"exchange:{exchange.pk}",
        detail={"question": question, "tools": answer.get("tools", []), "cited": _cited(answer["sentences"])},
    )
    return exchange.as_answer()


def _cited(sentences: list[dict[str, Any]]) -> list[str]:
    """The records the sentences cite, as `source_type:source_id` (the first 100)."""
    return sorted({f"{c['source_type']}:{c['source_id']}" for s in sentences for c in s.get("citations") or []})[:100]


def exchange_answer(*, exchange_id: int) -> None:
    """Answer a queued question (only a pending one is claimed, by one worker)."""
    claimed = AssistantExchange.objects.filter(pk=exchange_id, status=AssistantExchange.Status.PENDING)
    if not claimed.update(status=AssistantExchange.Status.RUNNING):
        return
    exchange = AssistantExchange.objects.select_related("patient").get(pk=exchange_id)
    running = AssistantExchange.objects.filter(pk=exchange_id, status=AssistantExchange.Status.RUNNING)

    def partial(text: str) -> None:  # what the model has written so far; the panel shows it as unchecked
        running.update(partial_text=text[:20000])

    worker = Actor(user=exchange.user, channel="worker")
    try:
        require_access(actor=worker, patient=exchange.patient)  # a break-the-glass grant may have ended meanwhile
        answer = llm.answer(patient=exchange.patient, question=exchange.question, on_text=partial)
        with transaction.atomic():
            AssistantExchange.objects.filter(pk=exchange_id).update(
                status=AssistantExchange.Status.READY, answer=answer, partial_text=""
            )
            # The worker read the chart on the asker's behalf: which tools, and what the answer shows them.
            audit(
                actor=worker,
                action=Action.ASK_ANSWER,
                patient=exchange.patient,
                target=f"exchange:{exchange_id}",
                detail={"tools": answer.get("tools", []), "cited": _cited(answer["sentences"])},
            )
    except Exception as e:
        logger.exception("question %s failed", exchange_id)
        failed = {
            "answer": "The assistant could not answer; try again.",
            "sentences": [],
            "error": f"{type(e).__name__}: {e}"[:500],
        }
        AssistantExchange.objects.filter(pk=exchange_id).update(
            status=AssistantExchange.Status.FAILED, answer=failed, partial_text=""
        )


@transaction.atomic
def draft_create(
    *,
    actor: Actor,
    patient: m.Patient,
    kind: str,
    encounter_id: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Draft:
    """A pending draft of a chart the actor may write to, generated once this transaction commits: on the `llm`
    queue when a model writes it, in this process for the extractive backend (milliseconds)."""
    require_access(actor=actor, patient=patient, write=True)
    if kind not in DRAFT_KINDS:
        raise InvalidInput(f"kind: unknown {kind!r}; use one of {', '.join(DRAFT_KINDS)}")
    encounter = None
    if encounter_id is not None:
        encounter = m.Encounter.objects.filter(pk=encounter_id, patient=patient).first()
        if encounter is None:
            raise InvalidInput(f"encounter: {encounter_id} is not an encounter of patient {patient.pk}")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(f"date_from: {date_from} is after date_to {date_to}")
    draft = Draft.objects.create(
        period_start=date_from,
        period_end=date_to,
        patient=patient,
        encounter=encounter,
        kind=kind,
        created_by=actor.user,
        backend=settings.LLM_BACKEND,
    )
    audit(
        actor=actor,
        action=Action.DRAFT_CREATE,
        patient=patient,
        target=f"draft:{draft.pk}",
        detail={"kind": kind, "encounter": encounter_id},
    )
    _draft_start(draft)
    return draft


def _draft_start(draft: Draft) -> None:
    if runs_inline():
        transaction.on_commit(lambda: draft_generate(draft_id=draft.pk))
        return
    from agents.tasks import draft_generate_task
    from carebase.jobs import enqueue

    enqueue(draft_generate_task, draft.pk)


@transaction.atomic
def draft_retry(*, actor: Actor, draft: Draft) -> Draft:
    """Write a failed draft again (its worker died, or the model failed): pending, then generated as when created.
    Its author only, as for edits."""
    _require_author(actor, draft)
    if not Draft.objects.filter(pk=draft.pk, status=Draft.Status.FAILED).update(
        status=Draft.Status.PENDING, error="", sections=[], partial_text="", updated_at=timezone.now()
    ):
        raise InvalidInput(f"draft {draft.pk} is {draft.status}; only a failed draft can be retried")
    audit(actor=actor, action=Action.DRAFT_CREATE, patient=draft.patient, target=f"draft:{draft.pk}", detail={"retry": True})
    _draft_start(draft)
    return draft


ABANDONED = "The worker writing this draft stopped (restarted or killed) before it finished; nothing was saved. Retry."


def drafts_abandoned_fail(*, patient: m.Patient | None = None) -> int:
    """Fail running drafts whose worker has written nothing for DRAFT_LEASE_SECONDS (it died: a live one updates the
    draft as each section comes). Run by every worker's sweep and when a chart's drafts are shown."""
    lease_start = timezone.now() - dt.timedelta(seconds=settings.DRAFT_LEASE_SECONDS)
    abandoned = Draft.objects.filter(status=Draft.Status.RUNNING, updated_at__lt=lease_start)
    if patient is not None:
        abandoned = abandoned.filter(patient=patient)
    return abandoned.update(status=Draft.Status.FAILED, error=ABANDONED, partial_text="", updated_at=timezone.now())


def exchanges_abandoned_fail() -> int:
    """Fail answers still running DRAFT_LEASE_SECONDS after the question (an answer takes seconds: its worker died).
    The clinician asks again; nothing else depends on the exchange."""
    asked_before = timezone.now() - dt.timedelta(seconds=settings.DRAFT_LEASE_SECONDS)
    failed = {"answer": "The assistant stopped before answering (its worker restarted); ask again.", "sentences": []}
    abandoned = AssistantExchange.objects.filter(status=AssistantExchange.Status.RUNNING, asked_at__lt=asked_before)
    return abandoned.update(status=AssistantExchange.Status.FAILED, answer={**failed, "error": "worker lost"}, partial_text="")


def runs_inline() -> bool:
    """Whether generation is cheap enough to run in a web request (no model involved)."""
    return llm.backend_name() == "extractive"


def draft_generate(*, draft_id: int) -> None:
    """Fill a pending draft's sections (idempotent: only a pending draft is claimed, by one worker; or a running one
    whose worker died, when its job comes back to another worker after DRAFT_LEASE_SECONDS without a word)."""
    lease_start = timezone.now() - dt.timedelta(seconds=settings.DRAFT_LEASE_SECONDS)
    claimable = Draft.objects.filter(pk=draft_id).filter(
        Q(status=Draft.Status.PENDING) | Q(status=Draft.Status.RUNNING, updated_at__lt=lease_start)
    )
    if not claimable.update(status=Draft.Status.RUNNING, partial_text="", updated_at=timezone.now()):
        return
    draft = Draft.objects.select_related("patient", "encounter").get(pk=draft_id)

    running = Draft.objects.filter(pk=draft_id, status=Draft.Status.RUNNING)

    def written(sections: list[dict[str, Any]]) -> None:
        running.update(sections=sections, partial_text="", updated_at=timezone.now())

    def partial(text: str) -> None:  # the section being written, shown as unchecked until it is grounded
        running.update(partial_text=text[:20000], updated_at=timezone.now())

    try:
        encounter = draft.encounter or drafting.encounter_for(
            patient=draft.patient, encounter_id=None, date_from=draft.period_start, date_to=draft.period_end
        )
        sections = llm.draft(kind=draft.kind, patient=draft.patient, encounter=encounter, on_section=written, on_text=partial)
        sections = grounding.ground_sections(sections)
        with transaction.atomic():
            Draft.objects.filter(pk=draft_id).update(
                status=Draft.Status.READY,
                sections=sections,
                generated=sections,
                partial_text="",
                encounter=encounter,
                backend=llm.backend_name(),
                model_name=llm.model_name(),
                updated_at=timezone.now(),
            )
            audit(
                actor=Actor(user=draft.created_by, channel="worker"),
                action=Action.DRAFT_GENERATE,
                patient=draft.patient,
                target=f"draft:{draft_id}",
                detail={"kind": draft.kind, "cited": _cited([s for section in sections for s in section["sentences"]])},
            )
    except Exception as e:
        logger.exception("draft %s failed", draft_id)
        Draft.objects.filter(pk=draft_id).update(
            status=Draft.Status.FAILED, error=f"{type(e).__name__}: {e}"[:2000], partial_text=""
        )


def _clean_sections(sections: Any, patient: m.Patient) -> list[dict[str, Any]]:
    """Edited sections, checked: every citation must be a record of the draft's own patient."""
    if not isinstance(sections, list) or not sections:
        raise InvalidInput("sections: expected a list of {title, sentences: [{text, citations}]}")
    out = []
    for i, section in enumerate(sections):
        if not isinstance(section, dict) or not isinstance(section.get("title"), str):
            raise InvalidInput(f"sections[{i}].title: expected text")
        sentences = []
        for j, s in enumerate(section.get("sentences") or []):
            text = s.get("text") if isinstance(s, dict) else None
            if not isinstance(text, str):
                raise InvalidInput(f"sections[{i}].sentences[{j}].text: expected text")
            citations = [
                c for c in (s.get("citations") or []) if isinstance(c, dict) and c.get("source_type") and c.get("source_id")
            ]
            if text.strip():
                sentences.append({"text": text.strip(), "citations": citations})
                _check_citations(citations, patient, f"sections[{i}].sentences[{j}]")
        out.append({"title": section["title"].strip()[:200], "sentences": sentences})
    return out


def _check_citations(citations: list[dict[str, Any]], patient: m.Patient, place: str) -> None:
    """InvalidInput naming the place when a citation is not a record of this patient (or not a record at all)."""
    for k, c in enumerate(citations):
        model = KIND_MODELS.get(str(c["source_type"]))
        try:
            found = model is not None and model._default_manager.filter(pk=int(c["source_id"]), patient=patient).exists()
        except (TypeError, ValueError):
            found = False
        if not found:
            raise InvalidInput(f"{place}.citations[{k}]: {c['source_type']} {c['source_id']} is not a record of this patient")


def _require_author(actor: Actor, draft: Draft) -> None:
    if actor.user is None or draft.created_by_id != actor.user.pk:
        raise PermissionDenied("only the draft's author edits it")
    require_access(actor=actor, patient=draft.patient, write=True)


@transaction.atomic
def draft_edit(*, actor: Actor, draft: Draft, sections: Any) -> Draft:
    """Replace the draft's text (its author only); sentences keep citations the editor sent, and are grounded again."""
    _require_author(actor, draft)
    if draft.status != Draft.Status.READY:
        raise InvalidInput(f"draft {draft.pk} is {draft.status}; only a ready draft can be edited", [])
    draft.sections = grounding.ground_sections(_clean_sections(sections, draft.patient))
    draft.save(update_fields=["sections", "updated_at"])
    audit(actor=actor, action=Action.DRAFT_EDIT, patient=draft.patient_id, target=f"draft:{draft.pk}")
    return draft


def section_text_edit(*, actor: Actor, draft: Draft, texts: list[str]) -> Draft:
    """Edits from the browser (one textarea per section): sentences kept verbatim keep their citations."""
    known = {s["text"]: s["citations"] for sec in draft.sections for s in sec["sentences"]}
    sections = []
    for section, text in zip(draft.sections, texts, strict=False):
        parts = [p.strip() for p in _split_sentences(text) if p.strip()]
        sections.append({"title": section["title"], "sentences": [{"text": p, "citations": known.get(p, [])} for p in parts]})
    return draft_edit(actor=actor, draft=draft, sections=sections)


def _split_sentences(text: str) -> list[str]:
    from clinic.text import sentences

    return [s.text for s in sentences(text)]


@transaction.atomic
def draft_sign(*, actor: Actor, draft: Draft) -> m.ClinicalNote:
    """Sign a ready draft (a clinician with access to the chart): exactly one final ClinicalNote by the signer,
    on the timeline and sent to the index."""
    require_perm(actor=actor, perm="clinic.read_chart", what="signing a note")
    require_access(actor=actor, patient=draft.patient, write=True)
    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    if draft.status != Draft.Status.READY:
        raise InvalidInput(f"draft {draft.pk} is {draft.status}; only a ready draft can be signed")
    signer = actor.user
    now = timezone.now()
    sources = sorted(
        {f"{c['source_type']}:{c['source_id']}" for sec in draft.sections for s in sec["sentences"] for c in s["citations"]}
    )
    edits = section_edits(generated=draft.generated, signed=draft.sections)
    note = m.ClinicalNote.objects.create(
        fhir_id=str(uuid.uuid4()),
        patient=draft.patient,
        encounter=draft.encounter,
        status="final",
        code_system="http://loinc.org",
        code="",
        display=draft.get_kind_display(),
        category="clinical-note",
        date=now,
        title=draft.get_kind_display(),
        text=draft.text,
        content_type="text/plain",
        author_user=signer,
        provenance={
            "draft": draft.pk,
            "backend": draft.backend,
            "model": draft.model_name,
            "sources": sources,
            "edited": draft.sections != draft.generated,
            "edits": edits,
            "generated": draft.generated,
        },
    )
    event = timeline_event_for(note)
    if event:
        timeline_upsert([event])
    draft.status, draft.signed_at, draft.signed_by, draft.note = Draft.Status.SIGNED, now, signer, note
    draft.save(update_fields=["status", "signed_at", "signed_by", "note", "updated_at"])
    audit(
        actor=actor,
        action=Action.DRAFT_SIGN,
        patient=draft.patient_id,
        target=f"note:{note.pk}",
        detail={"draft": draft.pk, "sources": len(sources), "edit_distance": edits["distance"]},
    )
    records_changed("clinic.ClinicalNote", [note.pk])
    return note


def draft_read(*, actor: Actor, draft_id: int) -> Draft:
    """A draft of a chart the actor may read (Draft.DoesNotExist: 404; PatientAccessDenied: 403), audited."""
    draft = Draft.objects.select_related("patient").get(pk=draft_id)
    require_access(actor=actor, patient=draft.patient)
    audit(
        actor=actor, action=Action.DRAFT_READ, patient=draft.patient, target=f"draft:{draft.pk}", detail={"status": draft.status}
    )
    return draft


def patient_drafts_read(*, actor: Actor, patient: m.Patient, limit: int = 10, open_only: bool = False) -> list[Draft]:
    """The drafts of a chart the caller has opened (require_patient first), audited."""
    drafts = Draft.objects.filter(patient=patient)
    if open_only:
        drafts = drafts.exclude(status=Draft.Status.SIGNED)
    found = list(drafts[:limit])
    audit(actor=actor, action=Action.DRAFT_READ, patient=patient, target="drafts", detail={"drafts": [d.pk for d in found]})
    return found


def exchange_read(*, actor: Actor, exchange_id: int) -> AssistantExchange:
    """One of the actor's own questions, while they may still read its chart; audited."""
    exchange = AssistantExchange.objects.select_related("patient").get(pk=exchange_id, user=actor.user)
    require_access(actor=actor, patient=exchange.patient)
    audit(actor=actor, action=Action.ASK_READ, patient=exchange.patient, target=f"exchange:{exchange.pk}")
    return exchange


def conversation_read(*, actor: Actor, patient: m.Patient, limit: int = 20) -> list[AssistantExchange]:
    """The actor's last exchanges about a chart they have opened (require_patient first), audited."""
    found = conversation(patient=patient, user=actor.user, limit=limit)
    audit(actor=actor, action=Action.ASK_READ, patient=patient, target="conversation", detail={"exchanges": len(found)})
    return found


@transaction.atomic
def feedback_give(
    *,
    actor: Actor,
    sentence: int | None,
    rating: str,
    exchange_id: int | None = None,
    draft_id: int | None = None,
    section: int | None = None,
    correction: str = "",
) -> Feedback:
    """A clinician rates one sentence of their answer, or of a draft of a chart they may read (a second rating of
    the same sentence replaces the first). Audited."""
    if sentence is None:
        raise InvalidInput("sentence: say which sentence (its number, from 0)")
    if rating not in Feedback.Rating.values:
        raise InvalidInput(f"rating: expected one of {', '.join(Feedback.Rating.values)}, got {rating!r}")
    if len(correction) > 2000:
        raise InvalidInput("correction: at most 2000 characters")
    if exchange_id is not None:
        exchange = AssistantExchange.objects.select_related("patient").get(pk=exchange_id, user=actor.user)
        patient, backend, model = exchange.patient, exchange.backend, exchange.answer.get("model", "")
        sentences, target = exchange.answer.get("sentences", []), f"exchange:{exchange.pk}#{sentence}"
        where: dict[str, Any] = {"exchange": exchange, "draft": None, "section": None}
    elif draft_id is not None:
        draft = Draft.objects.select_related("patient").get(pk=draft_id)
        patient, backend, model = draft.patient, draft.backend, draft.model_name
        if section is None or not 0 <= section < len(draft.sections):
            raise InvalidInput(f"section: draft {draft.pk} has sections 0 to {len(draft.sections) - 1}")
        sentences, target = draft.sections[section]["sentences"], f"draft:{draft.pk}/{section}#{sentence}"
        where = {"exchange": None, "draft": draft, "section": section}
    else:
        raise InvalidInput("exchange or draft: say which answer or draft the sentence is in")
    require_access(actor=actor, patient=patient)
    if not 0 <= sentence < len(sentences):
        raise InvalidInput(f"sentence: expected 0 to {len(sentences) - 1}, got {sentence}")
    rated = sentences[sentence]
    feedback, _ = Feedback.objects.update_or_create(
        user=actor.user,
        sentence=sentence,
        **where,
        defaults={
            "patient": patient,
            "text": rated.get("text", ""),
            "citations": rated.get("citations", []),
            "rating": rating,
            "correction": correction.strip(),
            "backend": backend,
            "model_name": model or "",
            "at": timezone.now(),
        },
    )
    audit(
        actor=actor,
        action=Action.FEEDBACK,
        patient=patient,
        target=target,
        detail={"rating": rating, "corrected": bool(correction.strip())},
    )
    return feedback
