"""The audit trail: every read of patient data by a person or a client leaves one row."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clinic.models import AuditEvent, Patient


def audit_record(
    *,
    request: HttpRequest | None = None,
    user: Any = None,
    via: str = "",
    action: str,
    patient: Patient | int | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row. `request` supplies the user and channel (web/api) when given."""
    if request is not None:
        user = user or (request.user if request.user.is_authenticated else None)
        via = via or getattr(request, "via", "") or ("api" if request.path.startswith("/api/") else "web")
    patient_id = patient.pk if isinstance(patient, Patient) else patient
    return AuditEvent.objects.create(
        user=user, via=via or "cli", action=action, patient_id=patient_id, target=target[:300], detail=detail or {}
    )
