"""A sick database, error by error: it answers, but with an error (robustness pass on the store).

`test_db_faults.py` and R11 cut the cable and black-hole it. A production database also fails while it
answers: the disk is full, a failover left the connector on a read-only standby, an administrator
terminated its sessions, the server has too many connections, a transaction lost a serialization conflict
or a deadlock, a statement timed out, a botched migration left a table missing, the server hit an
internal error. Each is injected here into the real PostgreSQL of the test's schema — a PL/pgSQL trigger
on the table a step writes raises the SQLSTATE (DROP TRIGGER heals), and for real where one schema allows
it: a read-only session, `pg_terminate_backend`, a server-side statement timeout, a renamed table — and
into SQLite: a database whose `max_page_count` leaves no room (SQLITE_FULL), a read-only one (`query_only`
on the connector's connections; the tests run as root, so a chmod would not stop them) and a renamed table.

What must hold, for every error:

- the door (`POST /hooks/webhook`) never answers 500: always JSON, within `BOUND` seconds, 202 (stored,
  or spooled to disk) or 503 with Retry-After (a missing table: a deployment error);
- every delivery it acknowledged is applied exactly once after healing (spool and inbox drained);
- no delivery ends `failed` because of an error that says nothing about it: a worker that meets one gives
  its batch back without counting the attempt, however long the sickness lasts (here `MAX_INBOX_ATTEMPTS` + 2
  turns, the worker's clock moving 10 minutes a turn, past every retry delay and every lease);
- deliveries that come after healing are not blocked; the worker, write-back and scheduler loops go on;
- an error the database answered with (all but a session it ended) leaves the circuit breaker closed: reads
  (/readyz here) go on while writes fail, and nothing waits out a cool-down once it is healed.

What an error means is read from its SQLSTATE or SQLite result code (`connector.store.breaker.classify`),
not from the driver's exception class: the last tests pin that table. A class-23 refusal at the inbox and a
spooled delivery the inbox refuses are here too: neither may cost other deliveries their way in.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select

from adapters.base import WriteAction, WriteResult
from connector.errors import StoreUnavailable
from connector.events import format_instant
from connector.runtime.outbox import Executor
from connector.runtime.scheduler import Sweeper
from connector.runtime.worker import MAX_INBOX_ATTEMPTS, TicketProcessor, Worker
from connector.store import Store
from connector.store.breaker import Breaker
from connector.store.db import normalize_url
from connector.store.schema import dead_letters, decisions, events, inbox, outbox, tickets
from connector.store.spool import Spooled
from tests import helpers
from tests.integration.support import created_body, make_app, new_webhook_secret, signed

pytestmark = pytest.mark.reliability

BOUND = 10.0          # seconds: every answer of the door, sick database or not
TIMEOUT = 2.0         # the store's answer timeout (a sick database answers at once: this is never waited out)
TURNS = MAX_INBOX_ATTEMPTS + 2
CALLBACK = "https://hooks.example.test/sla"
WORKER_TABLES = ("events", "tickets", "clocks", "outbox", "inbox")
ESCALATIONS = [{"name": "breach", "when": {"metric": "first_response", "breached": True},
                "actions": [{"add_tags": ["sla_breached"]}]}]

# what a sick PostgreSQL answers with: none of these says anything about the delivery being written
CODES = [
    pytest.param("53100", id="53100-disk_full"),
    pytest.param("25006", id="25006-read_only_sql_transaction"),
    pytest.param("57P01", id="57P01-admin_shutdown"),
    pytest.param("53300", id="53300-too_many_connections"),
    pytest.param("40001", id="40001-serialization_failure"),
    pytest.param("40P01", id="40P01-deadlock_detected"),
    pytest.param("57014", id="57014-query_canceled"),
    pytest.param("42P01", id="42P01-undefined_table"),
    pytest.param("XX000", id="XX000-internal_error"),
]
MISDEPLOYED = {"42P01"}   # a deployment error: the door answers 503 rather than acknowledge
SESSION_ENDED = {"57P01", "53300"}   # the session is gone (or was never had): these open the breaker

# -- the connector under test ---------------------------------------------------------------------------


class Clock:
    """The worker's clock: now, plus however far the test moved it (past retry delays and leases)."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


