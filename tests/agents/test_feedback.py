"""Clinicians rate answer and draft sentences (helpful, wrong, unsupported, with a correction); signing a draft
records how much of each section the clinician changed (word-level edit distance)."""

from __future__ import annotations

import pytest
from django.test import Client

from agents.edits import section_edits, word_distance, words
from agents.models import AssistantExchange, Draft, Feedback
from clinic import models as m
from tests.access import user_with_roles

HTMX = {"HTTP_HX_REQUEST": "true"}


def _ask(client: Client, patient: m.Patient, question: str) -> AssistantExchange:
    client.post(f"/assistant/patients/{patient.pk}/ask/", {"question": question}, **HTMX)
    return AssistantExchange.objects.filter(patient=patient).latest("id")


def _draft(client: Client, patient: m.Patient, capture) -> Draft:
    with capture(execute=True):
        client.post(f"/assistant/patients/{patient.pk}/drafts/", {"kind": "progress_note"}, **HTMX)
    return Draft.objects.get(patient=patient)


def test_it_offers_feedback_under_each_answer_sentence(logged_in, ada):
    exchange = _ask(logged_in, ada, "Any allergies?")

    html = logged_in.get(f"/assistant/asks/{exchange.pk}/", **HTMX).content.decode()

    assert html.count('data-testid="feedback-form"') == len(exchange.answer["sentences"]) > 0
    assert f'name="exchange" value="{exchange.pk}"' in html


def test_it_rates_a_sentence_of_an_answer(logged_in, ada, clinician):
    exchange = _ask(logged_in, ada, "Any allergies?")

    response = logged_in.post("/assistant/feedback/", {"exchange": exchange.pk, "sentence": 0, "rating": "wrong", "correction": "She is allergic to sulfa too."}, **HTMX)  # fmt: skip

    assert response.status_code == 200 and b"rated wrong, with your correction" in response.content
    given = Feedback.objects.get()
    assert (given.user, given.patient, given.exchange, given.draft) == (clinician, ada, exchange, None)
    assert (
        given.text == exchange.answer["sentences"][0]["text"] and given.citations == exchange.answer["sentences"][0]["citations"]
    )
    assert (given.backend, given.correction) == ("extractive", "She is allergic to sulfa too.")
    row = m.AuditEvent.objects.get(action="feedback")
    assert (row.patient_id, row.target, row.detail["rating"], row.detail["corrected"]) == (
        ada.pk,
        f"exchange:{exchange.pk}#0",
        "wrong",
        True,
    )


def test_a_second_rating_of_the_same_sentence_replaces_the_first(logged_in, ada):
    exchange = _ask(logged_in, ada, "Any allergies?")

    for rating in ("wrong", "helpful"):
        logged_in.post("/assistant/feedback/", {"exchange": exchange.pk, "sentence": 0, "rating": rating}, **HTMX)

    assert list(Feedback.objects.values_list("rating", flat=True)) == ["helpful"]


def test_it_rates_a_draft_sentence(logged_in, ada, clinician, eager_jobs, django_capture_on_commit_callbacks):
    draft = _draft(logged_in, ada, django_capture_on_commit_callbacks)
    html = logged_in.get(f"/assistant/drafts/{draft.pk}/", **HTMX).content.decode()
    assert html.count('data-testid="feedback-form"') == sum(len(s["sentences"]) for s in draft.sections)

    response = logged_in.post(
        "/assistant/feedback/", {"draft": draft.pk, "section": 1, "sentence": 0, "rating": "unsupported"}, **HTMX
    )

    given = Feedback.objects.get()
    assert response.status_code == 200 and (given.draft, given.section, given.sentence) == (draft, 1, 0)
    assert given.text == draft.sections[1]["sentences"][0]["text"]
    assert m.AuditEvent.objects.get(action="feedback").target == f"draft:{draft.pk}/1#0"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"sentence": 0, "rating": "great"}, "rating: expected one of helpful, wrong, unsupported"),
        ({"sentence": 99, "rating": "wrong"}, "sentence: expected 0 to"),
        ({"sentence": "first", "rating": "wrong"}, "sentence: expected a whole number"),
        ({"rating": "wrong"}, "sentence: say which sentence"),
    ],
)
def test_it_names_the_field_of_bad_feedback(logged_in, ada, form, message):
    exchange = _ask(logged_in, ada, "Any allergies?")

    response = logged_in.post("/assistant/feedback/", {"exchange": exchange.pk, **form}, **HTMX)

    assert response.status_code == 400 and message in response.content.decode()
    assert not Feedback.objects.exists()


def test_it_refuses_feedback_on_someone_elses_answer_or_an_unreadable_draft(logged_in, ada, clinician):
    exchange = _ask(logged_in, ada, "Any allergies?")
    draft = Draft.objects.create(patient=ada, kind="progress_note", created_by=clinician, status="ready", sections=[{"title": "A", "sentences": [{"text": "x.", "citations": []}]}])  # fmt: skip
    house = Client()
    house.force_login(user_with_roles("dr_house", "clinician"))

    assert (
        house.post("/assistant/feedback/", {"exchange": exchange.pk, "sentence": 0, "rating": "wrong"}, **HTMX).status_code == 404
    )
    assert (
        house.post(
            "/assistant/feedback/", {"draft": draft.pk, "section": 0, "sentence": 0, "rating": "wrong"}, **HTMX
        ).status_code
        == 403
    )
    assert not Feedback.objects.exists()


def test_it_goes_back_to_the_chart_without_htmx(logged_in, ada):
    exchange = _ask(logged_in, ada, "Any allergies?")

    response = logged_in.post("/assistant/feedback/", {"exchange": exchange.pk, "sentence": 0, "rating": "helpful"})

    assert response.status_code == 302 and response["Location"] == f"/patients/{ada.pk}/#assistant"


def test_signing_records_the_words_changed_in_each_section(
    logged_in, ada, clinician, eager_jobs, django_capture_on_commit_callbacks
):
    draft = _draft(logged_in, ada, django_capture_on_commit_callbacks)
    texts = {f"section-{i}": " ".join(s["text"] for s in sec["sentences"]) for i, sec in enumerate(draft.sections)}
    texts["section-0"] += " Feels better today."
    logged_in.post(f"/assistant/drafts/{draft.pk}/edit/", texts, **HTMX)

    logged_in.post(f"/assistant/drafts/{draft.pk}/sign/", **HTMX)

    edits = m.ClinicalNote.objects.get(author_user=clinician).provenance["edits"]
    assert edits["unit"] == "words" and edits["distance"] == 3
    assert [s["distance"] for s in edits["sections"]] == [3] + [0] * (len(draft.sections) - 1)
    assert edits["sections"][0]["signed_words"] == edits["sections"][0]["generated_words"] + 3
    assert m.AuditEvent.objects.get(action="draft.sign").detail["edit_distance"] == 3


def test_it_counts_word_insertions_deletions_and_substitutions():
    assert word_distance(words("HbA1c 7.1 % on 2026-01-02."), words("HbA1c 7.4 % on 2026-01-02.")) == 1
    assert word_distance(words("a b c"), words("a c")) == 1
    assert word_distance(words(""), words("new words here")) == 3
    assert word_distance(words("kitten sat"), words("sitting sat down")) == 2
    both = section_edits(
        generated=[{"title": "A", "sentences": [{"text": "one two"}]}], signed=[{"title": "B", "sentences": [{"text": "three"}]}]
    )
    assert [(s["title"], s["distance"]) for s in both["sections"]] == [("A", 2), ("B", 1)] and both["distance"] == 3
