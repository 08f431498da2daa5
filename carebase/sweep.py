"""What each worker does every few seconds besides jobs: says it is alive, sends the jobs kept in the outbox while
the broker was away, and fails drafts whose worker died mid-way (their retry button then shows)."""

from __future__ import annotations

import logging
import threading

from django.db import connection

logger = logging.getLogger("carebase.sweep")


def sweep(*, hostname: str) -> None:
    """One round; each part on its own, so a broker or database that is away stops only what needs it."""
    from agents.services import drafts_abandoned_fail, exchanges_abandoned_fail
    from carebase.jobs import broker_ping, outbox_flush, worker_heartbeat

    for name, part in (
        ("heartbeat", lambda: worker_heartbeat(hostname)),
        ("outbox", lambda: broker_ping() and outbox_flush()),
        ("abandoned drafts", drafts_abandoned_fail),
        ("abandoned answers", exchanges_abandoned_fail),
    ):
        try:
            part()
        except Exception as e:  # the next round tries again; a sweep must never stop the worker
            logger.warning("sweep %s: %s: %s", name, type(e).__name__, e)


class Sweeper:
    def __init__(self, *, hostname: str, every: float) -> None:
        self.hostname, self.every = hostname, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="carebase-sweep", daemon=True)

    def start(self) -> Sweeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            sweep(hostname=self.hostname)
            connection.close()  # this thread's connection: none is held between rounds
            self._stop.wait(self.every)
