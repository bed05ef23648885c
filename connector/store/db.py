"""Engines for SQLite (default, one machine) and PostgreSQL (scale-out), and Alembic migrations.

SQLite runs in WAL mode with a busy timeout; write transactions start with ``BEGIN IMMEDIATE`` so two
writers queue instead of failing half-way ("database is locked" on lock upgrade). PostgreSQL URLs use
psycopg 3 (``postgresql://`` is read as ``postgresql+psycopg://``).

Every wait on PostgreSQL is bounded by one `timeout` (``CONNECTOR_DB_TIMEOUT_SECONDS``, default 5 s):
each answer to a statement (`pgconn.DeadlineConnection`, which also covers a database that accepts bytes
and never answers), connecting (libpq ``connect_timeout``, 0.6 × timeout, at least 2 s: a dead pooled
connection costs one answer timeout and one reconnect) and waiting for a pooled connection
(``pool_timeout``). Lost packets on a real network are cut by TCP keepalives and ``tcp_user_timeout``.
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from connector import jsontext

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision (tests hold it equal to Alembic's head): a database already there is
# seen with one query, and Alembic (a tenth of `connector worker`'s start-up to import) is never loaded.
HEAD_REVISION = "0006"
SQLITE_BUSY_MS = 30_000
DEFAULT_TIMEOUT = 5.0         # seconds: connect, each answer, a pooled connection (PostgreSQL)
MIGRATION_PATIENCE = 600.0    # a migration may rebuild an index: it gets longer than a request


def normalize_url(url: str) -> str:
    """Return the SQLAlchemy URL with the driver the connector ships (psycopg 3 for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and explicit BEGIN so IMMEDIATE can be asked for;
    PostgreSQL gets a bound of `timeout` seconds on connecting, on every answer and on the pool."""
    url = normalize_url(url)
    # JSON columns are written and read with orjson (about 5× the standard library on the worker's rows),
    # falling back to the standard library where orjson cannot: integers beyond 64 bits stay exact
    kwargs.setdefault("json_serializer", jsontext.dumps)
    kwargs.setdefault("json_deserializer", jsontext.loads)
    if url.startswith("sqlite"):
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # persist before acknowledge: fsync every commit
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            if mode == "IMMEDIATE":
                try:
                    begin_immediate(conn.connection.driver_connection)
                except sqlite3.Error as err:
                    # SQLAlchemy does not wrap what a "begin" hook raises: a read-only or full database, or
                    # the lock not taken in time, reached callers as a bare sqlite3 error (a 500 at the door)
                    raise sa_exc.DBAPIError.instance("BEGIN IMMEDIATE", None, err, sqlite3.Error) from err
            else:
                conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return _postgres_engine(url, timeout, **kwargs)


# How often a writer waiting for SQLite's write lock tries again: every half millisecond at first, then
# less often the longer it waits (never more than 5 ms apart).
LOCK_POLL_SECONDS = (0.0005,) * 20 + (0.001,) * 40 + (0.002,) * 50
LOCK_POLL_CAP = 0.005


def begin_immediate(dbapi_connection: Any, patience_ms: int = SQLITE_BUSY_MS,
                    sleep: Any = time.sleep, clock: Any = time.monotonic) -> None:
    """``BEGIN IMMEDIATE`` (take SQLite's write lock), trying again every half millisecond or so while another
    connection writes, for at most `patience_ms`; then "database is locked", as the busy timeout said before.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 … 100 ms between tries: a webhook waiting behind
    a worker's 25 ms write slept 33 ms, and behind two, over 60 ms (docs/decisions.md). Polling at about a
    millisecond takes the lock within a millisecond of its release. The busy timeout is set to 0 for these
    tries only: every other wait (a reader meeting a checkpoint) keeps the handler."""
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        deadline = clock() + patience_ms / 1000
        tries = 0
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                if dbapi_connection.in_transaction or not _is_busy(err) or clock() >= deadline:
                    raise
            sleep(LOCK_POLL_SECONDS[tries] if tries < len(LOCK_POLL_SECONDS) else LOCK_POLL_CAP)
            tries += 1
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={patience_ms}")


def _is_busy(err: sqlite3.OperationalError) -> bool:
    return bool(err.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY)


def _postgres_engine(url: str, timeout: float, **kwargs: Any) -> Engine:
    from connector.store import pgconn

    if timeout <= 0:
        raise ValueError("the database timeout must be a positive number of seconds")
    connect_args = dict(kwargs.pop("connect_args", {}))
    # a dead pooled connection costs its answer timeout, then one reconnect: keep that under 1.6 × timeout
    connect_args.setdefault("connect_timeout", max(2, math.ceil(timeout * 0.6)))
    connect_args.setdefault("keepalives", 1)
    connect_args.setdefault("keepalives_idle", 10)
    connect_args.setdefault("keepalives_interval", 5)
    connect_args.setdefault("keepalives_count", 3)
    connect_args.setdefault("tcp_user_timeout", int(timeout * 1000))
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", timeout)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return pgconn.connect(timeout, *cargs, **cparams)

    return engine


def at_head(engine: Engine) -> bool:
    """Whether the database is at `HEAD_REVISION` already (read without Alembic)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [HEAD_REVISION]


def _alembic_config(connection: Any) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


MIGRATION_LOCK = 0x534C41  # any constant: the advisory lock that serializes concurrent upgrades


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (idempotent; safe when several processes start at once).

    The connection is made with the engine's ordinary bounds (a database that does not answer fails here,
    quickly); the migrations themselves may take up to `MIGRATION_PATIENCE`.
    """
    if revision == "head" and at_head(engine):
        return
    from alembic import command

    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
        with _patience(engine, MIGRATION_PATIENCE), conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL lock_timeout = 0"))  # another upgrader may hold it: wait (patience)
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            command.upgrade(_alembic_config(conn), revision)


def _patience(engine: Engine, seconds: float | None) -> Any:
    """`pgconn.patience` on PostgreSQL; nothing to do on SQLite (its only wait is the busy timeout)."""
    if engine.dialect.name == "postgresql":
        from connector.store import pgconn

        return pgconn.patience(seconds)
    from contextlib import nullcontext

    return nullcontext()


def head_revision() -> str | None:
    """Return the newest migration's revision id."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
