"""The worker draining the inbox: batched vs one event at a time, beside the pure core, in one run.

    python benchmarks/bench_worker.py [--deliveries 3000] [--postgres URL] [--scale-out]

N signed generic deliveries (a realistic mix over many tickets, some of them hot: creations, customer and
agent replies, status changes) are put in the inbox first; then a worker drains it. Printed, per database:

- the pure core's rate on the same events (`Rulebook.run`, no store) — the ceiling;
- the worker in-process, one transaction per claimed batch (today's path) and one per event (the earlier
  path), and the ratios batched ÷ per-event and store ÷ core;
- the whole command a user runs, `connector worker --once` as a process (start-up, migrations check,
  drain), on the same inbox;
- history applied to the store in pages, as `connector backfill … --store` and the polls do;
- with `--scale-out` (PostgreSQL): 1, 2 and 4 `connector worker --once` processes on one inbox, with the
  exactly-once effects and the final ticket states checked against the one-worker run.

Zendesk- and Freshdesk-shaped deliveries are not in the mix: their normalization calls the help desks'
APIs, which a benchmark would time instead of the store path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.webhook import WebhookAdapter  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.events import parse_event  # noqa: E402
from connector.rules.engine import Rulebook  # noqa: E402
from connector.runtime.worker import TicketProcessor, Worker  # noqa: E402
from connector.store import Store  # noqa: E402
from tests.pg import fresh_schema  # noqa: E402
from tests.reliability.procs import SECRET, canonical  # noqa: E402

CONFIG = ROOT / "config" / "example.yaml"
AGENT = {"author_role": "agent", "public": True}
CUSTOMER = {"author_role": "end_user", "public": True}


def history(deliveries: int) -> list[dict[str, Any]]:
    """Canonical events for `deliveries` deliveries: one ticket in ten is hot (a third of the traffic)."""
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    tickets = max(1, deliveries // 6)
    seen: set[str] = set()
    out = []
    for n in range(deliveries):
        ticket = str(n % max(1, tickets // 10)) if n % 3 == 0 else str(n % tickets)
        at = (start + timedelta(seconds=20 * n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if ticket not in seen:
            seen.add(ticket)
            out.append(canonical(f"T{ticket}", f"e{n}", at, priority=("urgent", "high", "normal")[n % 3]))
            continue
        kind = n % 4
        if kind == 0:
            out.append(canonical(f"T{ticket}", f"e{n}", at, type="comment.added", status="open", comment=AGENT))
        elif kind == 1:
            out.append(canonical(f"T{ticket}", f"e{n}", at, type="comment.added", status="open", comment=CUSTOMER))
        else:
            out.append(canonical(f"T{ticket}", f"e{n}", at, type="ticket.updated",
                                 status="pending" if kind == 2 else "open"))
        out[-1]["ticket"]["created_at"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def fill(url: str, bodies: list[dict[str, Any]]) -> Store:
    store = Store(url)
    store.upgrade()
    received = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for body in bodies:
        store.insert_inbox(source="webhook", dedupe_key=body["event_id"], body=json.dumps(body).encode(),
                           headers={}, received_at=received, dedupe_window=timedelta(0),
                           ticket=f"webhook/acme/{body['ticket_id']}")  # as the door records it
    return store


def core_rate(bodies: list[dict[str, Any]]) -> float:
    book = Rulebook(load_config(str(CONFIG)))
    evs = [parse_event(b) for b in bodies]
    began = time.perf_counter()
    book.run(evs)
    return len(evs) / (time.perf_counter() - began)


def drain_in_process(url: str, bodies: list[dict[str, Any]], *, batch: bool) -> float:
    store = fill(url, bodies)
    processor = TicketProcessor(store, load_config(str(CONFIG)), {})
    worker = Worker(store, processor, {"webhook": WebhookAdapter([SECRET])}, batch=batch)
    began = time.perf_counter()
    while worker.run_once():
        pass
    seconds = time.perf_counter() - began
    store.dispose()
    return len(bodies) / seconds


def backfill_rate(url: str, bodies: list[dict[str, Any]], page: int = 100) -> float:
    """History applied to the store as `connector backfill … --store` and the polls do: pages of events."""
    from functools import partial

    from connector.runtime.history import apply_events, unseen_events

    store = Store(url)
    store.upgrade()
    processor = TicketProcessor(store, load_config(str(CONFIG)), {})
    evs = [parse_event(b) for b in bodies]
    unseen = partial(unseen_events, is_history=lambda _event_id: True)
    began = time.perf_counter()
    for start in range(0, len(evs), page):
        apply_events(processor, evs[start:start + page], unseen=unseen)
    seconds = time.perf_counter() - began
    store.dispose()
    return len(evs) / seconds


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "CONNECTOR_DATABASE_URL": url, "CONNECTOR_CONFIG": str(CONFIG),
            "CONNECTOR_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT)}


def drain_processes(url: str, bodies: list[dict[str, Any]], workers: int) -> float:
    fill(url, bodies).dispose()
    began = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "connector", "worker", "--once"], cwd=ROOT, env=env_for(url),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        if proc.returncode:
            raise SystemExit(f"connector worker --once failed: {err.decode()[-2000:]}")
    return len(bodies) / (time.perf_counter() - began)


def effects(url: str) -> dict[str, Any]:
    """What the drain left, for the exactly-once check: counts and the final ticket states."""
    from sqlalchemy import func, select

    from connector.store.schema import events, inbox, outbox, tickets

    store = Store(url)
    with store.read() as conn:
        out = {
            "events": conn.execute(select(func.count()).select_from(events)).scalar_one(),
            "distinct_events": conn.execute(select(func.count(func.distinct(events.c.event_id)))).scalar_one(),
            "not_done": conn.execute(select(func.count()).where(inbox.c.state != "done")).scalar_one(),
            "outbox_keys": sorted(conn.execute(select(outbox.c.key)).scalars()),
            "states": sorted((r.ticket_id, json.dumps(r.state, sort_keys=True))
                             for r in conn.execute(select(tickets.c.ticket_id, tickets.c.state))),
        }
    store.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--postgres", default=os.environ.get("CONNECTOR_TEST_POSTGRES_URL"),
                        help="PostgreSQL base URL (default CONNECTOR_TEST_POSTGRES_URL); without it, SQLite only")
    parser.add_argument("--scale-out", action="store_true", help="1, 2 and 4 worker processes on PostgreSQL")
    args = parser.parse_args()
    bodies = history(args.deliveries)
    core = core_rate(bodies)
    print(f"{len(bodies)} deliveries (one event each, {len({b['ticket_id'] for b in bodies})} tickets)")
    print(f"core (Rulebook.run, no store)          {core:>9,.0f} events/s")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        databases = [("SQLite", lambda name: f"sqlite:///{Path(tmp) / name}.db")]
        if args.postgres:
            databases.append(("PostgreSQL", lambda name: stack.enter_context(fresh_schema(args.postgres, "bench"))))
        for label, make in databases:
            batched = drain_in_process(make("batched"), bodies, batch=True)
            single = drain_in_process(make("single"), bodies, batch=False)
            command = drain_processes(make("command"), bodies, 1)
            backfill = backfill_rate(make("backfill"), bodies)
            print(f"{label}: worker, batched                {batched:>9,.0f} events/s   "
                  f"{batched / single:.2f}x per-event   store/core {batched / core:.3f}")
            print(f"{label}: worker, one event at a time    {single:>9,.0f} events/s")
            print(f"{label}: `connector worker --once` (whole command, 1 process) {command:,.0f} events/s")
            print(f"{label}: history into the store (backfill, polls), pages of 100 {backfill:,.0f} events/s")
        if args.scale_out and args.postgres:
            rates, seen = {}, {}
            for n in (1, 2, 4):
                url = stack.enter_context(fresh_schema(args.postgres, "bench"))
                rates[n] = drain_processes(url, bodies, n)
                seen[n] = effects(url)
            same = all(seen[n] == seen[1] for n in (2, 4))
            once = all(s["events"] == s["distinct_events"] == len(bodies) and not s["not_done"] for s in seen.values())
            print(f"PostgreSQL scale-out: 1 worker {rates[1]:,.0f}/s, 2 workers {rates[2]:,.0f}/s "
                  f"({rates[2] / rates[1]:.2f}x), 4 workers {rates[4]:,.0f}/s ({rates[4] / rates[1]:.2f}x); "
                  f"exactly once {'yes' if once else 'NO'}, same final states and actions as 1 worker "
                  f"{'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
