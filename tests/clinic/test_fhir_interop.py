"""Interoperability: real FHIR clients from PyPI against a live server. The SMART `fhirclient` library reads,
searches with paging and calls $everything; `fhir.resources` (its R4B models, strict) parses every answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import client as smart_client
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.condition import Condition
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

from clinic import models as m
from clinic.services import api_token_create, fhir_import_bytes
from tests.access import user_with_roles
from tests.clinic.fhir_factory import bundle, dumps

pytestmark = pytest.mark.django_db(transaction=True)


def strict(body: dict[str, Any]) -> Any:
    """The answer as an R4B model: fails on any element FHIR does not define or any value of the wrong type."""
    return get_fhir_model_class(body["resourceType"]).model_validate(body)


@pytest.fixture
def server(live_server, settings, tmp_path) -> Iterator[dict[str, Any]]:
    """A live server holding two charts, and an integration client's token (exports run in the server's process)."""
    settings.JOBS_EAGER, settings.DATA_DIR = True, tmp_path
    for family, observations in (("Lovelace", 5), ("Babbage", 3)):
        doc = bundle(observations=observations)
        doc["entry"][0]["resource"]["name"] = [{"family": family, "given": ["Test"]}]
        fhir_import_bytes(name=f"{family}.json", data=dumps(doc))
    token = api_token_create(user=user_with_roles("interface-engine", "integration"))
    base = f"{live_server.url}/api/v1/fhir/"
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
    smart = smart_client.FHIRClient(settings={"app_id": "carebase-tests", "api_base": base})
    smart.server.session.headers["Authorization"] = f"Bearer {token}"
    yield {"base": base, "smart": smart, "session": session, "ada": m.Patient.objects.get(family_name="Lovelace")}
    # Kept-alive connections hold a server thread, and its database session, open past the test.
    session.close()
    smart.server.session.close()


def test_it_speaks_to_fhirclient_read_search_paging_and_everything(server):
    smart, ada = server["smart"], server["ada"]
    cap = CapabilityStatement(smart.server.request_json("metadata"))
    assert {"Patient", "Observation", "Condition"} <= {r.type for r in cap.rest[0].resource}
    patient = Patient.read(ada.fhir_id, smart.server)
    assert patient.name[0].family == "Lovelace"
    found = list(Patient.where(struct={"family": "Lovelace"}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == [ada.fhir_id]
    search = Observation.where(struct={"patient": ada.fhir_id, "code": "4548-4", "_count": "2", "_sort": "-date"})
    pages = list(search.perform_iter(smart.server))
    dates = [o.effectiveDateTime.isostring for page in pages for o in (e.resource for e in page.entry or [])]
    assert len(pages) == 3 and len(dates) == 5 and dates == sorted(dates, reverse=True)
    assert len(list(Condition.where(struct={"subject": f"Patient/{ada.fhir_id}"}).perform_resources_iter(smart.server))) == 1
    everything = smart.server.request_json(f"Patient/{ada.fhir_id}/$everything")
    assert everything["total"] == len(everything["entry"]) == 11


def test_it_answers_only_what_strict_r4b_models_accept(server):
    session, base, ada = server["session"], server["base"], server["ada"]
    answers = [
        session.get(base + "metadata"),
        session.get(base + "Patient?family=Lovelace"),
        session.get(base + f"Observation?patient={ada.fhir_id}&_count=2&_include=Observation:patient"),
        session.get(base + f"Patient/{ada.fhir_id}/$everything?_count=4"),
        session.get(base + f"Patient/{ada.fhir_id}"),
        session.get(base + "Observation?colour=blue"),
        session.get(base + "Observation?colour=blue", headers={"Prefer": "handling=lenient"}),
        session.get(base + "Spaceship/1"),
        session.post(base, data=dumps(bundle(observations=1)), headers={"Content-Type": "application/fhir+json"}),
        session.get(base + "Patient/$export", headers={"Prefer": "respond-async"}),
        requests.get(base + "Observation"),  # no token
    ]
    kinds = []
    for response in answers:
        assert response.headers["Content-Type"].startswith("application/fhir+json"), response.url
        kinds.append((response.status_code, type(strict(response.json())).__name__))
    assert kinds == [(200, "CapabilityStatement")] + [(200, "Bundle")] * 3 + [(200, "Patient"), (400, "OperationOutcome"),
        (200, "Bundle"), (404, "OperationOutcome"), (200, "Bundle"), (202, "OperationOutcome"), (401, "OperationOutcome")]  # fmt: skip
