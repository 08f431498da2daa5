"""FHIR R4 import: Bundles (transaction, batch, collection, searchset), single resources and NDJSON.

One unit (a Bundle, a resource file or an NDJSON file) is validated whole, then written in one transaction
with bulk upserts keyed by FHIR id: a unit with any bad entry is rejected whole and stores nothing; importing
the same unit twice changes nothing (rows whose content hash is unchanged are not touched).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from django.db import connection, transaction

from clinic import hooks
from clinic import models as m
from clinic.bulk import upsert
from clinic.fhir.mapping import MAPPERS, Row
from clinic.fhir.values import FieldError, periods_in_order
from clinic.ingestion import run_unit
from clinic.timeline import DERIVE, timeline_event, timeline_upsert

logger = logging.getLogger(__name__)

FK_REFS = {
    "patient_ref": ("Patient", "patient_id"),
    "encounter_ref": ("Encounter", "encounter_id"),
    "practitioner_ref": ("Practitioner", "practitioner_id"),
    "organization_ref": ("Organization", "organization_id"),
    "requester_ref": ("Practitioner", "requester_id"),
    "author_ref": ("Practitioner", "author_id"),
}
INDEXED_MODELS = {m.ClinicalNote: "clinic.ClinicalNote", m.DiagnosticReport: "clinic.DiagnosticReport"}
FILE_SUFFIXES = (".json", ".ndjson", ".jsonl")


@dataclass
class Entry:
    index: int | str  # entry number in a Bundle, or "line N" in NDJSON
    full_url: str
    resource: dict[str, Any]


@dataclass
class UnitResult:
    name: str
    counts: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)
    patient_ids: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors


class UnitRejected(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(error_text(e) for e in errors[:5]))
        self.errors = errors


def error_text(error: dict[str, Any]) -> str:
    where = [error.get("file", "")]
    if error.get("entry") not in (None, ""):
        entry = error["entry"]
        where.append(entry if isinstance(entry, str) else f"entry {entry}")
    if error.get("resource_type"):
        where.append(error["resource_type"] + (f"/{error['id']}" if error.get("id") else ""))
    if error.get("field"):
        where.append(f"field {error['field']}")
    return ", ".join(w for w in where if w) + f": {error['message']}"


def fhir_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files to import from files and directories; hospital/practitioner bundles first (others refer to them)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in FILE_SUFFIXES))
        else:
            found.append(p)

    # Bulk Data NDJSON files are named by type (Patient.ndjson): imported in the order of MAPPERS, what others refer to
    # first, so that references resolve; other files after them.
    types = list(MAPPERS)

    def order(path: Path) -> tuple[int, str]:
        if path.name.startswith(("hospitalInformation", "practitionerInformation", "Organization", "Practitioner")):
            return (0, str(path))
        stem = path.name.split(".")[0]
        return (1 + types.index(stem) if stem in types else 1 + len(types), str(path))

    return sorted(dict.fromkeys(found), key=order)


def read_entries(name: str, data: bytes) -> list[Entry]:
    """The resources of one unit, or UnitRejected naming the line/field that cannot be read."""
    if name.endswith((".ndjson", ".jsonl")):
        return _read_ndjson(name, data)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        lines = [line for line in data.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith(b"{") for line in lines):
            return _read_ndjson(name, data)
        raise UnitRejected([{"file": name, "message": f"not valid JSON: {e}"}]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise UnitRejected([{"file": name, "field": "resourceType", "message": "not a FHIR resource or Bundle"}])
    if doc["resourceType"] != "Bundle":
        return [Entry(0, "", doc)]
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise UnitRejected([{"file": name, "field": "entry", "message": "Bundle.entry must be a list"}])
    result = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "resource" not in entry:
            continue  # a DELETE, or a response/history entry: nothing to store
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise UnitRejected(
                [{"file": name, "entry": i, "field": "resource", "message": "entry has no resource with a resourceType"}]
            )
        if isinstance(entry.get("request"), dict) and entry["request"].get("method") == "DELETE":
            continue
        result.append(Entry(i, str(entry.get("fullUrl") or ""), resource))
    return result


def _read_ndjson(name: str, data: bytes) -> list[Entry]:
    result = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            resource = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise UnitRejected([{"file": name, "entry": f"line {number}", "message": f"not valid JSON: {e}"}]) from None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise UnitRejected(
                [{"file": name, "entry": f"line {number}", "field": "resourceType", "message": "not a FHIR resource"}]
            )
        result.append(Entry(f"line {number}", "", resource))
    return result


@dataclass
class PreparedUnit:
    """A unit parsed, validated and mapped to rows without touching the database (so it can run in a thread)."""

    result: UnitResult
    rows: dict[str, list[tuple[str, Row]]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)  # Reference nodes still conditional


def prepare_unit(name: str, data: bytes | None, read_error: str | None = None) -> PreparedUnit:
    unit = PreparedUnit(UnitResult(name))
    if data is None:
        unit.errors = [{"file": name, "message": read_error or "cannot read"}]
        return unit
    try:
        entries = read_entries(name, data)
    except UnitRejected as e:
        unit.errors = e.errors
        return unit
    return prepare_entries(name, entries, unit)


def prepare_entries(name: str, entries: list[Entry], unit: PreparedUnit | None = None) -> PreparedUnit:
    unit = unit or PreparedUnit(UnitResult(name))
    by_type: dict[str, list[tuple[Entry, str]]] = {}
    url_map: dict[str, str] = {}
    identifiers: dict[tuple[str, str], str] = {}
    for entry in entries:
        rtype = entry.resource["resourceType"]
        if rtype not in MAPPERS or _is_exported_variant(entry.resource):
            unit.result.skipped[rtype if rtype not in MAPPERS else "Observation (genomic variant)"] += 1
            continue
        fhir_id = _resource_id(entry)
        entry.resource["id"] = fhir_id
        by_type.setdefault(rtype, []).append((entry, fhir_id))
        if entry.full_url:
            url_map[entry.full_url] = f"{rtype}/{fhir_id}"
        url_map.setdefault(f"urn:uuid:{fhir_id}", f"{rtype}/{fhir_id}")
        for ident in entry.resource.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("value"):
                identifiers[(rtype, f"{ident.get('system', '')}|{ident['value']}")] = fhir_id
                identifiers.setdefault((rtype, f"|{ident['value']}"), fhir_id)

    for rtype, items in by_type.items():
        mapper = MAPPERS[rtype][1]
        for entry, fhir_id in items:
            _rewrite_references(entry.resource, url_map, identifiers, unit.pending)
            place = {"file": name, "entry": entry.index, "resource_type": rtype, "id": fhir_id}
            try:
                periods_in_order(entry.resource)
                row = mapper(entry.resource)
            except FieldError as e:
                unit.errors.append({**place, "field": e.field, "message": e.message})
                continue
            except (TypeError, AttributeError, ValueError) as e:
                unit.errors.append({**place, "field": "", "message": f"unreadable resource ({e})"})
                continue
            row["fhir_id"] = fhir_id
            row["raw"] = entry.resource
            unit.rows.setdefault(rtype, []).append((str(entry.index), row))
    return unit


def _rewrite_references(
    node: Any, url_map: dict[str, str], identifiers: dict[tuple[str, str], str], pending: list[dict[str, Any]]
) -> None:
    """Rewrite every Reference in place to `Type/id`; conditional ones not found in the unit go to `pending`."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            node["reference"] = _resolve(ref, url_map, identifiers)
            if "?identifier=" in node["reference"]:
                pending.append(node)
        for value in node.values():
            if isinstance(value, (dict, list)):
                _rewrite_references(value, url_map, identifiers, pending)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, (dict, list)):
                _rewrite_references(value, url_map, identifiers, pending)


