"""Faults survived for real: PostgreSQL stopped under a running server, an import and an embedding batch; Redis
stopped under enqueueing; a worker killed mid-draft; a disk that fills. Each is bounded to seconds.

The database that goes away is a server of the test's own (tests/postgres_instance.py), migrated once for this
module: the suite's database is never stopped.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from carebase.settings import queue_prefix
from tests.clinic.fhir_factory import bundle, dumps
from tests.postgres_instance import ROOT, PostgresInstance, free_port
from tests.procfile import Processes
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


ONE_PROCESS = "--concurrency 1"  # a worker of one pool process: the same code path, less start-up on two cores


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
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from clinic.services import api_token_create, user_save
user = user_save(username="dr_faults", roles=["clinician"], password="pw-faults-clinician-1")
session = SessionStore()
session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[-1],
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

    wait_until(lambda: _answers(page), seconds=60, what=lambda: f"the web server to answer (log: {processes.log(web)[-500:]})")
    assert api.get("/api/v1/patients").status_code == 200

    database.stop()
    html, body = page.get("/"), api.get("/api/v1/patients")
    fhir = api.get("/api/v1/fhir/Patient")
    assert html.status_code == 503 and "database is not answering" in html.text and "<html" in html.text
    assert body.status_code == 503 and "database is not answering" in body.json()["detail"]
    assert fhir.status_code == 503 and fhir.json()["resourceType"] == "OperationOutcome"
    assert {html.headers["Retry-After"], body.headers["Retry-After"]} == {"5"}
    assert page.get("/healthz").status_code == 200  # the process is up: no restart wanted from the balancer
    ready = page.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"]["status"] == "down"
    assert str(database.port) not in ready.text  # says what is down, not where it lives

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
    worker = processes.start("worker", database.env(), also=ONE_PROCESS)
    wait_until(lambda: "Retry in" in processes.log(worker), seconds=90, what="a batch to meet the stopped database and retry")
    assert "OperationalError" in processes.log(worker)
    database.start()
    wait_until(lambda: sql(database, PENDING_CHUNKS)[0][0] == 0, seconds=90, what="every chunk embedded after the restart")
    assert (
        sql(database, "SELECT count(*) FROM search_chunkembedding")[0][0]
        == sql(database, "SELECT count(*) FROM search_chunk")[0][0]
    )


class RedisServer:
    """A Redis of the test's own on a free loopback port, stopped and started again on that port (append-only
    file on: jobs already queued survive the restart, as they do on a production Redis)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"]
        self.process = subprocess.Popen(
            ["redis-server", *args, "--dir", str(self.folder)], stdout=subprocess.DEVNULL, start_new_session=True
        )
        wait_until(self.answers, seconds=10, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if not Path("/usr/bin/redis-server").exists():
        pytest.skip("needs redis-server (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


SEED_INTEGRATION = """
from clinic.services import api_token_create, user_save
print(api_token_create(user=user_save(username="interface-engine", roles=["integration"]), name="faults"))
"""


def _post_bundle(api: httpx.Client, patient_id: str) -> None:
    posted = api.post("/api/v1/fhir", content=dumps(bundle(patient_id)), headers={"Content-Type": "application/fhir+json"})
    assert posted.status_code in (200, 201), posted.text


def test_jobs_wait_in_the_outbox_while_redis_is_away_and_nothing_is_lost(database, processes, own_redis):
    env = database.env(REDIS_URL=own_redis.url, JOBS_INLINE_WITHOUT_BROKER="false", WORKER_SWEEP_SECONDS="1")
    token, session_key = database.python(SEED_USER).split()
    integration = database.python(SEED_INTEGRATION).strip()
    port = free_port()
    web = processes.start("web", {**env, "PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {integration}"}, timeout=15)
    page = httpx.Client(base_url=base, cookies={"sessionid": session_key}, timeout=15)
    wait_until(lambda: _answers(page), seconds=60, what=lambda: f"the web server (log: {processes.log(web)[-500:]})")
    outbox = "SELECT count(*) FROM carebase_pendingjob"

    _post_bundle(api, "outbox-before")  # Redis up: its indexing job goes to the queue
    own_redis.stop()
    _post_bundle(api, "outbox-during")  # Redis away: the import succeeds, its job waits in the outbox
    assert page.get("/").status_code == 200
    ready = page.get("/readyz")  # pages need no Redis: still ready, the broker shown down
    assert ready.status_code == 200 and ready.json()["checks"]["redis"]["status"] == "down"
    assert ready.json()["checks"]["redis"]["outbox"] >= 1
    assert sql(database, outbox)[0][0] >= 1
    own_redis.start()

    worker = processes.start("worker", env)  # its sweep sends the outbox; it takes the queue, old and new
    patients_indexed = (
        "SELECT count(DISTINCT p.fhir_id) FROM search_chunk c JOIN clinic_patient p ON p.id = c.patient_id "
        "WHERE p.fhir_id LIKE 'outbox-%'"
    )
    wait_until(
        lambda: sql(database, patients_indexed)[0][0] == 2,
        seconds=90,
        what=lambda: f"both imports' indexing jobs to run (worker log: {processes.log(worker)[-800:]})",
    )
    assert sql(database, outbox)[0][0] == 0
    checks = page.get("/readyz").json()["checks"]  # the worker's heartbeat, written by its sweep
    assert checks["workers"]["workers"] == 1 and checks["redis"] == {**checks["redis"], "status": "ok", "outbox": 0}
    assert " 500 " not in processes.log(web)


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/").status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def model_server() -> Iterator[str]:
    """The fake OpenAI-compatible server (tests.agents.fake_openai), answering several workers at once."""
    from http.server import ThreadingHTTPServer

    from tests.agents.fake_openai import FakeOpenAI

    FakeOpenAI.reset()
    FakeOpenAI.hold = threading.Event()  # each streamed reply stops halfway until released
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    FakeOpenAI.hold.set()
    server.shutdown()


SEED_DRAFT = """
from agents.services import draft_create
from clinic import models as m
from clinic.access import Actor
from clinic.services import fhir_import_bytes, user_save
from tests.access import on_care_team
from tests.clinic.fhir_factory import bundle, dumps
user = user_save(username="dr_drafts", roles=["clinician"])
fhir_import_bytes(name="chart.json", data=dumps(bundle("draft-chart")))
patient = m.Patient.objects.get(fhir_id="draft-chart")
on_care_team(user, patient)
print(draft_create(actor=Actor(user=user, channel="web"), patient=patient, kind="progress_note").pk)
"""


def test_a_draft_whose_worker_is_killed_mid_way_is_finished_by_the_next_worker(database, processes, queues_cleared, model_server):
    from tests.agents.fake_openai import FakeOpenAI

    llm = {"LLM_BACKEND": "openai", "LLM_BASE_URL": model_server, "LLM_MODEL": "served-model"}
    env = database.env(**llm, DRAFT_LEASE_SECONDS="3", WORKER_SWEEP_SECONDS="0")
    draft_id = int(subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + SEED_DRAFT],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    ).stdout.split()[-1])  # fmt: skip
    status = f"SELECT status FROM agents_draft WHERE id = {draft_id}"

    first = processes.start("worker", env, also=ONE_PROCESS)
    wait_until(
        lambda: FakeOpenAI.requests and sql(database, status)[0][0] == "running",
        seconds=90, what=lambda: f"the first worker to be writing the draft (log: {processes.log(first)[-800:]})",
    )  # fmt: skip
    processes.kill(first)  # the worker and its pool, SIGKILL: no chance to hand the job back
    assert sql(database, status)[0][0] == "running"

    FakeOpenAI.hold.set()  # the model answers in full from now on
    # The next worker takes jobs left taken by a dead worker once JOB_VISIBILITY_TIMEOUT old, and the draft, written
    # to by nobody for DRAFT_LEASE_SECONDS, is claimed again.
    second = processes.start("worker", {**env, "JOB_VISIBILITY_TIMEOUT": "3"}, also=ONE_PROCESS)
    wait_until(
        lambda: sql(database, status)[0][0] in ("ready", "failed"),
        seconds=90, what=lambda: f"the second worker to finish the draft (log: {processes.log(second)[-800:]})",
    )  # fmt: skip
    assert sql(database, status)[0][0] == "ready"
    assert (
        sql(database, f"SELECT count(*) FROM agents_draft WHERE id = {draft_id} AND sections::text LIKE '%citations%'")[0][0] == 1
    )


