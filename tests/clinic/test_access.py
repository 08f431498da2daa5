"""Who may read which chart: care teams, encounters, break-the-glass, roles and token scopes.

Named users: `owner` (on Ada's care team), `teammate` (took part in Ada's encounter as her linked Practitioner),
`stranger` (a clinician on neither chart), a steward, a researcher and an integration client.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from clinic import models as m
from clinic.access import Actor, patient_access_basis, readable_patient_ids
from clinic.services import api_token_create, fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.clinic.fhir_factory import bundle, dumps

pytestmark = pytest.mark.django_db


@pytest.fixture
def charts() -> tuple[m.Patient, m.Patient]:
    fhir_import_bytes(name="ada.json", data=dumps(bundle("ada-1", observations=2)))
    fhir_import_bytes(name="bob.json", data=dumps(bundle("bob-1", observations=2)))
    return m.Patient.objects.get(fhir_id="ada-1"), m.Patient.objects.get(fhir_id="bob-1")


@pytest.fixture
def owner(charts):
    user = user_with_roles("owner", "clinician")
    on_care_team(user, charts[0])
    return user


@pytest.fixture
def stranger(db):
    return user_with_roles("stranger", "clinician")


def bearer(user, **kwargs) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, **kwargs)}")


def session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_opens_a_chart_to_its_care_team_and_refuses_a_stranger(charts, owner, stranger):
    ada, bob = charts
    assert bearer(owner).get(f"/api/v1/patients/{ada.pk}/timeline").status_code == 200
    assert session(owner).get(f"/patients/{ada.pk}/").status_code == 200
    for client in (bearer(owner), bearer(stranger)):
        refused = client.get(f"/api/v1/patients/{bob.pk}/timeline")
        assert refused.status_code == 403 and "care team" in refused.json()["detail"]
    page = session(stranger).get(f"/patients/{ada.pk}/")
    assert page.status_code == 403 and b"Break the glass" in page.content and b"Ada" not in page.content
    assert not m.AuditEvent.objects.filter(username="stranger", patient=ada, action="view.patient").exists()


def test_it_lists_and_finds_only_the_patients_a_clinician_may_read(charts, owner):
    ada, bob = charts
    listed = bearer(owner).get("/api/v1/patients?limit=100").json()
    assert [p["id"] for p in listed["items"]] == [ada.pk] and listed["count"] == 1
    assert bearer(owner).get(f"/api/v1/patients?q={bob.fhir_id}").json()["count"] == 0
    page = session(owner).get("/").content.decode()
    assert f"/patients/{ada.pk}/" in page and f"/patients/{bob.pk}/" not in page
    everything = bearer(owner).get(f"/api/v1/fhir/Patient/{bob.fhir_id}/$everything")
    assert everything.status_code == 403
    bob_obs = m.Observation.objects.filter(patient=bob).first()
    assert bearer(owner).get(f"/api/v1/fhir/Observation/{bob_obs.fhir_id}").status_code == 403


def test_it_puts_the_practitioner_of_a_recent_encounter_on_the_care_team(charts, settings):
    ada, _ = charts
    teammate = user_with_roles("teammate", "clinician")
    encounter = m.Encounter.objects.filter(patient=ada).first()
    practitioner = m.Practitioner.objects.create(fhir_id="pract-1", name="Dr Team", user=teammate)
    m.Encounter.objects.filter(pk=encounter.pk).update(practitioner=practitioner, start=timezone.now() - dt.timedelta(days=30))
    actor = Actor(user=teammate, channel="web")
    assert patient_access_basis(actor=actor, patient_id=ada.pk) == "encounter"
    settings.CARE_TEAM_ENCOUNTER_DAYS = 7
    assert patient_access_basis(actor=Actor(user=teammate, channel="web"), patient_id=ada.pk) is None
    assert readable_patient_ids(actor=Actor(user=teammate, channel="web")) == []


def test_it_ends_access_when_the_assignment_ends(charts, stranger):
    ada, _ = charts
    m.CareTeamMember.objects.create(user=stranger, patient=ada, ends_at=timezone.now() - dt.timedelta(minutes=1))
    assert bearer(stranger).get(f"/api/v1/patients/{ada.pk}").status_code == 403
    call_command("grant_access", "stranger", ada.fhir_id, "--days", "3")
    assert bearer(stranger).get(f"/api/v1/patients/{ada.pk}").status_code == 200
    grant = m.AuditEvent.objects.get(action="care_team.grant", patient=ada)
    assert grant.channel == "cli" and grant.target == "user stranger"


def test_it_grants_only_clinicians_a_care_team(charts):
    user_with_roles("rita", "researcher")
    with pytest.raises(CommandError, match="not a clinician"):
        call_command("grant_access", "rita", charts[0].fhir_id)
    with pytest.raises(CommandError, match="no patient"):
        call_command("grant_access", "rita", "no-such-patient")


def test_it_breaks_the_glass_with_a_reason_audits_it_and_queues_it_for_review(charts, stranger):
    ada, _ = charts
    client = bearer(stranger)
    assert client.post(f"/api/v1/patients/{ada.pk}/break-glass", {}, content_type="application/json").status_code in (400, 422)
    short = client.post(f"/api/v1/patients/{ada.pk}/break-glass", {"reason": "urgent"}, content_type="application/json")
    assert short.status_code == 400 and "reason" in short.json()["detail"]
    assert not m.BreakGlass.objects.exists()
    opened = client.post(
        f"/api/v1/patients/{ada.pk}/break-glass", {"reason": "Seen in the ED, chest pain"}, content_type="application/json"
    )
    assert opened.status_code == 201
    event = m.BreakGlass.objects.get()
    assert event.review == "pending" and dt.timedelta(hours=7) < event.expires_at - event.at <= dt.timedelta(hours=8)
    assert client.get(f"/api/v1/patients/{ada.pk}/timeline").status_code == 200
    read = m.AuditEvent.objects.filter(action="view.timeline", patient=ada, username="stranger").get()
    assert read.detail["basis"] == "break_glass"
    m.BreakGlass.objects.filter(pk=event.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(f"/api/v1/patients/{ada.pk}/timeline").status_code == 403


def test_it_breaks_the_glass_from_the_forbidden_page(charts, stranger):
    ada, _ = charts
    client = session(stranger)
    assert client.post(f"/patients/{ada.pk}/break-glass/", {"reason": "too short"}).status_code == 400
    response = client.post(f"/patients/{ada.pk}/break-glass/", {"reason": "Covering the ward tonight"}, follow=True)
    assert response.status_code == 200 and b"Ada" in response.content
    assert m.AuditEvent.objects.filter(action="break_glass", username="stranger", patient=ada).exists()


def test_it_lets_a_steward_review_break_the_glass_and_no_one_else(charts, stranger, owner):
    ada, _ = charts
    event = m.BreakGlass.objects.create(
        patient=ada, user=stranger, username="stranger", reason="Covering the ward", expires_at=timezone.now()
    )
    steward = session(user_with_roles("sam", "steward", is_staff=True))
    queue = steward.get("/audit/break-glass/")
    assert queue.status_code == 200 and b"Covering the ward" in queue.content
    assert session(owner).get("/audit/break-glass/").status_code == 403
    bad = steward.post(f"/audit/break-glass/{event.pk}/review/", {"review": "follow_up", "note": ""})
    assert bad.status_code == 400
    steward.post(f"/audit/break-glass/{event.pk}/review/", {"review": "follow_up", "note": "Ask why the ED"})
    event.refresh_from_db()
    assert (event.review, event.review_note, event.reviewed_by.username) == ("follow_up", "Ask why the ED", "sam")
    assert m.AuditEvent.objects.filter(action="break_glass.review", patient=ada, username="sam").exists()


def test_it_keeps_a_read_only_token_from_writing(charts, owner):
    ada, _ = charts
    reader = bearer(owner, scopes="user/*.read")
    assert reader.get(f"/api/v1/patients/{ada.pk}/timeline").status_code == 200
    drafted = reader.post(f"/api/v1/patients/{ada.pk}/drafts", {"kind": "progress_note"}, content_type="application/json")
    assert drafted.status_code == 403 and "scopes" in drafted.json()["detail"]
    posted = reader.post("/api/v1/fhir", dumps(bundle("new-1")), content_type="application/json")
    assert posted.status_code == 403 and not m.Patient.objects.filter(fhir_id="new-1").exists()


def test_it_refuses_fhir_writes_to_a_clinician_and_takes_them_from_an_integration(charts, owner):
    clinician_post = bearer(owner).post("/api/v1/fhir", dumps(bundle("new-1")), content_type="application/json")
    assert clinician_post.status_code == 403
    engine = user_with_roles("engine", "integration")
    assert bearer(engine).post("/api/v1/fhir", dumps(bundle("new-1")), content_type="application/json").status_code == 200
    assert bearer(engine).get("/api/v1/patients?limit=100").json()["count"] == 3  # system/*.read: every chart
    read_only = bearer(engine, scopes="system/*.read")
    assert read_only.post("/api/v1/fhir", dumps(bundle("new-2")), content_type="application/json").status_code == 403


def test_it_gives_system_scopes_only_to_integrations_and_narrows_by_type(charts, owner):
    with pytest.raises(CommandError, match="integration role"):
        call_command("create_api_token", "owner", "--scopes", "system/*.read")
    with pytest.raises(CommandError, match="scope 'user/everything'"):
        call_command("create_api_token", "owner", "--scopes", "user/everything")
    ada, _ = charts
    observations_only = bearer(owner, scopes="user/Observation.read")
    obs = m.Observation.objects.filter(patient=ada).first()
    assert observations_only.get(f"/api/v1/fhir/Observation/{obs.fhir_id}").status_code == 200
    assert observations_only.get(f"/api/v1/fhir/Patient/{ada.fhir_id}").status_code == 403
    assert observations_only.get(f"/api/v1/patients/{ada.pk}/timeline").status_code == 403


def test_it_refuses_expired_and_revoked_tokens_with_401(charts, owner):
    ada, _ = charts
    raw = api_token_create(user=owner, days=1)
    m.ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(f"/api/v1/patients/{ada.pk}").status_code == 401
    raw = api_token_create(user=owner)
    m.ApiToken.objects.filter(revoked=False, expires_at=None).update(revoked=True)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(f"/api/v1/patients/{ada.pk}").status_code == 401


def test_it_binds_a_patient_scoped_token_to_its_patient(charts, owner):
    ada, bob = charts
    on_care_team(owner, bob)
    with pytest.raises(CommandError, match="patient/ scopes need"):
        call_command("create_api_token", "owner", "--scopes", "patient/*.read")
    client = bearer(owner, scopes="patient/*.read", patient=ada)
    assert client.get(f"/api/v1/patients/{ada.pk}/timeline").status_code == 200
    assert client.get(f"/api/v1/patients/{bob.pk}/timeline").status_code == 403
    assert [p["id"] for p in client.get("/api/v1/patients").json()["items"]] == [ada.pk]


def test_it_shows_a_researcher_cohort_counts_and_never_a_chart(charts):
    ada, bob = charts
    rita = bearer(user_with_roles("rita", "researcher"))
    assert rita.get(f"/api/v1/patients/{ada.pk}").status_code == 403
    assert rita.get("/api/v1/patients").json()["count"] == 0
    for fhir_id in ("c-1", "c-2", "c-3", "c-4", "c-5"):
        fhir_import_bytes(name=f"{fhir_id}.json", data=dumps(bundle(fhir_id, observations=1)))
    m.Patient.objects.filter(fhir_id="c-1").update(sex="male")
    counted = rita.post("/api/v1/cohorts/query", {"condition": "hypertension"}, content_type="application/json").json()
    assert counted["count"] == 7 and counted["patients"] == []
    small = rita.post("/api/v1/cohorts/query", {"condition": "hypertension", "sex": "male"}, content_type="application/json")
    assert small.json()["count"] == 0 and small.json()["suppressed"] is True
    export = rita.post("/api/v1/cohorts", {"name": "mine", "condition": "hypertension"}, content_type="application/json")
    assert export.status_code == 403


def test_it_gives_a_steward_the_audit_and_no_chart(charts, owner):
    ada, _ = charts
    sam = bearer(user_with_roles("sam", "steward", is_staff=True))
    assert sam.get(f"/api/v1/patients/{ada.pk}/timeline").status_code == 403
    bearer(owner).get(f"/api/v1/patients/{ada.pk}/timeline")
    trail = sam.get(f"/api/v1/audit?patient={ada.pk}&user=owner&limit=10").json()
    assert trail["count"] == 1 and trail["items"][0]["action"] == "view.timeline"
    assert trail["items"][0]["channel"] == "api" and trail["items"][0]["detail"]["basis"] == "care_team"
    assert bearer(owner).get("/api/v1/audit").status_code == 403
    assert m.AuditEvent.objects.filter(action="audit.read", username="sam").count() == 1


def test_it_creates_users_with_roles_and_updates_them(db):
    call_command("create_user", "nina", "--role", "clinician", "--password", "a-long-pass-Aa1!")
    call_command("create_user", "nina", "--role", "steward")
    nina = m.AuditEvent.objects.filter(action="user.role").order_by("id").last()
    assert nina.detail == {"roles": ["steward"]}
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="nina")
    assert [g.name for g in user.groups.all()] == ["steward"] and user.is_staff and user.check_password("a-long-pass-Aa1!")
    with pytest.raises(CommandError, match="role"):
        call_command("create_user", "nina", "--role", "wizard")
    with pytest.raises(CommandError, match="password"):
        call_command("create_user", "nina", "--role", "clinician", "--password", "12345")
