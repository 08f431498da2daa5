"""Reads of the search index: keyword (full text), vector (exact or HNSW) and hybrid (RRF) retrieval."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Count

from search import embedding
from search.models import Chunk, ChunkEmbedding, IndexState
from search.negation import term_context
from search.synonyms import expansions

MODES = ("keyword", "vector", "hybrid")
CORPORA = ("notes", "knowledge")
NOTE_KINDS = ("note", "report")
RRF_K = 60
HNSW_DIMENSION = 384  # the dimension the partial HNSW indexes cover (see migrations 0001, 0005 and 0006)
# The graph is split in HNSW_SHARDS by chunk_id % HNSW_SHARDS (migration 0006), each searched for the nearest, the
# shards two at a time on two connections where the cores allow. Candidates each shard's search keeps: HNSW_EF_SEARCH
# from a million vectors up (realistic chunks: recall@10 0.973; 300: 0.962; one unsplit graph at pgvector's maximum of
# 1,000: 0.955), in proportion below, down to HNSW_EF_SEARCH_MIN: at 100,000 vectors ef_search 400 made each shard's
# search visit most of its 25,000 and the search cost more than one graph's had.
HNSW_SHARDS = 4
EXACT_CHARTS = 500  # a reader restricted to at most this many charts: exact vector search over theirs (never misses)
HNSW_EF_SEARCH = 400
HNSW_EF_SEARCH_MIN = 100
HNSW_EF_FULL_AT = 1_000_000
_pools: dict[tuple[int, str], ThreadPoolExecutor] = {}  # by process and name
_STOPWORDS = frozenset(
    "a an and are as at be been but by can do does for from had has have how i if in into is it its me my no not "
    "of on or so than that the their then there these they this to was were what when where which who why will "
    "with would you your am any about after also get got".split()
)


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    source_type: str  # "note" | "report" | "knowledge"
    source_id: str  # ClinicalNote/DiagnosticReport pk as str, or the knowledge JSONL id
    patient_id: int | None
    score: float
    snippet: str
    text: str
    title: str
    date: dt.datetime | None
    section: str
    negated: bool
    uncertain: bool
    other_subject: bool


@dataclass(frozen=True)
class _Filters:
    source_types: tuple[str, ...]
    patient_id: int | None
    date_from: dt.date | dt.datetime | None
    date_to: dt.date | dt.datetime | None
    note_type: str | None
    patient_ids: tuple[int, ...] | None = None  # the charts the reader may see (None: every chart)

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = ["c.source_type = ANY(%s)"]
        params: list[Any] = [list(self.source_types)]
        if self.patient_id is not None:
            clauses.append("c.patient_id = %s")
            params.append(self.patient_id)
        if self.patient_ids is not None:
            clauses.append("c.patient_id = ANY(%s)")
            params.append(list(self.patient_ids))
        if self.date_from is not None:
            clauses.append("c.date >= %s")
            params.append(self.date_from)
        if self.date_to is not None:
            clauses.append("c.date < %s")
            params.append(_day_after(self.date_to))
        if self.note_type:
            clauses.append("c.note_type ILIKE %s")
            params.append(f"%{self.note_type}%")
        return " AND ".join(clauses), params

    @property
    def few_charts(self) -> bool:
        """Restricted to a reader's few charts: every match is ranked and vectors are compared exactly."""
        return self.patient_ids is not None and len(self.patient_ids) <= EXACT_CHARTS

    @property
    def whole_chart(self) -> bool:
        """One patient's chunks of every kind, nothing else narrowed: the chart's vectors alone decide."""
        return (
            self.patient_id is not None
            and set(NOTE_KINDS) <= set(self.source_types)
            and self.date_from is None
            and self.date_to is None
            and not self.note_type
        )


def _day_after(value: dt.date | dt.datetime) -> dt.date | dt.datetime:
    return value if isinstance(value, dt.datetime) else value + dt.timedelta(days=1)


