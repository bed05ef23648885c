"""The worker draining the inbox: batched vs one event at a time, beside the pure core, in one run.

    python benchmarks/bench_worker.py [--deliveries 3000] [--postgres URL] [--scale-out]

N deliveries (a realistic mix over many tickets, some of them hot: creations, customer and agent replies,
status changes) are put in the inbox first, a third each in the shapes of the three sources: the
connector's own canonical event (generic webhook), Zendesk's ticket event envelope (as
`tests/fixtures/zendesk` follows it: `detail`, `event`, UPPERCASE status and priority) and Freshdesk's
automation webhook with the dated template (`tests/fixtures/freshdesk/dated_*`: labels, comma-separated
tags, `{{triggered_event}}`). Then a worker drains it. A Freshdesk reply is read from the ticket's
conversations, which the API would answer: they are served from memory here (`MemoryFreshdesk`), so the
figure is the adapter's work and the store's, not a network's. Printed, per database:

- the pure core's rate on the same events (`Rulebook.run`, no store) — the ceiling;
- the worker in-process, one transaction per claimed batch (today's path) and one per event (the earlier
  path), and the ratios batched ÷ per-event and store ÷ core;
- the whole command a user runs, `connector worker --once` as a process (start-up, migrations check,
  drain), on the same inbox, and on the deliveries that wait on no API (beside the same in-process);
- history applied to the store as `connector backfill … --store` does (pages of 100 tickets with their
  histories, as both help desks list them) and as the polls do (small pages: 100 events);
- with `--scale-out` (PostgreSQL): 1, 2 and 4 workers on one inbox of three times the deliveries, those
  that wait on no API (the generic and Zendesk ones: the store and the cores are what scale, not the
  benchmark's own fake of Freshdesk): as whole `connector worker --once` processes (each one's start-up
  counted), and as running `connector worker` processes that the deliveries reach at once (the drain
  alone); with the exactly-once effects and the final ticket states checked against the one-worker run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.freshdesk import FreshdeskAdapter  # noqa: E402
from adapters.webhook import WebhookAdapter  # noqa: E402
from adapters.zendesk import ZendeskAdapter  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.events import Event, parse_event  # noqa: E402
from connector.rules.engine import Rulebook  # noqa: E402
from connector.runtime import settle_heap  # noqa: E402
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


ZENDESK_STATUS = {"new": "NEW", "open": "OPEN", "pending": "PENDING", "on_hold": "HOLD", "solved": "SOLVED"}
FRESHDESK_STATUS = {"new": "Open", "open": "Open", "pending": "Pending", "solved": "Resolved"}
FRESHDESK_PRIORITY = {"urgent": "Urgent", "high": "High", "normal": "Medium", "low": "Low"}


class MemoryFreshdesk:
    """Freshdesk's API answers for the benchmark's tickets, from memory (`FreshdeskApi`)."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency  # seconds each answer takes, as the network and Freshdesk would
        self.tickets: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, list[dict[str, Any]]] = {}

    def get_ticket(self, ticket_id: str) -> dict[str, Any]:  # a reply's delivery reads the ticket, then its replies
        time.sleep(self.latency)
        return self.tickets[ticket_id]

    def list_conversations(self, ticket_id: str) -> list[dict[str, Any]]:
        time.sleep(self.latency)
        return self.conversations.get(ticket_id, [])


