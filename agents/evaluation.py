"""The evaluation suites behind `manage.py evaluate`, each through the code paths the product uses:

- search: nDCG@10 of hybrid and keyword search over the knowledge corpus on the judged LiveQA dev questions
  (needs the corpus imported: `import_knowledge …/medquad.jsonl`; skipped, saying so, without it);
- chart_qa: accuracy and citation coverage of the assistant on synthetic charts built for the run and rolled back,
  the right answers read from the FHIR bundles themselves;
- drafts: fact coverage (active problems, medications, allergies of the bundle), uncited and unsupported sentences
  of discharge summaries and progress notes on the same charts;
- deid: recall of PHI and eponyms kept, on tests/clinic/deid_eval and the shared dev set when present.

The run is stored as an EvaluationRun with the backend, model, embedding model and git commit.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents import drafting, grounding, llm
from agents.models import EvaluationRun
from clinic import models as m
from clinic.timeline import KIND_MODELS

SUITES = ("search", "chart_qa", "drafts", "deid")
EVAL_SEED = 9091  # synthetic charts of their own: never the demo cohort's (seed 42) ids
# Which way is better, per figure: +1 higher, -1 lower. Figures not listed are context (counts), not compared.
BETTER = {
    "ndcg10_hybrid": 1, "ndcg10_keyword": 1, "accuracy": 1, "citation_coverage": 1, "citation_validity": 1,
    "fact_coverage": 1, "uncited_rate": -1, "unsupported_rate": -1, "recall": 1, "eponyms_kept": 1,
}  # fmt: skip
TOLERANCE = 0.005  # differences below this are noise of rounding, not a change
Out = Callable[[str], None]


class _Rollback(Exception):
    pass


def evaluation_run(
    *,
    backend: str = "",
    model: str = "",
    suites: tuple[str, ...] = SUITES,
    patients: int = 6,
    data_dir: Path | None = None,
    out: Out = print,
) -> EvaluationRun:
    """Run the suites with this backend and model (default: the configured ones), print and store the figures."""
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise ValueError(f"suite: unknown {', '.join(unknown)}; use {', '.join(SUITES)}")
    data_dir = data_dir or Path(settings.BASE_DIR).parent / "shared" / "data"
    run = EvaluationRun(
        code_version=code_version(), options={"suites": list(suites), "patients": patients, "data": str(data_dir)}
    )
    with _llm(backend, model):
        run.backend, run.model_name = llm.backend_name(), llm.model_name()
        run.embedding_model = _embedding_model()
        out(f"Evaluating {run.backend}{' ' + run.model_name if run.model_name else ''} at {run.code_version[:12]}")
        if "search" in suites:
            _suite(run, "search", lambda: search_suite(data_dir=data_dir), out)
        if {"chart_qa", "drafts"} & set(suites):
            for name, figures in chart_suites(patients=patients, suites=suites, out=out).items():
                run.figures[name] = figures
                _print(name, figures, out)
        if "deid" in suites:
            _suite(run, "deid", lambda: deid_suite(data_dir=data_dir), out)
    run.finished_at = timezone.now()
    run.save()
    out(f"Stored as evaluation run #{run.pk}")
    return run


def _suite(run: EvaluationRun, name: str, measure: Callable[[], dict[str, Any]], out: Out) -> None:
    """Run one suite; a suite that cannot run says why, and the others go on."""
    started = time.perf_counter()
    try:
        figures = measure()
    except SuiteSkipped as e:
        run.skipped[name] = str(e)
        out(f"{name}: skipped: {e}")
        return
    figures["seconds"] = round(time.perf_counter() - started, 1)
    run.figures[name] = figures
    _print(name, figures, out)


def _print(name: str, figures: dict[str, Any], out: Out) -> None:
    out(f"{name}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()))


class SuiteSkipped(Exception):
    """A suite whose inputs are missing here: the message says what to provide."""


@contextlib.contextmanager
def _llm(backend: str, model: str) -> Iterator[None]:
    """The backend and model for this run only (settings are restored after)."""
    saved = settings.LLM_BACKEND, settings.LLM_MODEL
    settings.LLM_BACKEND, settings.LLM_MODEL = backend or saved[0], model or saved[1]
    try:
        yield
    finally:
        settings.LLM_BACKEND, settings.LLM_MODEL = saved


def code_version() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def _embedding_model() -> str:
    from search.retrieval.vector import serving_model

    return serving_model()[0]


# search ------------------------------------------------------------------------------------------------------------


def ndcg10(ranked: list[str], grades: dict[str, int]) -> float:
    """nDCG@10 with graded gains 2^(g-1)-1: grade 1 (incorrect) earns nothing, 4 (excellent) earns 7."""
    gain = lambda g: (2 ** max(g - 1, 0)) - 1  # noqa: E731
    dcg = sum(gain(grades.get(d, 0)) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted((gain(g) for g in grades.values()), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def search_suite(*, data_dir: Path) -> dict[str, Any]:
    from search.models import KnowledgeDocument
    from search.selectors import search_chunks

    folder = data_dir / "knowledge" / "liveqa-dev"
    if not (folder / "qrels.tsv").exists():
        raise SuiteSkipped(f"no judged questions at {folder} (LiveQA dev qrels.tsv and questions.jsonl)")
    grades: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (folder / "qrels.tsv").read_text().splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        grades[qid][doc] = int(grade)
    judged = {doc for docs in grades.values() for doc in docs}
    present = KnowledgeDocument.objects.filter(doc_id__in=judged).count()
    if not present:
        raise SuiteSkipped(
            f"none of the {len(judged)} judged passages is in the knowledge corpus: run "
            f"manage.py import_knowledge {data_dir / 'knowledge' / 'medquad.jsonl'} first"
        )
    questions = [json.loads(x) for x in (folder / "questions.jsonl").read_text().splitlines() if x.strip()]
    questions = [q for q in questions if any(g > 1 for g in grades[q["qid"]].values())]
    figures: dict[str, Any] = {"questions": len(questions), "judged_passages_present": round(present / len(judged), 3)}
    for mode in ("hybrid", "keyword"):
        scores = []
        for q in questions:
            hits = search_chunks(query=q["question"], corpus="knowledge", mode=mode, limit=10)
            scores.append(ndcg10([h.source_id for h in hits], grades[q["qid"]]))
        figures[f"ndcg10_{mode}"] = round(sum(scores) / len(scores), 4)
    return figures


# chart QA and drafts on throwaway synthetic charts ------------------------------------------------------------------


def _clean(text: str) -> str:
    return re.sub(r"\s*\([^()]*\)\s*$", "", text or "").strip().lower()


def _drug(display: str) -> str:
    """The first word of a drug's name that names it ('Metformin hydrochloride 500 MG' -> 'metformin')."""
    words = [w for w in re.findall(r"[A-Za-z]{4,}", display) if w.lower() not in {"oral", "tablet", "actuat", "metered", "dose", "inhaler", "capsule", "delayed", "release"}]  # fmt: skip
    return words[0].lower() if words else display.lower()


