"""R9 and R10 for Freshdesk (style-and-reliability.md §B.4), against the fake Freshdesk over HTTP.

R9, recovery of dropped deliveries: tickets change on the desk side over 40 minutes (opened, priorities
raised, agents' replies, requesters' portal replies, tags, resolutions). Freshdesk drops 10 % of the
webhooks, some changes send none at all, and ingress merges deliveries whose bodies render the same. The
webhooks go through the real app, worker and executor as they happen; then ONE reconciliation sweep
(`FreshdeskReconciler`), and the scheduler's check when escalations come due. The oracle is the pure rules
core (`Rulebook`) over the full history as it really happened: every ticket's due dates and tags on the desk
must be what it decides, every note written once, and the sweep must change nothing on a ticket whose every
change the webhooks delivered.

R10, write-back under vendor errors: 100 outbox actions (due dates, tags, notes) against a desk that answers
429 with Retry-After 1–3 s on 20 % of the write calls, 503 on 10 %, 409 on 5 % and hangs past the client's
timeout on 2 %. Time is an injected clock (the executor's retries, the client's rate-limit hold and the
fake's call log share it), so no Retry-After is slept for real; the hang is a real server-side sleep just
over a short client timeout. Every action must end applied or dead-lettered with a reason, no call may come
before a Retry-After elapsed, every 409 is given up at once (Freshdesk's inconsistent state: the same request
would fail again), every request carries a timeout, and no action is tried more than the configured budget.

Each prints one compass line, e.g. ``R10 freshdesk actions=100 applied=… dead=… early_calls=0 … PASS``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from adapters.freshdesk.client import FreshdeskClient
from adapters.freshdesk.reconcile import FreshdeskReconciler
from adapters.freshdesk.writeback import FreshdeskWriter
from adapters.registry import build_inbound, build_writer
from connector.config import Config, FreshdeskSourceConfig
from connector.events import Comment, Event, Requester, Ticket
from connector.rules.engine import Rulebook
from connector.runtime.outbox import Backoff, Executor
from connector.runtime.scheduler import Sweeper
from connector.runtime.worker import TicketProcessor, Worker
from connector.service import create_app
from connector.settings import Settings
from connector.store import Store
from tests.fakes.freshdesk import FakeFreshdesk, fake_freshdesk_fixture, iso  # noqa: F401
from tests.helpers import config
from tests.reliability.vendor_faults import (
    T0,
    SimClock,
    TimedSession,
    drain_outbox,
    fault_plan,
    outbox_keys,
    untimed_requests,
)

pytestmark = pytest.mark.reliability

SECRET = "freshdesk-r9-shared-secret"
AGENT = 900
PRIORITIES = {"freshdesk": {"4": "P1", "3": "P2", "2": "P3", "1": "P4"}}
NATIVE = {"first_response": "fr_due_by", "resolution": "due_by"}




def rules_config(base_url: str) -> Config:
    return config(
        priority_map=PRIORITIES,
        policies=[{"name": "standard", "calendar": "business", "pause_on": ["pending", "on_hold"], "targets": {
            "P1": {"first_response": "1h", "resolution": "8h", "calendar": "24x7"},
            "P2": {"first_response": "2h", "resolution": "1d"},
            "P3": {"first_response": "4h", "resolution": "2d"},
            "P4": {"first_response": "8h", "resolution": "3d"}}}],
        escalations=[
            {"name": "late-reply", "when": {"metric": "first_response", "breached": True},
             "actions": [{"add_tags": ["sla_breached"]}, {"add_note": "First response was due {due_at}"}]},
            {"name": "late-fix", "when": {"metric": "resolution", "breached": True},
             "actions": [{"add_tags": ["sla_late"]}]}],
        sources={"freshdesk": {"account": "acme", "base_url": base_url, "due_fields": NATIVE,
                               "due_by_owner": "connector"}},
    )


# --- R9 ------------------------------------------------------------------------------------------------------


@dataclass
class Op:
    """One thing that happens on the desk, and the same thing as the canonical event the oracle reads."""

    at: datetime
    ticket_id: int
    kind: str                        # open | priority | reply | portal_reply | tags | resolve
    notify: bool = True
    value: Any = None


@dataclass
class Truth:
    """A ticket as it really is, for the oracle's events."""

    ticket_id: int
    requester: int
    priority: int
    created: datetime
    status: str = "open"
    tags: tuple[str, ...] = ()
    events: list[Event] = field(default_factory=list)

    def event(self, at: datetime, kind: str, comment: Comment | None = None) -> None:
        self.events.append(Event(
            source="freshdesk", account="acme", ticket_id=str(self.ticket_id), type=kind, occurred_at=at,
            event_id=f"truth-{self.ticket_id}-{len(self.events)}", comment=comment,
            ticket=Ticket(status=self.status, priority=str(self.priority), channel="web",
                          requester=Requester(id=str(self.requester)), tags=self.tags, created_at=self.created)))


