"""The embedded PostgreSQL starts on demand and stops with its last user, even after a user died uncleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


def run_django(data_dir: Path, code: str) -> None:
    env = {**os.environ, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "carebase.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], env=env, cwd=ROOT, check=True, timeout=120)


def server_running(data_dir: Path) -> bool:
    pidfile = data_dir / "pg" / "postmaster.pid"
    return pidfile.exists() and psutil.pid_exists(int(pidfile.read_text().split()[0]))


def test_it_stops_the_server_when_its_last_user_exits(tmp_path):
    run_django(tmp_path, "from django.db import connection; connection.ensure_connection()")
    assert (tmp_path / "pg" / "PG_VERSION").exists()
    assert not server_running(tmp_path)


def test_it_stops_the_server_even_after_a_user_died_without_cleanup(tmp_path):
    run_django(tmp_path, "import os; os._exit(0)")  # like mypy: no exit handlers run
    assert server_running(tmp_path)
    run_django(tmp_path, "from django.db import connection; connection.ensure_connection()")
    assert not server_running(tmp_path)


def test_it_stops_the_server_when_the_last_user_exits_after_another_died(tmp_path):
    joined = tmp_path / "child-joined"
    child = f"import django, pathlib, time; django.setup(); pathlib.Path({str(joined)!r}).touch(); time.sleep(120)"
    code = f"""import os, pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {child!r}], env=os.environ)
deadline = time.monotonic() + 90
while not pathlib.Path({str(joined)!r}).exists():  # killed only once it has joined the server
    assert time.monotonic() < deadline and child.poll() is None, "the child never joined the server"
    time.sleep(0.05)
child.kill()
child.wait()
"""
    run_django(tmp_path, code)  # the child joined the server, then died by SIGKILL while this process lived on
    assert joined.exists() and not server_running(tmp_path)


def test_its_shared_buffers_follow_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDDED_PG_SHARED_BUFFERS", "192MB")
    code = (
        "from django.db import connection; c = connection.cursor(); c.execute('SHOW shared_buffers'); "
        "open(r'%s', 'w').write(c.fetchone()[0])" % (tmp_path / "shown")
    )
    run_django(tmp_path / "data", code)
    assert (tmp_path / "shown").read_text() == "192MB"
    assert not server_running(tmp_path / "data")
