"""Cohort search: text matches grouped by patient, structured criteria, saved cohorts, CSV export, audit."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client

from clinic import models as m
from search.cohorts import CohortCriteria, LabCriterion, cohort_query, validate_criteria
from search.models import Cohort
from tests.access import on_care_team
from tests.search.factories import index_all, note, patient

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def _years_ago(years: int) -> dt.date:
    today = dt.date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28))


def _a1c(chart: m.Patient, value: float, when: dt.datetime, code: str = "4548-4") -> m.Observation:
    return m.Observation.objects.create(
        fhir_id=f"obs-{chart.pk}-{when:%Y%m%d}-{value}",
        patient=chart,
        code=code,
        code_system="http://loinc.org",
        display="Hemoglobin A1c/Hemoglobin.total in Blood",
        value=value,
        unit="%",
        effective=when,
    )


@pytest.fixture
def population(settings, clinician):
    """Three charts, all on Dr Grey's care team."""
    settings.JOBS_EAGER = True
    ada = patient("Ada Lovelace", given_name="Ada", family_name="Lovelace", sex="female", birth_date=_years_ago(60))
    bob = patient("Bob Marley", given_name="Bob", family_name="Marley", sex="male", birth_date=_years_ago(45))
    cy = patient("Cy Young", given_name="Cy", family_name="Young", sex="male", birth_date=_years_ago(30))
    on_care_team(clinician, ada, bob, cy)
    note(ada, "HPI: crushing chest pain radiating to the left arm.", title="ED note")
    note(ada, "Assessment: chest pain resolved after nitroglycerin.", title="Cardiology")
    note(bob, "HPI: Patient denies chest pain. Ankle sprain.", title="Ortho note")
    note(cy, "Assessment: HTN, well controlled on lisinopril.", title="Clinic")
    for chart, code, display in ((ada, "44054006", "Diabetes mellitus type 2 (disorder)"), (bob, "15777000", "Prediabetes")):
        m.Condition.objects.create(
            fhir_id=f"cond-{chart.pk}", patient=chart, code=code, display=display, clinical_status="active"
        )
    m.MedicationRequest.objects.create(
        fhir_id=f"med-{ada.pk}", patient=ada, code="860975", display="24 HR Metformin hydrochloride 500 MG", status="active"
    )
    _a1c(ada, 6.1, dt.datetime(2023, 1, 1, tzinfo=UTC))
    _a1c(ada, 8.2, dt.datetime(2024, 1, 1, tzinfo=UTC))
    _a1c(bob, 7.4, dt.datetime(2023, 1, 1, tzinfo=UTC))
    _a1c(bob, 6.0, dt.datetime(2024, 1, 1, tzinfo=UTC))
    index_all()
    return ada, bob, cy


def names(result) -> list[str]:
    return [member.patient.name for member in result.members]


def test_a_text_query_groups_matching_passages_by_patient_with_counts_and_snippets(population):
    result = cohort_query(CohortCriteria(q="chest pain"))
    assert names(result) == ["Ada Lovelace", "Bob Marley"]  # most matches first
    ada = result.members[0]
    assert (ada.matches, ada.documents) == (2, 2) and result.matches == 3
    assert ada.hits and all("<mark>" in hit.snippet for hit in ada.hits)


def test_negated_mentions_can_be_excluded(population):
    assert names(cohort_query(CohortCriteria(q="chest pain", exclude_negated=True))) == ["Ada Lovelace"]


def test_synonyms_reach_the_cohort(population):
    assert names(cohort_query(CohortCriteria(q="hypertension"))) == ["Cy Young"]


def test_structured_criteria_alone_select_patients(population):
    assert names(cohort_query(CohortCriteria(sex="male"))) == ["Bob Marley", "Cy Young"]
    assert names(cohort_query(CohortCriteria(age_min=40, age_max=59))) == ["Bob Marley"]
    assert names(cohort_query(CohortCriteria(condition="diabetes"))) == ["Ada Lovelace"]  # whole words: not prediabetes
    assert names(cohort_query(CohortCriteria(condition="15777000"))) == ["Bob Marley"]
    assert names(cohort_query(CohortCriteria(medication="metformin", active_only=True))) == ["Ada Lovelace"]


def test_a_lab_threshold_by_name_or_code_any_or_latest(population):
    any_result = cohort_query(CohortCriteria(lab=LabCriterion("HbA1c", ">", 7)))
    assert names(any_result) == ["Ada Lovelace", "Bob Marley"]
    assert [m.lab_value for m in any_result.members] == [8.2, 7.4]
    latest = cohort_query(CohortCriteria(lab=LabCriterion("4548-4", ">", 7, latest=True)))
    assert names(latest) == ["Ada Lovelace"]
    in_2023 = cohort_query(
        CohortCriteria(lab=LabCriterion("hba1c", ">=", 7), date_from=dt.date(2023, 1, 1), date_to=dt.date(2023, 12, 31))
    )
    assert names(in_2023) == ["Bob Marley"]


