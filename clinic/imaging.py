"""Imaging: DICOM files → ImagingStudy / Series / Instance rows, content-addressed storage, PNG previews.

Each file is one unit: a file that is not DICOM, has no pixel data or cannot be decoded is named in the
run's errors and skipped; the rest still import. Originals are stored once under MEDIA_ROOT/dicom by SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_rescale, get_decoder

from clinic import models as m
from clinic.bulk import upsert
from clinic.errors import InvalidInput
from clinic.fhir.importer import run_finish, run_start
from clinic.timeline import timeline_event_for, timeline_upsert

KEY_TAGS = ("Modality", "StudyDescription", "SeriesDescription", "SeriesNumber", "InstanceNumber", "SliceLocation",
            "SliceThickness", "PixelSpacing", "Rows", "Columns", "WindowCenter", "WindowWidth", "RepetitionTime",
            "EchoTime", "MagneticFieldStrength", "KVP", "BodyPartExamined", "PhotometricInterpretation",
            "Manufacturer", "ManufacturerModelName", "NumberOfFrames")  # fmt: skip


def dicom_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files under the given paths; a DICOMDIR stands for the tree it sits in (its own records hold no pixels)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.name.upper() == "DICOMDIR":
            path = path.parent
        if path.is_dir():
            for root, _, names in os.walk(path):
                found += [Path(root) / n for n in sorted(names) if n.upper() != "DICOMDIR" and not n.startswith(".")]
        else:
            found.append(path)
    return sorted(set(found))


def _looks_preambleless(data: bytes) -> bool:
    # A dataset written without the 128-byte preamble starts with a group 0x0002 or 0x0008 element (either byte order).
    return len(data) > 8 and data[0:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def dicom_read(name: str, data: bytes) -> Dataset:
    """Parse and check one file; InvalidInput names the file and the reason."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        if not _looks_preambleless(data):
            raise InvalidInput(f"{name}: not a DICOM file (no DICM preamble)") from None
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
        except Exception as e:
            raise InvalidInput(f"{name}: not a DICOM file ({e})") from None
    except Exception as e:
        raise InvalidInput(f"{name}: unreadable DICOM ({e})") from None
    for tag in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
        if not ds.get(tag):
            raise InvalidInput(f"{name}: {tag} missing")
    if "PixelData" not in ds:
        raise InvalidInput(f"{name}: no pixel data (not an image)")
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is not None and syntax.is_compressed and not get_decoder(syntax).is_available:
        raise InvalidInput(f"{name}: transfer syntax {syntax.name} cannot be decoded (install a decoder plugin)")
    return ds


def _store_original(data: bytes, sha: str) -> str:
    relative = f"dicom/{sha[:2]}/{sha[2:4]}/{sha}.dcm"
    target = Path(settings.MEDIA_ROOT) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return relative


