"""Who may read which patient: the one decision every page, endpoint, command and job goes through.

- A superuser reads every chart (and every read is still audited).
- A client of the `integration` role with `system/*` scopes reads every chart (the `read_all_charts` permission).
- A clinician (the `read_chart` permission) reads a chart while on the patient's care team: an explicit
  assignment (`CareTeamMember`, maybe with an end date), an encounter of the patient within
  CARE_TEAM_ENCOUNTER_DAYS that the Practitioner linked to their user took part in, or a break-the-glass grant
  that has not expired.
- Stewards and researchers read no identified chart unless they are clinicians too.

Bearer tokens carry SMART on FHIR style scopes (`user/*.read`, `system/Observation.write`, `patient/*.read`) that
narrow what the client may do on top of the role: a read needs a `.read` scope for the resource type, a write a
`.write` scope. A session (the browser) is limited by the role alone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from clinic import models as m

ROLES = ("clinician", "steward", "researcher", "integration")
# What a token gets when it is created without --scopes, by role (a superuser gets the clinician's).
ROLE_SCOPES = {
    "clinician": "user/*.read user/*.write",
    "steward": "user/*.read user/*.write",
    "researcher": "user/*.read",
    "integration": "system/*.read system/*.write",
}
SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|[cruds]+)$")


class Basis(StrEnum):
    """Why a chart could be read: written into every audit row of a read."""

    SUPERUSER = "superuser"
    SYSTEM = "system"
    CARE_TEAM = "care_team"
    ENCOUNTER = "encounter"
    BREAK_GLASS = "break_glass"


@dataclass(frozen=True)
class Scope:
    context: str  # patient | user | system
    resource: str  # "*" or a FHIR resource type
    read: bool
    write: bool

    @classmethod
    def parse(cls, text: str) -> Scope:
        """`user/*.read` → Scope; ValueError naming the scope when it is not one this server knows."""
        match = SCOPE.match(text.strip())
        if match is None:
            raise ValueError(
                f"scope {text!r}: expected patient|user|system / * or a resource type . read|write, e.g. user/*.read"
            )
        context, resource, access = match.groups()
        read = access in ("read", "*") or (access not in ("write",) and any(c in access for c in "rs"))
        write = access in ("write", "*") or (access not in ("read",) and any(c in access for c in "cud"))
        return cls(context, resource, read, write)

    def __str__(self) -> str:
        access = "*" if self.read and self.write else ("read" if self.read else "write")
        return f"{self.context}/{self.resource}.{access}"


def parse_scopes(text: str) -> tuple[Scope, ...]:
    return tuple(Scope.parse(part) for part in text.replace(",", " ").split() if part)


@dataclass(frozen=True)
class Actor:
    """Who is acting, through which channel, within which scopes (None: a session or a command, role only)."""

    user: Any
    channel: str  # web, api, admin, cli, worker
    scopes: tuple[Scope, ...] | None = None
    token_patient_id: int | None = None  # the one patient of a token with patient/ scopes
    _bases: dict[Any, Basis | None] = field(default_factory=dict, compare=False, repr=False)  # decisions made

    @property
    def username(self) -> str:
        return getattr(self.user, "username", "") or ""

    @property
    def is_superuser(self) -> bool:
        return bool(getattr(self.user, "is_superuser", False) and self.user.is_active)

    def has_perm(self, perm: str) -> bool:
        return self.user is not None and self.user.is_active and self.user.has_perm(perm)

    def allows(
        self, *, write: bool = False, resource: str = "*", contexts: tuple[str, ...] = ("patient", "user", "system")
    ) -> bool:
        """Whether the scopes allow this kind of access (always, for a session or a command)."""
        if self.scopes is None:
            return True
        return any(
            s.context in contexts and s.resource in ("*", resource) and (s.write if write else s.read) for s in self.scopes
        )

    def basis_for(self, patient_id: int) -> Basis | None:
        """The basis of the last access decision about this patient (for the audit row)."""
        return self._bases.get(patient_id)

    @classmethod
    def system(cls, channel: str = "cli", user: Any = None) -> Actor:
        """An operator's command or a job acting for `user` (the commands run by whoever holds the server)."""
        return cls(user=user, channel=channel)


