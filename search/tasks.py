"""Celery tasks of the search app (queue "embed"): thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from search import services

# A batch that meets a database restart is sent again after 1, 2, 4… s (at most 30 s apart, jittered so that many
# workers do not all come back at once), eight times at most (about two minutes): each batch is one transaction that
# skips chunks already embedded, so a retry repeats nothing.
RETRY_ON_DATABASE = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "max_retries": 8,
}


@shared_task(name="search.tasks.index_records", **RETRY_ON_DATABASE)
def index_records(model_label: str, ids: list[int]) -> int:
    return len(services.records_index(model_label=model_label, ids=ids))


@shared_task(name="search.tasks.embed_chunks", **RETRY_ON_DATABASE)
def embed_chunks(chunk_ids: list[int]) -> int:
    return services.chunks_embed(chunk_ids=chunk_ids)


@shared_task(name="search.tasks.knowledge_files_import")
def knowledge_files_import(run_id: int, folder: str, source: str, url: str) -> None:
    services.knowledge_queued_import(run_id=run_id, folder=folder, source=source, url=url)
