"""In a real browser: log in, open a patient, read the timeline, filter it to notes, open a note."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.clinic.fhir_factory import bundle, dumps


@pytest.mark.browser
def test_it_walks_from_login_to_a_note_in_the_timeline(live_server, transactional_db, browser_page: Page):
    house = user_with_roles("dr_house", "clinician", password="pw-browser-1", first_name="Greg", last_name="House")
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=3)))
    ada = m.Patient.objects.get()
    on_care_team(house, ada)
    page = browser_page

    page.goto(f"{live_server.url}/")
    expect(page.locator('input[type="password"]')).to_be_visible()
    page.fill("#id_username", "dr_house")
    page.fill("#id_password", "pw-browser-1")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Patients")

    page.click("text=Ada Lovelace")
    expect(page.locator(".banner h1")).to_have_text("Ada Lovelace")
    items = page.locator("#timeline-list .tl-item a")
    expect(items).to_have_count(8)

    page.check('input[name="kind"][value="note"]')
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-kind", "note")
    assert page.url == f"{live_server.url}/patients/{ada.pk}/"  # filtered in place by htmx

    items.first.click()
    expect(page.locator("#detail-panel .note-text")).to_contain_text("Patient denies chest pain. Hypertension is controlled.")
    assert page.url == f"{live_server.url}/patients/{ada.pk}/"

    actions = set(m.AuditEvent.objects.filter(patient=ada, user__username="dr_house").values_list("action", flat=True))
    assert {"view.patient", "view.timeline", "view.item"} <= actions
