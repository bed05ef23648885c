"""The store: every durable step of the connector, each in one transaction.

- ingress: `insert_inbox` (dedupe on source + delivery id, or the same body inside the dedupe window);
- worker: `claim_inbox` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; a lease, so a killed worker's rows come
  back), then per ticket `ticket_tx`, which locks the ticket (a transaction-scoped advisory lock on
  PostgreSQL; SQLite has one writer) so two workers never process one ticket at once;
- executor: `claim_outbox`, `outbox_done`, `outbox_retry`, `outbox_dead`;
- scheduler: `tickets_to_check`;
- operators: `outbox_rows`, `outbox_requeue`, `outbox_drop`, `stats`.

Time is passed in (`now`), as in the rules core, so tests can drive it.

Every transaction goes through a circuit breaker (`breaker.py`): a failure to reach the database raises
`StoreUnavailable` (answer 503, back off) and, for a cool-down, later calls fail the same way at once
instead of each waiting out the timeout. An error by which the database says it cannot work now, whatever
the statement (disk full, read-only, a serialization conflict or deadlock, a cancelled statement, an
internal error), raises `StoreUnavailable` too, without opening the breaker; a missing table or column
raises `StoreMisconfigured`. A statement the database refuses for its values raises its SQLAlchemy error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import StoreMisconfigured, StoreUnavailable
from connector.events import Event, event_to_dict, parse_event
from connector.store import db
from connector.store.breaker import MISCONFIGURED, SICK, UNREACHABLE, Breaker, classify, describe
from connector.store.bulk import BulkWriter, Write, sqlite_instant
from connector.store.schema import board, clocks, dead_letters, decisions, events, inbox, outbox, tickets

TicketKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxRow:
    id: int
    source: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    id: int
    key: str
    source: str
    account: str
    ticket_id: str
    action: str
    params: Mapping[str, Any]
    cause: str
    state: str
    attempts: int
    next_try_at: datetime
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewAction:
    """An action to enqueue: what the rules decided, and the state it starts in (pending or dry_run)."""

    key: str
    source: str
    account: str
    ticket_id: str
    action: str
    params: Mapping[str, Any]
    cause: str
    state: str = "pending"


def inbox_row(*, source: str, dedupe_key: str, body: bytes, headers: Mapping[str, str], received_at: datetime,
              ticket: str | None = None) -> dict[str, Any]:
    """A delivery's inbox row as the door stores it (`Store.insert_inbox`): its key fitted to the column, its
    body's digest, and the digest of the one ticket it is about (by which workers claim in order), if known."""
    return {"source": source, "dedupe_key": fit(dedupe_key, 255), "body_sha256": hashlib.sha256(body).hexdigest(),
            "received_at": received_at, "body": body, "headers": dict(headers), "state": "pending", "attempts": 0,
            "ticket": None if ticket is None else hashlib.sha256(ticket.encode()).hexdigest()}


def fit(value: str, width: int) -> str:
    """Return `value` if it fits a column of `width` characters, else a prefix and a digest of the whole.

    Distinct values stay distinct (a plain cut would merge two long ids into one and drop the second as
    a duplicate) and the same value always gives the same text, so idempotency keys keep working.
    """
    if len(value) <= width:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{value[:width - len(digest) - 1]}#{digest}"


def _lock_id(key: TicketKey) -> int:
    """A signed 64-bit id for a ticket's advisory lock."""
    return int.from_bytes(hashlib.sha256("\x1f".join(key).encode()).digest()[:8], "big", signed=True)


