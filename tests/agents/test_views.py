"""The assistant panel: ask with numbered citations that open the record, draft, edit and sign in the browser."""

from __future__ import annotations

import pytest

from agents.models import Draft
from clinic import models as m

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_it_shows_the_panel_on_the_patient_page(logged_in, ada):
    page = logged_in.get(f"/patients/{ada.pk}/")
    assert page.status_code == 200
    assert b'data-testid="assistant-panel"' in page.content


def test_it_answers_with_numbered_citations_that_link_to_the_timeline(logged_in, ada):
    response = logged_in.post(f"/assistant/patients/{ada.pk}/ask/", {"question": "Any allergies?"}, **HTMX)
    allergy = m.AllergyIntolerance.objects.get(patient=ada)
    assert response.status_code == 200
    assert f"/patients/{ada.pk}/items/allergy/{allergy.pk}/".encode() in response.content
    assert b"[1]" in response.content
    history = logged_in.get(f"/assistant/patients/{ada.pk}/", **HTMX)
    assert b"Any allergies?" in history.content


def test_it_refuses_an_empty_question(logged_in, ada):
    assert logged_in.post(f"/assistant/patients/{ada.pk}/ask/", {"question": " "}, **HTMX).status_code == 400


def test_it_drafts_edits_and_signs_from_the_panel(logged_in, ada, clinician, eager_jobs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = logged_in.post(f"/assistant/patients/{ada.pk}/drafts/", {"kind": "progress_note"}, **HTMX)
    assert created.status_code == 200
    draft = Draft.objects.get(patient=ada)
    shown = logged_in.get(f"/assistant/drafts/{draft.pk}/", **HTMX)
    assert b"Sign and file" in shown.content
    texts = {f"section-{i}": " ".join(s["text"] for s in sec["sentences"]) for i, sec in enumerate(draft.sections)}
    texts["section-0"] += " Feels better today."
    edited = logged_in.post(f"/assistant/drafts/{draft.pk}/edit/", texts, **HTMX)
    assert b"not supported" in edited.content
    logged_in.post(f"/assistant/drafts/{draft.pk}/sign/", **HTMX)
    note = m.ClinicalNote.objects.get(author_user=clinician)
    assert "Feels better today." in note.text and note.provenance["edited"] is True


@pytest.mark.parametrize("url", ["/assistant/drafts/999999/", "/assistant/patients/999999/"])
def test_it_answers_404_for_unknown_rows(logged_in, db, url):
    assert logged_in.get(url).status_code == 404


def test_it_lists_the_tools_the_model_called_under_the_answer(logged_in, clinician, ada):
    from agents.models import AssistantExchange

    called = {"name": "lab_trend", "input": "a1c", "facts": 1, "sources": ["observation:1"]}
    exchange = AssistantExchange.objects.create(
        patient=ada, user=clinician, question="HbA1c?", answer={"answer": "", "sentences": [], "tool_calls": [called]}
    )
    page = logged_in.get(f"/assistant/asks/{exchange.pk}/", **HTMX)
    assert "Looked up: lab_trend “a1c” (1 fact)" in page.content.decode()
