"""R9 and R10 for Zendesk (style-and-reliability.md §B.4), against the fake Zendesk over HTTP.

R9, recovery of dropped deliveries: tickets change on the desk side over 40 minutes (opened, priorities
raised, requesters' follow-ups, agents' replies, tags, solutions, deletions and restores). Zendesk sends an
event webhook (`zen:event-type:ticket.*`, signed) for each change, drops 10 % of them, and some changes send
none at all. The webhooks go through the real app, worker and executor as they happen; then ONE
reconciliation sweep (`adapters.zendesk.reconcile.Reconciler`, reading the incremental export and the audits, where
the connector's own writes show up too), and the scheduler's check when escalations come due. The oracle is
the pure rules core (`Rulebook`) over the full history as it really happened: every ticket's due dates and
tags on the desk must be what it decides, every note written once, and the sweep must change nothing on a
ticket whose every change the webhooks delivered.

R10, write-back under vendor errors: 100 outbox actions (due dates, tags, notes) against a desk that answers
429 with Retry-After 1–3 s on 20 % of the write calls, 503 on 10 %, 409 on 5 % and hangs past the client's
timeout on 2 %. Time is an injected clock (the executor's retries, the client's rate-limit hold and the
fake's call log share it), so no Retry-After is slept for real; the hang is a real server-side sleep just
over a short client timeout. Every action must end applied or dead-lettered with a reason, no call may come
before a Retry-After elapsed, every 409 is followed by a re-fetch of the ticket before the retry, every
request carries a timeout, and no action is tried more than the configured budget.

Each prints one compass line, e.g. ``R10 zendesk actions=100 applied=… dead=… early_calls=0 … PASS``.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from adapters.zendesk import ZendeskAdapter, signing
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.reconcile import Reconciler
from adapters.zendesk.writeback import ZendeskWriter
from connector.config import Config, SourceConfig
from connector.events import Comment, Event, Requester, Ticket, format_instant
from connector.rules.engine import Rulebook
from connector.runtime.outbox import Backoff, Executor
from connector.runtime.scheduler import Sweeper
from connector.runtime.worker import TicketProcessor, Worker
from connector.service import create_app
from connector.settings import Settings
from connector.store import Store
from connector.store.schema import inbox
from tests.fakes.zendesk_export import ZendeskHistory, zendesk_history_fixture  # noqa: F401
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

SECRET = "zendesk-r9-signing-secret"
AGENT, API_USER = 900, 1
FIRST_FIELD, RESOLUTION_FIELD = 360001, 360002
DUE_FIELDS = {"first_response": FIRST_FIELD, "resolution": RESOLUTION_FIELD}
PRIORITIES = {"zendesk": {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}}




def source_config(base_url: str) -> dict[str, Any]:
    return {"account": "acme", "base_url": base_url, "due_fields": {k: str(v) for k, v in DUE_FIELDS.items()}}


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
        sources={"zendesk": source_config(base_url)},
    )


def client_for(fake: Any, **kwargs: Any) -> ZendeskClient:
    return ZendeskClient(None, fake.email, fake.token, base_url=fake.base_url, **kwargs)


def due_config(base_url: str) -> SourceConfig:
    return SourceConfig(**source_config(base_url))


# --- R9 ------------------------------------------------------------------------------------------------------


@dataclass
class Op:
    """One thing that happens on the desk, and the same thing as the canonical event the oracle reads."""

    at: datetime
    ticket_id: int
    kind: str                        # open | priority | follow_up | reply | tags | solve | delete | restore
    notify: bool = True
    value: Any = None


@dataclass
class Truth:
    """A ticket as it really is, for the oracle's events."""

    ticket_id: int
    requester: int
    priority: str
    created: datetime
    status: str = "new"
    restore_to: str = "new"
    tags: tuple[str, ...] = ()
    events: list[Event] = field(default_factory=list)

    def event(self, at: datetime, kind: str, comment: Comment | None = None) -> None:
        self.events.append(Event(
            source="zendesk", account="acme", ticket_id=str(self.ticket_id), type=kind, occurred_at=at,
            event_id=f"truth-{self.ticket_id}-{len(self.events)}", comment=comment,
            ticket=Ticket(status=self.status, priority=self.priority, channel="web",
                          requester=Requester(id=str(self.requester)), tags=self.tags, created_at=self.created)))


