"""Bulk Data $export: kick-off, the job on a real Celery worker, status, NDJSON files, DELETE, who may download,
the audit rows, Group (saved cohort) export, and a round trip of the files through import_fhir."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from clinic import models as m
from clinic.fhir.bulk import export_dir
from clinic.fhir.mapping import MAPPERS
from clinic.services import api_token_create, fhir_import_bytes, fhir_import_files
from search.models import Cohort
from tests.access import on_care_team, user_with_roles
from tests.clinic.fhir_factory import bundle, dumps
from tests.waiting import wait_until

KICK_OFF = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


@pytest.fixture(autouse=True)
def exports_in_tmp(settings, tmp_path: Path) -> Path:
    """Files under a temporary DATA_DIR; jobs in this process unless a test starts a worker."""
    settings.DATA_DIR = tmp_path
    settings.JOBS_EAGER = True
    return tmp_path


def _chart(name: str, observations: int) -> m.Patient:
    doc = bundle(observations=observations)
    doc["entry"][0]["resource"]["name"] = [{"family": name, "given": ["Test"]}]
    fhir_import_bytes(name=f"{name}.json", data=dumps(doc))
    return m.Patient.objects.get(family_name=name)


@pytest.fixture
def charts(clinician) -> tuple[m.Patient, m.Patient]:
    """Ada (Dr Grey's patient, 3 results) and Charles (not hers, 2 results)."""
    ada, charles = _chart("Lovelace", 3), _chart("Babbage", 2)
    on_care_team(clinician, ada)
    return ada, charles


def _kick_off(client: Client, path: str = "Patient/$export", **headers: str) -> str:
    response = client.get(f"/api/v1/fhir/{path}", headers={**KICK_OFF, **headers})
    assert response.status_code == 202, response.content[:300]
    return response["Content-Location"]


def _finished(client: Client, status_url: str) -> dict[str, Any]:
    response = client.get(status_url)
    assert response.status_code in (200, 202), response.content[:300]
    return response.json() if response.status_code == 200 else {}


def _download(client: Client, manifest: dict[str, Any]) -> Counter[str]:
    found: Counter[str] = Counter()
    for out in manifest["output"]:
        response = client.get(out["url"])
        assert response.status_code == 200 and response["Content-Type"] == "application/fhir+ndjson"
        lines = b"".join(response.streaming_content).decode().splitlines()
        assert len(lines) == out["count"] and all(json.loads(line)["resourceType"] == out["type"] for line in lines)
        found[out["type"]] += len(lines)
    return found


def _stored() -> Counter[str]:
    counts = Counter({rtype: model._default_manager.exclude(raw={}).count() for rtype, (model, _) in MAPPERS.items()})
    return +counts


def test_it_exports_every_chart_on_the_worker_and_serves_the_files(integration_client, charts, settings, celery_worker_real):
    settings.JOBS_EAGER = False
    status_url = _kick_off(integration_client)
    assert status_url.startswith("http://testserver/api/v1/fhir/bulk/")
    manifest = wait_until(lambda: _finished(integration_client, status_url), seconds=60, what="the export to finish")
    assert manifest["requiresAccessToken"] is True and manifest["request"].endswith("/api/v1/fhir/Patient/$export")
    assert _download(integration_client, manifest) == _stored()
    export = m.BulkExport.objects.get()
    assert export.status == "completed" and export.patient_ids is None
    assert m.AuditEvent.objects.filter(action="export.bulk", target=f"BulkExport/{export.pk}").count() == 1
    downloads = m.AuditEvent.objects.filter(action="export.bulk.download")
    assert downloads.count() == len(manifest["output"]) and set(
        downloads.get(target__endswith="/Observation.ndjson").patients
    ) == {p.pk for p in charts}


def test_it_exports_only_the_charts_the_requester_may_read(api_client, clinician, charts, django_capture_on_commit_callbacks):
    ada, _ = charts
    with django_capture_on_commit_callbacks(execute=True):
        status_url = _kick_off(api_client)
    manifest = _finished(api_client, status_url)
    assert _download(api_client, manifest) == Counter(
        {"Patient": 1, "Encounter": 1, "Condition": 1, "MedicationRequest": 1, "AllergyIntolerance": 1,
         "DocumentReference": 1, "Observation": 3}
    )  # fmt: skip
    assert m.BulkExport.objects.get().patient_ids == [ada.pk]
    # another user sees no such export; a file is refused once the chart is no longer hers; DELETE removes it all
    stranger = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user_with_roles('dr_yang', 'clinician'))}")
    assert stranger.get(status_url).status_code == 404 and stranger.get(manifest["output"][0]["url"]).status_code == 404
    m.CareTeamMember.objects.filter(user=clinician).update(ends_at=m.CareTeamMember.objects.first().starts_at)
    response = api_client.get(manifest["output"][0]["url"])
    assert response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"
    folder = export_dir(m.BulkExport.objects.get())
    assert folder.is_dir() and api_client.delete(status_url).status_code == 202 and not folder.exists()
    assert api_client.get(status_url).status_code == 404 and api_client.get(manifest["output"][0]["url"]).status_code == 404


