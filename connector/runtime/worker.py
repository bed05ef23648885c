"""The worker: turns stored deliveries into clock state, decisions and outbox actions.

For each claimed inbox row: the source's adapter normalizes it into canonical events; each event is applied
to its ticket's stored state by the pure rules core inside one transaction that also stores the event,
the new state, the clock rows, an audit decision and the actions due (outbox, unique by idempotency key).
An event older than the ticket's last one rebuilds the ticket from its stored history. A repeated event,
or the echo of the connector's own write-back, decides nothing new: the same decisions have the same keys.

`TicketProcessor` is shared with the scheduler, which re-evaluates tickets whose thresholds come due.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from adapters.base import InboundAdapter, Writer, refuse_ahead
from connector.config import Config
from connector.errors import ConnectorError, PayloadError, StoreMisconfigured, StoreUnavailable, Transient
from connector.events import Event, format_instant
from connector.rules.engine import OutOfOrder, Rulebook, TicketReport, TicketState
from connector.rules.escalation import Decision
from connector.store import BatchConflict, InboxRow, Kept, NewAction, Store, TicketKey, TicketTx
from connector.store.spool import Spool

log = logging.getLogger("connector.worker")

Clock = Callable[[], datetime]
MAX_INBOX_ATTEMPTS = 10
RETRY_BASE_SECONDS = 2.0     # a delivery that failed waits 2 s, 4 s, 8 s … (at most RETRY_CAP) before its next try
RETRY_CAP_SECONDS = 300.0
NORMALIZE_THREADS = 8       # a batch's deliveries that wait on a help desk's API are normalized 8 at a time
# deliveries a worker claims and applies in one transaction, by database (see docs/decisions.md): SQLite's
# batch writes under the one write lock the webhook door also needs, so its batches stay shorter
CLAIM_BATCH = {"postgresql": 500, "sqlite": 200}
DECODED_STATES = 5000        # tickets a worker keeps between batches (`Kept`: ~6 KB of state, ~3 KB of rows each)
LOOP_BACKOFF_CAP = 5.0       # a loop that cannot reach the database tries again after 0.5 s, 1 s, … 5 s (the
#                              breaker makes a try cheap while the database is away, so recovery can be quick)


def retry_delay(attempt: int) -> timedelta:
    """How long a delivery waits after its `attempt`-th failed try."""
    return timedelta(seconds=min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0)))


def refusal(err: SQLAlchemyError) -> str:
    """The database's own words for a refused statement (first line, no SQL and no parameters)."""
    orig = getattr(err, "orig", None)
    text = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else ""
    return f"the database refused it ({type(err).__name__}{': ' + text[:200] if text else ''})"


class LoopBackoff:
    """The back-off of a loop that keeps failing (the database is down): 0.5 s doubling to a cap; logs changes."""

    def __init__(self, name: str, *, cap: float = LOOP_BACKOFF_CAP) -> None:
        self.name = name
        self.cap = cap
        self.failures = 0

    def failed(self, err: Exception) -> float:
        self.failures += 1
        wait = min(self.cap, 0.5 * 2 ** (self.failures - 1))
        # a deployment error (a missing table) does not heal by itself: said at ERROR at every try
        misconfigured = isinstance(err, StoreMisconfigured)
        if self.failures == 1 or wait < self.cap or misconfigured:
            log.log(logging.ERROR if misconfigured else logging.WARNING, f"{self.name}: cannot go on; retrying",
                    extra={"outcome": type(err).__name__,
                           "reason": str(err) if isinstance(err, StoreUnavailable) else "",
                           "retry_in_s": wait, "attempt": self.failures})
        return wait

    def succeeded(self) -> None:
        if self.failures:
            log.info(f"{self.name}: working again", extra={"outcome": "recovered", "attempt": self.failures})
            self.failures = 0


def utc_now() -> datetime:
    return datetime.now(UTC)


def whole_second(at: datetime) -> datetime:
    """Return an instant without its fraction of a second (truncated: the second that has begun)."""
    return at.replace(microsecond=0)


def next_whole_second(at: datetime) -> datetime:
    """Return the first whole second at or after an instant."""
    return at if not at.microsecond else whole_second(at) + timedelta(seconds=1)


