"""Clinicians at once against the Procfile's production server (gunicorn + the worker, DEBUG off) on loopback: locust
with 10, 50 and 100 users (0.5-2 s think time, LOAD_SECONDS each, default 45), p50/p95 per page kind and requests/s,
so the curve is visible. The cohort: the shared synthea-notes bundles when present, else 25 synthesized patients;
chunk vectors are random unit vectors written by SQL (the cost of a search does not depend on what they encode, and
embedding thousands of notes would take minutes). The users sign in as clinicians on every patient's care team, so
the access checks and audit rows of every request are in the measured path."""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _setup import ROOT, SHARED, django_on_fresh_database

USERS = [int(u) for u in os.environ.get("LOAD_USERS", "10,50,100").split(",")]
SECONDS = int(os.environ.get("LOAD_SECONDS", "45"))
PASSWORD = "bench-load-pw-1"

LOCUSTFILE = r"""
import os, random, re
from locust import HttpUser, task, between

IDS = [int(x) for x in os.environ["BENCH_PATIENTS"].split(",")]
USERS = iter(range(10**6))

class Clinician(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self):
        r = self.client.get("/accounts/login/", name="login")
        tok = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', r.text).group(1)
        name = f"doc{next(USERS) % int(os.environ['BENCH_CLINICIANS'])}"
        self.client.post("/accounts/login/", name="login", data={"username": name, "password": os.environ["BENCH_PASSWORD"],
                         "csrfmiddlewaretoken": tok}, headers={"Referer": self.host + "/accounts/login/"})
        self.api = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"]}

    @task(3)
    def chart(self):
        p = random.choice(IDS)
        self.client.get(f"/patients/{p}/", name="chart page")
        self.client.get(f"/api/v1/patients/{p}/timeline?limit=50", headers=self.api, name="api timeline")

    @task(2)
    def chart_search(self):
        q = random.choice(["chest pain", "metformin", "hypertension", "shortness of breath", "asthma", "fracture"])
        self.client.get(f"/api/v1/search?q={q}&corpus=notes&patient={random.choice(IDS)}", headers=self.api,
                        name="api chart search")

    @task(1)
    def population(self):
        q = random.choice(["diabetes", "pneumonia", "chest pain", "depression", "anemia"])
        self.client.get(f"/api/v1/search?q={q}&corpus=notes", headers=self.api, name="api population search")

    @task(1)
    def patient_list(self):
        self.client.get("/", name="patient list page")
"""


def main() -> int:
    data_dir = django_on_fresh_database("load")
    patients, clinicians, token = _cohort()
    port = _free_port()
    env = dict(os.environ, DATA_DIR=str(data_dir), PORT=str(port), DEBUG="false", ALLOWED_HOSTS="127.0.0.1,localhost",
               SECRET_KEY=secrets.token_hex(24), DEID_SECRET=secrets.token_hex(24),
               DJANGO_SETTINGS_MODULE="carebase.settings")  # fmt: skip
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    procs = [_procfile(line, env) for line in ("web", "worker")]
    try:
        _wait_for(f"http://127.0.0.1:{port}/accounts/login/")
        print(f"{len(patients)} patients, {clinicians} clinicians on every care team; gunicorn as in the Procfile")
        for users in USERS:
            _run_locust(port, users, patients, clinicians, token)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
    return 0


def _cohort() -> tuple[list[int], int, str]:
    """The patients (imported and chunked, vectors random), clinicians doc0… on every care team, a superuser token."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from clinic.models import CareTeamMember, Patient
    from clinic.services import api_token_create, fhir_import_files
    from search.services import index_missing
    from tests.access import user_with_roles

    bundles = SHARED / "fhir" / "synthea-notes"
    if bundles.is_dir():
        fhir_import_files(paths=sorted(bundles.glob("*.json")))
    else:
        out = Path(tempfile.mkdtemp(prefix="carebase-bench-cohort-"))
        call_command("synthesize", patients=25, seed=42, out=str(out), vcf=False)
        fhir_import_files(paths=[out])
        shutil.rmtree(out)
    chunks = index_missing()
    with connection.cursor() as cursor:  # random unit vectors for every chunk, as the embedding job would store
        cursor.execute(
            "INSERT INTO search_chunkembedding (chunk_id, patient_id, model, dimension, embedding, created_at) "
            "SELECT c.id, c.patient_id, %s, 384, l2_normalize(ARRAY(SELECT random() - 0.5 FROM generate_series(1, 384) "
            "WHERE c.id > 0)::vector), now() FROM search_chunk c",
            [_serving_model()],
        )
        cursor.execute("ANALYZE")
    ids = list(Patient.objects.values_list("pk", flat=True))
    clinicians = 20
    for n in range(clinicians):
        doc = user_with_roles(f"doc{n}", "clinician", password=PASSWORD)
        CareTeamMember.objects.bulk_create(CareTeamMember(user=doc, patient_id=pk) for pk in ids)
    root = get_user_model().objects.create_user("bench-integration", is_superuser=True)
    print(f"cohort: {len(ids)} patients, {len(chunks):,} chunks")
    return ids, clinicians, api_token_create(user=root)


def _serving_model() -> str:
    from search.selectors import serving_model

    return serving_model()[0]


def _procfile(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    command = next(line.split(":", 1)[1].strip() for line in lines if line.startswith(f"{name}:"))
    return subprocess.Popen(["bash", "-c", "exec " + command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the Procfile's web process did not answer at {url}")


def _run_locust(port: int, users: int, patients: list[int], clinicians: int, token: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="carebase-bench-locust-"))
    (work / "locustfile.py").write_text(LOCUSTFILE)
    env = dict(os.environ, BENCH_PATIENTS=",".join(map(str, patients)), BENCH_CLINICIANS=str(clinicians),
               BENCH_PASSWORD=PASSWORD, BENCH_TOKEN=token)  # fmt: skip
    locust = Path(sys.executable).parent / "locust"
    done = subprocess.run(
        [str(locust), "-f", str(work / "locustfile.py"), "--headless", "-u", str(users), "-r", str(max(1, users // 5)),
         "-t", f"{SECONDS}s", "--host", f"http://127.0.0.1:{port}", "--only-summary", "--csv", str(work / "load")],
        env=env, capture_output=True, timeout=SECONDS + 120, check=False,
    )  # fmt: skip
    rows = list(csv.DictReader((work / "load_stats.csv").open()))
    if os.environ.get("LOAD_DEBUG"):
        print(done.stdout[-3000:], done.stderr[-3000:])
    shutil.rmtree(work)
    total = next(r for r in rows if r["Name"] == "Aggregated")
    kinds = [r for r in rows if r["Name"] not in ("Aggregated", "login")]
    figures = ", ".join(f"{r['Name']} {r['50%']}/{r['95%']}" for r in kinds)
    print(
        f"{users} users, {SECONDS} s: {float(total['Requests/s']):.1f} requests/s, {total['Failure Count']} failures; "
        f"p50/p95 ms: {figures}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
