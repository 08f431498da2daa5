"""In a real browser: open a series and step through its slices with the buttons, the arrow keys and the wheel."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from clinic import models as m
from clinic.imaging import dicom_import
from clinic.services import fhir_import_bytes
from tests.access import on_care_team, user_with_roles
from tests.clinic.fhir_factory import bundle, dumps


@pytest.mark.browser
def test_it_steps_through_the_slices_of_a_series(
    live_server, transactional_db, browser_page: Page, shared_data: Path, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    house = user_with_roles("dr_house", "clinician", password="pw-browser-1")
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=1)))
    ada = m.Patient.objects.get()
    on_care_team(house, ada)
    dicom_import(paths=sorted((shared_data / "dicom" / "dcm_qa_nih").glob("*/*"))[:1], patient=ada)
    series = m.ImagingSeries.objects.get()
    page = browser_page

    page.goto(f"{live_server.url}/patients/{ada.pk}/imaging/series/{series.pk}/")
    page.fill("#id_username", "dr_house")
    page.fill("#id_password", "pw-browser-1")
    page.click("button[type=submit]")
    counter, image = page.locator("#slice-counter"), page.locator("#slice-image")
    expect(counter).to_have_text(f"1 / {series.num_instances}")
    expect(page.locator("#slice-tags")).to_contain_text("InstanceNumber")

    page.click("#slice-next")
    expect(counter).to_have_text(f"2 / {series.num_instances}")
    page.keyboard.press("ArrowDown")
    expect(counter).to_have_text(f"3 / {series.num_instances}")
    page.keyboard.press("ArrowUp")
    expect(counter).to_have_text(f"2 / {series.num_instances}")
    image.hover()
    page.mouse.wheel(0, 120)
    expect(counter).to_have_text(f"3 / {series.num_instances}")
    page.click("#slice-prev")
    expect(counter).to_have_text(f"2 / {series.num_instances}")

    # The slice really loaded: a decoded PNG with a width, and the tags follow the slice.
    page.wait_for_function("() => { const i = document.getElementById('slice-image'); return i.complete && i.naturalWidth > 0; }")
    second = list(series.instances.all())[1]
    expect(page.locator("#slice-tags")).to_contain_text(str(second.tags["InstanceNumber"]))
