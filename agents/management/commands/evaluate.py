"""python manage.py evaluate [--backend B] [--model M] [--suite S …] [--patients N] [--data DIR] — run the evaluation
suites (search nDCG, chart-question accuracy and citations, draft coverage, de-identification recall), print the
figures and store them as an EvaluationRun with the code version (see agents.evaluation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.evaluation import SUITES, evaluation_run, run_comparison
from agents.models import EvaluationRun


class Command(BaseCommand):
    help = "Run the evaluation suites on a backend and model, print the figures and store them (an EvaluationRun)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--backend", default="", help="extractive, transformers or openai (default: LLM_BACKEND)")
        parser.add_argument("--model", default="", help="LLM_MODEL for this run (a local directory or a served name)")
        parser.add_argument("--suite", action="append", choices=SUITES, help="run only these (repeatable; default all)")
        parser.add_argument("--patients", type=int, default=6, help="synthetic charts for chart QA and drafts (default 6)")
        parser.add_argument("--data", default="", help="the shared data folder (default ../shared/data)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["patients"] <= 200:
            raise CommandError("--patients: between 1 and 200")
        previous = EvaluationRun.objects.order_by("-started_at", "-id").first()
        try:
            run = evaluation_run(
                backend=options["backend"],
                model=options["model"],
                suites=tuple(options["suite"] or SUITES),
                patients=options["patients"],
                data_dir=Path(options["data"]) if options["data"] else None,
                out=self.stdout.write,
            )
        except ValueError as e:
            raise CommandError(str(e)) from None
        if previous is not None:
            comparison = run_comparison(run=run, base=previous)
            worse = [f"{r['suite']}.{r['figure']} {r['base']:.3f} -> {r['value']:.3f}" for r in comparison["rows"] if r["worse"]]
            verdict = "at least as good as" if comparison["as_good"] else "worse than" if worse else "not comparable with"
            self.stdout.write(
                f"Against run #{previous.pk} ({previous.backend}): {verdict} it" + (f": {'; '.join(worse)}" if worse else "")
            )
