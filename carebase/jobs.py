"""Jobs: Celery tasks enqueued after commit (in-process when no broker answers), and what the broker holds.

A fresh laptop without Redis still runs every job (slower, in the web or command process) and says so in
the log; with Redis, jobs go to the worker. The steward's index status reads the queues' lengths and the jobs
workers have taken from Redis here, the one place that knows kombu's keys.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
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
    try:
        _broker()[0].ping()
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


QUEUES = ("embed", "default")
PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport keeps priorities 3, 6, 9 in lists "<queue>\x06\x16<n>"


def _broker() -> tuple[redis.Redis, str]:
    """A Redis client for the broker, and the key prefix of this database's queues."""
    from carebase.celery import app

    prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "")
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=1), prefix


def queue_lengths(queues: tuple[str, ...] = QUEUES) -> dict[str, int] | None:
    """Messages waiting in each Celery queue in Redis, or None when Redis does not answer."""
    client, prefix = _broker()
    keys = [[f"{prefix}{q}"] + [f"{prefix}{q}{PRIORITY_SEPARATOR}{p}" for p in (3, 6, 9)] for q in queues]
    try:
        with client.pipeline() as pipe:
            for key in (k for group in keys for k in group):
                pipe.llen(key)
            sizes = iter(pipe.execute())
    except (redis.RedisError, OSError):
        return None
    return {q: sum(next(sizes) for _ in group) for q, group in zip(queues, keys, strict=True)}


def jobs_taken(*, prefix: str | None = None) -> int | None:
    """Jobs of any queue that a worker has taken and not finished (kombu keeps each in "unacked" until the worker
    acknowledges it, late, when done); those of a worker that died go back to their queue after
    JOB_VISIBILITY_TIMEOUT. `prefix`: another database's queues than this process's. None when Redis does not answer."""
    client, own_prefix = _broker()
    prefix = own_prefix if prefix is None else prefix
    try:
        return int(client.hlen(f"{prefix}unacked"))
    except (redis.RedisError, OSError):
        return None
