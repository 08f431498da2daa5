"""Jobs: Celery tasks enqueued after commit (in-process when no broker answers), and what the broker holds.

A fresh laptop without Redis still runs every job (slower, in the web or command process) and says so in
the log; with Redis, jobs go to the worker. Where jobs must never run in a web process (JOBS_INLINE_WITHOUT_BROKER
off: several machines), a job that finds no broker waits in the outbox table until one answers. The steward's index
status reads the queues' lengths and the jobs workers have taken from Redis here, the one place that knows kombu's
keys.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import kombu.exceptions
import redis
from django.conf import settings
from django.db import transaction

logger = logging.getLogger("carebase.jobs")
_broker_checked: tuple[float, bool] = (0.0, False)
BROKER_UP_SECONDS, BROKER_DOWN_SECONDS = 30, 5  # how long a PING's answer is trusted; a broker back is seen soon
SEND_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, OSError)


def broker_available() -> bool:
    """Whether Redis answers a PING; remembered a while so enqueueing stays cheap."""
    global _broker_checked
    checked_at, ok = _broker_checked
    if time.monotonic() - checked_at < (BROKER_UP_SECONDS if ok else BROKER_DOWN_SECONDS):
        return ok
    ok = broker_ping()
    _broker_checked = (time.monotonic(), ok)
    return ok


def broker_ping() -> bool:
    try:
        return bool(_broker()[0].ping())
    except (redis.RedisError, OSError):
        return False


def enqueue(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send `task` when the surrounding transaction commits (at once outside one). Never raises: a job that cannot
    be sent is kept in the outbox (carebase.models.PendingJob) and sent when the broker answers again."""
    transaction.on_commit(lambda: _send(task, args, kwargs))


def _send(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    global _broker_checked
    if settings.JOBS_EAGER:
        task.apply(args=args, kwargs=kwargs)
        return
    why = "no broker answers"
    if broker_available():
        try:
            task.apply_async(args=args, kwargs=kwargs)
        except SEND_ERRORS as e:
            _broker_checked = (time.monotonic(), False)
            why = f"{type(e).__name__}: {e}"
        else:
            if _outbox_waiting():
                outbox_flush()
            return
    if settings.JOBS_INLINE_WITHOUT_BROKER:
        logger.warning("No broker at %s: running %s in this process (%s)", _broker_name(), task.name, why)
        task.apply(args=args, kwargs=kwargs)
    else:
        _keep(task.name, args, kwargs, why)


def _keep(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], why: str) -> None:
    from carebase.models import PendingJob

    PendingJob.objects.create(task=name, args=list(args), kwargs=kwargs, last_error=why[:500])
    logger.warning("Broker %s unavailable (%s): %s kept in the outbox until it answers", _broker_name(), why, name)


def _outbox_waiting() -> bool:
    from carebase.models import PendingJob

    return PendingJob.objects.exists()


def outbox_flush(*, limit: int = 500) -> int:
    """Send the jobs kept while the broker was away, oldest first; those still unsendable stay. Returns the number
    sent. Several processes may flush at once: each takes rows the others have not locked."""
    from carebase.celery import app
    from carebase.models import PendingJob

    sent = 0
    with transaction.atomic():
        for job in PendingJob.objects.select_for_update(skip_locked=True).order_by("id")[:limit]:
            try:
                app.send_task(job.task, args=job.args, kwargs=job.kwargs)
            except SEND_ERRORS as e:
                PendingJob.objects.filter(pk=job.pk).update(attempts=job.attempts + 1, last_error=str(e)[:500])
                break
            job.delete()  # sent and then deleted: a commit lost here sends it twice, which idempotent tasks allow
            sent += 1
    if sent:
        logger.info("Sent %s jobs kept while the broker was away", sent)
    return sent


def _broker_name() -> str:
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(settings.CELERY_BROKER_URL))


def worker_heartbeat(hostname: str) -> None:
    """A worker says it is alive (every few seconds, carebase.celery): read by /readyz and the index status."""
    client, prefix = _broker()
    client.zadd(f"{prefix}workers", {hostname: time.time()})


def workers_alive(*, within: float) -> int | None:
    """Workers of this database whose heartbeat is at most `within` seconds old; None when Redis does not answer."""
    client, prefix = _broker()
    try:
        client.zremrangebyscore(f"{prefix}workers", 0, time.time() - 24 * 3600)  # workers long gone
        return int(client.zcount(f"{prefix}workers", time.time() - within, "+inf"))
    except (redis.RedisError, OSError):
        return None


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