def scenario(rng: random.Random, tickets: int) -> list[Op]:
    """Tickets opened over 10 minutes; each then changes within 25 minutes; some changes send no webhook."""
    ops: list[Op] = []
    for n in range(tickets):
        ticket_id = 100 + n
        opened = T0 + timedelta(seconds=20 * n)
        ops.append(Op(opened, ticket_id, "open", value=rng.randint(1, 4)))
        if rng.random() < 0.4:  # raised before anyone answered: every clock still runs
            ops.append(Op(opened + timedelta(minutes=rng.randint(1, 4)), ticket_id, "priority",
                          notify=rng.random() > 0.3, value=rng.randint(3, 4)))
        if rng.random() < 0.3:  # the requester adds something through the portal
            ops.append(Op(opened + timedelta(minutes=5), ticket_id, "portal_reply", notify=rng.random() > 0.15))
        if rng.random() < 0.6:
            ops.append(Op(opened + timedelta(minutes=rng.randint(6, 14)), ticket_id, "reply",
                          notify=rng.random() > 0.15))
        if rng.random() < 0.3:
            ops.append(Op(opened + timedelta(minutes=15), ticket_id, "tags", notify=rng.random() > 0.5))
        if rng.random() < 0.35:
            ops.append(Op(opened + timedelta(minutes=rng.randint(16, 25)), ticket_id, "resolve",
                          notify=rng.random() > 0.15))
    return sorted(ops, key=lambda op: (op.at, op.ticket_id))