def test_it_filters_by_type_and_since_and_refuses_what_it_cannot_do(
    integration_client, charts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        status_url = _kick_off(integration_client, "Patient/$export?_type=Observation,Patient")
    assert _download(integration_client, _finished(integration_client, status_url)) == Counter({"Observation": 5, "Patient": 2})
    with django_capture_on_commit_callbacks(execute=True):
        status_url = _kick_off(integration_client, "Patient/$export?_since=2999-01-01T00:00:00Z")
    assert _finished(integration_client, status_url)["output"] == []
    for path, headers, status, words in [
        ("Patient/$export?_type=Spaceship", KICK_OFF, 400, "Spaceship not stored here"),
        ("Patient/$export?_since=soon", KICK_OFF, 400, "_since"),
        ("Patient/$export?_typeFilter=Observation%3Fcode%3D1", KICK_OFF, 400, "_typeFilter"),
        ("Patient/$export?_outputFormat=text/csv", KICK_OFF, 400, "NDJSON"),
        ("Patient/$export", {"Accept": "application/fhir+xml"}, 406, "application/fhir+json"),
        ("Patient/$export", {"Prefer": "respond-sync"}, 400, "respond-async"),
        ("bulk/not-an-export", {}, 404, "no export"),
        ("Group/999999/$export", KICK_OFF, 404, "no saved cohort"),
    ]:
        response = integration_client.get(f"/api/v1/fhir/{path}", headers=headers)
        assert response.status_code == status and words in response.json()["issue"][0]["diagnostics"], (path, response.json())


def test_it_exports_a_saved_cohort_as_a_group(api_client, clinician, charts, django_capture_on_commit_callbacks):
    ada, charles = charts
    cohort = Cohort.objects.create(name="both", owner=clinician, criteria={}, patient_ids=[ada.pk, charles.pk], patient_count=2)
    with django_capture_on_commit_callbacks(execute=True):
        status_url = _kick_off(api_client, f"Group/{cohort.pk}/$export?_type=Patient")
    manifest = _finished(api_client, status_url)
    assert _download(api_client, manifest) == Counter({"Patient": 1})  # Charles is not hers to read
    export = m.BulkExport.objects.get()
    assert export.level == "group" and export.group == str(cohort.pk) and export.patient_ids == [ada.pk]


def _round_trip(client: Client, tmp_path: Path, capture: Any, path: str) -> tuple[Counter[str], Counter[str]]:
    """Export (`path`), empty the clinical tables as a fresh database has them, import the NDJSON files with
    import_fhir: (counts before, counts after)."""
    with capture(execute=True):
        status_url = _kick_off(client, path)
    manifest = _finished(client, status_url)
    before = _stored()
    folder = tmp_path / "round-trip"
    folder.mkdir()
    for out in manifest["output"]:  # saved as named (Observation.ndjson …): import_fhir orders them by type
        (folder / out["url"].rsplit("/", 1)[1]).write_bytes(b"".join(client.get(out["url"]).streaming_content))
    for model in (m.Patient, m.Practitioner, m.Organization):
        model._default_manager.all().delete()
    assert not _stored()
    call_command("import_fhir", str(folder))
    return before, _stored()


def test_it_round_trips_an_export_through_import_fhir(integration_client, charts, tmp_path, django_capture_on_commit_callbacks):
    before, after = _round_trip(integration_client, tmp_path, django_capture_on_commit_callbacks, "$export")
    assert before == after and before["Observation"] == 5
    assert m.Observation.objects.filter(encounter__isnull=False).count() == 5  # references resolved, not only counted


@pytest.mark.shared_data
def test_it_round_trips_a_cohort_of_synthea_charts(integration_client, shared_data, tmp_path, django_capture_on_commit_callbacks):
    files = sorted((shared_data / "fhir/synthea-r4").glob("*.json"))[:4]
    fhir_import_files(paths=files)
    engine = m.ApiToken.objects.get().user
    cohort = Cohort.objects.create(
        name="all four", owner=engine, criteria={}, patient_ids=list(m.Patient.objects.values_list("pk", flat=True))
    )
    before, after = _round_trip(integration_client, tmp_path, django_capture_on_commit_callbacks, f"Group/{cohort.pk}/$export")
    clinical = lambda counts: Counter({t: n for t, n in counts.items() if t not in ("Practitioner", "Organization")})  # noqa: E731
    assert clinical(before) == clinical(after) and before["Patient"] == 4 and before["Observation"] > 100
    assert m.BulkExport.objects.get().level == "group"
