"""Writes of decision support: cards shown (each firing recorded, each read audited), decisions, trials, hooks."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from cds import engine, hooks, selectors
from cds.chart import Chart, chart_from_database
from cds.models import CardDecision, Rule, RuleFiring
from clinic import models as m
from clinic.access import Actor, readable_patient_ids, require_access, require_patient, require_perm
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.selectors import patient_id_for_fhir_id


@dataclass
class Card:
    """A finding as shown: its recorded firing, the knowledge it cites, and the last decision about it."""

    firing: RuleFiring
    finding: engine.Finding
    knowledge: dict[str, Any] | None
    decision: CardDecision | None = None

    @property
    def citations(self) -> list[dict[str, Any]]:
        return self.finding.citations + ([self.knowledge] if self.knowledge else [])


def patient_cards(
    *,
    actor: Actor,
    patient: m.Patient,
    hook: str = "patient-view",
    chart: Chart | None = None,
    as_of: dt.datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> list[Card]:
    """The live rules' cards for a chart the actor may read: each firing recorded, the read audited once."""
    require_access(actor=actor, patient=patient)
    as_of = as_of or timezone.now()
    findings = selectors.findings_for(chart=chart or chart_from_database(patient=patient), as_of=as_of, hook=hook)
    with transaction.atomic():
        cards = [_record(actor, patient, hook, finding) for finding in findings]
        audit(
            actor=actor,
            action=Action.CDS_READ,
            patient=patient,
            target=f"cds:{hook}",
            detail={
                "cards": [card.finding.rule.key for card in cards],
                "firings": [str(c.firing.uuid) for c in cards],
                **(detail or {}),
            },
        )
    decided = selectors.decisions_latest(patient_id=patient.pk, fingerprints=[c.firing.fingerprint for c in cards])
    for card in cards:
        card.decision = decided.get(card.firing.fingerprint)
    return cards


def assistant_cards(*, patient: m.Patient) -> list[Card]:
    """The live rules' cards for the assistant's tool, recorded as firings of the `assistant` hook. The caller
    checked access, and the question's own audit row (agents.services.question_ask) names what it cited."""
    findings = selectors.findings_for(chart=chart_from_database(patient=patient), as_of=timezone.now(), hook="assistant")
    return [_record(Actor.system("worker"), patient, RuleFiring.Hook.ASSISTANT, finding) for finding in findings]


def _record(actor: Actor, patient: m.Patient, hook: str, finding: engine.Finding) -> Card:
    knowledge = selectors.knowledge_passage(rule=finding.rule)
    firing = RuleFiring.objects.create(
        rule=finding.rule,
        patient=patient,
        hook=hook,
        channel="assistant" if hook == RuleFiring.Hook.ASSISTANT else actor.channel,
        user=actor.user,
        fingerprint=finding.fingerprint,
        indicator=finding.rule.indicator,
        summary=finding.summary,
        citations=finding.citations + ([knowledge] if knowledge else []),
    )
    return Card(firing, finding, knowledge)


def hook_call(*, actor: Actor, service_id: str, body: Any, base_url: str) -> dict[str, Any]:
    """Answer one CDS Hooks call: check it, read the chart (or the prefetch), return the cards as JSON. Only for a
    patient Carebase knows (404) and the caller may read (403); every card is recorded and the read audited."""
    call = hooks.call_parse(service_id=service_id, body=body)
    try:
        patient_id = patient_id_for_fhir_id(fhir_id=call.patient_fhir_id)
    except m.Patient.DoesNotExist:
        raise m.Patient.DoesNotExist(f"context.patientId: Carebase holds no Patient/{call.patient_fhir_id}") from None
    patient = require_patient(actor=actor, patient_id=patient_id)
    chart = hooks.chart_for_call(call=call, patient=patient)
    detail = {"service": service_id, "hookInstance": call.hook_instance, "userId": call.user_id, "prefetched": chart.prefetched}
    if chart.orders:
        detail["orders"] = [o.reference for o in chart.orders]
    cards = patient_cards(actor=actor, patient=patient, hook=call.service.hook, chart=chart, detail=detail)
    out = []
    for card in cards:
        body_json = hooks.card_json(card=card, base_url=base_url)
        RuleFiring.objects.filter(pk=card.firing.pk).update(card=body_json)
        out.append(body_json)
    return {"cards": out}


