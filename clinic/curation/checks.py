"""Quality and privacy checks of a dataset: template-only notes, duplicates, small cells, residual PHI.

Each is deterministic (no randomness, no clocks), so a rebuild drops exactly the same records.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clinic.deid import Deidentifier

# --- template-only notes -------------------------------------------------------------------------------------

MIN_NOTE_WORDS = 5
_TAG = re.compile(r"\[[A-Z_]+\]")
_PLACEHOLDER = re.compile(r"\*{2,}|_{2,}|\.{3,}|\{[^}\n]*\}|<[^>\n]*>|\[[^\]\n]*\]|\b(?:XX+|N/?A|TBD|none)\b", re.I)
_LABEL = re.compile(r"^[^\n:]{1,40}:|(?<=\s)[A-Za-z][\w /()-]{0,30}:", re.M)
_WORD = re.compile(r"[A-Za-z]{2,}")


def is_template_only(text: str) -> bool:
    """Nothing written beyond the form: after de-identification tags, placeholders (`___`, `***`, `{field}`, `[...]`,
    `N/A`) and labels (`Vitals:`, `HPI:`) are taken out, fewer than MIN_NOTE_WORDS words remain. An empty note is
    template-only too."""
    rest = _LABEL.sub(" ", _PLACEHOLDER.sub(" ", _TAG.sub(" ", text)))
    return len(_WORD.findall(rest)) < MIN_NOTE_WORDS


# --- duplicates ----------------------------------------------------------------------------------------------

SHINGLE_WORDS = 5
NEAR_DUPLICATE = 0.75  # Jaccard of 5-word shingle sets from which a later record goes: one word changed in 50 is 0.79
PERMUTATIONS, BANDS = 64, 16  # MinHash signature of 64, LSH in 16 bands of 4: candidates from ~0.5 similarity up
_rng = np.random.default_rng(20240314)  # fixed: the same hash family in every process, so the same records drop
_A = _rng.integers(1, 2**63, PERMUTATIONS, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64)


def _normalised(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def shingles(text: str) -> set[str]:
    words = _normalised(text).split()
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words)}
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def _signature(items: set[str]) -> np.ndarray:
    hashes = np.array(
        [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in sorted(items)],
        dtype=np.uint64,
    )
    with np.errstate(over="ignore"):  # multiply-shift hashing: wrapping at 2**64 is the point
        permuted = (np.outer(hashes, _A) + _B) >> np.uint64(32)
    return np.asarray(permuted.min(axis=0))


@dataclass
class Deduplicator:
    """Exact duplicates by the hash of the normalised text; near duplicates by MinHash LSH candidates whose true
    shingle Jaccard similarity is at least NEAR_DUPLICATE. The first record met is kept."""

    exact: set[str] = field(default_factory=set)
    buckets: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)
    kept: list[set[str]] = field(default_factory=list)

    def verdict(self, text: str) -> str:
        """'' (keep), 'duplicate' or 'near_duplicate'; a kept text is remembered."""
        digest = hashlib.sha256(_normalised(text).encode()).hexdigest()
        if digest in self.exact:
            return "duplicate"
        items = shingles(text)
        keys = [(band, sig.tobytes()) for band, sig in enumerate(np.split(_signature(items), BANDS))]
        candidates = sorted({i for key in keys for i in self.buckets.get(key, [])})
        for i in candidates:
            other = self.kept[i]
            if len(items & other) / len(items | other) >= NEAR_DUPLICATE:
                return "near_duplicate"
        self.exact.add(digest)
        self.kept.append(items)
        for key in keys:
            self.buckets.setdefault(key, []).append(len(self.kept) - 1)
        return ""


# --- small cells ---------------------------------------------------------------------------------------------


def small_cells(quasi: dict[int, tuple[str, str, str]], *, k: int) -> tuple[set[int], int]:
    """Patients whose (age band, sex, ZIP3) combination fewer than k patients share, and how many such cells."""
    sizes = Counter(quasi.values())
    small = {cell for cell, n in sizes.items() if n < k}
    return {pid for pid, cell in quasi.items() if cell in small}, len(small)


# --- residual PHI --------------------------------------------------------------------------------------------

# Dates are shifted, not removed: a date found after de-identification is a shifted one.
RESIDUAL_IGNORED = {"DATE"}
STRUCTURED_KEYS = {"patient", "kind", "format", "sex", "age_band", "code", "unit", "flag", "status", "class", "role",
                   "source", "date", "start", "onset", "chrom", "ref", "alt", "assembly", "genotype", "zygosity",
                   "filter", "file", "sop_instance_uid", "series_uid", "study_uid", "modality"}  # fmt: skip


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string in a record, structured keys (codes, dates, pseudonyms) left out."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key in sorted(value):
            if key not in STRUCTURED_KEYS:
                yield from strings(value[key], f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings(item, f"{path}[{i}]")


def residual_phi(record: dict[str, Any], deid: Deidentifier) -> list[tuple[str, str]]:
    """(field, PHI type) of what the engine still finds in a written record, with the patient's own identifiers
    known to it. Never the value: the reason is stored and shown."""
    found = []
    for path, text in strings(record):
        for span in deid.spans(text):
            if span.type not in RESIDUAL_IGNORED:
                found.append((path, span.type))
    return found


def known_identifiers_in(values: Iterable[str], identifiers: Iterable[str]) -> list[str]:
    """Which of a patient's identifiers (name parts, MRN, original UIDs, birth date) appear, as whole words, in
    these values."""
    text = "\n".join(values).lower()
    wanted = sorted({i.lower() for i in identifiers if len(i) >= 3})
    return [i for i in wanted if re.search(rf"(?<![a-z0-9]){re.escape(i)}(?![a-z0-9])", text)]
