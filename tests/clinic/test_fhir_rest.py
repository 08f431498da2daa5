"""The FHIR RESTful API: metadata, search parameters, paging and sort, $everything pages, writes, errors as
OperationOutcome, scopes per type, access filtering and the audit rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from clinic import models as m
from clinic.fhir.search import SEARCH_PARAMS
from clinic.services import api_token_create, fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.clinic.fhir_factory import bundle, dumps

BASE = "/api/v1/fhir/"
LOINC = "http://loinc.org"


def _import(doc: dict[str, Any]) -> m.Patient:
    run = fhir_import_bytes(name="test.json", data=dumps(doc))
    assert run.status == "succeeded", run.errors
    return m.Patient.objects.get(fhir_id=doc["entry"][0]["resource"]["id"])


@pytest.fixture
def ada(clinician) -> m.Patient:
    """Ada Lovelace: five HbA1c results, 2020 to 2024; one also coded with a second LOINC. Dr Grey's patient."""
    doc = bundle(observations=5)
    obs = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"]
    obs[0]["code"]["coding"].append({"system": LOINC, "code": "17856-6", "display": "HbA1c by HPLC"})
    obs[0]["category"] = [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
    ]
    patient = _import(doc)
    on_care_team(clinician, patient)
    return patient


@pytest.fixture
def charles(db) -> m.Patient:
    """Charles Babbage: not on Dr Grey's care team."""
    doc = bundle(observations=2)
    doc["entry"][0]["resource"].update(name=[{"family": "Babbage", "given": ["Charles"]}], gender="male", birthDate="1791-12-26")
    return _import(doc)


def _get(client: Client, path: str, **headers: str) -> tuple[int, dict[str, Any]]:
    response = client.get(BASE + path, headers=headers)
    assert response["Content-Type"].startswith(("application/fhir+json", "application/json")), response.content[:200]
    return response.status_code, response.json()


def _ids(bundle_doc: dict[str, Any], rtype: str | None = None) -> list[str]:
    return [e["resource"]["id"] for e in bundle_doc.get("entry", []) if rtype is None or e["resource"]["resourceType"] == rtype]


def _pages(client: Client, path: str) -> list[dict[str, Any]]:
    pages, url = [], BASE + path
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        pages.append(response.json())
        url = next((link["url"] for link in pages[-1].get("link", []) if link["relation"] == "next"), None)
    return pages


