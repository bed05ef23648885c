"""Inbox → worker → clocks, decisions and outbox → executor → help desk; scheduler sweeps.

Every test runs on SQLite and on PostgreSQL (the `store` fixture). Outbound HTTP goes to `responses`.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from adapters.webhook import WebhookAdapter, WebhookWriter
from connector.errors import PayloadError
from connector.events import event_to_dict
from connector.rules.engine import Rulebook
from connector.runtime.history import apply_events
from connector.runtime.outbox import Backoff, Executor
from connector.runtime.scheduler import Sweeper
from connector.runtime.worker import TicketProcessor, Worker
from connector.store.schema import board, clocks, dead_letters, decisions, events, inbox, outbox, tickets
from tests.helpers import AGENT, CUSTOMER, config, event, utc

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CALLBACK = "https://hooks.example.test/sla"
ESCALATIONS = [
    {"name": "warn", "when": {"metric": "first_response", "at": "75%"}, "actions": [{"add_tags": ["sla_warning"]}]},
    {"name": "breach", "when": {"metric": "first_response", "breached": True},
     "actions": [{"add_tags": ["sla_breached"]}, {"add_note": "First response was due {due_at}"}]},
]


class FrozenClock:
    def __init__(self, at: str) -> None:
        self.now = utc(at)

    def __call__(self) -> datetime:
        return self.now


def webhook_event(at: str, *, source: str = "webhook", **kw):
    return event(at, source=source, **kw)


def count(store, table, *where) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def deliver(store, *evs, key: str | None = None) -> int:
    body = json.dumps([event_to_dict(e) for e in evs]).encode()
    row_id, _ = store.insert_inbox(source="webhook", dedupe_key=key or evs[0].event_id, body=body, headers={},
                                   received_at=evs[-1].occurred_at, dedupe_window=timedelta(0))
    return row_id


def parts(store, *, clock, writer=None, cfg=None):
    cfg = cfg or config(escalations=ESCALATIONS, sources={"webhook": {"callback_url": CALLBACK}},
                        priority_map={"webhook": {"urgent": "P1", "normal": "P3"}})
    writers = {"webhook": writer}
    processor = TicketProcessor(store, cfg, writers, clock=clock)
    worker = Worker(store, processor, {"webhook": WebhookAdapter([SECRET])}, clock=clock, name="w1")
    return cfg, processor, worker


def created(at="2026-03-02 10:00", **kw):
    return webhook_event(at, type="ticket.created", status="new", created=at, **kw)


def test_worker_turns_a_delivery_into_state_clocks_decisions_and_dry_run_actions(store):
    clock = FrozenClock("2026-03-02 10:05")
    _, processor, worker = parts(store, clock=clock)  # no writer: actions are recorded as dry-run
    deliver(store, created(event_id="e1"))
    assert worker.run_once() == 1
    assert count(store, inbox, inbox.c.state == "done") == 1
    assert count(store, events) == 1 and count(store, tickets) == 1 and count(store, decisions) == 1
    with store.read() as conn:
        rows = conn.execute(select(clocks.c.metric, clocks.c.status, clocks.c.due_at)).all()
        actions = conn.execute(select(outbox.c.action, outbox.c.state, outbox.c.params)).all()
        next_check = conn.execute(select(tickets.c.next_check_at)).scalar_one()
    assert sorted((r.metric, r.status) for r in rows) == [("first_response", "running"), ("resolution", "running")]
    assert {(a.action, a.state) for a in actions} == {("set_due_date", "dry_run")}
    assert {a.params["metric"]: a.params["due_at"] for a in actions} == {
        "first_response": "2026-03-02T14:00:00Z", "resolution": "2026-03-10T10:00:00Z"}
    assert next_check == utc("2026-03-02 13:00")  # the 75 % warning on first response
    report = processor.report(("webhook", "acme", "1"))
    assert report is not None and report.severity.classified == "P3"


def test_a_repeated_event_in_another_delivery_decides_nothing_new(store):
    clock = FrozenClock("2026-03-02 10:05")
    _, _, worker = parts(store, clock=clock)
    first = created(event_id="e1")
    deliver(store, first, key="d1")
    worker.run_once()
    before = count(store, outbox)
    deliver(store, first, key="d2")
    worker.run_once()
    assert count(store, events) == 1 and count(store, outbox) == before and count(store, decisions) == 1


def test_the_echo_of_our_own_write_back_decides_nothing_new(store):
    clock = FrozenClock("2026-03-02 15:00")
    _, _, worker = parts(store, clock=clock)
    deliver(store, created(event_id="e1"))
    worker.run_once()
    keys = count(store, outbox)
    # the help desk sends back the ticket with the tags the connector added
    echo = webhook_event("2026-03-02 15:00:05", status="new", tags=("sla_warning", "sla_breached"), event_id="e2")
    deliver(store, echo)
    worker.run_once()
    assert count(store, outbox) == keys


def test_out_of_order_events_rebuild_the_ticket_from_its_history(store):
    clock = FrozenClock("2026-03-03 12:00")
    cfg, processor, worker = parts(store, clock=clock)
    evs = [created(event_id="e1"), webhook_event("2026-03-02 11:00", type="comment.added", comment=AGENT,
                                                 event_id="e2"),
           webhook_event("2026-03-02 12:00", status="pending", event_id="e3"),
           webhook_event("2026-03-02 15:00", type="comment.added", comment=CUSTOMER, status="open", event_id="e4")]
    for e in (evs[0], evs[3], evs[1], evs[2]):  # e4 arrives before e2 and e3
        deliver(store, e)
        worker.run_once()
    book = Rulebook(cfg)
    expected = book.evaluate(book.run(evs)[("webhook", "acme", "1")], clock())
    assert processor.report(("webhook", "acme", "1"), clock()) == expected


def test_a_delivery_that_cannot_be_normalized_is_kept_as_failed(store):
    clock = FrozenClock("2026-03-02 10:05")
    _, _, worker = parts(store, clock=clock)
    store.insert_inbox(source="webhook", dedupe_key="bad", body=b"{not json", headers={}, received_at=clock(),
                       dedupe_window=timedelta(0))
    worker.run_once()
    with store.read() as conn:
        row = conn.execute(select(inbox.c.state, inbox.c.error, inbox.c.body)).one()
    assert row.state == "failed" and row.error.startswith("payload:") and bytes(row.body) == b"{not json"


def test_an_expired_lease_is_claimed_again(store):
    clock = FrozenClock("2026-03-02 10:05")
    deliver(store, created(event_id="e1"))
    assert len(store.claim_inbox("crashed", now=clock())) == 1
    assert store.claim_inbox("other", now=clock()) == []
    assert len(store.claim_inbox("other", now=clock() + timedelta(minutes=6))) == 1


# --- the executor ----------------------------------------------------------------------------------


def pending_actions(store, clock, writer, *evs):
    _, _, worker = parts(store, clock=clock, writer=writer)
    for e in evs:
        deliver(store, e)
    worker.run_once()


@responses.activate
def test_executor_sends_each_action_once_signed(store):
    clock = FrozenClock("2026-03-02 15:00")
    writer = WebhookWriter(CALLBACK, SECRET, clock=lambda: clock().timestamp())
    pending_actions(store, clock, writer, created(event_id="e1"))
    responses.add(responses.POST, CALLBACK, status=204)
    executor = Executor(store, {"webhook": writer}, clock=clock)
    sent = executor.run_once()
    assert sent == count(store, outbox) and sent >= 4  # due dates, warning, breach tag and note
    assert len(responses.calls) == sent
    assert count(store, outbox, outbox.c.state == "done") == sent
    assert executor.run_once() == 0 and len(responses.calls) == sent
    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert {b["data"]["action"] for b in bodies} == {"set_due_date", "add_tags", "add_note"}
    assert all(c.request.headers["webhook-signature"].startswith("v1,") for c in responses.calls)


@responses.activate
def test_executor_honours_retry_after_and_backs_off_then_dead_letters(store):
    clock = FrozenClock("2026-03-02 10:05")
    writer = WebhookWriter(CALLBACK, SECRET, clock=lambda: clock().timestamp())
    pending_actions(store, clock, writer, created(event_id="e1"))
    executor = Executor(store, {"webhook": writer}, clock=clock, max_attempts=3,
                        backoff=Backoff(base=10, cap=100))
    responses.add(responses.POST, CALLBACK, status=429, headers={"Retry-After": "120"})
    executor.run_once()
    rows = store.outbox_rows()
    assert all(r.state == "pending" and r.next_try_at == clock() + timedelta(seconds=120) for r in rows)
    assert all("transient" in (r.last_error or "") for r in rows)
    responses.replace(responses.POST, CALLBACK, status=500)
    clock.now += timedelta(seconds=121)
    executor.run_once()
    rows = store.outbox_rows()
    waits = [(r.next_try_at - clock()).total_seconds() for r in rows]
    assert all(10 <= w <= 20 for w in waits)  # base 10 × 2^(2−1) × jitter in [0.5, 1]
    clock.now += timedelta(seconds=30)
    executor.run_once()  # third try fails: max_attempts reached
    assert all(r.state == "dead" for r in store.outbox_rows())
    assert count(store, dead_letters) == len(rows)


@responses.activate
def test_permanent_errors_dead_letter_at_once_and_can_be_retried(store):
    clock = FrozenClock("2026-03-02 10:05")
    writer = WebhookWriter(CALLBACK, SECRET, clock=lambda: clock().timestamp())
    pending_actions(store, clock, writer, created(event_id="e1"))
    executor = Executor(store, {"webhook": writer}, clock=clock)
    responses.add(responses.POST, CALLBACK, status=410)
    executor.run_once()
    dead = store.outbox_rows(states=["dead"])
    assert dead and count(store, dead_letters) == len(dead)
    assert "gone" in (dead[0].last_error or "")
    assert store.outbox_requeue([r.id for r in dead], now=clock()) == len(dead)
    assert count(store, dead_letters) == 0
    responses.replace(responses.POST, CALLBACK, status=200)
    assert executor.run_once() == len(dead)
    assert count(store, outbox, outbox.c.state == "done") == len(dead)
    assert store.outbox_drop([dead[0].id], now=clock()) == 0  # done actions are not dropped


@responses.activate
def test_a_superseded_due_date_is_skipped(store):
    clock = FrozenClock("2026-03-02 10:05")
    writer = WebhookWriter(CALLBACK, SECRET, clock=lambda: clock().timestamp())
    pending_actions(store, clock, writer, created(event_id="e1"),
                    webhook_event("2026-03-02 10:01", priority="urgent", event_id="e2"))
    responses.add(responses.POST, CALLBACK, status=200)
    Executor(store, {"webhook": writer}, clock=clock).run_once()
    with store.read() as conn:
        rows = conn.execute(select(outbox.c.params, outbox.c.state).where(outbox.c.action == "set_due_date")
                            .order_by(outbox.c.id)).all()
    states = {(r.params["metric"], r.params["due_at"]): r.state for r in rows}
    assert states[("first_response", "2026-03-02T14:00:00Z")] == "skipped"  # P3 due, replaced by P1's
    assert states[("first_response", "2026-03-02T11:00:00Z")] == "done"


# --- the scheduler ---------------------------------------------------------------------------------


def test_sweeps_enqueue_each_escalation_exactly_once(store):
    clock = FrozenClock("2026-03-02 10:05")
    _, processor, worker = parts(store, clock=clock)
    deliver(store, created(event_id="e1"))
    worker.run_once()
    sweeper = Sweeper(store, processor, clock=clock)
    assert sweeper.sweep() == 0  # nothing due yet
    clock.now = utc("2026-03-02 13:00")
    assert sweeper.sweep() == 1
    with store.read() as conn:
        causes = sorted(conn.execute(select(outbox.c.cause).where(outbox.c.cause != "due_date")).scalars())
        next_check = conn.execute(select(tickets.c.next_check_at)).scalar_one()
    assert causes == ["warn"] and next_check == utc("2026-03-02 14:00:01")
    assert sweeper.sweep() == 0
    clock.now = utc("2026-03-02 14:30")
    assert sweeper.sweep() == 1
    assert sweeper.sweep() == 0
    with store.read() as conn:
        causes = sorted(conn.execute(select(outbox.c.cause).where(outbox.c.cause != "due_date")).scalars())
        breached = conn.execute(select(clocks.c.status).where(clocks.c.metric == "first_response")).scalar_one()
    assert causes == ["breach", "breach", "warn"] and breached == "breached"


def test_two_schedulers_at_once_still_enqueue_once(store):
    clock = FrozenClock("2026-03-02 10:05")
    _, processor, worker = parts(store, clock=clock)
    for n in range(1, 21):
        deliver(store, created(event_id=f"e{n}", ticket_id=str(n)))
    worker.run_once()
    clock.now = utc("2026-03-02 14:30")
    sweepers = [Sweeper(store, TicketProcessor(store, processor.config, {}, clock=clock), clock=clock)
                for _ in range(2)]
    threads = [threading.Thread(target=s.sweep) for s in sweepers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(store, outbox, outbox.c.cause == "warn") == 20
    assert count(store, outbox, outbox.c.cause == "breach") == 40  # two actions per ticket


@pytest.mark.postgres
def test_concurrent_workers_never_interleave_one_ticket(postgres_url):
    from connector.store import Store

    store = Store(postgres_url)
    store.upgrade()
    clock = FrozenClock("2026-03-05 12:00")
    cfg, _, _ = parts(store, clock=clock)
    evs = [created(event_id="e0")]
    at = utc("2026-03-02 10:00")
    for n in range(1, 60):
        at += timedelta(minutes=7)
        kind = [dict(type="comment.added", comment=AGENT), dict(type="comment.added", comment=CUSTOMER),
                dict(status="pending"), dict(status="open")][n % 4]
        evs.append(webhook_event(at.isoformat(), event_id=f"e{n}", **kind))
    for e in evs:
        deliver(store, e)
    workers = [Worker(store, TicketProcessor(store, cfg, {}, clock=clock), {"webhook": WebhookAdapter([SECRET])},
                      clock=clock, name=f"w{i}") for i in range(4)]

    def drain(w: Worker) -> None:
        while w.run_once(limit=3):
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(store, inbox, inbox.c.state == "done") == len(evs)
    book = Rulebook(cfg)
    expected = book.evaluate(book.run(evs)[("webhook", "acme", "1")], clock())
    assert TicketProcessor(store, cfg, {}, clock=clock).report(("webhook", "acme", "1"), clock()) == expected
    store.dispose()


def test_stats_count_queues_and_breaches(store):
    clock = FrozenClock("2026-03-02 15:00")
    _, _, worker = parts(store, clock=clock)
    deliver(store, created(event_id="e1"))
    deliver(store, created(event_id="e2", ticket_id="2"))
    stats = store.stats(now=clock())
    assert stats["inbox_depth"] == {"webhook": 2}
    assert stats["inbox_oldest_age_seconds"] == 5 * 3600
    worker.run_once()
    stats = store.stats(now=clock())
    assert stats["inbox_depth"] == {} and stats["breaches"] == {"P3": 2}
    assert stats["outbox"][("webhook", "dry_run")] == count(store, outbox)


def test_timestamps_come_back_aware_utc(store):
    deliver(store, created(event_id="e1"))
    with store.read() as conn:
        received = conn.execute(select(inbox.c.received_at)).scalar_one()
    assert received == datetime(2026, 3, 2, 10, tzinfo=UTC) and received.tzinfo is not None


def test_a_late_webhook_for_a_comment_the_reconciler_already_applied_adds_nothing(store):
    clock = FrozenClock("2026-03-02 12:30")
    _, processor, _ = parts(store, clock=clock)
    processor.apply_event(created(event_id="audit:1"))
    polled = webhook_event("2026-03-02 11:00:00", type="comment.added", comment=AGENT, event_id="audit:2:comment:9")
    processor.apply_event(polled)
    actions = count(store, outbox)
    late = webhook_event("2026-03-02 11:00:01", type="comment.added", comment=AGENT, event_id="zen-evt-55")
    assert processor.apply_event(late) == []
    assert count(store, outbox) == actions
    report = processor.report(("webhook", "acme", "1"), clock())
    assert report is not None and [c.cycle for c in report.clocks if c.metric == "periodic_update"] == [1]


def _everything(store) -> dict[str, list[tuple]]:
    """What the worker wrote, without ids (the clock and board rows whole: the clock is frozen)."""
    with store.read() as conn:
        return {
            "events": sorted(conn.execute(select(events.c.ticket_id, events.c.event_id, events.c.inbox_id)).all()),
            "tickets": sorted(conn.execute(select(tickets.c.ticket_id, tickets.c.state, tickets.c.next_check_at,
                                                  tickets.c.severity, tickets.c.policy)).all(), key=repr),
            "clocks": sorted(conn.execute(select(*(c for c in clocks.c if c.name != "id"))).all(), key=repr),
            "board": sorted(conn.execute(select(board)).all(), key=repr),
            "decisions": sorted(conn.execute(select(decisions.c.event_id, decisions.c.severity,
                                                    decisions.c.summary)).all(), key=repr),
            "outbox": sorted(conn.execute(select(outbox.c.key, outbox.c.action, outbox.c.params,
                                                 outbox.c.state)).all(), key=repr),
            "inbox": sorted(conn.execute(select(inbox.c.id, inbox.c.state, inbox.c.error)).all()),
        }


def test_a_batch_writes_exactly_what_one_event_at_a_time_writes(store, tmp_path):
    """Issue 14: the batched path (one transaction per claimed batch) is the per-event path with fewer commits:
    the same events, states, clocks, decisions, actions and finished deliveries, hot tickets included."""
    from connector.store import Store

    other = Store(f"sqlite:///{tmp_path / 'one-at-a-time.db'}")
    other.upgrade()
    at = utc("2026-03-02 10:00")
    evs = []
    for n in range(90):  # 3 hot tickets and 12 cold ones, events interleaved, a delivery of three events too
        ticket = str(n % 3) if n % 2 else str(3 + n % 12)
        kind = [dict(type="comment.added", comment=AGENT), dict(type="comment.added", comment=CUSTOMER),
                dict(status="pending"), dict(status="open")][n % 4]
        at += timedelta(minutes=3)
        evs.append(webhook_event(at.isoformat(), ticket_id=ticket, event_id=f"e{n}", **kind))
    created_first = [created(ticket_id=str(t), event_id=f"c{t}") for t in range(15)]
    for target in (store, other):
        for e in created_first:
            deliver(target, e)
        deliver(target, *evs[:3], key="three-in-one")
        for e in evs[3:]:
            deliver(target, e)
        # late arrivals: a ticket rebuilt from its history in the middle of a batch, and a repeat
        deliver(target, webhook_event("2026-03-02 10:01", ticket_id="1", event_id="late", type="comment.added",
                                      comment=AGENT))
        deliver(target, evs[10], key="repeat-of-e10")
    clock = FrozenClock("2026-03-02 16:00")
    _, _, batched = parts(store, clock=clock)
    _, _, single = parts(other, clock=clock)
    single.batch = False

    def fell_back(*_args: object) -> None:
        pytest.fail("the batch fell back to one delivery at a time: the batched path itself was not compared")

    batched.process = fell_back  # type: ignore[method-assign]
    while batched.run_once(limit=25):
        pass
    while single.run_once(limit=25):
        pass
    mine, theirs = _everything(store), _everything(other)
    assert all(state == "done" for _, state, _ in mine["inbox"])
    assert len(mine["events"]) == 106 and mine == theirs
    other.dispose()


class _SlowApiAdapter:
    """The webhook adapter, except that each normalization waits on an "API": the worker must run several of
    them at once (three wait on one barrier; one at a time, the barrier breaks and they fail)."""

    source = "webhook"
    waits_on_api = True

    def __init__(self, parties: int) -> None:
        self.inner = WebhookAdapter([SECRET])
        self.barrier = threading.Barrier(parties)
        self.threads: set[str] = set()

    def normalize(self, body, headers, received_at):  # noqa: ANN001, ANN201
        self.threads.add(threading.current_thread().name)
        if b'"bad"' in body:
            raise PayloadError("ticket bad: the API says no such ticket")
        self.barrier.wait(timeout=10)
        return self.inner.normalize(body, headers, received_at)


def test_deliveries_that_wait_on_an_api_are_normalized_together_and_one_bad_one_fails_alone(store):
    """Issue 14: a Freshdesk reply costs the worker two API calls; a batch's such deliveries are normalized
    several at a time (not one round trip after another), their effects still applied in inbox order."""
    clock = FrozenClock("2026-03-02 10:05")
    _, _, worker = parts(store, clock=clock)
    adapter = _SlowApiAdapter(parties=3)
    worker.adapters = {"webhook": adapter}
    ids = [deliver(store, created(ticket_id="t1", event_id="e1")),
           deliver(store, webhook_event("2026-03-02 10:01", ticket_id="t1", event_id="e2", type="comment.added",
                                        comment=AGENT)),
           deliver(store, created(ticket_id="bad", event_id="e3")),
           deliver(store, created(ticket_id="t2", event_id="e4"))]
    assert worker.run_once() == 4
    with store.read() as conn:
        rows = conn.execute(select(inbox.c.id, inbox.c.state, inbox.c.error).order_by(inbox.c.id)).all()
        stored = conn.execute(select(events.c.event_id).order_by(events.c.id)).scalars().all()
    assert [(r.id, r.state) for r in rows] == [(ids[0], "done"), (ids[1], "done"), (ids[2], "failed"),
                                               (ids[3], "done")]
    assert rows[2].error == "payload: ticket bad: the API says no such ticket"
    assert stored == ["e1", "e2", "e4"]  # in inbox order
    assert all(name.startswith("normalize") for name in adapter.threads) and len(adapter.threads) >= 3


class _BeforeApply:
    """A rulebook that calls `before(event)` ahead of applying each event (the rulebook has slots)."""

    def __init__(self, book: Rulebook, before) -> None:  # noqa: ANN001
        self._book = book
        self._before = before

    def apply(self, state, event, **kw):  # noqa: ANN001, ANN201
        self._before(event)
        return self._book.apply(state, event, **kw)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._book, name)


def test_the_door_writes_while_a_batch_computes_its_rules(store):
    """Issue 14, SQLite: a batch computes before it takes the write lock, so a webhook arriving meanwhile is
    stored at once (it waited out the whole batch before: 117 deliveries/s at the door while a worker drained,
    bench_ingest)."""
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL's inserts never wait for a batch")
    clock = FrozenClock("2026-03-02 11:00")
    _, processor, worker = parts(store, clock=clock)
    for n in range(3):
        deliver(store, created(ticket_id=f"T{n}", event_id=f"c{n}"))
    stored_meanwhile: list[int] = []

    def the_door_writes(_event) -> None:  # noqa: ANN001
        if not stored_meanwhile:  # the door's insert: a write transaction of its own, in the batch's middle
            stored_meanwhile.append(deliver(store, created(ticket_id="T9", event_id="door")))

    processor.book = _BeforeApply(processor.book, the_door_writes)
    assert worker.run_once() == 3
    assert stored_meanwhile and count(store, inbox, inbox.c.state == "done") == 3
    assert count(store, inbox, inbox.c.state == "pending") == 1  # the door's delivery, for the next claim


def test_a_ticket_that_changed_while_its_batch_computed_is_done_again_under_the_lock(store):
    """Issue 14, SQLite: if another writer (the scheduler, a reconciliation) changes one of the batch's tickets
    between the batch's reading and its writing, nothing the batch computed is written: it is done again,
    holding the lock, from what the ticket holds now. No decision or action is written twice. (On PostgreSQL
    the batch holds its tickets' locks from the start: another writer waits, as the scale-out checks.)"""
    if store.dialect != "sqlite":
        pytest.skip("a PostgreSQL batch holds its tickets' advisory locks from its start")
    clock = FrozenClock("2026-03-02 11:00")
    _, processor, worker = parts(store, clock=clock)
    deliver(store, created(ticket_id="T1", event_id="c1"))
    assert worker.run_once() == 1
    deliver(store, webhook_event("2026-03-02 10:20", ticket_id="T1", event_id="reply", type="comment.added",
                                 comment=AGENT))
    deliver(store, webhook_event("2026-03-02 10:30", ticket_id="T2", event_id="c2", type="ticket.created",
                                 status="new", created="2026-03-02 10:30"))
    attempts: list[str] = []

    def another_writer_changes_t1(event) -> None:  # noqa: ANN001
        attempts.append(event.event_id)
        if len(attempts) == 1:  # the sideline writer: a customer comment on T1, in a transaction of its own
            processor.apply_event(webhook_event("2026-03-02 10:10", ticket_id="T1", event_id="side",
                                                type="comment.added", comment=CUSTOMER))

    processor.book = _BeforeApply(processor.book, another_writer_changes_t1)
    assert worker.run_once() == 2
    # computed (the sideline writer changing T1 meanwhile), thrown away, and computed again under the lock
    assert attempts == ["reply", "side", "c2", "reply", "c2"]
    assert count(store, events) == 4 and count(store, inbox, inbox.c.state == "done") == 3
    assert count(store, decisions) == 4  # one per event applied: none from the computation thrown away
    with store.read() as conn:
        version = conn.execute(select(tickets.c.version).where(tickets.c.ticket_id == "T1")).scalar_one()
    assert version == 3  # created, the sideline comment, the reply: each saved once
    state = processor.report(("webhook", "acme", "T1"))
    assert state is not None
    replayed = Rulebook(processor.config).run(store.ticket_events(("webhook", "acme", "T1")))
    assert state == processor.book.evaluate(next(iter(replayed.values())), clock().replace(microsecond=0))


KINDS = [dict(type="comment.added", comment=AGENT), dict(type="comment.added", comment=CUSTOMER),
         dict(status="pending"), dict(status="open")]


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory):
    """An empty migrated SQLite store's file, copied by each example (migrating costs a second each)."""
    from connector.store import Store

    path = tmp_path_factory.mktemp("migrated") / "template.db"
    template = Store(f"sqlite:///{path}")
    template.upgrade()
    template.dispose()
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(main=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=2, max_size=12),
       sideline=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(1, 60)), min_size=1, max_size=4),
       when=st.integers(0, 11))