def request_actor(request: HttpRequest) -> Actor:
    """The actor of a request: set by bearer-token authentication (carebase.api), else the signed-in session."""
    actor = getattr(request, "actor", None)
    if actor is None:
        path = request.path
        channel = "admin" if path.startswith("/admin/") else "api" if path.startswith("/api/") else "web"
        user = request.user if request.user.is_authenticated else None
        actor = Actor(user=user, channel=channel)
        request.actor = actor  # type: ignore[attr-defined]
    return actor


class PatientAccessDenied(PermissionDenied):
    """The actor may not read (or write) this patient's chart; pages offer break-the-glass to clinicians."""

    def __init__(self, message: str, *, patient: m.Patient) -> None:
        super().__init__(message)
        self.patient = patient


def _unrestricted(actor: Actor, *, write: bool = False, resource: str = "*") -> Basis | None:
    """Every chart: an operator's command, a superuser, or a system client within its system/ scopes."""
    if actor.user is None and actor.channel in ("cli", "worker"):
        return Basis.SYSTEM
    if actor.is_superuser:
        return Basis.SUPERUSER
    if actor.has_perm("clinic.read_all_charts") and (
        actor.scopes is None or actor.allows(write=write, resource=resource, contexts=("system",))
    ):
        return Basis.SYSTEM
    return None


def _patient_scoped(actor: Actor, *, write: bool, resource: str) -> bool:
    """Whether the token reaches this kind of data only through patient/ scopes (its one patient)."""
    return actor.scopes is not None and not actor.allows(write=write, resource=resource, contexts=("user", "system"))


_BASIS_SQL = """
SELECT 'care_team' FROM clinic_careteammember
 WHERE user_id = %(user)s AND patient_id = %(patient)s AND starts_at <= %(now)s AND (ends_at IS NULL OR ends_at > %(now)s)
UNION ALL
SELECT 'break_glass' FROM clinic_breakglass WHERE user_id = %(user)s AND patient_id = %(patient)s AND expires_at > %(now)s
UNION ALL
(SELECT 'encounter' FROM clinic_encounter e JOIN clinic_practitioner p ON p.id = e.practitioner_id
  WHERE p.user_id = %(user)s AND e.patient_id = %(patient)s AND e.start >= %(since)s LIMIT 1)
LIMIT 1
"""


def _encounters_since() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=settings.CARE_TEAM_ENCOUNTER_DAYS)


def _care_team_basis(actor: Actor, patient_id: int) -> Basis | None:
    if not actor.has_perm("clinic.read_chart"):
        return None
    with connection.cursor() as cursor:
        now = timezone.now()  # not the database's now(): that is when the transaction began
        since = now - dt.timedelta(days=settings.CARE_TEAM_ENCOUNTER_DAYS)
        cursor.execute(_BASIS_SQL, {"user": actor.user.pk, "patient": patient_id, "now": now, "since": since})
        row = cursor.fetchone()
    return Basis(row[0]) if row else None


def patient_access_basis(*, actor: Actor, patient_id: int, resource: str = "*", write: bool = False) -> Basis | None:
    """Why the actor may read (or, with `write`, change) this patient's data, or None when they may not."""
    if not actor.allows(write=write, resource=resource):
        return None
    if _patient_scoped(actor, write=write, resource=resource) and actor.token_patient_id != patient_id:
        return None
    key = (patient_id, resource, write)
    if key not in actor._bases:
        basis = _unrestricted(actor, write=write, resource=resource) or _care_team_basis(actor, patient_id)
        actor._bases[key] = basis
        actor._bases.setdefault(patient_id, basis)
    return actor._bases[key]


def require_patient(*, actor: Actor, patient_id: int, resource: str = "*", write: bool = False) -> m.Patient:
    """The patient, when the actor may read (or change) their chart. Patient.DoesNotExist for an unknown id
    (404), PatientAccessDenied (403) when the chart is not theirs to open."""
    patient = m.Patient.objects.defer("raw").get(pk=patient_id)  # the resource as imported loads when an export needs it
    return require_access(actor=actor, patient=patient, resource=resource, write=write)


