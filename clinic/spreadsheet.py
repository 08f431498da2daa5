"""CSV for people who open it in a spreadsheet: a cell that starts with = + - @ (or a tab or carriage return)
is a formula to Excel and LibreOffice, so it is prefixed with an apostrophe (OWASP's CSV-injection advice)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    """A negative number ("-1.5") is data, not a formula."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()
