"""search_chunks: keyword, vector or hybrid (reciprocal rank fusion) retrieval, filtered and context-tagged."""

from __future__ import annotations

import datetime as dt
import os

from search import embedding
from search.retrieval import threads
from search.retrieval.filters import NOTE_KINDS, Filters
from search.retrieval.keyword import keyword_plan, keyword_ranks
from search.retrieval.snippets import SearchHit, search_hits
from search.retrieval.vector import nearest_chunks, serving_model, vector_ranks

MODES = ("keyword", "vector", "hybrid")
CORPORA = ("notes", "knowledge")
RRF_K = 60
VECTOR_POOL = 200  # a query of only common words is ranked by keyword within this many nearest chunks


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
    filters = Filters(types or NOTE_KINDS, patient_id, date_from, date_to, note_type, readable)
    excluding = exclude_negated or exclude_uncertain or exclude_other_subject
    depth = max(limit * (4 if excluding else 1), 50 if mode == "hybrid" else limit)
    per_source = corpus == "knowledge"
    ranked = _ranked(query, filters, mode, depth, per_source)
    if not excluding:
        return search_hits(ranked[:limit], query)
    kept: list[SearchHit] = []
    for start in range(0, len(ranked), limit):  # context tagging is the costly part: only as far as needed
        kept += [
            h
            for h in search_hits(ranked[start : start + limit], query)
            if not (exclude_negated and h.negated)
            and not (exclude_uncertain and h.uncertain)
            and not (exclude_other_subject and h.other_subject)
        ]
        if len(kept) >= limit:
            break
    return kept[:limit]


def _ranked(query: str, filters: Filters, mode: str, depth: int, per_source: bool) -> list[tuple[int, float]]:
    fetch = depth * 3 if per_source else depth
    pending = None
    if mode != "keyword":
        # The query's embedding is computed on another thread while the database plans and ranks by keyword: the
        # two run on two cores at once (torch and the driver release the GIL).
        name, path = serving_model()
        pending = threads.pool("query-embedding", os.cpu_count() or 2).submit(embedding.encode_query, query, path=path)
    plan = keyword_plan(query, filters) if mode != "vector" else None
    pool = plan is not None and plan.too_broad
    keyword = _dedupe(keyword_ranks(query, filters, fetch, plan=plan), per_source) if plan and not pool else []
    limit = max(fetch, VECTOR_POOL) if pool else fetch
    nearest = []
    if pending is not None:
        nearest = nearest_chunks(pending.result(), name, filters, limit)
    elif pool:  # keyword mode, every query word common: rank within the nearest chunks
        nearest = vector_ranks(query, filters, limit)
    if pool:
        within = [chunk_id for chunk_id, _, _ in nearest] or None
        keyword = _dedupe(keyword_ranks(query, filters, fetch, plan=plan, within=within), per_source)
    vector_ranking = _dedupe(nearest[:fetch], per_source) if mode != "keyword" else []
    if mode != "hybrid":
        return [(chunk_id, score) for _, chunk_id, score in (keyword or vector_ranking)[:depth]]
    return reciprocal_rank_fusion([keyword[:depth], vector_ranking[:depth]])[:depth]


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