def search_chunks(
    *,
    query: str,
    corpus: str = "notes",
    patient_id: int | None = None,
    kinds: list[str] | None = None,
    mode: str = "hybrid",
    limit: int = 10,
    exclude_negated: bool = False,
    exclude_uncertain: bool = False,
    exclude_other_subject: bool = False,
    date_from: dt.date | dt.datetime | None = None,
    date_to: dt.date | dt.datetime | None = None,
    note_type: str | None = None,
    patient_ids: list[int] | None = None,
) -> list[SearchHit]:
    """Ranked chunks for a query. Knowledge results are one per document (its best chunk). `patient_ids`: only
    these charts' notes and reports (the ones the reader may see; None: every chart)."""
    if mode not in MODES or corpus not in CORPORA or limit < 1:
        raise ValueError(f"bad search: mode {mode!r}, corpus {corpus!r}, limit {limit}")
    readable = None if corpus == "knowledge" or patient_ids is None else tuple(patient_ids)
    if not query.strip() or readable == () or (readable and patient_id is not None and patient_id not in readable):
        return []
    if patient_id is not None:
        readable = None  # the one chart is among the readable ones: its own filter is narrower
    types = ("knowledge",) if corpus == "knowledge" else tuple(k for k in (kinds or NOTE_KINDS) if k in NOTE_KINDS)
    filters = _Filters(types or NOTE_KINDS, patient_id, date_from, date_to, note_type, readable)
    excluding = exclude_negated or exclude_uncertain or exclude_other_subject
    depth = max(limit * (4 if excluding else 1), 50 if mode == "hybrid" else limit)
    per_source = corpus == "knowledge"
    ranked = _ranked(query, filters, mode, depth, per_source)
    if not excluding:
        return _hits(ranked[:limit], query)
    kept: list[SearchHit] = []
    for start in range(0, len(ranked), limit):  # context tagging is the costly part: only as far as needed
        kept += [
            h
            for h in _hits(ranked[start : start + limit], query)
            if not (exclude_negated and h.negated)
            and not (exclude_uncertain and h.uncertain)
            and not (exclude_other_subject and h.other_subject)
        ]
        if len(kept) >= limit:
            break
    return kept[:limit]


def _ranked(query: str, filters: _Filters, mode: str, depth: int, per_source: bool) -> list[tuple[int, float]]:
    fetch = depth * 3 if per_source else depth
    pending = None
    if mode != "keyword":
        # The query's embedding is computed on another thread while the database plans and ranks by keyword: the
        # two run on two cores at once (torch and the driver release the GIL).
        name, path = serving_model()
        pending = _pool("query-embedding", os.cpu_count() or 2).submit(embedding.encode, [query], path=path)
    plan = keyword_plan(query, filters) if mode != "vector" else None
    pool = plan is not None and plan.too_broad
    keyword = _dedupe(keyword_ranks(query, filters, fetch, plan=plan), per_source) if plan and not pool else []
    limit = max(fetch, VECTOR_POOL) if pool else fetch
    nearest = []
    if pending is not None:
        nearest = nearest_chunks(pending.result()[0], name, filters, limit)
    elif pool:  # keyword mode, every query word common: rank within the nearest chunks
        nearest = vector_ranks(query, filters, limit)
    if pool:
        within = [chunk_id for chunk_id, _, _ in nearest] or None
        keyword = _dedupe(keyword_ranks(query, filters, fetch, plan=plan, within=within), per_source)
    vector_ranking = _dedupe(nearest[:fetch], per_source) if mode != "keyword" else []
    if mode != "hybrid":
        return [(chunk_id, score) for _, chunk_id, score in (keyword or vector_ranking)[:depth]]
    return reciprocal_rank_fusion([keyword[:depth], vector_ranking[:depth]])[:depth]


def _pool(name: str, workers: int) -> ThreadPoolExecutor:
    """This process's pool of that name (a pool's threads do not survive a fork)."""
    pid = os.getpid()
    if (pid, name) not in _pools:
        for inherited in [key for key in _pools if key[0] != pid]:  # a parent's, whose threads this process lacks
            del _pools[inherited]
        _pools[(pid, name)] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    return _pools[(pid, name)]