def scenario(rng: random.Random, tickets: int) -> list[Op]:
    """Tickets opened over 10 minutes; each then changes within 25 minutes; some changes send no webhook."""
    ops: list[Op] = []
    for n in range(tickets):
        ticket_id = 100 + n
        opened = T0 + timedelta(seconds=20 * n)
        ops.append(Op(opened, ticket_id, "open", value=rng.choice(["urgent", "high", "normal", "low"])))
        if rng.random() < 0.4:  # raised before anyone answered: every clock still runs
            ops.append(Op(opened + timedelta(minutes=rng.randint(1, 4)), ticket_id, "priority",
                          notify=rng.random() > 0.3, value=rng.choice(["urgent", "high"])))
        if rng.random() < 0.3:  # the requester adds something
            ops.append(Op(opened + timedelta(minutes=5), ticket_id, "follow_up", notify=rng.random() > 0.15))
        if rng.random() < 0.6:
            ops.append(Op(opened + timedelta(minutes=rng.randint(6, 14)), ticket_id, "reply",
                          notify=rng.random() > 0.15))
        if rng.random() < 0.3:
            ops.append(Op(opened + timedelta(minutes=15), ticket_id, "tags", notify=rng.random() > 0.5))
        roll = rng.random()
        if roll < 0.3:
            ops.append(Op(opened + timedelta(minutes=rng.randint(16, 25)), ticket_id, "solve",
                          notify=rng.random() > 0.15))
        elif roll < 0.45:  # deleted by mistake; most are restored a few minutes later
            ops.append(Op(opened + timedelta(minutes=16), ticket_id, "delete", notify=rng.random() > 0.2))
            if rng.random() < 0.7:
                ops.append(Op(opened + timedelta(minutes=21), ticket_id, "restore", notify=rng.random() > 0.2))
    return sorted(ops, key=lambda op: (op.at, op.ticket_id))


