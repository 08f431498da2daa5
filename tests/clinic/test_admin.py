"""The data stewards' admin: every table browsable, FHIR upload, run errors, read-only audit, token revocation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pydicom.data import get_testdata_file

from clinic import models as m
from clinic.access import Actor
from clinic.audit import Action, audit
from clinic.curation import dataset_create
from clinic.genomics import clinvar_import, vcf_import
from clinic.imaging import dicom_import
from clinic.services import api_token_create, fhir_import_bytes
from clinic.synthetic import synthesize_patient
from tests.clinic.fhir_factory import bundle, dumps

CLINIC_MODELS = list(apps.get_app_config("clinic").get_models())


@pytest.fixture
def steward_client(steward) -> Client:
    client = Client()
    client.force_login(steward)
    return client


@pytest.fixture
def chart(db) -> m.IngestionRun:
    """One synthetic patient with every kind of FHIR row, imported."""
    name, doc = synthesize_patient(seed=3, index=1)
    run = fhir_import_bytes(name=name, data=dumps(doc), source="cli")
    assert run.units_failed == 0, run.errors
    return run


CLINVAR = "##fileformat=VCFv4.1\n##reference=GRCh38\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
CLINVAR += "17\t43045711\t55555\tG\tC\t.\t.\tCLNSIG=Pathogenic;GENEINFO=BRCA1:672;CLNREVSTAT=reviewed_by_expert_panel\n"
PATIENT_VCF = "##fileformat=VCFv4.2\n##reference=GRCh38\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\n"
PATIENT_VCF += "17\t43045711\t.\tG\tC\t50\tPASS\tDP=30\tGT\t0/1\n"


@pytest.fixture
def every_table(chart, clinician, settings, tmp_path) -> None:
    """A row in every clinic table: the chart, a care plan, imaging, genomics, a token, a dataset, an audit event, a
    research opt-out, an export."""
    settings.MEDIA_ROOT = tmp_path / "media"
    patient = m.Patient.objects.get()
    plan = {"resourceType": "CarePlan", "id": "plan-1", "status": "active", "intent": "plan",
            "subject": {"reference": f"Patient/{patient.fhir_id}"}, "period": {"start": "2024-01-01"}}  # fmt: skip
    assert fhir_import_bytes(name="plan.json", data=dumps(plan)).units_failed == 0  # synthesize writes no care plans
    dicom_import(paths=[Path(get_testdata_file("CT_small.dcm", download=False))], patient=patient)
    (tmp_path / "clinvar.vcf").write_text(CLINVAR)
    clinvar_import(path=tmp_path / "clinvar.vcf")
    (tmp_path / "patient.vcf").write_text(PATIENT_VCF)
    vcf_import(patient=patient, path=tmp_path / "patient.vcf")
    api_token_create(user=clinician, name="lab system")
    dataset_create(name="every-table", content=["notes"], seed=1)
    audit(actor=Actor(user=clinician, channel="web"), action=Action.PATIENT_VIEW, patient=patient)
    m.CareTeamMember.objects.create(user=clinician, patient=patient)
    m.BreakGlass.objects.create(patient=patient, username="x", reason="a long enough reason", expires_at=timezone.now())
    consent = {"resourceType": "Consent", "status": "active", "patient": {"reference": f"Patient/{patient.fhir_id}"},
               "scope": {"coding": [{"code": "research"}]}, "provision": {"type": "deny"}}  # fmt: skip
    assert fhir_import_bytes(name="consent.json", data=dumps(consent)).units_failed == 0
    m.BulkExport.objects.create(user=clinician, request_url="/api/v1/fhir/Patient/$export", types=["Patient"])


def _url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:clinic_{model._meta.model_name}_{view}", args=args)


def _upload(client: Client, name: str, data: bytes, follow: bool = True):
    url = reverse("admin:clinic_ingestionrun_upload")
    return client.post(url, {"file": SimpleUploadedFile(name, data, "application/json")}, follow=follow)


def test_it_registers_every_clinic_model():
    assert [model for model in CLINIC_MODELS if model not in admin.site._registry] == []


@pytest.fixture
def superuser_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def test_it_renders_every_changelist_search_and_detail_for_a_superuser(superuser_client, every_table):
    for model in CLINIC_MODELS:
        if model not in admin.site._registry:
            continue
        response = superuser_client.get(_url(model, "changelist"))
        assert response.status_code == 200, model.__name__
        assert superuser_client.get(_url(model, "changelist"), {"q": "a"}).status_code == 200, model.__name__
        row = model.objects.first()
        assert row is not None, f"no {model.__name__} row: the fixture must fill every table for its detail page"
        assert superuser_client.get(_url(model, "change", row.pk)).status_code == 200, model.__name__


def test_it_keeps_clinical_tables_from_a_steward_and_audits_a_superusers_reads(
    steward_client, superuser_client, superuser, chart
):
    patient = m.Patient.objects.get()
    for model in (m.Patient, m.Observation, m.ClinicalNote, m.Encounter):
        assert steward_client.get(_url(model, "changelist")).status_code == 403, model.__name__
    for model in (m.IngestionRun, m.AuditEvent, m.ApiToken, m.BreakGlass, m.CareTeamMember):
        assert steward_client.get(_url(model, "changelist")).status_code == 200, model.__name__
    superuser_client.get(_url(m.Patient, "changelist"))
    superuser_client.get(_url(m.Observation, "change", m.Observation.objects.first().pk))
    listed = m.AuditEvent.objects.get(action="admin.list", target="clinic.Patient")
    opened = m.AuditEvent.objects.get(action="admin.view", target__startswith="clinic.Observation/")
    assert listed.patients == [patient.pk] and listed.username == superuser.username and listed.channel == "admin"
    assert opened.patient_id == patient.pk


def test_it_shows_a_run_with_counts_by_type_and_duration(steward_client, chart):
    listing = steward_client.get(_url(m.IngestionRun, "changelist")).content.decode()
    assert "Upload FHIR file" in listing and f"{chart.units} / {chart.units_failed}" in listing

    detail = steward_client.get(_url(m.IngestionRun, "change", chart.pk)).content.decode()
    assert "<td>Observation</td>" in detail and f"<td>{chart.counts['Observation']}</td>" in detail
    assert " s<" in detail  # the duration, in seconds


def test_it_imports_an_uploaded_bundle_and_redirects_to_its_run(steward_client, steward):
    response = _upload(steward_client, "ada.json", dumps(bundle()))

    run = m.IngestionRun.objects.get()
    assert (run.source, run.user, run.units, run.units_failed) == ("admin", steward, 1, 0)
    assert response.redirect_chain[-1][0] == _url(m.IngestionRun, "change", run.pk)
    assert "Imported ada.json" in response.content.decode()
    assert m.Patient.objects.filter(family_name="Lovelace").count() == 1
    assert m.Observation.objects.count() == 3


def test_it_rejects_a_bad_upload_naming_the_entry_and_stores_nothing(steward_client):
    doc = bundle()
    obs = [e for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"][1]
    obs["resource"]["effectiveDateTime"] = "2020-13-45T99:99:99"
    index = doc["entry"].index(obs)

    page = _upload(steward_client, "broken.json", dumps(doc)).content.decode()

    assert "Rejected broken.json: nothing from it was stored" in page
    assert f"broken.json, entry {index}, Observation" in page and "effectiveDateTime" in page
    assert f"<td>{index}</td>" in page  # the run's error table
    assert m.IngestionRun.objects.get().units_failed == 1
    assert m.Patient.objects.count() == 0 and m.Observation.objects.count() == 0


def test_it_refuses_an_upload_that_is_not_fhir_json(steward_client):
    response = _upload(steward_client, "scan.pdf", b"%PDF-1.4", follow=False)

    assert response.status_code == 200 and "expected a .json, .ndjson or .jsonl file" in response.content.decode()
    assert not m.IngestionRun.objects.exists()


def test_it_turns_away_a_clinician_from_the_admin(logged_in):
    response = _upload(logged_in, "ada.json", dumps(bundle()), follow=False)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not m.IngestionRun.objects.exists()


def test_it_keeps_audit_events_read_only(steward_client, clinician):
    event = m.AuditEvent.objects.create(user=clinician, channel="web", action="view.timeline", target="Patient/1")

    assert steward_client.get(_url(m.AuditEvent, "changelist"), {"channel": "web"}).status_code == 200
    assert steward_client.get(_url(m.AuditEvent, "add")).status_code == 403
    assert steward_client.post(_url(m.AuditEvent, "change", event.pk), {"action": "nothing"}).status_code == 403
    assert steward_client.post(_url(m.AuditEvent, "delete", event.pk), {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "view.timeline"


def test_it_revokes_tokens_and_audits_it(steward_client, steward, clinician):
    api_token_create(user=clinician, name="lab system")
    token = m.ApiToken.objects.get()

    listing = steward_client.get(_url(m.ApiToken, "changelist")).content.decode()
    assert token.prefix in listing
    data = {"action": "revoke", admin.helpers.ACTION_CHECKBOX_NAME: [token.pk]}
    steward_client.post(_url(m.ApiToken, "changelist"), data)

    token.refresh_from_db()
    assert token.revoked
    audit = m.AuditEvent.objects.get(action="token.revoke")
    assert (audit.user, audit.channel) == (steward, "admin") and token.prefix in audit.target