@pytest.mark.django_db
def test_it_fails_a_draft_its_worker_abandoned_when_the_chart_is_shown_and_retries_it(
    logged_in, clinician, settings, django_capture_on_commit_callbacks
):
    from agents.models import Draft
    from clinic import models as m
    from clinic.audit import Action
    from clinic.models import AuditEvent
    from tests.access import on_care_team

    patient = m.Patient.objects.create(fhir_id="abandoned-1", name="Ada Abandoned")
    on_care_team(clinician, patient)
    settings.DRAFT_LEASE_SECONDS = 60
    draft = Draft.objects.create(patient=patient, kind="progress_note", status=Draft.Status.RUNNING, created_by=clinician)
    Draft.objects.filter(pk=draft.pk).update(updated_at=draft.updated_at - dt.timedelta(seconds=61))

    page = logged_in.get(f"/assistant/drafts/{draft.pk}/", HTTP_HX_REQUEST="true")
    assert b"worker writing this draft stopped" in page.content and b'data-testid="draft-retry"' in page.content
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        retried = logged_in.post(f"/assistant/drafts/{draft.pk}/retry/", HTTP_HX_REQUEST="true")
    assert retried.status_code == 200
    assert Draft.objects.get(pk=draft.pk).status == Draft.Status.READY  # the extractive backend writes at once
    assert AuditEvent.objects.filter(action=Action.DRAFT_CREATE, target=f"draft:{draft.pk}", detail__retry=True).exists()
    again = logged_in.post(f"/assistant/drafts/{draft.pk}/retry/", HTTP_HX_REQUEST="true")
    assert again.status_code == 400 and b"only a failed draft can be retried" in again.content


