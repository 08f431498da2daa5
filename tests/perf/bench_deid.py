"""De-identification: recall per PHI type, eponym phrases kept and notes/second, for Carebase's engine and for
Presidio's AnalyzerEngine, on the shared dev set (../shared/data/deid/dev.jsonl, when present) and on Carebase's own
set (tests/clinic/deid_eval/notes.jsonl). Leaks are counted as the acceptance check counts them."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.clinic.deid_eval.scoring import Score, score  # noqa: E402

SETS = {
    "shared dev set": ROOT.parent / "shared" / "data" / "deid" / "dev.jsonl",
    "Carebase's own set": ROOT / "tests" / "clinic" / "deid_eval" / "notes.jsonl",
}


def carebase() -> Callable[[dict], str]:
    from clinic.deid import Deidentifier

    return lambda note: Deidentifier(secret="bench", patient_key=str(note["id"])).text(note["text"])


def presidio() -> tuple[str, Callable[[dict], str]]:
    """Presidio's recognizers with the spaCy pipeline that can be installed here: the official spaCy models are not
    on PyPI, so a blank English pipeline (tokenizer only: every pattern recognizer runs, the NER-based PERSON,
    LOCATION and NRP recognizer finds nothing)."""
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # no network here: it falls back to its snapshot
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    class BlankEnglish(SpacyNlpEngine):
        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    engine = BlankEnglish(models=[{"lang_code": "en", "model_name": "blank:en"}])
    engine.load()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])

    def run(note: dict) -> str:
        text = note["text"]
        for found in sorted(analyzer.analyze(text=text, language="en"), key=lambda r: -r.start):
            text = text[: found.start] + f"<{found.entity_type}>" + text[found.end :]
        return text

    return "Presidio 2.2 AnalyzerEngine, default recognizers, blank spaCy 'en' (no NER model on PyPI)", run


def measure(notes: list[dict], deidentify: Callable[[dict], str]) -> tuple[Score, float]:
    outputs: dict[str, str] = {}
    started = time.perf_counter()
    for note in notes:
        outputs[note["text"]] = deidentify(note)
    elapsed = time.perf_counter() - started
    return score(notes, lambda text: outputs[text]), len(notes) / elapsed


def report(name: str, notes: list[dict], systems: list[tuple[str, Callable[[dict], str]]]) -> None:
    results = [(label, *measure(notes, run)) for label, run in systems]
    kinds = sorted(results[0][1].total)
    print(f"\n{name}: {len(notes)} notes, {sum(results[0][1].total.values())} PHI values, {results[0][1].traps} eponym phrases")
    print(f"  {'type':13s} {'n':>5s}" + "".join(f" {label.split(',')[0][:18]:>18s}" for label, *_ in results))
    for kind in kinds:
        print(f"  {kind:13s} {results[0][1].total[kind]:5d}" + "".join(f" {s.recall(kind):18.3f}" for _, s, _ in results))
    print(f"  {'all PHI':13s} {sum(results[0][1].total.values()):5d}" + "".join(f" {s.recall():18.3f}" for _, s, _ in results))
    print(f"  {'eponyms kept':13s} {results[0][1].traps:5d}" + "".join(f" {s.kept:18.3f}" for _, s, _ in results))
    print(f"  {'notes/second':13s} {'':5s}" + "".join(f" {rate:18.1f}" for _, _, rate in results))


def main() -> int:
    from tests.perf.run_all import machine

    print(f"machine: {machine()}")
    label, run_presidio = presidio()
    print(f"baseline: {label}")
    carebase()({"id": "warm", "text": "Dr. Warm Up on 1/2/2020."})  # load the name lists once, outside the timing
    run_presidio({"text": "warm up"})
    systems = [("Carebase", carebase()), ("Presidio", run_presidio)]
    for name, path in SETS.items():
        if not path.exists():
            print(f"\n{name}: {path} is absent, skipped")
            continue
        report(name, [json.loads(line) for line in path.read_text().splitlines() if line.strip()], systems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
