"""The de-identification engine: find PHI spans in a note, resolve overlaps, write the de-identified text.

Surrogates: names, contacts, identifiers, addresses, places and organisations become tags ([NAME], [PHONE], …);
dates move by one offset per patient (HMAC of DEID_SECRET and the patient key, 1-365 days back, never 0) in the
format they were written; ages over 89 become ">89" (Safe Harbor's 90-or-older category, written without the
digits of the true age); ZIP codes keep their first three digits ("021XX") unless that area is one of the 17
with 20,000 people or fewer ("000XX").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from clinic.deid import dates, lists, names, patterns

# Three-digit ZIP areas with 20,000 people or fewer (HHS Safe Harbor guidance, 2000 census): written as 000.
RESTRICTED_ZIP3 = frozenset("036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893".split())
AGE_SURROGATE = ">89"

# Higher wins where two findings overlap; among equals the longer wins.
PRIORITY = {
    "KNOWN_ID": 100, "EMAIL": 95, "URL": 94, "IP": 93, "SSN": 92, "LABELLED_ID": 91, "PHONE": 90, "FAX": 90,
    "DATE": 85, "ADDRESS": 80, "ORGANIZATION": 78, "STRONG_NAME": 75, "LOCATION": 72, "ZIP": 70, "ID": 60,
    "AGE": 55, "NAME": 50,
}  # fmt: skip


@dataclass(frozen=True)
class Span:
    """A piece of PHI: positions in the input text and its type (NAME, DATE, AGE, PHONE, FAX, EMAIL, URL, IP, SSN,
    ID, ADDRESS, ZIP, LOCATION, ORGANIZATION)."""

    start: int
    end: int
    type: str

    def as_dict(self) -> dict[str, int | str]:
        return {"start": self.start, "end": self.end, "type": self.type}


@dataclass(frozen=True)
class _Finding:
    start: int
    end: int
    type: str
    rank: int
    render: Callable[[], str]


@dataclass
class Deidentifier:
    """One per patient: knows the patient's identifiers from the record and the patient's date offset."""

    secret: str
    patient_key: str
    names: Iterable[str] = ()
    identifiers: Iterable[str] = ()
    places: Iterable[str] = ()
    addresses: Iterable[str] = ()
    _known_names: list[str] = field(default_factory=list, init=False, repr=False)
    _known_values: list[tuple[re.Pattern[str], str]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self._known_names = sorted({part for n in self.names for part in re.split(r"[\s,.]+", n or "") if len(part) > 1})
        known = (
            [(v, "ID") for v in self.identifiers]
            + [(v, "LOCATION") for v in self.places]
            + [(v, "ADDRESS") for v in self.addresses]
        )
        for value, kind in known:
            value = (value or "").strip()
            if len(value) >= (4 if kind == "ID" else 3):
                flags = re.IGNORECASE if kind != "LOCATION" else 0
                self._known_values.append((re.compile(rf"(?<![\w-]){re.escape(value)}(?![\w-])", flags), kind))

    @property
    def pseudonym(self) -> str:
        """A stable, non-reversible id for the patient (HMAC of the secret and the patient key)."""
        return "P" + hmac.new(self.secret.encode(), self.patient_key.encode(), hashlib.sha256).hexdigest()[:12]

    @property
    def offset(self) -> dt.timedelta:
        """The patient's date shift: -365…-1 days (never zero), stable for the secret."""
        digest = hmac.new(self.secret.encode(), b"shift:" + self.patient_key.encode(), hashlib.sha256).digest()
        return -dt.timedelta(days=1 + int.from_bytes(digest[:4], "big") % 365)

    def shift(self, value: dt.datetime | dt.date | None) -> dt.datetime | dt.date | None:
        return None if value is None else value + self.offset

    def text(self, text: str) -> str:
        return self.deidentify(text)[0]

    def spans(self, text: str) -> list[Span]:
        return self.deidentify(text)[1]

    def deidentify(self, text: str) -> tuple[str, list[Span]]:
        """The de-identified text and the PHI spans found (positions in the input text)."""
        chosen = _resolve(self._findings(text))
        out, cursor = [], 0
        for finding in chosen:
            out.append(text[cursor : finding.start])
            out.append(finding.render())
            cursor = finding.end
        out.append(text[cursor:])
        return "".join(out), [Span(f.start, f.end, f.type) for f in chosen]

    def _findings(self, text: str) -> list[_Finding]:
        found: list[_Finding] = []

        def add(start: int, end: int, kind: str, rank: str, render: Callable[[], str] | None = None) -> None:
            if end > start:
                found.append(_Finding(start, end, kind, PRIORITY[rank], render or (lambda: f"[{kind}]")))

        for pattern, kind in self._known_values:
            for match in pattern.finditer(text):
                add(match.start(), match.end(), kind, "KNOWN_ID" if kind == "ID" else kind)
        for start, end, kind in patterns.find_contacts(text):
            add(start, end, kind, kind if kind != "ID" else "ID")
        for start, end, kind, labelled in patterns.find_ids(text):
            add(start, end, kind, "LABELLED_ID" if labelled else "ID")
        offset = self.offset
        for start, end, render in dates.find(text):
            add(start, end, "DATE", "DATE", _bind(render, offset))
        for start, end, kind in patterns.find_addresses(text):
            add(start, end, kind, kind)
        for start, end, kind in patterns.find_organizations(text):
            add(start, end, kind, kind)
        for start, end, kind in patterns.find_places(text, is_place_word=_is_place):
            add(start, end, kind, kind, _zip_surrogate(text[start:end]) if kind == "ZIP" else None)
        for start, end in patterns.find_ages(text):
            add(start, end, "AGE", "AGE", lambda: AGE_SURROGATE)
        found_names = names.find(text)
        for span in [*found_names, *names.spread(text, found_names, self._known_names)]:
            add(span.start, span.end, "NAME", "STRONG_NAME" if span.strong else "NAME")
        return found