class Store:
    """The connector's database: SQLite by default, PostgreSQL to scale out."""

    def __init__(self, url: str, *, timeout: float = db.DEFAULT_TIMEOUT, **engine_kwargs: Any) -> None:
        self.url = db.normalize_url(url)
        self.timeout = timeout
        self.engine = db.make_engine(self.url, timeout=timeout, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        self.breaker = Breaker()
        # the ingress statements, built once: webhook handlers run them on every request
        same_body = select(inbox.c.id).where(
            inbox.c.source == bindparam("source", type_=inbox.c.source.type),
            inbox.c.body_sha256 == bindparam("digest", type_=inbox.c.body_sha256.type),
            inbox.c.received_at >= bindparam("since", type_=inbox.c.received_at.type))
        self._same_body = same_body.limit(1)
        # one statement for a new delivery: inserted unless the same body came inside the window (no row
        # then) or the same delivery id is stored (the conflict: no row either); only then is it looked up
        stored = ("source", "dedupe_key", "body_sha256", "received_at", "body", "headers", "state", "attempts",
                  "ticket")
        self._insert_inbox = self._insert(inbox).from_select(
            list(stored), select(*(bindparam(c, type_=inbox.c[c].type) for c in stored)).where(~exists(same_body))
        ).on_conflict_do_nothing(index_elements=["source", "dedupe_key"]).returning(inbox.c.id)
        self._same_key = select(inbox.c.id).where(inbox.c.source == bindparam("source"),
                                                  inbox.c.dedupe_key == bindparam("key"))
        self.ticket_statements = _TicketStatements(self)
        used = (inbox, events, tickets, clocks, board, decisions, outbox, dead_letters)
        self._no_rows = union_all(*(select(literal(1)).select_from(table).where(false()) for table in used))
        self.bulk = BulkWriter(self.engine.dialect)

    # -- lifecycle ------------------------------------------------------------------------------

    def upgrade(self) -> None:
        """Apply the migrations (idempotent; run on start and by `connector db upgrade`)."""
        with self._guarded():
            db.upgrade(self.engine)

    def migrations_current(self) -> bool:
        """Whether the database is at the newest migration (`db.at_head`: one query, without Alembic)."""
        with self._guarded():
            return db.at_head(self.engine)

    def ping(self) -> None:
        """Raise `StoreUnavailable` if the database cannot be reached (or the breaker is open)."""
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def check_tables(self) -> None:
        """Raise `StoreMisconfigured` if a table the connector uses is missing (renamed or dropped by hand after
        the migrations ran: the version row still says current). One statement that reads no row."""
        with self.read() as conn:
            conn.execute(self._no_rows)

    def dispose(self) -> None:
        self.engine.dispose()

    def patience(self, seconds: float | None) -> AbstractContextManager[None]:
        """Let this thread's statements wait up to `seconds` for an answer instead of the store's timeout
        (reports and backfills over a large store; None: no bound). Connecting keeps its own bound."""
        return db._patience(self.engine, seconds)

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Pass the breaker, and turn a failure to reach the database into `StoreUnavailable`."""
        probe = self.breaker.before()
        try:
            yield
        except SQLAlchemyError as err:
            kind = classify(err)
            if kind == UNREACHABLE:
                reason = describe(err)
                cooldown = self.breaker.failure(reason)
                raise StoreUnavailable(reason, retry_after=max(cooldown, 1.0)) from err
            self.breaker.success()  # it answered, with an error: the database is up
            if kind == SICK:  # … but cannot work now: nothing to do with this statement's values
                raise StoreUnavailable(describe(err)) from err
            if kind == MISCONFIGURED:
                raise StoreMisconfigured(describe(err)) from err
            raise
        except BaseException:
            self.breaker.release(probe)
            raise
        else:
            self.breaker.success()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._guarded(), self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, \
                conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._guarded(), self.engine.connect() as conn, conn.begin():
            yield conn

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table))

    # -- ingress --------------------------------------------------------------------------------

    def insert_inbox(self, *, source: str, dedupe_key: str, body: bytes, headers: Mapping[str, str],
                     received_at: datetime, dedupe_window: timedelta, ticket: str | None = None) -> tuple[int, bool]:
        """Store a delivery unless it is a duplicate; return (inbox id, duplicate?). `ticket` names the one
        ticket it is about, when the door knows it: workers then claim that ticket's deliveries in order."""
        row = inbox_row(source=source, dedupe_key=dedupe_key, body=body, headers=headers, received_at=received_at,
                        ticket=ticket)
        digest, key = row["body_sha256"], row["dedupe_key"]
        since = received_at - dedupe_window
        with self.write() as conn:
            new_id = conn.execute(self._insert_inbox, {**row, "digest": digest, "since": since}).scalar()
            if new_id is not None:
                return int(new_id), False
            # a duplicate: the same body inside the window first, as before, then the same delivery id
            same_body = conn.execute(self._same_body, {"source": source, "digest": digest, "since": since}).scalar()
            if same_body is not None:
                return int(same_body), True
            existing = conn.execute(self._same_key, {"source": source, "key": key}).scalar_one()
            return int(existing), True

    # -- worker ---------------------------------------------------------------------------------

    def claim_inbox(self, worker: str, *, now: datetime, limit: int = 50,
                    lease: timedelta = timedelta(minutes=5), max_attempts: int | None = None) -> list[InboxRow]:
        """Claim up to `limit` pending deliveries for `lease` (expired leases are claimed again).

        A delivery already claimed `max_attempts` times whose lease ran out (its worker died on it each
        time) is not claimed again: it ends `failed`, so one poisonous delivery cannot crash workers forever.
        """
        claimable = and_(inbox.c.state == "pending",
                         or_(inbox.c.claimed_until.is_(None), inbox.c.claimed_until < now))
        # a ticket another worker holds a live claim on waits: one ticket's deliveries go in arrival order
        other = inbox.alias("held")
        held_elsewhere = exists(select(other.c.id).where(
            other.c.ticket == inbox.c.ticket, other.c.state == "pending", other.c.claimed_by.is_not(None),
            other.c.claimed_by != worker, other.c.claimed_until >= now))
        pick = select(inbox.c.id).where(claimable, ~held_elsewhere).order_by(inbox.c.id).limit(limit)
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (update(inbox).where(inbox.c.id.in_(pick.scalar_subquery()))
                .values(claimed_by=worker, claimed_until=now + lease, attempts=inbox.c.attempts + 1)
                .returning(inbox.c.id, inbox.c.source, inbox.c.body, inbox.c.headers, inbox.c.received_at,
                           inbox.c.attempts))
        with self.write() as conn:  # one transaction (on SQLite, one take of the write lock) for both
            if self.dialect == "postgresql":  # one claim at a time: each sees the others' committed claims
                _advisory_lock(conn, CLAIM_LOCK)
            if max_attempts is not None:
                conn.execute(update(inbox).where(claimable, inbox.c.attempts >= max_attempts).values(
                    state="failed", processed_at=now, claimed_by=None, claimed_until=None,
                    error=f"gave up after {max_attempts} attempts: the worker stopped while processing it"))
            rows = conn.execute(stmt).all()
        return sorted((InboxRow(id=r.id, source=r.source, body=bytes(r.body), headers=r.headers or {},
                                received_at=r.received_at, attempts=r.attempts) for r in rows), key=lambda r: r.id)

    def finish_inbox(self, inbox_id: int, *, now: datetime, error: str | None = None, retry: bool = False,
                     retry_at: datetime | None = None) -> None:
        """Mark a delivery done, failed (kept, with its error) or back to pending for another try at `retry_at`."""
        state = "pending" if retry else ("failed" if error else "done")
        with self.write() as conn:
            conn.execute(update(inbox).where(inbox.c.id == inbox_id).values(
                state=state, error=None if error is None else error[:2000], processed_at=None if retry else now,
                claimed_by=None, claimed_until=retry_at if retry else None))

    def newest_inbox_id(self) -> int:
        """The newest delivery's id (0 for an empty inbox): one look at the primary key's end."""
        with self.read() as conn:
            return int(conn.execute(select(func.max(inbox.c.id))).scalar() or 0)

    def release_inbox(self, worker: str) -> int:
        """Give back every delivery `worker` holds and has not finished (claimable at once, the attempt not
        counted); return how many. A worker calls it when the database went away under it."""
        with self.write() as conn:
            return int(conn.execute(update(inbox).where(
                inbox.c.state == "pending", inbox.c.claimed_by == worker,
            ).values(claimed_by=None, claimed_until=None, attempts=inbox.c.attempts - 1)).rowcount)

    @contextmanager
    def ticket_tx(self, key: TicketKey) -> Iterator[TicketTx]:
        """Work on one ticket in one transaction, holding its lock."""
        with self.write() as conn:
            if self.dialect == "postgresql":
                _advisory_lock(conn, _lock_id(key))
            yield TicketTx(self, conn, key)

    @contextmanager
    def batch_tx(self, keys: Iterable[TicketKey], *, optimistic: bool = False) -> Iterator[BatchTx]:
        """Work on several tickets in one transaction, holding all their locks (taken in one global order,
        so two workers whose batches share tickets wait for each other instead of deadlocking).

        `optimistic` (SQLite, where a transaction that writes holds the one write lock of the whole database,
        and the webhook door waits behind it): the batch reads what it needs and computes in a read
        transaction, then takes the write lock only to check that none of its tickets changed meanwhile
        (their versions) and to write. A ticket that changed, or an event older than its ticket's last one
        (its history is read back with the batch's events in it), raises `BatchConflict`: the caller does the
        batch again the usual way. On PostgreSQL, where the door's inserts never wait for a batch, the flag
        changes nothing."""
        if optimistic and self.dialect == "sqlite":
            with self.read() as conn:
                batch = BatchTx(self, conn, optimistic=True)
                yield batch
            batch.prepare()  # the values converted before the lock is taken
            with self.write() as conn:
                batch.start_writing(conn)
                batch.flush()
            return
        with self.write() as conn:
            if self.dialect == "postgresql":
                _advisory_locks(conn, sorted({_lock_id(key) for key in keys}))
            batch = BatchTx(self, conn)
            yield batch
            batch.flush()

    def tickets_to_check(self, *, now: datetime, limit: int = 500) -> list[TicketKey]:
        """Return tickets whose next check (a threshold or a breach) is due."""
        with self.read() as conn:
            rows = conn.execute(select(tickets.c.source, tickets.c.account, tickets.c.ticket_id)
                                .where(tickets.c.next_check_at <= now).order_by(tickets.c.next_check_at)
                                .limit(limit)).all()
        return [(r.source, r.account, r.ticket_id) for r in rows]

    def postpone_check(self, key: TicketKey, *, at: datetime) -> None:
        """Move a ticket's next check to `at` (its check failed: the others must not wait behind it)."""
        with self.write() as conn:
            conn.execute(update(tickets).where(*_ticket_where(tickets, key)).values(next_check_at=at))

    def ticket_state(self, key: TicketKey) -> dict[str, Any] | None:
        with self.read() as conn:
            state = conn.execute(select(tickets.c.state).where(*_ticket_where(tickets, key))).scalar()
        return state

    def ticket_events(self, key: TicketKey) -> list[Event]:
        with self.read() as conn:
            return _load_events(conn, key)

    def events_of(self, keys: Iterable[TicketKey], *, only: Collection[str] | None = None
                  ) -> dict[TicketKey, list[Event]]:
        """Return the stored events of several tickets (each in the order the core applies them), with one
        query per source, account and 500 tickets instead of one per ticket (a page of history's tickets);
        with `only`, just the events with those ids."""
        with self.read() as conn:
            return _load_events_of(conn, keys, only=only)

    def event_ids_of(self, keys: Iterable[TicketKey]) -> dict[TicketKey, list[str]]:
        """Return the ids of several tickets' stored events (in no particular order), without reading the
        events themselves (one query per source, account and 500 tickets)."""
        with self.read() as conn:
            return _stored_of(conn, keys, events.c.event_id)

    def all_events(self, *, until: datetime | None = None) -> list[Event]:
        """Return every stored event (up to `until`), in the order the core applies them."""
        query = select(events.c.payload).order_by(events.c.occurred_at, events.c.id)
        if until is not None:
            query = query.where(events.c.occurred_at <= until)
        with self.read() as conn:
            return [parse_event(r.payload) for r in conn.execute(query)]

    # -- outbox ---------------------------------------------------------------------------------

    def claim_outbox(self, *, now: datetime, limit: int = 20, lease: timedelta = timedelta(minutes=2),
                     sources: Sequence[str] | None = None) -> list[OutboxRow]:
        """Claim due pending actions: their next try moves `lease` ahead, so a crash retries them later."""
        due = and_(outbox.c.state == "pending", outbox.c.next_try_at <= now)
        if sources is not None:
            due = and_(due, outbox.c.source.in_(list(sources)))
        pick = select(outbox.c.id).where(due).order_by(outbox.c.next_try_at, outbox.c.id).limit(limit)
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (update(outbox).where(outbox.c.id.in_(pick.scalar_subquery()))
                .values(next_try_at=now + lease, attempts=outbox.c.attempts + 1, updated_at=now)
                .returning(*outbox.c))
        with self.write() as conn:
            rows = conn.execute(stmt).all()
        return sorted((_outbox_row(r) for r in rows), key=lambda r: r.id)

    def outbox_done(self, row_id: int, *, now: datetime, state: str = "done", detail: str | None = None) -> None:
        with self.write() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row_id).values(
                state=state, sent_at=now if state == "done" else None, updated_at=now, last_error=detail))

    def outbox_retry(self, row_id: int, *, now: datetime, at: datetime, error: str) -> None:
        with self.write() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row_id).values(
                state="pending", next_try_at=at, last_error=error[:2000], updated_at=now))

    def outbox_dead(self, row: OutboxRow, *, now: datetime, reason: str) -> None:
        """Give up on an action: it moves to dead letters with its reason."""
        with self.write() as conn:
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(
                state="dead", last_error=reason[:2000], updated_at=now))
            conn.execute(self._insert(dead_letters).values(
                outbox_id=row.id, key=row.key, source=row.source, action=row.action, reason=reason[:2000],
                attempts=row.attempts, created_at=now).on_conflict_do_nothing(index_elements=["outbox_id"]))

    def superseded(self, row: OutboxRow) -> bool:
        """Return whether a newer due date for the same clock was decided after this one."""
        if row.action != "set_due_date":
            return False
        with self.read() as conn:
            newer = conn.execute(select(outbox.c.id, outbox.c.params).where(
                outbox.c.source == row.source, outbox.c.account == row.account, outbox.c.ticket_id == row.ticket_id,
                outbox.c.action == "set_due_date", outbox.c.id > row.id)).all()
        return any(r.params.get("metric") == row.params.get("metric") and
                   r.params.get("cycle") == row.params.get("cycle") for r in newer)

    def outbox_rows(self, *, states: Sequence[str] | None = None, limit: int = 100) -> list[OutboxRow]:
        query = select(*outbox.c).order_by(outbox.c.id.desc()).limit(limit)
        if states:
            query = query.where(outbox.c.state.in_(list(states)))
        with self.read() as conn:
            return [_outbox_row(r) for r in conn.execute(query).all()]

    def outbox_requeue(self, row_ids: Iterable[int], *, now: datetime) -> int:
        """Send dead (or dropped) actions again from their first try; return how many."""
        ids = list(row_ids)
        with self.write() as conn:
            count = conn.execute(update(outbox).where(outbox.c.id.in_(ids), outbox.c.state.in_(["dead", "dropped"]))
                                 .values(state="pending", attempts=0, next_try_at=now, updated_at=now)).rowcount
            conn.execute(delete(dead_letters).where(dead_letters.c.outbox_id.in_(ids)))
        return int(count)

    def outbox_drop(self, row_ids: Iterable[int], *, now: datetime) -> int:
        """Give up on actions for good (they stay, marked dropped, for the audit); return how many."""
        ids = list(row_ids)
        with self.write() as conn:
            count = conn.execute(update(outbox).where(outbox.c.id.in_(ids), outbox.c.state.in_(["pending", "dead"]))
                                 .values(state="dropped", updated_at=now)).rowcount
        return int(count)

    # -- metrics --------------------------------------------------------------------------------

    def stats(self, *, now: datetime) -> dict[str, Any]:
        """Queue depths and ages, outcomes and breaches, for /metrics and /readyz."""
        with self.read() as conn:
            pending = inbox.c.state == "pending"
            inbox_depth: dict[str, int] = {r[0]: r[1] for r in conn.execute(
                select(inbox.c.source, func.count()).where(pending).group_by(inbox.c.source)).all()}
            oldest_inbox = conn.execute(select(func.min(inbox.c.received_at)).where(pending)).scalar()
            outbox_states = {(r[0], r[1]): r[2] for r in conn.execute(
                select(outbox.c.source, outbox.c.state, func.count()).group_by(outbox.c.source, outbox.c.state)).all()}
            oldest_outbox = conn.execute(
                select(func.min(outbox.c.created_at)).where(outbox.c.state == "pending")).scalar()
            dead = conn.execute(select(func.count()).select_from(dead_letters)).scalar() or 0
            breaches: dict[str, int] = {r[0]: r[1] for r in conn.execute(
                select(clocks.c.severity, func.count()).where(clocks.c.breached.is_(True))
                .group_by(clocks.c.severity)).all()}
            failed = conn.execute(select(func.count()).where(inbox.c.state == "failed")).scalar() or 0
        return {
            "inbox_depth": inbox_depth,
            "inbox_oldest_age_seconds": 0.0 if oldest_inbox is None else (now - oldest_inbox).total_seconds(),
            "inbox_failed": failed,
            "outbox": outbox_states,
            "outbox_oldest_age_seconds": 0.0 if oldest_outbox is None else (now - oldest_outbox).total_seconds(),
            "dead_letters": dead,
            "breaches": breaches,
        }