def require_access(*, actor: Actor, patient: m.Patient, resource: str = "*", write: bool = False) -> m.Patient:
    if patient_access_basis(actor=actor, patient_id=patient.pk, resource=resource, write=write) is None:
        raise PatientAccessDenied(_denial(actor, write=write, resource=resource), patient=patient)
    return patient


def _denial(actor: Actor, *, write: bool, resource: str) -> str:
    kind = "write" if write else "read"
    if not actor.allows(write=write, resource=resource):
        return f"this token's scopes ({' '.join(map(str, actor.scopes or ()))}) do not allow {kind} of {resource}"
    if _patient_scoped(actor, write=write, resource=resource):
        return "this token's patient/ scopes are for another patient"
    return "you are not on this patient's care team; a clinician may break the glass, giving a reason"


def readable_patient_ids(*, actor: Actor, resource: str = "*") -> list[int] | None:
    """Ids of the patients the actor may read; None when they may read every chart (no filter needed)."""
    if not actor.allows(resource=resource):
        return []
    if _patient_scoped(actor, write=False, resource=resource):
        one = actor.token_patient_id
        return [one] if one is not None and patient_access_basis(actor=actor, patient_id=one, resource=resource) else []
    if _unrestricted(actor, resource=resource) is not None:
        return None
    if not actor.has_perm("clinic.read_chart"):
        return []
    return sorted(readable_patients_query(user=actor.user).values_list("pk", flat=True))


def readable_patients_query(*, user: Any) -> QuerySet[m.Patient]:
    """The patients on a clinician's care team now (assignment, recent encounter, break-the-glass)."""
    now = timezone.now()
    assigned = m.CareTeamMember.objects.filter(user=user, starts_at__lte=now).filter(Q(ends_at=None) | Q(ends_at__gt=now))
    glass = m.BreakGlass.objects.filter(user=user, expires_at__gt=now)
    encounters = m.Encounter.objects.filter(practitioner__user=user, start__gte=_encounters_since())
    return m.Patient.objects.filter(
        Q(pk__in=assigned.values("patient_id")) | Q(pk__in=glass.values("patient_id")) | Q(pk__in=encounters.values("patient_id"))
    )


def readable_patients(*, actor: Actor, resource: str = "*") -> QuerySet[m.Patient]:
    ids = readable_patient_ids(actor=actor, resource=resource)
    return m.Patient.objects.all() if ids is None else m.Patient.objects.filter(pk__in=ids)


def require_scope(*, actor: Actor, write: bool = False, resource: str = "*") -> None:
    """For operations that are not about one patient (imports, cohort counts): the token's scopes must allow it."""
    if not actor.allows(write=write, resource=resource):
        raise PermissionDenied(_denial(actor, write=write, resource=resource))


def require_perm(*, actor: Actor, perm: str, what: str) -> None:
    """The role must grant `perm`; the message says what was refused."""
    if not (actor.is_superuser or actor.has_perm(perm)):
        raise PermissionDenied(f"{what} needs the {perm.split('.')[-1].replace('_', ' ')} permission, which your role lacks")


def user_roles(user: Any) -> list[str]:
    return [name for name in user.groups.values_list("name", flat=True) if name in ROLES] if user is not None else []


def default_scopes(user: Any) -> str:
    """What a token gets without --scopes: the union of the user's roles' scopes."""
    roles = user_roles(user) or (["clinician"] if user.is_superuser else [])
    parts: list[str] = []
    for role in roles:
        parts += [s for s in ROLE_SCOPES[role].split() if s not in parts]
    return " ".join(parts)


def scope_problems(*, user: Any, scopes: tuple[Scope, ...]) -> list[str]:
    """Why these scopes cannot be given to this user's token (empty when they can)."""
    roles = user_roles(user)
    problems = []
    if any(s.context == "system" for s in scopes) and "integration" not in roles:
        problems.append("system/ scopes are only for users of the integration role")
    if any(s.write for s in scopes) and roles == ["researcher"]:
        problems.append("a researcher's token cannot write")
    return problems
