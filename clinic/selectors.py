"""Reads of the clinical data: keyword-only, typed, no side effects (auditing happens in the callers' services)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from clinic import models as m
from clinic.timeline import KIND_MODELS

TIMELINE_KINDS = [k.value for k in m.TimelineEvent.Kind]


def api_token_get(*, raw_token: str) -> m.ApiToken | None:
    """The live token (not revoked, not expired, its user active), or None. Marks it used (at most once a minute)."""
    token = m.ApiToken.objects.select_related("user").filter(digest=m.ApiToken.hash(raw_token), revoked=False).first()
    if token is None or token.is_expired or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        m.ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def patient_list(*, patients: QuerySet[m.Patient], query: str = "") -> QuerySet[m.Patient]:
    """Of `patients` (those the reader may see), the ones matching a name fragment, an MRN/FHIR id or a birth date."""
    query = query.strip()
    if not query:
        return patients
    try:
        born = dt.date.fromisoformat(query)
        return patients.filter(birth_date=born)
    except ValueError:
        pass
    name_match = Q()
    for word in query.split():
        name_match &= Q(name__icontains=word)
    condition = Q(mrn__iexact=query) | Q(fhir_id__iexact=query) | name_match
    return patients.filter(condition)


def patient_by_id(*, patient_id: int) -> m.Patient:
    """Patient.DoesNotExist (404) for an unknown id; access is the caller's check (clinic.access)."""
    return m.Patient.objects.defer("raw").get(pk=patient_id)


def patient_id_for_fhir_id(*, fhir_id: str) -> int:
    found = m.Patient.objects.filter(fhir_id=fhir_id).values_list("pk", flat=True).first()
    if found is None:
        raise m.Patient.DoesNotExist(f"no Patient/{fhir_id}")
    return found


def ingestion_run_get(*, run_id: int) -> m.IngestionRun:
    return m.IngestionRun.objects.get(pk=run_id)


