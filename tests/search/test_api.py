from __future__ import annotations

import pytest

from clinic.models import AuditEvent
from tests.access import on_care_team
from tests.search.factories import index_all, note, patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def chart(settings, clinician):
    settings.JOBS_EAGER = True
    ada = patient("Ada Lovelace")
    on_care_team(clinician, ada)
    written = note(ada, "HPI: crushing chest pain since this morning.\nPlan: troponin, ECG.", title="ED note")
    index_all()
    return ada, written


def test_it_returns_ranked_results_and_audits_the_search(api_client, clinician, chart):
    ada, written = chart
    response = api_client.get("/api/v1/search", {"q": "chest pain", "patient": ada.pk, "mode": "hybrid"})
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["source_type"] == "note" and result["source_id"] == str(written.pk) and result["patient"] == ada.pk
    assert "<mark>" in result["snippet"] and result["url"] == f"/patients/{ada.pk}/items/note/{written.pk}/"
    event = AuditEvent.objects.get(action="search")
    assert event.user == clinician and event.patient_id == ada.pk
    assert event.detail["query"] == "chest pain" and event.patients == [ada.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "limit": "-1"},
        {"q": "x", "limit": "abc"},
        {"q": "x", "limit": "100000"},
        {"q": "x", "date_from": "notadate"},
        {"q": "x", "date_to": "2024-13-45"},
        {"q": "x", "mode": "magic"},
        {"q": "x", "corpus": "emails"},
        {"q": "x", "kinds": "note,xray"},
        {"q": "x", "patient": "abc"},
        {"q": "x", "patient": "-3"},
        {"q": "x", "exclude_negated": "perhaps"},
        {"q": "x", "date_from": "2025-01-02", "date_to": "2025-01-01"},
        {"q": ""},
        {"q": "   "},
        {},
    ],
)
def test_it_answers_bad_parameters_with_4xx(api_client, chart, params):
    response = api_client.get("/api/v1/search", params)
    assert 400 <= response.status_code < 500, response.content


def test_it_answers_an_unknown_patient_with_404(api_client, chart):
    assert api_client.get("/api/v1/search", {"q": "pain", "patient": 99999999}).status_code == 404


def test_it_refuses_anonymous_callers(client, chart):
    assert client.get("/api/v1/search", {"q": "pain"}).status_code == 401


def test_it_serves_live_results_on_the_patient_page(logged_in, chart):
    ada, written = chart
    response = logged_in.get(f"/search/patients/{ada.pk}/", {"q": "troponin"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert f"/patients/{ada.pk}/items/note/{written.pk}/" in body and "<mark>troponin</mark>" in body
    assert "<html" not in body
    page = logged_in.get(f"/search/patients/{ada.pk}/", {"q": "troponin"})
    assert page.status_code == 200 and b"<html" in page.content and b'hx-trigger="input changed delay:300ms' in page.content
    assert AuditEvent.objects.filter(action="search", patient=ada).count() == 2
