"""Procfile processes a test starts (gunicorn, Celery workers): each in its own process group with its log kept,
all stopped at the end."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.postgres_instance import ROOT


class Processes:
    """Servers and workers a test starts in their own process groups, all stopped at the end, logs kept."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, procfile_kind: str, env: dict[str, str], *, also: str = "") -> subprocess.Popen[bytes]:
        """The Procfile's command for `procfile_kind`, with `also` appended (later options win)."""
        line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith(f"{procfile_kind}:"))
        log = self.log_dir / f"{procfile_kind}-{len(self.running)}.log"
        process = subprocess.Popen(
            ["bash", "-c", "exec " + line.split(":", 1)[1].strip() + " " + also],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.running.append((process, log))
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        return next(log for p, log in self.running if p is process).read_text(errors="replace")

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(30)

    def stop_all(self, grace: float = 20) -> None:
        """SIGTERM to every group still running, SIGKILL to any not gone within `grace` seconds."""
        for process, _ in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in self.running:
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