@pytest.mark.django_db
def test_the_workers_sweep_fails_drafts_and_answers_their_dead_worker_left_running(clinician, settings):
    from agents.models import AssistantExchange, Draft
    from carebase.sweep import sweep
    from clinic import models as m

    patient = m.Patient.objects.create(fhir_id="swept-1", name="Sam Swept")
    settings.DRAFT_LEASE_SECONDS = 60
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61)
    stale = Draft.objects.create(patient=patient, kind="progress_note", status=Draft.Status.RUNNING)
    Draft.objects.filter(pk=stale.pk).update(updated_at=long_ago)
    writing = Draft.objects.create(patient=patient, kind="referral_letter", status=Draft.Status.RUNNING)
    asked = AssistantExchange.objects.create(
        patient=patient, user=clinician, question="HbA1c?", status=AssistantExchange.Status.RUNNING, asked_at=long_ago
    )

    sweep(hostname="sweep-test")

    assert Draft.objects.get(pk=stale.pk).status == Draft.Status.FAILED
    assert Draft.objects.get(pk=writing.pk).status == Draft.Status.RUNNING  # its worker wrote within the lease
    assert AssistantExchange.objects.get(pk=asked.pk).status == AssistantExchange.Status.FAILED


def test_healthz_answers_without_the_database_or_a_session(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_reports_each_check_with_its_figures_and_no_secrets(client, settings):
    from carebase import health

    health._lag_counted = (0.0, 0)  # no count left by an earlier test of this process
    body = client.get("/readyz")
    assert body.status_code == 200, body.content
    checks = body.json()["checks"]
    assert body.json()["status"] == "ready" and set(checks) == {"database", "redis", "workers", "index_lag"}
    assert checks["database"]["status"] == "ok" and checks["database"]["ms"] >= 0
    assert checks["index_lag"]["pending_chunks"] == 0
    assert checks["workers"]["status"] in ("ok", "warn")
    assert settings.SECRET_KEY not in body.content.decode() and "password" not in body.content.decode()


def test_the_index_status_page_shows_the_readiness_figures(db, steward):
    from django.test import Client

    client = Client()
    client.force_login(steward)
    page = client.get("/admin/search/chunk/status/")
    assert page.status_code == 200
    assert b'id="readiness"' in page.content and b"chunks waiting for a vector" in page.content


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 kB tmpfs: a real file system that fills up (needs root, as on the CI machine)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()}); the RLIMIT_FSIZE test covers the write")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.django_db
def test_a_dicom_import_onto_a_full_disk_names_the_fault_leaves_no_half_file_and_a_rerun_completes(settings, tiny_disk):
    from pydicom.data import get_testdata_file

    from clinic import models as m
    from clinic.imaging import dicom_import

    source = Path(get_testdata_file("CT_small.dcm", download=False) or "")
    if not source.is_file():
        pytest.skip("pydicom's CT_small.dcm is not in the installed wheel")
    patient = m.Patient.objects.create(fhir_id="full-disk", name="Disk Full")
    settings.MEDIA_ROOT = tiny_disk
    assert source.stat().st_size > 16 * 1024

    failed = dicom_import(paths=[source], patient=patient).run
    assert failed.units_failed == 1 and "no room to write" in failed.errors[0]["message"]
    assert "No space left on device" in failed.errors[0]["message"]
    assert not any(name.endswith(".dcm") or ".tmp" in name for name in _files(tiny_disk))  # whole files or none
    assert not m.ImagingInstance.objects.exists()

    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)  # space freed
    done = dicom_import(paths=[source], patient=patient).run
    assert done.units_failed == 0 and m.ImagingInstance.objects.count() == 1
    assert [n for n in _files(tiny_disk) if n.endswith(".dcm")] and not [n for n in _files(tiny_disk) if ".tmp" in n]


