"""Writes to the clinical data ecosystem: imports, access grants, break-the-glass, tokens, roles. Each is one
transaction that also writes its audit row."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from carebase.files import write_atomically
from clinic import models as m
from clinic.access import ROLES, Actor, default_scopes, parse_scopes, scope_problems, user_roles
from clinic.audit import Action, audit
from clinic.errors import InvalidInput
from clinic.fhir.importer import FhirImporter, PreparedUnit, UnitResult, iter_units, prepare_unit
from clinic.ingestion import run_finish, run_start


def fhir_import_files(
    *,
    paths: Iterable[str | Path],
    source: str = "cli",
    user: Any = None,
    progress: Callable[[UnitResult], None] | None = None,
) -> m.IngestionRun:
    """Import every FHIR file under `paths` (one transaction per file) into one IngestionRun."""
    run = run_start(kind="fhir", source=source, user=user)
    importer = FhirImporter(run)
    # Parsing and mapping the next files (pure Python, no database) overlaps with writing this one.
    units = iter(iter_units(paths))
    ahead: deque[Future[PreparedUnit]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhir-prepare") as pool:
        while True:
            while len(ahead) < 2 and (unit := next(units, None)) is not None:
                ahead.append(pool.submit(prepare_unit, *unit))
            if not ahead:
                break
            result = importer.commit(ahead.popleft().result())
            if progress is not None:
                progress(result)
    return run_finish(run)


def fhir_import_bytes(*, name: str, data: bytes, source: str = "api", actor: Actor | None = None) -> m.IngestionRun:
    """Import one uploaded unit (a Bundle, a resource or NDJSON), audited as the actor's import."""
    actor = actor or Actor.system()
    run = run_start(kind="fhir", source=source, user=actor.user)
    FhirImporter(run).import_bytes(name, data)
    run = run_finish(run)
    audit(
        actor=actor,
        action=Action.FHIR_IMPORT,
        target=f"IngestionRun/{run.pk}",
        detail={"counts": run.counts, "status": run.status},
    )
    return run


def fhir_import_request(*, actor: Actor, data: bytes) -> m.IngestionRun:
    """A posted Bundle: imported here when small, else stored and imported on the worker (the run stays
    `running` until then; its status URL tells the client)."""
    if len(data) <= settings.FHIR_INLINE_MAX_BYTES:
        return fhir_import_bytes(name="request body", data=data, source="api", actor=actor)
    run = run_start(kind="fhir", source="api", user=actor.user)
    upload = settings.DATA_DIR / "uploads" / f"fhir-{run.pk}-{uuid.uuid4().hex}.json"
    write_atomically(upload, data)  # the worker never sees half a file
    from carebase.jobs import enqueue
    from clinic.tasks import fhir_import_file_task

    audit(actor=actor, action=Action.FHIR_IMPORT, target=f"IngestionRun/{run.pk}", detail={"queued": len(data)})
    enqueue(fhir_import_file_task, run.pk, str(upload))
    return run


def fhir_import_queued(*, run_id: int, path: str) -> None:
    """Finish a queued import (idempotent: a run already finished is left alone; the file goes when done)."""
    run = m.IngestionRun.objects.filter(pk=run_id, finished_at=None).first()
    upload = Path(path)
    if run is not None and upload.exists():
        FhirImporter(run).import_bytes("request body", upload.read_bytes())
        run_finish(run)
    upload.unlink(missing_ok=True)


def api_token_create(
    *, user: Any, name: str = "", scopes: str | None = None, days: int | None = None, patient: m.Patient | None = None,
    actor: Actor | None = None,
) -> str:  # fmt: skip
    """Create a bearer token for `user`; returns the only copy of the raw token (the database keeps its hash).
    Without `scopes` the token gets what the user's roles allow; `days` makes it expire."""
    wanted = parse_scopes(default_scopes(user) if scopes is None else scopes)
    problems = scope_problems(user=user, scopes=wanted)
    if any(s.context == "patient" for s in wanted) and patient is None:
        problems.append("patient/ scopes need the patient the token is for")
    if days is not None and days < 1:
        problems.append(f"days: {days}; a token lives at least one day")
    if problems:
        raise InvalidInput("; ".join(problems))
    raw = m.ApiToken.generate()
    expires = timezone.now() + dt.timedelta(days=days) if days else None
    with transaction.atomic():
        token = m.ApiToken.objects.create(
            user=user, name=name, prefix=raw[:10], digest=m.ApiToken.hash(raw), scopes=" ".join(map(str, wanted)),
            expires_at=expires, patient=patient,
        )  # fmt: skip
        audit(
            actor=actor or Actor.system(),
            action=Action.TOKEN_CREATE,
            target=f"ApiToken/{token.pk} {token.prefix} for {user.username}",
            detail={"scopes": token.scopes, "expires_at": expires.isoformat() if expires else None},
        )
    return raw


