"""Helpers for the service tests: secrets, signed deliveries, an app over a given store."""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from adapters.webhook import sign
from connector.config import Config
from connector.service import create_app
from connector.settings import Secret, Settings
from connector.store import Store
from connector.store.schema import inbox
from tests import helpers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhook"
LIMIT = 8 * 1024  # a small body limit keeps the size tests fast


def new_webhook_secret() -> str:
    """Return a fresh Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode("ascii")


def new_token() -> str:
    return "tok_" + secrets.token_urlsafe(24)


def created_body(**changes: Any) -> bytes:
    """The recorded ticket.created delivery, optionally changed."""
    data = json.loads((FIXTURES / "created.json").read_bytes())
    data.update(changes)
    return json.dumps(data).encode()


def signed(secret: str, body: bytes, msg_id: str | None = None, *, timestamp: int | None = None,
           **extra: str) -> dict[str, str]:
    """Return the Standard Webhooks headers of a delivery, signed now (or at `timestamp`)."""
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, msg_id, stamp, body), "content-type": "application/json", **extra}


def make_app(store: Store, *, secret: str | None = None, token: str | None = None, config: Config | None = None,
             clock: Callable[[], datetime] | None = None, limit: int = LIMIT, env: dict[str, str] | None = None,
             spool_dir: str | None = None, **kwargs: Any) -> Flask:
    """Build the app over `store` with the given secrets (None: not configured) and help-desk variables."""
    settings = Settings(database_url=store.url, webhook_secrets=(Secret(secret),) if secret else (),
                        api_token=Secret(token) if token else None, max_body_bytes=limit,
                        env={k: Secret(v) for k, v in (env or {}).items()}, spool_dir=spool_dir)
    return create_app(settings, store=store, config=config or helpers.config(), clock=clock, **kwargs)


def inbox_count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())


def inbox_bodies(store: Store) -> list[bytes]:
    with store.read() as conn:
        return [bytes(r[0]) for r in conn.execute(select(inbox.c.body).order_by(inbox.c.id)).all()]


def utc_clock(text: str) -> Callable[[], datetime]:
    instant = datetime.fromisoformat(text).astimezone(UTC)
    return lambda: instant


@contextmanager
def serving(app: Flask, *, threads: int = 4, read_timeout: float = 10.0) -> Iterator[int]:
    """Serve `app` with waitress on a free loopback port in a thread; yield the port; stop it cleanly.

    The server is closed from inside its own loop, which then ends: closed from another thread, the loop
    may poll a socket already closed and raise "Bad file descriptor" in its thread (an error here, since
    warnings are errors)."""
    from connector.service.server import make_server

    server = make_server(app, host="127.0.0.1", port=0, threads=threads, read_timeout=read_timeout)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.trigger.pull_trigger(server.close)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "the server did not stop"
