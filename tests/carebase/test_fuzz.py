"""Schema-driven fuzzing: Schemathesis generates requests from the OpenAPI document (coverage and fuzzing phases,
a fixed seed, a bounded number of examples) and sends them to a live server with a valid token; no operation may
answer with a server error. Below it, the cases it once found, each pinned, and the one error shape."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from clinic import models as m
from clinic.services import api_token_create, fhir_import_bytes
from search.models import Cohort
from tests.clinic.fhir_factory import bundle, dumps

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.fixture
def server(live_server, settings, tmp_path, superuser) -> dict[str, Any]:
    """A live server with two charts, and a superuser's token (every operation reachable, every read audited)."""
    settings.JOBS_EAGER, settings.DATA_DIR = True, tmp_path
    for _ in range(2):
        fhir_import_bytes(name="chart.json", data=dumps(bundle(observations=4)))
    return {"url": live_server.url, "token": api_token_create(user=superuser, name="fuzz")}


def test_no_generated_request_gets_a_server_error(server, tmp_path):
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{server['url']}/api/v1/openapi.json", "-H", f"Authorization: Bearer {server['token']}",
         "--checks", "not_a_server_error", "--phases", "examples,coverage,fuzzing", "--max-examples", "12",
         "--seed", "20261202", "-w", "2", "--request-timeout", "60", "--no-color"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    out = run.stdout + run.stderr
    generated = re.search(r"(\d+) generated", out)
    failing = sorted(set(re.findall(r"_{3,} ((?:GET|POST|PUT|PATCH|DELETE) \S+) _{3,}", out)))
    assert generated and int(generated.group(1)) > 500, out[-2000:]
    assert not failing and "Server error" not in out, f"failing: {failing}\n{out[-4000:]}"


def _get(server: dict[str, Any], path: str, **kw: Any) -> requests.Response:
    return requests.get(server["url"] + path, headers={"Authorization": f"Bearer {server['token']}"}, timeout=30, **kw)


def _post(server: dict[str, Any], path: str, body: bytes, content_type: str = "application/json") -> requests.Response:
    headers = {"Authorization": f"Bearer {server['token']}", "Content-Type": content_type}
    return requests.post(server["url"] + path, data=body, headers=headers, timeout=30)


def test_a_nul_character_is_a_400_that_names_the_parameter(server):
    patient = m.Patient.objects.first()
    answer = _get(server, f"/api/v1/patients/{patient.pk}/variants", params={"gene": "BR\x00CA"})
    assert answer.status_code == 400 and answer.json() == {
        "detail": "query parameter 'gene': a NUL character (0x00) is not allowed"
    }
    answer = _get(server, "/api/v1/fhir/Patient", params={"family": "a\x00"})
    assert answer.status_code == 400 and answer.json()["resourceType"] == "OperationOutcome"
    before = Cohort.objects.count()
    answer = _post(server, "/api/v1/cohorts", b'{"name": "a\\u0000b"}')
    assert answer.status_code == 400 and answer.json()["detail"].startswith("request body")
    assert Cohort.objects.count() == before


def test_a_resource_type_that_is_not_a_string_is_rejected_not_a_crash(server):
    runs = m.IngestionRun.objects.count()
    answer = _post(server, "/api/v1/fhir", b'{"id": "0", "resourceType": {}}')
    assert answer.status_code == 400
    assert (
        "resourceType" in answer.json()["detail"] and m.IngestionRun.objects.count() == runs + 1
    )  # the rejected run, and nothing else
    assert answer.json()["counts"] == {} or not any(answer.json()["counts"].values())


def test_digits_that_are_not_ascii_are_not_an_id(server):
    answer = _get(server, "/api/v1/fhir/Group/\u00b9/$export")
    assert answer.status_code == 404 and answer.json()["resourceType"] == "OperationOutcome"
    answer = _get(server, "/api/v1/fhir/Observation", params={"_count": "\u00b9"})
    assert answer.status_code == 400


def test_every_rest_error_has_a_detail_string(server):
    invalid = _get(server, "/api/v1/patients", params={"limit": "lots"})
    assert invalid.status_code == 422
    body = invalid.json()
    assert isinstance(body["detail"], str) and "limit" in body["detail"] and body["errors"][0]["loc"][-1] == "limit"
    missing = _get(server, "/api/v1/patients/999999")
    assert missing.status_code == 404 and isinstance(missing.json()["detail"], str)


def test_the_openapi_document_describes_fhir_bodies_as_fhir(server):
    paths = _get(server, "/api/v1/openapi.json").json()["paths"]
    transaction = paths["/api/v1/fhir/"]["post"]["requestBody"]["content"]["application/fhir+json"]["schema"]
    assert transaction["properties"]["resourceType"]["enum"] == ["Bundle"]
    assert set(transaction["properties"]["type"]["enum"]) == {"transaction", "batch"}
    update = paths["/api/v1/fhir/{resource_type}/{fhir_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert "Patient" in update["properties"]["resourceType"]["enum"] and update["required"] == ["resourceType", "id"]
    assert "requestBody" in paths["/api/v1/fhir"]["post"]
