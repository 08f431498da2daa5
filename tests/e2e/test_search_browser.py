"""In a real browser: live search as you type on a patient page, and a population search saved as a cohort."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from clinic import models as m
from search.models import Cohort
from tests.access import on_care_team, user_with_roles
from tests.search.factories import index_all, note, patient


def _log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/")
    page.fill("#id_username", "dr_search")
    page.fill("#id_password", "pw-browser-2")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Patients")


@pytest.fixture
def charts(settings, transactional_db):
    settings.JOBS_EAGER = True
    ada = patient("Ada Lovelace", given_name="Ada", family_name="Lovelace", sex="female")
    bob = patient("Bob Marley", given_name="Bob", family_name="Marley", sex="male")
    doctor = user_with_roles("dr_search", "clinician", password="pw-browser-2", first_name="Sam", last_name="Search")
    on_care_team(doctor, ada, bob)
    note(ada, "HPI: crushing chest pain radiating to the left arm.", title="ED note")
    note(ada, "Assessment: Hypertension, poorly controlled. Plan: start lisinopril.", title="Clinic visit")
    note(bob, "HPI: Patient denies chest pain. Ankle sprain after a fall.", title="Ortho note")
    index_all()
    return ada, bob


@pytest.mark.browser
def test_live_search_on_a_patient_page_shows_results_as_you_type(live_server, charts, browser_page: Page):
    ada, _ = charts
    page = browser_page
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/patients/{ada.pk}/")
    box = page.get_by_test_id("chart-search-input")
    box.press_sequentially("HTN", delay=60)  # the abbreviation finds the note that spells it out
    results = page.get_by_test_id("chart-search-results")
    expect(results.locator(".search-result").first).to_contain_text("Clinic visit")
    expect(results.locator("mark").first).to_be_visible()
    assert page.url == f"{live_server.url}/patients/{ada.pk}/"  # no page load: htmx swapped the results in
    results.locator(".search-result a").first.click()
    expect(page.locator("body")).to_contain_text("poorly controlled")
    assert m.AuditEvent.objects.filter(action="search", patient=ada, user__username="dr_search").exists()


@pytest.mark.browser
def test_population_search_groups_patients_and_saves_a_cohort(live_server, charts, browser_page: Page):
    page = browser_page
    _log_in(page, live_server.url)
    page.click("nav >> text=Search")
    page.fill("#id_q", "chest pain")
    page.click("form[data-testid=cohort-form] button[type=submit]")
    expect(page.get_by_test_id("cohort-count")).to_have_text("2")
    rows = page.locator("[data-testid=cohort-table] tbody tr")
    expect(rows).to_have_count(2)
    page.check("#id_exclude_negated")
    page.click("form[data-testid=cohort-form] button[type=submit]")
    expect(page.get_by_test_id("cohort-count")).to_have_text("1")
    expect(rows.first).to_contain_text("Ada Lovelace")
    page.get_by_test_id("cohort-name").fill("Chest pain, affirmed")
    page.click("text=Save cohort")
    expect(page.get_by_test_id("saved-cohorts")).to_contain_text("Chest pain, affirmed")
    cohort = Cohort.objects.get()
    assert cohort.patient_count == 1 and cohort.criteria["exclude_negated"] is True
    with page.expect_download() as download:
        page.get_by_test_id("cohort-export").click()
    assert download.value.suggested_filename.endswith(".csv")
