"""Ingestion runs: the one account that every importer keeps (FHIR, DICOM, VCF, ClinVar, knowledge).

A run counts the units it saw (files, bundles) and those it rejected, the rows written and left unchanged by
type, and the errors, each naming its place (file, entry, resource type, field) for the steward who fixes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from clinic import models as m
from clinic.errors import InvalidInput

ERRORS_PER_UNIT = 50  # a unit with thousands of bad entries shows its first fifty


def run_start(*, kind: str, source: str = "cli", user: Any = None) -> m.IngestionRun:
    return m.IngestionRun.objects.create(kind=kind, source=source, user=user)


def unit_error(*, file: str, message: str, entry: int | str = "", field: str = "") -> dict[str, Any]:
    """One error as every run keeps it."""
    return {"file": file, "entry": entry, "field": field, "message": message}


def run_unit(
    run: m.IngestionRun,
    *,
    errors: Sequence[dict[str, Any]] = (),
    counts: dict[str, int] | None = None,
    unchanged: dict[str, int] | None = None,
    skipped: dict[str, int] | None = None,
) -> None:
    """Account for one unit: seen, rejected when it has errors, and the rows it wrote, left alone or skipped."""
    run.units += 1
    if errors:
        run.units_failed += 1
        run.errors = [*run.errors, *errors[:ERRORS_PER_UNIT]]
    run.counts = _added(run.counts, counts)
    run.unchanged = _added(run.unchanged, unchanged)
    run.skipped = _added(run.skipped, skipped)


def run_finish(
    run: m.IngestionRun, *, counts: dict[str, int] | None = None, unchanged: dict[str, int] | None = None
) -> m.IngestionRun:
    """Close the run with its status (and rows counted only at the end, for importers that write in one batch)."""
    run.counts = _added(run.counts, counts)
    run.unchanged = _added(run.unchanged, unchanged)
    run.finished_at = timezone.now()
    if run.units_failed == 0:
        run.status = m.IngestionRun.Status.SUCCEEDED
    elif run.units_failed < run.units:
        run.status = m.IngestionRun.Status.PARTIAL
    else:
        run.status = m.IngestionRun.Status.FAILED
    run.save()
    return run


def run_rejected(run: m.IngestionRun, *, errors: list[dict[str, Any]], message: str = "") -> InvalidInput:
    """Record the only unit of a one-file run as rejected and close the run; returns the error to raise."""
    run_unit(run, errors=errors)
    run_finish(run)
    return InvalidInput(message or errors[0]["message"], run.errors)


def _added(total: dict[str, int], more: dict[str, int] | None) -> dict[str, int]:
    merged = dict(total)
    for key, number in (more or {}).items():
        merged[key] = merged.get(key, 0) + number
    return merged
