"""The steward's quality page: per week, per backend and model, per rule, and evaluation runs compared."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import AssistantExchange, Draft, EvaluationRun, Feedback
from agents.quality import iso_week
from cds.models import CardDecision, Rule, RuleFiring
from clinic import models as m


@pytest.fixture
def steward_client(steward) -> Client:
    client = Client()
    client.force_login(steward)
    return client


def _sentence(text: str, supported: bool) -> dict:
    return {"text": text, "citations": [], "supported": supported}


def _activity(ada: m.Patient, clinician) -> None:
    """A week of work: two drafts (one with an unsupported sentence), one signed after edits, three ratings, cards."""
    generated = [{"title": "Course", "sentences": [_sentence("A.", True), _sentence("B.", False)]}]
    Draft.objects.create(patient=ada, kind="progress_note", backend="openai", model_name="m1", status="ready", generated=generated, sections=generated)  # fmt: skip
    note = m.ClinicalNote.objects.create(
        patient=ada, fhir_id="signed-1", provenance={"edits": {"distance": 6, "generated_words": 40, "sections": [{"distance": 6}, {"distance": 0}]}}
    )  # fmt: skip
    Draft.objects.create(
        patient=ada, kind="progress_note", backend="openai", model_name="m1", status="signed", signed_at=timezone.now(),
        note=note, generated=[{"title": "Course", "sentences": [_sentence("C.", True)]}],
    )  # fmt: skip
    exchange = AssistantExchange.objects.create(patient=ada, user=clinician, question="q", backend="extractive")
    for i, rating in enumerate(["helpful", "wrong", "unsupported"]):
        Feedback.objects.create(
            patient=ada, exchange=exchange, sentence=i, text="x", rating=rating, user=clinician, backend="extractive"
        )
    rule = Rule.objects.get(key="influenza-vaccine-due")
    firings = [
        RuleFiring.objects.create(rule=rule, patient=ada, hook="patient-view", fingerprint=f, indicator="info", summary="due")
        for f in "aab"
    ]
    CardDecision.objects.create(firing=firings[0], rule=rule, patient=ada, fingerprint="a", outcome="accepted")
    CardDecision.objects.create(
        firing=firings[2], rule=rule, patient=ada, fingerprint="b", outcome="dismissed", reason="patient-declined"
    )


def test_it_shows_the_figures_per_week_backend_model_and_rule(steward_client, ada, clinician):
    _activity(ada, clinician)

    response = steward_client.get("/assistant/quality/")

    assert response.status_code == 200
    week = iso_week(timezone.now())
    models = {(r.week, r.backend, r.model): r for r in response.context["models"]}
    drafted = models[(week, "openai", "m1")]
    assert (drafted.drafts, drafted.sentences, drafted.unsupported_rate) == (2, 3, 1 / 3)
    assert (drafted.signed, drafted.edit_distance, drafted.edit_share) == (1, 3.0, 6 / 40)
    asked = models[(week, "extractive", "")]
    assert (asked.feedback, asked.negative_rate) == (3, 2 / 3)
    flu = next(r for r in response.context["rules"] if r.rule == "influenza-vaccine-due")
    assert (flu.week, flu.shown, flu.firings, flu.accepted, flu.dismissed, flu.acceptance) == (week, 2, 3, 1, 1, 0.5)
    html = response.content.decode()
    assert "Patient declined (1)" in html and ada.name not in html  # figures, never a patient


def test_it_compares_evaluation_runs(steward_client, db):
    old = EvaluationRun.objects.create(
        backend="extractive", code_version="a" * 40, figures={"chart_qa": {"accuracy": 1.0, "citation_coverage": 0.95}}
    )
    new = EvaluationRun.objects.create(
        backend="openai", model_name="m2", code_version="b" * 40, started_at=timezone.now() + dt.timedelta(minutes=1),
        figures={"chart_qa": {"accuracy": 0.75, "citation_coverage": 0.99}},
    )  # fmt: skip

    html = steward_client.get("/assistant/quality/").content.decode()

    assert f"worse than #{old.pk}" in html and "chart_qa.accuracy 1.000 → 0.750" in html
    html = steward_client.get(f"/assistant/quality/?base={new.pk}").content.decode()
    assert f"at least as good as #{new.pk}" not in html.split(f'data-run="{new.pk}"')[1].split("</tr>")[0]  # not against itself


def test_it_is_for_stewards(logged_in, db):
    assert logged_in.get("/assistant/quality/").status_code == 403


@pytest.mark.parametrize(
    ("query", "message"), [("weeks=0", "weeks: between 1 and 104"), ("weeks=many", "weeks: expected a whole number")]
)
def test_it_names_a_bad_parameter(steward_client, query, message):
    response = steward_client.get(f"/assistant/quality/?{query}")

    assert response.status_code == 400 and message in response.content.decode()


def test_a_superuser_opens_the_feedback_and_evaluation_tables(superuser, ada, clinician):
    exchange = AssistantExchange.objects.create(patient=ada, user=clinician, question="q")
    given = Feedback.objects.create(patient=ada, exchange=exchange, sentence=0, text="x", rating="wrong", user=clinician)
    run = EvaluationRun.objects.create(backend="extractive", code_version="unknown", figures={"deid": {"recall": 1.0}})
    client = Client()
    client.force_login(superuser)

    for name, row in (("feedback", given), ("evaluationrun", run)):
        assert client.get(f"/admin/agents/{name}/", {"q": "a"}).status_code == 200, name
        assert client.get(f"/admin/agents/{name}/{row.pk}/change/").status_code == 200, name


def test_a_steward_reads_evaluation_runs_but_not_feedback(steward_client, db):
    assert steward_client.get("/admin/agents/evaluationrun/").status_code == 200
    assert steward_client.get("/admin/agents/feedback/").status_code == 403
