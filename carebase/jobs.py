"""Enqueue Celery tasks after commit; run them in-process when no broker answers.

A fresh laptop without Redis still runs every job (slower, in the web or command process) and says so in
the log; with Redis, jobs go to the worker.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger("carebase.jobs")
_broker_checked: tuple[float, bool] = (0.0, False)


def broker_available() -> bool:
    """Whether Redis answers a PING; remembered for 30 s so enqueueing stays cheap."""
    global _broker_checked
    checked_at, ok = _broker_checked
    if time.monotonic() - checked_at < 30:
        return ok
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5).ping()
        ok = True
    except (redis.RedisError, OSError):
        ok = False
    _broker_checked = (time.monotonic(), ok)
    return ok


def enqueue(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send `task` when the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send(task, args, kwargs))


def _send(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if settings.JOBS_EAGER or not broker_available():
        if not settings.JOBS_EAGER:
            logger.warning("No broker at %s: running %s in this process", settings.CELERY_BROKER_URL, task.name)
        task.apply(args=args, kwargs=kwargs)
        return
    task.apply_async(args=args, kwargs=kwargs)
