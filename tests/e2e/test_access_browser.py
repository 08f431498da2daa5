"""In a real browser: a clinician sees only her patients, breaks the glass with a reason to open another chart, and a
steward reviews that event. The pages keep their Content Security Policy (no violation in the console)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.clinic.fhir_factory import bundle, dumps
from tests.conftest import log_in


@pytest.fixture
def ward(transactional_db) -> tuple[m.Patient, m.Patient]:
    fhir_import_bytes(name="ada.json", data=dumps(bundle("ada-1", observations=2)))
    bob_bundle = bundle("bob-1", observations=2)
    bob_bundle["entry"][0]["resource"]["name"] = [{"given": ["Bob"], "family": "Marley"}]
    fhir_import_bytes(name="bob.json", data=dumps(bob_bundle))
    ada, bob = m.Patient.objects.get(fhir_id="ada-1"), m.Patient.objects.get(fhir_id="bob-1")
    on_care_team(user_with_roles("dr_grey", "clinician", password="pw-browser-grey1"), ada)
    user_with_roles("sam", "steward", password="pw-browser-steward1", is_staff=True)
    return ada, bob


@pytest.mark.browser
def test_a_clinician_sees_her_patients_and_breaks_the_glass_for_another(live_server, ward, browser_page: Page):
    ada, bob = ward
    page = browser_page
    log_in(page, live_server.url, "dr_grey", "pw-browser-grey1")
    expect(page.locator("h1")).to_have_text("Patients")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results")).to_contain_text("Ada Lovelace")
    expect(page.locator("#results")).not_to_contain_text("Bob Marley")

    page.goto(f"{live_server.url}/patients/{bob.pk}/")
    expect(page.locator("h1")).to_have_text("This chart is not on your care team")
    expect(page.locator("main")).not_to_contain_text("Marley")
    page.fill("#id_reason", "Covering the emergency department tonight")
    page.click("text=Break the glass and open the chart")
    expect(page.locator(".banner h1")).to_have_text("Bob Marley")
    expect(page.locator("#timeline-list .tl-item").first).to_be_visible()

    event = m.BreakGlass.objects.get(patient=bob)
    assert event.username == "dr_grey" and event.reason == "Covering the emergency department tonight"
    assert (
        m.AuditEvent.objects.filter(patient=bob, username="dr_grey", action="view.patient").get().detail["basis"] == "break_glass"
    )
    assert not [e for e in page.console_errors if "Content Security Policy" in e]  # type: ignore[attr-defined]


@pytest.mark.browser
def test_a_steward_reviews_a_break_the_glass_event(live_server, ward, browser_page: Page):
    _, bob = ward
    grey = m.CareTeamMember.objects.get().user
    m.BreakGlass.objects.create(
        patient=bob, user=grey, username="dr_grey", reason="Covering the emergency department", expires_at=timezone.now()
    )
    page = browser_page
    log_in(page, live_server.url, "sam", "pw-browser-steward1")
    page.click("nav >> text=Audit")
    expect(page.locator("h1")).to_have_text("Audit trail")
    page.click("text=Break-the-glass queue")
    row = page.locator(".break-glass-queue tbody tr").first
    expect(row).to_contain_text("Covering the emergency department")
    row.locator("select[name=review]").select_option("follow_up")
    row.locator("textarea[name=note]").fill("Ask why: not on the ED rota")
    row.locator("text=Save review").click()
    expect(page.locator(".break-glass-queue")).to_contain_text("Nothing to review.")

    event = m.BreakGlass.objects.get()
    assert (event.review, event.review_note, event.reviewed_by.username) == ("follow_up", "Ask why: not on the ED rota", "sam")
    page.goto(f"{live_server.url}/patients/{bob.pk}/")
    expect(page.locator("h1")).to_have_text("This chart is not on your care team")  # a steward reads no chart
    assert not [e for e in page.console_errors if "Content Security Policy" in e]  # type: ignore[attr-defined]
