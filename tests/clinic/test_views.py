"""The clinician pages: login, patient list, patient page (banner, timeline, detail, trend), audit, bad parameters."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from clinic import models as m
from clinic.services import fhir_import_bytes
from tests.access import on_care_team
from tests.clinic.fhir_factory import bundle, dumps

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ada(clinician) -> m.Patient:
    """Ada Lovelace's chart, Dr Grey on her care team."""
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=3)))
    patient = m.Patient.objects.get()
    on_care_team(clinician, patient)
    return patient


def _item_links(html: str) -> list[str]:
    return re.findall(r'<a href="(/patients/\d+/items/[a-z]+/\d+/)" hx-get="\1"', html)


def test_it_sends_anonymous_visitors_to_the_login_form(db):
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    login = Client().get(response["Location"])
    assert login.status_code == 200 and 'type="password"' in login.content.decode()


def test_it_logs_in_through_the_form(clinician):
    client = Client()
    response = client.post("/accounts/login/", {"username": "dr_grey", "password": "pw-clinician-1"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Meredith Grey" in client.get("/").content.decode()


def test_it_finds_patients_by_name_mrn_and_birth_date(logged_in, ada, clinician):
    for query in ("lovelace", ada.mrn, "1960-05-17"):
        html = logged_in.get("/", {"q": query}, **HTMX).content.decode()
        assert f'href="/patients/{ada.pk}/"' in html, query
        assert "<html" not in html  # the results fragment only
    assert "No patients match" in logged_in.get("/", {"q": "nobody-like-this"}).content.decode()
    audit = m.AuditEvent.objects.filter(user=clinician, action="list.patients").first()
    assert audit is not None and audit.detail == {"query": "nobody-like-this", "count": 0}


def test_it_shows_the_banner_and_the_panels_of_other_apps(logged_in, ada, clinician):
    response = logged_in.get(f"/patients/{ada.pk}/")
    html = response.content.decode()
    for text in ("Ada Lovelace", ada.mrn, "Female", "Penicillin", "Hypertension", "lisinopril 10 MG Oral Tablet"):
        assert text in html, text
    used = {t.name for t in response.templates}
    assert {"clinic/_genomics_panel.html", "search/_patient_search.html", "agents/_assistant_panel.html"} <= used
    assert m.AuditEvent.objects.filter(user=clinician, action="view.patient", patient=ada, channel="web").count() == 1


def test_it_lists_the_timeline_newest_first_grouped_by_encounter(logged_in, ada):
    html = logged_in.get(f"/patients/{ada.pk}/").content.decode()
    times = re.findall(r'<time datetime="([^"]+)"', html)
    assert len(times) == m.TimelineEvent.objects.filter(patient=ada).count() == 8
    assert times == sorted(times, reverse=True)
    assert html.count('class="tl-group tl-encounter"') >= 1 and "Check up" in html
    assert len(_item_links(html)) == 8


def test_it_filters_the_timeline_by_kind_and_date(logged_in, ada, clinician):
    url = f"/patients/{ada.pk}/timeline/"
    labs = logged_in.get(url, {"kind": "observation"}, **HTMX).content.decode()
    assert len(_item_links(labs)) == 3 and all("/items/observation/" in link for link in _item_links(labs))
    window = logged_in.get(url, {"kind": "observation", "date_from": "2021-01-01", "date_to": "2021-12-31"}, **HTMX)
    assert re.findall(r'<time datetime="(\d{4})', window.content.decode()) == ["2021"]
    notes_and_labs = logged_in.get(url, {"kind": ["note", "observation"]}, **HTMX).content.decode()
    assert len(_item_links(notes_and_labs)) == 4
    audit = m.AuditEvent.objects.filter(user=clinician, action="view.timeline", patient=ada).order_by("at")
    assert audit.count() == 3 and audit[1].detail["dates"] == ["2021-01-01", "2021-12-31"]


def test_it_pages_the_timeline_with_a_cursor_as_you_scroll(logged_in, ada):
    start = dt.datetime(2010, 1, 1, tzinfo=dt.UTC)
    m.TimelineEvent.objects.bulk_create(
        m.TimelineEvent(patient=ada, time=start + dt.timedelta(days=i), kind="procedure", title=f"Step {i}", source_id=10_000 + i)
        for i in range(60)
    )
    links, times, url, pages = [], [], f"/patients/{ada.pk}/", 0
    while url:
        html = logged_in.get(url, **(HTMX if pages else {})).content.decode()
        links, times, pages = links + _item_links(html), times + re.findall(r'<time datetime="([^"]+)"', html), pages + 1
        more = re.search(r'class="load-more" href="([^"]+)" hx-get="\1" hx-trigger="revealed"', html)
        url = more.group(1).replace("&amp;", "&") if more else ""
    assert pages == 2 and len(links) == len(set(links)) == 68
    assert times == sorted(times, reverse=True)


def test_it_shows_a_note_in_full_and_a_lab_with_its_range_and_flag(logged_in, ada, clinician):
    note = m.ClinicalNote.objects.get(patient=ada)
    html = logged_in.get(f"/patients/{ada.pk}/items/note/{note.pk}/", **HTMX).content.decode()
    assert "Patient denies chest pain. Hypertension is controlled." in html and "<html" not in html
    lab = m.Observation.objects.filter(patient=ada).order_by("effective").first()
    page = logged_in.get(f"/patients/{ada.pk}/items/observation/{lab.pk}/").content.decode()
    assert "<html" in page and "6.5 %" in page and "4.0 – 5.6 %" in page and 'class="flag flag-H"' in page
    targets = m.AuditEvent.objects.filter(user=clinician, action="view.item", patient=ada).values_list("target", flat=True)
    assert set(targets) == {f"note/{note.pk}", f"observation/{lab.pk}"}


def test_it_draws_a_lab_trend_as_inline_svg(logged_in, ada, clinician):
    html = logged_in.get(f"/patients/{ada.pk}/trend/", {"code": "4548-4"}, **HTMX).content.decode()
    assert "<svg" in html and html.count('<circle class="point point-out"') == 3 and 'class="ref-band"' in html
    assert 'option value="4548-4" selected' in html
    assert "<svg" in logged_in.get(f"/patients/{ada.pk}/").content.decode()  # the default trend on the page
    assert "No dated numeric values" in logged_in.get(f"/patients/{ada.pk}/trend/", {"code": "0000-0"}).content.decode()
    trends = m.AuditEvent.objects.filter(user=clinician, action="view.trend", patient=ada).values_list("target", flat=True)
    assert list(trends.order_by("at")) == ["4548-4", "0000-0"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2021-13-01"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "2022-01-01", "date_to": "2021-01-01"}, "date_from: 2022-01-01 is after date_to"),
        ({"kind": "dreams"}, "kind"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
def test_it_answers_400_naming_a_bad_parameter(logged_in, ada, params, message):
    for url, headers in ((f"/patients/{ada.pk}/", {}), (f"/patients/{ada.pk}/timeline/", HTMX)):
        response = logged_in.get(url, params, **headers)
        assert response.status_code == 400 and message in response.content.decode(), url
    assert not m.AuditEvent.objects.filter(patient=ada).exists()


def test_it_answers_404_for_unknown_patients_and_items(logged_in, clinician, ada):
    other = m.Patient.objects.create(fhir_id="someone-else", name="Someone Else")
    on_care_team(clinician, other)
    note = m.ClinicalNote.objects.get(patient=ada)
    assert logged_in.get("/patients/999999999/").status_code == 404
    assert logged_in.get(f"/patients/{other.pk}/items/note/{note.pk}/").status_code == 404  # Ada's note, not theirs
    assert logged_in.get(f"/patients/{ada.pk}/items/dreams/{note.pk}/").status_code == 404


def test_it_continues_an_encounter_across_pages_without_repeating_its_heading(logged_in, ada):
    encounter = m.Encounter.objects.get(patient=ada)
    start = dt.datetime(2024, 3, 1, 9, 5, tzinfo=dt.UTC)
    m.TimelineEvent.objects.bulk_create(
        m.TimelineEvent(
            patient=ada,
            time=start + dt.timedelta(seconds=i),
            kind="procedure",
            title=f"Step {i}",
            source_id=20_000 + i,
            encounter=encounter,
        )
        for i in range(55)
    )
    first = logged_in.get(f"/patients/{ada.pk}/").content.decode()
    more = re.search(r'class="load-more" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = logged_in.get(more, **HTMX).content.decode()
    assert first.count('class="tl-group-head"') == 1
    assert 'class="tl-group tl-encounter"' in second and 'class="tl-group-head"' not in second