def reciprocal_rank_fusion(rankings: list[list[tuple[str, int, float]]]) -> list[tuple[int, float]]:
    """Sum of 1/(k + rank) over the rankings a result appears in (Cormack et al., 2009).

    Results are keyed by document for knowledge (the chunk shown is the best-ranked one) and by chunk otherwise.
    """
    fused: dict[str, float] = {}
    shown: dict[str, tuple[int, int]] = {}
    for ranking in rankings:
        for rank, (key, chunk_id, _) in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
            if key not in shown or rank < shown[key][1]:
                shown[key] = (chunk_id, rank)
    return [(shown[key][0], score) for key, score in sorted(fused.items(), key=lambda item: -item[1])]


def _dedupe(ranking: list[tuple[int, float, str]], per_source: bool) -> list[tuple[str, int, float]]:
    """(key, chunk, score): the key is the source document when results are documents (knowledge)."""
    if not per_source:
        return [(str(chunk_id), chunk_id, score) for chunk_id, score, _ in ranking]
    seen: set[str] = set()
    kept = []
    for chunk_id, score, source_id in ranking:
        if source_id not in seen:
            seen.add(source_id)
            kept.append((source_id, chunk_id, score))
    return kept


def query_terms(query: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", query.lower())
    return [w for w in words if w not in _STOPWORDS]


def expanded_terms(query: str) -> list[str]:
    """The words of the query and of its clinical synonyms."""
    return query_terms(query) + [w for p in expansions(query) for w in query_terms(p)]


def keyword_text(query: str) -> str:
    """The words of the query and of its clinical synonyms, for PostgreSQL to stem."""
    return " ".join(expanded_terms(query))


# BM25-style ranking: each query lexeme's inverse document frequency (PostgreSQL's ts_rank has none, so common
# words like "treatment" outweighed the rare ones that carry a question) times ts_rank of the chunk for that lexeme
# alone (term frequency with saturation, title words weighted, computed in C). Candidates come from the GIN index
# and hold a lexeme found in at most a tenth of the corpus where the query has one: common words add little and
# would make nearly every chunk a candidate. Across the whole population the candidates are capped: the rarest
# lexemes are kept while their chunks number at most KEYWORD_CANDIDATES; where even the rarest has more (every word
# of the query is common), the keyword ranking is of the VECTOR_POOL nearest chunks that hold a query word.
KEYWORD_CANDIDATES = 5_000
VECTOR_POOL = 200
LARGE_INDEX = 10_000  # from this many chunks, common lexemes' frequencies come from the planner's statistics

_LEXEMES_SQL = """
SELECT c.reltuples::bigint, c.relpages, ARRAY(SELECT DISTINCT unnest(tsvector_to_array(to_tsvector('english', %s))))
FROM pg_class c WHERE c.oid = 'search_chunk'::regclass
"""
_STATS_SQL = """
SELECT v.most_common_elems::text::text[], v.most_common_elem_freqs, v.null_frac,
    t.most_common_vals::text::text[], t.most_common_freqs
FROM pg_stats v, pg_stats t
WHERE v.tablename = 'search_chunk' AND v.attname = 'search_vector' AND t.tablename = 'search_chunk'
    AND t.attname = 'source_type' AND v.schemaname = current_schema() AND t.schemaname = current_schema()
"""
# How many chunks of the types hold each lexeme, counting each up to a limit (NULL: no limit).
_COUNT_SQL = """
SELECT t.lexeme, (
    SELECT count(*) FROM (SELECT 1 FROM search_chunk s WHERE s.search_vector @@ quote_literal(t.lexeme)::tsquery
    AND s.source_type = ANY(%s) LIMIT %s) x
) FROM unnest(%s::text[]) AS t(lexeme)
"""


@dataclass(frozen=True)
class _PlannerStatistics:
    common: dict[str, float]  # lexeme -> share of the chunks that hold it
    null_fraction: float
    type_shares: dict[str, float]


_statistics_cache: dict[tuple[int, int], _PlannerStatistics | None] = {}


def _planner_statistics(cursor: Any, rows: int, pages: int) -> _PlannerStatistics | None:
    """ANALYZE's lexeme frequencies for search_chunk, read once per ANALYZE (which sets the row and page counts
    they are cached under): the list is long, and parsing it on every query cost 3 ms."""
    key = (rows, pages)
    if key not in _statistics_cache:
        cursor.execute(_STATS_SQL)
        found = cursor.fetchone()
        statistics = None
        if found and found[0] and found[3]:
            elements, frequencies, null_fraction, type_values, type_frequencies = found
            # The last two frequencies are the least and greatest; zip stops at the last element.
            common = dict(zip(elements, frequencies, strict=False))
            statistics = _PlannerStatistics(common, null_fraction, dict(zip(type_values, type_frequencies, strict=True)))
        _statistics_cache.clear()
        _statistics_cache[key] = statistics
    return _statistics_cache[key]


def document_frequencies(query: str, types: list[str]) -> tuple[dict[str, int], int]:
    """For each lexeme of the query (and its synonyms): how many chunks of these types hold it; and how many there are.

    Exact counts on an index under LARGE_INDEX chunks. On a larger one, counting a common lexeme would read a large
    part of the table on every query, so lexemes that ANALYZE lists among the most common take their frequency
    from there; the others are counted (rare by definition, so cheaply, and capped at KEYWORD_CANDIDATES).
    """
    with connection.cursor() as cursor:
        cursor.execute(_LEXEMES_SQL, [keyword_text(query)])
        rows, pages, lexemes = cursor.fetchone()
        statistics = _planner_statistics(cursor, rows, pages) if rows >= LARGE_INDEX else None
        share = sum(f for t, f in statistics.type_shares.items() if t in types) if statistics else 0.0
        if statistics and share > 0:
            n = int(rows * share)
            estimate = rows * (1 - statistics.null_fraction) * share
            found = {x: int(statistics.common[x] * estimate) for x in lexemes if x in statistics.common}
            rare = [x for x in lexemes if x not in found]
            if rare:
                cursor.execute(_COUNT_SQL, [types, KEYWORD_CANDIDATES + 1, rare])
                found.update(cursor.fetchall())
        else:
            cursor.execute("SELECT count(*) FROM search_chunk WHERE source_type = ANY(%s)", [types])
            n = cursor.fetchone()[0]
            cursor.execute(_COUNT_SQL, [types, None, lexemes])
            found = dict(cursor.fetchall())
    return {lexeme: df for lexeme, df in found.items() if df > 0}, n


@dataclass(frozen=True)
class KeywordPlan:
    weights: dict[str, float]  # lexeme -> idf
    candidates: list[str]  # the lexemes whose chunks are ranked
    too_broad: bool  # every lexeme is too common to rank all its chunks: rank within the nearest chunks


def keyword_plan(query: str, filters: _Filters) -> KeywordPlan:
    frequencies, n = document_frequencies(query, list(filters.source_types))
    weights = {lexeme: math.log(1 + (n - df + 0.5) / (df + 0.5)) for lexeme, df in frequencies.items()}
    by_rarity = sorted(frequencies, key=frequencies.__getitem__)
    candidates = [lexeme for lexeme in by_rarity if frequencies[lexeme] <= n / 10] or by_rarity
    if filters.patient_id is not None or filters.few_charts:
        return KeywordPlan(weights, candidates, False)
    capped, total = [], 0
    for lexeme in candidates:
        total += frequencies[lexeme]
        if total > KEYWORD_CANDIDATES:
            break
        capped.append(lexeme)
    return KeywordPlan(weights, capped or candidates, not capped and bool(candidates))


def keyword_ranks(
    query: str, filters: _Filters, limit: int, *, plan: KeywordPlan | None = None, within: list[int] | None = None
) -> list[tuple[int, float, str]]:
    """Chunks ranked by keyword score; `within` restricts them to these chunk ids (see KeywordPlan.too_broad)."""
    plan = plan or keyword_plan(query, filters)
    if not plan.weights:
        return []
    literal = lambda lexeme: "'" + lexeme.replace("'", "''") + "'"  # noqa: E731  a tsquery of one lexeme
    score = " + ".join("%s * ts_rank(c.search_vector, %s::tsquery, 1)" for _ in plan.weights)
    score_params: list[Any] = [v for lexeme, w in plan.weights.items() for v in (w, literal(lexeme))]
    where, params = filters.sql()
    if within is not None:
        where += " AND c.id = ANY(%s)"
        params.append(within)
    matching = plan.weights if within is not None else plan.candidates
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, {score} AS score, c.source_id FROM search_chunk c "
            f"WHERE c.search_vector @@ %s::tsquery AND {where} ORDER BY score DESC, c.id LIMIT %s",
            [*score_params, " | ".join(literal(lexeme) for lexeme in matching), *params, limit],
        )
        return [(row[0], float(row[1]), row[2]) for row in cursor.fetchall()]


