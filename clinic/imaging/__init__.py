"""Imaging: DICOM files → ImagingStudy / Series / Instance rows, content-addressed originals, PNG previews.

parse: files read and checked; store: originals and rows written (one ingestion run per import); preview: frames
rendered through pydicom's LUTs; read: the queries the pages and the API make.
"""

from clinic.imaging.parse import KEY_TAGS, dicom_files, dicom_read
from clinic.imaging.preview import instance_preview, preview_warm, render_png
from clinic.imaging.read import instance_get, patient_studies, series_get
from clinic.imaging.store import DicomImport, dicom_import, patient_for_dataset, study_refresh

__all__ = [
    "KEY_TAGS",
    "DicomImport",
    "dicom_files",
    "dicom_import",
    "dicom_read",
    "instance_get",
    "instance_preview",
    "patient_for_dataset",
    "patient_studies",
    "preview_warm",
    "render_png",
    "series_get",
    "study_refresh",
]
