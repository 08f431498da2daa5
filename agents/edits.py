"""How much a clinician changed a draft before signing it: the word-level Levenshtein distance of each section.

Words, not characters: a clinician's edit is a word added, removed or replaced, and a changed number ("7.1" ->
"7.4") counts once. Words are runs of non-space characters, so punctuation stays with its word.
"""

from __future__ import annotations

import re
from typing import Any


def words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def word_distance(before: list[str], after: list[str]) -> int:
    """Insertions, deletions and substitutions of whole words that turn `before` into `after`."""
    if len(before) < len(after):
        before, after = after, before
    previous = list(range(len(after) + 1))
    for i, word in enumerate(before, 1):
        current = [i]
        for j, other in enumerate(after, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1]


def _section_text(section: dict[str, Any]) -> str:
    return " ".join(s.get("text", "") for s in section.get("sentences", []))


def section_edits(*, generated: list[dict[str, Any]], signed: list[dict[str, Any]]) -> dict[str, Any]:
    """Per section (matched by title; a section only one side has counts all its words), and in all."""
    before = {s["title"]: words(_section_text(s)) for s in generated}
    after = {s["title"]: words(_section_text(s)) for s in signed}
    titles = list(before) + [t for t in after if t not in before]
    sections = [
        {
            "title": title,
            "distance": word_distance(before.get(title, []), after.get(title, [])),
            "generated_words": len(before.get(title, [])),
            "signed_words": len(after.get(title, [])),
        }
        for title in titles
    ]
    return {
        "unit": "words",
        "sections": sections,
        "distance": sum(s["distance"] for s in sections),
        "generated_words": sum(s["generated_words"] for s in sections),
    }
