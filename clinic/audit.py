"""The audit trail: every read of patient data, and every change, leaves one row written here.

Rows are append-only in PostgreSQL (a trigger refuses UPDATE and DELETE) and hash-chained (clinic.models), so
`manage.py verify_audit` finds an edit or a gap. Each row copies the username and names the access basis
(care team, break-the-glass, …) of the read, so a steward's access report says who opened a chart and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from django.db import connection

from clinic.access import Actor
from clinic.models import AuditEvent, Patient


class Action(StrEnum):
    # reads of patient data
    PATIENT_LIST = "list.patients"
    PATIENT_VIEW = "view.patient"
    TIMELINE_VIEW = "view.timeline"
    ITEM_VIEW = "view.item"
    TREND_VIEW = "view.trend"
    IMAGING_VIEW = "view.imaging"
    VARIANTS_VIEW = "view.variants"
    FHIR_READ = "export.resource"
    FHIR_SEARCH = "search.fhir"
    EVERYTHING_EXPORT = "export.everything"
    BULK_EXPORT = "export.bulk"
    BULK_DOWNLOAD = "export.bulk.download"
    SEARCH = "search"
    COHORT_QUERY = "cohort.query"
    COHORT_EXPORT = "cohort.export"
    ASK = "ask"
    ASK_ANSWER = "ask.answer"
    ASK_READ = "ask.read"
    DRAFT_READ = "draft.read"
    ADMIN_LIST = "admin.list"
    ADMIN_VIEW = "admin.view"
    CDS_READ = "cds.read"
    CDS_TRIAL = "cds.trial"
    # changes and access decisions
    BREAK_GLASS = "break_glass"
    BREAK_GLASS_REVIEW = "break_glass.review"
    CARE_TEAM_GRANT = "care_team.grant"
    FHIR_IMPORT = "import.fhir"
    DRAFT_CREATE = "draft.create"
    DRAFT_GENERATE = "draft.generate"
    DRAFT_EDIT = "draft.edit"
    DRAFT_SIGN = "draft.sign"
    COHORT_SAVE = "cohort.save"
    FEEDBACK = "feedback"
    CDS_DECISION = "cds.decision"
    # governance
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    USER_ROLE = "user.role"
    KNOWLEDGE_UPLOAD = "knowledge.upload"
    INDEX_REQUEUE = "index.requeue"
    DATASET_CREATE = "dataset.create"
    DATASET_BUILD = "dataset.build"
    DATASET_DOWNLOAD = "dataset.download"
    CONSENT_CHANGE = "consent.change"


def audit(
    *,
    actor: Actor,
    action: Action,
    patient: Patient | int | None = None,
    patients: Iterable[int] = (),
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row: who (and on which basis, for a read of one chart), what, which patients."""
    patient_id = patient.pk if isinstance(patient, Patient) else patient
    detail = dict(detail or {})
    basis = actor.basis_for(patient_id) if patient_id is not None else None
    if basis is not None:
        detail.setdefault("basis", str(basis))
    return AuditEvent.objects.create(
        user_id=getattr(actor.user, "pk", None),
        username=actor.username,
        channel=actor.channel,
        action=str(action),
        patient_id=patient_id,
        patients=sorted({int(p) for p in patients}),
        target=target[:300],
        detail=detail,
    )


AUDIT_HASH_SQL = """
SELECT id, hash, prev_hash,
       clinic_audit_hash(prev_hash, id, at, username, channel, action, patient_id, patients, target, detail) AS expected,
       lag(hash) OVER (ORDER BY id) AS previous
FROM clinic_auditevent ORDER BY id
"""


def audit_chain_problems(*, limit: int = 20) -> tuple[int, list[str]]:
    """Walk the whole chain: (rows checked, problems). A row whose hash does not match its fields was edited; a
    row whose prev_hash is not the hash of the row before it follows a gap (a deleted row)."""
    problems: list[str] = []
    checked = 0
    with connection.cursor() as cursor:
        cursor.execute(AUDIT_HASH_SQL)
        while rows := cursor.fetchmany(5000):
            for row_id, stored, prev, expected, previous in rows:
                if checked and prev != previous:
                    problems.append(f"row {row_id}: its prev_hash does not match the row before it (a row is missing)")
                elif not checked and prev:
                    problems.append(f"row {row_id}: the first row left points at an earlier row (rows were removed)")
                if stored != expected:
                    problems.append(f"row {row_id}: its hash does not match its contents (it was changed)")
                checked += 1
                if len(problems) >= limit:
                    return checked, problems
    return checked, problems