class _TicketStatements:
    """A ticket transaction's statements, built once per store with bound parameters: building a statement
    with literal `.values(...)` for every event costs more than running it (SQLAlchemy coerces each value
    and computes a cache key per statement object); these are compiled once and reused."""

    def __init__(self, store: Store) -> None:
        insert = store._insert
        self.add_event = insert(events).on_conflict_do_nothing(
            index_elements=["source", "account", "event_id"]).returning(events.c.id)
        self.state = select(tickets.c.state, tickets.c.version).where(  # scalar(): the state alone
            tickets.c.source == bindparam("k_source"), tickets.c.account == bindparam("k_account"),
            tickets.c.ticket_id == bindparam("k_ticket"))
        self.save = _upsert_ticket(insert(tickets))
        self.save_clocks = _upsert_clocks(insert(clocks))
        self.add_decision = decisions.insert()
        self.board_clear = board.delete().where(
            board.c.source == bindparam("k_source"), board.c.account == bindparam("k_account"),
            board.c.ticket_id == bindparam("k_ticket"))
        self.board_add = board.insert()
        self.enqueue = _actions_once(insert(outbox)).returning(outbox.c.key)
        self.outbox_keys = select(outbox.c.key).where(
            outbox.c.source == bindparam("k_source"), outbox.c.account == bindparam("k_account"),
            outbox.c.ticket_id == bindparam("k_ticket"))


