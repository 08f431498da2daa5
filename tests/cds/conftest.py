from __future__ import annotations

import uuid

import pytest

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team
from tests.cds.factory import bundle, dumps, rosa_resources


@pytest.fixture
def rosa(clinician) -> m.Patient:
    """Rosa Diaz's chart (tests/cds/factory.py), Dr Grey on her care team."""
    fhir_import_bytes(name="rosa.json", data=dumps(bundle(rosa_resources(str(uuid.uuid4())))))
    patient = m.Patient.objects.get(family_name="Diaz")
    on_care_team(clinician, patient)
    return patient