def bundle_facts(bundle: dict[str, Any]) -> dict[str, Any]:
    """What a reviewer expects from the chart, read from the FHIR bundle alone."""
    resources = [e["resource"] for e in bundle["entry"]]
    of = lambda rtype: [r for r in resources if r["resourceType"] == rtype]  # noqa: E731
    status = lambda r: ((r.get("clinicalStatus") or {}).get("coding") or [{}])[0].get("code")  # noqa: E731
    display = lambda concept: ((concept or {}).get("coding") or [{}])[0].get("display", "")  # noqa: E731
    hba1c = sorted((o["effectiveDateTime"], o["valueQuantity"]["value"]) for o in of("Observation") if display(o["code"]).startswith("Hemoglobin A1c") and "valueQuantity" in o)  # fmt: skip
    return {
        "patient": next(r["id"] for r in of("Patient")),
        "problems": sorted({_clean(display(c["code"])) for c in of("Condition") if status(c) == "active"}),
        "medications": sorted(
            {_drug(display(r.get("medicationCodeableConcept"))) for r in of("MedicationRequest") if r.get("status") == "active"}
        ),  # fmt: skip
        "allergies": sorted({_clean(display(a["code"])) for a in of("AllergyIntolerance") if status(a) == "active"}),
        "hba1c": f"{hba1c[-1][1]:g}" if hba1c else None,
    }


QUESTIONS = [  # (what, question, expected terms from bundle_facts)
    ("allergies", "Does the patient have any allergies?", lambda f: f["allergies"] or ["no known allergies"]),
    ("medications", "What medications is the patient taking?", lambda f: f["medications"]),
    ("problems", "What are the active problems?", lambda f: f["problems"]),
    ("hba1c", "What is the most recent HbA1c?", lambda f: [f["hba1c"]] if f["hba1c"] else []),
]


def chart_suites(*, patients: int, suites: tuple[str, ...], out: Out) -> dict[str, dict[str, Any]]:
    """Chart QA and drafting on `patients` synthetic charts imported for the run, then rolled back."""
    from clinic.services import fhir_import_bytes
    from clinic.synthetic import synthesize_patient

    started = time.perf_counter()
    qa: dict[str, list[float]] = defaultdict(list)
    drafts: dict[str, list[float]] = defaultdict(list)
    try:
        with transaction.atomic():
            for index in range(patients):
                name, doc = synthesize_patient(seed=EVAL_SEED, index=index)
                fhir_import_bytes(name=name, data=json.dumps(doc).encode(), source="cli")
                facts = bundle_facts(doc)
                patient = m.Patient.objects.get(fhir_id=facts["patient"])
                if "chart_qa" in suites:
                    _chart_qa(patient, facts, qa)
                if "drafts" in suites:
                    _drafts(patient, facts, drafts)
            raise _Rollback
    except _Rollback:
        pass
    seconds = round(time.perf_counter() - started, 1)
    results = {}
    if "chart_qa" in suites:
        results["chart_qa"] = _means(qa) | {"patients": patients, "questions": len(qa["accuracy"]), "seconds": seconds}
    if "drafts" in suites:
        results["drafts"] = _means(drafts) | {"patients": patients, "drafts": len(drafts["fact_coverage"]), "seconds": seconds}
    return results