def shaped(c: dict[str, Any], api: MemoryFreshdesk) -> tuple[str, dict[str, Any], str]:
    """One canonical event as one source's delivery: (source, body, the door's ticket digest)."""
    number = int(c["ticket_id"].lstrip("T"))
    ticket, at, comment = c["ticket"], c["occurred_at"], c.get("comment")
    created = ticket.get("created_at") or at
    if number % 3 == 0:
        return "webhook", c, f"webhook/acme/{c['ticket_id']}"
    tid = str(10_000 + number)
    if number % 3 == 1:
        kind = {"ticket.created": "ticket.created", "ticket.updated": "ticket.status_changed",
                "comment.added": "ticket.comment_added"}[c["type"]]
        event: dict[str, Any] = {"current": ZENDESK_STATUS[ticket["status"]], "previous": "OPEN"}
        if comment is not None:
            staff = comment["author_role"] == "agent"
            event = {"comment": {"id": f"9{number}{len(c['event_id'])}{c['event_id'][1:]}", "body": "Reply.",
                                 "is_public": True, "author": {"id": "501" if staff else f"7{number}",
                                                                "is_staff": staff, "name": "Pat"}}}
        body = {"account_id": 22129848, "id": f"zd-{c['event_id']}", "subject": f"zen:ticket:{tid}",
                "time": at, "type": f"zen:event-type:{kind}", "zendesk_event_version": "2022-11-06",
                "detail": {"id": tid, "actor_id": "501", "assignee_id": None, "created_at": created,
                           "updated_at": at, "description": "It broke.", "subject": "Checkout is down",
                           "group_id": None, "organization_id": None, "requester_id": f"7{number}",
                           "priority": (ticket.get("priority") or "normal").upper(),
                           "status": ZENDESK_STATUS[ticket["status"]], "tags": [], "is_public": True,
                           "type": "INCIDENT", "via": {"channel": "web_service"}},
                "event": event}
        return "zendesk", body, f"zendesk/acme/{tid}"
    triggered = {"ticket.created": "{ticket_action:created}", "ticket.updated": "{status:{from:2,to:3}}"}.get(
        c["type"], "{reply_sent:sent}")
    if comment is not None:
        customer = comment["author_role"] == "end_user"
        triggered = "{reply_type:customer_reply}" if customer else triggered
        api.conversations.setdefault(tid, []).append({
            "id": len(api.conversations.get(tid, [])) + 1, "incoming": customer, "private": False,
            "user_id": int(f"7{number}") if customer else 501, "source": 0, "created_at": at, "updated_at": at})
    api.tickets.setdefault(tid, {"id": int(tid), "subject": "Checkout is down", "description": "It broke.",
                                 "description_text": "It broke.", "status": 2, "priority": 1, "source": 1,
                                 "requester_id": int(f"7{number}"), "tags": [], "created_at": created,
                                 "updated_at": at, "custom_fields": {}})
    body = {"kind": c["type"], "ticket_id": tid, "updated_at": at, "created_at": created,
            "requester_id": f"7{number}", "status": FRESHDESK_STATUS[ticket["status"]],
            "priority": FRESHDESK_PRIORITY[ticket.get("priority") or "normal"], "source": "Email", "tags": "",
            "subject": "Checkout is down", "description": "It broke.", "triggered_event": triggered}
    return "freshdesk", body, f"freshdesk/acme/{tid}"


def deliveries(bodies: list[dict[str, Any]], latency: float = 0.0
               ) -> tuple[list[tuple[str, bytes, str]], MemoryFreshdesk]:
    api = MemoryFreshdesk(latency)
    out = []
    for c in bodies:
        source, body, ticket = shaped(c, api)
        out.append((source, json.dumps(body).encode(), ticket))
    return out, api


def adapters(api: MemoryFreshdesk) -> dict[str, Any]:
    return {"webhook": WebhookAdapter([SECRET]), "zendesk": ZendeskAdapter([SECRET], account="acme"),
            "freshdesk": FreshdeskAdapter([SECRET], account="acme", api=api)}


def fill(url: str, bodies: list[dict[str, Any]]) -> Store:
    store = Store(url)
    store.upgrade()
    for n, ((source, body, ticket), c) in enumerate(zip(deliveries(bodies)[0], bodies, strict=True)):
        # received two seconds after its event, as a help desk delivers it (the worker refuses an event dated
        # more than 5 minutes after its receipt)
        received = parse_event(c).occurred_at + timedelta(seconds=2)
        store.insert_inbox(source=source, dedupe_key=f"d{n}", body=body, headers={}, received_at=received,
                           dedupe_window=timedelta(0), ticket=ticket)  # as the door records it
    return store


def check_drained(url: str) -> None:
    """Stop the run unless every delivery ended done: a drain that failed deliveries measured failures."""
    from sqlalchemy import func, select

    from connector.store.schema import inbox

    store = Store(url)
    try:
        with store.read() as conn:
            left = conn.execute(select(func.count()).where(inbox.c.state != "done")).scalar_one()
            first = conn.execute(select(inbox.c.error).where(inbox.c.state != "done").limit(1)).scalar()
    finally:
        store.dispose()
    if left:
        raise SystemExit(f"NOT A MEASUREMENT: {left} deliveries did not end done (first: {first})")