@transaction.atomic
def card_decide(*, actor: Actor, card_uuid: Any, outcome: str, reason: str = "", comment: str = "") -> CardDecision:
    """A clinician (or their EHR) accepts or dismisses a card; a dismissal says why. Audited."""
    firing = selectors.firing_get(card_uuid=card_uuid)
    require_access(actor=actor, patient=firing.patient)
    if outcome not in CardDecision.Outcome.values:
        raise InvalidInput(f"outcome: expected accepted or dismissed, got {outcome!r}")
    reasons = CardDecision.Reason.values
    if outcome == CardDecision.Outcome.DISMISSED and reason not in reasons:
        raise InvalidInput(f"reason: say why the card is dismissed, one of {', '.join(reasons)}")
    if reason and reason not in reasons:
        raise InvalidInput(f"reason: unknown {reason!r}; use one of {', '.join(reasons)}")
    if reason == CardDecision.Reason.OTHER and not comment.strip():
        raise InvalidInput("comment: a dismissal for another reason needs a word on what it is")
    decision = CardDecision.objects.create(
        firing=firing,
        rule=firing.rule,
        patient=firing.patient,
        fingerprint=firing.fingerprint,
        outcome=outcome,
        reason=reason,
        comment=comment.strip()[:2000],
        user=actor.user,
        username=actor.username,
        channel=actor.channel,
    )
    audit(
        actor=actor,
        action=Action.CDS_DECISION,
        patient=firing.patient,
        target=f"card:{firing.uuid}",
        detail={"rule": firing.rule.key, "outcome": outcome, "reason": reason},
    )
    return decision


def hook_feedback(*, actor: Actor, service_id: str, body: Any) -> int:
    """CDS Hooks feedback: the EHR reports cards accepted or overridden (with the override reason). Each entry is
    a decision, as on the patient page; the cards must be ones this service returned."""
    if service_id not in hooks.SERVICES:
        raise Http404(f"no CDS service {service_id!r}; GET /cds-services lists them")
    entries = body.get("feedback") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("feedback: expected a list of {card, outcome, overrideReason}")
    parsed = [hooks.decision_from_feedback(item, f"feedback[{i}]") for i, item in enumerate(entries)]
    with transaction.atomic():
        for i, (card, outcome, reason, comment) in enumerate(parsed):
            if not RuleFiring.objects.filter(uuid=_uuid(card, f"feedback[{i}].card")).exists():
                raise InvalidInput(f"feedback[{i}].card: no card {card} was returned by Carebase")
            if outcome == CardDecision.Outcome.DISMISSED and not reason:
                reason, comment = CardDecision.Reason.OTHER, comment or "overridden in the EHR, no reason given"
            card_decide(actor=actor, card_uuid=card, outcome=outcome, reason=reason, comment=comment)
    return len(parsed)


def _uuid(text: str, place: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidInput(f"{place}: {text!r} is not a card uuid") from None


@dataclass
class Trial:
    rule: Rule
    as_of: dt.datetime
    candidates: int  # charts read
    fired: int  # patients it would fire for
    shown: list[tuple[m.Patient, str]]  # (patient, summary) for the charts the actor may read
    suppressed: bool = False  # a count below COHORT_MIN_COUNT, withheld from a counts-only reader


def rule_trial(*, actor: Actor, rule: Rule, as_of: dt.datetime | None = None, show: int = 20) -> Trial:
    """How many patients a rule would fire for (enabled or not), recording no firing: what a steward checks before
    a rule goes live. Patients are listed only where the actor may read the chart; the read is audited."""
    require_perm(actor=actor, perm="cds.try_rule", what="trying a rule on the cohort")
    as_of = as_of or timezone.now()
    try:
        candidates = list(selectors.trial_candidates(rule=rule, as_of=as_of))
    except ValueError as e:
        raise InvalidInput(str(e)) from None
    fired: list[tuple[m.Patient, str]] = []
    for patient in candidates:
        found = selectors.findings_for(chart=chart_from_database(patient=patient), as_of=as_of, rules=[rule])
        if found:
            fired.append((patient, found[0].summary))
    readable = readable_patient_ids(actor=actor)
    shown = [(pt, s) for pt, s in fired if readable is None or pt.pk in readable][:show]
    counts_only = readable == [] and not actor.is_superuser
    suppressed = counts_only and 0 < len(fired) < settings.COHORT_MIN_COUNT
    audit(
        actor=actor,
        action=Action.CDS_TRIAL,
        patients=[pt.pk for pt, _ in shown],
        target=f"rule:{rule.key}",
        detail={"fired": len(fired), "candidates": len(candidates), "as_of": as_of.isoformat(), "enabled": rule.enabled},
    )
    return Trial(rule, as_of, len(candidates), 0 if suppressed else len(fired), shown, suppressed)
