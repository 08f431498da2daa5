"""The decision support panel of the patient page: cards with their citations, accepted or dismissed with a reason."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from cds.models import CardDecision, RuleFiring
from clinic import models as m
from tests.access import user_with_roles

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _panel(client: Client, patient: m.Patient, **params: str) -> tuple[int, str]:
    response = client.get(f"/cds/patients/{patient.pk}/cards/", params, **HTMX)
    return response.status_code, response.content.decode()


def _card_uuid(html: str, rule: str) -> str:
    return re.search(rf'id="card-([0-9a-f-]+)"[^>]*data-rule="{rule}"', html).group(1)


def test_it_puts_the_panel_on_the_patient_page(logged_in, rosa):
    page = logged_in.get(f"/patients/{rosa.pk}/").content.decode()

    assert 'data-testid="cds-panel"' in page
    assert f'hx-get="/cds/patients/{rosa.pk}/cards/"' in page and f'href="/cds/patients/{rosa.pk}/cards/"' in page


def test_it_shows_the_cards_with_links_to_the_records_they_cite(logged_in, rosa):
    status, html = _panel(logged_in, rosa)

    hba1c = m.Observation.objects.get(patient=rosa, code="4548-4")
    assert status == 200 and html.count('data-testid="cds-card"') == 4
    assert "HbA1c 8.7 % on" in html and f'href="/patients/{rosa.pk}/items/observation/{hba1c.pk}/"' in html
    assert 'hx-target="#detail-panel"' in html
    assert RuleFiring.objects.filter(patient=rosa, hook="patient-view", channel="web").count() == 4
    assert m.AuditEvent.objects.get(action="cds.read", patient=rosa).username == "dr_grey"


def test_it_has_a_page_of_its_own_at_the_same_url(logged_in, rosa):
    response = logged_in.get(f"/cds/patients/{rosa.pk}/cards/")

    assert response.status_code == 200 and b"<html" in response.content and b"Rosa Diaz" in response.content


def test_it_refreshes_only_when_the_chart_changes(logged_in, rosa):
    version = re.search(r'data-version="(\w+)"', _panel(logged_in, rosa)[1]).group(1)
    reads = m.AuditEvent.objects.filter(action="cds.read").count()

    assert _panel(logged_in, rosa, since=version)[0] == 204
    assert m.AuditEvent.objects.filter(action="cds.read").count() == reads
    m.Observation.objects.create(patient=rosa, fhir_id="a1c-2", code="4548-4", value=9.4, unit="%", effective=timezone.now())
    m.TimelineEvent.objects.create(patient=rosa, time=timezone.now(), kind="observation", title="HbA1c", source_id=1)

    status, html = _panel(logged_in, rosa, since=version)
    assert status == 200 and "HbA1c 9.4 %" in html


def test_it_accepts_a_card(logged_in, rosa, clinician):
    card = _card_uuid(_panel(logged_in, rosa)[1], "pneumococcal-vaccine-due")

    response = logged_in.post(f"/cds/cards/{card}/decision/", {"outcome": "accepted"}, **HTMX)

    decision = CardDecision.objects.get()
    assert response.status_code == 200 and b'data-status="accepted"' in response.content
    assert (decision.outcome, decision.user, decision.rule.key, decision.channel) == (
        "accepted",
        clinician,
        "pneumococcal-vaccine-due",
        "web",
    )
    row = m.AuditEvent.objects.get(action="cds.decision")
    assert row.patient_id == rosa.pk and row.detail == {
        "rule": "pneumococcal-vaccine-due",
        "outcome": "accepted",
        "reason": "",
        "basis": "care_team",
    }


def test_it_needs_a_reason_to_dismiss(logged_in, rosa):
    card = _card_uuid(_panel(logged_in, rosa)[1], "tetanus-booster-due")

    response = logged_in.post(f"/cds/cards/{card}/decision/", {"outcome": "dismissed", "reason": ""}, **HTMX)

    assert response.status_code == 400 and b"reason: say why the card is dismissed" in response.content
    assert not CardDecision.objects.exists()


def test_a_dismissed_card_stays_dismissed_until_its_records_change(logged_in, rosa):
    card = _card_uuid(_panel(logged_in, rosa)[1], "tetanus-booster-due")
    logged_in.post(f"/cds/cards/{card}/decision/", {"outcome": "dismissed", "reason": "already-addressed", "comment": "given at the pharmacy"}, **HTMX)  # fmt: skip

    html = _panel(logged_in, rosa)[1]

    tetanus = re.search(r'<article[^>]*data-rule="tetanus-booster-due"[^>]*>', html).group(0)
    assert 'data-status="dismissed"' in tetanus and "Already done or addressed elsewhere (given at the pharmacy)" in html
    assert CardDecision.objects.get().reason == "already-addressed"


def test_it_goes_back_to_the_chart_without_htmx(logged_in, rosa):
    card = _card_uuid(_panel(logged_in, rosa)[1], "tetanus-booster-due")

    response = logged_in.post(f"/cds/cards/{card}/decision/", {"outcome": "accepted"})

    assert response.status_code == 302 and response["Location"] == f"/patients/{rosa.pk}/"


def test_it_refuses_the_panel_and_decisions_outside_the_care_team(logged_in, rosa):
    card = _card_uuid(_panel(logged_in, rosa)[1], "tetanus-booster-due")
    house = Client()
    house.force_login(user_with_roles("dr_house", "clinician"))

    assert _panel(house, rosa)[0] == 403
    assert house.post(f"/cds/cards/{card}/decision/", {"outcome": "accepted"}, **HTMX).status_code == 403
    assert not CardDecision.objects.exists()


def test_it_answers_404_for_an_unknown_card(logged_in, db):
    response = logged_in.post("/cds/cards/00000000-0000-0000-0000-000000000000/decision/", {"outcome": "accepted"}, **HTMX)

    assert response.status_code == 404
