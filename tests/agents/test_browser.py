"""In a real browser: ask a question, open a citation; draft, edit and sign a note."""

from __future__ import annotations

import pytest

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.clinic.fhir_factory import bundle, dumps


@pytest.mark.browser
def test_it_asks_opens_a_citation_then_drafts_edits_and_signs(live_server, transactional_db, browser_page, settings):
    page = browser_page
    from playwright.sync_api import expect

    settings.JOBS_EAGER = True
    house = user_with_roles("dr_house", "clinician", password="pw-browser-1")
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=3)))
    ada = m.Patient.objects.get()
    on_care_team(house, ada)
    page.goto(f"{live_server.url}/patients/{ada.pk}/")
    page.fill("#id_username", "dr_house")
    page.fill("#id_password", "pw-browser-1")
    page.click("button[type=submit]")

    page.fill('[data-testid="assistant-question"]', "Does the patient have any allergies?")
    page.click('#assistant button:has-text("Ask")')
    answer = page.locator('[data-testid="assistant-answer"]').last
    expect(answer).to_contain_text("Penicillin")
    answer.locator('[data-testid="citation"]').first.click()
    expect(page.locator("#detail-panel")).to_contain_text("Penicillin")

    page.select_option('[data-testid="draft-kind"]', "discharge_summary")
    page.click('#assistant button:has-text("Draft")')
    draft = page.locator('[data-testid="draft"]').first
    expect(draft).to_have_attribute("data-status", "ready")
    draft.locator("summary", has_text="Edit").click()  # not "Rate the sentences"
    section = draft.locator('[data-testid="draft-section"]').first
    section.fill(section.input_value() + " Tolerated diet well.")
    draft.locator('button:has-text("Save edits")').click()
    expect(page.locator('[data-testid="draft"]').first).to_contain_text("not supported")
    page.locator('[data-testid="draft-sign"]').first.click()
    expect(page.locator('[data-testid="draft"]').first).to_have_attribute("data-status", "signed")
    note = m.ClinicalNote.objects.get(author_user__username="dr_house")
    assert "Tolerated diet well." in note.text