class RecordingWriter:
    """A help desk that takes every write-back and remembers each action's key."""

    source = "webhook"
    configured = True

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def write(self, action: WriteAction) -> WriteResult:
        self.sent[action.key] += 1
        return WriteResult(outcome="sent")


class Rig:
    """One store, its web app (with a spool) and a worker over it, and what the door acknowledged."""

    def __init__(self, url: str, tmp_path: Path, *, writer: RecordingWriter | None = None,
                 description: str | None = None) -> None:
        self.url = url
        self.store = Store(url, timeout=TIMEOUT)
        self.store.upgrade()
        # the breaker's real cool-downs (1 s doubling to 30 s) would only cost the test time
        self.store.breaker = Breaker(base=0.05, cap=0.5)
        # the test's own view of the database: no breaker, no pool shared with the connector
        self.peek = sa.create_engine(normalize_url(url), pool_pre_ping=True)
        self.secret = new_webhook_secret()
        self.config = helpers.config(sources={"webhook": {"callback_url": CALLBACK}}, escalations=ESCALATIONS)
        self.spool_dir = tmp_path / "spool"
        self.app = make_app(self.store, secret=self.secret, config=self.config, spool_dir=str(self.spool_dir),
                            limit=1024 * 1024)
        self.client = self.app.test_client()
        self.clock = Clock()
        ctx = self.app.extensions["connector"]
        self.processor = TicketProcessor(self.store, self.config, {"webhook": writer}, clock=self.clock)
        self.worker = Worker(self.store, self.processor, ctx.adapters, clock=self.clock, spool=ctx.spool,
                             name="sick-worker")
        self.description = description
        self.acked: list[str] = []
        self.door: Counter[str] = Counter()
        self.turns_seen: Counter[str] = Counter()
        self._n = 0

    def close(self) -> None:
        self.worker.close()
        self.store.dispose()
        self.peek.dispose()

    # -- the door

    def post(self, name: str, *, ticket: str | None = None, recent: bool = False) -> tuple[int, dict[str, Any]]:
        """Send one signed delivery (a new ticket, or a comment on `ticket`); check the answer's time and
        shape; remember it if acknowledged. Return the status and the JSON."""
        self._n += 1
        changes: dict[str, Any] = {"ticket_id": ticket or f"T-{name}", "event_id": f"e-{name}"}
        at = datetime.now(UTC) - timedelta(minutes=1) if recent else \
            datetime(2026, 3, 2, 14, tzinfo=UTC) + timedelta(minutes=self._n)
        changes["occurred_at"] = format_instant(at)
        if ticket is not None:
            changes |= {"type": "comment.added", "comment": {"author_role": "end_user", "public": True}}
        else:
            changes["ticket"] = json.loads(created_body())["ticket"] | {
                "created_at": format_instant(at), "description": self.description or "Every checkout fails."}
        body = created_body(**changes)
        started = time.monotonic()
        response = self.client.post("/hooks/webhook", data=body, headers=signed(self.secret, body))
        took = time.monotonic() - started
        data = response.get_json(silent=True)
        assert took < BOUND, (name, took)
        assert response.status_code in (200, 202, 503), (name, response.status_code, response.data[:300])
        assert isinstance(data, dict), (name, response.data[:300])
        if response.status_code == 503:
            assert data["error"] == "unavailable", data
            assert 1 <= int(response.headers["Retry-After"]) <= 30
            self.door["503"] += 1
        else:
            self.acked.append(f"e-{name}")
            self.door["spooled" if data.get("spooled") else str(response.status_code)] += 1
        return response.status_code, data

    # -- the worker

    def turns(self, count: int = TURNS) -> Counter[str]:
        """Run the worker while the database is sick, each turn 10 minutes after the last (past every retry
        delay and lease), as a worker would over the hours a sickness may last."""
        seen: Counter[str] = Counter()
        for _ in range(count):
            self.clock.ahead += timedelta(minutes=10)
            try:
                self.worker.run_once()
            except Exception as err:  # noqa: BLE001 - run_forever backs off on anything; here it is counted
                seen[type(err).__name__] += 1
            else:
                seen["ok"] += 1
        self.turns_seen.update(seen)
        return seen

    def drain(self, within: float = 30.0) -> None:
        """After healing: run the worker until the spool and the inbox are empty (the breaker may still be
        cooling down at first)."""
        deadline = time.monotonic() + within
        while True:
            try:
                claimed = self.worker.run_once()
            except StoreUnavailable:
                claimed = -1
                time.sleep(0.05)
            if claimed == 0 and not self.spooled() and not self.pending():
                return
            assert time.monotonic() < deadline, ("not drained", self.spooled(), self.pending(), self.failed())

    # -- what the database holds (read past the connector, which may be cooling down)

    def spooled(self) -> list[Path]:
        return list(self.spool_dir.glob("*/*.delivery"))

    def pending(self) -> int:
        with self.peek.connect() as conn:
            return len(conn.execute(select(inbox.c.id).where(inbox.c.state == "pending")).all())

    def failed(self) -> list[tuple[int, str]]:
        with self.peek.connect() as conn:
            return [(r.id, r.error) for r in conn.execute(select(inbox.c.id, inbox.c.error)
                                                        .where(inbox.c.state == "failed")).all()]

    def check(self) -> None:
        """Every acknowledged delivery applied exactly once (one event, one decision); nothing failed or left."""
        with self.peek.connect() as conn:
            applied = Counter(conn.execute(select(events.c.event_id)).scalars())
            decided = Counter(conn.execute(select(decisions.c.event_id)).scalars())
            states = Counter(conn.execute(select(inbox.c.state)).scalars())
        assert not self.failed()
        wrong = {e: (applied[e], decided[e]) for e in self.acked if applied[e] != 1 or decided[e] != 1}
        assert not wrong, wrong
        assert set(states) == {"done"}, states
        assert not self.spooled()


