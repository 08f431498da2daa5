"""PNG previews of DICOM frames, cached under MEDIA_ROOT/previews by file digest and frame.

Grey images go through pydicom's own LUT pipeline: the modality LUT (or rescale), then the file's VOI LUT or its
window (LINEAR, LINEAR_EXACT or SIGMOID), else a window over the 0.5-99.5 percentiles of the frame's values.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pydicom
from django.conf import settings
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, apply_windowing

from carebase.files import write_atomically
from clinic import models as m
from clinic.errors import InvalidInput
from clinic.imaging.parse import tag_float, tag_int

WINDOW_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def _check_pixel_count(ds: Dataset) -> None:
    """Refuse, from the header alone, pixel data too large to decode safely (a crafted file can claim gigabytes)."""
    dims = [tag_int(ds.get(tag)) or 1 for tag in ("Rows", "Columns", "NumberOfFrames", "SamplesPerPixel")]
    if math.prod(dims) > settings.DICOM_MAX_PIXELS:
        raise ValueError(
            f"{'x'.join(map(str, dims))} pixel values is over the DICOM_MAX_PIXELS limit ({settings.DICOM_MAX_PIXELS:,})"
        )


def render_png(ds: Dataset, frame: int = 0) -> bytes:
    """One frame as PNG: grey through the LUTs above (MONOCHROME1 inverted), colour as it is (palettes applied)."""
    _check_pixel_count(ds)
    pixels = ds.pixel_array
    frames = tag_int(ds.get("NumberOfFrames")) or 1
    colour = int(ds.get("SamplesPerPixel", 1)) > 1
    if frames > 1:
        pixels = pixels[min(max(frame, 0), frames - 1)]
    if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
        pixels, colour = apply_color_lut(pixels, ds), True
    if colour:
        image = Image.fromarray(pixels if pixels.dtype == np.uint8 else _windowed(pixels, _percentile_window(pixels)), "RGB")
    else:
        image = Image.fromarray(_grey(pixels, ds), "L")
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            image = Image.eval(image, lambda v: 255 - v)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _grey(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    values = apply_modality_lut(pixels, ds)
    if ds.get("VOILUTSequence"):  # a lookup table wins over a window, as in pydicom's apply_voi_lut
        depth = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        looked_up = apply_voi_lut(np.rint(values).astype(np.int64), ds)  # a table is indexed by whole values
        return (looked_up.astype(np.float64) * (255 / (2**depth - 1))).astype(np.uint8)
    return _windowed(values, _file_window(ds) or _percentile_window(values))


def _file_window(ds: Dataset) -> Dataset | None:
    center, width = tag_float(ds.get("WindowCenter")), tag_float(ds.get("WindowWidth"))
    function = str(ds.get("VOILUTFunction") or "LINEAR").upper()
    if center is None or width is None or width <= 1 or function not in WINDOW_FUNCTIONS:
        return None
    return _display_window(center, width, function)


def _percentile_window(values: np.ndarray) -> Dataset:
    low, high = (float(v) for v in np.percentile(values, [0.5, 99.5]))
    if high <= low:
        low, high = float(values.min()), float(values.max()) + 1.0
    return _display_window((low + high) / 2, high - low, "LINEAR_EXACT")


def _display_window(center: float, width: float, function: str) -> Dataset:
    """A VOI LUT module for an 8-bit unsigned display: pydicom's windowing then maps straight onto 0-255."""
    window = Dataset()
    window.PhotometricInterpretation, window.BitsStored, window.PixelRepresentation = "MONOCHROME2", 8, 0
    window.WindowCenter, window.WindowWidth, window.VOILUTFunction = center, width, function
    return window


def _windowed(values: np.ndarray, window: Dataset) -> np.ndarray:
    return apply_windowing(values, window).astype(np.uint8)


def _preview_path(sha: str, frame: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "previews" / sha[:2] / f"{sha}-{frame}.png"


def _write_preview(target: Path, png: bytes) -> None:
    write_atomically(target, png)


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
