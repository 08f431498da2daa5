"""A small chart built in code: Ada with hypertension, lisinopril, a penicillin allergy and HbA1c values."""

from __future__ import annotations

import threading
from http.server import HTTPServer

import pytest

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team
from tests.agents.fake_openai import FakeOpenAI
from tests.clinic.fhir_factory import bundle, dumps


@pytest.fixture
def ada(clinician) -> m.Patient:
    """Ada Lovelace's chart, Dr Grey on her care team."""
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=3)))
    patient = m.Patient.objects.get()
    on_care_team(clinician, patient)
    return patient


@pytest.fixture
def empty_chart(clinician) -> m.Patient:
    patient = m.Patient.objects.create(fhir_id="empty-1", name="Nobody Charted")
    on_care_team(clinician, patient)
    return patient


@pytest.fixture
def eager_jobs(settings):
    """Jobs run in this process when the transaction commits: no broker shared with other checkouts."""
    settings.JOBS_EAGER = True


@pytest.fixture
def openai_server():
    """The URL of a fake OpenAI-compatible server (tests.agents.fake_openai), its script empty."""
    FakeOpenAI.reset()
    server = HTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    if FakeOpenAI.hold is not None:
        FakeOpenAI.hold.set()
    server.shutdown()


@pytest.fixture
def openai_backend(settings, openai_server):
    settings.LLM_BACKEND, settings.LLM_BASE_URL, settings.LLM_MODEL = "openai", openai_server, "served-model"
    return FakeOpenAI
