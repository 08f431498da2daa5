"""In a real browser: the patient page loads its decision support cards; one is accepted, one dismissed with a reason."""

from __future__ import annotations

import uuid

import pytest

from cds.models import CardDecision
from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.cds.factory import bundle, dumps, rosa_resources, starter_rules_ensure


@pytest.mark.browser
def test_it_accepts_and_dismisses_cards_on_the_patient_page(live_server, transactional_db, browser_page):  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    starter_rules_ensure()
    expect.set_options(timeout=15_000)  # two shared cores: an htmx round trip can take seconds
    cuddy = user_with_roles("dr_cuddy", "clinician", password="pw-browser-cds-1")
    fhir_import_bytes(name="rosa.json", data=dumps(bundle(rosa_resources(str(uuid.uuid4())))))
    rosa = m.Patient.objects.get()
    on_care_team(cuddy, rosa)
    page.goto(f"{live_server.url}/patients/{rosa.pk}/")
    page.fill("#id_username", "dr_cuddy")
    page.fill("#id_password", "pw-browser-cds-1")
    page.click("button[type=submit]")

    cards = page.locator('[data-testid="cds-card"]')
    expect(cards).to_have_count(4)
    above = page.locator('[data-testid="cds-card"][data-rule="diabetes-hba1c-above-target"]')
    expect(above).to_contain_text("HbA1c 8.7 %")
    above.locator('[data-testid="cds-citation"]').first.click()
    expect(page.locator("#detail-panel")).to_contain_text("Diabetes mellitus type 2")

    above.locator('[data-testid="cds-accept"]').click()
    expect(page.locator('[data-rule="diabetes-hba1c-above-target"]')).to_have_attribute("data-status", "accepted")

    tetanus = page.locator('[data-testid="cds-card"][data-rule="tetanus-booster-due"]')
    tetanus.locator('[data-testid="cds-reason"]').select_option("patient-declined")
    tetanus.locator('[data-testid="cds-comment"]').fill("wants to wait")
    tetanus.locator('[data-testid="cds-dismiss"]').click()
    dismissed = page.locator('[data-rule="tetanus-booster-due"]')
    expect(dismissed).to_have_attribute("data-status", "dismissed")
    expect(dismissed).to_contain_text("Patient declined (wants to wait)")

    decisions = {d.rule.key: d for d in CardDecision.objects.select_related("rule")}
    assert decisions["diabetes-hba1c-above-target"].outcome == "accepted"
    assert (decisions["tetanus-booster-due"].outcome, decisions["tetanus-booster-due"].reason) == (
        "dismissed",
        "patient-declined",
    )
    assert all(d.user == cuddy for d in decisions.values())
    page.reload()
    expect(page.locator('[data-rule="tetanus-booster-due"]')).to_have_attribute("data-status", "dismissed")