def _resolve(ref: str, url_map: dict[str, str], identifiers: dict[tuple[str, str], str]) -> str:
    if ref in url_map:
        return url_map[ref]
    if "?identifier=" in ref:
        rtype, _, ident = ref.partition("?identifier=")
        found = identifiers.get((rtype, ident)) or identifiers.get((rtype, "|" + ident.rpartition("|")[2]))
        return f"{rtype}/{found}" if found else ref
    if ref.startswith(("http://", "https://")) and "/_history/" not in ref:
        parts = ref.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] in MAPPERS:
            return f"{parts[-2]}/{parts[-1]}"
    return ref


class FhirImporter:
    """Imports units into one IngestionRun. Keeps lookups of shared resources (practitioners…) across units."""

    def __init__(self, run: m.IngestionRun) -> None:
        self.run = run
        self._identifier_cache: dict[tuple[str, str], str | None] = {}

    # ------------------------------------------------------------------ one unit

    def import_bytes(self, name: str, data: bytes) -> UnitResult:
        return self.commit(prepare_unit(name, data))

    def commit(self, unit: PreparedUnit) -> UnitResult:
        """Write a prepared unit in one transaction (or record why it was rejected) and account for it."""
        result = unit.result
        try:
            if unit.errors:
                raise UnitRejected(unit.errors)
            self._resolve_in_db(unit)
            self._check_patients(unit.result.name, unit.rows)
            with transaction.atomic():
                # An import can be repeated, so it need not wait for each commit to reach the disk.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
                self._write(unit.rows, result)
        except UnitRejected as e:
            result.errors = e.errors
            result.counts.clear()
            result.unchanged.clear()
            result.patient_ids.clear()
        self._account(result)
        return result

    def _account(self, result: UnitResult) -> None:
        # Unary + drops the types a unit wrote (or left) none of.
        run_unit(self.run, errors=result.errors, counts=+result.counts, unchanged=+result.unchanged, skipped=+result.skipped)

    # ------------------------------------------------------------------ references

    def _resolve_in_db(self, unit: PreparedUnit) -> None:
        """Conditional references the unit could not resolve itself: look the identifier up among stored rows."""
        resolved = {}
        for ref in {node["reference"] for node in unit.pending}:
            rtype, _, ident = ref.partition("?identifier=")
            found = self._identifier_in_db(rtype, ident)
            if found:
                resolved[ref] = f"{rtype}/{found}"
        if not resolved:
            return
        for node in unit.pending:
            node["reference"] = resolved.get(node["reference"], node["reference"])
        for items in unit.rows.values():
            for _, row in items:
                for key in FK_REFS:
                    if row.get(key) in resolved:
                        row[key] = resolved[row[key]]

    def _identifier_in_db(self, rtype: str, ident: str) -> str | None:
        key = (rtype, ident)
        if key not in self._identifier_cache:
            value = ident.rpartition("|")[2]
            model: Any = {"Practitioner": m.Practitioner, "Organization": m.Organization}.get(rtype)
            found = None
            if model is not None:
                found = model._default_manager.filter(identifier_value=value).values_list("fhir_id", flat=True).first()
            elif rtype == "Patient":
                found = m.Patient.objects.filter(mrn=value).values_list("fhir_id", flat=True).first()
            self._identifier_cache[key] = found
        return self._identifier_cache[key]

    def _check_patients(self, name: str, rows: dict[str, list[tuple[str, Row]]]) -> None:
        """Every patient-scoped resource must point to a patient in this unit or already imported."""
        in_unit = {row["fhir_id"] for _, row in rows.get("Patient", [])}
        wanted = {
            _ref_id(row.get("patient_ref"), "Patient")
            for rtype, items in rows.items()
            for _, row in items
            if "patient_ref" in row
        }
        known = in_unit | set(m.Patient.objects.filter(fhir_id__in=wanted - in_unit).values_list("fhir_id", flat=True))
        errors = []
        for rtype, items in rows.items():
            for index, row in items:
                if "patient_ref" in row and _ref_id(row["patient_ref"], "Patient") not in known:
                    errors.append(
                        {
                            "file": name,
                            "entry": int(index) if index.isascii() and index.isdigit() else index,
                            "resource_type": rtype,
                            "id": row["fhir_id"],
                            "field": "subject",
                            "message": f"refers to {row.get('patient_ref') or 'no patient'}, which is neither in this unit nor imported",
                        }
                    )
        if errors:
            raise UnitRejected(errors)

    # ------------------------------------------------------------------ writing

    def _write(self, rows: dict[str, list[tuple[str, Row]]], result: UnitResult) -> None:
        pk_maps: dict[str, dict[str, int]] = {}
        for rtype, (model, _) in MAPPERS.items():
            items = [row for _, row in rows.get(rtype, [])]
            if not items:
                continue
            for key, (target, _attname) in FK_REFS.items():
                refs = {_ref_id(row.get(key), target) for row in items if key in row} - {None}
                if refs:
                    self._extend_pk_map(pk_maps, target, refs)
            changed, unchanged = self._upsert(model, rtype, items, pk_maps)
            result.counts[rtype] += len(changed)
            result.unchanged[rtype] += unchanged
            if rtype == "Patient":
                result.patient_ids.update(pk_maps["Patient"].values())

    def _extend_pk_map(self, pk_maps: dict[str, dict[str, int]], rtype: str, fhir_ids: set[str | None]) -> None:
        known = pk_maps.setdefault(rtype, {})
        missing = {f for f in fhir_ids if f and f not in known}
        if missing:
            model = MAPPERS[rtype][0]
            known.update(model._default_manager.filter(fhir_id__in=missing).values_list("fhir_id", "id"))

    def _upsert(self, model: Any, rtype: str, items: list[Row], pk_maps: dict[str, dict[str, int]]) -> tuple[list[int], int]:
        existing = {
            fhir_id: (pk, digest)
            for fhir_id, pk, digest in model._default_manager.filter(fhir_id__in=[r["fhir_id"] for r in items]).values_list(
                "fhir_id", "id", "content_hash"
            )
        }
        known = pk_maps.setdefault(rtype, {})
        values = []
        unchanged = 0
        for row in items:
            raw_bytes = orjson.dumps(row["raw"], option=orjson.OPT_SORT_KEYS)
            row["content_hash"] = hashlib.md5(raw_bytes, usedforsecurity=False).hexdigest()
            previous = existing.get(row["fhir_id"])
            if previous and previous[1] == row["content_hash"]:
                known[row["fhir_id"]] = previous[0]
                unchanged += 1
                continue
            for key, (target, attname) in FK_REFS.items():
                if key in row:
                    row[attname] = pk_maps.get(target, {}).get(_ref_id(row.pop(key), target) or "")
            row["run_id"] = self.run.pk
            values.append(row)
        if model is m.ImagingStudy:
            _adopt_dicom_studies(values)
        changed = upsert(model, values, unique=["fhir_id"])
        if model is m.ImagingStudy:
            _write_series(changed, values, self.run)
        events = []
        for pk, row in zip(changed, values, strict=True):
            known[row["fhir_id"]] = pk
            if model in DERIVE:
                event = timeline_event(model, pk, row)
                if event is not None:
                    events.append(event)
        if events:
            timeline_upsert(events)
        if model in INDEXED_MODELS and changed:
            hooks.records_changed(INDEXED_MODELS[model], changed)
        return changed, unchanged


