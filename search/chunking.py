"""Section-aware chunking: headings (HPI, Assessment, Plan, "Summary :") stay with their text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from clinic.text import sentences

MAX_WORDS = 160  # all-MiniLM-L6-v2 reads 256 word pieces; 160 words stay inside that for clinical prose

_HEADING = re.compile(r"^[ \t]*([A-Z][A-Za-z0-9 /&(),'-]{1,60}?)[ \t]*:[ \t]*", re.M)


@dataclass(frozen=True)
class ChunkText:
    section: str
    text: str


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs in order; text before the first heading has heading ""."""
    found = list(_HEADING.finditer(text))
    parts = []
    start = 0
    heading = ""
    for match in found:
        parts.append((heading, text[start : match.start()]))
        heading, start = match.group(1).strip(), match.end()
    parts.append((heading, text[start:]))
    return [(h, body) for h, body in parts if body.strip()]


def _windows(body: str) -> list[str]:
    """Split a section body on sentence ends into pieces of at most MAX_WORDS words (white space folded)."""
    pieces: list[str] = []
    current: list[str] = []
    for sentence in sentences(body):
        words = sentence.text.split()
        while len(words) > MAX_WORDS:
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.append(" ".join(words[:MAX_WORDS]))
            words = words[MAX_WORDS:]
        if len(current) + len(words) > MAX_WORDS and current:
            pieces.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def chunk_text(text: str) -> list[ChunkText]:
    """Chunks of a document; each keeps its section heading, and a short section joins the next one's chunk
    only when it has no heading of its own."""
    chunks = []
    for heading, body in sections(text or ""):
        for piece in _windows(body):
            label = f"{heading}: {piece}" if heading else piece
            chunks.append(ChunkText(section=heading[:120], text=label))
    return chunks