@dataclass
class Fault:
    """How a test makes one table (or the whole database) sick, and heals it."""

    on: Callable[[str], None]
    off: Callable[[str], None]
    misdeployed: bool = False                       # a deployment error: the door answers 503
    table_gone: bool = False                        # the table itself is missing: /readyz answers 503 too
    answers: bool = True                            # the database answers (it did not end the session): the
    #                                                 breaker stays closed and reads (/readyz) go on while sick
    tables: tuple[str, ...] = WORKER_TABLES          # what the worker writes that is made sick, one at a time
    between: Callable[[], None] = field(default=lambda: None)   # done before each sick phase


def exercise(rig: Rig, fault: Fault) -> None:
    """The door, then the worker (one sick table at a time), then healed: everything acknowledged applied once."""
    assert rig.post("first")[0] == 202
    rig.drain()
    fault.between()
    fault.on("inbox")           # the door, while the inbox cannot be written
    for n in range(2):
        status, data = rig.post(f"door-{n}")
        if fault.misdeployed:
            assert status == 503, data
        else:
            assert status == 202 and data == {"status": "accepted", "id": None, "spooled": True}, data
    fault.off("inbox")
    for table in fault.tables:  # the worker, while a table it writes cannot be
        rig.post(f"{table}-new")
        rig.post(f"{table}-reply", ticket="T-first")
        fault.between()
        fault.on(table)
        rig.post(f"{table}-during")
        seen = rig.turns()
        if fault.answers:  # an error the database answered with is no reason to stop reading from it
            assert rig.store.breaker.closed, (table, seen)
            ready = rig.client.get("/readyz")
            if fault.table_gone:  # … but an instance missing a table is not ready for traffic
                assert ready.status_code == 503 and ready.get_json()["error"] == "misconfigured", table
            else:
                assert ready.status_code == 200, table
        fault.off(table)
        assert not rig.failed(), (table, seen, rig.failed())
    rig.drain()
    status, data = rig.post("after")   # healed: a new delivery is stored and applied, not blocked
    assert status == 202 and data["id"] is not None, data
    rig.drain()
    rig.check()


def summary(rig: Rig, what: str) -> str:
    return (f"sick {what}: door {dict(sorted(rig.door.items()))} worker turns {dict(sorted(rig.turns_seen.items()))} "
            f"acked={len(rig.acked)} failed=0 lost=0 PASS")


# -- PostgreSQL: injections ----------------------------------------------------------------------------

