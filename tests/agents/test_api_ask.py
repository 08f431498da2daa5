"""POST /api/v1/patients/{id}/ask: cited answers, honest 'none found', audited, and 4xx for bad input."""

from __future__ import annotations

import json

import pytest

from agents.models import AssistantExchange
from clinic import models as m
from clinic.timeline import KIND_MODELS


def ask(client, patient_id, body):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(f"/api/v1/patients/{patient_id}/ask", raw, content_type="application/json")


def assert_every_citation_resolves(answer, patient):
    for sentence in answer["sentences"]:
        for c in sentence["citations"]:
            assert KIND_MODELS[c["source_type"]].objects.filter(pk=c["source_id"], patient=patient).exists()


def test_it_answers_the_latest_lab_value_with_a_citation(api_client, ada):
    response = ask(api_client, ada.pk, {"question": "What is the most recent Hemoglobin A1c?"})
    assert response.status_code == 200
    body = response.json()
    assert "6.7" in body["answer"]
    assert all(s["citations"] for s in body["sentences"])
    assert_every_citation_resolves(body, ada)


def test_it_names_every_allergy_and_every_active_medication(api_client, ada):
    allergies = ask(api_client, ada.pk, {"question": "Does the patient have any allergies?"}).json()
    meds = ask(api_client, ada.pk, {"question": "What medications is the patient currently taking?"}).json()
    assert "penicillin" in allergies["answer"].lower()
    assert "lisinopril" in meds["answer"].lower()
    assert_every_citation_resolves(allergies, ada)
    assert_every_citation_resolves(meds, ada)


def test_it_says_when_nothing_is_recorded(api_client, empty_chart):
    body = ask(api_client, empty_chart.pk, {"question": "Does the patient have any allergies?"}).json()
    assert "no known allergies" in body["answer"].lower()
    unknown = ask(api_client, empty_chart.pk, {"question": "What is the most recent troponin?"}).json()
    assert "no troponin result is recorded" in unknown["answer"].lower()
    vague = ask(api_client, empty_chart.pk, {"question": "Is the patient pregnant?"}).json()
    assert "found no record" in vague["answer"].lower()
    assert not any(s["citations"] for s in unknown["sentences"])


def test_it_keeps_the_conversation_and_audits_the_question(api_client, ada, clinician):
    ask(api_client, ada.pk, {"question": "Any allergies to penicillins?"})
    assert AssistantExchange.objects.get(patient=ada, user=clinician).question == "Any allergies to penicillins?"
    audit = m.AuditEvent.objects.get(action="ask", patient=ada)
    assert audit.user == clinician and audit.detail["question"] == "Any allergies to penicillins?"


@pytest.mark.parametrize(
    "body", ["{", "[]", "null", b"\xff\xfe", '{"question": null}', "{}", '{"question": ""}', '{"question": 5}']
)
def test_it_refuses_bad_bodies_with_4xx_json(api_client, ada, body):
    response = ask(api_client, ada.pk, body)
    assert 400 <= response.status_code < 500
    assert response.json()


def test_it_answers_404_for_an_unknown_patient(api_client, db):
    assert ask(api_client, 999999, {"question": "Any allergies?"}).status_code == 404


def test_it_answers_when_a_named_drug_was_started_and_the_latest_hba1c(api_client, ada):
    body = ask(api_client, ada.pk, {"question": "When was lisinopril started and what is the latest HbA1c?"}).json()
    assert "first prescribed on 2020-01-10" in body["answer"]
    assert "6.7" in body["answer"]
    assert all(s["citations"] for s in body["sentences"])


def test_it_says_none_found_for_a_drug_never_prescribed(api_client, ada):
    body = ask(api_client, ada.pk, {"question": "When was metformin started?"}).json()
    assert "no medication matching metformin" in body["answer"].lower()


def test_it_reads_back_a_question_only_for_the_user_who_asked(api_client, ada, steward):
    from django.test import Client

    from clinic.services import api_token_create

    asked = ask(api_client, ada.pk, {"question": "Any allergies?"}).json()
    again = api_client.get(f"/api/v1/asks/{asked['id']}").json()
    assert again["status"] == "ready" and again["answer"] == asked["answer"]
    other = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=steward, name='t')}")
    assert other.get(f"/api/v1/asks/{asked['id']}").status_code == 404
