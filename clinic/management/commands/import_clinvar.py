"""python manage.py import_clinvar FILE — the ClinVar VCF as the reference table for variant annotation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from clinic.errors import InvalidInput
from clinic.genomics import clinvar_import
from clinic.management.base import BulkLoadCommand


class Command(BulkLoadCommand):
    help = "Load a ClinVar VCF (plain gzip or bgzip) as the reference table; re-loading refreshes it."

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
