"""Freshdesk end to end: an automation webhook in → clocks → fr_due_by/due_by and tags written, exactly once.

Real app, worker and executor wired by the registry; Freshdesk is the fake over HTTP. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta

from adapters.registry import build_inbound, build_writer
from connector.runtime.outbox import Executor
from connector.runtime.worker import TicketProcessor, Worker
from connector.service import create_app
from connector.settings import Settings
from tests.fakes.freshdesk import fake_freshdesk_fixture  # noqa: F401
from tests.helpers import config, utc

SECRET = "freshdesk-shared-secret-for-tests"


def body(kind: str, **extra: str) -> bytes:
    return json.dumps({"kind": kind, "ticket_id": "7", "status": "Open", "priority": "Urgent", "source": "Email",
                       "tags": "vip", "group": "", "agent_email": "", "requester_email": "ann@example.com",
                       "company": "", "triggered_event": "{ticket_action:created}", **extra}).encode()


def test_webhook_to_due_dates_and_tags_exactly_once(store, fake_freshdesk):
    created = "2026-03-02T14:00:00Z"
    fake_freshdesk.add_ticket(7, priority=4, status=2, tags=["vip"], created_at=created, updated_at=created,
                              subject="Checkout is down")
    settings = Settings.from_env({"FRESHDESK_WEBHOOK_SECRET": SECRET, "FRESHDESK_DOMAIN": "acme",
                                  "FRESHDESK_API_KEY": fake_freshdesk.api_key}, database_url=store.url)
    cfg = config(
        priority_map={"freshdesk": {"4": "P1", "3": "P2", "2": "P3", "1": "P4"}},
        sources={"freshdesk": {"base_url": fake_freshdesk.base_url, "account": "acme",
                               "due_fields": {"first_response": "fr_due_by", "resolution": "due_by"}}},
        escalations=[{"name": "warn", "when": {"metric": "first_response", "at": "50%"},
                      "actions": [{"add_tags": ["sla_warning"]}]}],
    )
    now = utc(created) + timedelta(minutes=40)  # P1: first response 1h, resolution 8h, on 24x7
    clock = lambda: now  # noqa: E731
    adapter = build_inbound("freshdesk", settings, cfg)
    writer = build_writer("freshdesk", settings, cfg)
    assert adapter is not None and writer is not None and writer.configured
    app = create_app(settings, store=store, config=cfg, adapters={"freshdesk": adapter}, clock=clock)
    processor = TicketProcessor(store, cfg, {"freshdesk": writer}, clock=clock)
    worker = Worker(store, processor, {"freshdesk": adapter}, clock=clock)
    executor = Executor(store, {"freshdesk": writer}, clock=clock)
    client = app.test_client()

    delivery = body("ticket.created")
    headers = {"x-connector-token": SECRET, "content-type": "application/json"}
    assert client.post("/hooks/freshdesk", data=delivery, headers={"content-type": "application/json"}
                       ).status_code == 401
    assert client.post("/hooks/freshdesk", data=delivery, headers=headers).status_code == 202
    assert client.post("/hooks/freshdesk", data=delivery, headers=headers).status_code == 200  # repeated delivery
    assert worker.run_once() == 1
    report = processor.report(("freshdesk", "acme", "7"), now)
    assert report is not None and report.severity.classified == "P1"
    assert {(c.metric, c.status) for c in report.clocks} == {("first_response", "running"),
                                                             ("resolution", "running")}
    executor.run_once()
    ticket = fake_freshdesk.tickets[7]
    assert ticket["fr_due_by"] == "2026-03-02T15:00:00Z" and ticket["due_by"] == "2026-03-02T22:00:00Z"
    assert {"vip", "sla_warning", "sla_connector"} <= set(ticket["tags"])
    calls = len(fake_freshdesk.calls)
    assert executor.run_once() == 0 and len(fake_freshdesk.calls) == calls  # nothing is sent twice
