"""The leak rule of the acceptance check, for the tests and the benchmark: a PHI value leaks when it survives
verbatim in the output more often than it appeared outside PHI in the input; a NAME also leaks when any of its
words of three or more letters (titles aside) survives so; an eponym trap must survive verbatim."""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

TITLES = {"MD", "PhD", "DDS", "Jr", "Sr", "Mr", "Mrs", "Ms", "Dr", "Miss", "DVM"}


def count(value: str, text: str) -> int:
    return len(re.findall(r"(?<![\w/.-])" + re.escape(value) + r"(?![\w/-]|\.\d)", text))


@dataclass
class Score:
    total: collections.Counter[str] = field(default_factory=collections.Counter)
    leaked: collections.Counter[str] = field(default_factory=collections.Counter)
    traps: int = 0
    damaged: int = 0
    examples: list[str] = field(default_factory=list)

    def recall(self, kind: str | None = None) -> float:
        total = sum(self.total.values()) if kind is None else self.total[kind]
        leaked = sum(self.leaked.values()) if kind is None else self.leaked[kind]
        return 1 - leaked / total if total else 1.0

    @property
    def kept(self) -> float:
        return 1 - self.damaged / self.traps if self.traps else 1.0


def score(notes: Iterable[dict], deidentify: Callable[[str], str], *, keep_examples: int = 0) -> Score:
    """`notes`: {"text", "phi": [{"type", "value"}], "traps": [phrase]}; `deidentify`: text in, text out."""
    result = Score()
    for note in notes:
        text_in = note["text"]
        text_out = deidentify(text_in)
        values = collections.Counter(p["value"] for p in note["phi"])
        for p in note["phi"]:
            result.total[p["type"]] += 1
        for value, n in values.items():
            kind = next(p["type"] for p in note["phi"] if p["value"] == value)
            leak = max(0, min(n, count(value, text_out) - (count(value, text_in) - n)))
            if kind == "NAME" and not leak:
                for token in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", value):
                    held = sum(count(token, v) * k for v, k in values.items())
                    if token not in TITLES and count(token, text_out) > count(token, text_in) - held:
                        leak = n
                        break
            result.leaked[kind] += leak
            if leak and len(result.examples) < keep_examples:
                result.examples.append(f"{kind} {value!r}")
        for trap in note.get("traps", []):
            result.traps += 1
            result.damaged += trap not in text_out
    return result