def serving_model() -> tuple[str, str]:
    """The model whose vectors answer queries: the active one, or the one being built on a fresh index."""
    state = IndexState.current()
    name = state.active_model or state.target_model or embedding.configured_model()[0]
    return name, embedding.model_path(name)


def vector_ranks(query: str, filters: _Filters, limit: int, *, exact: bool | None = None) -> list[tuple[int, float, str]]:
    """Nearest chunks by cosine distance: exact within one patient (never misses), HNSW across patients."""
    name, path = serving_model()
    return nearest_chunks(embedding.encode([query], path=path)[0], name, filters, limit, exact=exact)


def nearest_chunks(
    vector: Any, model: str, filters: _Filters, limit: int, *, exact: bool | None = None
) -> list[tuple[int, float, str]]:
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    exact = (filters.patient_id is not None or filters.few_charts) if exact is None else exact
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
    few = filters.patient_id is not None or filters.few_charts
    local = "SET LOCAL max_parallel_workers_per_gather = 0" if few and not chart_first else ""
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
        elsewhere = _pool("shard-search", 1).submit(_on_own_connection, search, shards[1::2])
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


def close_shard_connections() -> None:
    """Close the connection the shard-search pool thread keeps open (before a test database is dropped)."""
    pool = _pools.get((os.getpid(), "shard-search"))
    if pool is not None:
        pool.submit(lambda: connection.close()).result()  # looked up on the pool's thread: its own connection