@pytest.mark.django_db
def test_a_dataset_built_onto_a_full_disk_fails_with_the_reason_leaves_nothing_and_builds_after(settings, tiny_disk):
    from clinic import models as m
    from clinic.curation import dataset_build, dataset_create
    from tests.clinic.test_datasets import make_patient

    subprocess.run(["mount", "-o", "remount,size=4k", str(tiny_disk)], check=True)  # one page: the card fits, no more
    settings.MEDIA_ROOT = tiny_disk
    story = "Seen for cough and fever; chest clear, no wheeze, advised fluids and rest, review in a week. " * 80
    for given, birth in (("Ada", "1960-05-17"), ("Grace", "1962-12-09"), ("Joan", "1961-03-02")):
        make_patient(given=given, family="Tester", gender="female", birth=birth, postal="02139", note=story)
    dataset = dataset_create(name="full-disk", content=["notes"], min_cell=1)

    failed = dataset_build(dataset_id=dataset.pk)
    assert failed is not None and failed.status == m.Dataset.Status.FAILED
    assert "no room to write" in failed.error and "free space and retry" in failed.error
    assert _files(tiny_disk) == []  # not a half dataset, not a temporary file

    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)
    built = dataset_build(dataset_id=dataset.pk)
    assert built is not None and built.status == m.Dataset.Status.READY
    assert (Path(settings.MEDIA_ROOT) / built.file / "data.jsonl").stat().st_size > 4096


WRITE_OVER_THE_LIMIT = """
import resource, sys
from pathlib import Path
from carebase.files import StorageFull, write_atomically
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # Python ignores SIGXFSZ: writes fail with EFBIG
try:
    write_atomically(Path(sys.argv[1]) / "dataset" / "data.jsonl", (b"x" * 8192 for _ in range(32)))
except StorageFull as e:
    print(e)
"""


def test_a_file_over_the_size_limit_is_a_clear_error_and_leaves_nothing(tmp_path):
    """The same fault where no tmpfs can be mounted: the process's file size limit (RLIMIT_FSIZE → EFBIG)."""
    done = subprocess.run(
        [sys.executable, "-c", WRITE_OVER_THE_LIMIT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "no room to write data.jsonl" in done.stdout and "File too large" in done.stdout
    assert _files(tmp_path) == []
