"""DICOM files stored: originals once by SHA-256 under MEDIA_ROOT/dicom, ImagingStudy / Series / Instance rows.

Each file is one unit: a file that is not DICOM, has no pixel data or cannot be decoded is named in the run's
errors and skipped; the rest still import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from pydicom.dataset import Dataset

from carebase.files import write_atomically
from clinic import models as m
from clinic.bulk import upsert
from clinic.errors import InvalidInput
from clinic.imaging.parse import dicom_files, dicom_read, key_tags, study_time, tag_float, tag_int, tag_text
from clinic.imaging.preview import preview_warm
from clinic.ingestion import run_finish, run_start, run_unit, unit_error
from clinic.timeline import timeline_event_for, timeline_upsert


def _store_original(data: bytes, sha: str) -> str:
    relative = f"dicom/{sha[:2]}/{sha[2:4]}/{sha}.dcm"
    target = Path(settings.MEDIA_ROOT) / relative
    if not target.exists():
        write_atomically(target, data)
    return relative


def patient_for_dataset(ds: Dataset, name: str) -> m.Patient:
    ident = tag_text(ds, "PatientID", 120)
    found = m.Patient.objects.filter(mrn=ident).first() or m.Patient.objects.filter(fhir_id=ident).first()
    if not ident or found is None:
        raise InvalidInput(f"{name}: no patient with MRN or id {ident!r} (PatientID); name one with --patient")
    return found


def _study(ds: Dataset, patient: m.Patient, run: m.IngestionRun) -> m.ImagingStudy:
    uid = str(ds.StudyInstanceUID)
    study = m.ImagingStudy.objects.filter(study_uid=uid).first()
    if study is None:
        study = m.ImagingStudy.objects.create(
            fhir_id="dicom-" + hashlib.sha256(uid.encode()).hexdigest()[:32], study_uid=uid, patient=patient, run=run,
            status="available", started=study_time(ds), description=tag_text(ds, "StudyDescription"),
            accession=tag_text(ds, "AccessionNumber", 64), body_site=tag_text(ds, "BodyPartExamined", 200),
        )  # fmt: skip
    elif study.started is None or not study.description:
        study.started = study.started or study_time(ds)
        study.description = study.description or tag_text(ds, "StudyDescription")
        study.save(update_fields=["started", "description"])
    return study


def _instance_row(ds: Dataset, data: bytes, sha: str, series: m.ImagingSeries, run: m.IngestionRun) -> dict[str, Any]:
    position = ds.get("ImagePositionPatient")
    location = tag_float(ds.get("SliceLocation"))
    if location is None and position and len(position) == 3:
        location = tag_float(position[2])
    return {
        "series_id": series.pk, "sop_instance_uid": str(ds.SOPInstanceUID), "sop_class_uid": tag_text(ds, "SOPClassUID", 128),
        "number": tag_int(ds.get("InstanceNumber")), "slice_location": location,
        "position": [float(v) for v in position] if position else [], "rows": tag_int(ds.get("Rows")),
        "columns": tag_int(ds.get("Columns")), "frames": tag_int(ds.get("NumberOfFrames")) or 1,
        "pixel_spacing": [float(v) for v in ds.get("PixelSpacing") or []],
        "window_center": tag_float(ds.get("WindowCenter")), "window_width": tag_float(ds.get("WindowWidth")),
        "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", ""))[:128] if hasattr(ds, "file_meta") else "",
        "file_sha256": sha, "file": _store_original(data, sha), "tags": key_tags(ds), "run_id": run.pk,
    }  # fmt: skip


class _Hierarchy:
    """Studies and series met during one import, created or updated once each rather than once per file."""

    def __init__(self, run: m.IngestionRun) -> None:
        self.run = run
        self.studies: dict[str, m.ImagingStudy] = {}
        self.series: dict[str, m.ImagingSeries] = {}

    def series_for(self, ds: Dataset, patient: m.Patient) -> m.ImagingSeries:
        uid = str(ds.SeriesInstanceUID)
        if uid not in self.series:
            study_uid = str(ds.StudyInstanceUID)
            if study_uid not in self.studies:
                self.studies[study_uid] = _study(ds, patient, self.run)
            self.series[uid], _ = m.ImagingSeries.objects.update_or_create(
                series_uid=uid,
                defaults={"study": self.studies[study_uid], "number": tag_int(ds.get("SeriesNumber")),
                          "modality": tag_text(ds, "Modality", 16), "body_part": tag_text(ds, "BodyPartExamined", 100),
                          "description": tag_text(ds, "SeriesDescription"), "run": self.run},
            )  # fmt: skip
        return self.series[uid]


def study_refresh(study: m.ImagingStudy) -> None:
    """Recount series and instances, gather modalities and refresh the study's timeline row."""
    series = list(study.series.annotate(n=Count("instances")))
    for s in series:
        if s.n and s.num_instances != s.n:  # a series with no files yet keeps the count its ImagingStudy declared
            s.num_instances = s.n
            s.save(update_fields=["num_instances"])
    study.num_series = len(series)
    study.num_instances = sum(s.num_instances for s in series)
    study.modalities = ",".join(sorted({s.modality for s in series if s.modality}))[:100]
    study.save(update_fields=["num_series", "num_instances", "modalities"])
    event = timeline_event_for(study)
    if event is not None:
        timeline_upsert([event])


@dataclass
class DicomImport:
    run: m.IngestionRun
    studies: list[m.ImagingStudy]


def dicom_import(*, paths: Iterable[str | Path], patient: m.Patient | None = None, source: str = "cli",
                 progress: Callable[[Path], None] | None = None) -> DicomImport:  # fmt: skip
    """Import DICOM files and directories; bad files are named in the run's errors and skipped, the rest import."""
    run = run_start(kind="dicom", source=source)
    hierarchy = _Hierarchy(run)
    rows: list[dict[str, Any]] = []
    for path in dicom_files(paths):
        try:
            data = path.read_bytes()
            ds = dicom_read(str(path), data)
            sha = hashlib.sha256(data).hexdigest()
            preview_warm(str(path), ds, sha)
            series = hierarchy.series_for(ds, patient or patient_for_dataset(ds, str(path)))
            rows.append(_instance_row(ds, data, sha, series, run))
            run_unit(run)
        except (InvalidInput, OSError) as e:
            run_unit(run, errors=[unit_error(file=str(path), message=str(e))])
        if progress:
            progress(path)
    written = _write_instances(rows)
    for study in hierarchy.studies.values():
        study_refresh(study)
    run_finish(run, counts={"ImagingInstance": written}, unchanged={"ImagingInstance": len(rows) - written})
    return DicomImport(run=run, studies=list(hierarchy.studies.values()))


@transaction.atomic
def _write_instances(rows: list[dict[str, Any]]) -> int:
    """Upsert instance rows in one pipeline, leaving rows whose file is unchanged alone; returns rows written."""
    uids = [r["sop_instance_uid"] for r in rows]
    stored = dict(m.ImagingInstance.objects.filter(sop_instance_uid__in=uids).values_list("sop_instance_uid", "file_sha256"))
    changed = [r for r in rows if stored.get(r["sop_instance_uid"]) != r["file_sha256"]]
    upsert(m.ImagingInstance, changed, unique=["sop_instance_uid"])
    return len(changed)
