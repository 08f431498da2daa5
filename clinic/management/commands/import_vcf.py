"""python manage.py import_vcf PATH --patient ID [--sample NAME] [--assembly GRCh38] — a patient's variants."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from clinic.errors import InvalidInput
from clinic.genomics import patient_resolve, vcf_import
from clinic.management.base import BulkLoadCommand


class Command(BulkLoadCommand):
    help = "Import one sample of a VCF (4.0–4.3, plain or bgzip) as a patient's variants, annotated with ClinVar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--patient", required=True, help="FHIR id, MRN or numeric id")
        parser.add_argument("--sample", default=None, help="sample column (required when the file has several)")
        parser.add_argument("--assembly", default=None, help="GRCh38 or GRCh37 (default: from the header, else GRCh38)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        started = time.perf_counter()
        try:
            patient = patient_resolve(ident=options["patient"])
            report = vcf_import(patient=patient, path=path, sample=options["sample"], assembly=options["assembly"])
        except InvalidInput as e:
            raise CommandError(str(e)) from None
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"{path.name} ({report.sample or 'sites only'}, {report.assembly}) → {patient}: {report.num_variants} variants, "
            f"{report.num_pathogenic} pathogenic/likely pathogenic in {elapsed:.2f} s"
        )
