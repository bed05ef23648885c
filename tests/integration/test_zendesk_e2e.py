"""Zendesk end to end: a signed event webhook in → clocks → due date and tags written to Zendesk, exactly once.

The web app, the worker and the write-back executor are the real ones, wired by the registry from the
environment and the config; Zendesk is the fake over HTTP on 127.0.0.1. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from adapters.registry import build_inbound, build_writer
from adapters.zendesk import signing
from connector.runtime.outbox import Executor
from connector.runtime.worker import TicketProcessor, Worker
from connector.service import create_app
from connector.settings import Settings
from tests.fakes.zendesk import fake_zendesk_fixture  # noqa: F401
from tests.helpers import config

SECRET = "zendesk-signing-secret-for-tests"
DUE_FIELD = 360000000001
CREATED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def envelope(kind: str, event_id: str, at: datetime, **detail: object) -> bytes:
    body = {
        "type": f"zen:event-type:ticket.{kind}", "id": event_id, "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "account_id": 22129848, "subject": "zen:ticket:5158", "zendesk_event_version": "2022-11-06",
        "detail": {"id": "5158", "status": "NEW", "priority": "URGENT", "created_at": "2026-03-02T14:00:00Z",
                   "updated_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "requester_id": "501", "submitter_id": "501",
                   "subject": "Checkout is down", "description": "500 on every checkout", "tags": ["vip"],
                   "via": {"channel": "web"}, "group_id": None, "assignee_id": None, "organization_id": None,
                   **detail},
        "event": {},
    }
    return json.dumps(body).encode()


def signed_headers(body: bytes) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {signing.SIGNATURE_HEADER: signing.sign(SECRET, stamp, body), signing.TIMESTAMP_HEADER: stamp,
            "x-zendesk-webhook-invocation-id": "inv-" + json.loads(body)["id"], "content-type": "application/json"}


def test_webhook_to_due_date_and_tags_exactly_once(store, fake_zendesk):
    fake_zendesk.add_ticket(5158, status="new", priority="urgent", tags=["vip"], created_at="2026-03-02T14:00:00Z",
                            subject="Checkout is down")
    fake_zendesk.users[501] = {"id": 501, "role": "end-user"}
    settings = Settings.from_env({"ZENDESK_WEBHOOK_SECRET": SECRET, "ZENDESK_SUBDOMAIN": "acme",
                                  "ZENDESK_EMAIL": fake_zendesk.email, "ZENDESK_API_TOKEN": fake_zendesk.token},
                                 database_url=store.url)
    cfg = config(
        sources={"zendesk": {"base_url": fake_zendesk.base_url, "account": "acme",
                             "due_fields": {"first_response": str(DUE_FIELD)}}},
        escalations=[{"name": "breach", "when": {"metric": "first_response", "breached": True},
                      "actions": [{"add_tags": ["sla_breached"]}]}],
    )
    now = CREATED + timedelta(hours=2)  # P1 first response (1 h on 24x7) is breached by then
    clock = lambda: now  # noqa: E731
    adapter = build_inbound("zendesk", settings, cfg)
    writer = build_writer("zendesk", settings, cfg)
    assert adapter is not None and writer is not None and writer.configured
    app = create_app(settings, store=store, config=cfg, adapters={"zendesk": adapter}, clock=clock)
    processor = TicketProcessor(store, cfg, {"zendesk": writer}, clock=clock)
    worker = Worker(store, processor, {"zendesk": adapter}, clock=clock)
    executor = Executor(store, {"zendesk": writer}, clock=clock)
    client = app.test_client()

    created = envelope("created", "evt-1", CREATED)
    assert client.post("/hooks/zendesk", data=created, headers=signed_headers(created)).status_code == 202
    assert client.post("/hooks/zendesk", data=created, headers=signed_headers(created)).status_code == 200
    assert worker.run_once() == 1
    report = processor.report(("zendesk", "acme", "5158"), now)
    assert report is not None and report.severity.classified == "P1"
    assert {(c.metric, c.status) for c in report.clocks} == {("first_response", "breached"),
                                                             ("resolution", "running")}
    executor.run_once()
    ticket = fake_zendesk.tickets[5158]
    assert {"id": DUE_FIELD, "value": "2026-03-02T15:00:00Z"} in ticket["custom_fields"]
    assert "sla_breached" in ticket["tags"] and "sla_connector" in ticket["tags"] and "vip" in ticket["tags"]
    writes = [c for c in fake_zendesk.calls if c.method in ("PUT", "DELETE")]
    assert len([c for c in writes if c.path.endswith("/tags.json")]) == 1
    assert len([c for c in writes if c.path == "/api/v2/tickets/5158.json"]) == 1
    states = {r.action: r.state for r in store.outbox_rows()}
    assert states["add_tags"] == "done" and states["set_due_date"] in ("done", "skipped")

    # the connector's own write-back comes back as a webhook: nothing new is decided or written
    echo = envelope("tags_changed", "evt-2", now, tags=ticket["tags"], status="NEW")
    assert client.post("/hooks/zendesk", data=echo, headers=signed_headers(echo)).status_code == 202
    worker.run_once()
    before = len(fake_zendesk.calls)
    assert executor.run_once() == 0
    assert len(fake_zendesk.calls) == before