def json_params(decision: Decision) -> dict[str, Any]:
    """Return a decision's parameters as JSON-safe values (instants as ISO 8601 Z, tuples as lists)."""
    out: dict[str, Any] = {}
    for k, v in decision.params.items():
        if isinstance(v, datetime):
            out[k] = format_instant(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


class _NoAdapter(Exception):
    """A stored delivery of a source this process has no adapter for (its secret was removed)."""


class TicketProcessor:
    """Apply events to tickets and record what follows, one ticket transaction at a time."""

    def __init__(self, store: Store, config: Config, writers: Mapping[str, Writer | None], *,
                 clock: Clock = utc_now) -> None:
        self.store = store
        self.config = config
        self.book = Rulebook(config)
        self.writers = writers
        self.clock = clock
        # each ticket's state as this process's last batch left it, with its stored version and rows: a ticket's
        # next batch reuses it instead of reading and decoding the stored JSON while the version has not moved,
        # and writes only the clock and board rows that differ from the stored ones
        self._kept: dict[TicketKey, Kept] = {}

    def apply_event(self, event: Event, inbox_id: int | None = None) -> list[str]:
        """Apply one event to its ticket; return the keys of the actions it added to the outbox."""
        with self.store.ticket_tx(event.key) as tx:
            return self._apply(tx, event, inbox_id)

    def apply_batch(self, deliveries: Sequence[tuple[int | None, Sequence[Event]]], *,
                    finished_at: datetime) -> list[list[list[str]]]:
        """Apply the events of several deliveries (inbox id, events) in one transaction, in order, and mark
        the deliveries done in it (None: events not from the inbox, a page of history); return the added
        action keys per delivery and event.

        Exactly what `apply_event` does one event at a time — the same states, clocks, decisions and actions
        — with one commit (and, on PostgreSQL, every ticket lock taken once, in one order) instead of one per
        event. Anything that fails rolls the whole batch back: the caller then goes one delivery at a time.

        On SQLite the batch is computed before the write lock is taken (`Store.batch_tx`, optimistic), so the
        webhook door's inserts wait for the batch's writes only, not for its rules; if a ticket changed
        meanwhile, the batch is done again under the lock.
        """
        try:
            return self._apply_batch(deliveries, finished_at=finished_at, optimistic=True)
        except BatchConflict:  # a ticket changed meanwhile (SQLite): again, holding the lock from the start
            return self._apply_batch(deliveries, finished_at=finished_at, optimistic=False)

    def _apply_batch(self, deliveries: Sequence[tuple[int | None, Sequence[Event]]], *, finished_at: datetime,
                     optimistic: bool) -> list[list[list[str]]]:
        keys = {event.key for _, events in deliveries for event in events}
        # taken out of the cache: the batch changes them in place, so only a committed batch puts them back
        kept = {key: known for key in keys if (known := self._kept.pop(key, None)) is not None}
        added: list[list[list[str]]] = []
        with self.store.batch_tx(keys, optimistic=optimistic) as batch:
            batch.preload((event for _, events in deliveries for event in events), kept)
            for inbox_id, events in deliveries:
                added.append([self._apply(batch.ticket(event.key), event, inbox_id) for event in events])
            batch.finish_inbox([inbox_id for inbox_id, _ in deliveries if inbox_id is not None], now=finished_at)
        self._kept.update(batch.kept())
        if len(self._kept) > DECODED_STATES:  # the tickets not seen for longest go first
            for key in list(itertools.islice(self._kept, len(self._kept) - DECODED_STATES)):
                self._kept.pop(key, None)
        return added

    def _apply(self, tx: TicketTx, event: Event, inbox_id: int | None) -> list[str]:
        if not tx.add_event(event, inbox_id):
            return []  # a repeat: already applied
        state: TicketState | None = tx.decoded  # within a batch, the state its last event left (Rulebook.run's way)
        if state is None:
            raw = tx.state()
            state = None if raw is None else TicketState.from_dict(raw)
        try:
            state = self.book.apply(state, event)
        except OutOfOrder:
            state = self.book.run(tx.events())[event.key]  # the stored history includes this event
        if tx.batch is not None:
            tx.decoded = state
        return self._record(tx, state, event.event_id)

    def check(self, key: TicketKey) -> list[str]:
        """Re-evaluate a ticket at now (a threshold or breach came due); return the keys of new actions."""
        with self.store.ticket_tx(key) as tx:
            raw = tx.state()
            if raw is None:
                return []
            return self._record(tx, TicketState.from_dict(raw), None)

    def now(self) -> datetime:
        """Return the instant tickets are evaluated at: the clock's current second.

        Truncated, never rounded up: an instant not reached yet must not decide a breach or an escalation.
        A whole second is what `connector replay --now` takes, so the service and replay agree to the
        second, and a clock evaluated between events measures whole seconds from whole-second events.
        """
        return whole_second(self.clock())

    def report(self, key: TicketKey, now: datetime | None = None) -> TicketReport | None:
        """Return a ticket's report at `now` (default: `self.now()`), as `connector replay` shows it, or None."""
        raw = self.store.ticket_state(key)
        if raw is None:
            return None
        return self.book.evaluate(TicketState.from_dict(raw), now or self.now())

    def _record(self, tx: TicketTx, state: TicketState, event_id: str | None) -> list[str]:
        now = max(self.now(), state.last_at)
        report, check = self.book.assess(state, now)  # the clocks viewed once for both
        # an action known to be in the outbox already (within a batch) needs no row built for it
        added = tx.enqueue([self._new_action(d) for d in report.actions if not tx.has_action(d.key)], now=now)
        sev = state.severity
        # tickets are evaluated at whole seconds, so a check is due at the first whole second at or after the
        # instant (a threshold crossed at 10:45:00.4 is seen at 10:45:01, never missed at 10:45:00)
        tx.save(state=state.to_dict, last_event_at=state.last_at,
                next_check_at=None if check is None else next_whole_second(check),
                severity=sev.classified, policy=state.policy, now=now)
        snapshot = state.snapshot
        tx.save_clocks([{
            "source": state.source, "account": state.account, "ticket_id": state.ticket_id, "metric": c.metric,
            "cycle": c.cycle, "status": c.status, "severity": sev.classified, "policy": c.policy,
            "calendar": c.calendar, "target_seconds": c.target_seconds, "started_at": c.started_at,
            "due_at": c.due_at, "stopped_at": c.stopped_at, "elapsed_seconds": c.elapsed_seconds,
            "breached": c.breached, "breached_at": c.breached_at, "group_name": snapshot.group,
            "requester_org": snapshot.requester.org, "updated_at": now,
        } for c in report.clocks if c.team is None])  # the customer's clocks: internal ones live in the state
        # the clocks running now, the customer's and internal ones, for the live board
        tx.save_board([{
            "source": state.source, "account": state.account, "ticket_id": state.ticket_id,
            "agreement": c.policy if c.team is not None else "", "metric": c.metric, "cycle": c.cycle,
            "team": c.team, "severity": sev.classified, "declared": sev.declared,
            "policy": c.policy if c.team is None else None, "calendar": c.calendar,
            "target_seconds": c.target_seconds, "started_at": c.started_at, "due_at": c.due_at,
            "group_name": snapshot.group, "assignee": snapshot.assignee, "updated_at": now,
        } for c in report.clocks if c.running and c.due_at is not None])
        tx.add_decision(event_id=event_id, decided_at=now, severity=sev.classified, declared=sev.declared,
                        rule=sev.rule, policy=state.policy,
                        summary={"clocks": [c.as_dict() for c in report.clocks], "added": added})
        return added

    def _new_action(self, d: Decision) -> NewAction:
        writeback = self.config.writeback
        writer = self.writers.get(d.source)
        if d.action not in writeback.actions:
            state = "skipped"
        elif writeback.dry_run or writer is None or not writer.configured:
            state = "dry_run"
        else:
            state = "pending"
        return NewAction(key=d.key, source=d.source, account=d.account, ticket_id=d.ticket_id, action=d.action,
                         params=json_params(d), cause=d.cause, state=state)


class Worker:
    """Claims inbox rows and processes them; several may run on PostgreSQL, one on SQLite."""

    def __init__(self, store: Store, processor: TicketProcessor, adapters: Mapping[str, InboundAdapter], *,
                 name: str | None = None, clock: Clock = utc_now, lease: timedelta = timedelta(minutes=5),
                 spool: Spool | None = None, dedupe_window: timedelta = timedelta(days=3), batch: bool = True,
                 yield_to_door: float = 0.0) -> None:
        """`yield_to_door`: how many times a batch's own time the running worker rests after it while
        deliveries arrive as fast as it drains them (less as they arrive slower; see `yield_time`)."""
        self.store = store
        self.spool = spool
        self.dedupe_window = dedupe_window
        self.lease = lease
        self.processor = processor
        self.adapters = adapters
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"
        self.clock = clock
        self._unsure = False  # the database went away mid-batch: this worker's claims are given back first
        self.batch = batch
        self._pool: ThreadPoolExecutor | None = None  # normalizes deliveries that wait on an API (see _normalize_all)
        self.yield_to_door = yield_to_door
        self._newest: int | None = None  # the newest inbox id seen after the last batch (`yield_time`)
        self._moved = 0                  # deliveries this worker itself moved from the spool to the inbox

    def run_once(self, limit: int | None = None) -> int:
        """Process up to `limit` pending deliveries (default: `CLAIM_BATCH` for the database); return how many
        were claimed.

        Each delivery is isolated: whatever one does (a bad body, a bug, a value the database refuses), it
        ends done, retried later or failed, and the others of the batch go on. Only losing the database
        stops the batch (`StoreUnavailable`); the deliveries not reached are given back on the next call.
        """
        if self._unsure:
            # every delivery still claimed under this name is one the worker did not finish: the rest of a
            # batch cut short, or a claim whose answer was lost with the connection (committed, never seen)
            self.store.release_inbox(self.name)
            self._unsure = False
        if self.spool is not None:  # deliveries acknowledged while the database was away come first
            try:
                self._moved += self.spool.drain(self.store, dedupe_window=self.dedupe_window)
            except Exception as err:  # noqa: BLE001 - a spooled delivery the database refuses must not stop
                # the worker: the inbox is claimed all the same (the spool keeps the file; an operator looks)
                log.error("spool drain failed", extra={"outcome": type(err).__name__})
        try:
            if limit is None:
                limit = CLAIM_BATCH[self.store.dialect]
            rows = self.store.claim_inbox(self.name, now=self.clock(), limit=limit, lease=self.lease,
                                          max_attempts=MAX_INBOX_ATTEMPTS)
            if self.batch and len(rows) > 1:
                self._process_batch(rows)
            else:
                for row in rows:
                    self.process(row)
        except StoreUnavailable:
            self._unsure = True
            raise
        return len(rows)

    def process(self, row: InboxRow, events: Sequence[Event] | None = None) -> None:
        """Process one delivery in its own transactions (one per event); `events` if already normalized."""
        try:
            if events is None:
                events = self._normalize(row)
            for event in events:
                self._applied(row, event, self.processor.apply_event(event, row.id))
        except Exception as err:  # noqa: BLE001 - every failure ends in `_failed`, which re-raises an outage
            self._failed(row, err)
        else:
            self.store.finish_inbox(row.id, now=self.clock())

    def _process_batch(self, rows: Sequence[InboxRow]) -> None:
        """Normalize each delivery alone, then apply all that are ready in one transaction; if that fails,
        apply them one delivery at a time, so a delivery the database refuses fails alone."""
        ready: list[tuple[InboxRow, Sequence[Event]]] = []
        for row, normalized in self._normalize_all(rows):
            if isinstance(normalized, Exception):
                self._failed(row, normalized)
            else:
                ready.append((row, normalized))
        if not ready:
            return
        try:
            added = self.processor.apply_batch([(row.id, events) for row, events in ready], finished_at=self.clock())
        except StoreUnavailable:
            raise  # the whole batch is given back (`_unsure`)
        except Exception as err:  # noqa: BLE001 - a refused value or a bug: find the delivery it belongs to
            log.info("batch applied one delivery at a time", extra={"outcome": type(err).__name__,
                                                                   "count": len(ready)})
            for row, events in ready:
                self.process(row, events)
            return
        # one line per batch at INFO (a burst is thousands of events a second, and the decisions table keeps
        # each event's decision); each event's line at DEBUG
        each = log.isEnabledFor(logging.DEBUG)
        applied = added_actions = 0
        for (row, events), keys in zip(ready, added, strict=True):
            for event, actions in zip(events, keys, strict=True):
                applied += 1
                added_actions += len(actions)
                if each:
                    self._applied(row, event, actions, level=logging.DEBUG)
        log.info("batch applied", extra={
            "outcome": f"{len(ready)} deliveries, {applied} events, {added_actions} actions"})

    def _normalize_all(self, rows: Sequence[InboxRow]) -> list[tuple[InboxRow, Sequence[Event] | Exception]]:
        """Each delivery's events, or what its normalization raised, in the batch's order.

        A delivery whose adapter calls its help desk's API (a Freshdesk reply reads the ticket and its
        conversations) mostly waits on the network: those are normalized `NORMALIZE_THREADS` at a time, so a
        batch costs about one round trip per eight such deliveries instead of one each. The rest are
        normalized here, one after another (pure CPU: threads would only add switching)."""
        waiting = [row for row in rows if self._waits_on_api(row)]
        futures: dict[int, Future[Sequence[Event]]] = {}
        if len(waiting) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(NORMALIZE_THREADS, thread_name_prefix="normalize")
            futures = {row.id: self._pool.submit(self._normalize, row) for row in waiting}
        out: list[tuple[InboxRow, Sequence[Event] | Exception]] = []
        for row in rows:
            try:
                future = futures.get(row.id)
                out.append((row, future.result() if future is not None else self._normalize(row)))
            except Exception as err:  # noqa: BLE001 - the caller ends it (`_failed`)
                out.append((row, err))
        return out

    def _waits_on_api(self, row: InboxRow) -> bool:
        adapter = self.adapters.get(row.source)
        return adapter is not None and adapter.waits_on_api

    def _normalize(self, row: InboxRow) -> Sequence[Event]:
        adapter = self.adapters.get(row.source)
        if adapter is None:
            raise _NoAdapter(f"no adapter for source {row.source!r}")
        events = adapter.normalize(row.body, row.headers, row.received_at)
        # learned of at its receipt, or now for what the adapter read from the help desk's API just now (an
        # undated Freshdesk body is dated by the ticket fetched now, which may have changed since); a refused
        # delivery is kept, failed, with the reason, for a person to see
        refuse_ahead(events, max(row.received_at, self.clock()))
        return events

    @staticmethod
    def _applied(row: InboxRow, event: Event, actions: list[str], level: int = logging.INFO) -> None:
        log.log(level, "event applied", extra={"source": row.source, "event_id": event.event_id,
                                               "ticket_id": event.ticket_id, "outcome": f"{len(actions)} actions"})

    def _failed(self, row: InboxRow, err: Exception) -> None:
        """End a delivery that failed: kept as failed, or retried later; an outage is raised again."""
        if isinstance(err, _NoAdapter):
            self._finish(row, error=str(err))
        elif isinstance(err, PayloadError):
            self._finish(row, error=f"payload: {err.reason}")
        elif isinstance(err, StoreUnavailable):
            raise err  # the database went away: this delivery and the rest of the batch are given back
        elif isinstance(err, Transient):
            self._retry(row, str(err), err)
        elif isinstance(err, ConnectorError):
            self._finish(row, error=f"{type(err).__name__}: {err}")
        elif isinstance(err, SQLAlchemyError):  # the database refused a value of this delivery: retry, then fail
            self._retry(row, refusal(err), err)
        else:  # a bug must not lose the delivery: retry, then keep it as failed
            self._retry(row, f"unexpected {type(err).__name__}", err)

    def _retry(self, row: InboxRow, reason: str, err: Exception) -> None:
        """Try the delivery again after a growing delay, or keep it as failed after its last attempt."""
        retry = row.attempts < MAX_INBOX_ATTEMPTS
        now = self.clock()
        log.warning("delivery will be retried" if retry else "delivery failed", extra={
            "source": row.source, "attempt": row.attempts, "outcome": type(err).__name__})
        error = reason if retry else f"gave up after {row.attempts} attempts: {reason}"
        self.store.finish_inbox(row.id, now=now, error=error, retry=retry, retry_at=now + retry_delay(row.attempts))

    def _finish(self, row: InboxRow, *, error: str) -> None:
        log.warning("delivery failed", extra={"source": row.source, "outcome": "failed", "attempt": row.attempts})
        self.store.finish_inbox(row.id, now=self.clock(), error=error)

    def run_forever(self, stop: threading.Event, *, idle_sleep: float = 0.5) -> None:
        """Process deliveries until `stop` is set; back off while the database cannot be reached, and rest
        after a batch while deliveries pour in (`yield_time`)."""
        backoff = LoopBackoff("worker")
        while not stop.is_set():
            began = time.monotonic()
            try:
                claimed = self.run_once()
                rest = self.yield_time(claimed, time.monotonic() - began)
            except Exception as err:  # the database may be unreachable: keep the worker alive, back off
                stop.wait(backoff.failed(err))
                continue
            backoff.succeeded()
            if not claimed:
                stop.wait(idle_sleep)
            elif rest:
                stop.wait(rest)
        self.close()

    def yield_time(self, claimed: int, took: float) -> float:
        """How long to rest after a batch of `claimed` deliveries that took `took` seconds, so that the
        webhook door keeps the machine (and, on SQLite, the write lock) while help desks send: `took` times
        `yield_to_door` when deliveries arrived since the last batch at least as fast as this one drained
        them, in proportion when slower, nothing when none arrived. A backlog alone (an outage's burst, a
        restart) drains at full speed; a burst still arriving drains at 1 / (1 + yield_to_door) of it.
        Deliveries this worker moved from its spool are not arrivals."""
        if not self.yield_to_door or not claimed:
            return 0.0
        newest = self.store.newest_inbox_id()
        arrived = 0 if self._newest is None else max(0, newest - self._newest - self._moved)
        self._newest, self._moved = newest, 0
        return took * self.yield_to_door * min(1.0, arrived / claimed)

    def close(self) -> None:
        """Let the normalizing threads go (they finish what they hold)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