def test_any_writer_between_an_optimistic_batchs_reading_and_writing_leaves_what_replay_gives(migrated_sqlite, main,
                                                                                            sideline, when):
    """Issue 14, SQLite: whatever another writer does to the batch's tickets while it computes (events before or
    after the batch's own, on its tickets or others), the store ends as replaying every stored event gives,
    each event applied and decided once."""
    import shutil
    import tempfile

    from connector.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(migrated_sqlite, f"{tmp}/optimistic.db")
        store = Store(f"sqlite:///{tmp}/optimistic.db")
        clock = FrozenClock("2026-03-02 16:00")
        _, processor, worker = parts(store, clock=clock)
        for t in range(3):
            deliver(store, created(ticket_id=f"T{t}", event_id=f"c{t}"))
        while worker.run_once():
            pass
        for n, (t, kind) in enumerate(main):
            at = (utc("2026-03-02 10:00") + timedelta(minutes=3 * (n + 1))).isoformat()
            deliver(store, webhook_event(at, ticket_id=f"T{t}", event_id=f"m{n}", **KINDS[kind]))
        calls: list[int] = []

        def another_writer(_event) -> None:  # noqa: ANN001
            calls.append(1)
            if len(calls) == min(when, len(main) - 1) + 1:
                for n, (t, kind, minute) in enumerate(sideline):
                    at = (utc("2026-03-02 10:00") + timedelta(minutes=minute)).isoformat()
                    processor.apply_event(webhook_event(at, ticket_id=f"T{t}", event_id=f"s{n}", **KINDS[kind]))

        processor.book = _BeforeApply(processor.book, another_writer)
        while worker.run_once():
            pass
        processor.book = processor.book._book
        assert count(store, events) == 3 + len(main) + len(sideline) == count(store, decisions)
        assert count(store, inbox, inbox.c.state != "done") == 0
        now = clock().replace(microsecond=0)
        for t in range(3):
            key = ("webhook", "acme", f"T{t}")
            replayed = Rulebook(processor.config).run(store.ticket_events(key))
            assert processor.report(key, now) == processor.book.evaluate(replayed[key], now)
        store.dispose()


