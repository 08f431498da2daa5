"""De-identification of chart text and records for training datasets (HIPAA Safe Harbor style).

Identifiers known from the record (the patient's and practitioners' names, MRN, FHIR ids, city) are replaced
by tags; pattern identifiers (phone, email, SSN, URLs, street addresses) likewise; every date moves by one
offset per patient, so intervals survive and real dates do not; ages over 89 become "90+".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

PATTERNS = [
    ("[EMAIL]", re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")),
    ("[URL]", re.compile(r"\bhttps?://\S+", re.IGNORECASE)),
    ("[SSN]", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("[PHONE]", re.compile(r"(?<!\d)(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)")),
    (
        "[ADDRESS]",
        re.compile(
            r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way)\b\.?"
        ),
    ),
]
DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?\b")
US_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
AGE_OVER_89 = re.compile(r"\b(9\d|1[0-4]\d)(?=[- ](?:year|yo\b|y/o))", re.IGNORECASE)


@dataclass
class Deidentifier:
    """One per patient: knows the patient's identifiers and the patient's date offset."""

    secret: str
    patient_key: str
    names: Iterable[str] = ()
    identifiers: Iterable[str] = ()
    places: Iterable[str] = ()
    _name_pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _id_pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _place_pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._name_pattern = _alternation(_name_tokens(self.names))
        self._id_pattern = _alternation(i for i in self.identifiers if len(i) >= 4)
        self._place_pattern = _alternation(p for p in self.places if len(p) >= 3)

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
        for tag, pattern in PATTERNS:
            text = pattern.sub(tag, text)
        if self._id_pattern:
            text = self._id_pattern.sub("[ID]", text)
        if self._name_pattern:
            text = self._name_pattern.sub("[NAME]", text)
        if self._place_pattern:
            text = self._place_pattern.sub("[LOCATION]", text)
        text = DATE.sub(self._shift_iso, text)
        text = US_DATE.sub(self._shift_us, text)
        return AGE_OVER_89.sub("90+", text)

    def _shift_iso(self, match: re.Match[str]) -> str:
        try:
            day = dt.date(int(match[1]), int(match[2]), int(match[3])) + self.offset
        except ValueError:
            return "[DATE]"
        return day.isoformat() + (match[4] or "")

    def _shift_us(self, match: re.Match[str]) -> str:
        try:
            day = dt.date(int(match[3]), int(match[1]), int(match[2])) + self.offset
        except ValueError:
            return "[DATE]"
        return f"{day.month}/{day.day}/{day.year}"


def _name_tokens(names: Iterable[str]) -> set[str]:
    """Each name and its parts, with and without Synthea's trailing digits ('Alva958' → 'Alva958', 'Alva')."""
    tokens: set[str] = set()
    for name in names:
        for part in re.split(r"[\s,.]+", name or ""):
            if len(part) >= 2 and part.lower() not in {"dr", "mr", "mrs", "ms", "md", "jr", "sr"}:
                tokens.add(part)
                stripped = part.rstrip("0123456789")
                if len(stripped) >= 2:
                    tokens.add(stripped)
    return tokens


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    unique = sorted({w for w in words if w}, key=len, reverse=True)
    if not unique:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in unique) + r")\d*\b", re.IGNORECASE)


def age_band(age: int | None) -> str:
    if age is None:
        return "unknown"
    return "90+" if age > 89 else f"{age // 10 * 10}-{age // 10 * 10 + 9}"
