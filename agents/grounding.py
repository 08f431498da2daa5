"""Grounding check: how much of a sentence its cited records support.

Support is the share of the sentence's content tokens (numbers, dates, clinical words) that occur in the text of
the records it cites; connective words of the drafting templates and plain-language glossary do not count. A
sentence with no citation scores 0; generative backends are flagged below `SUPPORTED`.
"""

from __future__ import annotations

import re
from typing import Any

from agents.drafting import PLAIN
from clinic.timeline import KIND_MODELS

SUPPORTED = 0.8
CONNECTIVES = set(
    """a about above after all also an and any are as at be been before below by can care clinician clinicians course
    date dates day days do does during each follow followed following for from given had has have he her here high his
    how if in include includes including is it its last latest low may measured measurement measurements most no none
    not of on one or other our over period plan prescribed recent recorded reason reasons reaction referral refer
    results see she since so the their them then there these they this those to under until up was we were what when
    which while who will with within you your active problem problems medication medications allergy allergies
    admission admitted discharge encounter encounters hospital known procedure procedures performed result value values
    summary note patient patients chart current currently continue take taking told doctor nurse call ask questions
    please keep list being treated means health team seen visit visits stay help sign letter dear colleague thank
    assessment subjective objective findings history relevant kind regards review reviewed reported found records
    record based ongoing shows showed remains started last amount amounts level levels blood sugar pressure body
    fat lung lungs heart kidney kidneys swelling pain long term short extra weight breathing infection cells
    condition conditions each day doctors medicine medicines drug drugs allergic avoid because these stay away
    so as keep""".split()
) | {w for words in PLAIN.values() for w in words.split()}  # the plain-language glossary explains, it claims nothing


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+(?:\.\d+)?", text.lower())


def source_text(citation: dict[str, Any]) -> str:
    """Everything a cited row states, flattened to text (fields and the imported resource)."""
    model = KIND_MODELS.get(citation.get("source_type", ""))
    if model is None:
        return str(citation.get("label", ""))
    row = model._default_manager.filter(pk=citation.get("source_id")).values().first()
    if row is None:
        return ""
    parts = [str(v.date() if hasattr(v, "date") and callable(v.date) else v) for k, v in row.items() if k != "raw" and v]
    parts += [str(v) for k, v in row.items() if isinstance(v, float)]
    parts += [f"{v:.2f}" for v in row.values() if isinstance(v, float)]
    return " ".join(parts)


def support(text: str, citations: list[dict[str, Any]], cache: dict[tuple[str, int], set[str]] | None = None) -> float:
    if not citations:
        return 0.0
    cache = {} if cache is None else cache
    known: set[str] = set()
    for c in citations:
        key = (str(c.get("source_type")), int(c.get("source_id") or 0))
        if key not in cache:
            cache[key] = set(tokens(source_text(c)))
        known |= cache[key]
    claims = [t for t in tokens(text) if t not in CONNECTIVES and len(t) > 1]
    if not claims:
        return 1.0
    return round(sum(1 for t in claims if t in known) / len(claims), 3)


def ground_sections(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sections with each sentence's `support` (0..1) and `supported` flag filled in."""
    cache: dict[tuple[str, int], set[str]] = {}
    for section in sections:
        for s in section["sentences"]:
            s["support"] = support(s["text"], s.get("citations", []), cache)
            s["supported"] = s["support"] >= SUPPORTED
    return sections