def _upsert_ticket(upsert: Any) -> Any:
    """A ticket row's upsert, from an insert construct of `tickets` (rows one at a time, or in bulk)."""
    saved = ("state", "last_event_at", "next_check_at", "severity", "policy", "updated_at")
    return upsert.on_conflict_do_update(
        index_elements=["source", "account", "ticket_id"],
        set_={**{c: upsert.excluded[c] for c in saved}, "version": tickets.c.version + 1})


CLOCK_KEY = ("source", "account", "ticket_id", "metric", "cycle")


def _upsert_clocks(upsert: Any) -> Any:
    """Clock rows' upsert (one per metric and cycle), from an insert construct of `clocks`."""
    return upsert.on_conflict_do_update(
        index_elements=list(CLOCK_KEY),
        set_={c.name: upsert.excluded[c.name] for c in clocks.c if c.name not in (*CLOCK_KEY, "id")})


def _actions_once(insert_: Any) -> Any:
    """Actions added unless their key is in the outbox already, from an insert construct of `outbox`."""
    return insert_.on_conflict_do_nothing(index_elements=["key"])


CLAIM_LOCK = 0x534C4143  # the advisory lock that serializes workers' claims (PostgreSQL)


def _key_params(key: TicketKey) -> dict[str, str]:
    """A ticket key as the parameters of `_TicketStatements`' ticket-scoped selects."""
    return {"k_source": key[0], "k_account": key[1], "k_ticket": key[2]}


