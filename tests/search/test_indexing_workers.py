"""Indexing on real Celery workers (the Procfile's command, in its own processes) that die in the middle of a batch:
nothing is lost and nothing is embedded twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count

from carebase.jobs import jobs_taken
from carebase.settings import queue_prefix
from search.models import Chunk, ChunkEmbedding
from tests.procfile import Processes
from tests.search import factories
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
NOTES = 160  # two chunks each, 64 chunks a task: five tasks, a few seconds of work on two cores
SECTION = (
    "Assessment: {n}. Type 2 diabetes mellitus with peripheral neuropathy, HbA1c 8.{n}% on metformin 1000 mg twice daily; "
    "hypertension controlled on lisinopril; chronic kidney disease stage 3a with stable creatinine. "
)

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    db = connection.settings_dict
    if str(db["HOST"]).startswith("/"):  # the embedded server's socket directory
        return f"postgresql://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={db['HOST']}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


class Deployment:
    """`manage.py` commands and Procfile workers against this test's database, with queues of their own."""

    def __init__(self, log_dir: Path) -> None:
        self.url = _database_url()
        self.prefix = queue_prefix(self.url)
        self.env = {**os.environ, "DATABASE_URL": self.url, "HF_HUB_OFFLINE": "1"}
        self.processes = Processes(log_dir)
        self.redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def start_worker(self, **settings: str) -> subprocess.Popen[bytes]:
        return self.processes.start("worker", {**self.env, **settings})

    def log(self, worker: subprocess.Popen[bytes]) -> str:
        return self.processes.log(worker)

    def batches_running(self, worker: subprocess.Popen[bytes]) -> int:
        """Embedding jobs the worker has received and not finished, by its log (each runs in a pool process at once:
        prefetch 1 takes no more jobs than there are processes)."""
        log = self.log(worker)
        received = set(re.findall(r"Task search\.tasks\.embed_chunks\[([\w-]+)\] received", log))
        return len(received - set(re.findall(r"Task search\.tasks\.embed_chunks\[([\w-]+)\] (?:succeeded|raised)", log)))

    def taken_not_acknowledged(self) -> int | None:
        return jobs_taken(prefix=self.prefix)

    def stop(self) -> None:
        self.processes.stop_all(grace=30)
        keys = list(self.redis.scan_iter(f"{self.prefix}*"))
        if keys:
            self.redis.delete(*keys)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    running = Deployment(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def notes_queued(deployment: Deployment) -> int:
    """Notes chunked and queued for embedding by `reindex --no-wait`, as after an import. Returns the chunk count."""
    chart = factories.patient()
    for n in range(NOTES):
        factories.note(chart, SECTION.format(n=n) * 6)
    assert "queued for embedding" in deployment.manage("reindex", "--no-wait")
    return Chunk.objects.count()


def _assert_every_chunk_has_one_vector(total: int) -> None:
    assert ChunkEmbedding.objects.count() == total
    assert not ChunkEmbedding.objects.values("chunk_id", "model").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not Chunk.objects.filter(embeddings__isnull=True).exists()


def test_it_embeds_a_batch_again_when_the_pool_process_running_it_is_killed(deployment, notes_queued):
    assert notes_queued > 3 * 64
    worker = deployment.start_worker()
    wait_until(lambda: ChunkEmbedding.objects.exists(), seconds=180, what="the first batch")
    pool = psutil.Process(worker.pid).children()
    wait_until(lambda: deployment.batches_running(worker) == len(pool), seconds=60, what="a batch in every pool process")
    for child in pool:  # each in the middle of a batch, not between two
        child.kill()

    wait_until(lambda: ChunkEmbedding.objects.count() == notes_queued, seconds=180, what="every chunk's vector")
    _assert_every_chunk_has_one_vector(notes_queued)
    assert "WorkerLostError" in deployment.log(worker)  # a batch was running when its process died
    wait_until(lambda: deployment.taken_not_acknowledged() == 0, seconds=30, what="no job left taken")


def test_a_batch_taken_by_a_worker_killed_whole_goes_to_the_next_worker(deployment, notes_queued):
    first = deployment.start_worker()
    wait_until(lambda: ChunkEmbedding.objects.exists(), seconds=180, what="the first batch")
    wait_until(lambda: deployment.batches_running(first) >= 1, seconds=60, what="a batch in the middle")
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool processes, with no chance to hand anything back
    first.wait(10)
    done_by_first = ChunkEmbedding.objects.count()
    assert done_by_first < notes_queued
    assert deployment.taken_not_acknowledged() > 0  # batches it had taken when it died

    # A worker looks for jobs taken longer ago than its JOB_VISIBILITY_TIMEOUT (an hour by default; the first worker's
    # own jobs must not come back while it is still loading the model) and takes them on.
    deployment.start_worker(JOB_VISIBILITY_TIMEOUT="3")
    wait_until(lambda: ChunkEmbedding.objects.count() == notes_queued, seconds=180, what="every chunk's vector")
    _assert_every_chunk_has_one_vector(notes_queued)
    wait_until(lambda: deployment.taken_not_acknowledged() == 0, seconds=30, what="no job left taken")
