"""python manage.py import_fhir PATH… — FHIR R4 Bundles, resources and NDJSON, files or directories."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from clinic.fhir.importer import error_text, fhir_files
from clinic.management.base import BulkLoadCommand
from clinic.services import fhir_import_files


class Command(BulkLoadCommand):
    help = "Import FHIR R4 Bundles (transaction, batch, collection, searchset), resources and NDJSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="files or directories")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        missing = [p for p in options["paths"] if not __import__("os").path.exists(p)]
        if missing:
            raise CommandError(f"no such file or directory: {', '.join(missing)}")
        total = len(fhir_files(options["paths"]))
        bar = tqdm(total=total, unit="file", disable=options["no_progress"] or total < 2, file=sys.stderr)
        started = time.perf_counter()
        run = fhir_import_files(paths=options["paths"], progress=lambda r: bar.update(1))
        bar.close()
        elapsed = time.perf_counter() - started
        self._summary(run, elapsed)
        if run.units_failed:
            raise CommandError(f"{run.units_failed} of {run.units} files rejected (nothing from them was stored)")

    def _summary(self, run: Any, elapsed: float) -> None:
        written, unchanged = Counter(run.counts), Counter(run.unchanged)
        out = self.stdout
        out.write(
            f"Import run #{run.pk}: {run.units} files, {run.units - run.units_failed} imported, {run.units_failed} rejected"
        )
        out.write(f"{'resource type':<22}{'written':>10}{'unchanged':>11}")
        for rtype in sorted(set(written) | set(unchanged)):
            out.write(f"{rtype:<22}{written[rtype]:>10}{unchanged[rtype]:>11}")
        total = sum(written.values()) + sum(unchanged.values())
        out.write(f"{'total':<22}{sum(written.values()):>10}{sum(unchanged.values()):>11}")
        if run.skipped:
            out.write("not stored (type not supported): " + ", ".join(f"{k} {v}" for k, v in sorted(run.skipped.items())))
        out.write(f"{total} resources in {elapsed:.1f} s ({total / max(elapsed, 1e-9):.0f} resources/s)")
        for error in run.errors:
            self.stderr.write("ERROR " + error_text(error))
