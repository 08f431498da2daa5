"""Imaging: DICOM import (counts, storage, idempotence, bad files, patient and FHIR links), previews, REST, viewer page."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from PIL import Image
from pydicom.data import get_testdata_file

from clinic import models as m
from clinic.imaging import dicom_import, instance_preview, render_png
from clinic.services import fhir_import_bytes
from tests.access import on_care_team
from tests.clinic.fhir_factory import bundle, dumps


def pydicom_file(name: str) -> Path:
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.skip(f"pydicom test file {name} is not in the installed wheel")
    return Path(found)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def ada(clinician) -> m.Patient:
    """Ada Lovelace's chart, Dr Grey on her care team."""
    fhir_import_bytes(name="ada.json", data=dumps(bundle(observations=1)))
    patient = m.Patient.objects.get()
    on_care_team(clinician, patient)
    return patient


@pytest.fixture
def nih_series(shared_data: Path) -> list[Path]:
    """The series folders of dcm_qa_nih; a shared data folder without them fails here rather than import nothing."""
    series = sorted(p for p in (shared_data / "dicom" / "dcm_qa_nih").glob("*/*") if p.is_dir())
    assert len(series) == 3 and all(any(s.glob("*.dcm")) for s in series), f"dcm_qa_nih incomplete in {shared_data}"
    return series


def _png(path: Path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(data)))


def test_it_imports_the_nih_series_with_counts_per_study_and_series(ada, nih_series):
    result = dicom_import(paths=nih_series, patient=ada)
    expected = sum(1 for s in nih_series for _ in s.glob("*.dcm"))
    assert m.ImagingInstance.objects.count() == expected == result.run.counts["ImagingInstance"] == 154
    assert m.ImagingStudy.objects.count() == 2 and m.ImagingSeries.objects.count() == 3
    for study in m.ImagingStudy.objects.all():
        assert study.patient == ada and study.fhir_id.startswith("dicom-") and study.modalities == "MR"
        assert study.num_series == study.series.count()
        assert study.num_instances == m.ImagingInstance.objects.filter(series__study=study).count()
        assert m.TimelineEvent.objects.filter(kind="imaging", source_id=study.pk, patient=ada).exists()
    for series in m.ImagingSeries.objects.all():
        assert series.num_instances == series.instances.count() > 0
    first = m.ImagingInstance.objects.first()
    assert first.rows and first.columns and len(first.pixel_spacing) == 2 and first.slice_location is not None


def test_it_names_the_files_it_rejects_and_imports_the_rest(ada, nih_series):
    result = dicom_import(paths=nih_series, patient=ada)
    rejected = {Path(e["file"]).name for e in result.run.errors}
    assert rejected == {"README-Series.txt"} and result.run.status == m.IngestionRun.Status.PARTIAL
    assert all("not a DICOM file" in e["message"] for e in result.run.errors)


def test_it_rejects_a_dicom_file_without_pixel_data(ada):
    result = dicom_import(paths=[pydicom_file("rtplan.dcm"), pydicom_file("CT_small.dcm")], patient=ada)
    assert [e["message"].split(": ", 1)[1] for e in result.run.errors] == ["no pixel data (not an image)"]
    assert "rtplan.dcm" in result.run.errors[0]["file"] and m.ImagingInstance.objects.count() == 1


def test_it_stores_each_original_once_and_reimports_nothing(ada, media_root):
    path = pydicom_file("CT_small.dcm")
    dicom_import(paths=[path], patient=ada)
    again = dicom_import(paths=[path], patient=ada)
    assert again.run.counts == {"ImagingInstance": 0} and again.run.unchanged == {"ImagingInstance": 1}
    stored = list((media_root / "dicom").rglob("*.dcm"))
    assert len(stored) == 1 and stored[0].read_bytes() == path.read_bytes()
    assert m.ImagingInstance.objects.get().file_sha256 == stored[0].stem


def test_it_links_by_patient_id_and_to_a_fhir_imaging_study(ada):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ada.mrn = str(ds.PatientID)
    ada.save()
    fhir_study = m.ImagingStudy.objects.create(fhir_id="fhir-study-1", patient=ada, study_uid=str(ds.StudyInstanceUID))
    call_command("import_dicom", str(pydicom_file("CT_small.dcm")))
    assert m.ImagingStudy.objects.get() == fhir_study
    fhir_study.refresh_from_db()
    assert fhir_study.num_instances == 1 and fhir_study.series.get().modality == "CT"


