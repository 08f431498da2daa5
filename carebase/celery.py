"""Celery application, configured from Django settings (CELERY_* names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carebase.settings")

app = Celery("carebase")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _start_sweeping(sender: Any = None, **kwargs: Any) -> None:
    """Every WORKER_SWEEP_SECONDS while the worker runs: its heartbeat, the outbox, abandoned drafts
    (carebase.sweep). A thread of the main process: pool processes come and go, the sweep stays."""
    from django.conf import settings

    from carebase.sweep import Sweeper

    if settings.WORKER_SWEEP_SECONDS > 0:
        hostname = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
        _sweepers.append(Sweeper(hostname=hostname, every=settings.WORKER_SWEEP_SECONDS).start())


@worker_shutdown.connect
def _stop_sweeping(**kwargs: Any) -> None:
    while _sweepers:
        _sweepers.pop().stop()


_sweepers: list[Any] = []
