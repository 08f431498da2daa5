"""python manage.py import_clinvar FILE — the ClinVar VCF as the reference table for variant annotation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.errors import InvalidInput
from clinic.genomics import clinvar_import


class Command(BaseCommand):
    help = "Load a ClinVar VCF (plain gzip or bgzip) as the reference table; re-loading refreshes it."
    # bulk loads skip the system checks: they import every URL module (the REST API, LangChain), seconds
    # of start-up a script running many imports pays each time; `manage.py check` and the server still run them
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--assembly", default=None, help="GRCh38 or GRCh37 (default: the file's ##reference)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        started = time.perf_counter()
        try:
            load = clinvar_import(path=path, assembly=options["assembly"])
        except InvalidInput as e:
            raise CommandError(str(e)) from None
        elapsed = time.perf_counter() - started
        self.stdout.write(f"ClinVar run #{load.run.pk}: {load.rows} variants in {elapsed:.1f} s")
