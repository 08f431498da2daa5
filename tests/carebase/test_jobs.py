"""Jobs go to the Celery worker through Redis; with no broker answering they run in-process and say so."""

from __future__ import annotations

import logging
import threading

import pytest
from celery import shared_task
from django.db import transaction

from carebase import jobs

ran: list[tuple[str, int]] = []
done = threading.Event()


@shared_task(name="tests.record_job")
def record_job(value: int) -> None:
    ran.append((threading.current_thread().name, value))
    done.set()


@pytest.fixture(autouse=True)
def fresh_state():
    ran.clear()
    done.clear()
    jobs._broker_checked = (0.0, False)
    yield
    jobs._broker_checked = (0.0, False)


@pytest.mark.django_db(transaction=True)
def test_it_runs_the_job_in_process_when_no_broker_answers(settings, caplog):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    with caplog.at_level(logging.WARNING, logger="carebase.jobs"), transaction.atomic():
        jobs.enqueue(record_job, 7)
        assert ran == []  # not before the transaction commits
    assert ran == [(threading.current_thread().name, 7)]
    assert "No broker at redis://127.0.0.1:1/0: running tests.record_job in this process" in caplog.text


def test_it_sends_the_job_to_a_real_worker_through_redis(celery_worker_real):
    jobs.enqueue(record_job, 8)
    assert done.wait(30), "the worker did not run the job"
    assert ran[0][1] == 8 and ran[0][0] != threading.current_thread().name