def _advisory_lock(conn: Connection, lock: int) -> None:
    """Take a PostgreSQL advisory lock for the rest of the transaction."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _advisory_locks(conn: Connection, locks: Sequence[int]) -> None:
    """Take several PostgreSQL advisory locks, in the order given, in one statement (one round trip)."""
    if locks:
        conn.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ks AS bigint[])) "
                          "WITH ORDINALITY AS l(k, n) ORDER BY n"), {"ks": list(locks)})


def _ticket_chunks(keys: Iterable[TicketKey]) -> Iterator[tuple[str, str, Sequence[str]]]:
    """Tickets grouped for `IN` queries: (source, account, up to 500 of their ticket ids)."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for source, account, ticket_id in keys:
        wanted.setdefault((source, account), set()).add(ticket_id)
    for (source, account), ticket_ids in wanted.items():
        for chunk in _chunks(sorted(ticket_ids)):
            yield source, account, chunk


def _ticket_where(table: Any, key: TicketKey) -> tuple[Any, ...]:
    return (table.c.source == key[0], table.c.account == key[1], table.c.ticket_id == key[2])


def _load_events(conn: Connection, key: TicketKey) -> list[Event]:
    return _load_events_of(conn, [key])[key]


def _load_events_of(conn: Connection, keys: Iterable[TicketKey], *, only: Collection[str] | None = None
                    ) -> dict[TicketKey, list[Event]]:
    """Each ticket's stored events (`only` those ids, if given), in the order the core applies them (one
    query per 500 tickets)."""
    payloads = _stored_of(conn, keys, events.c.payload, only=only, ordered=True)
    return {key: [parse_event(payload) for payload in found] for key, found in payloads.items()}


def _stored_of(conn: Connection, keys: Iterable[TicketKey], column: Any, *, only: Collection[str] | None = None,
               ordered: bool = False) -> dict[TicketKey, list[Any]]:
    """One column of each ticket's stored events (`only` those event ids, if given; `ordered` as the core
    applies them), one query per source, account and 500 tickets."""
    out: dict[TicketKey, list[Any]] = {}
    for source, account, chunk in _ticket_chunks(keys):
        out.update({(source, account, t): [] for t in chunk})
        query = select(events.c.ticket_id, column).where(
            events.c.source == source, events.c.account == account, events.c.ticket_id.in_(chunk))
        if only is not None:
            query = query.where(events.c.event_id.in_(sorted(only)))
        if ordered:
            query = query.order_by(events.c.occurred_at, events.c.id)
        for ticket_id, value in conn.execute(query):
            out[(source, account, ticket_id)].append(value)
    return out


def _outbox_row(r: Any) -> OutboxRow:
    return OutboxRow(id=r.id, key=r.key, source=r.source, account=r.account, ticket_id=r.ticket_id, action=r.action,
                     params=r.params or {}, cause=r.cause, state=r.state, attempts=r.attempts,
                     next_try_at=r.next_try_at, last_error=r.last_error, created_at=r.created_at)


class BatchConflict(Exception):
    """An optimistic batch cannot write what it computed (a ticket changed since it read it, or it needs to
    write before its end): it is to be done again, holding the lock from the start."""


@dataclass(frozen=True, slots=True)
class Kept:
    """What a worker keeps of a ticket after a committed batch (`BatchTx.kept`), to begin the ticket's next
    batch from while its stored `version` has not moved (every writer of the ticket's state, clock and board
    rows moves it): the caller's `decoded` state, and the clock and board rows stored with it, as
    `TicketTx.stored_clocks` and `stored_board` hold them."""

    version: int
    decoded: Any
    clocks: dict[tuple[Any, Any], tuple[Any, ...]]
    board: tuple[tuple[Any, ...], ...] | None
    # the ticket's keys in the outbox: only the ticket's own transactions add one, and each moves its version
    outbox_keys: frozenset[str] = frozenset()


# An optimistic batch's two statements under SQLite's write lock, as plain SQL through the driver: the ids as
# one JSON array (`json_each`), so the statement text never changes. Through SQLAlchemy's expanding IN, the
# two took 7 ms of a batch's 40 ms under the lock on a machine where this takes under 1 ms.
_SQLITE_VERSIONS = ("SELECT ticket_id, version FROM tickets WHERE source = ? AND account = ? "
                    "AND ticket_id IN (SELECT value FROM json_each(?))")
_SQLITE_DONE = ("UPDATE inbox SET state = 'done', error = NULL, processed_at = ?, claimed_by = NULL, "
                "claimed_until = NULL WHERE id IN (SELECT value FROM json_each(?))")


# PostgreSQL's: the ids as one array parameter (`= ANY`), so the statement's text, and psycopg's prepared
# statement, are the same for every batch (an `IN` list of 500 placeholders changed with the batch's size)
_PG_DONE = update(inbox).where(
    inbox.c.id == func.any(bindparam("ids", type_=postgresql.ARRAY(inbox.c.id.type)))).values(
    state="done", error=None, processed_at=bindparam("now", type_=inbox.c.processed_at.type), claimed_by=None,
    claimed_until=None)


