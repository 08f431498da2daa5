"""The index as the steward sees it: chunks by type, the models, vectors still to compute."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from search import embedding
from search.models import Chunk, ChunkEmbedding, IndexState


@dataclass(frozen=True)
class IndexStatus:
    chunks: int
    by_type: dict[str, int]
    active_model: str
    target_model: str
    embedded: int
    pending: int


def index_status() -> IndexStatus:
    state = IndexState.current()
    name = state.target_model or state.active_model or embedding.configured_model()[0]
    chunks = Chunk.objects.count()
    embedded = ChunkEmbedding.objects.filter(model=name).count()
    by_type = dict(Chunk.objects.values_list("source_type").annotate(n=Count("id")).values_list("source_type", "n"))
    return IndexStatus(chunks, by_type, state.active_model, state.target_model, embedded, max(chunks - embedded, 0))
