"""Celery tasks of the clinic app: thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="clinic.fhir_import_file")
def fhir_import_file_task(run_id: int, path: str) -> None:
    from clinic.services import fhir_import_queued

    fhir_import_queued(run_id=run_id, path=path)


@shared_task(name="clinic.dataset_build")
def dataset_build_task(dataset_id: int) -> None:
    from clinic.curation import dataset_build

    dataset_build(dataset_id=dataset_id)


@shared_task(name="clinic.bulk_export")
def bulk_export_task(export_id: str) -> None:
    from clinic.fhir.bulk import bulk_export_run

    bulk_export_run(export_id=export_id)
