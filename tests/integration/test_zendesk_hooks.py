"""Zendesk deliveries through the real app, worker and store (issue 11, items 2, 8 and 9).

- a body whose instant lies outside 1970-2099 (year 0001, 9999, with offsets that overflow) or whose id is
  too long or holds a NUL is refused at the door with 400 JSON naming the key: nothing is stored, nothing
  crashes in the worker ten times;
- the recommended trigger body renders its timestamps to the minute: two updates in the same minute are two
  stored events (none dropped by the event-id dedupe), without API credentials;
- a ticket deleted and restored through event webhooks has both status changes in its stored history.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.zendesk import ZendeskAdapter, signing
from connector.runtime.worker import TicketProcessor, Worker
from connector.service import create_app
from connector.settings import Settings
from connector.store import Store
from connector.store.schema import inbox
from tests.helpers import config

SECRET = "zendesk-signing-secret-for-tests"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "zendesk"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def signed(body: bytes, invocation: str | None = None) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {signing.SIGNATURE_HEADER: signing.sign(SECRET, stamp, body), signing.TIMESTAMP_HEADER: stamp,
               "content-type": "application/json", "user-agent": "Zendesk Webhook"}
    if invocation:
        headers["x-zendesk-webhook-invocation-id"] = invocation
    return headers


class Rig:
    def __init__(self, store: Store) -> None:
        self.store = store
        settings = Settings.from_env({"ZENDESK_WEBHOOK_SECRET": SECRET}, database_url=store.url)
        cfg = config()
        self.adapter = ZendeskAdapter([SECRET], account="acme")  # no API credentials
        self.app = create_app(settings, store=store, config=cfg, adapters={"zendesk": self.adapter},
                              clock=lambda: NOW)
        self.worker = Worker(store, TicketProcessor(store, cfg, {}, clock=lambda: NOW), {"zendesk": self.adapter},
                             clock=lambda: NOW)
        self.web = self.app.test_client()

    def post(self, body: Any, invocation: str | None = None) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.web.post("/hooks/zendesk", data=raw, headers=signed(raw, invocation))

    def inbox_rows(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(inbox)).scalar_one())

    def failed(self) -> list[str]:
        with self.store.read() as conn:
            return list(conn.execute(select(inbox.c.error).where(inbox.c.state != "done")).scalars())


@pytest.mark.parametrize(("path", "value"), [
    ("time", "0001-01-01T00:00:00+14:00"), ("time", "0001-01-01T00:00:00Z"), ("time", "9999-12-31T23:59:59Z"),
    ("time", "9999-12-31T23:59:59-14:00"), ("detail.updated_at", "0001-01-01T00:00:00+14:00"),
    ("detail.created_at", "9999-12-31T23:59:59Z"), ("detail.created_at", "2025-02-30T10:00:00Z"),
    ("id", "e" * 256), ("id", "evt\x00"), ("account_id", "1" * 300), ("detail.requester_id", "5\x005"),
])
def test_a_bad_instant_or_id_is_a_400_naming_the_key_and_nothing_is_stored(store: Store, path: str,
                                                                              value: str) -> None:
    rig = Rig(store)
    body = load("envelope_status_changed_pending.json")
    node = body
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    answer = rig.post(body)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    error = answer.get_json()
    assert error["error"] == "invalid_payload" and error["reason"].startswith(f"{path}: ")
    assert rig.inbox_rows() == 0


def test_a_signature_timestamp_in_year_one_is_a_401_not_a_500(store: Store) -> None:
    rig = Rig(store)
    raw = (FIXTURES / "envelope_status_changed_pending.json").read_bytes()
    stamp = "0001-01-01T00:00:00+14:00"
    headers = {signing.SIGNATURE_HEADER: signing.sign(SECRET, stamp, raw), signing.TIMESTAMP_HEADER: stamp,
               "content-type": "application/json"}
    answer = rig.web.post("/hooks/zendesk", data=raw, headers=headers)
    assert answer.status_code == 401 and "ISO 8601" in answer.get_json()["reason"]


def test_two_updates_in_one_minute_are_two_stored_events_without_api_credentials(store: Store) -> None:
    rig = Rig(store)
    first = {**load("trigger_minute_precision.json"), "status": "Open"}
    second = {**load("trigger_minute_precision.json"), "status": "Pending"}  # same minute, same event_id
    assert rig.post(first, "01HQMINUTE0000000000000001").status_code == 202
    assert rig.post(second, "01HQMINUTE0000000000000002").status_code == 202
    assert rig.post(second, "01HQMINUTE0000000000000002").status_code == 200  # Zendesk's retry: stored once
    assert rig.worker.run_once() == 2
    assert rig.failed() == []
    events = store.ticket_events(("zendesk", "acme", "35437"))
    assert [(e.event_id, e.ticket.status) for e in events] == [
        ("01HQMINUTE0000000000000001:ticket.updated", "open"),
        ("01HQMINUTE0000000000000002:ticket.updated", "pending")]
    assert {e.occurred_at for e in events} == {datetime(2013, 12, 12, 5, 35, tzinfo=UTC)}


def test_a_deleted_then_restored_ticket_keeps_both_changes(store: Store) -> None:
    rig = Rig(store)
    for name in ("envelope_ticket_created.json", "envelope_status_changed_pending.json",
                 "envelope_soft_deleted.json", "envelope_undeleted.json"):
        assert rig.post((FIXTURES / name).read_bytes()).status_code == 202, name
    assert rig.worker.run_once() == 4 and rig.failed() == []
    events = store.ticket_events(("zendesk", "acme", "5158"))
    assert [e.ticket.status for e in sorted(events, key=lambda e: e.occurred_at)] == [
        "new", "pending", "deleted", "open"]