def audit_events(
    *,
    patient: int | None = None,
    user: str = "",
    action: str = "",
    channel: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[m.AuditEvent]:
    """Audit rows, newest first. `patient`: rows about that patient and lists that showed them."""
    rows = m.AuditEvent.objects.all()
    if patient is not None:
        rows = rows.filter(Q(patient_id=patient) | Q(patients__contains=[patient]))
    if user:
        rows = rows.filter(username=user)
    if action:
        rows = rows.filter(action__startswith=action)
    if channel:
        rows = rows.filter(channel=channel)
    if since:
        rows = rows.filter(at__gte=since)
    if until:
        rows = rows.filter(at__lt=until)
    return rows.order_by("-at", "-id")


def patient_access_report(*, patient_id: int) -> list[dict[str, Any]]:
    """Who opened this chart: per user, how often, first and last time, what, through which channels, on which
    basis (care team, break-the-glass, …). Lists that showed the patient count too."""
    rows = (
        m.AuditEvent.objects.filter(Q(patient_id=patient_id) | Q(patients__contains=[patient_id]))
        .values("username")
        .annotate(
            events=Count("id"),
            first=Min("at"),
            last=Max("at"),
            actions=ArrayAgg("action", distinct=True),
            channels=ArrayAgg("channel", distinct=True),
            bases=ArrayAgg(KeyTextTransform("basis", "detail"), distinct=True),
        )
        .order_by("-last")
    )
    return [{**row, "bases": [b for b in row["bases"] if b]} for row in rows]


def break_glass_queue(*, review: str = "") -> QuerySet[m.BreakGlass]:
    rows = m.BreakGlass.objects.select_related("patient", "reviewed_by")
    return rows.filter(review=review) if review else rows


@dataclass(frozen=True)
class Banner:
    patient: m.Patient
    allergies: list[m.AllergyIntolerance]
    problems: list[m.Condition]
    medications: list[m.MedicationRequest]


def patient_banner(*, patient: m.Patient) -> Banner:
    allergies = list(
        m.AllergyIntolerance.objects.filter(patient=patient)
        .defer("raw")
        .exclude(clinical_status__in=["inactive", "resolved"])
        .order_by("display")
    )
    return Banner(patient, allergies, active_problems(patient=patient), active_medications(patient=patient))


def active_problems(*, patient: m.Patient) -> list[m.Condition]:
    conditions = m.Condition.objects.filter(patient=patient, clinical_status__in=["active", "recurrence", "relapse"]).defer("raw")
    latest: dict[str, m.Condition] = {}
    for c in conditions.order_by("onset"):
        latest[c.code or c.display] = c  # one line per problem, the latest onset
    return sorted(latest.values(), key=lambda c: c.display.lower())


def active_medications(*, patient: m.Patient) -> list[m.MedicationRequest]:
    meds = m.MedicationRequest.objects.filter(patient=patient, status="active").defer("raw").order_by("authored_on")
    latest: dict[str, m.MedicationRequest] = {}
    for med in meds:
        latest[med.code or med.display] = med
    return sorted(latest.values(), key=lambda med: med.display.lower())


@dataclass(frozen=True)
class TimelinePage:
    events: list[m.TimelineEvent]
    next_cursor: str | None


def encode_cursor(event: m.TimelineEvent) -> str:
    return base64.urlsafe_b64encode(f"{event.time.isoformat()}|{event.pk}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """The (time, id) position a cursor names; ValueError for a cursor this API did not issue."""
    try:
        time_text, _, pk = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return dt.datetime.fromisoformat(time_text), int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(f"cursor {cursor[:40]!r} is not one this API issued") from None


def patient_timeline(
    *,
    patient: m.Patient,
    kinds: list[str] | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> TimelinePage:
    """Newest first; `cursor` continues after the last event of the previous page."""
    events = m.TimelineEvent.objects.filter(patient=patient)
    if kinds:
        events = events.filter(kind__in=kinds)
    if date_from:
        events = events.filter(time__gte=dt.datetime.combine(date_from, dt.time.min, tzinfo=dt.UTC))
    if date_to:
        events = events.filter(time__lt=dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC))
    if cursor:
        time, pk = decode_cursor(cursor)
        events = events.filter(Q(time__lt=time) | Q(time=time, id__lt=pk))
    page = list(events.order_by("-time", "-id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return TimelinePage(page, encode_cursor(page[-1]) if more and page else None)


def timeline_item(*, patient: m.Patient, kind: str, source_id: int) -> Any:
    """The clinical row behind a timeline event of this patient (404 through DoesNotExist otherwise)."""
    model = KIND_MODELS.get(kind)
    if model is None:
        raise m.TimelineEvent.DoesNotExist(f"unknown kind {kind!r}")
    return model._default_manager.get(pk=source_id, patient=patient)


_LAB_CODES_SQL = """
SELECT code, display, count(*) FROM clinic_observation WHERE patient_id = %(patient)s AND value IS NOT NULL
 GROUP BY code, display
UNION ALL
SELECT coalesce(c->>'code', ''), coalesce(c->>'display', ''), count(*)
  FROM clinic_observation o CROSS JOIN LATERAL jsonb_array_elements(o.components) c
 WHERE o.patient_id = %(patient)s AND o.components <> '[]'::jsonb AND coalesce(jsonb_typeof(c->'value'), 'null') <> 'null'
 GROUP BY 1, 2
"""


def lab_codes(*, patient: m.Patient) -> list[tuple[str, str, int]]:
    """(code, display, count) of numeric observations and components with at least two values (counted in SQL:
    reading every observation's components into Python took most of the patient page's trend)."""
    counts: dict[tuple[str, str], int] = {}
    with connection.cursor() as cursor:
        cursor.execute(_LAB_CODES_SQL, {"patient": patient.pk})
        for code, display, n in cursor.fetchall():
            counts[(code, display)] = counts.get((code, display), 0) + n
    return sorted(((c, d, n) for (c, d), n in counts.items() if n >= 2), key=lambda x: x[1].lower())


def lab_trend(*, patient: m.Patient, code: str) -> list[tuple[dt.datetime | None, float, str, int]]:
    """(time, value, unit, observation id) for an observation code, including panel components."""
    points = []
    rows = m.Observation.objects.filter(patient=patient).filter(Q(code=code) | Q(components__contains=[{"code": code}]))
    rows = rows.defer("raw")
    for obs in rows.exclude(effective=None).order_by("effective"):
        if obs.code == code and obs.value is not None:
            points.append((obs.effective, obs.value, obs.unit, obs.pk))
        for comp in obs.components:
            if comp.get("code") == code and comp.get("value") is not None:
                points.append((obs.effective, float(comp["value"]), comp.get("unit", ""), obs.pk))
    return points


@dataclass(frozen=True)
class TimelineGroup:
    encounter: m.Encounter | None
    events: list[m.TimelineEvent]
    continued: bool = False  # carries on the previous page's last encounter


def timeline_groups(*, events: list[m.TimelineEvent], after_cursor: str | None = None) -> list[TimelineGroup]:
    """Consecutive events of one encounter gathered under it; events without an encounter stand alone."""
    encounters = m.Encounter.objects.defer("raw").in_bulk({e.encounter_id for e in events if e.encounter_id})
    groups: list[TimelineGroup] = []
    for event in events:
        if event.encounter_id and groups and groups[-1].encounter and groups[-1].encounter.pk == event.encounter_id:
            groups[-1].events.append(event)
        else:
            groups.append(TimelineGroup(encounters.get(event.encounter_id) if event.encounter_id else None, [event]))
    if groups and groups[0].encounter and after_cursor:
        previous = (
            m.TimelineEvent.objects.filter(pk=decode_cursor(after_cursor)[1]).values_list("encounter_id", flat=True).first()
        )
        if previous == groups[0].encounter.pk:
            groups[0] = TimelineGroup(groups[0].encounter, groups[0].events, continued=True)
    return groups


def lab_reference_range(*, patient: m.Patient, code: str) -> tuple[float | None, float | None]:
    """The reference range of the latest observation with this code that states one."""
    latest = (
        m.Observation.objects.filter(patient=patient, code=code)
        .exclude(ref_low=None, ref_high=None)
        .order_by("-effective")
        .values_list("ref_low", "ref_high")
        .first()
    )
    return latest or (None, None)
