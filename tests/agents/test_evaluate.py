"""manage.py evaluate: the suites print their figures and the run is stored with backend, model and code version."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agents.evaluation import ndcg10, run_comparison, search_suite
from agents.models import EvaluationRun
from clinic import models as m
from search import services as search_services
from tests.search.factories import index_all

pytestmark = pytest.mark.django_db


def _evaluate(*args: str) -> str:
    out = StringIO()
    call_command("evaluate", *args, stdout=out)
    return out.getvalue()


def test_it_prints_and_stores_the_figures_of_each_suite(tmp_path: Path):
    printed = _evaluate("--suite", "chart_qa", "--suite", "drafts", "--suite", "deid", "--patients", "2", "--data", str(tmp_path))

    run = EvaluationRun.objects.get()
    assert (run.backend, run.model_name) == ("extractive", "")
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", run.code_version) and run.finished_at is not None
    qa, drafts, deid = run.figures["chart_qa"], run.figures["drafts"], run.figures["deid"]
    assert qa["questions"] >= 6 and qa["accuracy"] == 1.0 and qa["citation_coverage"] > 0.9 and qa["citation_validity"] == 1.0
    assert drafts["drafts"] == 4 and drafts["fact_coverage"] == 1.0 and drafts["uncited_rate"] == 0.0
    assert deid["recall"] > 0.95 and deid["sets"] == "own"  # the shared dev set is not in tmp_path
    assert f"chart_qa: accuracy 1.000, citation_coverage {qa['citation_coverage']:.3f}" in printed
    assert f"Stored as evaluation run #{run.pk}" in printed
    assert not m.Patient.objects.exists()  # the charts it built were rolled back


def test_it_skips_the_search_suite_without_the_corpus_and_says_what_to_do(tmp_path: Path, shared_data: Path):
    printed = _evaluate("--suite", "search", "--data", str(shared_data))

    run = EvaluationRun.objects.get()
    assert "search: skipped: none of the" in printed and "manage.py import_knowledge" in run.skipped["search"]
    assert run.figures == {}


def test_it_measures_search_on_judged_questions(tmp_path: Path):
    docs = [
        {
            "id": "d-insulin",
            "title": "Insulin pumps",
            "text": "An insulin pump delivers insulin through a catheter under the skin.",
        },
        {
            "id": "d-gout",
            "title": "Gout",
            "text": "Gout is arthritis caused by uric acid crystals in a joint, often the big toe.",
        },
        {"id": "d-asthma", "title": "Asthma inhalers", "text": "Inhalers deliver asthma medicine straight to the lungs."},
    ]
    corpus = tmp_path / "kb.jsonl"
    corpus.write_text("\n".join(json.dumps({**d, "source": "test", "url": ""}) for d in docs))
    search_services.knowledge_import(path=corpus)
    index_all()
    judged = tmp_path / "knowledge" / "liveqa-dev"
    judged.mkdir(parents=True)
    (judged / "qrels.tsv").write_text("qid\tdoc\tgrade\n1\td-gout\t4\n1\td-asthma\t1\n2\td-insulin\t3\n")
    (judged / "questions.jsonl").write_text(
        '{"qid": "1", "question": "uric acid crystals in the big toe joint"}\n{"qid": "2", "question": "insulin pump catheter"}\n'
    )

    figures = search_suite(data_dir=tmp_path)

    assert figures["questions"] == 2 and figures["judged_passages_present"] == 1.0
    assert figures["ndcg10_keyword"] == 1.0 and figures["ndcg10_hybrid"] == 1.0


def test_it_compares_a_new_backend_with_the_last_run(tmp_path: Path, openai_backend):
    _evaluate("--suite", "chart_qa", "--patients", "1", "--data", str(tmp_path), "--backend", "extractive")

    printed = _evaluate(
        "--suite", "chart_qa", "--patients", "1", "--data", str(tmp_path), "--backend", "openai", "--model", "served-model"
    )

    first, second = EvaluationRun.objects.order_by("started_at")
    assert (second.backend, second.model_name) == ("openai", "served-model")
    assert second.figures["chart_qa"]["accuracy"] < first.figures["chart_qa"]["accuracy"]  # the fake model says one thing
    assert f"Against run #{first.pk} (extractive): worse than it: chart_qa.accuracy" in printed
    assert openai_backend.requests  # the model was asked


def test_it_refuses_an_unknown_suite_or_patients_out_of_range(db):
    with pytest.raises(CommandError):
        call_command("evaluate", "--suite", "vibes", stdout=StringIO())
    with pytest.raises(CommandError, match="--patients: between 1 and 200"):
        call_command("evaluate", "--patients", "0", stdout=StringIO())


def test_ndcg_counts_grades_with_incorrect_as_no_gain():
    grades = {"a": 4, "b": 2, "c": 1}
    assert ndcg10(["a", "b"], grades) == 1.0
    assert ndcg10(["c", "b", "a"], grades) < ndcg10(["b", "a", "c"], grades) < 1.0
    assert ndcg10(["c"], {"c": 1}) == 0.0


def test_a_run_is_as_good_only_when_no_figure_is_worse():
    base = EvaluationRun(figures={"drafts": {"fact_coverage": 0.9, "uncited_rate": 0.1, "drafts": 10}})
    better = EvaluationRun(figures={"drafts": {"fact_coverage": 0.95, "uncited_rate": 0.0, "drafts": 4}})
    worse = EvaluationRun(figures={"drafts": {"fact_coverage": 0.95, "uncited_rate": 0.2}})

    assert run_comparison(run=better, base=base)["as_good"] is True
    verdict = run_comparison(run=worse, base=base)
    assert verdict["as_good"] is False and [r["figure"] for r in verdict["rows"] if r["worse"]] == ["uncited_rate"]
