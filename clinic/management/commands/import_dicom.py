"""python manage.py import_dicom PATH… [--patient ID] — DICOM files, directories and DICOMDIR trees."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from clinic.errors import InvalidInput
from clinic.genomics import patient_resolve
from clinic.imaging import dicom_import
from clinic.management.base import BulkLoadCommand


class Command(BulkLoadCommand):
    help = "Import DICOM files (content-addressed under MEDIA_ROOT); bad files are named and skipped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="files, directories or DICOMDIR files")
        parser.add_argument("--patient", default=None, help="FHIR id, MRN or numeric id (default: the file's PatientID)")

    def handle(self, *args: Any, **options: Any) -> None:
        missing = [p for p in options["paths"] if not Path(p).exists()]
        if missing:
            raise CommandError(f"no such file or directory: {', '.join(missing)}")
        try:
            patient = patient_resolve(ident=options["patient"]) if options["patient"] else None
        except InvalidInput as e:
            raise CommandError(str(e)) from None
        started = time.perf_counter()
        result = dicom_import(paths=options["paths"], patient=patient)
        elapsed = time.perf_counter() - started
        run = result.run
        done = run.units - run.units_failed
        self.stdout.write(
            f"DICOM run #{run.pk}: {run.units} files, {done} imported ({run.counts['ImagingInstance']} new or changed, "
            f"{run.unchanged['ImagingInstance']} unchanged), {run.units_failed} rejected, {len(result.studies)} studies "
            f"in {elapsed:.1f} s ({done / max(elapsed, 1e-9):.0f} instances/s)"
        )
        for error in run.errors:
            self.stderr.write(f"ERROR {error['message']}")
        if run.units and run.units_failed == run.units:
            raise CommandError("no file could be imported")
