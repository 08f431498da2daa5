"""Research consent: a patient-level opt-out that every dataset build respects.

A decision comes from an imported FHIR Consent (clinic.fhir.mapping.consent) or from a steward in the admin; both
are ResearchConsent rows, and the latest active one about research counts. A steward's decision is written as a
FHIR R4 Consent too, so `$everything` exports it like an imported one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clinic import models as m
from clinic.access import Actor, require_perm
from clinic.audit import Action, audit
from clinic.errors import InvalidInput

RESEARCH_PURPOSE = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH",
                    "display": "healthcare research"}  # fmt: skip


def research_opted_out(*, patient_ids: Iterable[int] | None = None) -> set[int]:
    """Ids of the patients whose latest active decision about research is an opt-out."""
    decisions = m.ResearchConsent.objects.filter(status="active").exclude(decision="")
    if patient_ids is not None:
        decisions = decisions.filter(patient_id__in=list(patient_ids))
    latest = decisions.order_by("patient_id", F("decided_at").desc(nulls_last=True), "-id").distinct("patient_id")
    return {row.patient_id for row in latest if row.decision == m.ResearchConsent.Decision.DENY}


def research_consent_set(*, actor: Actor, patient: m.Patient, opted_out: bool, reason: str) -> m.ResearchConsent:
    """Record a steward's decision (opt out, or withdraw an opt-out) as a new active Consent, audited."""
    require_perm(actor=actor, perm="clinic.add_researchconsent", what="recording a research opt-out")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason: say why (the patient's request, a letter, a form…)", [{"field": "reason"}])
    now = timezone.now()
    decision = m.ResearchConsent.Decision.DENY if opted_out else m.ResearchConsent.Decision.PERMIT
    fhir_id = str(uuid.uuid4())
    with transaction.atomic():
        consent = m.ResearchConsent.objects.create(
            fhir_id=fhir_id, patient=patient, status="active", decision=decision, decided_at=now, source="steward",
            recorded_by=actor.user, reason=reason, raw=_fhir_consent(fhir_id, patient, decision, now.isoformat()),
        )  # fmt: skip
        audit(
            actor=actor, action=Action.CONSENT_CHANGE, patient=patient, target=f"ResearchConsent/{consent.pk}",
            detail={"decision": decision, "source": "steward"},
        )  # fmt: skip
    return consent


def _fhir_consent(fhir_id: str, patient: m.Patient, decision: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": fhir_id,
        "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": f"Patient/{patient.fhir_id}"},
        "dateTime": when,
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]},
        "provision": {"type": decision, "purpose": [RESEARCH_PURPOSE]},
    }