def _reused_per_batch(monkeypatch) -> list[set[str]]:  # noqa: ANN001
    """Record, for each batch, the tickets whose decoded state it took from the worker instead of the store."""
    from connector.store.store import BatchTx

    seen: list[set[str]] = []
    preload = BatchTx.preload

    def spying(self, batch_events, decoded=None):  # noqa: ANN001, ANN202
        preload(self, batch_events, decoded)
        seen.append({key[2] for key in self.reused})

    monkeypatch.setattr(BatchTx, "preload", spying)
    return seen


def _as_replay_gives(store, processor, ticket: str, now) -> bool:  # noqa: ANN001
    key = ("webhook", "acme", ticket)
    replayed = Rulebook(processor.config).run(store.ticket_events(key))
    return processor.report(key, now) == processor.book.evaluate(replayed[key], now)


def test_a_tickets_state_is_kept_between_batches_only_while_its_stored_version_stands(store, monkeypatch):
    """Issue 14: a worker keeps each ticket's decoded state after a batch and starts the ticket's next batch from
    it instead of reading and decoding the stored JSON, but only while the stored version is the one its batch
    wrote: after another writer (the scheduler, a reconciliation, a second worker) the state is read again."""
    clock = FrozenClock("2026-03-02 12:00")
    _, processor, worker = parts(store, clock=clock)
    other = TicketProcessor(store, processor.config, {}, clock=clock)  # another writer, its own cache
    reused = _reused_per_batch(monkeypatch)
    deliver(store, created(ticket_id="T1", event_id="c1"))
    deliver(store, created(ticket_id="T2", event_id="c2"))
    assert worker.run_once() == 2 and reused == [set()]
    deliver(store, webhook_event("2026-03-02 10:10", ticket_id="T1", event_id="r1", type="comment.added",
                                 comment=AGENT))
    deliver(store, webhook_event("2026-03-02 10:11", ticket_id="T2", event_id="u2", status="pending"))
    assert worker.run_once() == 2 and reused[-1] == {"T1", "T2"}
    other.apply_event(webhook_event("2026-03-02 10:20", ticket_id="T1", event_id="side", type="comment.added",
                                    comment=CUSTOMER))
    deliver(store, webhook_event("2026-03-02 10:30", ticket_id="T1", event_id="r2", type="comment.added",
                                 comment=AGENT))
    deliver(store, webhook_event("2026-03-02 10:31", ticket_id="T2", event_id="o2", status="open"))
    assert worker.run_once() == 2
    assert reused[-1] == {"T2"}  # T1 moved on without this worker: read from the store, the side comment in it
    now = clock().replace(microsecond=0)
    assert _as_replay_gives(store, processor, "T1", now) and _as_replay_gives(store, processor, "T2", now)
    assert count(store, decisions) == 7


