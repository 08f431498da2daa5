"""Hits as shown: the chunk, a snippet with the query's words marked, and where each mention is negated,
uncertain or about someone else."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

from search.models import Chunk
from search.negation import term_context
from search.retrieval.terms import expanded_terms


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


def search_hits(ranked: list[tuple[int, float]], query: str) -> list[SearchHit]:
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
