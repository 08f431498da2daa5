"""A small chart built in code: Ada with hypertension, lisinopril, a penicillin allergy and HbA1c values."""

from __future__ import annotations

import pytest

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.clinic.fhir_factory import bundle, dumps


@pytest.fixture
def ada(db) -> m.Patient:
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=3)))
    return m.Patient.objects.get()


@pytest.fixture
def empty_chart(db) -> m.Patient:
    return m.Patient.objects.create(fhir_id="empty-1", name="Nobody Charted")


@pytest.fixture
def eager_jobs(settings):
    """Jobs run in this process when the transaction commits: no broker shared with other checkouts."""
    settings.JOBS_EAGER = True