def test_a_tickets_outbox_keys_are_kept_with_its_state(store, monkeypatch):
    """Issue 14: the keys of a kept ticket's actions in the outbox are kept with its state, so its next batch
    reads none (on PostgreSQL, a poll's page of 100 events spent a sixth of its time reading every key of its
    tickets' actions). Once another writer has moved the ticket (and may have added actions) they are read
    again, and every action decided is in the outbox, once."""
    from sqlalchemy import event as sa_event

    clock = FrozenClock("2026-03-02 12:00")
    _, processor, worker = parts(store, clock=clock)
    other = TicketProcessor(store, processor.config, {}, clock=clock)
    reads: list[str] = []

    def note(conn, cursor, statement, parameters, *args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT") and "FROM outbox" in statement:
            reads.append(str(parameters))

    sa_event.listen(store.engine, "before_cursor_execute", note)
    deliver(store, created(ticket_id="T1", event_id="c1"))
    deliver(store, created(ticket_id="T2", event_id="c2"))
    assert worker.run_once() == 2 and len(reads) == 1  # both tickets' keys, one statement
    deliver(store, webhook_event("2026-03-02 10:10", ticket_id="T1", event_id="m1", type="comment.added",
                                 comment=CUSTOMER))
    deliver(store, webhook_event("2026-03-02 10:11", ticket_id="T2", event_id="m2", type="comment.added",
                                 comment=CUSTOMER))
    assert worker.run_once() == 2 and len(reads) == 1  # both kept: no key read
    other.apply_event(webhook_event("2026-03-02 10:20", ticket_id="T1", event_id="side", type="comment.added",
                                    comment=AGENT))
    reads.clear()
    deliver(store, webhook_event("2026-03-02 10:30", ticket_id="T1", event_id="m3", type="comment.added",
                                 comment=CUSTOMER))
    deliver(store, webhook_event("2026-03-02 10:31", ticket_id="T2", event_id="o2", status="open"))
    assert worker.run_once() == 2
    # T1 moved on without this worker: its keys are read again, T2's are still kept
    assert len(reads) == 1 and "T1" in reads[0] and "T2" not in reads[0]
    sa_event.remove(store.engine, "before_cursor_execute", note)
    now = clock().replace(microsecond=0)
    for ticket in ("T1", "T2"):
        key = ("webhook", "acme", ticket)
        with store.read() as conn:
            stored = list(conn.execute(select(outbox.c.key).where(outbox.c.ticket_id == ticket)).scalars())
        replayed = Rulebook(processor.config).run(store.ticket_events(key))
        decided = {a.key for a in processor.book.evaluate(replayed[key], now).actions}
        assert len(stored) == len(set(stored)) and decided <= set(stored)


def test_the_running_worker_rests_while_deliveries_arrive(store, tmp_path):
    """Issue 14: after a batch the running worker rests `yield_to_door` times the batch's time while
    deliveries arrive as fast as it drains them, in proportion when slower, not at all for a backlog alone
    or for what it moved from its own spool (`bench_ingest`: the door beside a draining worker)."""
    from connector.store.spool import Spooled, for_database

    clock = FrozenClock("2026-03-02 12:00")
    _, processor, _ = parts(store, clock=clock)
    spool = for_database(tmp_path / "spool", store.url)
    worker = Worker(store, processor, {"webhook": WebhookAdapter([SECRET])}, clock=clock, name="w1", spool=spool,
                    yield_to_door=3)
    for n in range(8):  # a backlog
        deliver(store, created(ticket_id=f"T{n}", event_id=f"c{n}"))
    assert worker.run_once(limit=4) == 4 and worker.yield_time(4, 0.5) == 0  # nothing arrived since it began
    assert worker.run_once(limit=4) == 4 and worker.yield_time(4, 0.5) == 0  # the rest of the backlog
    for n in range(8, 12):  # four arrive, as fast as it drains them
        deliver(store, created(ticket_id=f"T{n}", event_id=f"c{n}"))
    assert worker.run_once(limit=4) == 4 and worker.yield_time(4, 0.5) == pytest.approx(1.5)
    for n in range(12, 20):  # eight arrive; it drains four of them, then one more arrives
        deliver(store, created(ticket_id=f"T{n}", event_id=f"c{n}"))
    assert worker.run_once(limit=4) == 4 and worker.yield_time(4, 0.5) == pytest.approx(1.5)
    assert worker.run_once(limit=4) == 4
    deliver(store, created(ticket_id="T20", event_id="c20"))
    assert worker.yield_time(4, 0.5) == pytest.approx(0.5 * 3 * 1 / 4)
    body = json.dumps([event_to_dict(created(ticket_id="T21", event_id="c21"))]).encode()
    spool.put(Spooled(source="webhook", dedupe_key="c21", body=body, headers={}, received_at=clock()))
    assert worker.run_once(limit=4) == 2  # T20, and T21 it moved from its spool itself: no arrival
    assert worker.yield_time(2, 0.5) == 0
    assert Worker(store, processor, {}, yield_to_door=0).yield_time(4, 0.5) == 0  # off


def test_run_forever_rests_what_yield_time_says_after_a_batch(store):
    import threading

    clock = FrozenClock("2026-03-02 12:00")
    _, processor, _ = parts(store, clock=clock)
    worker = Worker(store, processor, {"webhook": WebhookAdapter([SECRET])}, clock=clock, yield_to_door=3)
    waits: list[float] = []

    class Stop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            if len(waits) == 2:
                self.set()
            return self.is_set()

    asked: list[tuple[int, float]] = []
    worker.yield_time = lambda claimed, took: asked.append((claimed, took)) or 0.25  # type: ignore[method-assign]
    deliver(store, created(ticket_id="T1", event_id="c1"))
    worker.run_forever(Stop(), idle_sleep=0.5)
    assert waits == [0.25, 0.5]  # rested after the batch, then idle
    assert [claimed for claimed, _ in asked] == [1, 0] and all(took >= 0 for _, took in asked)


def test_a_batch_that_fails_forgets_the_states_it_had_begun_to_change(store, monkeypatch):
    """Issue 14: the states a batch changes in place are kept only once it commits. A batch that fails (here a
    bug on one event) goes one delivery at a time from what the store holds, and the next batch reads the
    stored state too, not the half-changed one."""
    clock = FrozenClock("2026-03-02 12:00")
    _, processor, worker = parts(store, clock=clock)
    reused = _reused_per_batch(monkeypatch)
    deliver(store, created(ticket_id="T1", event_id="c1"))
    deliver(store, created(ticket_id="T2", event_id="c2"))
    assert worker.run_once() == 2
    deliver(store, webhook_event("2026-03-02 10:10", ticket_id="T1", event_id="r1", type="comment.added",
                                 comment=AGENT))
    deliver(store, webhook_event("2026-03-02 10:11", ticket_id="T2", event_id="boom", status="pending"))
    failed: list[str] = []

    def fail_on_boom_once(event) -> None:  # noqa: ANN001
        if event.event_id == "boom" and not failed:
            failed.append(event.event_id)
            raise RuntimeError("a bug, once")

    processor.book = _BeforeApply(processor.book, fail_on_boom_once)
    assert worker.run_once() == 2  # T1's reply applied in the failed batch, then again alone
    assert failed == ["boom"] and reused[-1] == {"T1", "T2"}
    assert count(store, inbox, inbox.c.state == "done") == 4 and count(store, events) == 4
    deliver(store, webhook_event("2026-03-02 10:20", ticket_id="T1", event_id="c3", type="comment.added",
                                 comment=CUSTOMER))
    deliver(store, webhook_event("2026-03-02 10:21", ticket_id="T2", event_id="o2", status="open"))
    assert worker.run_once() == 2
    assert reused[-1] == set()  # written one at a time: this worker holds no state for either ticket
    processor.book = processor.book._book
    now = clock().replace(microsecond=0)
    assert _as_replay_gives(store, processor, "T1", now) and _as_replay_gives(store, processor, "T2", now)
    assert count(store, decisions) == 6


def test_the_states_a_worker_keeps_are_bounded(store, monkeypatch):
    """Issue 14: at most DECODED_STATES tickets' states are kept, those seen last."""
    import connector.runtime.worker as worker_module

    monkeypatch.setattr(worker_module, "DECODED_STATES", 3)
    clock = FrozenClock("2026-03-02 12:00")
    _, processor, worker = parts(store, clock=clock)
    for t in range(0, 6, 2):  # two deliveries a batch (a batch of one goes the per-event way)
        deliver(store, created(ticket_id=f"T{t}", event_id=f"c{t}"))
        deliver(store, created(ticket_id=f"T{t + 1}", event_id=f"c{t + 1}"))
        assert worker.run_once() == 2
    assert [key[2] for key in processor._kept] == ["T3", "T4", "T5"]


def _rows_written(monkeypatch) -> list[dict[str, int]]:  # noqa: ANN001
    """Record, for each batch, how many clock rows it upserts and how many tickets' board rows it replaces."""
    from connector.store.store import BatchTx

    written: list[dict[str, int]] = []
    prepare = BatchTx.prepare

    def counting(self) -> None:  # noqa: ANN001
        counts = {"clocks": 0, "board": 0}
        take = {}
        for key, tx in self._tickets.items():
            take[key] = tx.take_deferred

            def taken(tx=tx):  # noqa: ANN001, ANN202
                state, rows, on_board = type(tx).take_deferred(tx)
                counts["clocks"] += len(rows)
                counts["board"] += on_board is not None
                return state, rows, on_board
            tx.take_deferred = taken
        prepare(self)
        written.append(counts)

    monkeypatch.setattr(BatchTx, "prepare", counting)
    return written


def test_a_batch_writes_only_the_clock_and_board_rows_that_changed(store, monkeypatch, tmp_path):
    """Issue 14: a worker that kept a ticket from its last batch knows the clock and board rows stored with it,
    and rewrites only those that differ (an earlier cycle's stopped clock, a board that did not move): they
    held SQLite's write lock for nothing. After another writer the ticket's version has moved, and every row
    is written again. Either way the tables hold what one event at a time leaves."""
    from connector.store import Store

    clock = FrozenClock("2026-03-02 12:00")
    _, processor, worker = parts(store, clock=clock)
    other = TicketProcessor(store, processor.config, {}, clock=clock)
    written = _rows_written(monkeypatch)
    history = [
        [created(ticket_id="T1", event_id="c1"), created(ticket_id="T2", event_id="c2")],
        # T1: the first reply stops first_response and starts periodic_update (resolution runs on as it was);
        # T2: a tag, nothing moves
        [webhook_event("2026-03-02 10:10", ticket_id="T1", event_id="r1", type="comment.added", comment=AGENT),
         webhook_event("2026-03-02 10:11", ticket_id="T2", event_id="t2", status="new", tags=["billing"])],
        # T2 only: it goes pending; resolution pauses (first_response runs on) and leaves the board
        [webhook_event("2026-03-02 10:20", ticket_id="T2", event_id="p2", status="pending"),
         webhook_event("2026-03-02 10:21", ticket_id="T2", event_id="n2", status="pending", tags=["x"])],
    ]
    for batch in history:
        for e in batch:
            deliver(store, e)
        assert worker.run_once() == len(batch)
    assert written[0] == {"clocks": 4, "board": 2}   # nothing known yet: every row
    assert written[1] == {"clocks": 2, "board": 1}   # T1's two changed clocks and board; T2 as stored
    assert written[2] == {"clocks": 1, "board": 1}   # T2's paused resolution, its board
    other.apply_event(webhook_event("2026-03-02 10:30", ticket_id="T2", event_id="side", status="pending",
                                    tags=["y"]))  # another writer: T2's version moves on without the worker
    deliver(store, webhook_event("2026-03-02 10:40", ticket_id="T2", event_id="z2", status="pending", tags=["z"]))
    deliver(store, webhook_event("2026-03-02 10:41", ticket_id="T1", event_id="z1", status="open", tags=["z"]))
    assert worker.run_once() == 2
    assert written[3] == {"clocks": 2, "board": 1}   # T2 read again: all its rows; T1 as it stood: none

    one = Store(f"sqlite:///{tmp_path / 'one-at-a-time.db'}")
    one.upgrade()
    single = TicketProcessor(one, processor.config, {}, clock=clock)
    for e in [*history[0], *history[1], *history[2]]:
        single.apply_event(e)
    single.apply_event(webhook_event("2026-03-02 10:30", ticket_id="T2", event_id="side", status="pending",
                                     tags=["y"]))
    for e in (webhook_event("2026-03-02 10:40", ticket_id="T2", event_id="z2", status="pending", tags=["z"]),
              webhook_event("2026-03-02 10:41", ticket_id="T1", event_id="z1", status="open", tags=["z"])):
        single.apply_event(e)
    mine, theirs = _everything(store), _everything(one)
    assert mine["clocks"] == theirs["clocks"] and mine["board"] == theirs["board"]
    one.dispose()


def test_a_batch_logs_one_line_at_info_and_each_event_at_debug(store, caplog):
    """Issue 14: a burst applies thousands of events a second; the log says so once per batch (each event's
    decision is in the decisions table, and its line at DEBUG)."""
    import logging

    clock = FrozenClock("2026-03-02 11:00")
    _, _, worker = parts(store, clock=clock)
    for t in range(3):
        deliver(store, created(ticket_id=f"L{t}", event_id=f"l{t}"))
    with caplog.at_level(logging.DEBUG, logger="connector.worker"):
        assert worker.run_once() == 3
    info = [r for r in caplog.records if r.name == "connector.worker" and r.levelno == logging.INFO]
    debug = [r for r in caplog.records if r.name == "connector.worker" and r.getMessage() == "event applied"]
    assert [r.getMessage() for r in info] == ["batch applied"]
    assert info[0].outcome.startswith("3 deliveries, 3 events, ")
    assert sorted(r.event_id for r in debug) == ["l0", "l1", "l2"] and {r.levelno for r in debug} == {logging.DEBUG}


def test_an_event_dated_after_its_delivery_fails_alone_and_leaves_the_ticket_as_it_was(store):
    """A sender whose clock is wrong (an event in 2099 for a live ticket) must not stop the ticket's clocks in
    2099 (a 73-year elapsed, a breach counted 2.3e9 s late): the delivery ends failed, with the reason; a
    clock a few minutes fast is accepted; the batch's other deliveries go on."""
    clock = FrozenClock("2026-03-02 10:05")
    _, processor, worker = parts(store, clock=clock)
    deliver(store, created(event_id="e1"), created(ticket_id="2", event_id="e2"))
    worker.run_once()
    solved = {"type": "ticket.updated", "status": "solved"}
    received = utc("2026-03-02 10:06")
    ids = []
    for at, ticket, event_id in (("2099-12-31 23:00", "1", "far"), ("2026-03-02 10:10:59", "2", "fast"),
                                 ("2026-03-02 10:11:01", "2", "too-fast")):
        body = json.dumps([event_to_dict(webhook_event(at, ticket_id=ticket, event_id=event_id, **solved))]).encode()
        ids.append(store.insert_inbox(source="webhook", dedupe_key=event_id, body=body, headers={},
                                      received_at=received, dedupe_window=timedelta(0))[0])
    assert worker.run_once() == 3
    with store.read() as conn:
        rows = {r.id: r for r in conn.execute(select(inbox.c.id, inbox.c.state, inbox.c.error))}
    assert [rows[i].state for i in ids] == ["failed", "done", "failed"]
    assert rows[ids[0]].error == (
        "payload: event far of ticket 1 says it happened at 2099-12-31T23:00:00Z, 26967d12h54m after it was "
        "received (2026-03-02T10:06:00Z); at most 5m ahead is accepted: check the sender's clock")
    assert "10:11:01Z, 5m1s after it was received (2026-03-02T10:06:00Z)" in rows[ids[2]].error
    one = processor.report(("webhook", "acme", "1"), utc("2026-03-02 10:30"))
    assert one is not None and {c.metric: c.status for c in one.clocks} == {
        "first_response": "running", "resolution": "running"}
    two = processor.report(("webhook", "acme", "2"), utc("2026-03-02 10:30"))
    assert two is not None and {c.metric: c.status for c in two.clocks}["resolution"] == "met"


def test_an_event_dated_after_its_receipt_but_before_the_worker_reads_it_is_applied(store):
    """An undated Freshdesk body is dated by the ticket the worker fetches when it gets to it: with a backlog,
    that can be well after the webhook was received. Only what is ahead of both is refused."""
    clock = FrozenClock("2026-03-02 10:30")
    _, processor, worker = parts(store, clock=clock)
    body = json.dumps([event_to_dict(created("2026-03-02 10:20", event_id="e1"))]).encode()
    store.insert_inbox(source="webhook", dedupe_key="e1", body=body, headers={},
                       received_at=utc("2026-03-02 10:00"), dedupe_window=timedelta(0))
    assert worker.run_once() == 1
    assert count(store, inbox, inbox.c.state == "done") == 1
    assert processor.report(("webhook", "acme", "1"), clock()) is not None


def test_a_backfill_page_refuses_events_dated_after_the_poll_and_applies_the_rest(store):
    clock = FrozenClock("2026-03-02 10:05")
    _, processor, _ = parts(store, clock=clock)
    page = [created(event_id="h1"), webhook_event("2099-01-01 00:00", status="solved", event_id="h2"),
            created(ticket_id="2", event_id="h3")]
    done = apply_events(processor, page, unseen=lambda new, stored, stored_ids=(): list(new))
    assert (done.events, done.applied, done.ahead) == (3, 2, 1)
    with store.read() as conn:
        assert sorted(conn.execute(select(events.c.event_id)).scalars()) == ["h1", "h3"]
    report = processor.report(("webhook", "acme", "1"), clock())
    assert report is not None and {c.metric: c.status for c in report.clocks}["resolution"] == "running"
