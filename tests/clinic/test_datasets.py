"""Datasets for foundation models: multimodal (notes, DICOM, variants), consent, quality and privacy checks, the data
card, reproducible bytes, the build on a real worker, and the researchers' download."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pydicom.data import get_testdata_file

from agents.models import AssistantExchange, Draft
from clinic import models as m
from clinic.curation import dataset_build, dataset_create
from clinic.deid import deid_secret, deidentifier_for
from clinic.fhir.mapping import research_decision
from clinic.genomics import vcf_import
from clinic.imaging import dicom_import
from clinic.services import fhir_import_bytes
from tests.access import user_with_roles
from tests.clinic.fhir_factory import bundle, dumps
from tests.waiting import wait_until

SECRET = "deid-key-for-dataset-tests-5b1f9c"
VCF = "##fileformat=VCFv4.2\n##reference=GRCh38\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE-ADA\n"
VCF += "17\t43045711\trs80357906\tG\tC\t50\tPASS\tDP=30\tGT\t0/1\n13\t32338100\t.\tA\tG\t60\tPASS\tDP=41\tGT\t1/1\n"


def make_patient(*, given: str, family: str, gender: str, birth: str, postal: str, note: str) -> m.Patient:
    doc = bundle()
    resource = doc["entry"][0]["resource"]
    resource.update(name=[{"given": [given], "family": family}], gender=gender, birthDate=birth,
                    address=[{"line": ["12 Elm Street"], "city": "Cambridge", "state": "MA", "postalCode": postal}])  # fmt: skip
    docref = next(e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "DocumentReference")
    docref["content"][0]["attachment"]["data"] = base64.b64encode(note.encode()).decode()
    run = fhir_import_bytes(name=f"{family}.json", data=dumps(doc))
    assert run.units_failed == 0, run.errors
    return m.Patient.objects.get(fhir_id=resource["id"])


def add_note(patient: m.Patient, text: str, day: str = "2024-04-02") -> None:
    note = {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient.fhir_id}"},
            "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3", "display": "Progress note"}]},
            "date": f"{day}T10:00:00+00:00",
            "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}]}  # fmt: skip
    assert fhir_import_bytes(name="note.json", data=dumps(note)).units_failed == 0


def opt_out(patient: m.Patient, provision_type: str = "deny") -> None:
    consent = {"resourceType": "Consent", "status": "active", "patient": {"reference": f"Patient/{patient.fhir_id}"},
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
               "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
               "dateTime": "2025-01-02T10:00:00+00:00", "provision": {"type": provision_type}}  # fmt: skip
    assert fhir_import_bytes(name="consent.json", data=dumps(consent)).units_failed == 0


def folder(dataset: m.Dataset) -> Path:
    return Path(settings.MEDIA_ROOT) / dataset.file


def file_hashes(dataset: m.Dataset) -> dict[str, str]:
    root = folder(dataset)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def media(db, settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DEID_SECRET = SECRET
    return tmp_path


@pytest.fixture
def ada(media) -> m.Patient:
    note = "Ada Lovelace (MRN {mrn}) was seen on 2024-03-01 for cough. Call 617-555-0101 to review the chest film."
    patient = make_patient(given="Ada", family="Lovelace", gender="female", birth="1960-05-17", postal="02139", note=note)
    patient.refresh_from_db()
    return patient


@pytest.fixture
def cohort(ada, media) -> dict[str, m.Patient]:
    """Ada and Grace share a cell (60-69, female, 021); Alan is alone in his (30-39, male, 941)."""
    grace = make_patient(given="Grace", family="Hopper", gender="female", birth="1962-12-09", postal="02140",
                         note="Grace Hopper reports knee pain after a fall on the ice, improving with rest and ibuprofen.")  # fmt: skip
    alan = make_patient(given="Alan", family="Turing", gender="male", birth="1990-06-23", postal="94110",
                        note="Alan Turing runs daily; asthma well controlled on an inhaler, no night symptoms lately.")  # fmt: skip
    return {"ada": ada, "grace": grace, "alan": alan}


@pytest.fixture
def imaging(ada, media) -> dict[str, str]:
    """CT_small twice (two instances of one series) and MR_small, for Ada; the original UIDs, name and ID."""
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    second = copy.deepcopy(ct)
    second.SOPInstanceUID, second.InstanceNumber = "1.2.826.0.1.3680043.8.498.1111", 2
    second.file_meta.MediaStorageSOPInstanceUID = second.SOPInstanceUID
    second.save_as(media / "ct-2.dcm")
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    run = dicom_import(paths=[Path(get_testdata_file("CT_small.dcm")), media / "ct-2.dcm", Path(get_testdata_file("MR_small.dcm"))],
                       patient=ada).run  # fmt: skip
    assert run.units_failed == 0, run.errors
    originals = {str(ds.get(k)) for ds in (ct, second, mr) for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID")}  # fmt: skip
    return {"uids": originals, "names": {str(ct.PatientName), str(mr.PatientName)}, "ids": {ct.PatientID, mr.PatientID},
            "birth": {ct.PatientBirthDate, mr.PatientBirthDate}, "ct_study_date": ct.StudyDate}  # fmt: skip


@pytest.fixture
def variants(ada, media) -> None:
    (media / "ada.vcf").write_text(VCF)
    vcf_import(patient=ada, path=media / "ada.vcf")


def test_it_builds_a_multimodal_dataset_whose_dicom_carries_no_identity(cohort, imaging, variants):
    ada, grace = cohort["ada"], cohort["grace"]
    dataset = dataset_create(name="multimodal", content=["notes", "imaging", "variants"], seed=7, min_cell=2)
    built = dataset_build(dataset_id=dataset.pk)
    assert built.status == "ready", built.error
    files = sorted(file_hashes(built))
    assert [f for f in files if not f.startswith("images/")] == [
        "SHA256SUMS",
        "card.json",
        "data.jsonl",
        "images.jsonl",
        "variants.jsonl",
    ]
    images = [pydicom.dcmread(folder(built) / f) for f in files if f.endswith(".dcm")]
    assert len(images) == 3
    pseudonym = deidentifier_for(patient=ada, secret=deid_secret(salt="7")).pseudonym
    offset = deidentifier_for(patient=ada, secret=deid_secret(salt="7")).offset
    for ds in images:
        assert str(ds.PatientName) == ds.PatientID == pseudonym and ds.PatientBirthDate == ""
        assert ds.PatientIdentityRemoved == "YES" and "Basic Profile" in ds.DeidentificationMethod
        assert not [e for e in ds.iterall() if e.tag.is_private]
        kept = {str(ds.get(k)) for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID")}
        assert not kept & imaging["uids"]
        values = " ".join(str(e.value) for e in ds.iterall() if e.VR in ("PN", "LO", "SH", "DA"))
        assert not [v for v in imaging["names"] | imaging["ids"] | {"Lovelace", ada.mrn} if v in values]
    cts = [ds for ds in images if ds.Modality == "CT"]
    (mr,) = [ds for ds in images if ds.Modality == "MR"]
    assert cts[0].SeriesInstanceUID == cts[1].SeriesInstanceUID and cts[0].StudyInstanceUID == cts[1].StudyInstanceUID
    assert cts[0].FrameOfReferenceUID == cts[1].FrameOfReferenceUID and cts[0].SOPInstanceUID != cts[1].SOPInstanceUID
    assert mr.StudyInstanceUID != cts[0].StudyInstanceUID
    shifted = dt.datetime.strptime(imaging["ct_study_date"], "%Y%m%d").date() + offset
    assert cts[0].StudyDate == shifted.strftime("%Y%m%d")  # the offset of Ada's notes
    listed = jsonl(folder(built) / "images.jsonl")
    assert sorted(i["file"] for i in listed) == [f for f in files if f.endswith(".dcm")]
    assert {i["series_uid"] for i in listed if i["modality"] == "CT"} == {str(cts[0].SeriesInstanceUID)}
    rows = jsonl(folder(built) / "variants.jsonl")
    assert {r["patient"] for r in rows} == {pseudonym} and {r["pos"] for r in rows} == {43045711, 32338100}
    assert "SAMPLE-ADA" not in (folder(built) / "variants.jsonl").read_text()
    notes = jsonl(folder(built) / "data.jsonl")
    assert len(notes) == 2 and "Lovelace" not in json.dumps(notes) and "[PHONE]" in notes[0]["text"] + notes[1]["text"]
    card = built.card
    assert card["counts"] | {"records_by_kind": None, "dropped": None} == {
        "cohort": 3, "opted_out": 0, "small_cell_suppressed": 1, "patients": 2, "records": 2, "images": 3,
        "images_excluded_burned_in": 0, "variants": 2, "records_by_kind": None, "dropped": None,
    }  # fmt: skip
    assert card["demographics"]["age_band"] == {"60-69": 2} and card["demographics"]["sex"] == {"female": 2}
    assert card["phi_removed"]["text"]["NAME"] >= 2 and card["phi_removed"]["dicom"]["UIDs replaced"] >= 12
    assert [c["name"] for c in card["checks"]] == ["research consent", "empty and template-only notes", "duplicates",
                                                   "small cells", "residual PHI", "burned-in annotation", "key"]  # fmt: skip
    assert card["purpose"] == "pretraining" and card["content"] == ["notes", "imaging", "variants"]
    assert len(card["source_sha256"]) == 64 and len(card["code_version"]["curation_sha256"]) == 64
    assert card["sha256"] == built.sha256 == hashlib.sha256((folder(built) / "SHA256SUMS").read_bytes()).hexdigest()
    assert json.loads((folder(built) / "card.json").read_text()) == card
    build_row = m.AuditEvent.objects.get(action="dataset.build", target="multimodal")
    assert sorted(build_row.patients) == sorted([ada.pk, grace.pk])


def test_it_never_writes_the_key(cohort, imaging, variants):
    built = dataset_build(dataset_id=dataset_create(name="keyless", content=["notes", "imaging", "variants"], min_cell=1).pk)
    assert built.status == "ready", built.error
    salted = deid_secret(salt="0")
    for path in folder(built).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data and salted.encode() not in data, path
    assert SECRET not in json.dumps(built.card) and SECRET not in str(m.Dataset.objects.values().get(pk=built.pk))


def test_it_gives_the_same_bytes_for_the_same_definition_and_seed(cohort, imaging, variants):
    first = dataset_build(
        dataset_id=dataset_create(name="first", content=["notes", "imaging", "variants"], seed=3, min_cell=1).pk
    )
    before = file_hashes(first)
    again = dataset_build(dataset_id=first.pk)
    assert file_hashes(again) == before and again.sha256 == first.sha256
    twin = dataset_build(dataset_id=dataset_create(name="twin", content=["notes", "imaging", "variants"], seed=3, min_cell=1).pk)
    assert {k: v for k, v in file_hashes(twin).items() if k != "card.json"} == {
        k: v for k, v in before.items() if k != "card.json"
    }
    other = dataset_build(
        dataset_id=dataset_create(name="other", content=["notes", "imaging", "variants"], seed=4, min_cell=1).pk
    )
    assert file_hashes(other)["data.jsonl"] != before["data.jsonl"]
    assert len(list((Path(settings.MEDIA_ROOT) / "datasets" / ".store").iterdir())) == 3  # the rebuild replaced its folder


def test_it_leaves_out_patients_who_opted_out_and_counts_them(cohort):
    opt_out(cohort["grace"])
    consent = m.ResearchConsent.objects.get()
    assert (consent.decision, consent.source, consent.patient_id) == ("deny", "fhir", cohort["grace"].pk)
    built = dataset_build(dataset_id=dataset_create(name="consented", content=["notes"], min_cell=1).pk)
    assert built.card["counts"]["opted_out"] == 1 and built.patients == 2
    assert "knee pain" not in (folder(built) / "data.jsonl").read_text()


def test_it_reads_a_research_opt_out_from_fhir_consent_provisions():
    research = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]}
    hresch = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]
    treatment = {"coding": [{"code": "treatment"}]}
    assert research_decision({"scope": research, "provision": {"type": "deny"}}) == "deny"
    assert research_decision({"scope": research, "provision": {"type": "permit"}}) == "permit"
    nested = {"type": "permit", "provision": [{"type": "deny", "purpose": hresch}]}
    assert research_decision({"scope": treatment, "provision": nested}) == "deny"
    assert research_decision({"scope": treatment, "provision": {"type": "deny"}}) == ""


def test_it_lets_a_steward_record_an_opt_out_audited(cohort, steward):
    client = Client()
    client.force_login(steward)
    url = reverse("admin:clinic_researchconsent_add")
    refused = client.post(url, {"patient": "nobody", "decision": "deny", "reason": "letter"})
    assert "no patient with FHIR id or MRN" in refused.content.decode() and not m.ResearchConsent.objects.exists()
    alan = cohort["alan"]
    response = client.post(url, {"patient": alan.mrn, "decision": "deny", "reason": "patient's letter of 3 May"})
    assert response.status_code == 302
    consent = m.ResearchConsent.objects.get()
    assert (consent.source, consent.decision, consent.recorded_by, consent.raw["provision"]["type"]) == (
        "steward",
        "deny",
        steward,
        "deny",
    )
    row = m.AuditEvent.objects.get(action="consent.change")
    assert (row.patient_id, row.username, row.detail["decision"]) == (alan.pk, "steward", "deny")
    built = dataset_build(dataset_id=dataset_create(name="without-alan", content=["notes"], min_cell=1).pk)
    assert built.patients == 2 and built.card["counts"]["opted_out"] == 1
    client.post(url, {"patient": alan.fhir_id, "decision": "permit", "reason": "withdrew the opt-out by phone"})
    assert dataset_build(dataset_id=built.pk).patients == 3  # the latest decision counts
    assert client.get(reverse("admin:clinic_researchconsent_changelist")).status_code == 200


def test_it_leaves_out_small_cells_and_fails_when_nobody_is_left(cohort):
    built = dataset_build(dataset_id=dataset_create(name="k2", content=["notes"], min_cell=2).pk)
    assert built.patients == 2 and built.card["counts"]["small_cell_suppressed"] == 1
    check = next(c for c in built.card["checks"] if c["name"] == "small cells")
    assert check["k"] == 2 and "1 (age band, sex, ZIP3) cell(s) under k=2" in check["detail"]
    failed = dataset_build(dataset_id=dataset_create(name="k5", content=["notes"]).pk)  # DATASET_MIN_CELL: 5
    assert failed.status == "failed" and "no patient left" in failed.error and "k=5" in failed.error
    assert not (Path(settings.MEDIA_ROOT) / "datasets" / "k5").exists()
    with pytest.raises(CommandError, match="no patient left"):
        call_command("curate_dataset", "k5-cli", "--content", "notes")


def test_it_fails_the_build_on_residual_phi_and_writes_nothing(ada):
    condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{ada.fhir_id}"},
                 "code": {"text": "Fall at home, daughter to call 617-555-0199"}}  # fmt: skip
    assert fhir_import_bytes(name="condition.json", data=dumps(condition)).units_failed == 0
    failed = dataset_build(dataset_id=dataset_create(name="leaky", content=["notes", "problems"], min_cell=1).pk)
    assert failed.status == "failed" and "residual PHI check: data.jsonl line" in failed.error
    assert "PHONE in problems" in failed.error and "617-555" not in failed.error
    root = Path(settings.MEDIA_ROOT) / "datasets"
    assert not root.exists() or not [p for p in root.rglob("*") if "leaky" in p.name]
    assert m.AuditEvent.objects.get(action="dataset.build", target="leaky").detail["failed"] == failed.error


def test_it_drops_template_only_duplicate_and_near_duplicate_notes(ada):
    story = ("Patient reports three days of productive cough with green sputum and low grade fever at night. Lungs with "
             "scattered crackles at the right base. Started amoxicillin for community acquired pneumonia and advised "
             "fluids, rest and a return visit in one week if the cough does not settle.")  # fmt: skip
    add_note(ada, story, "2024-04-02")
    add_note(ada, story, "2024-04-03")  # the same text again
    add_note(ada, story.replace("one week", "one month"), "2024-04-04")  # one word apart
    add_note(ada, "HPI: ___\nExam: ***\nAssessment: {assessment}\nPlan: N/A", "2024-04-05")
    built = dataset_build(dataset_id=dataset_create(name="clean", content=["notes"], min_cell=1).pk)
    assert built.card["counts"]["dropped"] == {"duplicate": 1, "near_duplicate": 1, "template_only": 1}
    assert built.records == 2


def test_it_flags_and_leaves_out_dicom_with_burned_in_text(ada, media):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    ds.save_as(media / "burned.dcm")
    dicom_import(paths=[media / "burned.dcm"], patient=ada)
    built = dataset_build(dataset_id=dataset_create(name="burned", content=["imaging"], min_cell=1).pk)
    assert built.card["counts"]["images"] == 0 and built.card["counts"]["images_excluded_burned_in"] == 1
    check = next(c for c in built.card["checks"] if c["name"] == "burned-in annotation")
    assert check["result"] == "flagged" and check["files"][0]["reason"] == "BurnedInAnnotation is YES"
    assert not (folder(built) / "images").exists()


def test_it_makes_instruction_and_preference_pairs_from_agents_data(ada, clinician):
    answer = {"answer": "Ada Lovelace takes lisinopril.", "sentences": [
        {"text": "Ada Lovelace takes lisinopril 10 mg daily.",
         "citations": [{"source_type": "medication", "source_id": 5, "label": "lisinopril 10 MG (2020-01-10)"}]}]}  # fmt: skip
    AssistantExchange.objects.create(patient=ada, user=clinician, question="What does Ada Lovelace take for her blood pressure?",
                                     status="ready", answer=answer)  # fmt: skip
    generated = [{"title": "Course", "sentences": [{"text": "Ada Lovelace was seen for cough.", "citations": []}]}]
    signed = [{"title": "Course", "sentences": [{"text": "Ada Lovelace was seen for a cough that settled.", "citations": []}]}]
    Draft.objects.create(patient=ada, kind="discharge_summary", status="signed", signed_at=timezone.now(), signed_by=clinician,
                         sections=signed, generated=generated)  # fmt: skip
    instruction = dataset_build(
        dataset_id=dataset_create(name="chat", purpose="instruction", content=["exchanges", "notes", "problems"], min_cell=1).pk
    )
    rows = jsonl(folder(instruction) / "data.jsonl")
    assert instruction.status == "ready", instruction.error
    assert sorted(r["source"] for r in rows) == ["exchanges", "note"]
    chat = next(r for r in rows if r["source"] == "exchanges")
    assert [msg["role"] for msg in chat["messages"]] == ["system", "user", "assistant"]
    assert "[1]" in chat["messages"][2]["content"] and "Sources:\n[1] medication: lisinopril" in chat["messages"][2]["content"]
    assert "Hypertension" in chat["messages"][1]["content"] and "Lovelace" not in json.dumps(rows)
    assert "2020-01-10" not in json.dumps(rows)  # the date in the citation's label moved too
    preference = dataset_build(
        dataset_id=dataset_create(name="prefs", purpose="preference", content=["drafts", "problems"], min_cell=1).pk
    )
    (pair,) = jsonl(folder(preference) / "data.jsonl")
    assert set(pair) == {"prompt", "chosen", "rejected", "patient", "source", "format"}
    assert "settled" in pair["chosen"] and "settled" not in pair["rejected"] and "[NAME]" in pair["chosen"]
    assert pair["prompt"].startswith("Write a discharge summary for this patient.\n\nChart:\n")
    with pytest.raises(Exception, match="preference pairs need drafts"):
        dataset_create(name="no-pairs", purpose="preference", content=["notes"])


def test_it_shows_the_card_and_refreshes_a_building_page_in_the_admin(cohort, steward):
    client = Client()
    client.force_login(steward)
    pending = dataset_create(name="waiting", content=["notes"], min_cell=1)
    page = client.get(reverse("admin:clinic_dataset_change", args=[pending.pk])).content.decode()
    assert 'http-equiv="refresh"' in page and "Build on the worker" in page
    built = dataset_build(dataset_id=pending.pk)
    page = client.get(reverse("admin:clinic_dataset_change", args=[built.pk])).content.decode()
    assert 'http-equiv="refresh"' not in page and "<h3>Checks</h3>" in page
    card = client.get(reverse("admin:clinic_dataset_card", args=[built.pk])).content.decode()
    assert "<th>opted out of research (excluded)</th><td>0</td>" in card and "small cells" in card and "60-69" in card


@pytest.mark.django_db(transaction=True)
def test_it_builds_on_a_real_worker_from_the_admin_with_progress(celery_worker_real, settings, tmp_path):
    settings.MEDIA_ROOT, settings.DEID_SECRET = tmp_path / "media", SECRET
    for given, family in (("Ada", "Lovelace"), ("Grace", "Hopper")):
        make_patient(given=given, family=family, gender="female", birth="1961-02-03", postal="02139",
                     note=f"{given} {family} came in with a sore throat and mild fever; rapid strep test was negative.")  # fmt: skip
    steward = user_with_roles("sam", "steward", is_staff=True)
    client = Client()
    client.force_login(steward)
    form = {"name": "from-admin", "purpose": "pretraining", "content": ["notes", "problems"], "seed": 1, "min_cell": 2,
            "condition_code": "", "sex": "", "age_min": "", "age_max": ""}  # fmt: skip
    response = client.post(reverse("admin:clinic_dataset_add"), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    dataset = m.Dataset.objects.get(name="from-admin")
    assert m.AuditEvent.objects.filter(action="dataset.build", detail__queued=True, username="sam").exists()
    done = wait_until(lambda: m.Dataset.objects.filter(pk=dataset.pk, status__in=["ready", "failed"]).first(), seconds=60,
                      what="the worker to build the dataset")  # fmt: skip
    assert done.status == "ready", done.error
    assert (done.progress_done, done.progress_total, done.patients) == (2, 2, 2) and done.build_started_at <= done.built_at
    listing = client.get(reverse("admin:clinic_dataset_changelist")).content.decode()
    assert "from-admin" in listing and ">Ready<" in listing
    client.post(reverse("admin:clinic_dataset_build", args=[dataset.pk]))
    wait_until(lambda: m.AuditEvent.objects.filter(action="dataset.build", target="from-admin", detail__sha256=done.sha256).count() == 2,
               seconds=60, what="the rebuild to finish with the same bytes")  # fmt: skip


def test_it_lets_a_researcher_download_a_ready_dataset_and_audits_it(cohort, clinician):
    built = dataset_build(dataset_id=dataset_create(name="for-research", content=["notes"], min_cell=1).pk)
    dataset_create(name="not-built", content=["notes"], min_cell=1)
    researcher = user_with_roles("rita", "researcher")
    client = Client()
    client.force_login(researcher)
    page = client.get(reverse("clinic:dataset_list")).content.decode()
    assert "for-research" in page and "not-built" not in page and built.sha256 in page
    response = client.get(reverse("clinic:dataset_download", args=["for-research"]))
    assert response.status_code == 200 and response["Content-Disposition"] == 'attachment; filename="for-research.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["for-research/SHA256SUMS", "for-research/card.json", "for-research/data.jsonl"]
    assert archive.read("for-research/data.jsonl") == (folder(built) / "data.jsonl").read_bytes()
    row = m.AuditEvent.objects.get(action="dataset.download")
    assert (row.username, row.target, row.detail["sha256"]) == ("rita", "for-research", built.sha256)
    assert client.get(reverse("clinic:dataset_download", args=["not-built"])).status_code == 404
    doctor = Client()
    doctor.force_login(clinician)
    assert doctor.get(reverse("clinic:dataset_list")).status_code == 403
    assert doctor.get(reverse("clinic:dataset_download", args=["for-research"])).status_code == 403
    assert m.AuditEvent.objects.filter(action="dataset.download").count() == 1
