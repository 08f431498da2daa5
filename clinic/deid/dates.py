"""Dates in the forms clinicians write, each found with a renderer that shifts it and keeps its format.

A year on its own ("in 2015", "since 1998") is kept: Safe Harbor allows the year, and a shifted bare year would be
wrong as often as right. Every date with a day or a month moves by the patient's offset. Fractions and readings
("3/4 tablets", "BP 120/80", "5/5 strength") are not dates: a day/month without a year counts only after a word
that introduces a date ("on 3/4", "since 10/19").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

Render = Callable[[dt.timedelta], str]

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
MONTH_NAMES = [
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_MONTH = (
    r"(?=[A-Z])(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:(?P<wd>(?=[A-Z])(?i:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun))\.?,?\s+)?"
_ORD = r"(?P<ord>st|nd|rd|th)?"
_END = r"(?![\w/]|[-.]\d)"
_START = r"(?<![\w/.:-])"
_NOT_A_DOSE = r"(?!\s*(?:mg|mcg|ml|mL|g|tabs?|tablets?|caps?|units?|puffs?|drops?|%))"

ISO = re.compile(
    _START + _WEEKDAY + r"(?P<y>(?:18|19|20|21)\d\d)(?P<s>[-/.])(?P<m>\d\d?)(?P=s)(?P<d>\d\d?)"
    r"(?P<time>T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?" + _END
)
NUMERIC = re.compile(_START + _WEEKDAY + r"(?P<m>\d\d?)(?P<s>[-/.])(?P<d>\d\d?)(?P=s)(?P<y>\d{4}|\d\d)" + _END)
MONTH_DAY = re.compile(
    r"\b"
    + _WEEKDAY
    + r"(?P<mon>"
    + _MONTH
    + r")(?:\s+|-)(?P<d>\d\d?)"
    + _ORD
    + r"(?:(?P<sep>,\s*|,?\s+|-)(?P<y>\d{4})|(?P<sep2>,?\s+)'(?P<y2>\d\d))?(?![\w:]|[.,]\d)"
    + _NOT_A_DOSE
)
DAY_MONTH = re.compile(
    r"(?<![\w/.-])"
    + _WEEKDAY
    + r"(?:(?P<the>the)\s+)?(?P<d>\d\d?)"
    + _ORD
    + r"(?P<of>\s+of)?(?P<sep0>[\s-]+)(?P<mon>"
    + _MONTH
    + r")"
    r"(?:(?P<sep>,?[\s-]+)(?P<y>\d{4})|(?P<sep2>-)(?P<y2>\d\d))?(?![\w]|[.,]\d)" + _NOT_A_DOSE
)
MONTH_YEAR = re.compile(r"\b(?P<mon>" + _MONTH + r")(?P<sep>,?\s+(?:of\s+)?|-|/|\s+')(?P<y>(?:18|19|20|21)\d\d|\d\d)(?![\d:])")
NUMERIC_MONTH_YEAR = re.compile(_START + r"(?P<m>0?[1-9]|1[0-2])(?P<s>[/-])(?P<y>(?:19|20)\d\d)" + _END)
NUMERIC_MONTH_DAY = re.compile(
    _START + r"(?P<m>0?[1-9]|1[0-2])/(?P<d>0?[1-9]|[12]\d|3[01])(?![\w/]|[-.]\d)"
    r"(?!\s*(?:tabs?|tablets?|pills?|caps?|capsules?|strength|of|pain|scale|power|vision|mg|mcg|ml|cm|mm|times|doses?|x\b|beats?|breaths?|stool|sessions?|hours?|days?|weeks?|cc|inch(?:es)?))"
)
_MONTH_DAY_CUES = re.compile(
    r"(?i:\b(?:on|since|from|until|till|through|thru|by|dated?|of|as of|admitted|discharged|seen|started|starting|began|"
    r"effective|dos|dob|visit|to|before|after|between|last|next|due|scheduled|returned?|surgery|procedure|"
    r"onset|expires?|expiring|expiration|birthday|born|(?:mon|tues|wednes|thurs|fri|satur|sun)day,?)\s*:?\s*|[-–]\s*)$"
)


def find(text: str) -> Iterator[tuple[int, int, Render]]:
    """Every date in `text` as (start, end, render); matches may overlap, the caller keeps the longest."""
    for match in ISO.finditer(text):
        if _valid(int(match["y"]), int(match["m"]), int(match["d"])):
            yield match.start(), match.end(), _iso(match)
    for match in NUMERIC.finditer(text):
        render = _numeric(match)
        if render:
            yield match.start(), match.end(), render
    for pattern in (MONTH_DAY, DAY_MONTH):
        for match in pattern.finditer(text):
            render = _named(match)
            if render:
                yield match.start(), match.end(), render
    for match in MONTH_YEAR.finditer(text):
        if len(match["y"]) == 4 or "'" in match["sep"]:
            yield match.start(), match.end(), _month_year(match)
    for match in NUMERIC_MONTH_YEAR.finditer(text):
        yield match.start(), match.end(), _numeric_month_year(match)
    for match in NUMERIC_MONTH_DAY.finditer(text):
        if _MONTH_DAY_CUES.search(text, max(0, match.start() - 30), match.start()) or re.match(
            r"\s+at\s+\d", text[match.end() :]
        ):
            yield match.start(), match.end(), _numeric_month_day(match)


def _valid(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return 1800 <= year <= 2199


def _full_year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        pivot = dt.date.today().year % 100 + 1
        year += 2000 if year <= pivot else 1900
    return year


def _pad(value: int, like: str) -> str:
    """Zero-padded when the original field was ('03' → '01'; '3' → '1'; '12' → '9')."""
    return f"{value:02d}" if like.startswith("0") else str(value)


def _weekday(match: re.Match[str], first: str, day: dt.date) -> str:
    """The text before the date's first field ('Tuesday, '), its weekday recomputed for the shifted day."""
    head = match.group(0)[: match.start(first) - match.start()]
    like = match["wd"]
    if not like:
        return head
    return head.replace(like, _weekday_text(day, like), 1)


