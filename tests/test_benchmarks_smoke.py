"""Every benchmark the README lists runs as written, here with a tiny size (issue 14).

The figures are not checked (a shared machine is noisy; speed is read from the benchmarks' own runs): only
that each command exits 0 and prints what it measures.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "bench_calendar.py": ["--n", "40", "--budget", "0.05", "--inputs", "utc"],
    "bench_replay.py": ["--events", "400"],
    "bench_ingest.py": ["--requests", "260", "--concurrency", "2", "--workers", "2"],  # two start together
    "bench_reports.py": ["--rows", "3000"],
    "bench_worker.py": ["--deliveries", "60"],
    "bench_board.py": ["--clocks", "400", "--repeat", "1"],
}
PRINTS = {"bench_calendar.py": "ops/s", "bench_replay.py": "events/s", "bench_ingest.py": "req/s",
          "bench_reports.py": "rows", "bench_worker.py": "events/s", "bench_board.py": "running clocks"}


def _listed() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"^python benchmarks/(\w+\.py)", readme, flags=re.MULTILINE)


def test_the_readme_lists_every_benchmark():
    assert sorted(_listed()) == sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("name", sorted(TINY))
def test_each_benchmark_runs_as_written(name: str, tmp_path: Path):
    assert name in _listed()
    env = {**os.environ, "BENCH_INGEST_DIR": str(tmp_path)}
    env.pop("CONNECTOR_TEST_POSTGRES_URL", None)  # SQLite only: the PostgreSQL variants are the long runs
    done = subprocess.run([sys.executable, f"benchmarks/{name}", *TINY[name]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert PRINTS[name] in done.stdout, done.stdout[-2000:]
    assert "NOT A MEASUREMENT" not in done.stdout, done.stdout[-2000:]  # a server failed requests


@pytest.mark.skipif(not os.environ.get("CONNECTOR_TEST_POSTGRES_URL"), reason="needs CONNECTOR_TEST_POSTGRES_URL")
def test_the_scale_out_runs_and_checks_exactly_once(tmp_path: Path):
    """`bench_worker.py --scale-out` on PostgreSQL, tiny: 1, 2 and 4 workers, as whole `--once` commands and
    as running workers the deliveries reach at once; each run's effects are checked against one worker's."""
    done = subprocess.run([sys.executable, "benchmarks/bench_worker.py", "--deliveries", "30", "--scale-out",
                           "--api-latency", "0.01"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("PostgreSQL scale-out")]
    assert len(lines) == 2, done.stdout[-2000:]
    assert all("exactly once yes, same final states and actions as 1 worker yes" in line for line in lines)