# a clock or board row's values but its `updated_at` (and the clock row's id), as a tuple: what tells a row
# stored as it is from one that changed (a tuple: a fraction of a dict's memory, kept for thousands of tickets)
_CLOCK_VALUES = itemgetter(*(c.name for c in clocks.c if c.name not in ("id", "updated_at")))
_BOARD_VALUES = itemgetter(*(c.name for c in board.c if c.name != "updated_at"))


class BatchTx:
    """The transaction of a worker's batch: each ticket's part of it, and the deliveries it finishes."""

    def __init__(self, store: Store, conn: Connection, *, optimistic: bool = False) -> None:
        self.store = store
        self.conn = conn
        self.writing = not optimistic   # an optimistic batch writes only once `start_writing` has checked
        self.versions: dict[TicketKey, int | None] = {}  # each ticket's version as read (None: no row yet)
        self._finished: tuple[list[int], datetime] | None = None  # an optimistic batch's deliveries, done
        self._prepared: list[Write] | None = None
        self._tickets: dict[TicketKey, TicketTx] = {}
        self.known_events: set[tuple[str, str, str]] = set()  # (source, account, event_id) stored or pending
        self.pending_events: list[dict[str, Any]] = []
        self.pending_decisions: list[dict[str, Any]] = []
        self.pending_actions: list[dict[str, Any]] = []
        self.states: dict[TicketKey, dict[str, Any] | None] = {}  # preloaded: each ticket's stored state
        self.outbox_keys: dict[TicketKey, set[str]] = {}          # preloaded: each ticket's keys in the outbox
        self.reused: dict[TicketKey, Kept] = {}  # what the caller kept of its tickets, still current (`preload`)
        self._written: list[TicketKey] = []     # the tickets whose state the batch writes (`prepare`)

    def preload(self, batch_events: Iterable[Event], kept: Mapping[TicketKey, Kept] | None = None) -> None:
        """Read what the batch's tickets hold already, one query per table, source and account: which of its
        events are stored (so "is it a repeat?" needs no statement of its own), each ticket's state and the
        keys of its actions in the outbox. The batch holds every one of its tickets' locks, so nothing else
        changes them until it ends.

        `kept`: what the caller kept of some tickets after an earlier batch (`BatchTx.kept`). A ticket whose
        stored version is still the kept one is not read: its decoded state starts the ticket's part of the
        batch (`TicketTx.decoded`), its keys in the outbox are the kept ones, and its clock and board rows that
        the batch leaves as they are stored are not written again."""
        kept = kept or {}
        wanted: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        for event in batch_events:
            ids, ticket_ids = wanted.setdefault((event.source, event.account), (set(), set()))
            ids.add(event.event_id)
            ticket_ids.add(event.ticket_id)
        for (source, account), (ids, ticket_ids) in wanted.items():
            for chunk in _chunks(sorted(ids)):
                found = self.conn.execute(select(events.c.event_id).where(
                    events.c.source == source, events.c.account == account, events.c.event_id.in_(chunk)))
                self.known_events.update((source, account, event_id) for event_id in found.scalars())
            for chunk in _chunks(sorted(ticket_ids)):
                self.versions.update({(source, account, t): None for t in chunk})
                self._read_states(source, account, chunk, kept)
                unknown = []  # the tickets whose outbox keys were not kept with their current version
                for t in chunk:
                    known = self.reused.get((source, account, t))
                    self.outbox_keys[(source, account, t)] = set() if known is None else set(known.outbox_keys)
                    if known is None:
                        unknown.append(t)
                if not unknown:
                    continue
                for row in self.conn.execute(select(outbox.c.ticket_id, outbox.c.key).where(
                        outbox.c.source == source, outbox.c.account == account, outbox.c.ticket_id.in_(unknown))):
                    self.outbox_keys[(source, account, row.ticket_id)].add(row.key)

    def _read_states(self, source: str, account: str, chunk: Sequence[str],
                     kept: Mapping[TicketKey, Kept]) -> None:
        """Each ticket's version and stored state; a ticket whose version is its `kept` one is not read (what
        was kept is `reused`): then the versions come first, the other states next."""
        def where(ticket_ids: Sequence[str]) -> tuple[Any, ...]:
            return tickets.c.source == source, tickets.c.account == account, tickets.c.ticket_id.in_(ticket_ids)

        if not any((source, account, t) in kept for t in chunk):
            for held in self.conn.execute(select(tickets.c.ticket_id, tickets.c.state, tickets.c.version)
                                          .where(*where(chunk))):
                self.states[(source, account, held.ticket_id)] = held.state
                self.versions[(source, account, held.ticket_id)] = held.version
            return
        stale = []
        for ticket_id, version in self.conn.execute(select(tickets.c.ticket_id, tickets.c.version)
                                                    .where(*where(chunk))):
            key = (source, account, ticket_id)
            self.versions[key] = version
            known = kept.get(key)
            if known is not None and known.version == version:
                self.reused[key] = known
            else:
                stale.append(ticket_id)
        if stale:
            for ticket_id, state in self.conn.execute(select(tickets.c.ticket_id, tickets.c.state)
                                                      .where(*where(stale))):
                self.states[(source, account, ticket_id)] = state

    def start_writing(self, conn: Connection) -> None:
        """Move an optimistic batch to its write transaction, once none of its tickets changed since read."""
        self.conn = conn
        for tx in self._tickets.values():
            tx.conn = conn
        now: dict[TicketKey, int | None] = dict.fromkeys(self.versions)
        for source, account, chunk in _ticket_chunks(self.versions):
            # under SQLite's write lock: one statement text, the ids as one JSON array (see `_SQLITE_VERSIONS`)
            for ticket_id, version in conn.exec_driver_sql(_SQLITE_VERSIONS, (source, account, orjson.dumps(chunk)
                                                                              .decode())):
                now[(source, account, ticket_id)] = version
        if now != self.versions:
            raise BatchConflict("a ticket of the batch changed since it was read")
        self.writing = True
        if self._finished is not None:
            self.finish_inbox(self._finished[0], now=self._finished[1])

    def _needs_writing(self, why: str) -> None:
        if not self.writing:
            raise BatchConflict(why)

    def flush_events(self) -> None:
        self._needs_writing("a ticket's history is read back with the batch's events in it")
        if self.pending_events:
            self.store.bulk.insert(self.conn, "events", events, self.pending_events)
            self.pending_events = []

    def ticket(self, key: TicketKey) -> TicketTx:
        tx = self._tickets.get(key)
        if tx is None:
            tx = self._tickets[key] = TicketTx(self.store, self.conn, key, batch=self)
        return tx

    def prepare(self) -> None:
        """Build the batch's writes, every value converted (see `BulkWriter`): its events, each ticket's last
        state and clock rows (what its events' writes would have left), its board rows, the decisions and the
        new actions. An optimistic batch prepares them before it takes the write lock."""
        bulk = self.store.bulk
        states, clock_rows, cleared, running = [], [], [], []
        for tx in self._tickets.values():  # every ticket's rows, to write in one statement per table
            state, rows, on_board = tx.take_deferred()
            if state is not None:
                states.append(state)
                self._written.append(tx.key)
            clock_rows += rows
            if on_board is not None:
                cleared.append(dict(zip(("source", "account", "ticket_id"), tx.key, strict=True)))
                running += on_board
        self._prepared = [
            bulk.prepared_insert("events", events, self.pending_events),
            bulk.prepared_insert("tickets", tickets, states, _upsert_ticket),
            bulk.prepared_insert("clocks", clocks, clock_rows, _upsert_clocks),
            bulk.prepared_delete("board", board, cleared),
            bulk.prepared_insert("board", board, running),
            bulk.prepared_insert("decisions", decisions, self.pending_decisions),
            # the actions' keys were checked against the preloaded ones, under the locks
            bulk.prepared_insert("outbox", outbox, self.pending_actions, _actions_once),
        ]
        self.pending_events, self.pending_decisions, self.pending_actions = [], [], []

    def flush(self) -> None:
        """Write what the batch prepared (`prepare`, if not done yet), one statement per table."""
        if self._prepared is None:
            self.prepare()
        for write in self._prepared or ():
            write(self.conn)
        self._prepared = None

    def kept(self) -> dict[TicketKey, Kept]:
        """Once the batch is committed: what a worker may keep of each ticket for its next batch (`preload`):
        the decoded state as the batch left it (`TicketTx.decoded`), the clock and board rows now stored, and
        the version its stored row now has (the batch's upsert added one), and its keys in the outbox."""
        written = set(self._written)
        out: dict[TicketKey, Kept] = {}
        for key, tx in self._tickets.items():
            version = self.versions.get(key)
            if tx.decoded is None:
                continue
            keys = frozenset(tx.outbox_keys or ())
            if key in written:
                out[key] = Kept((version or 0) + 1, tx.decoded, tx.stored_clocks, tx.stored_board, keys)
            elif version is not None:  # its events were all repeats: the stored rows are the ones it began from
                out[key] = Kept(version, tx.decoded, tx.stored_clocks, tx.stored_board, keys)
        return out

    def finish_inbox(self, inbox_ids: Sequence[int], *, now: datetime) -> None:
        """Mark the batch's deliveries done, in the same transaction as their effects."""
        if not self.writing:  # an optimistic batch: with its writes
            self._finished = (list(inbox_ids), now)
            return
        if not inbox_ids:
            return
        if self.store.dialect == "sqlite":  # under the write lock: see `_SQLITE_DONE`
            self.conn.exec_driver_sql(_SQLITE_DONE, (sqlite_instant(now), orjson.dumps(list(inbox_ids)).decode()))
            return
        self.conn.execute(_PG_DONE, {"now": now, "ids": list(inbox_ids)})


