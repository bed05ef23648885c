"""R2 replay and dedupe: a help desk that delivers everything again, and again under new ids, changes nothing.

Through the real app and worker, on SQLite and PostgreSQL: 60 deliveries, then the same 60 twice more with
the same ids, then once more with new ids and the same bodies, then the events inside new batches.
Stored once, applied once, one set of effects.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from adapters.webhook import WebhookAdapter
from connector.events import event_to_dict
from connector.runtime.worker import TicketProcessor, Worker
from connector.store.schema import decisions, events, inbox, outbox
from tests.helpers import AGENT, CUSTOMER, config, event
from tests.integration.support import make_app, new_webhook_secret, signed

pytestmark = pytest.mark.reliability


def count(store, table, *where) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_r2_redelivery_and_replay_change_nothing(store):
    secret = new_webhook_secret()
    now = datetime(2026, 3, 3, 12, tzinfo=UTC)
    cfg = config()
    app = make_app(store, secret=secret, config=cfg, clock=lambda: now, limit=1024 * 1024)
    client = app.test_client()
    processor = TicketProcessor(store, cfg, {}, clock=lambda: now)
    worker = Worker(store, processor, {"webhook": WebhookAdapter([secret])}, clock=lambda: now)
    bodies = []
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    for n in range(60):
        at += timedelta(minutes=11)
        kind = [dict(type="ticket.created", status="new", created=at), dict(type="comment.added", comment=AGENT),
                dict(type="comment.added", comment=CUSTOMER)][n % 3]
        ev = event(at, source="webhook", ticket_id=str(n // 3), event_id=f"ev-{n}", **kind)
        bodies.append(json.dumps(event_to_dict(ev)).encode())

    def send_all(ids: str) -> list[int]:
        return [client.post("/hooks/webhook", data=body, headers=signed(secret, body, f"{ids}-{n}")).status_code
                for n, body in enumerate(bodies)]

    assert set(send_all("first")) == {202}
    worker.run_once(limit=100)
    effects = count(store, outbox)
    assert effects > 0
    for _ in range(2):
        assert set(send_all("first")) == {200}  # same delivery ids
    assert set(send_all("second")) == {200}  # new ids, same bodies inside the dedupe window
    batch = json.dumps({"events": [json.loads(b) for b in bodies[:30]]}).encode()
    assert client.post("/hooks/webhook", data=batch, headers=signed(secret, batch, "batch-1")).status_code == 202
    worker.run_once(limit=100)
    assert count(store, inbox) == 61  # 60 deliveries and the batch
    assert count(store, inbox, inbox.c.state != "done") == 0
    assert count(store, events) == 60 and count(store, decisions) == 60
    assert count(store, outbox) == effects