def _adopt_dicom_studies(values: list[Row]) -> None:
    """A study imported from DICOM first takes the FHIR id of the ImagingStudy that describes it."""
    by_uid = {row["study_uid"]: row["fhir_id"] for row in values if row.get("study_uid")}
    for study in m.ImagingStudy.objects.filter(study_uid__in=by_uid).exclude(fhir_id__in=by_uid.values()):
        study.fhir_id = by_uid[study.study_uid]
        study.save(update_fields=["fhir_id"])


def _write_series(study_ids: list[int], values: list[Row], run: m.IngestionRun) -> None:
    """The series an ImagingStudy lists, as ImagingSeries rows of its study.

    A series that DICOM files have filled is the files' account: the resource does not overwrite it. A series with no
    images that the study no longer lists goes.
    """
    declared = {s["series_uid"]: (study_id, s) for study_id, row in zip(study_ids, values, strict=True) for s in row["series"]}
    filled = set(
        m.ImagingSeries.objects.filter(series_uid__in=declared, instances__isnull=False).values_list("series_uid", flat=True)
    )
    m.ImagingSeries.objects.filter(study_id__in=study_ids, instances__isnull=True).exclude(series_uid__in=declared).delete()
    rows = [{**s, "study_id": study_id, "run_id": run.pk} for uid, (study_id, s) in declared.items() if uid not in filled]
    upsert(m.ImagingSeries, rows, unique=["series_uid"])