def _bind(render: dates.Render, offset: dt.timedelta) -> Callable[[], str]:
    return lambda: render(offset)


def _zip_surrogate(value: str) -> Callable[[], str]:
    area = value[:3]
    return lambda: ("000" if area in RESTRICTED_ZIP3 else area) + "XX"


def _is_place(city: str, *, after_home_cue: bool = False) -> bool:
    """A word after 'in' / 'lives in' / 'moved from' that is a place: a known city, or shaped like one; after a
    cue that can only introduce a place ('born in', 'lives in'), any capitalised word that is not an everyday one."""
    words = city.split()
    if city in patterns.STATES.values() or any(w in lists.clinical_terms() for w in words):
        return False  # a state is not PHI under Safe Harbor
    if city in lists.cities():
        return True
    if after_home_cue and not any(lists.is_ordinary(w) or w in lists.clinical_terms() for w in words):
        return True
    if words[0] in (
        "North",
        "South",
        "East",
        "West",
        "New",
        "Lake",
        "Port",
        "Fort",
        "Mount",
        "Mt.",
        "St.",
        "San",
        "Santa",
        "Los",
        "Las",
    ):
        return len(words) > 1
    last = words[-1]
    shaped = patterns.PLACE_SUFFIX.search(last.lower()) is not None
    return shaped and not (lists.is_ordinary(last) or lists.is_last_name(last) or lists.is_first_name(last))


def _resolve(findings: list[_Finding]) -> list[_Finding]:
    """Keep the strongest, then longest, findings that do not overlap, in text order."""
    chosen: list[_Finding] = []
    taken: list[tuple[int, int]] = []
    for finding in sorted(findings, key=lambda f: (-f.rank, f.start - f.end, f.start)):
        if all(finding.end <= start or finding.start >= end for start, end in taken):
            chosen.append(finding)
            taken.append((finding.start, finding.end))
    return sorted(chosen, key=lambda f: f.start)


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return "90+" if age > 89 else f"{age // 10 * 10}-{age // 10 * 10 + 9}"
