"""Webhook ingest under gunicorn on loopback: the connector against a bare Flask receiver, in one run.

    python benchmarks/bench_ingest.py [--requests 3000] [--concurrency 8] [--workers 2] [--postgres URL]

Both servers run under gunicorn with the same worker count and write to the same kind of database. The
bare receiver only commits the raw body; the connector does what it must (size limit, Standard Webhooks
signature check, parse and validate, dedupe, commit the inbox row). Every request is a distinct signed
canonical event, signed before the clock starts. Prints req/s, p50 and p99 latency, and the ratio
connector ÷ bare (targets: ratio >= 0.7 and p99 <= 50 ms on SQLite).

A third run has `connector worker` draining the inbox beside the door (a backlog of eight times the
requests, in `bench_worker`'s mix, is put in the inbox first; the worker starts once the door is up and the
load once it drains): the ingest a burst meets while the worker catches up (target: >= 0.85 x the bare
receiver, p99 <= 50 ms). The worker runs as deployed: niced, and resting after its batches while
deliveries arrive (`CONNECTOR_WORKER_YIELD`, default 3; set it to 0 in this process's environment to see
the door beside a worker that never rests). Each run sends events of its own, so every request is stored.
How many deliveries the worker finished during the load is printed, and how many were still waiting at its
end (none: it ran dry before the load ended, and the figure is not "while draining" for the whole load:
raise --backlog).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.pg import fresh_schema  # noqa: E402
from tests.reliability.procs import SECRET, canonical, free_port, signed_headers  # noqa: E402


def start(app: str, port: int, workers: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
           app]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{app} did not start: {log.read_text()[-2000:]}")


def load(port: int, bodies: list[tuple[bytes, dict[str, str]]],
         concurrency: int) -> tuple[float, list[float], int, str | None]:
    """Send every request once over `concurrency` keep-alive connections; return (seconds, latencies, errors,
    the first error's answer or exception)."""
    work: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
    for item in bodies:
        work.put(item)
    latencies: list[float] = []
    errors = [0]
    first_error: list[str] = []
    lock = threading.Lock()
    url = f"http://127.0.0.1:{port}/hooks/webhook"

    def client() -> None:
        session = requests.Session()
        mine = []
        while True:
            try:
                body, headers = work.get_nowait()
            except queue.Empty:
                break
            t0 = time.perf_counter()
            try:  # a refused or broken connection is an error of the run, not the end of this client
                answer = session.post(url, data=body, headers=headers, timeout=30)
                ok = answer.status_code in (200, 202)
                what = f"HTTP {answer.status_code} {answer.text[:120]!r}"
            except requests.RequestException as err:
                ok = False
                what = f"{type(err).__name__}: {str(err)[:120]}"
                session = requests.Session()
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    errors[0] += 1
                    if not first_error:
                        first_error.append(what)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, sorted(latencies), errors[0], (first_error or [None])[0]


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] * 1000 if values else float("nan")


def backlog(url: str, count: int) -> None:
    """Put `count` deliveries in the inbox, as the door would have (for the worker to drain): the mix of
    `bench_worker` (creations, replies and status changes over many tickets, some hot), in one transaction."""
    from bench_worker import history

    from connector.store import Store
    from connector.store.schema import inbox
    from connector.store.store import inbox_row

    store = Store(url)
    store.upgrade()
    received = datetime.now(UTC)
    rows = [inbox_row(source="webhook", dedupe_key=f"backlog-{body['event_id']}", body=json.dumps(body).encode(),
                      headers={}, received_at=received, ticket=f"webhook/acme/{body['ticket_id']}")
            for body in history(count)]
    with store.write() as conn:  # the rows the door would have stored, in one transaction
        conn.execute(inbox.insert(), rows)
    store.dispose()


def waiting(url: str) -> int:
    from sqlalchemy import func, select

    from connector.store import Store
    from connector.store.schema import inbox

    store = Store(url)
    with store.read() as conn:
        count = int(conn.execute(select(func.count()).where(inbox.c.state == "pending")).scalar_one())
    store.dispose()
    return count


TAGS = {"bare Flask receiver": "bare", "connector": "door", "connector + worker": "busy"}


