"""Keyword ranking: idf-weighted ts_rank over the GIN index, planned from document frequencies."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db import connection

from search.retrieval.filters import Filters
from search.retrieval.terms import keyword_text

# BM25-style ranking: each query lexeme's inverse document frequency (PostgreSQL's ts_rank has none, so common
# words like "treatment" outweighed the rare ones that carry a question) times ts_rank of the chunk for that lexeme
# alone (term frequency with saturation, title words weighted, computed in C). Candidates come from the GIN index
# and hold a lexeme found in at most a tenth of the corpus where the query has one: common words add little and
# would make nearly every chunk a candidate. Across the whole population the candidates are capped: the rarest
# lexemes are kept while their chunks number at most KEYWORD_CANDIDATES; where even the rarest has more (every word
# of the query is common), the keyword ranking is of the nearest chunks that hold a query word (hybrid.VECTOR_POOL).
KEYWORD_CANDIDATES = 5_000
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


def keyword_plan(query: str, filters: Filters) -> KeywordPlan:
    frequencies, n = document_frequencies(query, list(filters.source_types))
    weights = {lexeme: math.log(1 + (n - df + 0.5) / (df + 0.5)) for lexeme, df in frequencies.items()}
    by_rarity = sorted(frequencies, key=frequencies.__getitem__)
    candidates = [lexeme for lexeme in by_rarity if frequencies[lexeme] <= n / 10] or by_rarity
    if filters.few_charts:
        return KeywordPlan(weights, candidates, False)
    capped, total = [], 0
    for lexeme in candidates:
        total += frequencies[lexeme]
        if total > KEYWORD_CANDIDATES:
            break
        capped.append(lexeme)
    return KeywordPlan(weights, capped or candidates, not capped and bool(candidates))


def keyword_ranks(
    query: str, filters: Filters, limit: int, *, plan: KeywordPlan | None = None, within: list[int] | None = None
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