FUNCTIONS = (
    # raise the SQLSTATE given as the trigger's argument
    "CREATE FUNCTION sick_raise() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'sick database (%)', TG_ARGV[0] USING ERRCODE = TG_ARGV[0]; END $$",
    # an administrator's pg_terminate_backend, arriving in the middle of the statement: FATAL 57P01
    "CREATE FUNCTION sick_terminate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1); RETURN NEW; END $$",
    # a statement slower than the session's statement_timeout: the server cancels it (57014)
    "CREATE FUNCTION sick_sleep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "PERFORM pg_sleep(1); RETURN NEW; END $$",
)


class Postgres:
    """Faults made in the test's schema, through the test's own sessions."""

    def __init__(self, url: str) -> None:
        self.application_name = parse_qs(urlsplit(url).query)["application_name"][0]
        self.engine = sa.create_engine(normalize_url(url), pool_pre_ping=True)
        with self.engine.begin() as conn:
            for ddl in FUNCTIONS:
                conn.execute(sa.text(ddl))

    def close(self) -> None:
        self.engine.dispose()

    def _ddl(self, sql: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql))

    def trigger(self, table: str, function: str, arg: str = "") -> None:
        self._ddl(f"CREATE TRIGGER sick BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW "
                  f"EXECUTE FUNCTION {function}('{arg}')")

    def heal(self, table: str) -> None:
        self._ddl(f"DROP TRIGGER IF EXISTS sick ON {table}")

    def rename(self, table: str) -> None:
        self._ddl(f"ALTER TABLE {table} RENAME TO {table}_gone")

    def rename_back(self, table: str) -> None:
        self._ddl(f"ALTER TABLE {table}_gone RENAME TO {table}")

    def terminate_sessions(self) -> int:
        """What an administrator does: end every session of the connector (found by its application name)."""
        with self.engine.begin() as conn:
            return len(conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name "
                "AND pid <> pg_backend_pid()"), {"name": self.application_name}).all())

    def raising(self, code: str) -> Fault:
        return Fault(on=lambda table: self.trigger(table, "sick_raise", code), off=self.heal,
                     misdeployed=code in MISDEPLOYED, answers=code not in SESSION_ENDED)