def test_it_describes_itself_from_the_search_tables_without_a_token(db):
    status, cap = _get(Client(), "metadata")
    assert status == 200 and cap["resourceType"] == "CapabilityStatement" and cap["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in cap["rest"][0]["resource"]}
    for rtype, params in SEARCH_PARAMS.items():
        assert [p["name"] for p in resources[rtype]["searchParam"]] == [p.name for p in params]
        assert {"read", "search-type", "update"} == {i["code"] for i in resources[rtype]["interaction"]}
    assert {"everything", "export"} == {o["name"] for o in resources["Patient"]["operation"]}
    assert resources["Observation"]["searchInclude"] == ["Observation:patient", "Observation:subject"]
    assert cap["rest"][0]["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    status, smart = _get(Client(), ".well-known/smart-configuration")
    assert status == 200 and "patient/*.read" in smart["scopes_supported"] and "create_api_token" in smart["token_issuance"]


def test_it_finds_patients_by_name_parts_birthdate_gender_and_identifier(integration_client, ada, charles):
    for query, want in [
        ("family=Lovelace", [ada]),
        ("family=love", [ada]),
        ("family:exact=love", []),
        ("family:exact=Babbage", [charles]),
        ("given=char", [charles]),
        ("name=ADA", [ada]),
        ("name:contains=bbag", [charles]),
        ("birthdate=1791", [charles]),
        ("birthdate=ge1900-01-01", [ada]),
        ("birthdate=lt1960-05-17", [charles]),
        ("gender=male", [charles]),
        (f"identifier=urn:mrn|{ada.mrn}", [ada]),
        (f"identifier={charles.mrn}", [charles]),
        (f"_id={ada.fhir_id},{charles.fhir_id}", [ada, charles]),
    ]:
        status, found = _get(integration_client, f"Patient?{query}")
        assert status == 200 and sorted(_ids(found)) == sorted(p.fhir_id for p in want), query
        assert found["total"] == len(want) and found["type"] == "searchset"


def test_it_searches_only_the_charts_the_reader_may_see_and_audits_them(api_client, clinician, ada, charles):
    status, found = _get(api_client, "Patient")
    assert status == 200 and _ids(found) == [ada.fhir_id]
    status, found = _get(api_client, "Observation?code=4548-4")
    assert found["total"] == 5 and {e["resource"]["subject"]["reference"] for e in found["entry"]} == {f"Patient/{ada.fhir_id}"}
    row = m.AuditEvent.objects.filter(action="search.fhir").order_by("-id").first()
    assert row.user == clinician and row.channel == "api" and row.patients == [ada.pk]
    assert row.target.startswith("Observation?code=4548-4") and row.detail["total"] == 5
    status, outcome = _get(api_client, f"Observation?patient={charles.fhir_id}")
    assert status == 403 and outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "forbidden"


def test_it_pages_observations_by_patient_and_code_newest_first(api_client, ada):
    pages = _pages(api_client, f"Observation?patient={ada.fhir_id}&code={LOINC}|4548-4&_count=2&_sort=-date")
    dates = [e["resource"]["effectiveDateTime"][:4] for page in pages for e in page["entry"]]
    assert len(pages) == 3 and dates == ["2024", "2023", "2022", "2021", "2020"]
    assert all(page["total"] == 5 for page in pages)
    assert pages[0]["link"][0]["relation"] == "self" and pages[0]["link"][0]["url"].startswith("http://testserver/api/v1/fhir/")
    rows = m.AuditEvent.objects.filter(action="search.fhir", patient=ada)
    assert rows.count() == 3 and sum(r.detail["returned"] for r in rows) == 5


def test_it_matches_any_coding_dates_with_prefixes_category_and_status(api_client, ada):
    def total(query: str) -> int:
        status, found = _get(api_client, f"Observation?patient=Patient/{ada.fhir_id}&{query}")
        assert status == 200, found
        return found["total"]

    assert total("code=17856-6") == 1 and total(f"code={LOINC}|17856-6") == 1 and total("code=http://snomed.info/sct|4548-4") == 0
    assert total("code=17856-6,4548-4") == 5 and total(f"code={LOINC}|") == 5
    assert total("date=2022") == 1 and total("date=2022-02") == 1 and total("date=2022-02-02") == 0
    assert total("date=ge2022-01-01") == 3 and total("date=gt2022") == 2 and total("date=lt2022-02-01T08:00:00Z") == 2
    assert total("date=le2022-02-01T08:00:00+00:00") == 3 and total("date=ge2021&date=lt2023") == 2 and total("date=ne2022") == 4
    assert total("category=laboratory") == 1 and total("status=final") == 5 and total("status=preliminary") == 0
    assert total("_lastUpdated=ge2000-01-01") == 5 and total("_lastUpdated=lt2000") == 0
    assert total("_summary=count") == 5 and total("_count=0") == 5


def test_it_searches_every_stored_type_by_patient(integration_client, ada):
    for rtype, want in [("Condition", 1), ("Encounter", 1), ("MedicationRequest", 1), ("AllergyIntolerance", 1),
                        ("DocumentReference", 1), ("Procedure", 0), ("Immunization", 0), ("CarePlan", 0)]:  # fmt: skip
        status, found = _get(integration_client, f"{rtype}?patient={ada.fhir_id}")
        assert status == 200 and found["total"] == want, rtype
    assert _get(integration_client, "Condition?code=38341003&clinical-status=active")[1]["total"] == 1
    assert _get(integration_client, "MedicationRequest?code=314076&authoredon=2020-01-10")[1]["total"] == 1
    assert _get(integration_client, "AllergyIntolerance?criticality=high&date=2019")[1]["total"] == 1
    assert _get(integration_client, "DocumentReference?type=11506-3&date=ge2024-03-01")[1]["total"] == 1
    assert _get(integration_client, "Encounter?class=AMB&type=185349003&date=2024-03")[1]["total"] == 1


def test_it_includes_the_patient_once(api_client, ada):
    status, found = _get(api_client, f"Observation?patient={ada.fhir_id}&_include=Observation:patient&_count=3")
    modes = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in found["entry"]]
    assert modes == [("Observation", "match")] * 3 + [("Patient", "include")]


def test_it_answers_bad_searches_with_operation_outcomes(api_client, ada):
    for path, status_code, words in [
        ("Observation?colour=blue", 400, "unknown search parameter 'colour'"),
        ("Observation?date=yesterday", 400, "date: 'yesterday' is not a FHIR date"),
        ("Observation?date=ap2020", 400, "ap (approximately) is not supported"),
        ("Observation?_count=many", 400, "_count"),
        ("Observation?_sort=colour", 400, "cannot sort by 'colour'"),
        ("Observation?_include=Observation:performer", 400, "_include"),
        ("Observation?patient=Group/1", 400, "not a reference to a Patient"),
        ("Observation?code:text=x", 400, "modifier :text"),
        ("Spaceship?name=x", 404, "Spaceship"),
        ("Spaceship/1", 404, "Spaceship"),
        ("Observation/nope", 404, "not found"),
        ("Patient/x/$meaning-of-life/42", 404, "no such FHIR interaction"),
        ("Patient/nope/$everything", 404, "not found"),
        ("Observation?code=%00", 400, "NUL"),
        ("", 400, "system-wide search is not supported"),
        ("Observation/a%00b", 404, "not found"),
    ]:
        status, outcome = _get(api_client, path)
        assert status == status_code and outcome["resourceType"] == "OperationOutcome", (path, outcome)
        assert words in outcome["issue"][0]["diagnostics"], (path, outcome)
    status, outcome = _get(Client(), "Observation")
    assert status == 401 and outcome["issue"][0]["code"] == "login"


def test_it_ignores_unknown_parameters_when_asked_to_be_lenient(api_client, ada):
    status, found = _get(api_client, "Observation?colour=blue&code=4548-4", Prefer="handling=lenient")
    assert status == 200 and found["total"] == 5
    outcome = [e for e in found["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and "colour" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert "colour" not in found["link"][0]["url"]


def test_it_holds_tokens_to_their_scopes_per_resource_type(clinician, ada):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=clinician, scopes='user/Observation.read')}")
    assert _get(client, f"Observation?patient={ada.fhir_id}")[1]["total"] == 5
    status, outcome = _get(client, f"Condition?patient={ada.fhir_id}")
    assert status == 403 and "do not allow read of Condition" in outcome["issue"][0]["diagnostics"]
    assert _get(client, "Condition")[0] == 403
    patient_token = api_token_create(user=clinician, scopes="patient/*.read", patient=ada)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {patient_token}")
    assert _get(client, "Observation")[1]["total"] == 5 and _ids(_get(client, "Patient")[1]) == [ada.fhir_id]


def test_it_pages_everything_with_next_links_and_since(api_client, ada):
    whole = _get(api_client, f"Patient/{ada.fhir_id}/$everything")[1]
    pages = _pages(api_client, f"Patient/{ada.fhir_id}/$everything?_count=3")
    assert [i for p in pages for i in _ids(p)] == _ids(whole)
    assert len(pages) == -(-whole["total"] // 3) and whole["total"] == len(whole["entry"]) == 11
    status, recent = _get(api_client, f"Patient/{ada.fhir_id}/$everything?_since=2999-01-01")
    assert status == 200 and recent["total"] == 0
    assert m.AuditEvent.objects.filter(action="export.everything", patient=ada).count() == len(pages) + 2


def test_it_imports_a_transaction_and_answers_each_entry(integration_client):
    doc = bundle(observations=2)
    doc["entry"].append({"resource": {"resourceType": "Claim", "id": "c1"}, "request": {"method": "POST", "url": "Claim"}})
    response = integration_client.post(BASE, dumps(doc), content_type="application/fhir+json")
    assert response.status_code == 200, response.content[:300]
    answer = response.json()
    statuses = [e["response"]["status"] for e in answer["entry"]]
    assert answer["type"] == "transaction-response" and statuses == ["201 Created"] * 8 + ["200 OK"]
    assert answer["entry"][0]["response"]["location"] == f"Patient/{doc['entry'][0]['resource']['id']}"
    assert "Claim is not stored" in answer["entry"][-1]["response"]["outcome"]["issue"][0]["diagnostics"]
    again = integration_client.post(BASE, dumps(doc), content_type="application/fhir+json").json()
    assert [e["response"]["status"] for e in again["entry"]] == ["200 OK"] * 9 and m.Observation.objects.count() == 2


def test_it_rejects_a_bad_transaction_whole_naming_the_entry_and_field(integration_client, api_client):
    doc = bundle()
    doc["entry"][0]["resource"]["birthDate"] = "1990-13-45"
    response = integration_client.post(BASE, dumps(doc), content_type="application/fhir+json")
    outcome = response.json()
    assert response.status_code == 400 and outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0].resource.birthDate"] and m.Patient.objects.count() == 0
    for body, words in [
        (b"{", "not valid JSON"),
        (b"[]", "expected"),
        (json.dumps({**bundle(), "type": "collection"}).encode(), "transaction or batch"),
    ]:
        response = integration_client.post(BASE, body, content_type="application/fhir+json")
        assert response.status_code == 400 and words in response.json()["issue"][0]["diagnostics"]
    doc = bundle()
    doc["entry"][1]["request"] = {"method": "DELETE", "url": "Encounter/1"}
    assert integration_client.post(BASE, dumps(doc), content_type="application/fhir+json").status_code == 400
    response = api_client.post(BASE, dumps(bundle()), content_type="application/fhir+json")
    assert response.status_code == 403 and "import data permission" in response.json()["issue"][0]["diagnostics"]


def test_it_creates_and_replaces_one_resource_by_put(integration_client, ada):
    obs = {"resourceType": "Observation", "id": "put-1", "status": "final", "subject": {"reference": f"Patient/{ada.fhir_id}"},
           "code": {"coding": [{"system": LOINC, "code": "8867-4"}]}, "effectiveDateTime": "2025-01-01T00:00:00Z"}  # fmt: skip
    response = integration_client.put(BASE + "Observation/put-1", json.dumps(obs), content_type="application/fhir+json")
    assert response.status_code == 201 and response["Location"].endswith("/api/v1/fhir/Observation/put-1")
    obs["status"] = "amended"
    response = integration_client.put(BASE + "Observation/put-1", json.dumps(obs), content_type="application/fhir+json")
    assert response.status_code == 200 and m.Observation.objects.get(fhir_id="put-1").status == "amended"
    response = integration_client.put(BASE + "Observation/other", json.dumps(obs), content_type="application/fhir+json")
    assert response.status_code == 400 and "must be the URL's id" in response.json()["issue"][0]["diagnostics"]
    obs.update(id="put-2", subject={"reference": "Patient/nobody"})
    response = integration_client.put(BASE + "Observation/put-2", json.dumps(obs), content_type="application/fhir+json")
    assert response.status_code == 400 and response.json()["issue"][0]["expression"] == ["Observation.subject"]


def test_it_keeps_the_legacy_import_endpoint(integration_client):
    response = integration_client.post("/api/v1/fhir", dumps(bundle()), content_type="application/json")
    assert response.status_code == 200 and response.json()["counts"]["Patient"] == 1


def test_it_shows_shared_resources_to_any_scope_for_their_type(db, ada):
    m.Practitioner.objects.create(fhir_id="pr-1", name="Dr. Gregory House", raw={"resourceType": "Practitioner", "id": "pr-1"})
    researcher = user_with_roles("rita", "researcher")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=researcher)}")
    assert _ids(_get(client, "Practitioner?name=greg")[1]) == ["pr-1"]
    assert _get(client, "Practitioner?name=house")[1]["total"] == 1 and _get(client, "Practitioner?name=ouse")[1]["total"] == 0
    assert _get(client, "Observation")[1]["total"] == 0  # a researcher reads no chart
