"""Reads of the chart: patient search, banner, lab trends."""

from __future__ import annotations

import pytest

from clinic import models as m
from clinic.selectors import lab_trend, patient_banner, patient_list
from clinic.services import fhir_import_bytes
from tests.clinic.fhir_factory import bundle, dumps


@pytest.fixture
def ada(db) -> m.Patient:
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=4)))
    return m.Patient.objects.get()


def test_it_finds_a_patient_by_name_mrn_fhir_id_or_birth_date(ada):
    everyone = m.Patient.objects.all()
    assert list(patient_list(patients=everyone, query="ada love")) == [ada]
    assert list(patient_list(patients=everyone, query=ada.mrn.lower())) == [ada]
    assert list(patient_list(patients=everyone, query=ada.fhir_id)) == [ada]
    assert list(patient_list(patients=everyone, query="1960-05-17")) == [ada]
    assert list(patient_list(patients=everyone, query="1960-05-18")) == []
    assert list(patient_list(patients=everyone, query="grace hopper")) == []
    assert list(patient_list(patients=everyone.exclude(pk=ada.pk), query="ada love")) == []  # only among the readable


def test_it_puts_allergies_active_problems_and_medications_in_the_banner(ada):
    banner = patient_banner(patient=ada)
    assert [a.display for a in banner.allergies] == ["Penicillin"]
    assert [c.display for c in banner.problems] == ["Hypertension"]
    assert [med.display for med in banner.medications] == ["lisinopril 10 MG Oral Tablet"]


def test_it_leaves_resolved_problems_and_stopped_medications_out_of_the_banner(ada):
    m.Condition.objects.update(clinical_status="resolved")
    m.MedicationRequest.objects.update(status="stopped")
    banner = patient_banner(patient=ada)
    assert banner.problems == [] and banner.medications == []


def test_it_returns_a_lab_trend_in_time_order(ada):
    points = lab_trend(patient=ada, code="4548-4")
    assert [round(value, 1) for _, value, _, _ in points] == [6.5, 6.6, 6.7, 6.8]
    assert [t for t, *_ in points] == sorted(t for t, *_ in points)