class SessionSetting:
    """A setting every session of the connector's pool takes at checkout while `on` (then the server itself
    refuses: a read-only transaction, a statement timeout), and gives up at the next checkout once off."""

    def __init__(self, engine: sa.Engine, name: str, value: str) -> None:
        self.on = False

        @event.listens_for(engine, "checkout")
        def _set(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET {name} = {value if self.on else 'DEFAULT'}")
            dbapi_connection.commit()


@contextmanager
def postgres_rig(postgres_url: str, tmp_path: Path, **kwargs: Any) -> Iterator[tuple[Rig, Postgres]]:
    rig = Rig(postgres_url, tmp_path, **kwargs)
    pg = Postgres(postgres_url)
    try:
        yield rig, pg
    finally:
        pg.close()
        rig.close()


# -- PostgreSQL: each SQLSTATE, raised by a trigger ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("code", CODES)
def test_postgres_error_at_the_door_and_in_the_worker_loses_and_fails_nothing(postgres_url, tmp_path, compass, code):
    """The door spools (or, for a missing table, answers 503); the worker gives its batch back without
    counting the attempt, on every table it writes; healed, everything acknowledged is applied once."""
    with postgres_rig(postgres_url, tmp_path) as (rig, pg):
        exercise(rig, pg.raising(code))
        compass(summary(rig, f"postgres {code}"))


# -- PostgreSQL: the real thing where one schema allows it ------------------------------------------------


@pytest.mark.postgres
def test_postgres_read_only_session_like_a_standby_after_failover(postgres_url, tmp_path, compass):
    """`default_transaction_read_only` on the connector's sessions: the server refuses every write with 25006,
    as a standby does; reads (readiness, tickets) still work."""
    with postgres_rig(postgres_url, tmp_path) as (rig, _pg):
        setting = SessionSetting(rig.store.engine, "default_transaction_read_only", "on")
        exercise(rig, Fault(on=lambda _t: setattr(setting, "on", True), off=lambda _t: setattr(setting, "on", False),
                            tables=("database",)))
        compass(summary(rig, "postgres read-only session"))


@pytest.mark.postgres
def test_postgres_sessions_terminated_by_an_administrator(postgres_url, tmp_path, compass):
    """`pg_terminate_backend` of the connector's idle sessions before each phase (the pool's pre-ping replaces
    them), and of the session in the middle of its statement (FATAL 57P01, the connection gone)."""
    with postgres_rig(postgres_url, tmp_path) as (rig, pg):
        ended: list[int] = []
        exercise(rig, Fault(on=lambda table: pg.trigger(table, "sick_terminate"), off=pg.heal,
                            tables=("events", "clocks", "inbox"), answers=False,
                            between=lambda: ended.append(pg.terminate_sessions())))
        assert sum(ended) > 0  # there were sessions to end
        compass(summary(rig, "postgres pg_terminate_backend"))


@pytest.mark.postgres
def test_postgres_statement_timeout(postgres_url, tmp_path, compass):
    """A server-side `statement_timeout` shorter than a (slowed) write: the server cancels it (57014)."""
    with postgres_rig(postgres_url, tmp_path) as (rig, pg):
        setting = SessionSetting(rig.store.engine, "statement_timeout", "'100ms'")

        def on(table: str) -> None:
            setting.on = True
            pg.trigger(table, "sick_sleep")

        def off(table: str) -> None:
            pg.heal(table)
            setting.on = False

        exercise(rig, Fault(on=on, off=off, tables=("events", "inbox")))
        compass(summary(rig, "postgres statement_timeout"))


@pytest.mark.postgres
def test_postgres_missing_table_after_a_botched_migration(postgres_url, tmp_path, compass, caplog):
    """A renamed table (42P01 for real): the door answers 503 and says so at ERROR; the worker keeps every
    delivery; renamed back, all goes on."""
    with postgres_rig(postgres_url, tmp_path) as (rig, pg), caplog.at_level(logging.ERROR):
        exercise(rig, Fault(on=pg.rename, off=pg.rename_back, misdeployed=True, table_gone=True,
                            tables=("events", "clocks", "inbox")))
        assert any(r.levelno >= logging.ERROR and r.name == "connector.service.hooks" for r in caplog.records)
        compass(summary(rig, "postgres renamed table"))


# -- SQLite ---------------------------------------------------------------------------------------------------


class SqliteSickness:
    """A full or read-only SQLite database, on the connector's connections (set at each checkout)."""

    def __init__(self, rig: Rig) -> None:
        self.peek = rig.peek
        self.full = False
        self.read_only = False
        self._max_pages: int | None = None

        @event.listens_for(rig.store.engine, "checkout")
        def _set(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                if self._max_pages is None:
                    self._max_pages = cursor.execute("PRAGMA max_page_count").fetchone()[0]
                pages = cursor.execute("PRAGMA page_count").fetchone()[0] if self.full else self._max_pages
                cursor.execute(f"PRAGMA max_page_count = {pages}")  # no room for one more page
                cursor.execute(f"PRAGMA query_only = {'ON' if self.read_only else 'OFF'}")
            finally:
                cursor.close()

    def fill(self, on: bool) -> None:
        """Full: the free pages inside the file are taken first (by a filler row), then no page may be added."""
        with self.peek.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS sick_filler (x BLOB)")
            conn.exec_driver_sql("DELETE FROM sick_filler")
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
            if on and free:
                size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
                conn.exec_driver_sql(f"INSERT INTO sick_filler VALUES (zeroblob({free * size}))")
        self.full = on


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'connector.db'}"


def test_sqlite_full_database(tmp_path, compass):
    """`max_page_count` at the database's size: the next write that needs a page fails with SQLITE_FULL
    ("database or disk is full"). Descriptions of 64 KiB make every delivery and event need new pages."""
    rig = Rig(_sqlite_url(tmp_path), tmp_path, description="x" * 65536)
    try:
        sick = SqliteSickness(rig)
        exercise(rig, Fault(on=lambda _t: sick.fill(True), off=lambda _t: sick.fill(False), tables=("database",)))
        compass(summary(rig, "sqlite SQLITE_FULL"))
    finally:
        rig.close()


def test_sqlite_read_only_database(tmp_path, compass):
    """`query_only` on the connector's connections: every write fails with SQLITE_READONLY."""
    rig = Rig(_sqlite_url(tmp_path), tmp_path)
    try:
        sick = SqliteSickness(rig)
        exercise(rig, Fault(on=lambda _t: setattr(sick, "read_only", True),
                            off=lambda _t: setattr(sick, "read_only", False), tables=("database",)))
        compass(summary(rig, "sqlite SQLITE_READONLY"))
    finally:
        rig.close()


def test_sqlite_missing_table(tmp_path, compass, caplog):
    """A renamed table ("no such table"): 503 at the door, logged at ERROR; nothing failed in the worker."""
    rig = Rig(_sqlite_url(tmp_path), tmp_path)

    def rename(table: str, back: bool = False) -> None:
        old, new = (f"{table}_gone", table) if back else (table, f"{table}_gone")
        with rig.peek.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))

    try:
        with caplog.at_level(logging.ERROR):
            exercise(rig, Fault(on=rename, off=lambda t: rename(t, back=True), misdeployed=True, table_gone=True,
                                tables=("events", "clocks", "inbox")))
        assert any(r.levelno >= logging.ERROR and r.name == "connector.service.hooks" for r in caplog.records)
        compass(summary(rig, "sqlite no such table"))
    finally:
        rig.close()


