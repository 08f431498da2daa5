"""Production-safe defaults: secrets required, CSP, idle sign-out, sign-in lockout, bounded inputs, no PHI in the
access log."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from pypdf import PdfWriter

from clinic import models as m
from clinic.errors import InvalidInput
from clinic.spreadsheet import csv_cell, csv_text
from search.documents import document_text
from tests.access import user_with_roles
from tests.clinic.fhir_factory import bundle, dumps
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _settings_import(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DEID_SECRET")} | env
    return subprocess.run([sys.executable, "-c", "import carebase.settings"], env=clean, capture_output=True, text=True, cwd=ROOT)


def test_it_refuses_to_start_with_the_public_secret_key_when_debug_is_off():
    done = _settings_import(DEBUG="false", DEID_SECRET="y" * 40)
    assert done.returncode != 0 and "SECRET_KEY is unset" in done.stderr
    assert _settings_import(DEBUG="false", DEID_SECRET="y" * 40, SECRET_KEY="x" * 50).returncode == 0


def test_it_sends_a_content_security_policy_and_hardened_headers(clinician, logged_in):
    response = logged_in.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    login = Client().get("/accounts/login/")
    assert "HttpOnly" in str(login.cookies["csrftoken"]) and "SameSite=Lax" in str(login.cookies["csrftoken"])


def test_it_signs_out_after_the_idle_timeout(clinician):
    client = Client()
    client.post("/accounts/login/", {"username": "dr_grey", "password": "pw-clinician-1"})
    assert client.get("/").status_code == 200
    session = Session.objects.get()
    assert dt.timedelta(minutes=29) < session.expire_date - timezone.now() <= dt.timedelta(minutes=30)
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))  # 30 minutes without a request
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_locks_out_a_username_after_repeated_failures(clinician):
    client = Client()
    for _ in range(4):
        assert client.post("/accounts/login/", {"username": "dr_grey", "password": "wrong"}).status_code == 200
    assert client.post("/accounts/login/", {"username": "dr_grey", "password": "wrong"}).status_code == 429  # the 5th
    locked = client.post("/accounts/login/", {"username": "dr_grey", "password": "pw-clinician-1"})
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    other = Client().post("/accounts/login/", {"username": "someone", "password": "wrong"})
    assert other.status_code == 200  # another username from the same address is not locked


def test_it_imports_a_large_posted_bundle_on_the_worker(integration_client, settings, django_capture_on_commit_callbacks):
    settings.JOBS_EAGER = True
    settings.FHIR_INLINE_MAX_BYTES = 1000
    with django_capture_on_commit_callbacks(execute=True):
        response = integration_client.post(
            "/api/v1/fhir", dumps(bundle("big-1", observations=8)), content_type="application/json"
        )
    assert response.status_code == 202 and response.json()["status"] == "running"
    status = integration_client.get(response.json()["url"]).json()
    assert status["status"] == "succeeded" and status["counts"]["Observation"] == 8
    assert not list((settings.DATA_DIR / "uploads").glob("fhir-*"))  # the stored body is gone once imported


def test_it_refuses_a_body_over_the_upload_limit(integration_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.UPLOAD_MAX_BYTES = 2000
    response = integration_client.post("/api/v1/fhir", dumps(bundle("big-2", observations=8)), content_type="application/json")
    assert response.status_code in (400, 413) and not m.Patient.objects.filter(fhir_id="big-2").exists()


def test_it_caps_pdf_pages(settings):
    settings.PDF_MAX_PAGES = 2
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=200, height=200)
    data = io.BytesIO()
    writer.write(data)
    with pytest.raises(InvalidInput, match="guide.pdf: 3 pages, over the limit of 2"):
        document_text(name="guide.pdf", data=data.getvalue())


def test_it_refuses_dicom_pixel_data_too_large_to_decode(settings, tmp_path):
    from pydicom.data import get_testdata_file

    from clinic.imaging import dicom_import

    settings.MEDIA_ROOT, settings.DICOM_MAX_PIXELS = tmp_path, 1000  # CT_small is 128 x 128
    patient = m.Patient.objects.create(fhir_id="p-1")
    result = dicom_import(paths=[get_testdata_file("CT_small.dcm")], patient=patient)
    assert result.run.units_failed == 1 and "DICOM_MAX_PIXELS" in result.run.errors[0]["message"]
    assert not m.ImagingInstance.objects.exists()


def test_it_neutralises_spreadsheet_formulas_in_csv():
    assert [csv_cell(v) for v in ("=HYPERLINK(1)", "+cmd|x", "@sum", "-2.5", "+1", "plain", None)] == [
        "'=HYPERLINK(1)", "'+cmd|x", "'@sum", "-2.5", "+1", "plain", "",
    ]  # fmt: skip
    assert csv_text(["name"], [["=cmd|' /C calc'!A0"]]) == "name\r\n'=cmd|' /C calc'!A0\r\n"


@pytest.mark.django_db(transaction=True)
def test_the_production_server_logs_no_query_strings(tmp_path):
    """The Procfile's gunicorn logs the path without its query string: no searched names or terms in the log."""
    user_with_roles("dr_log", "clinician", password="pw-log-123456")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web = next(line.split(":", 1)[1].strip() for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    log = tmp_path / "access.log"
    env = os.environ | {"PORT": str(port), "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "carebase.settings_dev"}
    with log.open("w") as out:
        server = subprocess.Popen(["bash", "-c", "exec " + web], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/accounts/login/?next=/search/%3Fq%3DLovelace"

        def answers() -> bool:
            try:
                return urllib.request.urlopen(url, timeout=2).status == 200
            except OSError:
                return False

        wait_until(answers, seconds=60, what="the Procfile's web process to answer")
        wait_until(lambda: "/accounts/login/" in log.read_text(), seconds=10, what="the access log line")
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert '"GET /accounts/login/"' in text and "Lovelace" not in text and "next=" not in text
