"""Writes to the clinical data ecosystem: imports, tokens. Each is one transaction per unit."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.db import transaction

from clinic import models as m
from clinic.fhir.importer import FhirImporter, PreparedUnit, UnitResult, iter_units, prepare_unit
from clinic.ingestion import run_finish, run_start


def fhir_import_files(
    *,
    paths: Iterable[str | Path],
    source: str = "cli",
    user: Any = None,
    progress: Callable[[UnitResult], None] | None = None,
) -> m.IngestionRun:
    """Import every FHIR file under `paths` (one transaction per file) into one IngestionRun."""
    run = run_start(kind="fhir", source=source, user=user)
    importer = FhirImporter(run)
    # Parsing and mapping the next files (pure Python, no database) overlaps with writing this one.
    units = iter(iter_units(paths))
    ahead: deque[Future[PreparedUnit]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhir-prepare") as pool:
        while True:
            while len(ahead) < 2 and (unit := next(units, None)) is not None:
                ahead.append(pool.submit(prepare_unit, *unit))
            if not ahead:
                break
            result = importer.commit(ahead.popleft().result())
            if progress is not None:
                progress(result)
    return run_finish(run)


def fhir_import_bytes(*, name: str, data: bytes, source: str = "api", user: Any = None) -> m.IngestionRun:
    """Import one uploaded unit (a Bundle, a resource or NDJSON)."""
    run = run_start(kind="fhir", source=source, user=user)
    FhirImporter(run).import_bytes(name, data)
    return run_finish(run)


@transaction.atomic
def api_token_create(*, user: Any, name: str = "") -> str:
    """Create a bearer token for `user`; returns the only copy of the raw token (the database keeps its hash)."""
    raw = m.ApiToken.generate()
    m.ApiToken.objects.create(user=user, name=name, prefix=raw[:10], digest=m.ApiToken.hash(raw))
    return raw
