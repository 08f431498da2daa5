"""In a real browser: a clinician rates an answer's sentence and dismisses a card; a steward sees both on the
quality page."""

from __future__ import annotations

import uuid

import pytest

from agents.models import Feedback
from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.cds.factory import bundle, dumps, rosa_resources, starter_rules_ensure


def _log_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.mark.browser
def test_a_rating_and_a_dismissal_reach_the_quality_page(live_server, transactional_db, browser_page):  # noqa: F811
    from playwright.sync_api import expect

    page = browser_page
    starter_rules_ensure()
    expect.set_options(timeout=15_000)  # two shared cores: an htmx round trip can take seconds
    wilson = user_with_roles("dr_wilson", "clinician", password="pw-browser-fb-1")
    user_with_roles("stella", "steward", password="pw-browser-fb-2", is_staff=True)
    fhir_import_bytes(name="rosa.json", data=dumps(bundle(rosa_resources(str(uuid.uuid4())))))
    rosa = m.Patient.objects.get()
    on_care_team(wilson, rosa)
    _log_in(page, f"{live_server.url}/patients/{rosa.pk}/", "dr_wilson", "pw-browser-fb-1")

    page.fill('[data-testid="assistant-question"]', "Does the patient have any allergies?")
    page.click('#assistant button:has-text("Ask")')
    answer = page.locator('[data-testid="assistant-answer"]').last
    expect(answer).to_contain_text("Penicillin")
    answer.locator('[data-testid="feedback"] summary').click()
    form = answer.locator('[data-testid="feedback-form"]').first
    form.locator('[data-testid="feedback-correction"]').fill("Also allergic to sulfa.")
    form.locator('[data-testid="feedback-wrong"]').click()
    expect(answer.locator('[data-testid="feedback-given"]')).to_have_text("Thank you: rated wrong, with your correction.")
    card = page.locator('[data-testid="cds-card"][data-rule="tetanus-booster-due"]')
    card.locator('[data-testid="cds-reason"]').select_option("not-relevant")
    card.locator('[data-testid="cds-dismiss"]').click()
    expect(page.locator('[data-rule="tetanus-booster-due"]')).to_have_attribute("data-status", "dismissed")
    given = Feedback.objects.get()
    assert (given.rating, given.correction, given.user) == ("wrong", "Also allergic to sulfa.", wilson)

    page.click('button:has-text("Log out")')
    _log_in(page, f"{live_server.url}/assistant/quality/", "stella", "pw-browser-fb-2")
    models = page.locator('[data-testid="quality-models"] tbody tr').first
    expect(models).to_contain_text("extractive")
    expect(models.locator("td").nth(7)).to_have_text("100 %")  # negative feedback: 1 of 1
    tetanus = page.locator('[data-testid="quality-rules"] tr[data-rule="tetanus-booster-due"]')
    expect(tetanus).to_contain_text("Not relevant to this patient (1)")
    expect(page.locator("body")).not_to_contain_text("Rosa Diaz")