@transaction.atomic
def user_save(*, username: str, roles: list[str], password: str | None = None, actor: Actor | None = None) -> Any:
    """Create or update a user with exactly these roles (stewards get the admin); the password is validated."""
    from django.contrib.auth import get_user_model

    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise InvalidInput(f"role: {', '.join(unknown) or 'none given'}; use one or more of {', '.join(ROLES)}")
    user, created = get_user_model().objects.get_or_create(username=username)
    if password is not None:
        try:
            validate_password(password, user)
        except ValidationError as e:
            raise InvalidInput("password: " + " ".join(e.messages)) from None
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.is_staff = "steward" in roles or user.is_superuser
    user.save()
    user.groups.set(Group.objects.filter(name__in=roles))
    audit(actor=actor or Actor.system(), action=Action.USER_ROLE, target=f"user {username}", detail={"roles": sorted(roles)})
    return user


@transaction.atomic
def care_team_grant(
    *, user: Any, patient: m.Patient, days: int | None = None, role: str = "", actor: Actor | None = None
) -> m.CareTeamMember:
    """Put a clinician on a patient's care team (until `days` from now, or open-ended); re-granting extends."""
    if "clinician" not in user_roles(user) and not user.is_superuser:
        raise InvalidInput(f"user {user.username} is not a clinician; give them the role first (create_user --role clinician)")
    if days is not None and days < 1:
        raise InvalidInput(f"days: {days}; grant at least one day")
    now = timezone.now()
    ends = now + dt.timedelta(days=days) if days else None
    member = m.CareTeamMember.objects.filter(user=user, patient=patient, starts_at__lte=now).exclude(ends_at__lte=now).first()
    if member is None:
        member = m.CareTeamMember(user=user, patient=patient, starts_at=now)
    member.ends_at, member.role = ends, role or member.role
    member.added_by = actor.user if actor else None
    member.save()
    audit(
        actor=actor or Actor.system(),
        action=Action.CARE_TEAM_GRANT,
        patient=patient,
        target=f"user {user.username}",
        detail={"until": ends.isoformat() if ends else None, "role": member.role},
    )
    return member


@transaction.atomic
def break_glass_open(*, actor: Actor, patient: m.Patient, reason: str) -> m.BreakGlass:
    """A clinician opens a chart outside their care team for BREAK_GLASS_HOURS, giving a reason; audited, and
    queued for a steward's review."""
    reason = (reason or "").strip()
    if len(reason) < settings.BREAK_GLASS_MIN_REASON:
        raise InvalidInput(f"reason: say why you need this chart ({settings.BREAK_GLASS_MIN_REASON} characters at least)")
    if actor.user is None or not (actor.has_perm("clinic.break_glass") or actor.is_superuser):
        raise PermissionDenied("breaking the glass is for clinicians")
    if not actor.allows(contexts=("user",)):
        raise PermissionDenied("breaking the glass needs a token with user/ scopes")
    now = timezone.now()
    event = m.BreakGlass.objects.create(
        patient=patient,
        user=actor.user,
        username=actor.username,
        reason=reason[:2000],
        at=now,
        expires_at=now + dt.timedelta(hours=settings.BREAK_GLASS_HOURS),
        channel=actor.channel,
    )
    actor._bases.clear()  # decisions made earlier in this request no longer hold
    audit(
        actor=actor,
        action=Action.BREAK_GLASS,
        patient=patient,
        target=f"BreakGlass/{event.pk}",
        detail={"reason": event.reason, "expires_at": event.expires_at.isoformat()},
    )
    return event


@transaction.atomic
def break_glass_review(*, actor: Actor, event: m.BreakGlass, review: str, note: str = "") -> m.BreakGlass:
    """A steward's verdict on a break-the-glass event: reviewed (justified) or follow-up, with a note."""
    if review not in (m.BreakGlass.Review.REVIEWED, m.BreakGlass.Review.FOLLOW_UP):
        raise InvalidInput("review: reviewed or follow_up")
    if review == m.BreakGlass.Review.FOLLOW_UP and not note.strip():
        raise InvalidInput("note: say what needs following up")
    event.review, event.review_note = review, note.strip()[:2000]
    event.reviewed_by, event.reviewed_at = actor.user, timezone.now()
    event.save(update_fields=["review", "review_note", "reviewed_by", "reviewed_at"])
    audit(
        actor=actor,
        action=Action.BREAK_GLASS_REVIEW,
        patient=event.patient_id,
        target=f"BreakGlass/{event.pk}",
        detail={"review": review, "note": event.review_note, "by": event.username},
    )
    return event