def _weekday_text(day: dt.date, like: str) -> str:
    name = WEEKDAYS[day.weekday()]
    name = name if len(like) > 4 else name[: len(like)]
    return name.upper() if like.isupper() and len(like) > 1 else name


def _iso(match: re.Match[str]) -> Render:
    day = dt.date(int(match["y"]), int(match["m"]), int(match["d"]))
    sep = match["s"]
    padded = len(match["m"]) == 2 or len(match["d"]) == 2

    def render(offset: dt.timedelta) -> str:
        new = day + offset
        text = f"{new.year}{sep}{new.month:02d}{sep}{new.day:02d}" if padded else f"{new.year}{sep}{new.month}{sep}{new.day}"
        return _weekday(match, "y", new) + text + (match["time"] or "")

    return render


def _numeric(match: re.Match[str]) -> Render | None:
    first, second, year = int(match["m"]), int(match["d"]), _full_year(match["y"])
    month_first = first <= 12
    month, day_of_month = (first, second) if month_first else (second, first)
    if not _valid(year, month, day_of_month):
        return None
    day = dt.date(year, month, day_of_month)
    sep = match["s"]

    def render(offset: dt.timedelta) -> str:
        new = day + offset
        year_text = str(new.year)[-len(match["y"]) :]
        a, b = (new.month, new.day) if month_first else (new.day, new.month)
        like = "0" if match["m"].startswith("0") or match["d"].startswith("0") else ""
        return _weekday(match, "m", new) + f"{_pad(a, like)}{sep}{_pad(b, like)}{sep}{year_text}"

    return render


def _month_number(token: str) -> int:
    return MONTHS[token[:3].lower()]


def _month_text(month: int, like: str) -> str:
    """The month in the style of `like`: 'March', 'Mar', 'Mar.', 'MAR', 'Sept'."""
    bare = like.rstrip(".")
    short = (len(bare) == 3 and bare.lower() != "may") or bare.lower() == "sept"
    name = MONTH_NAMES[month][:3] if short else MONTH_NAMES[month]
    name = name.upper() if bare.isupper() and len(bare) > 1 else name
    return name + ("." if short and like.endswith(".") else "")


def _ordinal(day: int) -> str:
    return "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _named(match: re.Match[str]) -> Render | None:
    """'March 3, 2021', 'Mar 3rd', '3 March 2021', 'the 3rd of March', '03-MAR-21' (weekday optional)."""
    groups = match.groupdict()
    month = _month_number(groups["mon"])
    year_text = groups["y"] or groups.get("y2")
    bare_may = groups["mon"].rstrip(".").lower() == "may"
    if groups.get("sep0") is not None and not (year_text or groups["ord"] or groups["of"] or groups["wd"] or groups["the"]):
        if bare_may or not re.fullmatch(r"\s+", groups["sep0"]) or len(groups["mon"].rstrip(".")) < 4:
            return None  # '2 May continue', '5 Mar': too weak without a year or an ordinal
    year = _full_year(year_text) if year_text else None
    probe_year = year or 2000  # a leap year, so 'Feb 29' without a year stays valid
    if not _valid(probe_year, month, int(groups["d"])):
        return None
    day = dt.date(probe_year, month, int(groups["d"]))
    base = match.start()

    def render(offset: dt.timedelta) -> str:
        new = day + offset
        pieces = []
        for name in ("wd", "the", "d", "ord", "of", "sep0", "mon", "sep", "y", "sep2", "y2"):
            if groups.get(name) is None:
                continue
            start, end = match.start(name) - base, match.end(name) - base
            pieces.append((start, end, name))
        out, cursor, text = [], 0, match.group(0)
        for start, end, name in sorted(pieces):
            out.append(text[cursor:start])
            value = text[start:end]
            if name == "d":
                value = _pad(new.day, value)
            elif name == "ord":
                value = _ordinal(new.day) if value.islower() else _ordinal(new.day).upper()
            elif name == "mon":
                value = _month_text(new.month, value)
            elif name in ("y", "y2"):
                value = str(new.year)[-len(value) :] if year else value
            elif name == "wd":
                value = _weekday_text(new, value)
            out.append(value)
            cursor = end
        out.append(text[cursor:])
        return "".join(out)

    return render


def _months(offset: dt.timedelta) -> int:
    """A date known only to the month moves by whole months (at least one), so 'March 2021' never stays put."""
    months = round(abs(offset.days) / 30.44) or 1
    return -months if offset.days < 0 else months


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _month_year(match: re.Match[str]) -> Render:
    year, month = _full_year(match["y"]), _month_number(match["mon"])

    def render(offset: dt.timedelta) -> str:
        new_year, new_month = _add_months(year, month, _months(offset))
        return f"{_month_text(new_month, match['mon'])}{match['sep']}{str(new_year)[-len(match['y']) :]}"

    return render


def _numeric_month_year(match: re.Match[str]) -> Render:
    year, month = int(match["y"]), int(match["m"])

    def render(offset: dt.timedelta) -> str:
        new_year, new_month = _add_months(year, month, _months(offset))
        return f"{_pad(new_month, match['m'])}{match['s']}{new_year}"

    return render


def _numeric_month_day(match: re.Match[str]) -> Render:
    day = dt.date(2000, int(match["m"]), int(match["d"]))

    def render(offset: dt.timedelta) -> str:
        new = day + offset
        return f"{_pad(new.month, match['m'])}/{_pad(new.day, match['d'])}"

    return render