class TicketTx:
    """One ticket's transaction: its events, state, clock rows, decisions and new actions."""

    def __init__(self, store: Store, conn: Connection, key: TicketKey, *, batch: BatchTx | None = None) -> None:
        """Within a `batch`, the events and decisions are written with the batch, and the state and clock rows
        once when it ends (kept here until `take_deferred`)."""
        self.store = store
        self.conn = conn
        self.key = key
        self.batch = batch
        self.decoded: Any = None  # within a batch: the caller's decoded state after the ticket's last event
        # within a batch, the ticket's clock rows (by metric and cycle) and board rows known to be stored, each
        # without its `updated_at` (None: the board rows are not known); a row stored as it is is not written
        self.stored_clocks: dict[tuple[Any, Any], tuple[Any, ...]] = {}
        self.stored_board: tuple[tuple[Any, ...], ...] | None = None
        # within a batch, the ticket's keys in the outbox, read with the batch: an event's report lists every
        # action decided so far, and offering them all again on every event costs more than the rest of it
        self.outbox_keys: set[str] | None = None
        self._preloaded: dict[str, Any] | None = None
        if batch is not None:
            if key not in batch.outbox_keys:  # a ticket the batch did not preload (a rebuilt history's)
                batch.outbox_keys[key] = set(conn.execute(store.ticket_statements.outbox_keys,
                                                          _key_params(key)).scalars())
                row = conn.execute(store.ticket_statements.state, _key_params(key)).first()
                batch.states[key] = None if row is None else row.state
                batch.versions[key] = None if row is None else row.version
            self.outbox_keys = batch.outbox_keys[key]
            self._preloaded = batch.states.get(key)
            known = batch.reused.get(key)
            if known is not None:
                self.decoded, self.stored_clocks, self.stored_board = known.decoded, known.clocks, known.board
        self._state: dict[str, Any] | None = None
        self._clocks: dict[tuple[Any, Any], dict[str, Any]] = {}
        self._board: list[dict[str, Any]] | None = None  # the ticket's running clocks, if evaluated in the batch

    def add_event(self, event: Event, inbox_id: int | None) -> bool:
        """Record a canonical event; False if it was already recorded (a repeat)."""
        row = {"source": event.source, "account": event.account, "ticket_id": event.ticket_id,
               "event_id": event.event_id, "occurred_at": event.occurred_at, "type": event.type,
               "payload": event_to_dict(event), "inbox_id": inbox_id}
        if self.batch is not None:
            known = (event.source, event.account, event.event_id)
            if known in self.batch.known_events:
                return False
            self.batch.known_events.add(known)
            self.batch.pending_events.append(row)
            return True
        return self.conn.execute(self.store.ticket_statements.add_event, row).scalar() is not None

    def events(self) -> list[Event]:
        if self.batch is not None:
            self.batch.flush_events()  # the history read back includes the batch's events so far
        return _load_events(self.conn, self.key)

    def state(self) -> dict[str, Any] | None:
        if self._state is not None:
            return dict(self._state["state"]())
        if self.batch is not None:
            return None if self._preloaded is None else dict(self._preloaded)
        state: dict[str, Any] | None = self.conn.execute(self.store.ticket_statements.state,
                                                         _key_params(self.key)).scalar()
        return state

    def save(self, *, state: Callable[[], Mapping[str, Any]], last_event_at: datetime, next_check_at: datetime | None,
             severity: str, policy: str | None, now: datetime) -> None:
        """Save the ticket row; `state` gives its JSON (called once: within a batch, when the batch ends)."""
        row: dict[str, Any] = {"source": self.key[0], "account": self.key[1], "ticket_id": self.key[2],
               "version": 1, "state": state, "last_event_at": last_event_at, "next_check_at": next_check_at,
               "severity": severity, "policy": policy, "updated_at": now}
        if self.batch is not None:
            self._state = row
        else:
            self.conn.execute(self.store.ticket_statements.save, {**row, "state": dict(state())})

    def save_clocks(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Upsert the ticket's clock rows (one per metric and cycle)."""
        if self.batch is not None:  # the last row of each metric and cycle is what the upserts would have left
            self._clocks.update(((r["metric"], r["cycle"]), dict(r)) for r in rows)
        elif rows:
            self.conn.execute(self.store.ticket_statements.save_clocks, [dict(r) for r in rows])

    def save_board(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Replace the ticket's rows on the board: its clocks running now (none: the ticket leaves it)."""
        if self.batch is not None:  # the last evaluation's rows are what the replacements would have left
            self._board = [dict(r) for r in rows]
            return
        self.conn.execute(self.store.ticket_statements.board_clear, _key_params(self.key))
        if rows:
            self.conn.execute(self.store.ticket_statements.board_add, [dict(r) for r in rows])

    def take_deferred(self) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]] | None]:
        """Hand over what this transaction kept within its batch, for the batch to write: the ticket row's
        values, its clock rows and its board rows (None: not evaluated, or stored as they are).

        A clock row or the board rows whose values but `updated_at` are the stored ones are left out: about
        two in five clock rows of a burst (an earlier cycle's stopped clock, a paused one) and half the
        tickets' board rows, whose rewriting held SQLite's write lock for nothing (docs/decisions.md)."""
        state = None if self._state is None else {**self._state, "state": dict(self._state["state"]())}
        stored = self.stored_clocks = dict(self.stored_clocks)  # the batch's copy: kept only once it commits
        rows = []
        for row in self._clocks.values():
            values = _CLOCK_VALUES(row)
            at = (row["metric"], row["cycle"])
            if stored.get(at) != values:
                stored[at] = values
                rows.append(row)
        on_board = self._board
        if on_board is not None:
            values_on_board = tuple(map(_BOARD_VALUES, on_board))
            if values_on_board == self.stored_board:
                on_board = None
            self.stored_board = values_on_board
        self._state, self._clocks, self._board = None, {}, None
        return state, rows, on_board

    def add_decision(self, *, event_id: str | None, decided_at: datetime, severity: str, declared: str | None,
                     rule: str, policy: str | None, summary: Mapping[str, Any]) -> None:
        row = {"source": self.key[0], "account": self.key[1], "ticket_id": self.key[2], "event_id": event_id,
               "decided_at": decided_at, "severity": severity, "declared": declared, "rule": rule,
               "policy": policy, "summary": dict(summary)}
        if self.batch is not None:
            self.batch.pending_decisions.append(row)
        else:
            self.conn.execute(self.store.ticket_statements.add_decision, row)

    def has_action(self, key: str) -> bool:
        """Whether an action with this key is known to be in the outbox (within a batch; False: not known)."""
        return self.outbox_keys is not None and fit(key, 512) in self.outbox_keys

    def enqueue(self, actions: Sequence[NewAction], *, now: datetime) -> list[str]:
        """Add actions to the outbox unless their key is already there; return the keys added (in order).

        One statement for all of them (a multi-row INSERT … ON CONFLICT DO NOTHING RETURNING key): an event's
        report lists every action decided so far, and most are already in the outbox."""
        if not actions:
            return []
        known = self.outbox_keys if self.outbox_keys is not None else set()
        rows: list[dict[str, Any]] = [{"key": key, "source": a.source, "account": a.account, "ticket_id": a.ticket_id,
                                       "action": a.action, "params": dict(a.params), "cause": a.cause,
                                       "state": a.state, "attempts": 0, "next_try_at": now, "created_at": now,
                                       "updated_at": now}
                                      for a in actions if (key := fit(a.key, 512)) not in known]
        if not rows:
            return []
        added: list[str] = []
        if self.batch is not None and self.outbox_keys is not None:  # written with the batch
            for row in rows:
                if row["key"] not in self.outbox_keys:  # a key listed twice is added once
                    self.outbox_keys.add(row["key"])
                    self.batch.pending_actions.append(row)
                    added.append(row["key"])
            return added
        inserted = set(self.conn.execute(self.store.ticket_statements.enqueue, rows).scalars())
        for row in rows:  # in the report's order; a key listed twice is added once
            if row["key"] in inserted:
                inserted.discard(row["key"])
                added.append(row["key"])
        return added
