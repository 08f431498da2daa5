"""FHIR Bulk Data export ($export): a job per request, run on the worker, NDJSON files per resource type.

Kick-off (`bulk_export_start`) fixes who asked, the patients (those of the request that the requester may read
now) and the types; the worker (`bulk_export_run`) streams the stored resources of those patients to
DATA_DIR/exports/<job>/<Type>.ndjson, one file at a time (written as .part, renamed when whole), and can be
cancelled between chunks. A file is handed only to the requester, while they still may read every chart it covers,
and each download leaves an audit row naming those patients.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from carebase.files import write_atomically
from clinic import models as m
from clinic.access import Actor, readable_patient_ids, require_scope
from clinic.audit import Action, audit
from clinic.fhir.export import PATIENT_SCOPED, imaging_study_resource, variant_observations
from clinic.fhir.mapping import MAPPERS
from clinic.fhir.outcome import FhirError

logger = logging.getLogger(__name__)

EXPORT_TYPES = list(MAPPERS)
SHARED_TYPES = ("Practitioner", "Organization")  # not about one patient: those the patients' encounters name
CHUNK = 2000


def export_dir(export: m.BulkExport) -> Path:
    return Path(settings.DATA_DIR) / "exports" / str(export.pk)


# ---------------------------------------------------------------- kick-off


def export_types(*, actor: Actor, requested: list[str]) -> list[str]:
    """The types to export: those requested (each must be stored here and allowed by the token's scopes), else
    every stored type the scopes allow."""
    unknown = [t for t in requested if t not in EXPORT_TYPES]
    if unknown:
        raise FhirError(400, f"_type: {', '.join(unknown)} not stored here; use any of {', '.join(EXPORT_TYPES)}",
                        code="not-supported", expression="_type")  # fmt: skip
    if requested:
        for rtype in requested:
            require_scope(actor=actor, resource=rtype)
        return list(dict.fromkeys(requested))
    allowed = [t for t in EXPORT_TYPES if actor.allows(resource=t)]
    if not allowed:
        require_scope(actor=actor)  # raises, naming the scopes
    return allowed


def _readable_among(actor: Actor, types: list[str], wanted: list[int] | None) -> list[int] | None:
    """Of `wanted` (None: every patient), those the actor may read for every exported type; None: all of them."""
    allowed: set[int] | None = None
    for rtype in [t for t in types if t not in SHARED_TYPES] or ["Patient"]:
        ids = readable_patient_ids(actor=actor, resource=rtype)
        if ids is not None:
            allowed = set(ids) if allowed is None else allowed & set(ids)
    if allowed is None:
        return None if wanted is None else sorted(set(wanted))
    return sorted(allowed if wanted is None else allowed & set(wanted))


@transaction.atomic
def bulk_export_start(
    *,
    actor: Actor,
    level: str,
    types: list[str],
    since: dt.datetime | None,
    request_url: str,
    patient_ids: list[int] | None = None,
    group: str = "",
) -> m.BulkExport:
    """Accept an export of `patient_ids` (None: every patient the actor may read) and queue it for the worker."""
    if actor.user is None:
        raise PermissionDenied("a bulk export belongs to a user: call it with a bearer token or a session")
    types = export_types(actor=actor, requested=types)
    patients = _readable_among(actor, types, patient_ids)
    export = m.BulkExport.objects.create(
        user=actor.user, level=level, group=group, request_url=request_url[:2000], types=types, since=since,
        patient_ids=patients,
    )  # fmt: skip
    audit(
        actor=actor,
        action=Action.BULK_EXPORT,
        patients=patients or [],
        target=f"BulkExport/{export.pk}",
        detail={"level": level, "group": group, "types": types, "since": since.isoformat() if since else None,
                "every_patient": patients is None},
    )  # fmt: skip
    from carebase.jobs import enqueue
    from clinic.tasks import bulk_export_task

    enqueue(bulk_export_task, str(export.pk))
    return export


# ---------------------------------------------------------------- the worker


def bulk_export_run(*, export_id: str) -> None:
    """Write the export's files (idempotent: only an accepted export starts; a cancelled one stops and goes)."""
    started = m.BulkExport.objects.filter(pk=export_id, status=m.BulkExport.Status.ACCEPTED).update(
        status=m.BulkExport.Status.RUNNING, started_at=timezone.now()
    )
    if not started:
        return
    export = m.BulkExport.objects.get(pk=export_id)
    folder = export_dir(export)
    folder.mkdir(parents=True, exist_ok=True)
    output: list[dict[str, Any]] = []
    try:
        for done, rtype in enumerate(export.types):
            if _cancelled(export):
                shutil.rmtree(folder, ignore_errors=True)
                return
            count, patients = _write_type(export, rtype, folder / f"{rtype}.ndjson")
            if count:
                output.append({"type": rtype, "file": f"{rtype}.ndjson", "count": count, "patients": patients})
            m.BulkExport.objects.filter(pk=export.pk).update(
                progress=f"{done + 1} of {len(export.types)} types, {sum(o['count'] for o in output)} resources"
            )
    except Exception as e:  # the job's failure is the client's answer; the traceback goes to the log
        logger.exception("bulk export %s failed", export.pk)
        m.BulkExport.objects.filter(pk=export.pk).update(
            status=m.BulkExport.Status.FAILED, error=f"{type(e).__name__}: {e}"[:2000], finished_at=timezone.now()
        )
        return
    finished = m.BulkExport.objects.filter(pk=export.pk, status=m.BulkExport.Status.RUNNING).update(
        status=m.BulkExport.Status.COMPLETED, output=output, finished_at=timezone.now()
    )
    if not finished:  # cancelled while the last file was written
        shutil.rmtree(folder, ignore_errors=True)


def _cancelled(export: m.BulkExport) -> bool:
    return m.BulkExport.objects.filter(pk=export.pk, status=m.BulkExport.Status.CANCELLED).exists()


def _rows(export: m.BulkExport, rtype: str) -> QuerySet[Any]:
    model = MAPPERS[rtype][0]
    rows = model._default_manager.all()
    ids = export.patient_ids
    if rtype == "Patient" and ids is not None:
        rows = rows.filter(pk__in=ids)
    elif rtype in PATIENT_SCOPED and ids is not None:
        rows = rows.filter(patient_id__in=ids)
    elif rtype in SHARED_TYPES and ids is not None:
        column = "practitioner_id" if rtype == "Practitioner" else "organization_id"
        rows = rows.filter(id__in=m.Encounter.objects.filter(patient_id__in=ids).exclude(**{column: None}).values(column))
    if export.since:
        rows = rows.filter(updated_at__gte=export.since)
    return rows.order_by("id")


def _write_type(export: m.BulkExport, rtype: str, path: Path) -> tuple[int, list[int]]:
    """Stream one type's resources into `path`; (resources written, patients they belong to)."""
    count, patients = 0, set()

    def lines() -> Iterator[bytes]:
        nonlocal count
        for line, patient_id in _lines(export, rtype):
            yield line + b"\n"
            count += 1
            if patient_id is not None:
                patients.add(patient_id)
            if count % (CHUNK * 10) == 0 and _cancelled(export):
                break

    write_atomically(path, lines())  # a full disk leaves no half file for a client to download
    if not count:
        path.unlink()
    return count, sorted(patients)


def _lines(export: m.BulkExport, rtype: str) -> Iterator[tuple[bytes, int | None]]:
    """(one NDJSON line, its patient) for each resource of the type: the stored JSON as PostgreSQL prints it, so
    no resource is parsed on the way out."""
    rows = _rows(export, rtype)
    patient_column = "id" if rtype == "Patient" else "patient_id" if rtype in PATIENT_SCOPED else None
    stored = rows.exclude(raw={}).annotate(raw_json=Cast("raw", TextField()))
    values = ("raw_json", patient_column) if patient_column else ("raw_json",)
    for row in stored.values_list(*values).iterator(chunk_size=CHUNK):
        yield row[0].encode(), (row[1] if patient_column else None)
    if rtype == "ImagingStudy":  # studies known only from their DICOM files
        for study in rows.filter(raw={}).select_related("patient").prefetch_related("series"):
            yield orjson.dumps(imaging_study_resource(study, study.patient)), study.patient_id
    if rtype == "Observation":
        yield from _variant_lines(export)


def _variant_lines(export: m.BulkExport) -> Iterator[tuple[bytes, int]]:
    variants = m.GenomicVariant.objects.all()
    if export.patient_ids is not None:
        variants = variants.filter(patient_id__in=export.patient_ids)
    if export.since:
        variants = variants.filter(report__imported_at__gte=export.since)
    patients = m.Patient.objects.in_bulk(set(variants.values_list("patient_id", flat=True)))
    for patient_id, patient in patients.items():
        for resource in variant_observations(variants.filter(patient_id=patient_id).order_by("id"), patient):
            yield orjson.dumps(resource), patient_id


# ---------------------------------------------------------------- status, files, cancel


def bulk_export_get(*, actor: Actor, export_id: str) -> m.BulkExport:
    """The actor's own export; FhirError 404 for another's, an unknown id or a cancelled one (nothing to say)."""
    export = m.BulkExport.objects.filter(pk=export_id).first() if _is_uuid(export_id) else None
    if export is None or export.user_id != getattr(actor.user, "pk", None):
        raise FhirError(404, f"no export {export_id} of yours")
    if export.status == m.BulkExport.Status.CANCELLED:
        raise FhirError(404, f"export {export_id} was cancelled and its files deleted")
    return export


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def bulk_export_cancel(*, actor: Actor, export_id: str) -> None:
    """Cancel the actor's export and delete its files (a running one stops at its next chunk)."""
    export = bulk_export_get(actor=actor, export_id=export_id)
    m.BulkExport.objects.filter(pk=export.pk).exclude(status=m.BulkExport.Status.CANCELLED).update(
        status=m.BulkExport.Status.CANCELLED, finished_at=timezone.now()
    )
    shutil.rmtree(export_dir(export), ignore_errors=True)


def bulk_export_file(*, actor: Actor, export_id: str, file_name: str) -> Path:
    """The path of one file of the actor's completed export, once they are found still to read every patient it
    covers; the download is audited with those patients."""
    export = bulk_export_get(actor=actor, export_id=export_id)
    entry = next((o for o in export.output if o["file"] == file_name), None)
    if export.status != m.BulkExport.Status.COMPLETED or entry is None:
        raise FhirError(404, f"export {export_id} has no file {file_name}")
    if entry["type"] in SHARED_TYPES:
        require_scope(actor=actor, resource=entry["type"])
    else:
        readable = readable_patient_ids(actor=actor, resource=entry["type"])
        if readable is not None and not set(entry["patients"]) <= set(readable):
            raise PermissionDenied(f"{file_name} covers patients whose charts you may no longer read")
    audit(
        actor=actor,
        action=Action.BULK_DOWNLOAD,
        patients=entry["patients"],
        target=f"BulkExport/{export.pk}/{file_name}",
        detail={"type": entry["type"], "count": entry["count"]},
    )
    return export_dir(export) / file_name


def bulk_export_manifest(*, export: m.BulkExport, file_url: Any) -> dict[str, Any]:
    """The completion manifest of the Bulk Data spec; `file_url(name)` makes each file's absolute URL."""
    return {
        "transactionTime": export.created_at.isoformat(),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [{"type": o["type"], "url": file_url(o["file"]), "count": o["count"]} for o in export.output],
        "error": [],
    }
