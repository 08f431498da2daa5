"""Ingestion runs: every importer accounts for its units, rows and errors the same way."""

from __future__ import annotations

from clinic import models as m
from clinic.ingestion import ERRORS_PER_UNIT, run_finish, run_rejected, run_start, run_unit, unit_error


def test_it_counts_units_rows_and_errors_and_finishes_with_a_status(db):
    run = run_start(kind="dicom")
    run_unit(run, counts={"ImagingInstance": 2})
    run_unit(run, errors=[unit_error(file=f"bad{n}.dcm", message="not a DICOM file") for n in range(ERRORS_PER_UNIT + 5)])
    run_finish(run, counts={"ImagingInstance": 1}, unchanged={"ImagingInstance": 0})
    run.refresh_from_db()
    assert (run.units, run.units_failed, run.status) == (2, 1, m.IngestionRun.Status.PARTIAL)
    assert run.counts == {"ImagingInstance": 3} and run.unchanged == {"ImagingInstance": 0}
    assert len(run.errors) == ERRORS_PER_UNIT and run.errors[0] == {
        "file": "bad0.dcm",
        "entry": "",
        "field": "",
        "message": "not a DICOM file",
    }
    assert run.finished_at is not None


def test_it_fails_a_run_whose_every_unit_was_rejected(db):
    run = run_start(kind="vcf", source="api")
    error = run_rejected(run, errors=[unit_error(file="a.vcf", entry="line 5", message="a.vcf line 5: POS 'x' is not a number")])
    run.refresh_from_db()
    assert (run.status, run.units, run.units_failed, run.source) == (m.IngestionRun.Status.FAILED, 1, 1, "api")
    assert str(error) == "a.vcf line 5: POS 'x' is not a number" and error.errors == run.errors


def test_it_succeeds_a_run_without_rejections(db):
    run = run_start(kind="knowledge")
    run_unit(run, counts={"KnowledgeDocument": 4})
    assert run_finish(run).status == m.IngestionRun.Status.SUCCEEDED
