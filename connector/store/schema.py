"""Tables of the connector's store (SQLAlchemy Core). Alembic migrations in `migrations/` create them.

    inbox         every accepted webhook delivery, raw, before anything else happens (persist before ack)
    events        canonical events normalized from the inbox, one row per (source, account, event_id)
    tickets       each ticket's rules-core state (JSON) and when the scheduler must look at it next
    clocks        one row per clock (metric × cycle) as last evaluated: what reports aggregate
    board         one row per clock running now (the customer's and internal ones), with its due instant:
                  what the live board lists, replaced for a ticket each time it is evaluated
    decisions     the audit log: severity, policy and clocks after every event, and the actions decided
    outbox        write-back actions, unique by idempotency key, with their delivery state
    dead_letters  actions that gave up, with the reason
    login_codes   sign-in links already used (a digest of each code), so each works once on every web process
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite keeps no zone: UTC is stored and restored)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Instant = UTCDateTime()

inbox = Table(
    "inbox", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("dedupe_key", String(255), nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Column("received_at", Instant, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("state", String(16), nullable=False),          # pending | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("claimed_by", String(64)),
    Column("claimed_until", Instant),
    Column("processed_at", Instant),
    Column("ticket", String(64)),                          # digest of the one ticket it is about, if known
    UniqueConstraint("source", "dedupe_key"),
    Index(None, "state", "id"),
    Index(None, "source", "body_sha256", "received_at"),
    Index(None, "ticket", "state"),
    # the deliveries held now, for the claim's "held elsewhere" probe (migration 0006)
    Index("ix_inbox_claimed", "ticket", postgresql_where=text("state = 'pending' AND claimed_by IS NOT NULL"),
          sqlite_where=text("state = 'pending' AND claimed_by IS NOT NULL")),
)

events = Table(
    "events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("account", String(255), nullable=False),
    Column("ticket_id", String(255), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("occurred_at", Instant, nullable=False),
    Column("type", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("inbox_id", Id),
    UniqueConstraint("source", "account", "event_id"),
    Index(None, "source", "account", "ticket_id", "occurred_at"),
)

tickets = Table(
    "tickets", metadata,
    Column("source", String(64), primary_key=True),
    Column("account", String(255), primary_key=True),
    Column("ticket_id", String(255), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("last_event_at", Instant, nullable=False),
    Column("next_check_at", Instant),
    Column("severity", String(32)),
    Column("policy", String(255)),
    Column("updated_at", Instant, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Index(None, "next_check_at"),
)

clocks = Table(
    "clocks", metadata,
    Column("source", String(64), primary_key=True),
    Column("account", String(255), primary_key=True),
    Column("ticket_id", String(255), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("severity", String(32), nullable=False),
    Column("policy", String(255), nullable=False),
    Column("calendar", String(255), nullable=False),
    Column("target_seconds", Float, nullable=False),
    Column("started_at", Instant, nullable=False),
    Column("due_at", Instant),
    Column("stopped_at", Instant),
    Column("elapsed_seconds", Float, nullable=False),
    Column("breached", Boolean, nullable=False),
    Column("breached_at", Instant),
    Column("group_name", String(255)),
    Column("requester_org", String(255)),
    Column("updated_at", Instant, nullable=False),
    # covering index of the attainment report (migration 0002): groups read sorted, from the index alone
    Index("ix_clocks_report", "metric", "severity", "policy", "elapsed_seconds", "status", "target_seconds",
          "due_at", "started_at", "source", "account", "ticket_id"),
    # the board's forecast: the replies each group sent lately (migration 0005)
    Index("ix_clocks_metric_stopped_at", "metric", "stopped_at", "status", "group_name", "calendar"),
)

board = Table(
    "board", metadata,
    Column("source", String(64), primary_key=True),
    Column("account", String(255), primary_key=True),
    Column("ticket_id", String(255), primary_key=True),
    Column("agreement", String(255), primary_key=True),   # '' for the customer's clocks
    Column("metric", String(32), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("team", String(255)),                          # an internal clock's team
    Column("severity", String(32), nullable=False),
    Column("declared", String(32)),
    Column("policy", String(255)),
    Column("calendar", String(255), nullable=False),
    Column("target_seconds", Float, nullable=False),
    Column("started_at", Instant, nullable=False),
    Column("due_at", Instant, nullable=False),
    Column("group_name", String(255)),
    Column("assignee", String(255)),
    Column("updated_at", Instant, nullable=False),
    # the board reads each calendar's clocks in due order (within a calendar, the order of time remaining);
    # the filtered columns ride along, so a filtered count or the gauges' grouping reads the index alone
    Index("ix_board_calendar_due_at", "calendar", "due_at", "severity", "group_name", "metric", "source",
          "assignee"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("account", String(255), nullable=False),
    Column("ticket_id", String(255), nullable=False),
    Column("event_id", String(255)),                      # None for scheduler sweeps
    Column("decided_at", Instant, nullable=False),
    Column("severity", String(32), nullable=False),
    Column("declared", String(32)),
    Column("rule", String(255), nullable=False),
    Column("policy", String(255)),
    Column("summary", JSON, nullable=False),               # clocks and the keys of the actions decided
    Index(None, "source", "account", "ticket_id", "decided_at"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False),
    Column("source", String(64), nullable=False),
    Column("account", String(255), nullable=False),
    Column("ticket_id", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("cause", String(255), nullable=False),
    Column("state", String(16), nullable=False),           # pending | done | dry_run | skipped | dead | dropped
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try_at", Instant, nullable=False),
    Column("last_error", Text),
    Column("created_at", Instant, nullable=False),
    Column("updated_at", Instant, nullable=False),
    Column("sent_at", Instant),
    UniqueConstraint("key"),
    Index(None, "state", "next_try_at"),
    Index(None, "source", "account", "ticket_id"),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outbox_id", Id, nullable=False),
    Column("key", String(512), nullable=False),
    Column("source", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Instant, nullable=False),
    UniqueConstraint("outbox_id"),
)

login_codes = Table(
    "login_codes", metadata,
    Column("code_sha256", String(64), primary_key=True),   # the code itself is never stored
    Column("expires_at", Instant, nullable=False),
    Column("used_at", Instant, nullable=False),
    Index(None, "expires_at"),
)
