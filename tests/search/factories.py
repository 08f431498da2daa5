"""Charts with notes, indexed for real (real chunking, real model, real database)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from clinic import models as m
from search import services

_ids = itertools.count(1)


def patient(name: str = "Ada Lovelace", **fields: Any) -> m.Patient:
    n = next(_ids)
    return m.Patient.objects.create(fhir_id=f"pt-{n}-{name.replace(' ', '-')}", name=name, **fields)


def note(
    chart: m.Patient, text: str, *, date: dt.datetime | None = None, title: str = "Progress note", **fields: Any
) -> m.ClinicalNote:
    n = next(_ids)
    return m.ClinicalNote.objects.create(
        fhir_id=f"note-{n}",
        patient=chart,
        text=text,
        title=title,
        date=date or dt.datetime(2024, 1, n % 28 + 1, tzinfo=dt.UTC),
        **fields,
    )


def index_all() -> None:
    """Chunk and embed everything now (what the embed workers do)."""
    services.index_missing()
    name, _ = services.indexing_model()
    services.chunks_embed(chunk_ids=services.pending_chunk_ids(model=name))
