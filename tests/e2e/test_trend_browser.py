"""In a real browser at 1400×900: the lab-trend selector stays inside its card, however long a lab's name."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from clinic import models as m
from clinic.services import fhir_import_bytes
from clinic.synthetic import LABS
from tests.clinic.fhir_factory import bundle, dumps


def _bundle_with_a_long_lab_name() -> dict:
    doc = bundle(observations=3)
    egfr = LABS["egfr"]  # the longest LOINC name the demo cohort charts
    for entry in doc["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            entry["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": egfr.code, "display": egfr.display}]}
    return doc


@pytest.mark.browser
def test_it_keeps_the_trend_selector_inside_its_card(live_server, transactional_db, browser_page: Page):
    get_user_model().objects.create_superuser("dr_house", password="pw-browser-1")
    fhir_import_bytes(name="ada.json", data=dumps(_bundle_with_a_long_lab_name()))
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})

    page.goto(f"{live_server.url}/patients/{m.Patient.objects.get().pk}/")
    page.fill("#id_username", "dr_house")
    page.fill("#id_password", "pw-browser-1")
    page.click("button[type=submit]")
    select = page.locator("#trend-code")
    expect(select).to_contain_text("Glomerular filtration rate")

    card = page.locator("section.card", has=select).bounding_box()
    box = select.bounding_box()
    assert card is not None and box is not None
    assert card["x"] <= box["x"] and box["x"] + box["width"] <= card["x"] + card["width"], (box, card)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # nothing pushes the page sideways either
