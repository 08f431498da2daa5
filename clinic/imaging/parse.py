"""DICOM files read and checked, and the values of their tags, before anything is stored."""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pydicom
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder

from clinic.errors import InvalidInput

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


def tag_text(ds: Dataset, tag: str, limit: int = 500) -> str:
    value = ds.get(tag)
    return str(value)[:limit] if value not in (None, "") else ""


def tag_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def tag_int(value: Any) -> int | None:
    number = tag_float(value)
    return int(number) if number is not None else None


def study_time(ds: Dataset) -> dt.datetime | None:
    date = tag_text(ds, "StudyDate") or tag_text(ds, "SeriesDate") or tag_text(ds, "AcquisitionDate")
    if len(date) < 8 or not date[:8].isdigit():
        return None
    clock = (tag_text(ds, "StudyTime") or "000000").split(".")[0].ljust(6, "0")[:6]
    try:
        naive = dt.datetime.strptime(date[:8] + (clock if clock.isdigit() else "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return timezone.make_aware(naive, dt.UTC)


def key_tags(ds: Dataset) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    for tag in KEY_TAGS:
        value = ds.get(tag)
        if value is None or value == "":
            continue
        tags[tag] = [str(v) for v in value] if isinstance(value, pydicom.multival.MultiValue) else str(value)
    return tags