# -- the loops: worker (run_forever), write-back and scheduler -------------------------------------------------


@pytest.mark.postgres
def test_postgres_worker_loop_keeps_running_through_each_error(postgres_url, tmp_path, caplog):
    """`run_forever` in its thread meets every code in turn (on the events table): each time it backs off
    and says why (a missing table at ERROR: it will not heal by itself), then works again once healed,
    without a restart; everything is applied once."""
    with postgres_rig(postgres_url, tmp_path) as (rig, pg), caplog.at_level(logging.INFO, logger="connector.worker"):
        stop = threading.Event()
        thread = threading.Thread(target=rig.worker.run_forever, args=(stop,), kwargs={"idle_sleep": 0.05},
                                  daemon=True)
        thread.start()

        def next_record(message: str, after: int) -> logging.LogRecord:
            deadline = time.monotonic() + 15
            while True:
                found = [r for r in caplog.records[after:] if r.getMessage() == message]
                if found:
                    return found[0]
                assert thread.is_alive() and time.monotonic() < deadline, (message, rig.failed())
                time.sleep(0.02)

        try:
            for param in CODES:
                code = param.values[0]
                pg.trigger("events", "sick_raise", code)
                mark = len(caplog.records)
                rig.post(f"loop-{code}")
                failed = next_record("worker: cannot go on; retrying", mark)
                assert failed.outcome == ("StoreMisconfigured" if code in MISDEPLOYED else "StoreUnavailable"), code
                assert failed.levelno == (logging.ERROR if code in MISDEPLOYED else logging.WARNING), code
                mark = len(caplog.records)
                pg.heal("events")
                next_record("worker: working again", mark)
            deadline = time.monotonic() + 30
            while rig.pending() or rig.spooled():
                assert time.monotonic() < deadline, (rig.pending(), rig.failed())
                time.sleep(0.1)
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=15)
        rig.check()