def run_db(label: str, url: str, args: argparse.Namespace, tmp: Path) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {**os.environ, "CONNECTOR_DATABASE_URL": url, "CONNECTOR_WEBHOOK_SECRET": SECRET,
           "CONNECTOR_CONFIG": str(ROOT / "config" / "example.yaml"), "PYTHONPATH": str(ROOT)}
    results = {}
    failed: dict[str, str] = {}
    drained = ""
    for name, app in (("bare Flask receiver", "benchmarks.bare_receiver:create_app()"),
                      ("connector", "connector.service:create_app()"),
                      ("connector + worker", "connector.service:create_app()")):
        worker = None
        if name == "connector + worker":
            backlog(url, args.requests * args.backlog)
        bodies = []
        tag = TAGS[name]  # each run's events its own: the connector's two runs once sent the same ones, and the
        # door beside the worker answered every request of its run as a duplicate (nothing was stored)
        for n in range(args.requests):
            body = json.dumps(canonical(str(n % 500), f"{tag}-{n}", now)).encode()
            bodies.append((body, signed_headers(f"{tag}-{label}-{n}", body)))
        port = free_port()
        proc = start(app, port, args.workers, env, tmp / f"{name[:4]}-{label}.log")
        try:
            load(port, bodies[:200], args.concurrency)  # warm up
            if name == "connector + worker":  # the worker starts once the door is up, and the load once it drains
                worker = subprocess.Popen([sys.executable, "-m", "connector", "worker"], cwd=ROOT, env=env,
                                          stdout=(tmp / f"worker-{label}.log").open("wb"), stderr=subprocess.STDOUT)
                before = waiting(url)
                while waiting(url) >= before and worker.poll() is None:  # draining has begun
                    time.sleep(0.05)
                before = waiting(url)
            seconds, lat, errors, first = load(port, bodies[200:], args.concurrency)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if worker is not None:
                left = waiting(url)
                worker.terminate()
                worker.wait(timeout=30)
                drained = (f"the worker finished {before + len(bodies) - 200 - left:,} deliveries during the load; "
                           f"{left:,} still waiting at its end"
                           + ("" if left else " (it ran dry: raise --backlog for a figure taken while it drains)"))
        results[name] = (len(lat) / seconds, pct(lat, 0.5), pct(lat, 0.99), errors)
        if first is not None:
            failed[name] = f"{errors} of {len(lat)} requests failed, the first: {first}"
    print(f"\n{label}: {args.requests - 200} signed events, {args.concurrency} clients, gunicorn -w {args.workers}")
    print(f"{'server':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, (rps, p50, p99, errors) in results.items():
        print(f"{name:<22} {rps:>9,.0f} {p50:>8.1f} {p99:>8.1f} {errors:>7}")
    ratio = results["connector"][0] / results["bare Flask receiver"][0]
    p99 = results["connector"][2]
    print(f"ratio connector/bare = {ratio:.2f} (target >= 0.7); connector p99 = {p99:.1f} ms (target <= 50 ms)")
    busy = results["connector + worker"][0] / results["bare Flask receiver"][0]
    print(f"ratio connector with a worker draining/bare = {busy:.2f} (target >= 0.85); its p99 = "
          f"{results['connector + worker'][2]:.1f} ms (target <= 50 ms); {drained}")
    for name, why in failed.items():  # a server that failed requests measured its failures, not its ingest
        print(f"NOT A MEASUREMENT: {name}: {why}; the ratios against it mean nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backlog", type=int, default=8,
                        help="the third run's inbox backlog, in times the requests (default 8: it lasts the load)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("CONNECTOR_TEST_POSTGRES_URL"),
                        help="also run against this PostgreSQL database (its tables are created)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_dir:
        tmp = Path(os.environ.get("BENCH_INGEST_DIR") or tmp_dir)
        run_db("SQLite", f"sqlite:///{tmp / 'bench.db'}", args, tmp)
        if args.postgres:
            with fresh_schema(args.postgres, prefix="bench") as url:
                run_db("PostgreSQL", url, args, tmp)


if __name__ == "__main__":
    main()
