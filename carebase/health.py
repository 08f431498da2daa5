"""/healthz and /readyz for load balancers and orchestrators; the same figures on the steward's index status page.

Answered first in the middleware stack: no session, sign-in, host check or audit (no patient data is read), and
/healthz never touches the database, so a restarting database never gets a healthy web process restarted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypedDict

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

WORKER_FRESH_SECONDS = 60  # a worker whose heartbeat is older counts as gone (it writes one every 10 s)


class Check(TypedDict, total=False):
    status: str  # "ok", "down" or "warn"
    ms: float
    detail: str
    workers: int
    pending_chunks: int
    queued: dict[str, int]
    outbox: int


def _timed(check: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    result = check()
    return {**result, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"status": "ok"}
    except DatabaseError as e:  # the message names no host or password, only the kind of failure
        return {"status": "down", "detail": f"not answering ({type(e).__name__})"}


def _redis() -> Check:
    from carebase.jobs import broker_ping, queue_lengths

    waiting = _outbox()
    if not broker_ping():
        detail = "the broker does not answer: jobs wait in the outbox or run in-process"
        return {"status": "down", "detail": detail, "outbox": waiting}
    return {"status": "ok" if waiting == 0 else "warn", "queued": queue_lengths() or {}, "outbox": waiting}


def _outbox() -> int:
    """Jobs kept while the broker was away, not yet sent (-1: unknown, the database is away too)."""
    from carebase.models import PendingJob

    try:
        return PendingJob.objects.count()
    except DatabaseError:
        return -1


def _workers() -> Check:
    from carebase.jobs import workers_alive

    alive = workers_alive(within=WORKER_FRESH_SECONDS)
    if alive is None:
        return {"status": "down", "detail": "unknown: the broker does not answer", "workers": 0}
    if not alive:
        return {"status": "warn", "detail": "no worker heartbeat: jobs queue until a worker starts", "workers": 0}
    return {"status": "ok", "workers": alive}


_lag_counted: tuple[float, int] = (0.0, 0)
LAG_FRESH_SECONDS = 15  # counting a million chunks takes a moment: probes every few seconds reuse the count


def _index_lag(*, fresh: bool) -> Check:
    global _lag_counted
    from search.selectors import index_status

    counted_at, pending = _lag_counted
    if fresh or time.monotonic() - counted_at > LAG_FRESH_SECONDS:
        try:
            pending = index_status().pending
        except DatabaseError as e:
            return {"status": "down", "detail": f"unknown ({type(e).__name__})"}
        _lag_counted = (time.monotonic(), pending)
    return {"status": "ok" if pending == 0 else "warn", "pending_chunks": pending}


def readiness(*, fresh: bool = False) -> dict[str, Any]:
    """Each check's status and figures; ready when the database answers (pages need nothing else: without Redis
    jobs wait in the outbox, without workers they wait in the queue, and both show here). `fresh`: count the index
    lag now (the steward's page) rather than reuse a count of the last seconds (probes)."""
    checks: dict[str, Check] = {"database": _timed(_database)}
    checks["redis"] = _timed(_redis)
    checks["workers"] = _timed(_workers)
    if checks["database"]["status"] == "ok":
        checks["index_lag"] = _timed(lambda: _index_lag(fresh=fresh))
    ready = checks["database"]["status"] == "ok"
    return {"status": "ready" if ready else "unavailable", "checks": checks}


class HealthCheckMiddleware:
    """First in MIDDLEWARE: /healthz (the process answers) and /readyz (it can serve: 200, else 503)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return _no_store(JsonResponse({"status": "ok"}))
        if request.path == "/readyz":
            body = readiness()
            return _no_store(JsonResponse(body, status=200 if body["status"] == "ready" else 503))
        return self.get_response(request)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response
