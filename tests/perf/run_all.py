"""`make bench`: run every tests/perf/bench_*.py script, each in its own process and database, and print its figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    """The CPU the figures come from: they move with it (a 2-core AVX2 EPYC ran the searches 2-3x slower than a 2-core
    AVX-512 Xeon), so each run says which it had."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    model = fields.get("model name\t", "unknown CPU").strip()
    flags = set(fields.get("flags\t\t", "").split())
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {'/'.join(simd) or 'no AVX2'}"


def main() -> int:
    print(f"machine: {machine()}", flush=True)
    failed = []
    scripts = sorted(HERE.glob("bench_*.py"))
    only = sys.argv[1:]
    for script in scripts:
        if only and not any(name in script.stem for name in only):
            continue
        print(f"\n=== {script.stem} ===", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=HERE).returncode:
            failed.append(script.stem)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