def test_text_and_structured_criteria_combine(population):
    result = cohort_query(CohortCriteria(q="chest pain", sex="male"))
    assert names(result) == ["Bob Marley"] and result.members[0].matches == 1


def test_bad_criteria_are_named():
    fields = {
        p["field"] for p in validate_criteria(CohortCriteria(age_min=70, age_max=20, sex="x", lab=LabCriterion("", "!", 1)))
    }
    assert fields == {"age_min", "sex", "lab.test", "lab.op"}
    assert validate_criteria(CohortCriteria())[0]["field"] == "criteria"


def test_the_api_queries_saves_lists_and_exports_with_audit(population, api_client):
    body = {"q": "chest pain", "lab": {"test": "HbA1c", "op": ">", "value": 7}}
    response = api_client.post("/api/v1/cohorts/query", body, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["count"] == 2 and [p["name"] for p in data["patients"]] == ["Ada Lovelace", "Bob Marley"]
    assert data["patients"][0]["snippets"][0]["url"].startswith(f"/patients/{population[0].pk}/items/note/")
    assert data["patients"][0]["lab_value"] == 8.2
    audit = m.AuditEvent.objects.filter(action="cohort.query").latest("id")
    assert sorted(audit.patients) == sorted(p.pk for p in population[:2]) and audit.channel == "api"

    saved = api_client.post("/api/v1/cohorts", {**body, "name": "chest pain + high A1c"}, content_type="application/json")
    assert saved.status_code == 201 and saved.json()["patient_count"] == 2
    cohort_id = saved.json()["id"]
    assert [c["name"] for c in api_client.get("/api/v1/cohorts").json()] == ["chest pain + high A1c"]
    assert api_client.get(f"/api/v1/cohorts/{cohort_id}").json()["count"] == 2

    export = api_client.get(f"/api/v1/cohorts/{cohort_id}/export")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [r["name"] for r in rows] == ["Ada Lovelace", "Bob Marley"] and rows[0]["matches"] == "2"
    assert m.AuditEvent.objects.filter(action="cohort.export").exists()
    assert api_client.delete(f"/api/v1/cohorts/{cohort_id}").status_code == 204
    assert not Cohort.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "criteria"),
        ({"q": "x", "sex": "robot"}, "sex"),
        ({"age_min": -1}, "age_min"),
        ({"age_min": 80, "age_max": 20}, "age_min"),
        ({"lab": {"test": "HbA1c", "op": "~", "value": 7}}, "op"),
        ({"lab": {"test": "HbA1c", "op": ">", "value": "high"}}, "value"),
        ({"q": "x", "limit": 0}, "limit"),
    ],
)
def test_the_api_rejects_bad_criteria_with_a_4xx_naming_the_field(population, api_client, body, field):
    response = api_client.post("/api/v1/cohorts/query", body, content_type="application/json")
    assert response.status_code in (400, 422), response.content
    assert field in response.content.decode()


def test_cohorts_are_private_to_their_owner(population, api_client, steward):
    saved = api_client.post("/api/v1/cohorts", {"q": "chest pain", "name": "mine"}, content_type="application/json").json()
    other = Client()
    other.force_login(steward)
    assert other.get(f"/api/v1/cohorts/{saved['id']}").status_code == 404


def test_the_population_page_searches_saves_and_exports(population, logged_in):
    page = logged_in.get("/search/", {"q": "chest pain", "sex": "female"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Ada Lovelace" in html and "Bob Marley" not in html and "<mark>" in html
    fragment = logged_in.get("/search/", {"q": "chest pain"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Bob Marley" in fragment and "<html" not in fragment
    saved = logged_in.post("/search/cohorts/", {"q": "chest pain", "mode": "keyword", "name": "Chest pain"})
    cohort = Cohort.objects.get(name="Chest pain")
    assert saved.status_code == 302 and cohort.patient_count == 2
    assert "q=chest+pain" in logged_in.get(f"/search/cohorts/{cohort.pk}/")["Location"]
    export = logged_in.get("/search/export.csv", {"q": "chest pain"})
    assert export.status_code == 200 and export.content.decode().count("\n") == 3  # header + 2 patients
    assert logged_in.get("/search/", {"age_min": "abc"}).status_code == 400
    assert m.AuditEvent.objects.filter(action="cohort.query", channel="web").exists()