def happen(desk: ZendeskHistory, truths: dict[int, Truth], op: Op) -> None:
    """Do `op` on the desk (which may send a webhook) and record it as the oracle's event."""
    if op.kind == "open":
        requester = 5000 + op.ticket_id
        truth = truths[op.ticket_id] = Truth(op.ticket_id, requester, op.value, op.at)
        truth.event(op.at, "ticket.created", Comment(author_role="end_user", author_id=str(requester)))
        desk.open_ticket(op.ticket_id, at=op.at, requester_id=requester, priority=op.value, notify=op.notify,
                         subject=f"Order {op.ticket_id} stuck", description="It does not ship")
        return
    truth = truths[op.ticket_id]
    if op.kind == "priority":
        truth.priority = op.value
        desk.change(op.ticket_id, at=op.at, priority=op.value, notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "tags":
        truth.tags = (*desk.fake.tickets[op.ticket_id]["tags"], "vip")
        desk.change(op.ticket_id, at=op.at, tags=list(truth.tags), notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "solve":
        truth.status = "solved"
        desk.change(op.ticket_id, at=op.at, status="solved", notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "delete":
        truth.status, truth.restore_to = "deleted", truth.status
        desk.delete(op.ticket_id, at=op.at, notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "restore":
        truth.status = truth.restore_to
        desk.restore(op.ticket_id, at=op.at, notify=op.notify)
        truth.event(op.at, "ticket.updated")
    elif op.kind == "reply":
        desk.reply(op.ticket_id, at=op.at, user_id=AGENT, notify=op.notify)
        truth.event(op.at, "comment.added", Comment(author_role="agent", author_id=str(AGENT)))
    elif op.kind == "follow_up":
        desk.reply(op.ticket_id, at=op.at, user_id=truth.requester, notify=op.notify)
        truth.event(op.at, "comment.added", Comment(author_role="end_user", author_id=str(truth.requester)))


def expected(book: Rulebook, truth: Truth, now: datetime) -> tuple[set[str], dict[int, str], int]:
    """What the oracle says the desk should show: tags, due-date fields of running clocks, notes written."""
    report = book.evaluate(book.run(truth.events)[("zendesk", "acme", str(truth.ticket_id))], now)
    added = {tag for d in report.actions if d.action == "add_tags" for tag in d.params["tags"]}
    tags = {*truth.tags, *added, *(("sla_connector",) if added else ())}
    dues: dict[int, str] = {}
    for clock in report.clocks:
        if clock.metric in DUE_FIELDS and clock.status in ("running", "breached") and clock.stopped_at is None:
            due = format_instant(clock.due_at)
            assert due is not None
            dues[DUE_FIELDS[clock.metric]] = due
    return tags, dues, sum(1 for d in report.actions if d.action == "add_note")


def mismatches(desk: ZendeskHistory, book: Rulebook, truths: dict[int, Truth], now: datetime) -> list[str]:
    wrong = []
    for ticket_id, truth in truths.items():
        ticket = desk.fake.tickets[ticket_id]
        tags, dues, notes = expected(book, truth, now)
        written = sum(1 for c in ticket["comments"] if not c["public"] and c["author_id"] == API_USER)
        fields = {f["id"]: f["value"] for f in ticket["custom_fields"]}
        if set(ticket["tags"]) != tags:
            wrong.append(f"{ticket_id} tags {sorted(ticket['tags'])} != {sorted(tags)}")
        for field_id, value in dues.items():
            if fields.get(field_id) != value:
                wrong.append(f"{ticket_id} field {field_id} {fields.get(field_id)} != {value}")
        if written != notes:
            wrong.append(f"{ticket_id} notes {written} != {notes}")
    return wrong


def signed(body: bytes) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # Zendesk signs each attempt when it sends it
    return {signing.SIGNATURE_HEADER: signing.sign(SECRET, stamp, body), signing.TIMESTAMP_HEADER: stamp,
            "content-type": "application/json", "user-agent": "Zendesk Webhook"}


def test_r9_one_reconciliation_sweep_recovers_what_the_webhooks_lost(store: Store, zendesk_history: ZendeskHistory,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(20260302)
    clock = SimClock()
    desk = zendesk_history
    desk.drop_rate, desk.rng = 0.10, random.Random(11)
    desk.fake.clock, desk.fake.clock_seconds, desk.fake.api_user_id = clock.now, clock.seconds, API_USER
    desk.add_user(AGENT, "agent")
    desk.add_user(API_USER, "admin")
    cfg = rules_config(desk.base_url)
    settings = Settings.from_env({"ZENDESK_WEBHOOK_SECRET": SECRET}, database_url=store.url)
    api = client_for(desk.fake)
    adapter = ZendeskAdapter([SECRET], account="acme", api=api, own_user_ids=[str(API_USER)])
    writer = ZendeskWriter(client_for(desk.fake), due_config(desk.base_url))
    app = create_app(settings, store=store, config=cfg, adapters={"zendesk": adapter}, clock=clock.now)
    processor = TicketProcessor(store, cfg, {"zendesk": writer}, clock=clock.now)
    worker = Worker(store, processor, {"zendesk": adapter}, clock=clock.now)
    executor = Executor(store, {"zendesk": writer}, clock=clock.now)
    web = app.test_client()

    truths: dict[int, Truth] = {}
    missed: set[int] = set()  # tickets with a change the webhook path never saw (dropped or silent)
    for op in scenario(rng, 30):
        clock.at(op.at)
        dropped = desk.dropped
        happen(desk, truths, op)
        if not op.notify or desk.dropped > dropped:
            missed.add(op.ticket_id)
        for body in desk.take_webhooks():
            answer = web.post("/hooks/zendesk", data=body, headers=signed(body))
            assert answer.status_code == 202, answer.get_json()
        worker.run_once(limit=100)
        executor.run_once(limit=100)
    with store.read() as conn:
        failed = conn.execute(select(inbox.c.error).where(inbox.c.state != "done")).scalars().all()
    assert failed == [] and store.outbox_rows(states=["dead"], limit=1000) == []

    book = Rulebook(cfg)
    end = T0 + timedelta(hours=6)
    sweep_at = T0 + timedelta(minutes=45)
    clock.at(sweep_at)
    before = len(mismatches(desk, book, truths, sweep_at))
    calls, rows = len(desk.fake.calls), outbox_keys(store)
    reconciler = Reconciler(store, processor, client_for(desk.fake), account="acme", start=T0 - timedelta(minutes=1),
                            own_user_ids=[str(API_USER)], sleep=lambda s: None)
    caplog.clear()
    result = reconciler.run_once()  # the ONE sweep
    skipped = [r for r in caplog.records if r.getMessage() == "ticket skipped by reconciliation"]
    executor.run_once(limit=500)
    swept = {k.split(":")[2] for k in outbox_keys(store) - rows}
    touched = {str(c.ticket_id) for c in desk.fake.calls[calls:] if c.method != "GET" and c.ticket_id is not None}
    clock.at(end)
    Sweeper(store, processor, clock=clock.now).sweep()  # the escalations that came due meanwhile
    while executor.run_once(limit=500):
        pass
    wrong = mismatches(desk, book, truths, end)
    handled = {str(t) for t in set(truths) - missed}
    duplicates = (swept | touched) & handled
    notes = Counter((ticket_id, c["body"]) for ticket_id, t in desk.fake.tickets.items() for c in t["comments"]
                    if c["author_id"] == API_USER)
    deleted = sum(1 for t in truths.values() for e in t.events if e.ticket.status == "deleted")
    ok = not wrong and not duplicates and max(notes.values(), default=1) == 1 and not skipped
    print(f"\nR9 zendesk tickets={len(truths)} dropped={desk.dropped} silent_or_dropped={len(missed)} "
          f"deletions={deleted} wrong_before_sweep={before} recovered_events={result.applied} "
          f"wrong_after={len(wrong)} dup_effects={len(duplicates)} skipped={len(skipped)} {'PASS' if ok else 'FAIL'}")
    assert before > 0 and result.applied > 0  # the webhooks alone were not enough: the test discriminates
    assert deleted > 0 and skipped == []      # deleted (and restored) tickets are reconciled, not skipped
    assert wrong == []
    assert duplicates == set(), sorted(duplicates)
    assert max(notes.values(), default=1) == 1




# --- R10 -----------------------------------------------------------------------------------------------------

CLIENT_TIMEOUT = 0.25   # read timeout of the client, seconds
HANG = 0.45             # how long a hanging call takes to answer: past the client's timeout
MAX_ATTEMPTS = 6






def refetched_after_each_409(calls: list[Any]) -> tuple[int, int]:
    """Count the 409s, and those whose ticket's next call was not a GET of that ticket (a blind retry)."""
    conflicts = blind = 0
    by_ticket: dict[int, list[Any]] = {}
    for call in calls:
        if call.ticket_id is not None:
            by_ticket.setdefault(call.ticket_id, []).append(call)
    for ticket_id, own in by_ticket.items():
        for index, call in enumerate(own):
            if call.status != 409:
                continue
            conflicts += 1
            following = own[index + 1] if index + 1 < len(own) else None
            if following is not None and (following.method, following.path) != (
                    "GET", f"/api/v2/tickets/{ticket_id}.json"):
                blind += 1
    return conflicts, blind


def test_r10_write_back_under_vendor_errors(store: Store, zendesk_history: ZendeskHistory) -> None:
    rng = random.Random(1010)
    clock = SimClock()
    fake = zendesk_history.fake
    fake.clock, fake.clock_seconds, fake.hang_seconds = clock.now, clock.seconds, HANG
    cfg = config(priority_map=PRIORITIES, sources={"zendesk": source_config(fake.base_url)},
                 escalations=[{"name": "warn", "when": {"metric": "first_response", "at": "50%"},
                               "actions": [{"add_tags": ["sla_warning"]}, {"add_note": "Reply due {due_at}"}]}])
    session = TimedSession()
    client = client_for(fake, timeout=CLIENT_TIMEOUT, session=session, clock=clock.seconds)
    writer = ZendeskWriter(client, due_config(fake.base_url))
    processor = TicketProcessor(store, cfg, {"zendesk": writer}, clock=clock.now)
    for n in range(25):  # P1 tickets, 40 minutes old: two due dates, a tag and a note each
        ticket_id = 200 + n
        fake.add_ticket(ticket_id, priority="urgent", created_at=format_instant(T0), updated_at=format_instant(T0),
                        requester_id=7000 + n)
        clock.at(T0 + timedelta(minutes=40))
        processor.apply_event(Event(
            source="zendesk", account="acme", ticket_id=str(ticket_id), type="ticket.created", occurred_at=T0,
            event_id=f"zd:{ticket_id}:created", ticket=Ticket(status="open", priority="urgent", created_at=T0)))
    actions = {row.key: row for row in store.outbox_rows(states=["pending"], limit=1000)}
    assert len(actions) == 100 and Counter(r.action for r in actions.values()) == {
        "set_due_date": 50, "add_tags": 25, "add_note": 25}
    fake.write_faults(fault_plan(rng, 200))
    executor = Executor(store, {"zendesk": writer}, clock=clock.now, max_attempts=MAX_ATTEMPTS,
                        backoff=Backoff(base=2.0, cap=60.0, rng=random.Random(5)))

    rows, dead = drain_outbox(store, executor, clock, writer)
    states = Counter(row.state for row in rows.values())
    conflicts, blind = refetched_after_each_409(fake.calls)
    untimed = untimed_requests(session)
    answered = Counter(c.status for c in fake.calls)
    most = max(r.attempts for r in rows.values())
    ok = (set(states) <= {"done", "skipped", "dead"} and len(dead) == states["dead"] and fake.early_calls == 0
          and not untimed and blind == 0 and most <= MAX_ATTEMPTS)
    print(f"\nR10 zendesk actions={len(rows)} applied={states['done'] + states['skipped']} dead={states['dead']} "
          f"calls={len(fake.calls)} 429={answered[429]} 503={answered[503]} 409={conflicts} hangs={fake.hangs} "
          f"lost={fake.lost} "
          f"refetched_409={conflicts - blind}/{conflicts} early_calls={fake.early_calls} "
          f"untimed_calls={len(untimed)} max_attempts={most}/{MAX_ATTEMPTS} {'PASS' if ok else 'FAIL'}")
    assert set(rows) == set(actions) and set(states) <= {"done", "skipped", "dead"}
    assert all(reason for reason in dead.values()) and len(dead) == states["dead"]
    assert answered[429] >= 10 and answered[503] >= 5 and conflicts  # every fault happened
    assert fake.hangs >= 1 and fake.lost >= 1
    assert fake.early_calls == 0
    assert untimed == [] and len(session.timeouts) == len(fake.calls)
    assert blind == 0  # every 409 is followed by a re-fetch of that ticket before it is written again
    assert all(row.attempts <= MAX_ATTEMPTS for row in rows.values())
    # what was applied is on the desk, once
    for row in rows.values():
        if row.action == "add_note" and row.state in ("done", "skipped"):  # a lost answer: skipped on its retry
            ticket = fake.tickets[int(row.ticket_id)]
            assert sum(1 for c in ticket["comments"] if c["body"].startswith("Reply due")) == 1
        if row.state != "done":
            continue
        ticket = fake.tickets[int(row.ticket_id)]
        if row.action == "set_due_date":
            fields = {f["id"]: f["value"] for f in ticket["custom_fields"]}
            assert fields[DUE_FIELDS[row.params["metric"]]] == row.params["due_at"]
        elif row.action == "add_tags":
            assert "sla_warning" in ticket["tags"]
        elif row.action == "add_note":
            assert sum(1 for c in ticket["comments"] if c["body"].startswith("Reply due")) == 1
