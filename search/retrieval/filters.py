"""What a search is limited to: source types, one patient, dates, a note type; as SQL over search_chunk `c`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

NOTE_KINDS = ("note", "report")
EXACT_CHARTS = 500  # a reader restricted to at most this many charts: exact vector search over theirs (never misses)


@dataclass(frozen=True)
class Filters:
    source_types: tuple[str, ...]
    patient_id: int | None
    date_from: dt.date | dt.datetime | None
    date_to: dt.date | dt.datetime | None
    note_type: str | None
    patient_ids: tuple[int, ...] | None = None  # the charts the reader may see (None: every chart)

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = ["c.source_type = ANY(%s)"]
        params: list[Any] = [list(self.source_types)]
        if self.patient_id is not None:
            clauses.append("c.patient_id = %s")
            params.append(self.patient_id)
        if self.patient_ids is not None:
            clauses.append("c.patient_id = ANY(%s)")
            params.append(list(self.patient_ids))
        if self.date_from is not None:
            clauses.append("c.date >= %s")
            params.append(self.date_from)
        if self.date_to is not None:
            clauses.append("c.date < %s")
            params.append(_day_after(self.date_to))
        if self.note_type:
            clauses.append("c.note_type ILIKE %s")
            params.append(f"%{self.note_type}%")
        return " AND ".join(clauses), params

    @property
    def few_charts(self) -> bool:
        """One chart, or a reader's few: every keyword match is ranked and vectors are compared exactly."""
        return self.patient_id is not None or (self.patient_ids is not None and len(self.patient_ids) <= EXACT_CHARTS)

    @property
    def whole_chart(self) -> bool:
        """One patient's chunks of every kind, nothing else narrowed: the chart's vectors alone decide."""
        return (
            self.patient_id is not None
            and set(NOTE_KINDS) <= set(self.source_types)
            and self.date_from is None
            and self.date_to is None
            and not self.note_type
        )


def _day_after(value: dt.date | dt.datetime) -> dt.date | dt.datetime:
    return value if isinstance(value, dt.datetime) else value + dt.timedelta(days=1)
