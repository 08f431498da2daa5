"""Celery tasks of the search app (queue "embed"): thin wrappers that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from search import services


@shared_task(name="search.tasks.index_records")
def index_records(model_label: str, ids: list[int]) -> int:
    return len(services.records_index(model_label=model_label, ids=ids))


@shared_task(name="search.tasks.embed_chunks")
def embed_chunks(chunk_ids: list[int]) -> int:
    return services.chunks_embed(chunk_ids=chunk_ids)


@shared_task(name="search.tasks.knowledge_files_import")
def knowledge_files_import(run_id: int, folder: str, source: str, url: str) -> None:
    services.knowledge_queued_import(run_id=run_id, folder=folder, source=source, url=url)
