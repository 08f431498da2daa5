"""The data card: what a dataset is, how it was made and checked, and what it holds (card.json, and the admin's
readable page). No timestamps and no secrets: the same definition and seed give the same card."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections import Counter
from pathlib import Path
from typing import Any

import pydicom

from clinic import models as m
from clinic.curation.records import FORMAT_VERSION
from clinic.deid import deid_secret

CODE_ROOTS = [Path(__file__).parent, Path(__file__).parent.parent / "deid"]

DE_IDENTIFICATION = [
    "text (notes, reports, titles, questions, answers, drafts): names, MRN, FHIR ids and other record numbers, phones, "
    "faxes, e-mail addresses, URLs, IPs, SSNs, street addresses, cities and organisations replaced by tags; ZIP codes "
    "cut to three digits (000 for the 17 small Safe Harbor areas); ages over 89 written >89 (engine: docs/deid.md)",
    "dates everywhere (text, structured fields, DICOM) shifted by one per-patient offset of 1-365 days back, so "
    "intervals hold; years alone kept",
    "patients identified by a keyed pseudonym; age as a 10-year band (90+), no birth date, no ZIP code field",
    "DICOM: PS3.15 Basic Application Level Confidentiality Profile with the Retain Longitudinal Temporal Information "
    "(Modified Dates) and Retain Patient Characteristics (sex, size, weight) options; private attributes removed; "
    "UIDs replaced consistently within the dataset; files that may carry burned-in text left out (docs/datasets.md)",
    "codes and their displays are kept as coded; the residual PHI check reads them",
]


@functools.cache
def code_version() -> dict[str, str]:
    """What shapes the bytes: the curation and de-identification code and lists (hashed), the format, pydicom."""
    digest = hashlib.sha256()
    for root in CODE_ROOTS:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".tsv", ".txt")):
            digest.update(f"{path.relative_to(root.parent)}\n".encode() + path.read_bytes())
    return {"curation_sha256": digest.hexdigest(), "format": str(FORMAT_VERSION), "pydicom": pydicom.__version__}


def source_hash(sources: list[str]) -> str:
    """An HMAC of every source row read (table, row, content hash): equal when the sources are; keyed, so it cannot
    be matched against guesses of the identified data."""
    key = deid_secret(salt="dataset-source-hash").encode()
    return hmac.new(key, "\n".join(sources).encode(), hashlib.sha256).hexdigest()


def masked(counts: Counter[str], k: int) -> dict[str, int | str]:
    """Counts of a demographic the small-cell check does not cover (race, ethnicity): fewer than k shown as "<k"."""
    return {key or "not recorded": (n if n >= k else f"<{k}") for key, n in sorted(counts.items())}


def card_build(*, dataset: m.Dataset, facts: dict[str, Any]) -> dict[str, Any]:
    """The card from the build's facts; keys sorted when written."""
    return {
        "name": dataset.name,
        "purpose": dataset.purpose,
        "purpose_label": dataset.get_purpose_display(),
        "content": dataset.content,
        "cohort_criteria": dataset.criteria,
        "seed": dataset.seed,
        "format_version": FORMAT_VERSION,
        "code_version": code_version(),
        "intended_use": "training and evaluating clinical foundation models inside the institution",
        "source": "Carebase clinical data ecosystem",
        "de_identification": DE_IDENTIFICATION,
        **facts,
    }
