"""A query's words: stop words dropped, clinical synonyms added (search.synonyms)."""

from __future__ import annotations

import re

from search.synonyms import expansions

_STOPWORDS = frozenset(
    "a an and are as at be been but by can do does for from had has have how i if in into is it its me my no not "
    "of on or so than that the their then there these they this to was were what when where which who why will "
    "with would you your am any about after also get got".split()
)


def query_terms(query: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+", query.lower())
    return [w for w in words if w not in _STOPWORDS]


def expanded_terms(query: str) -> list[str]:
    """The words of the query and of its clinical synonyms."""
    return query_terms(query) + [w for p in expansions(query) for w in query_terms(p)]


def keyword_text(query: str) -> str:
    """The words of the query and of its clinical synonyms, for PostgreSQL to stem."""
    return " ".join(expanded_terms(query))
