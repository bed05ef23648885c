"""The peer of bench_ingest.py: a bare Flask receiver that only commits the raw body to the database."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, request
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, text

from connector.store.db import make_engine
from connector.store.schema import Instant

metadata = MetaData()
bare_inbox = Table("bare_inbox", metadata, Column("id", Integer, primary_key=True, autoincrement=True),
                   Column("received_at", Instant, nullable=False), Column("body", LargeBinary, nullable=False))


def create_app() -> Flask:
    """A receiver with no checks at all: read the body, insert it, answer 202."""
    engine = make_engine(os.environ["CONNECTOR_DATABASE_URL"])
    # gunicorn's workers start together: one creates the table, the others wait, then see it. On SQLite the
    # write lock is taken before the check: checked in a read transaction, a worker whose write then met the
    # other's failed at once ("database is locked": SQLite cannot wait for a read to become a write), and
    # gunicorn stopped, every request of the run refused (one start in eight here)
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(4242)"))
        metadata.create_all(conn)
    app = Flask(__name__)

    @app.post("/hooks/<source>")
    def receive(source: str) -> tuple[str, int]:
        body = request.get_data()
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            conn.execute(bare_inbox.insert().values(received_at=datetime.now(UTC), body=body))
        return "", 202

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok", 200

    return app
