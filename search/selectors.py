"""Reads of the search index: keyword (full text), vector (exact or HNSW) and hybrid (RRF) retrieval.

The work is done in search.retrieval, one module a job; this module keeps the names the rest of the project
(and its benchmarks) read from it. Tuning constants live with the code they tune (search.retrieval.keyword, .vector).
"""

from __future__ import annotations

from search.retrieval.filters import NOTE_KINDS
from search.retrieval.filters import Filters as _Filters
from search.retrieval.hybrid import CORPORA, MODES, RRF_K, reciprocal_rank_fusion, search_chunks
from search.retrieval.keyword import KeywordPlan, document_frequencies, keyword_plan, keyword_ranks
from search.retrieval.snippets import SearchHit, snippet
from search.retrieval.snippets import search_hits as _hits
from search.retrieval.status import IndexStatus, index_status
from search.retrieval.terms import expanded_terms, keyword_text, query_terms
from search.retrieval.threads import close_shard_connections
from search.retrieval.vector import HNSW_SHARDS, nearest_chunks, serving_model, vector_ranks

__all__ = [
    "CORPORA",
    "HNSW_SHARDS",
    "MODES",
    "NOTE_KINDS",
    "RRF_K",
    "IndexStatus",
    "KeywordPlan",
    "SearchHit",
    "_Filters",
    "_hits",
    "close_shard_connections",
    "document_frequencies",
    "expanded_terms",
    "index_status",
    "keyword_plan",
    "keyword_ranks",
    "keyword_text",
    "nearest_chunks",
    "query_terms",
    "reciprocal_rank_fusion",
    "search_chunks",
    "serving_model",
    "snippet",
    "vector_ranks",
]