@pytest.mark.postgres
def test_postgres_write_back_and_sweeps_ride_out_each_error(postgres_url, tmp_path, compass):
    """The executor meets each code when it claims (outbox), the scheduler when it records a check (clocks):
    both end their turn and, healed, carry on where they stopped — every action sent once, none dead, and
    the ticket checked at the next sweep rather than postponed as if its check had failed."""
    writer = RecordingWriter()
    with postgres_rig(postgres_url, tmp_path, writer=writer) as (rig, pg):
        executor = Executor(rig.store, {"webhook": writer}, clock=rig.clock)
        sweeper = Sweeper(rig.store, rig.processor, clock=rig.clock)
        outcomes: Counter[str] = Counter()
        for param in CODES:
            code = param.values[0]
            rig.clock.ahead = timedelta(0)  # the ticket's clocks run from now, its breach ahead
            rig.post(f"wb-{code}", recent=True)
            rig.drain()
            with rig.peek.connect() as conn:
                due = conn.execute(select(sa.func.count()).select_from(outbox).where(outbox.c.state == "pending")
                                   ).scalar_one()
            assert due > 0
            pg.trigger("outbox", "sick_raise", code)
            for _ in range(3):
                with suppress(Exception):
                    executor.run_once()
            pg.heal("outbox")
            _until_ok(lambda: executor.run_once() == 0 or None)

            key = ("webhook", "acme", f"T-wb-{code}")
            with rig.peek.connect() as conn:
                check_at = conn.execute(select(tickets.c.next_check_at).where(tickets.c.ticket_id == key[2])
                                        ).scalar_one()
            assert check_at is not None
            rig.clock.ahead = max(rig.clock.ahead, check_at - datetime.now(UTC) + timedelta(minutes=1))
            pg.trigger("clocks", "sick_raise", code)
            outcomes[f"sweep while sick: {sweeper.sweep_safely()}"] += 1
            pg.heal("clocks")
            _until_ok(sweeper.sweep_safely)
            with rig.peek.connect() as conn:  # checked (a sweep's decision has no event), not postponed 5 minutes
                checks = conn.execute(select(sa.func.count()).select_from(decisions).where(
                    decisions.c.ticket_id == key[2], decisions.c.event_id.is_(None))).scalar_one()
            assert checks == 1, code
        _until_ok(lambda: executor.run_once() == 0 or None)
        with rig.peek.connect() as conn:
            states = Counter(conn.execute(select(outbox.c.state)).scalars())
            dead = conn.execute(select(dead_letters.c.id)).all()
        assert not dead and states.get("pending", 0) == 0, states
        assert writer.sent and set(writer.sent.values()) == {1}, writer.sent
        rig.check()
        compass(f"sick postgres write-back and sweeps: codes={len(CODES)} sent={len(writer.sent)} dead=0 "
                f"{dict(outcomes)} PASS")


def _until_ok(step: Callable[[], Any], within: float = 20.0) -> Any:
    """Call `step` until it answers (not None, no StoreUnavailable): the breaker may be cooling down."""
    deadline = time.monotonic() + within
    while True:
        try:
            result = step()
        except StoreUnavailable:
            result = None
        if result is not None:
            return result
        assert time.monotonic() < deadline
        time.sleep(0.05)


# -- refusals that are about the row -----------------------------------------------------------------------------


