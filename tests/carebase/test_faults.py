"""Faults survived for real: PostgreSQL stopped under a running server, an import and an embedding batch; Redis
stopped under enqueueing; a worker killed mid-draft; a disk that fills. Each is bounded to seconds.

The database that goes away is a server of the test's own (tests/postgres_instance.py), migrated once for this
module: the suite's database is never stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from carebase.settings import queue_prefix
from tests.clinic.fhir_factory import bundle, dumps
from tests.postgres_instance import ROOT, PostgresInstance, free_port
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresInstance]:
    instance = PostgresInstance(tmp_path_factory.mktemp("faults") / "pgdata")
    instance.start()
    try:
        instance.manage("migrate", "--no-input")
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def database(pg: PostgresInstance) -> PostgresInstance:
    """The test's own server, running (a failed test may have left it stopped)."""
    if not (pg.pgdata / "postmaster.pid").exists():
        pg.start()
    return pg


def sql(instance: PostgresInstance, query: str) -> list[tuple]:
    with psycopg.connect(instance.url, connect_timeout=3, autocommit=True) as conn:
        return conn.execute(query).fetchall()


class Processes:
    """Servers and workers a test starts in their own process groups, all stopped at the end, logs kept."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, procfile_kind: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith(f"{procfile_kind}:"))
        log = self.log_dir / f"{procfile_kind}-{len(self.running)}.log"
        process = subprocess.Popen(
            ["bash", "-c", "exec " + line.split(":", 1)[1].strip()],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.running.append((process, log))
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.running if p is process).read_text(errors="replace")

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(30)

    def stop_all(self) -> None:
        for process, _ in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@pytest.fixture
def queues_cleared(database: PostgresInstance) -> Iterator[str]:
    """The Redis key prefix of the own server's job queues, emptied after the test."""
    prefix = queue_prefix(database.url)
    yield prefix
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)


SEED_USER = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from clinic.services import api_token_create, user_save
user = user_save(username="dr_faults", roles=["clinician"], password="pw-faults-clinician-1")
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: user.get_session_auth_hash()})
session.create()
print(api_token_create(user=user, name="faults"), session.session_key)
"""


def test_it_answers_503_while_the_database_is_away_and_recovers_by_itself(database, processes):
    token, session_key = database.python(SEED_USER).split()
    port = free_port()
    web = processes.start("web", database.env(PORT=str(port)))
    base = f"http://127.0.0.1:{port}"
    page = httpx.Client(base_url=base, cookies={"sessionid": session_key}, timeout=10)
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def answers() -> bool:
        try:
            return page.get("/").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(answers, seconds=60, what=f"the web server to answer (log: {processes.log(web)[-500:]})")
    assert api.get("/api/v1/patients").status_code == 200

    database.stop()
    html, body = page.get("/"), api.get("/api/v1/patients")
    fhir = api.get("/api/v1/fhir/Patient")
    assert html.status_code == 503 and "database is not answering" in html.text and "<html" in html.text
    assert body.status_code == 503 and "database is not answering" in body.json()["detail"]
    assert fhir.status_code == 503 and fhir.json()["resourceType"] == "OperationOutcome"
    assert {html.headers["Retry-After"], body.headers["Retry-After"]} == {"5"}
    assert page.get("/healthz").status_code == 200  # the process is up: no restart wanted from the balancer

    database.start()
    wait_until(lambda: page.get("/").status_code == 200, seconds=15, what="the pages to recover")
    assert api.get("/api/v1/patients").status_code == 200
    assert " 500 " not in processes.log(web)  # not one request answered 500 throughout


def _bundles(folder: Path, count: int, observations: int) -> None:
    folder.mkdir()
    for n in range(count):
        (folder / f"patient-{n:03}.json").write_bytes(dumps(bundle(f"fault-{n:03}", observations=observations)))


def _half_written_bundles(instance: PostgresInstance) -> list[tuple]:
    """Patients of this test whose bundle is not all there (each bundle: 1 patient, `observations` observations)."""
    return sql(
        instance,
        "SELECT p.fhir_id, count(o.id) FROM clinic_patient p LEFT JOIN clinic_observation o ON o.patient_id = p.id "
        "WHERE p.fhir_id LIKE 'fault-%' GROUP BY p.fhir_id HAVING count(o.id) <> 8",
    )


def test_an_import_cut_by_a_database_restart_fails_cleanly_and_a_rerun_completes_it(database, tmp_path):
    folder = tmp_path / "bundles"
    _bundles(folder, count=400, observations=8)
    importing = subprocess.Popen(
        [sys.executable, "manage.py", "import_fhir", "--no-progress", str(folder)],
        cwd=ROOT, env=database.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        count = "SELECT count(*) FROM clinic_patient WHERE fhir_id LIKE 'fault-%'"
        wait_until(lambda: sql(database, count)[0][0] >= 5, seconds=60, what="the import to store its first files")
        database.stop()  # fast shutdown: the import's open transaction is cut off
        out, err = importing.communicate(timeout=30)
    finally:
        if importing.poll() is None:
            importing.kill()
    database.start()

    assert importing.returncode != 0
    assert "the database stopped answering" in err and "Run the same command again" in err and "Traceback" not in err
    stored = sql(database, count)[0][0]
    assert 5 <= stored < 400 and _half_written_bundles(database) == []  # whole bundles or nothing

    again = database.manage("import_fhir", "--no-progress", str(folder), timeout=120)
    assert "400 imported, 0 rejected" in again.stdout
    assert sql(database, count)[0][0] == 400 and _half_written_bundles(database) == []


EMBED_SEED = """
from tests.search import factories
chart = factories.patient()
for n in range(12):
    factories.note(chart, f"Assessment {n}: type 2 diabetes with neuropathy, HbA1c 8.{n}% on metformin. " * 8)
"""
PENDING_CHUNKS = (
    "SELECT count(*) FROM search_chunk c WHERE NOT EXISTS (SELECT 1 FROM search_chunkembedding e WHERE e.chunk_id = c.id)"
)


def test_an_embedding_batch_that_meets_a_stopped_database_is_retried_and_completes(database, processes, queues_cleared):
    database.python(EMBED_SEED)
    assert "queued for embedding" in database.manage("reindex", "--no-wait").stdout
    assert sql(database, PENDING_CHUNKS)[0][0] > 0

    database.stop()
    worker = processes.start("worker", database.env())
    wait_until(lambda: "Retry in" in processes.log(worker), seconds=90, what="a batch to meet the stopped database and retry")
    assert "OperationalError" in processes.log(worker)
    database.start()
    wait_until(lambda: sql(database, PENDING_CHUNKS)[0][0] == 0, seconds=90, what="every chunk embedded after the restart")
    assert (
        sql(database, "SELECT count(*) FROM search_chunkembedding")[0][0]
        == sql(database, "SELECT count(*) FROM search_chunk")[0][0]
    )