def _text(ds: Dataset, tag: str, limit: int = 500) -> str:
    value = ds.get(tag)
    return str(value)[:limit] if value not in (None, "") else ""


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _study_time(ds: Dataset) -> dt.datetime | None:
    date = _text(ds, "StudyDate") or _text(ds, "SeriesDate") or _text(ds, "AcquisitionDate")
    if len(date) < 8 or not date[:8].isdigit():
        return None
    clock = (_text(ds, "StudyTime") or "000000").split(".")[0].ljust(6, "0")[:6]
    try:
        naive = dt.datetime.strptime(date[:8] + (clock if clock.isdigit() else "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return timezone.make_aware(naive, dt.UTC)


def _key_tags(ds: Dataset) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    for tag in KEY_TAGS:
        value = ds.get(tag)
        if value is None or value == "":
            continue
        tags[tag] = [str(v) for v in value] if isinstance(value, pydicom.multival.MultiValue) else str(value)
    return tags


def patient_for_dataset(ds: Dataset, name: str) -> m.Patient:
    ident = _text(ds, "PatientID", 120)
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
            status="available", started=_study_time(ds), description=_text(ds, "StudyDescription"),
            accession=_text(ds, "AccessionNumber", 64), body_site=_text(ds, "BodyPartExamined", 200),
        )  # fmt: skip
    elif study.started is None or not study.description:
        study.started = study.started or _study_time(ds)
        study.description = study.description or _text(ds, "StudyDescription")
        study.save(update_fields=["started", "description"])
    return study


def _instance_row(ds: Dataset, data: bytes, sha: str, series: m.ImagingSeries, run: m.IngestionRun) -> dict[str, Any]:
    position = ds.get("ImagePositionPatient")
    location = _float(ds.get("SliceLocation"))
    if location is None and position and len(position) == 3:
        location = _float(position[2])
    return {
        "series_id": series.pk, "sop_instance_uid": str(ds.SOPInstanceUID), "sop_class_uid": _text(ds, "SOPClassUID", 128),
        "number": _int(ds.get("InstanceNumber")), "slice_location": location,
        "position": [float(v) for v in position] if position else [], "rows": _int(ds.get("Rows")),
        "columns": _int(ds.get("Columns")), "frames": _int(ds.get("NumberOfFrames")) or 1,
        "pixel_spacing": [float(v) for v in ds.get("PixelSpacing") or []],
        "window_center": _float(ds.get("WindowCenter")), "window_width": _float(ds.get("WindowWidth")),
        "transfer_syntax": str(ds.file_meta.get("TransferSyntaxUID", ""))[:128] if hasattr(ds, "file_meta") else "",
        "file_sha256": sha, "file": _store_original(data, sha), "tags": _key_tags(ds), "run_id": run.pk,
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
                defaults={"study": self.studies[study_uid], "number": _int(ds.get("SeriesNumber")),
                          "modality": _text(ds, "Modality", 16), "body_part": _text(ds, "BodyPartExamined", 100),
                          "description": _text(ds, "SeriesDescription"), "run": self.run},
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
        run.units += 1
        try:
            data = path.read_bytes()
            ds = dicom_read(str(path), data)
            sha = hashlib.sha256(data).hexdigest()
            preview_warm(str(path), ds, sha)
            series = hierarchy.series_for(ds, patient or patient_for_dataset(ds, str(path)))
            rows.append(_instance_row(ds, data, sha, series, run))
        except (InvalidInput, OSError) as e:
            run.units_failed += 1
            run.errors.append({"file": str(path), "entry": "", "field": "", "message": str(e)})
        if progress:
            progress(path)
    written = _write_instances(rows)
    for study in hierarchy.studies.values():
        study_refresh(study)
    run.counts = {"ImagingInstance": written}
    run.unchanged = {"ImagingInstance": len(rows) - written}
    run_finish(run)
    return DicomImport(run=run, studies=list(hierarchy.studies.values()))


@transaction.atomic
def _write_instances(rows: list[dict[str, Any]]) -> int:
    """Upsert instance rows in one pipeline, leaving rows whose file is unchanged alone; returns rows written."""
    uids = [r["sop_instance_uid"] for r in rows]
    stored = dict(m.ImagingInstance.objects.filter(sop_instance_uid__in=uids).values_list("sop_instance_uid", "file_sha256"))
    changed = [r for r in rows if stored.get(r["sop_instance_uid"]) != r["file_sha256"]]
    upsert(m.ImagingInstance, changed, unique=["sop_instance_uid"])
    return len(changed)


# --- previews


def _window(pixels: np.ndarray, center: float | None, width: float | None) -> np.ndarray:
    if center is None or width is None or width <= 1:
        low, high = np.percentile(pixels, [0.5, 99.5])
        if high <= low:
            low, high = float(pixels.min()), float(pixels.max()) + 1.0
    else:
        low, high = center - width / 2, center + width / 2
    scaled = (pixels.astype(np.float32) - low) / max(high - low, 1e-6)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def _check_pixel_count(ds: Dataset) -> None:
    """Refuse, from the header alone, pixel data too large to decode safely (a crafted file can claim gigabytes)."""
    dims = [_int(ds.get(tag)) or 1 for tag in ("Rows", "Columns", "NumberOfFrames", "SamplesPerPixel")]
    if math.prod(dims) > settings.DICOM_MAX_PIXELS:
        raise ValueError(
            f"{'x'.join(map(str, dims))} pixel values is over the DICOM_MAX_PIXELS limit ({settings.DICOM_MAX_PIXELS:,})"
        )


def render_png(ds: Dataset, frame: int = 0) -> bytes:
    """One frame as PNG: modality rescale, the file's window (else a 0.5–99.5 percentile window), MONOCHROME1 inverted."""
    _check_pixel_count(ds)
    pixels = ds.pixel_array
    frames = _int(ds.get("NumberOfFrames")) or 1
    colour = int(ds.get("SamplesPerPixel", 1)) > 1
    if frames > 1:
        pixels = pixels[min(max(frame, 0), frames - 1)]
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        pixels, colour = apply_color_lut(pixels, ds), True
    if colour:
        image = Image.fromarray(_window(pixels, None, None) if pixels.dtype != np.uint8 else pixels, "RGB")
    else:
        values = apply_rescale(pixels, ds).astype(np.float32)
        image = Image.fromarray(_window(values, _float(ds.get("WindowCenter")), _float(ds.get("WindowWidth"))), "L")
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            image = Image.eval(image, lambda v: 255 - v)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _preview_path(sha: str, frame: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "previews" / sha[:2] / f"{sha}-{frame}.png"


def _write_preview(target: Path, png: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(png)
    tmp.replace(target)


def preview_warm(name: str, ds: Dataset, sha: str) -> None:
    """Render the first frame at import: proves the pixels decode (else InvalidInput naming the file) and caches it."""
    target = _preview_path(sha, 0)
    if target.exists():
        return
    try:
        png = render_png(ds, 0)
    except Exception as e:  # decoders raise many types; each means "this file's pixels cannot be shown"
        raise InvalidInput(f"{name}: pixel data cannot be decoded ({str(e).splitlines()[0][:200]})") from None
    _write_preview(target, png)


def instance_preview(*, instance: m.ImagingInstance, frame: int = 0) -> Path:
    """The cached PNG of one frame, rendered on first request."""
    frame = min(max(frame, 0), max(instance.frames - 1, 0))
    target = _preview_path(instance.file_sha256, frame)
    if not target.exists():
        ds = pydicom.dcmread(Path(settings.MEDIA_ROOT) / instance.file, force=True)
        _write_preview(target, render_png(ds, frame))
    return target


# --- reads


def patient_studies(*, patient: m.Patient) -> QuerySet[m.ImagingStudy]:
    return m.ImagingStudy.objects.filter(patient=patient).order_by("-started", "id")


def series_get(*, patient: m.Patient, series_id: int) -> m.ImagingSeries:
    return m.ImagingSeries.objects.select_related("study").get(pk=series_id, study__patient=patient)


def instance_get(*, instance_id: int) -> m.ImagingInstance:
    return m.ImagingInstance.objects.select_related("series__study").get(pk=instance_id)