def _on_own_connection(fn: Any, *args: Any) -> Any:
    """fn(*args) on a pool thread's own connection, replaced first if it has broken or aged (as a request would)."""
    connection.close_if_unusable_or_obsolete()
    return fn(*args)


def _hits(ranked: list[tuple[int, float]], query: str) -> list[SearchHit]:
    chunks = Chunk.objects.in_bulk([chunk_id for chunk_id, _ in ranked])
    terms = expanded_terms(query)
    hits = []
    for chunk_id, score in ranked:
        chunk = chunks.get(chunk_id)
        if chunk is None:
            continue
        context = term_context(chunk.text, terms)
        negated, uncertain, other = (
            (context.negated, context.uncertain, context.other_subject)
            if context is not None
            else (chunk.negated, chunk.uncertain, chunk.other_subject)
        )
        hits.append(
            SearchHit(
                chunk_id=chunk.pk,
                source_type=chunk.source_type,
                source_id=chunk.source_id,
                patient_id=chunk.patient_id,
                score=score,
                snippet=snippet(chunk.text, terms),
                text=chunk.text,
                title=chunk.title,
                date=chunk.date,
                section=chunk.section,
                negated=negated,
                uncertain=uncertain,
                other_subject=other,
            )
        )
    return hits


def snippet(text: str, terms: list[str], *, width: int = 32) -> str:
    """About `width` words around the first query term, HTML-escaped, terms wrapped in <mark>."""
    words = text.split()
    pattern = re.compile(r"\b(" + "|".join(re.escape(t) for t in terms if len(t) > 1) + r")", re.I) if terms else None
    first = next((i for i, w in enumerate(words) if pattern and pattern.search(w)), 0)
    start = max(0, first - width // 3)
    piece = " ".join(words[start : start + width])
    escaped = html.escape(piece)
    if pattern:
        escaped = pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped)
    return ("… " if start else "") + escaped + (" …" if start + width < len(words) else "")


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
