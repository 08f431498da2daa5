from __future__ import annotations

from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search and indexing"

    def ready(self) -> None:
        from clinic.hooks import on_records_changed

        on_records_changed(_records_changed)


def _records_changed(model_label: str, ids: list[int]) -> None:
    """Index notes and reports written by any import or signed draft (called after their commit)."""
    from carebase.jobs import enqueue
    from search.services import SOURCE_LOADERS
    from search.tasks import index_records

    if model_label in SOURCE_LOADERS:
        for start in range(0, len(ids), 500):
            enqueue(index_records, model_label, ids[start : start + 500])