def core_rate(bodies: list[dict[str, Any]]) -> float:
    """The pure core on the events the worker will make of the same deliveries."""
    book = Rulebook(load_config(str(CONFIG)))
    items, api = deliveries(bodies)
    normalizers = adapters(api)
    received = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    evs = [e for source, body, _ in items for e in normalizers[source].normalize(body, {}, received)]
    began = time.perf_counter()
    book.run(evs)
    return len(evs) / (time.perf_counter() - began)


def drain_in_process(url: str, bodies: list[dict[str, Any]], *, batch: bool, latency: float = 0.0,
                     threads: int | None = None) -> float:
    """Events/s of one worker draining the inbox in-process; `threads` overrides how many deliveries that
    wait on Freshdesk's API are normalized at a time (1: one after another, as before issue 14)."""
    import connector.runtime.worker as worker_module

    store = fill(url, bodies)
    processor = TicketProcessor(store, load_config(str(CONFIG)), {})
    worker = Worker(store, processor, adapters(deliveries(bodies, latency)[1]), batch=batch)
    settle_heap()  # as `connector worker` does once started
    default = worker_module.NORMALIZE_THREADS
    worker_module.NORMALIZE_THREADS = threads or default
    try:
        began = time.perf_counter()
        while worker.run_once():
            pass
        seconds = time.perf_counter() - began
    finally:
        worker_module.NORMALIZE_THREADS = default
        worker.close()
    store.dispose()
    check_drained(url)
    return len(bodies) / seconds


def backfill_pages(events: list[Event], tickets: int = 100) -> list[list[Event]]:
    """The history as `connector backfill` gets it: pages of `tickets` tickets (both help desks list 100 a
    page), each with its whole history (Zendesk's audits, Freshdesk's conversations), in listing order."""
    by_ticket: dict[str, list[Event]] = {}
    for event in events:
        by_ticket.setdefault(event.ticket_id, []).append(event)
    histories = list(by_ticket.values())
    return [[e for history in histories[at:at + tickets] for e in history] for at in range(0, len(histories), tickets)]


def backfill_rate(url: str, pages: list[list[Event]]) -> float:
    """History applied to the store as `connector backfill … --store` and the polls do: a page at a time."""
    from functools import partial

    from connector.runtime.history import apply_events, unseen_events

    store = Store(url)
    store.upgrade()
    processor = TicketProcessor(store, load_config(str(CONFIG)), {})

    def history_id(_event_id: str) -> bool:  # every event here comes from the history, as a backfill's do
        return True

    unseen = partial(unseen_events, is_history=history_id)
    began = time.perf_counter()
    for page in pages:
        apply_events(processor, page, unseen=unseen, is_history=history_id)
    seconds = time.perf_counter() - began
    store.dispose()
    return sum(map(len, pages)) / seconds


class FreshdeskOnLoopback:
    """The local fake of Freshdesk's API (`tests/fakes/freshdesk.py`) on 127.0.0.1, answering the
    benchmark's conversations, and a config whose `sources.freshdesk.base_url` points at it (write-backs
    dry-run: the figure is the inbox drain's)."""

    def __init__(self, api: MemoryFreshdesk, tmp: Path, latency: float) -> None:
        import threading

        import yaml
        from werkzeug.serving import WSGIRequestHandler, make_server

        from tests.fakes.freshdesk import FakeFreshdesk, create_app

        self.fake = FakeFreshdesk()
        for tid, ticket in api.tickets.items():
            self.fake.add_ticket(int(tid), **{k: v for k, v in ticket.items() if k != "id"})["conversations"] = \
                api.conversations.get(tid, [])
        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = create_app(self.fake)

        def answer_late(environ: Any, start_response: Any) -> Any:
            time.sleep(latency)
            return app(environ, start_response)

        self.server = make_server("127.0.0.1", 0, answer_late, threaded=True, request_handler=Quiet)
        self.fake.base_url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        cfg = yaml.safe_load(CONFIG.read_text())
        cfg["sources"]["freshdesk"] = {**(cfg["sources"].get("freshdesk") or {}), "base_url": self.fake.base_url}
        cfg["writeback"]["dry_run"] = True
        self.config = tmp / "bench-worker.yaml"
        self.config.write_text(yaml.safe_dump(cfg))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def env_for(url: str, freshdesk: FreshdeskOnLoopback) -> dict[str, str]:
    return {**os.environ, "CONNECTOR_DATABASE_URL": url, "CONNECTOR_CONFIG": str(freshdesk.config),
            "CONNECTOR_WEBHOOK_SECRET": SECRET, "ZENDESK_WEBHOOK_SECRET": SECRET, "ZENDESK_SUBDOMAIN": "acme",
            "FRESHDESK_WEBHOOK_SECRET": SECRET, "FRESHDESK_DOMAIN": "acme",
            "FRESHDESK_API_KEY": freshdesk.fake.api_key, "PYTHONPATH": str(ROOT)}