def test_it_refuses_a_file_whose_patient_is_unknown(db):
    result = dicom_import(paths=[pydicom_file("CT_small.dcm")])
    assert "no patient with MRN" in result.run.errors[0]["message"] and not m.ImagingInstance.objects.exists()


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "MR_small_jp2klossless.dcm", "SC_rgb_rle_2frame.dcm"])
def test_it_renders_a_non_constant_png_and_caches_it(ada, name):
    dicom_import(paths=[pydicom_file(name)], patient=ada)
    instance = m.ImagingInstance.objects.get()
    for frame in range(instance.frames):
        path = instance_preview(instance=instance, frame=frame)
        pixels = _png(path)
        assert pixels.std() > 0 and pixels.shape[:2] == (instance.rows, instance.columns)
        before = path.stat().st_mtime_ns
        assert instance_preview(instance=instance, frame=frame) == path and path.stat().st_mtime_ns == before


def _rendered(ds: pydicom.Dataset) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(render_png(ds))))


def test_it_windows_with_the_files_window_and_function():
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    median = float(np.median(ds.pixel_array))
    ds.WindowCenter, ds.WindowWidth = median, 2
    narrow = _rendered(ds)
    assert set(np.unique(narrow)) <= {0, 255} and narrow.min() == 0 and narrow.max() == 255  # LINEAR saturates
    ds.VOILUTFunction, ds.WindowWidth = "SIGMOID", 400
    sigmoid = _rendered(ds)
    assert 0 < sigmoid.min() and sigmoid.max() < 255 and len(np.unique(sigmoid)) > 50  # a sigmoid never reaches either end


def test_it_applies_a_voi_lut_sequence_in_preference_to_the_window():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = 40, 400
    windowed = _rendered(ds)
    low, high = -1024, 2047  # the rescaled range the table covers, in HU
    ramp = np.linspace(0, 255, high - low + 1).round().astype(int)
    rendered = {}
    for name, table in (("ramp", ramp), ("inverse", 255 - ramp)):
        item = pydicom.Dataset()
        item.LUTDescriptor, item.LUTData = [len(table), low, 8], [int(v) for v in table]
        ds.VOILUTSequence = [item]
        rendered[name] = _rendered(ds)
    assert not np.array_equal(rendered["ramp"], windowed)
    assert np.array_equal(rendered["inverse"], 255 - rendered["ramp"]) and rendered["ramp"].std() > 0


def test_it_serves_the_imaging_tree_over_rest_and_audits(ada, nih_series, api_client, clinician):
    dicom_import(paths=nih_series, patient=ada)
    body = api_client.get(f"/api/v1/patients/{ada.pk}/imaging").json()
    instances = [i for s in body["items"] for se in s["series"] for i in se["instances"]]
    assert body["count"] == 2 and len(instances) == m.ImagingInstance.objects.count()
    preview = api_client.get(instances[0]["api_preview_url"])
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
    audit = m.AuditEvent.objects.filter(action="view.imaging").order_by("at").first()
    assert audit.patient == ada and audit.user == clinician and audit.channel == "api"
    assert api_client.get("/api/v1/patients/999999/imaging").status_code == 404


def test_it_shows_the_series_viewer_with_every_slice(ada, nih_series, client, clinician):
    dicom_import(paths=nih_series[:1], patient=ada)
    series = m.ImagingSeries.objects.first()
    client.force_login(clinician)
    response = client.get(f"/patients/{ada.pk}/imaging/series/{series.pk}/")
    assert response.status_code == 200 and len(response.context["slices"]) == series.num_instances
    assert client.get(response.context["slices"][0]["preview"]).status_code == 200
    assert client.get(f"/patients/{ada.pk}/imaging/series/999999/").status_code == 404