def _is_exported_variant(resource: dict[str, Any]) -> bool:
    """Variants leave as genomics Observations in $everything; they come back in through import_vcf, not here."""
    profiles = (resource.get("meta") or {}).get("profile") or [] if isinstance(resource.get("meta"), dict) else []
    return resource["resourceType"] == "Observation" and any(
        str(p).endswith("genomics-reporting/StructureDefinition/variant") for p in profiles
    )


def _ref_id(ref: str | None, rtype: str) -> str | None:
    if not ref:
        return None
    prefix = rtype + "/"
    return ref[len(prefix) :] if ref.startswith(prefix) else None


def _resource_id(entry: Entry) -> str:
    """The resource's id; else the uuid of its urn:uuid fullUrl; else a stable hash of its content."""
    rid = entry.resource.get("id")
    if isinstance(rid, str) and rid:
        return rid[:128]
    if entry.full_url.startswith("urn:uuid:"):
        return entry.full_url[len("urn:uuid:") :][:128]
    if entry.full_url:
        return entry.full_url.rstrip("/").split("/")[-1][:128]
    digest = hashlib.sha1(orjson.dumps(entry.resource, option=orjson.OPT_SORT_KEYS), usedforsecurity=False).hexdigest()
    return str(uuid.UUID(digest[:32]))


def iter_units(paths: Iterable[str | Path]) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(name, bytes, read error) for each file under `paths`."""
    for path in fhir_files(paths):
        try:
            yield str(path), path.read_bytes(), None
        except OSError as e:
            yield str(path), None, f"cannot read: {e.strerror or e}"
