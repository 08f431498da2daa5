"""The clinic REST API: auth, patients, timeline, FHIR in and out."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team
from tests.clinic.fhir_factory import bundle, dumps


@pytest.fixture
def ada(clinician) -> m.Patient:
    """Ada Lovelace's chart, Dr Grey on her care team."""
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=5)))
    patient = m.Patient.objects.get()
    on_care_team(clinician, patient)
    return patient


@pytest.mark.django_db
def test_it_refuses_requests_without_a_token():
    assert Client().get("/api/v1/patients").status_code == 401


@pytest.mark.django_db
def test_it_refuses_a_wrong_token(api_token):
    client = Client(HTTP_AUTHORIZATION="Bearer cb_not-the-right-token")
    assert client.get("/api/v1/patients").status_code == 401


@pytest.mark.django_db
def test_it_refuses_a_revoked_token(api_client, api_token):
    m.ApiToken.objects.update(revoked=True)
    assert api_client.get("/api/v1/patients").status_code == 401


def test_it_stores_only_the_hash_of_a_token(api_token):
    token = m.ApiToken.objects.get()
    assert token.digest == m.ApiToken.hash(api_token) and api_token not in (token.digest, token.prefix)


def test_it_lists_patients_with_their_fhir_ids_and_audits(api_client, ada, clinician):
    body = api_client.get("/api/v1/patients?q=lovelace").json()
    assert body["count"] == 1 and body["items"][0]["fhir_id"] == ada.fhir_id and body["items"][0]["id"] == ada.pk
    assert api_client.get("/api/v1/patients?q=nobody").json()["count"] == 0
    audit = m.AuditEvent.objects.filter(action="list.patients").order_by("at").first()
    assert audit.user == clinician and audit.channel == "api" and audit.patients == [ada.pk]


def test_it_answers_400_for_bad_parameters(api_client, ada):
    assert api_client.get("/api/v1/patients?limit=-1").status_code == 422
    assert api_client.get("/api/v1/patients?limit=abc").status_code == 422
    assert api_client.get(f"/api/v1/patients/{ada.pk}/timeline?date_from=notadate").status_code == 422
    assert api_client.get(f"/api/v1/patients/{ada.pk}/timeline?kinds=dreams").status_code == 400
    assert api_client.get(f"/api/v1/patients/{ada.pk}/timeline?cursor=%%%").status_code == 400
    assert api_client.get("/api/v1/patients/999999999").status_code == 404


def test_it_pages_the_timeline_newest_first_with_a_cursor(api_client, ada):
    events, cursor, pages = [], "", 0
    while cursor is not None:
        page = api_client.get(f"/api/v1/patients/{ada.pk}/timeline?limit=4&cursor={cursor}").json()
        events += page["items"]
        cursor, pages = page["next_cursor"], pages + 1
    assert pages == 3 and len(events) == m.TimelineEvent.objects.filter(patient=ada).count() == 10
    assert len({e["id"] for e in events}) == 10
    times = [e["time"] for e in events]
    assert times == sorted(times, reverse=True)
    assert m.AuditEvent.objects.filter(action="view.timeline", patient=ada).count() == 3


def test_it_filters_the_timeline_by_kind_and_date(api_client, ada):
    labs = api_client.get(f"/api/v1/patients/{ada.pk}/timeline?kinds=observation").json()["items"]
    assert len(labs) == 5 and {e["kind"] for e in labs} == {"observation"}
    window = api_client.get(
        f"/api/v1/patients/{ada.pk}/timeline?kinds=observation&date_from=2021-01-01&date_to=2022-12-31"
    ).json()
    assert [e["time"][:4] for e in window["items"]] == ["2022", "2021"]


def test_it_imports_a_posted_bundle_and_rejects_a_bad_one(integration_client):
    response = integration_client.post("/api/v1/fhir", dumps(bundle()), content_type="application/json")
    assert response.status_code == 200 and response.json()["counts"]["Patient"] == 1
    doc = bundle()
    doc["entry"][0]["resource"]["birthDate"] = "1990-13-45"
    response = integration_client.post("/api/v1/fhir", dumps(doc), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "birthDate" and m.Patient.objects.count() == 1


@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b"\xff\xfe", b'{"resourceType":"Bundle","entry":"x"}', b""])
def test_it_answers_4xx_for_malformed_bodies(integration_client, body):
    response = integration_client.post("/api/v1/fhir", body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert m.IngestionRun.objects.filter(status="succeeded").count() == 0


def test_it_round_trips_everything_to_the_same_rows(api_client, integration_client, ada):
    everything = api_client.get(f"/api/v1/fhir/Patient/{ada.fhir_id}/$everything").json()
    types = sorted(e["resource"]["resourceType"] for e in everything["entry"])
    assert types.count("Observation") == 5 and "DocumentReference" in types and "Patient" in types
    before = {model: model.objects.count() for model in (m.Patient, m.Observation, m.Encounter, m.ClinicalNote)}
    response = integration_client.post("/api/v1/fhir", json.dumps(everything), content_type="application/json")
    assert response.status_code == 200 and response.json()["counts"] == {}
    assert {model: model.objects.count() for model in before} == before
    assert m.AuditEvent.objects.filter(action="export.everything", patient=ada).exists()


def test_it_reads_one_resource_by_type_and_fhir_id(api_client, ada):
    obs = m.Observation.objects.first()
    body = api_client.get(f"/api/v1/fhir/Observation/{obs.fhir_id}").json()
    assert body["id"] == obs.fhir_id and body["subject"]["reference"] == f"Patient/{ada.fhir_id}"
    assert api_client.get("/api/v1/fhir/Observation/nope").status_code == 404
    assert api_client.get("/api/v1/fhir/Spaceship/1").status_code == 404