def _refuse_inbox_row(rig: Rig, dedupe_key: str) -> None:
    """A trigger that refuses one delivery's inbox row as an integrity violation (class 23)."""
    with rig.peek.begin() as conn:
        if rig.store.dialect == "postgresql":
            conn.execute(sa.text("CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                                 "RAISE EXCEPTION 'refused row' USING ERRCODE = 'check_violation'; END $$"))
            conn.execute(sa.text(f"CREATE TRIGGER refuse BEFORE INSERT ON inbox FOR EACH ROW "
                                 f"WHEN (NEW.dedupe_key = '{dedupe_key}') EXECUTE FUNCTION refuse_row()"))
        else:
            conn.execute(sa.text(f"CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.dedupe_key = '{dedupe_key}' "
                                 "BEGIN SELECT RAISE(ABORT, 'refused row'); END"))


def test_a_constraint_the_inbox_breaks_is_a_503_never_spooled(database_url, tmp_path, caplog):
    """An integrity violation (class 23) at the inbox cannot come from the delivery's values (its one unique
    key is answered as a duplicate): it is the database's state (a primary-key sequence behind after a
    restore) or an operator's constraint. Not acknowledged (503, at ERROR), so the sender tries again;
    spooled, it would be refused at every drain."""
    rig = Rig(database_url, tmp_path)
    try:
        _refuse_inbox_row(rig, "msg_refused")
        body = created_body(ticket_id="T-refused", event_id="e-refused")
        with caplog.at_level(logging.ERROR, logger="connector.service.hooks"):
            response = rig.client.post("/hooks/webhook", data=body, headers=signed(rig.secret, body, "msg_refused"))
        assert response.status_code == 503 and response.get_json()["error"] == "unavailable"
        assert "refused row" not in response.get_json()["reason"]  # the database's words are not sent back
        assert any(r.levelno == logging.ERROR for r in caplog.records)
        assert not rig.spooled()
        assert rig.post("other")[0] == 202
    finally:
        rig.close()


def test_a_spooled_delivery_the_database_refuses_does_not_stop_the_worker(database_url, tmp_path):
    """A spooled delivery whose inbox row the database refuses (kept on disk during an outage, refused when it
    returns) must not stop the worker from claiming the inbox."""
    rig = Rig(database_url, tmp_path)
    try:
        _refuse_inbox_row(rig, "msg_refused")
        spool = rig.app.extensions["connector"].spool
        body = created_body(ticket_id="T-refused", event_id="e-refused")
        spool.put(Spooled(source="webhook", dedupe_key="msg_refused", body=body, headers={},
                          received_at=datetime.now(UTC)))
        status, data = rig.post("next")
        assert status == 202
        rig.clock.ahead += timedelta(minutes=1)
        for _ in range(3):
            rig.worker.run_once()
        with rig.peek.connect() as conn:
            applied = set(conn.execute(select(events.c.event_id)).scalars())
        assert "e-next" in applied
    finally:
        rig.close()


# -- the classification itself ---------------------------------------------------------------------------------


def _psycopg(state: str) -> Any:
    import psycopg

    return psycopg.errors.lookup(state)("the driver's words, quoting secret-parameter-value"), psycopg.Error


def _sqlite(code: int, text: str = "the driver's words, quoting secret-parameter-value") -> Any:
    import sqlite3

    err = sqlite3.OperationalError(text)
    err.sqlite_errorcode = code  # what sqlite3 sets on the errors it raises (Python 3.11)
    return err, sqlite3.Error


_PSYCOPG_CASES = [
    ("53100", "sick"), ("53200", "sick"), ("25006", "sick"), ("40001", "sick"), ("40P01", "sick"),
    ("57014", "sick"), ("55P03", "sick"), ("58030", "sick"), ("XX000", "sick"), ("XX001", "sick"),
    ("57P01", "unreachable"), ("57P03", "unreachable"), ("53300", "unreachable"), ("08006", "unreachable"),
    ("25P03", "unreachable"), ("42P01", "misconfigured"), ("42703", "misconfigured"), ("42501", "misconfigured"),
    ("22001", "refused"), ("22P05", "refused"), ("23505", "refused"), ("23514", "refused"), ("42601", "refused"),
]
_SQLITE_CASES = [
    (13, "database or disk is full", "sick"), (8, "attempt to write a readonly database", "sick"),
    (10, "disk I/O error", "sick"), (11, "database disk image is malformed", "sick"),
    (5, "database is locked", "unreachable"), (14, "unable to open database file", "unreachable"),
    (1, "no such table: inbox", "misconfigured"), (1, "no such column: ticket", "misconfigured"),
    (1, 'near "x": syntax error', "refused"), (19, "CHECK constraint failed", "refused"),
]


@pytest.mark.parametrize(("made", "kind"), [
    *[pytest.param(lambda s=state: _psycopg(s), kind, id=f"psycopg-{state}") for state, kind in _PSYCOPG_CASES],
    *[pytest.param(lambda c=code, t=text: _sqlite(c, t), kind, id=f"sqlite-{code}-{text.split()[0]}")
      for code, text, kind in _SQLITE_CASES],
])
def test_database_errors_are_sorted_by_their_code_not_their_class(made, kind):
    """psycopg files 25006 and XX000 under InternalError, 42P01 under ProgrammingError, 40001 under
    OperationalError: what an error means is in its SQLSTATE (or SQLite's result code). The reason given
    names the kind of failure and never repeats the driver's words (they may quote parameters)."""
    from sqlalchemy import exc as sa_exc

    from connector.store.breaker import classify, describe

    orig, base = made()
    err = sa_exc.DBAPIError.instance("INSERT INTO inbox VALUES (%(p)s)", {"p": "x"}, orig, base)
    assert classify(err) == kind
    assert "secret-parameter-value" not in describe(err) and "INSERT" not in describe(err)


@pytest.mark.parametrize(("err", "kind"), [
    (sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused")), "unreachable"),
    (sa.exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")), "unreachable"),
    (sa.exc.TimeoutError("QueuePool limit reached"), "unreachable"),
    (sa.exc.ProgrammingError("SELECT 1", {}, Exception("a bug")), "refused"),
    (sa.exc.IntegrityError("INSERT", {}, Exception("duplicate")), "refused"),
])
def test_errors_without_a_code_keep_the_class_rule(err, kind):
    """A client-side failure (a timeout, a lost socket, the pool) carries no SQLSTATE: its class decides."""
    from connector.store.breaker import classify

    assert classify(err) == kind
