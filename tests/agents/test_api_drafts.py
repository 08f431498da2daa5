"""Drafts: generated from the chart with cited, grounded sentences; edited; signed into exactly one note."""

from __future__ import annotations

import json

import pytest

from agents.models import Draft
from clinic import models as m
from tests.agents.readability import reading_grade


def post(client, path, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return client.post(path, raw, content_type="application/json")


@pytest.fixture
def ready_draft(api_client, ada, eager_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = post(api_client, f"/api/v1/patients/{ada.pk}/drafts", {"kind": "discharge_summary"})
    assert created.status_code == 202 and created.json()["status"] == "pending"
    return api_client.get(f"/api/v1/drafts/{created.json()['id']}").json()


def test_it_drafts_a_discharge_summary_covering_the_chart_with_every_sentence_cited(ready_draft, ada):
    assert ready_draft["status"] == "ready"
    assert len(ready_draft["sections"]) >= 4
    text = ready_draft["text"].lower()
    assert all(word in text for word in ("hypertension", "lisinopril", "penicillin"))
    sentences = [s for sec in ready_draft["sections"] for s in sec["sentences"]]
    assert all(s["citations"] for s in sentences)
    assert all(s["support"] == 1.0 for s in sentences)  # the extractive backend states only what it cites
    assert m.AuditEvent.objects.filter(action="draft.create", patient=ada).count() == 1


@pytest.mark.parametrize("kind", ["progress_note", "referral_letter", "patient_instructions"])
def test_it_drafts_every_kind(api_client, ada, eager_jobs, django_capture_on_commit_callbacks, kind):
    with django_capture_on_commit_callbacks(execute=True):
        draft_id = post(api_client, f"/api/v1/patients/{ada.pk}/drafts", {"kind": kind}).json()["id"]
    body = api_client.get(f"/api/v1/drafts/{draft_id}").json()
    assert body["status"] == "ready" and body["sections"]
    assert all(s["citations"] for sec in body["sections"] for s in sec["sentences"])
    if kind == "patient_instructions":
        assert reading_grade(body["text"]) <= 8
        assert "high blood pressure" in body["text"]


def test_it_keeps_citations_of_kept_sentences_when_edited(api_client, ready_draft):
    sections = ready_draft["sections"]
    sections[0]["sentences"].append({"text": "Patient was comfortable on the ward.", "citations": []})
    response = api_client.put(
        f"/api/v1/drafts/{ready_draft['id']}", json.dumps({"sections": sections}), content_type="application/json"
    )
    edited = response.json()["sections"][0]["sentences"]
    assert edited[0]["citations"] and edited[0]["supported"]
    assert edited[-1]["supported"] is False


def test_it_signs_into_exactly_one_final_note_that_unsigned_drafts_never_are(api_client, ready_draft, ada, clinician):
    assert not m.ClinicalNote.objects.filter(author_user=clinician).exists()
    response = post(api_client, f"/api/v1/drafts/{ready_draft['id']}/sign", {})
    assert response.status_code == 200
    note = m.ClinicalNote.objects.get(author_user=clinician)
    assert note.status == "final" and note.patient == ada and "lisinopril" in note.text
    assert note.provenance["backend"] == "extractive" and note.provenance["sources"]
    assert m.TimelineEvent.objects.filter(kind="note", source_id=note.pk).exists()
    assert m.AuditEvent.objects.get(action="draft.sign").target == f"note:{note.pk}"
    again = post(api_client, f"/api/v1/drafts/{ready_draft['id']}/sign", {})
    assert again.status_code == 400 and m.ClinicalNote.objects.filter(author_user=clinician).count() == 1


def test_it_writes_an_extractive_draft_in_the_request_and_never_on_a_read(api_client, ada, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # (in a test, the commit comes after the response)
        created = post(api_client, f"/api/v1/patients/{ada.pk}/drafts", '{"kind": "discharge_summary"}')
    assert created.status_code == 202 and Draft.objects.get(pk=created.json()["id"]).status == "ready"
    pending = Draft.objects.create(patient=ada, kind="discharge_summary")
    assert api_client.get(f"/api/v1/drafts/{pending.pk}").json()["status"] == "pending"  # a GET changes nothing
    assert Draft.objects.get(pk=pending.pk).status == "pending"


@pytest.mark.parametrize(
    "body", ["{", "[]", "null", "{}", '{"kind": "poem"}', '{"kind": null}', '{"kind": "progress_note", "encounter": 999999}']
)
def test_it_refuses_bad_draft_requests_with_4xx(api_client, ada, body):
    response = post(api_client, f"/api/v1/patients/{ada.pk}/drafts", body)
    assert 400 <= response.status_code < 500 and response.json()
    assert not Draft.objects.exists()


def test_it_answers_404_for_unknown_drafts_and_patients(api_client, db):
    assert api_client.get("/api/v1/drafts/999999").status_code == 404
    assert post(api_client, "/api/v1/drafts/999999/sign", {}).status_code == 404
    assert post(api_client, "/api/v1/patients/999999/drafts", {"kind": "progress_note"}).status_code == 404


def test_it_drafts_about_the_encounter_of_a_chosen_period(api_client, ada, eager_jobs, django_capture_on_commit_callbacks):
    body = {"kind": "progress_note", "date_from": "2024-01-01", "date_to": "2024-12-31"}
    with django_capture_on_commit_callbacks(execute=True):
        draft_id = post(api_client, f"/api/v1/patients/{ada.pk}/drafts", body).json()["id"]
    draft = api_client.get(f"/api/v1/drafts/{draft_id}").json()
    assert draft["period_start"] == "2024-01-01"
    assert draft["encounter_id"] == m.Encounter.objects.get(patient=ada).pk
    backwards = post(api_client, f"/api/v1/patients/{ada.pk}/drafts", {**body, "date_from": "2025-01-01"})
    assert backwards.status_code == 400


def test_a_failed_draft_is_retried_over_the_api_by_its_author_only(
    api_client, ready_draft, ada, db, django_capture_on_commit_callbacks
):
    from django.test import Client

    from clinic.services import api_token_create
    from tests.access import on_care_team, user_with_roles

    draft_id = ready_draft["id"]
    assert api_client.post(f"/api/v1/drafts/{draft_id}/retry").status_code == 400  # ready: nothing to retry
    Draft.objects.filter(pk=draft_id).update(status=Draft.Status.FAILED, error="worker stopped", sections=[])
    colleague = user_with_roles("dr_colleague", "clinician")
    on_care_team(colleague, ada)
    other = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=colleague)}")
    refused = other.post(f"/api/v1/drafts/{draft_id}/retry")
    assert refused.status_code == 403 and "author" in refused.json()["detail"]
    assert Draft.objects.get(pk=draft_id).status == Draft.Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        retried = api_client.post(f"/api/v1/drafts/{draft_id}/retry")
    assert retried.status_code == 202 and retried.json()["error"] == ""
    assert api_client.get(f"/api/v1/drafts/{draft_id}").json()["status"] == "ready"
    assert m.AuditEvent.objects.filter(action="draft.create", target=f"draft:{draft_id}", detail__retry=True).count() == 1
