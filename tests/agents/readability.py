"""Reading grade of patient-facing text (Flesch-Kincaid, with textstat): the measure the draft tests and the drafts
benchmark hold patient instructions to (grade 8 or under). Only they use it, so textstat is a development package."""

from __future__ import annotations

import functools


@functools.cache
def _offline_syllables() -> None:
    """textstat counts syllables with NLTK's CMU dictionary, which it downloads on first use. Offline (no
    download possible on clinical networks) count them by pyphen's hyphenation, which textstat already uses for
    words the dictionary lacks."""
    import nltk

    try:
        nltk.data.find("corpora/cmudict")
    except LookupError:
        from textstat.backend.counts import _count_syllables

        _count_syllables.get_cmudict = lambda lang: {}  # type: ignore[assignment]


def reading_grade(text: str) -> float:
    import textstat

    _offline_syllables()
    return float(textstat.flesch_kincaid_grade(text))
