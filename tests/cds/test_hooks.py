"""CDS Hooks over HTTP, as an EHR calls it: discovery, patient-view, order-select, prefetch, feedback, and access."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from cds.models import CardDecision, RuleFiring
from clinic import models as m
from clinic.services import api_token_create
from tests.access import user_with_roles
from tests.cds.factory import bundle, condition, lab, medication

pytestmark = pytest.mark.django_db


def _call(client: Client, service: str, body: dict) -> tuple[int, dict]:
    response = client.post(f"/cds-services/{service}", json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def _patient_view(patient: m.Patient, **extra: object) -> dict:
    context = {"patientId": patient.fhir_id, "userId": "Practitioner/dr-grey"}
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "context": context, **extra}


def _order_select(patient: m.Patient, *orders: dict, selected: list[str] | None = None) -> dict:
    context = {
        "patientId": patient.fhir_id,
        "userId": "Practitioner/dr-grey",
        "draftOrders": bundle(list(orders), "collection"),
        "selections": selected if selected is not None else [f"MedicationRequest/{o['id']}" for o in orders],
    }
    return {"hook": "order-select", "hookInstance": str(uuid.uuid4()), "context": context}


def test_it_lists_its_services_with_prefetch_templates(api_client):
    response = api_client.get("/cds-services")

    services = {s["id"]: s for s in response.json()["services"]}
    assert response.status_code == 200
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select"}
    prefetch = services["carebase-patient-view"]["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert prefetch["medications"] == "MedicationRequest?patient={{context.patientId}}&status=active"


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}, {"HTTP_AUTHORIZATION": "Basic abc"}])
def test_it_answers_401_without_a_valid_bearer_token(db, headers):
    client = Client(**headers)

    assert client.get("/cds-services").status_code == 401
    response = client.post("/cds-services/carebase-patient-view", "{}", content_type="application/json")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_it_returns_cards_that_cite_the_chart_on_patient_view(api_client, rosa):
    status, body = _call(api_client, "carebase-patient-view", _patient_view(rosa))

    assert status == 200
    cards = {c["extension"]["org.carebase.rule"]: c for c in body["cards"]}
    assert set(cards) == {"diabetes-hba1c-above-target", "creatinine-rising", "pneumococcal-vaccine-due", "tetanus-booster-due"}
    card = cards["diabetes-hba1c-above-target"]
    hba1c = m.Observation.objects.get(patient=rosa, code="4548-4")
    assert len(card["summary"]) <= 140 and card["indicator"] == "warning"
    assert (
        card["source"]["label"] == "Carebase decision support"
        and card["source"]["topic"]["code"] == "diabetes-hba1c-above-target"
    )
    references = {c["reference"] for c in card["extension"]["org.carebase.citations"]}
    assert f"Observation/{hba1c.fhir_id}" in references
    assert f"http://testserver/patients/{rosa.pk}/items/observation/{hba1c.pk}/" in card["detail"]
    assert any(c["source_type"] == "knowledge" and "ADA" in c["label"] for c in card["extension"]["org.carebase.citations"])
    assert card["suggestions"][0]["actions"][0]["resource"]["resourceType"] == "ServiceRequest"
    assert {r["code"] for r in card["overrideReasons"]} >= {"not-relevant", "patient-declined"}
    firing = RuleFiring.objects.get(uuid=card["uuid"])
    assert firing.hook == "patient-view" and firing.channel == "api" and firing.card["summary"] == card["summary"]
    row = m.AuditEvent.objects.get(action="cds.read", patient=rosa)
    assert row.username == "dr_grey" and row.detail["hookInstance"] and row.detail["basis"] == "care_team"
    assert sorted(row.detail["cards"]) == sorted(cards)


def test_it_evaluates_the_prefetched_resources_instead_of_its_own_rows(api_client, rosa):
    pid = rosa.fhir_id
    prefetch = {
        "conditions": bundle([condition(pid, "44054006", "Diabetes mellitus type 2 (disorder)")], "searchset"),
        "observations": bundle([lab(pid, "4548-4", "Hemoglobin A1c", 9.9, "%", 3)], "searchset"),
        "medications": bundle([], "searchset"),
    }

    status, body = _call(api_client, "carebase-patient-view", _patient_view(rosa, prefetch=prefetch))

    assert status == 200
    cards = {c["extension"]["org.carebase.rule"]: c for c in body["cards"]}
    assert "creatinine-rising" not in cards  # the EHR's observations hold no creatinine
    assert cards["diabetes-hba1c-above-target"]["summary"].startswith("HbA1c 9.9 %")
    cited = cards["diabetes-hba1c-above-target"]["extension"]["org.carebase.citations"][1]
    assert cited["source_id"] is None and cited["reference"].startswith("Observation/")  # the EHR's resource
    assert m.AuditEvent.objects.get(action="cds.read").detail["prefetched"] == ["conditions", "medications", "observations"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].pop("userId"), "context.userId"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(hook="order-select"), "hook"),
        (lambda b: b.update(context=[]), "context"),
        (
            lambda b: b.update(prefetch={"observations": {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/x"}, "valueQuantity": {"value": "high"}}}]}}),
            "prefetch.observations.entry[0].resource.valueQuantity.value",
        ),
        (
            lambda b: b.update(prefetch={"conditions": {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition", "code": {"text": "x"}, "subject": {"reference": "Patient/someone-else"}}}]}}),
            "prefetch.conditions.entry[0].resource.subject",
        ),
        (lambda b: b.update(prefetch={"medications": {"resourceType": "Patient"}}), "prefetch.medications"),
    ],
)  # fmt: skip
def test_it_names_the_field_of_a_bad_request(api_client, rosa, change, field):
    body = _patient_view(rosa)
    change(body)

    status, answer = _call(api_client, "carebase-patient-view", body)

    assert status == 400 and answer["detail"].startswith(field), answer
    assert not RuleFiring.objects.exists()


def test_it_answers_400_for_a_body_that_is_not_json(api_client, rosa):
    response = api_client.post("/cds-services/carebase-patient-view", "{not json", content_type="application/json")

    assert response.status_code == 400 and response.json()["detail"].startswith("body: not JSON")


def test_it_answers_404_for_an_unknown_patient_or_service(api_client, rosa):
    unknown = _patient_view(rosa)
    unknown["context"]["patientId"] = "no-such-patient"

    status, body = _call(api_client, "carebase-patient-view", unknown)
    assert status == 404 and body["detail"] == "context.patientId: Carebase holds no Patient/no-such-patient"
    assert _call(api_client, "no-such-service", _patient_view(rosa))[0] == 404


def test_it_answers_403_for_a_patient_the_caller_may_not_read(rosa):
    house = user_with_roles("dr_house", "clinician")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=house)}")

    status, body = _call(client, "carebase-patient-view", _patient_view(rosa))

    assert status == 403 and "care team" in body["detail"]
    assert not RuleFiring.objects.exists() and not m.AuditEvent.objects.filter(action="cds.read").exists()


def test_an_integration_client_reads_every_chart(integration_client, rosa):
    status, body = _call(integration_client, "carebase-patient-view", _patient_view(rosa))

    assert status == 200 and body["cards"]
    assert m.AuditEvent.objects.get(action="cds.read").detail["basis"] == "system"


def test_it_checks_the_selected_medication_orders_on_order_select(api_client, rosa):
    amoxicillin = medication(rosa.fhir_id, "308192", "Amoxicillin 500 MG Oral Tablet", status="draft")
    ibuprofen = medication(rosa.fhir_id, "197806", "Ibuprofen 600 MG Oral Tablet", status="draft")
    metformin = medication(rosa.fhir_id, "861007", "Metformin hydrochloride 500 MG Oral Tablet", status="draft")

    status, body = _call(api_client, "carebase-order-select", _order_select(rosa, amoxicillin, ibuprofen, metformin))

    assert status == 200
    cards = {c["extension"]["org.carebase.rule"]: c for c in body["cards"]}
    assert set(cards) == {"allergy-drug-ingredient", "ckd-nsaid"}  # no care gaps on an order
    allergy = cards["allergy-drug-ingredient"]
    assert allergy["indicator"] == "critical"
    assert allergy["summary"] == "Amoxicillin 500 MG Oral Tablet contains amoxicillin: the patient is allergic to Penicillin"
    action = allergy["suggestions"][0]["actions"][0]
    assert action == {
        "type": "delete",
        "description": "Cancel the Amoxicillin 500 MG Oral Tablet order",
        "resourceId": [f"MedicationRequest/{amoxicillin['id']}"],
    }
    cited = {c["source_type"] for c in allergy["extension"]["org.carebase.citations"]}
    assert cited == {"allergy", "order", "knowledge"}
    assert cards["ckd-nsaid"]["summary"].startswith("Ibuprofen 600 MG Oral Tablet in Chronic kidney disease stage 3")
    assert m.AuditEvent.objects.get(action="cds.read").detail["orders"] == [
        f"MedicationRequest/{o['id']}" for o in (amoxicillin, ibuprofen, metformin)
    ]


def test_it_checks_only_the_selected_orders(api_client, rosa):
    amoxicillin = medication(rosa.fhir_id, "308192", "Amoxicillin 500 MG Oral Tablet", status="draft")
    metformin = medication(rosa.fhir_id, "861007", "Metformin 500 MG Oral Tablet", status="draft")

    status, body = _call(
        api_client,
        "carebase-order-select",
        _order_select(rosa, amoxicillin, metformin, selected=[f"MedicationRequest/{metformin['id']}"]),
    )

    assert status == 200 and body["cards"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.pop("draftOrders"), "context.draftOrders"),
        (lambda c: c.update(selections=[]), "context.selections"),
        (lambda c: c.update(selections=["MedicationRequest/unknown"]), "context.selections[0]"),
        (lambda c: c["draftOrders"]["entry"][0]["resource"].update(intent=3), "context.draftOrders.entry[0].resource.intent"),
    ],
)
def test_it_names_the_field_of_a_bad_order_select_context(api_client, rosa, change, field):
    body = _order_select(rosa, medication(rosa.fhir_id, "308192", "Amoxicillin 500 MG Oral Tablet", status="draft"))
    change(body["context"])

    status, answer = _call(api_client, "carebase-order-select", body)

    assert status == 400 and answer["detail"].startswith(field), answer


def test_it_records_the_ehrs_feedback_as_decisions(api_client, rosa):
    _, body = _call(api_client, "carebase-patient-view", _patient_view(rosa))
    accepted, overridden = body["cards"][0]["uuid"], body["cards"][1]["uuid"]
    feedback = {
        "feedback": [
            {"card": accepted, "outcome": "accepted", "acceptedSuggestions": [], "outcomeTimestamp": "2026-12-01T10:00:00Z"},
            {"card": overridden, "outcome": "overridden", "overrideReason": {"reason": {"code": "patient-declined", "system": "x"}, "userComment": "next visit"}},
        ]
    }  # fmt: skip

    response = api_client.post(
        "/cds-services/carebase-patient-view/feedback", json.dumps(feedback), content_type="application/json"
    )

    assert response.status_code == 200 and response.json() == {"recorded": 2}
    decisions = {str(d.firing.uuid): d for d in CardDecision.objects.all()}
    assert decisions[accepted].outcome == "accepted" and decisions[accepted].channel == "api"
    assert (decisions[overridden].outcome, decisions[overridden].reason, decisions[overridden].comment) == (
        "dismissed",
        "patient-declined",
        "next visit",
    )
    assert m.AuditEvent.objects.filter(action="cds.decision", patient=rosa).count() == 2


def test_it_refuses_feedback_on_a_card_it_never_returned(api_client, rosa):
    feedback = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted"}]}

    response = api_client.post(
        "/cds-services/carebase-patient-view/feedback", json.dumps(feedback), content_type="application/json"
    )

    assert response.status_code == 400 and response.json()["detail"].startswith("feedback[0].card: no card")