def drain_processes(url: str, bodies: list[dict[str, Any]], workers: int, freshdesk: FreshdeskOnLoopback) -> float:
    fill(url, bodies).dispose()
    began = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "connector", "worker", "--once"], cwd=ROOT,
                              env=env_for(url, freshdesk), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        if proc.returncode:
            raise SystemExit(f"connector worker --once failed: {err.decode()[-2000:]}")
    seconds = time.perf_counter() - began
    check_drained(url)
    return len(bodies) / seconds


def drain_live(url: str, bodies: list[dict[str, Any]], workers: int, freshdesk: FreshdeskOnLoopback) -> float:
    """Events/s of `workers` running `connector worker` processes (write-backs in their own thread, as
    deployed), started and idle before the deliveries arrive in the inbox in one transaction: the drain
    alone, timed from the first claim to the last delivery done (each process's start-up, half a second of
    imports and config, is not in it; `drain_processes` has it)."""
    from sqlalchemy import func, select

    from connector.store.schema import inbox
    from connector.store.store import inbox_row

    store = Store(url)
    store.upgrade()
    procs = [subprocess.Popen([sys.executable, "-m", "connector", "worker"], cwd=ROOT, env=env_for(url, freshdesk),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(workers)]
    try:
        time.sleep(1.0 + 0.5 * workers)  # each has started and found the inbox empty
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"connector worker stopped: {proc.communicate()[1].decode()[-2000:]}")
        rows = [inbox_row(source=source, dedupe_key=f"d{n}", body=body, headers={}, ticket=ticket,
                          received_at=parse_event(c).occurred_at + timedelta(seconds=2))  # as `fill` receives them
                for n, ((source, body, ticket), c) in enumerate(zip(deliveries(bodies)[0], bodies, strict=True))]
        with store.write() as conn:  # as the door records them (`Store.insert_inbox`), all at once
            conn.execute(inbox.insert(), rows)
        began = None
        while True:
            with store.read() as conn:
                pending = conn.execute(select(func.count()).where(inbox.c.state == "pending")).scalar_one()
                if began is None and conn.execute(select(func.count()).where(
                        inbox.c.claimed_by.is_not(None) | (inbox.c.state != "pending"))).scalar_one():
                    began = time.perf_counter()
            if not pending:
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - (began or time.perf_counter())
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        store.dispose()
    check_drained(url)
    return len(bodies) / seconds


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
    parser.add_argument("--api-latency", type=float, default=0.1,
                        help="seconds each Freshdesk API answer takes in the runs that say so (default 0.1)")
    args = parser.parse_args()
    bodies = history(args.deliveries)
    core = core_rate(bodies)
    sources = Counter(source for source, _, _ in deliveries(bodies)[0])
    print(f"{len(bodies)} deliveries (one event each, {len({b['ticket_id'] for b in bodies})} tickets; "
          + ", ".join(f"{n} {source}" for source, n in sorted(sources.items())) + ")")
    print(f"core (Rulebook.run, no store)          {core:>9,.0f} events/s")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        freshdesk = FreshdeskOnLoopback(deliveries(bodies)[1], Path(tmp), args.api_latency)
        stack.callback(freshdesk.close)
        databases = [("SQLite", lambda name: f"sqlite:///{Path(tmp) / name}.db")]
        if args.postgres:
            databases.append(("PostgreSQL", lambda name: stack.enter_context(fresh_schema(args.postgres, "bench"))))
        # the deliveries that need no help desk's API (the generic and the Zendesk ones)
        local = [b for b in bodies if int(b["ticket_id"].lstrip("T")) % 3 != 2]
        events = [parse_event(b) for b in bodies]
        pages = backfill_pages(events)  # a backfill's, and a poll's small pages of 100 events
        small_pages = [events[at:at + 100] for at in range(0, len(events), 100)]
        for label, make in databases:
            batched = drain_in_process(make("batched"), bodies, batch=True)
            single = drain_in_process(make("single"), bodies, batch=False)
            command = drain_processes(make("command"), bodies, 1, freshdesk)
            local_command = drain_processes(make("local-command"), local, 1, freshdesk)
            local_batched = drain_in_process(make("local-batched"), local, batch=True)
            backfill = backfill_rate(make("backfill"), pages)
            small = backfill_rate(make("polls"), small_pages)
            print(f"{label}: worker, batched                {batched:>9,.0f} events/s   "
                  f"{batched / single:.2f}x per-event   store/core {batched / core:.3f}")
            print(f"{label}: worker, one event at a time    {single:>9,.0f} events/s")
            print(f"{label}: `connector worker --once` (whole command, 1 process; Freshdesk's API on loopback "
                  f"answering in {args.api_latency * 1000:.0f} ms) {command:,.0f} events/s")
            print(f"{label}: the {len(local)} generic and Zendesk deliveries (no API to wait on): "
                  f"`connector worker --once` {local_command:,.0f} events/s, in-process {local_batched:,.0f} events/s")
            if label == "SQLite":
                together = drain_in_process(make("api-8"), bodies, batch=True, latency=args.api_latency)
                alone = drain_in_process(make("api-1"), bodies, batch=True, latency=args.api_latency, threads=1)
                print(f"{label}: worker, Freshdesk's API answering in {args.api_latency * 1000:.0f} ms: "
                      f"{together:,.0f} events/s normalizing 8 at a time, {alone:,.0f} one at a time "
                      f"({together / alone:.2f}x)")
            print(f"{label}: history into the store: `connector backfill`, pages of 100 tickets with their "
                  f"histories ({len(bodies) / len(pages):,.0f} events a page) {backfill:,.0f} events/s; "
                  f"pages of 100 events (a poll's page) {small:,.0f} events/s")
        if args.scale_out and args.postgres:
            # three times the deliveries: 2,000 drained in under a second measured the first batches' costs
            # (the claims' plans, the first reads), and 2 workers looked no faster than 1
            many = history(args.deliveries * 3)
            local = [b for b in many if int(b["ticket_id"].lstrip("T")) % 3 != 2]
            # the store's scale-out: the deliveries that need no help desk's API (the generic and the Zendesk
            # ones), so that what the workers share is the database and the two cores, not the fake of
            # Freshdesk's API (one Python process in this benchmark's own, answering every worker)
            rates, seen = {}, {}
            for how, drain in (("whole `connector worker --once` processes", drain_processes),
                               ("running `connector worker` processes, the drain alone", drain_live)):
                for n in (1, 2, 4):
                    url = stack.enter_context(fresh_schema(args.postgres, "bench"))
                    rates[n] = drain(url, local, n, freshdesk)
                    seen[n] = effects(url)
                same = all(seen[n] == seen[1] for n in (2, 4))
                once = all(s["events"] == s["distinct_events"] == len(local) and not s["not_done"]
                           for s in seen.values())
                print(f"PostgreSQL scale-out ({len(local)} generic and Zendesk deliveries, no API to wait on; "
                      f"{how}): 1 worker {rates[1]:,.0f}/s, 2 workers {rates[2]:,.0f}/s "
                      f"({rates[2] / rates[1]:.2f}x), 4 workers {rates[4]:,.0f}/s ({rates[4] / rates[1]:.2f}x); "
                      f"exactly once {'yes' if once else 'NO'}, same final states and actions as 1 worker "
                      f"{'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