def test_it_reads_preamble_less_files_with_force_and_refuses_other_files(ada, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    result = dicom_import(paths=[pydicom_file("ExplVR_LitEndNoMeta.dcm"), text], patient=ada)
    messages = {Path(e["file"]).name: e["message"] for e in result.run.errors}
    assert messages["ExplVR_LitEndNoMeta.dcm"].endswith("no pixel data (not an image)")  # parsed, then judged
    assert messages["notes.txt"].endswith("not a DICOM file (no DICM preamble)")
    assert result.run.status == m.IngestionRun.Status.FAILED


def test_it_rejects_pixel_data_that_cannot_be_decoded(ada):
    result = dicom_import(paths=[pydicom_file("MR_truncated.dcm"), pydicom_file("CT_small.dcm")], patient=ada)
    assert len(result.run.errors) == 1 and "MR_truncated.dcm: pixel data cannot be decoded" in result.run.errors[0]["message"]
    assert m.ImagingInstance.objects.get().tags["Modality"] == "CT"


def test_it_exports_a_dicom_only_study_in_everything(ada, api_client):
    dicom_import(paths=[pydicom_file("CT_small.dcm")], patient=ada)
    bundle_out = api_client.get(f"/api/v1/fhir/Patient/{ada.fhir_id}/$everything").json()
    studies = [e["resource"] for e in bundle_out["entry"] if e["resource"]["resourceType"] == "ImagingStudy"]
    study = m.ImagingStudy.objects.get()
    assert len(studies) == 1 and studies[0]["id"] == study.fhir_id
    assert studies[0]["identifier"][0]["value"] == f"urn:oid:{study.study_uid}"
    assert studies[0]["series"][0]["modality"]["code"] == "CT" and studies[0]["numberOfInstances"] == 1


def test_it_links_the_timeline_item_of_a_study_to_its_viewer(ada, logged_in):
    dicom_import(paths=[pydicom_file("CT_small.dcm")], patient=ada)
    study = m.ImagingStudy.objects.get()
    page = logged_in.get(f"/patients/{ada.pk}/items/imaging/{study.pk}/").content.decode()
    assert f"/patients/{ada.pk}/imaging/studies/{study.pk}/" in page and "Open the study viewer" in page


def _study_bundle(ada: m.Patient, series: list[dict], study_uid: str = "1.2.840.99.1") -> bytes:
    study = {
        "resourceType": "ImagingStudy",
        "id": "fhir-study-2",
        "status": "available",
        "subject": {"reference": f"Patient/{ada.fhir_id}"},
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}],
        "started": "2024-03-01T10:00:00+00:00",
        "series": series,
    }
    return dumps({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": study}]})


def _series(uid: str, number: int, modality: str = "DX", instances: int = 2) -> dict:
    return {
        "uid": uid,
        "number": number,
        "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality},
        "bodySite": {"system": "http://snomed.info/sct", "code": "51185008", "display": "Thoracic structure"},
        "instance": [{"uid": f"{uid}.{i}", "sopClass": {"code": "1.2.840.10008.5.1.4.1.1.1.1"}} for i in range(instances)],
    }


def test_it_stores_the_series_a_fhir_imaging_study_lists(ada):
    run = fhir_import_bytes(
        name="study.json", data=_study_bundle(ada, [_series("1.2.840.99.1.1", 1), _series("1.2.840.99.1.2", 2, "CT", 3)])
    )
    assert run.status == "succeeded", run.errors
    study = m.ImagingStudy.objects.get(fhir_id="fhir-study-2")
    series = list(study.series.values_list("series_uid", "number", "modality", "body_part", "num_instances"))
    assert series == [("1.2.840.99.1.1", 1, "DX", "Thoracic structure", 2), ("1.2.840.99.1.2", 2, "CT", "Thoracic structure", 3)]
    assert study.num_series == 2
    # The study no longer lists the second series: it goes (it has no images); the first is updated in place.
    fhir_import_bytes(name="study.json", data=_study_bundle(ada, [_series("1.2.840.99.1.1", 7)]))
    assert list(study.series.values_list("series_uid", "number")) == [("1.2.840.99.1.1", 7)]


def test_it_rejects_a_series_without_a_uid_naming_the_place(ada):
    bad = _series("1.2.840.99.1.1", 1)
    del bad["uid"]
    run = fhir_import_bytes(name="study.json", data=_study_bundle(ada, [_series("1.2.840.99.1.3", 1), bad]))
    assert run.status == "failed"
    assert any(e.get("field") == "series[1].uid" and e.get("file") == "study.json" for e in run.errors), run.errors
    assert not m.ImagingStudy.objects.filter(fhir_id="fhir-study-2").exists() and not m.ImagingSeries.objects.exists()


def test_dicom_files_fill_a_series_the_fhir_study_declared(ada):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ada.mrn = str(ds.PatientID)
    ada.save()
    declared = [_series(str(ds.SeriesInstanceUID), 9, "CT", 1), _series(str(ds.SeriesInstanceUID) + ".77", 10, "CT", 4)]
    fhir_import_bytes(name="study.json", data=_study_bundle(ada, declared, study_uid=str(ds.StudyInstanceUID)))
    call_command("import_dicom", str(pydicom_file("CT_small.dcm")))
    study = m.ImagingStudy.objects.get()
    filled = study.series.get(series_uid=str(ds.SeriesInstanceUID))
    assert filled.instances.count() == 1 and filled.number == ds.get("SeriesNumber")
    # The series without files keeps its declared count; re-importing the resource leaves the files' series alone.
    assert study.num_series == 2 and study.num_instances == 1 + 4
    fhir_import_bytes(name="study.json", data=_study_bundle(ada, declared[1:], study_uid=str(ds.StudyInstanceUID)))
    assert filled.instances.count() == 1 and study.series.count() == 2