def _means(values: dict[str, list[float]]) -> dict[str, Any]:
    return {k: round(sum(v) / len(v), 4) for k, v in values.items() if v and not k.startswith("_")}


def _cited_rows_belong(citations: list[dict[str, Any]], patient: m.Patient) -> list[bool]:
    checks = []
    for c in citations:
        model = KIND_MODELS.get(str(c.get("source_type")))
        checks.append(model is not None and model._default_manager.filter(pk=c.get("source_id") or 0, patient=patient).exists())
    return checks


def _chart_qa(patient: m.Patient, facts: dict[str, Any], qa: dict[str, list[float]]) -> None:
    for _, question, expected in QUESTIONS:
        wanted = expected(facts)
        if not wanted:
            continue
        answer = llm.answer(patient=patient, question=question)
        text = answer.get("answer", "").lower()
        qa["accuracy"].append(float(all(term.lower() in text for term in wanted)))
        sentences = answer.get("sentences", [])
        qa["citation_coverage"] += [float(bool(s.get("citations"))) for s in sentences]
        qa["citation_validity"] += [float(ok) for s in sentences for ok in _cited_rows_belong(s.get("citations", []), patient)]


def _drafts(patient: m.Patient, facts: dict[str, Any], drafts: dict[str, list[float]]) -> None:
    wanted = facts["problems"] + facts["medications"] + facts["allergies"]
    for kind in ("discharge_summary", "progress_note"):
        encounter = drafting.encounter_for(patient=patient, encounter_id=None)
        sections = grounding.ground_sections(llm.draft(kind=kind, patient=patient, encounter=encounter))
        sentences = [s for section in sections for s in section["sentences"]]
        text = " ".join(s["text"] for s in sentences).lower()
        if wanted:
            drafts["fact_coverage"].append(sum(1 for w in wanted if w in text) / len(wanted))
        drafts["uncited_rate"] += [float(not s.get("citations")) for s in sentences]
        drafts["unsupported_rate"] += [float(not s.get("supported", True)) for s in sentences]


# de-identification -------------------------------------------------------------------------------------------------


def deid_suite(*, data_dir: Path) -> dict[str, Any]:
    """PHI recall and eponyms kept under the acceptance check's leak rule (tests/clinic/deid_eval/scoring.py)."""
    try:
        from tests.clinic.deid_eval.scoring import score
    except ImportError:
        raise SuiteSkipped("the scoring rule tests/clinic/deid_eval/scoring.py is not in this installation") from None
    from clinic.deid import Deidentifier

    sets = {
        "own": Path(settings.BASE_DIR) / "tests" / "clinic" / "deid_eval" / "notes.jsonl",
        "shared": data_dir / "deid" / "dev.jsonl",
    }
    notes = []
    used = []
    for name, path in sets.items():
        if path.exists():
            notes += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            used.append(name)
    if not notes:
        raise SuiteSkipped("no de-identification set found (tests/clinic/deid_eval/notes.jsonl, ../shared/data/deid/dev.jsonl)")
    by_text = {note["text"]: note for note in notes}
    result = score(notes, lambda text: Deidentifier(secret="evaluate", patient_key=str(by_text[text].get("id"))).text(text))
    return {
        "recall": round(result.recall(), 4),
        "eponyms_kept": round(result.kept, 4),
        "notes": len(notes),
        "phi": sum(result.total.values()),
        "sets": "+".join(used),
    }


# comparing runs ----------------------------------------------------------------------------------------------------


def run_comparison(*, run: EvaluationRun, base: EvaluationRun) -> dict[str, Any]:
    """Each compared figure of `run` against `base`: the change, and whether it is worse. `as_good` is what a switch
    to the new backend, model or embedding waits for: no compared figure worse (beyond TOLERANCE)."""
    rows = []
    for suite, figures in run.figures.items():
        for name, value in figures.items():
            before = base.figures.get(suite, {}).get(name)
            direction = BETTER.get(name)
            if direction is None or not isinstance(value, int | float) or not isinstance(before, int | float):
                continue
            change = value - before
            rows.append(
                {
                    "suite": suite,
                    "figure": name,
                    "value": value,
                    "base": before,
                    "change": change,
                    "worse": change * direction < -TOLERANCE,
                }
            )
    return {"rows": rows, "as_good": bool(rows) and not any(r["worse"] for r in rows)}
