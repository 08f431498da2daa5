"""Every page, fragment, API operation and admin view that reads a patient's data leaves an audit row naming them.

The test walks the URL patterns and the OpenAPI document instead of listing endpoints by hand, so a new page or
endpoint that takes a patient (or a draft, an image, a question…) and forgets its audit row fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import FieldError
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from pydicom.data import get_testdata_file

from agents.models import AssistantExchange, Draft, Feedback
from carebase.api import api
from cds.models import CardDecision, Rule, RuleFiring
from clinic import models as m
from clinic.access import Actor
from clinic.fhir.bulk import bulk_export_run, bulk_export_start
from clinic.imaging import dicom_import
from clinic.services import api_token_create, fhir_import_bytes
from clinic.synthetic import synthesize_patient
from search.models import Chunk
from tests.access import on_care_team
from tests.clinic.fhir_factory import dumps
from tests.search.factories import index_all

pytestmark = pytest.mark.django_db

# Route parameters that name patient data: a route with one of them reads a chart.
PATIENT_PARAMS = {
    "patient_id", "fhir_id", "instance_id", "study_id", "series_id", "draft_id", "exchange_id", "source_id", "card_uuid",
    "file_name",
}  # fmt: skip
# Reads of patient data that take no such parameter: the lists and searches, with the query that makes them read.
LIST_READS = {
    "": "",
    "search/": "?q={word}",
    "api/v1/patients": "",
    "api/v1/search": "?q={word}",
    "api/v1/fhir/{resource_type}": "",
}


@pytest.fixture
def chart(settings, tmp_path: Path, clinician) -> dict[str, object]:
    settings.MEDIA_ROOT, settings.DATA_DIR = tmp_path / "media", tmp_path
    settings.JOBS_EAGER = True
    name, doc = synthesize_patient(seed=2, index=1)  # a chart with a row of nearly every kind
    fhir_import_bytes(name=name, data=dumps(doc))
    ada = m.Patient.objects.get()
    on_care_team(clinician, ada)
    m.CarePlan.objects.create(fhir_id="plan-1", patient=ada, display="Diabetes self-management plan")
    m.ResearchConsent.objects.create(fhir_id="consent-1", patient=ada, status="active", decision="deny")
    report = m.GenomicReport.objects.create(patient=ada, file_name="ada.vcf", file_sha256="0" * 64, sample="ADA")
    m.GenomicVariant.objects.create(patient=ada, report=report, chrom="17", pos=43044295, ref="A", alt="G", gene="BRCA1")
    dicom_import(paths=[get_testdata_file("CT_small.dcm")], patient=ada)
    instance = m.ImagingInstance.objects.get()
    note = m.ClinicalNote.objects.filter(patient=ada).first()
    observation = m.Observation.objects.filter(patient=ada).first()
    draft = Draft.objects.create(patient=ada, kind="progress_note", created_by=clinician, status="ready", sections=[])
    exchange = AssistantExchange.objects.create(patient=ada, user=clinician, question="Allergies?", answer={})
    rule = Rule.objects.get(key="influenza-vaccine-due")
    firing = RuleFiring.objects.create(
        rule=rule, patient=ada, hook="patient-view", fingerprint="f", indicator="info", summary="due"
    )
    CardDecision.objects.create(firing=firing, rule=rule, patient=ada, fingerprint="f", outcome="accepted", user=clinician)
    Feedback.objects.create(patient=ada, exchange=exchange, sentence=0, text="x", rating="helpful", user=clinician)
    index_all()
    export = bulk_export_start(actor=Actor(user=clinician, channel="api"), level="patient", types=["Observation"],
                               since=None, request_url="/api/v1/fhir/Patient/$export")  # fmt: skip
    bulk_export_run(export_id=str(export.pk))
    text = " ".join(Chunk.objects.filter(patient=ada).values_list("text", flat=True))
    word = max(re.findall(r"\b[a-z]{6,}\b", text), key=text.count)  # a word the chart's notes use: searches find Ada
    return {
        "patient": ada,
        "values": {
            "patient_id": ada.pk,
            "fhir_id": ada.fhir_id,
            "instance_id": instance.pk,
            "study_id": instance.series.study_id,
            "series_id": instance.series_id,
            "draft_id": draft.pk,
            "exchange_id": exchange.pk,
            "card_uuid": firing.uuid,
            "kind": "note",
            "source_id": note.pk,
            "resource_type": "Observation",
            "export_id": export.pk,
            "file_name": "Observation.ndjson",
            "word": word,
        },
        "observation": observation,
    }


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route, pattern


def _fill(route: str, values: dict[str, object]) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(values[match.group(1)]), route)


def _audited(patient: m.Patient, since: int) -> bool:
    rows = m.AuditEvent.objects.filter(id__gt=since)
    return any(row.patient_id == patient.pk or patient.pk in row.patients for row in rows)


def _last_audit_id() -> int:
    return m.AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_it_audits_every_page_that_reads_a_chart(chart, logged_in):
    patient, values = chart["patient"], chart["values"]
    checked, unaudited = [], []
    for route, _pattern in _routes(get_resolver().url_patterns):
        if route.startswith(("admin/", "api/", "accounts/", "audit/")) or "^" in route:
            continue
        params = set(re.findall(r"<(?:\w+:)?(\w+)>", route))
        if not (params & PATIENT_PARAMS) and route not in LIST_READS:
            continue
        url = "/" + _fill(route, values) + LIST_READS.get(route, "").format(word=values["word"])
        before = _last_audit_id()
        response = logged_in.get(url)
        if response.status_code == 405:  # a POST-only action: its service audits it (tests of each service)
            continue
        assert response.status_code == 200, f"GET {url}: {response.status_code}"
        checked.append(url)
        if not _audited(patient, before):
            unaudited.append(url)
    assert len(checked) >= 12 and not unaudited, unaudited


def test_it_audits_every_api_operation_that_reads_a_chart(chart, clinician):
    patient, values = chart["patient"], dict(chart["values"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=clinician)}")
    schema = api.get_openapi_schema()
    checked, unaudited = [], []
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        params = set(re.findall(r"\{(\w+)\}", path))
        route = path.removeprefix("/")
        if not (params & PATIENT_PARAMS) and route not in LIST_READS:
            continue
        values["fhir_id"] = chart["observation"].fhir_id if "{resource_type}" in path else patient.fhir_id
        url = re.sub(r"\{(\w+)\}", lambda match: str(values[match.group(1)]), path)
        url += LIST_READS.get(route, "").format(word=values["word"])
        before = _last_audit_id()
        response = client.get(url)
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.content[:200]!r}"
        checked.append(url)
        if not _audited(patient, before):
            unaudited.append(url)
    assert len(checked) >= 10 and not unaudited, unaudited


def test_it_audits_every_admin_list_and_record_of_patient_data(chart, superuser):
    from django.contrib import admin

    from clinic.admin import PatientDataAdmin

    client = Client()
    client.force_login(superuser)
    patient, checked, unaudited = chart["patient"], [], []
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, PatientDataAdmin) or model in (m.Organization, m.Practitioner):
            continue
        row = model._default_manager.filter(pk__in=_rows_of(model, patient)).first()
        assert row is not None, f"the chart has no {model.__name__} row"
        info = model._meta.app_label, model._meta.model_name
        for url in (f"/admin/{info[0]}/{info[1]}/", f"/admin/{info[0]}/{info[1]}/{row.pk}/change/"):
            before = _last_audit_id()
            assert client.get(url).status_code == 200, url
            checked.append(url)
            if not _audited(patient, before):
                unaudited.append(url)
    assert len(checked) >= 20 and not unaudited, unaudited


def _rows_of(model: type, patient: m.Patient) -> list[int]:
    """Ids of the model's rows that belong to the patient (directly or through a study or series)."""
    if model is m.Patient:
        return [patient.pk]
    for path in ("patient", "study__patient", "series__study__patient"):
        try:
            return list(model._default_manager.filter(**{path: patient}).values_list("pk", flat=True))
        except FieldError:  # this model has no such path
            continue
    return []
