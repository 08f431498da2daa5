"""python manage.py deidentify IN.jsonl --out OUT.jsonl

Each input line is {"id", "text"} with an optional "patient" (a Patient's FHIR id, whose record-known names,
identifiers, address and practitioners are then removed too and whose date offset is used). Each output line is
{"id", "text", "spans": [{"start", "end", "type"}]}, spans being positions in the input text. The output appears
whole or not at all: it is written beside OUT and renamed when every line has been read.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.deid import Deidentifier, deidentifier_for


class Command(BaseCommand):
    help = "De-identify notes in a JSONL file ({id, text[, patient]} per line) into another JSONL file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", help="JSONL: one {id, text[, patient]} object a line")
        parser.add_argument("--out", required=True, help="where to write the de-identified JSONL")

    def handle(self, *args: Any, **options: Any) -> None:
        source, target = Path(options["input"]), Path(options["out"])
        try:
            lines = source.read_bytes().splitlines()
        except OSError as e:
            raise CommandError(f"{source}: cannot read ({e.strerror})") from None
        deidentifiers: dict[str, Deidentifier] = {}
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent if target.parent.exists() else None)
        try:
            with os.fdopen(handle, "wb") as out:
                count = 0
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        out.write(orjson.dumps(_deidentify_line(source, number, line, deidentifiers)) + b"\n")
                        count += 1
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.stdout.write(f"{count} notes de-identified → {target}")


def _deidentify_line(source: Path, number: int, line: bytes, deidentifiers: dict[str, Deidentifier]) -> dict[str, Any]:
    place = f"{source}, line {number}"
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise CommandError(f"{place}: not JSON ({e})") from None
    if not isinstance(entry, dict):
        raise CommandError(f"{place}: expected an object with id and text")
    missing = [k for k in ("id", "text") if k not in entry]
    if missing or not isinstance(entry["text"], str) or not isinstance(entry["id"], str | int):
        raise CommandError(
            f"{place}: needs a string 'text' and an 'id' (missing or wrong: {', '.join(missing) or 'text/id type'})"
        )
    patient = entry.get("patient")
    key = f"patient:{patient}" if patient else f"note:{entry['id']}"
    if key not in deidentifiers:
        deidentifiers[key] = _patient_deidentifier(place, patient) if patient else deidentifier_for(key=key)
    text, spans = deidentifiers[key].deidentify(entry["text"])
    return {"id": entry["id"], "text": text, "spans": [s.as_dict() for s in spans]}


def _patient_deidentifier(place: str, fhir_id: Any) -> Deidentifier:
    from clinic.models import Patient

    patient = Patient.objects.filter(fhir_id=str(fhir_id)).first()
    if patient is None:
        raise CommandError(f"{place}: no patient with FHIR id {fhir_id!r}")
    return deidentifier_for(patient=patient)