def happen(fake: FakeFreshdesk, truths: dict[int, Truth], op: Op) -> None:
    """Do `op` on the desk (which may send a webhook) and record it as the oracle's event."""
    if op.kind == "open":
        requester = 5000 + op.ticket_id
        truth = truths[op.ticket_id] = Truth(op.ticket_id, requester, op.value, op.at)
        truth.event(op.at, "ticket.created", Comment(author_role="end_user", author_id=str(requester)))
        fake.open_ticket(op.ticket_id, at=op.at, priority=op.value, requester_id=requester, notify=op.notify)
        return
    truth = truths[op.ticket_id]
    if op.kind == "priority":
        truth.priority = op.value
        fake.change(op.ticket_id, at=op.at, priority=op.value, notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "tags":
        truth.tags = (*fake.tickets[op.ticket_id]["tags"], "vip")
        fake.change(op.ticket_id, at=op.at, tags=list(truth.tags), notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "resolve":
        truth.status = "solved"
        fake.change(op.ticket_id, at=op.at, status=4, notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "reply":
        fake.reply(op.ticket_id, at=op.at, user_id=AGENT, notify=op.notify)
        truth.event(op.at, "comment.added", Comment(author_role="agent", author_id=str(AGENT)))
    elif op.kind == "portal_reply":  # Freshdesk: incoming is false for what comes through the portal
        fake.reply(op.ticket_id, at=op.at, user_id=truth.requester, incoming=False, notify=op.notify)
        truth.event(op.at, "comment.added", Comment(author_role="end_user", author_id=str(truth.requester)))


def expected(book: Rulebook, truth: Truth, now: datetime) -> tuple[set[str], dict[str, str], int]:
    """What the oracle says the desk should show: tags, native due dates still to keep, notes written."""
    report = book.evaluate(book.run(truth.events)[("freshdesk", "acme", str(truth.ticket_id))], now)
    added = {tag for d in report.actions if d.action == "add_tags" for tag in d.params["tags"]}
    tags = {*truth.tags, *added, *(("sla_connector",) if added else ())}
    dues: dict[str, str] = {}
    if truth.status != "solved":  # the connector writes no due date on a resolved ticket
        for clock in report.clocks:
            if clock.metric in NATIVE and clock.status in ("running", "breached") and clock.stopped_at is None:
                dues[NATIVE[clock.metric]] = iso(clock.due_at)
    return tags, dues, sum(1 for d in report.actions if d.action == "add_note")


def mismatches(fake: FakeFreshdesk, book: Rulebook, truths: dict[int, Truth], now: datetime) -> list[str]:
    wrong = []
    for ticket_id, truth in truths.items():
        ticket = fake.tickets[ticket_id]
        tags, dues, notes = expected(book, truth, now)
        written = sum(1 for c in ticket["conversations"] if c["private"] and c["user_id"] == 1)
        if set(ticket["tags"]) != tags:
            wrong.append(f"{ticket_id} tags {sorted(ticket['tags'])} != {sorted(tags)}")
        for name, value in dues.items():
            if ticket[name] != value:
                wrong.append(f"{ticket_id} {name} {ticket[name]} != {value}")
        if written != notes:
            wrong.append(f"{ticket_id} notes {written} != {notes}")
    return wrong


def test_r9_one_reconciliation_sweep_recovers_what_the_webhooks_lost(store: Store, fake_freshdesk: FakeFreshdesk):
    rng = random.Random(20260302)
    clock = SimClock()
    fake = fake_freshdesk
    fake.drop_rate, fake.rng, fake.clock = 0.10, random.Random(11), clock.now
    settings = Settings.from_env({"FRESHDESK_WEBHOOK_SECRET": SECRET, "FRESHDESK_DOMAIN": "acme",
                                  "FRESHDESK_API_KEY": fake.api_key}, database_url=store.url)
    cfg = rules_config(fake.base_url)
    adapter, writer = build_inbound("freshdesk", settings, cfg), build_writer("freshdesk", settings, cfg)
    assert adapter is not None and writer is not None and writer.configured
    app = create_app(settings, store=store, config=cfg, adapters={"freshdesk": adapter}, clock=clock.now)
    processor = TicketProcessor(store, cfg, {"freshdesk": writer}, clock=clock.now)
    worker = Worker(store, processor, {"freshdesk": adapter}, clock=clock.now)
    executor = Executor(store, {"freshdesk": writer}, clock=clock.now)
    client = app.test_client()
    headers = {"x-connector-token": SECRET, "content-type": "application/json"}

    truths: dict[int, Truth] = {}
    missed: set[int] = set()  # tickets with a change the webhook path never saw (dropped, silent or merged)
    for op in scenario(rng, 30):
        clock.at(op.at)
        dropped = fake.dropped
        happen(fake, truths, op)
        if not op.notify or fake.dropped > dropped:
            missed.add(op.ticket_id)
        for body in fake.take_webhooks():
            answer = client.post("/hooks/freshdesk", data=body, headers=headers)
            assert answer.status_code in (200, 202), answer.get_json()
            if answer.status_code == 200:  # the same body again: ingress stores it once
                missed.add(op.ticket_id)
        worker.run_once(limit=100)
        executor.run_once(limit=100)

    book = Rulebook(cfg)
    end = T0 + timedelta(hours=6)
    sweep_at = T0 + timedelta(minutes=45)
    clock.at(sweep_at)
    before = len(mismatches(fake, book, truths, sweep_at))
    calls, rows = len(fake.calls), outbox_keys(store)
    reconciler = FreshdeskReconciler(store, processor, FreshdeskClient(None, fake.api_key, base_url=fake.base_url),
                                     account="acme", start=T0 - timedelta(minutes=1), clock=clock.now)
    result = reconciler.run_once()  # the ONE sweep
    executor.run_once(limit=500)
    swept = {int(k.split(":")[2]) for k in outbox_keys(store) - rows}
    touched = {int(c.path.split("/")[4]) for c in fake.calls[calls:] if c.method != "GET"}
    clock.at(end)
    Sweeper(store, processor, clock=clock.now).sweep()  # the escalations that came due meanwhile
    while executor.run_once(limit=500):
        pass
    wrong = mismatches(fake, book, truths, end)
    handled = set(truths) - missed
    duplicates = (swept | touched) & handled
    notes = Counter((c["ticket_id"], c["body"]) for t in fake.tickets.values() for c in t["conversations"]
                    if c["user_id"] == 1)
    ok = not wrong and not duplicates and max(notes.values(), default=1) == 1 and reconciler.skipped == 0
    print(f"\nR9 freshdesk tickets={len(truths)} dropped={fake.dropped} silent_or_merged={len(missed)} "
          f"wrong_before_sweep={before} recovered_events={result.applied} wrong_after={len(wrong)} "
          f"dup_effects={len(duplicates)} {'PASS' if ok else 'FAIL'}")
    assert before > 0 and result.applied > 0  # the webhooks alone were not enough: the test discriminates
    assert wrong == []
    assert duplicates == set(), sorted(duplicates)
    assert max(notes.values(), default=1) == 1




# --- R10 -----------------------------------------------------------------------------------------------------

CLIENT_TIMEOUT = 0.5    # read timeout of the client, seconds (the fake answers in milliseconds)
HANG = 0.75             # how long a hanging call takes to answer: past the client's timeout
MAX_ATTEMPTS = 6






def test_r10_write_back_under_vendor_errors(store: Store, fake_freshdesk: FakeFreshdesk):
    rng = random.Random(1010)
    clock = SimClock()
    fake = fake_freshdesk
    fake.clock_seconds, fake.hang_seconds = clock.seconds, HANG
    cfg = config(priority_map=PRIORITIES, sources={"freshdesk": {"due_fields": NATIVE, "due_by_owner": "connector"}},
                 escalations=[{"name": "warn", "when": {"metric": "first_response", "at": "50%"},
                               "actions": [{"add_tags": ["sla_warning"]}, {"add_note": "Reply due {due_at}"}]}])
    session = TimedSession()
    client = FreshdeskClient(None, fake.api_key, base_url=fake.base_url, timeout=CLIENT_TIMEOUT, session=session,
                             clock=clock.seconds)
    section = cfg.sources["freshdesk"]
    assert isinstance(section, FreshdeskSourceConfig)
    writer = FreshdeskWriter(client, section)
    processor = TicketProcessor(store, cfg, {"freshdesk": writer}, clock=clock.now)
    for n in range(25):  # P1 tickets, 40 minutes old: two due dates, a tag and a note each
        ticket_id = 200 + n
        fake.add_ticket(ticket_id, priority=4, created_at=iso(T0), updated_at=iso(T0), requester_id=7000 + n)
        clock.at(T0 + timedelta(minutes=40))
        processor.apply_event(Event(
            source="freshdesk", account="acme", ticket_id=str(ticket_id), type="ticket.created", occurred_at=T0,
            event_id=f"fd:{ticket_id}:created", ticket=Ticket(status="open", priority="4", created_at=T0)))
    actions = {row.key: row for row in store.outbox_rows(states=["pending"], limit=1000)}
    assert len(actions) == 100 and Counter(r.action for r in actions.values()) == {
        "set_due_date": 50, "add_tags": 25, "add_note": 25}
    fake.write_faults(fault_plan(rng, 200))
    executor = Executor(store, {"freshdesk": writer}, clock=clock.now, max_attempts=MAX_ATTEMPTS,
                        backoff=Backoff(base=2.0, cap=60.0, rng=random.Random(5)))

    rows, dead = drain_outbox(store, executor, clock, writer)
    states = Counter(row.state for row in rows.values())
    conflicts = [c for c in fake.calls if c.status == 409]
    dead_409 = [reason for reason in dead.values() if "409 Conflict" in reason]
    untimed = untimed_requests(session)
    answered = Counter(c.status for c in fake.calls)
    most = max(r.attempts for r in rows.values())
    ok = (set(states) <= {"done", "skipped", "dead"} and len(dead) == states["dead"] and fake.early_calls == 0
          and not untimed and len(dead_409) == len(conflicts) == states["dead"] and most <= MAX_ATTEMPTS)
    print(f"\nR10 freshdesk actions={len(rows)} applied={states['done'] + states['skipped']} dead={states['dead']} "
          f"(409={len(dead_409)}, gave_up={states['dead'] - len(dead_409)}) calls={len(fake.calls)} "
          f"429={answered[429]} 503={answered[503]} hangs={fake.hangs} lost={fake.lost} early_calls={fake.early_calls} "
          f"untimed_calls={len(untimed)} max_attempts={most}/{MAX_ATTEMPTS} "
          f"{'PASS' if ok else 'FAIL'}")
    assert set(rows) == set(actions) and set(states) <= {"done", "skipped", "dead"}
    assert all(reason for reason in dead.values()) and len(dead) == states["dead"]
    assert answered[429] >= 10 and answered[503] >= 5 and conflicts  # every fault happened
    assert fake.hangs >= 1 and fake.lost >= 1
    assert fake.early_calls == 0
    assert untimed == [] and len(session.timeouts) == len(fake.calls)
    # a 409 is given up at once: one dead letter each, and no later call for that action
    assert len(dead_409) == len(conflicts)
    # waiting out a Retry-After costs no tries: here every action not refused with 409 got through the budget
    assert states["dead"] == len(dead_409)
    assert all(row.attempts <= MAX_ATTEMPTS for row in rows.values())
    # what was applied is on the desk, once
    for row in rows.values():
        if row.action == "add_note" and row.state in ("done", "skipped"):  # a lost answer: skipped on its retry
            ticket = fake.tickets[int(row.ticket_id)]
            assert sum(1 for c in ticket["conversations"] if c["body_text"].startswith("Reply due")) == 1
        if row.state != "done":
            continue
        ticket = fake.tickets[int(row.ticket_id)]
        if row.action == "set_due_date":
            assert ticket[NATIVE[row.params["metric"]]] == row.params["due_at"]
        elif row.action == "add_tags":
            assert "sla_warning" in ticket["tags"]
        elif row.action == "add_note":
            assert sum(1 for c in ticket["conversations"] if c["body_text"].startswith("Reply due")) == 1
