"""Reads over built datasets: the ready ones, and a dataset's folder as a zip streamed in pieces."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from clinic import models as m

CHUNK = 1 << 20


def datasets_ready() -> QuerySet[m.Dataset]:
    return m.Dataset.objects.filter(status=m.Dataset.Status.READY).order_by("name")


def dataset_folder(*, dataset: m.Dataset) -> Path:
    return (Path(settings.MEDIA_ROOT) / dataset.file).resolve()


class _Pipe:
    """A write-only file for ZipFile that hands what was written to the response, piece by piece."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.pieces = b"".join(self.pieces), []
        return data


def dataset_zip(*, dataset: m.Dataset) -> Iterator[bytes]:
    """The dataset's folder as a zip, `<name>/…`, read and sent a megabyte at a time (never whole in memory).
    Entries carry a fixed date, so the same dataset gives the same zip."""
    folder = dataset_folder(dataset=dataset)
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", allowZip64=True) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{dataset.name}/{path.relative_to(folder)}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if path.suffix == ".dcm" else zipfile.ZIP_DEFLATED
            with path.open("rb") as source, archive.open(info, "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()
