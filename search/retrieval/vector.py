"""Vector ranking: exact within one chart, the HNSW shards across patients."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from django.db import connection, transaction

from search import embedding
from search.models import IndexState
from search.retrieval import threads
from search.retrieval.filters import Filters

HNSW_DIMENSION = 384  # the dimension the partial HNSW indexes cover (see migrations 0001, 0005 and 0006)
# The graph is split in HNSW_SHARDS by chunk_id % HNSW_SHARDS (migration 0006), each searched for the nearest, the
# shards two at a time on two connections where the cores allow. Candidates each shard's search keeps: HNSW_EF_SEARCH
# from a million vectors up (realistic chunks: recall@10 0.973; 300: 0.962; one unsplit graph at pgvector's maximum of
# 1,000: 0.955), in proportion below, down to HNSW_EF_SEARCH_MIN: at 100,000 vectors ef_search 400 made each shard's
# search visit most of its 25,000 and the search cost more than one graph's had.
HNSW_SHARDS = 4
HNSW_EF_SEARCH = 400
HNSW_EF_SEARCH_MIN = 100
HNSW_EF_FULL_AT = 1_000_000


def serving_model() -> tuple[str, str]:
    """The model whose vectors answer queries: the active one, or the one being built on a fresh index."""
    state = IndexState.current()
    name = state.active_model or state.target_model or embedding.configured_model()[0]
    return name, embedding.model_path(name)


def vector_ranks(query: str, filters: Filters, limit: int, *, exact: bool | None = None) -> list[tuple[int, float, str]]:
    """Nearest chunks by cosine distance: exact within one patient (never misses), HNSW across patients."""
    name, path = serving_model()
    return nearest_chunks(embedding.encode_query(query, path=path), name, filters, limit, exact=exact)


def nearest_chunks(
    vector: Any, model: str, filters: Filters, limit: int, *, exact: bool | None = None
) -> list[tuple[int, float, str]]:
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    exact = filters.few_charts if exact is None else exact
    where, params = filters.sql()
    vectors = ""
    if filters.patient_id is not None:  # the chart's vectors through their own index (ChunkEmbedding.patient)
        vectors = " AND e.patient_id = %s"
        params = [filters.patient_id, *params]
    elif filters.patient_ids is not None:  # the reader's charts' vectors, through the same index
        vectors = " AND e.patient_id = ANY(%s)"
        params = [list(filters.patient_ids), *params]
    if not exact and len(vector) == HNSW_DIMENSION:
        return _nearest_in_shards(vectors, where, [literal, model, *params], limit)
    distance = "e.embedding <=> %s::vector"
    chart_first = exact and filters.whole_chart
    if chart_first:
        # The nearest of the chart's vectors first, joined to their chunks afterwards: no chunk row is read for the
        # thousands that lose (a chart of 5,000 chunks: 4.5 -> 2.1 ms).
        sql = (
            f"SELECT c.id, 1 - n.distance AS score, c.source_id FROM (SELECT e.chunk_id, {distance} AS distance "
            f"FROM search_chunkembedding e WHERE e.model = %s {vectors} ORDER BY distance LIMIT %s) n "
            f"JOIN search_chunk c ON c.id = n.chunk_id AND c.patient_id = %s ORDER BY n.distance"
        )
        arguments = [literal, model, filters.patient_id, limit, filters.patient_id]
    else:
        sql = (
            f"SELECT c.id, 1 - ({distance}) AS score, c.source_id FROM search_chunkembedding e "
            f"JOIN search_chunk c ON c.id = e.chunk_id WHERE e.model = %s {vectors} AND {where} "
            f"ORDER BY {distance} LIMIT %s"
        )
        arguments = [literal, model, *params, literal, limit]
    # One chart: parallel workers cost more to start than they save. Otherwise nothing to set, so no transaction to
    # scope it: two round trips less.
    local = "SET LOCAL max_parallel_workers_per_gather = 0" if filters.few_charts and not chart_first else ""
    with transaction.atomic() if local else contextlib.nullcontext(), connection.cursor() as cursor:
        if local:
            cursor.execute(local)
        cursor.execute(sql, arguments)
        return [(row[0], float(row[1]), row[2]) for row in cursor.fetchall()]


def _nearest_in_shards(vectors: str, where: str, params: list[Any], limit: int) -> list[tuple[int, float, str]]:
    """The nearest chunks of each HNSW shard (each through its own partial index), merged by distance.

    Two groups of shards run side by side on two connections (this thread's and a pool thread's) where there are two
    cores, unless this connection is inside a transaction: another connection would not see what it has written.
    """
    local = _shard_settings(limit)

    def search(shards: list[int]) -> list[tuple[int, float, str]]:
        sql, arguments = _shard_sql(shards, where, params, limit, vectors)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(local)
            cursor.execute(sql, arguments)
            return [(row[0], float(row[1]), row[2]) for row in cursor.fetchall()]

    shards = list(range(HNSW_SHARDS))
    if (os.cpu_count() or 1) > 1 and not connection.in_atomic_block:
        elsewhere = threads.pool("shard-search", 1).submit(threads.on_own_connection, search, shards[1::2])
        rows = search(shards[::2]) + elsewhere.result()
    else:
        rows = search(shards)
    return [(chunk_id, 1 - distance, source) for chunk_id, distance, source in sorted(rows, key=lambda r: r[1])[:limit]]


def _shard_settings(limit: int) -> str:
    """This transaction's HNSW settings: ef_search from the planner's row count (no round trip more), never under
    limit, within pgvector's range (to 1,000); a filter that leaves fewer than limit: the scan goes on (iterative)."""
    return (
        "SET LOCAL hnsw.iterative_scan = relaxed_order; SELECT set_config('hnsw.ef_search', least(1000, greatest("
        f"{int(limit)}, {HNSW_EF_SEARCH_MIN}, least({HNSW_EF_SEARCH}, ({HNSW_EF_SEARCH} * reltuples / {HNSW_EF_FULL_AT})::int)"
        "))::text, true) FROM pg_class WHERE oid = 'search_chunkembedding'::regclass"
    )


def _shard_sql(shards: list[int], where: str, params: list[Any], limit: int, vectors: str = "") -> tuple[str, list[Any]]:
    """The nearest `limit` of each of these shards, unsorted across them. params: the query vector's literal, the
    model, then the parameters of vectors and where. Each branch repeats its index's predicate word for word
    (chunk_id % HNSW_SHARDS = k, dimension = HNSW_DIMENSION) for the planner to take that index."""
    branch = (
        f"(SELECT c.id, (e.embedding::vector({HNSW_DIMENSION})) <=> %s::vector({HNSW_DIMENSION}) AS distance, "
        f"c.source_id FROM search_chunkembedding e JOIN search_chunk c ON c.id = e.chunk_id WHERE e.model = %s "
        f"AND e.dimension = {HNSW_DIMENSION} {vectors} AND e.chunk_id %% {HNSW_SHARDS} = {{k}} AND {where} "
        "ORDER BY distance LIMIT %s)"
    )
    return " UNION ALL ".join(branch.format(k=k) for k in shards), [*params, limit] * len(shards)
