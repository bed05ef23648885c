"""The fake Zendesk plus the history endpoints it lacks: the cursor-based incremental ticket export and
ticket audits, in the wire shapes of `reference/samples/zendesk_incremental_tickets_pages.json` and
`zendesk_ticket_audits_cursor_page.json`.

    from tests.fakes.zendesk_export import zendesk_history_fixture  # noqa: F401

    def test_x(zendesk_history):
        zendesk_history.add_history(42, [audit(...), ...], status="solved")

The routes are registered on the fake's own Flask app (`tests.fakes.zendesk.create_app`), so its request
log (`.fake.calls`), auth check, `fail_next`, `rate_limit` and user endpoint all apply. The export lists
tickets by (updated_at, id); its cursor is base64 of `<unix>.<id>`; `end_of_stream` is true on the last page.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from tests.fakes.zendesk import FakeZendesk, _json, _page, create_app


def unix(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).timestamp())


_audit_ids = itertools.count(7000)
_event_ids = itertools.count(80000)


def create(at: str, author: int, *, comment: str | None = "Help", public: bool = True, via: str = "web",
           **values: Any) -> dict[str, Any]:
    """A Create audit: the creating comment (by `author`) and `values` (status=…, priority=…, …)."""
    events: list[dict[str, Any]] = []
    if comment is not None:
        events.append({"id": next(_event_ids), "type": "Comment", "author_id": author, "body": comment,
                       "public": public, "attachments": []})
    for name, value in values.items():
        events.append({"id": next(_event_ids), "type": "Create", "field_name": name, "value": value})
    return {"id": next(_audit_ids), "created_at": at, "author_id": author, "metadata": {"system": {}, "custom": {}},
            "events": events, "via": {"channel": via, "source": {"from": {}, "to": {}, "rel": None}}}


def change(at: str, author: int, *, comment: str | None = None, public: bool = True, via: str = "web",
           rel: str | None = None, changes: dict[str, tuple[Any, Any]] | None = None) -> dict[str, Any]:
    """A later audit: an optional comment and `changes` {field: (previous, value)}."""
    events: list[dict[str, Any]] = []
    if comment is not None:
        events.append({"id": next(_event_ids), "type": "Comment", "author_id": author, "body": comment,
                       "public": public, "attachments": []})
    for name, (previous, value) in (changes or {}).items():
        events.append({"id": next(_event_ids), "type": "Change", "field_name": name, "value": value,
                       "previous_value": previous})
    return {"id": next(_audit_ids), "created_at": at, "author_id": author, "metadata": {"system": {}, "custom": {}},
            "events": events, "via": {"channel": via, "source": {"from": {}, "to": {}, "rel": rel}}}


@dataclass
class ZendeskHistory:
    fake: FakeZendesk
    audits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def add_user(self, user_id: int, role: str) -> None:
        self.fake.users[user_id] = {"id": user_id, "role": role, "name": f"user {user_id}"}

    def add_history(self, ticket_id: int, audits: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        """Add a ticket whose audits are these; `updated_at` defaults to the last audit's time."""
        for audit in audits:
            audit["ticket_id"] = ticket_id
            for event in audit["events"]:
                event["audit_id"] = audit["id"]
        fields.setdefault("created_at", audits[0]["created_at"] if audits else "2026-03-02T14:00:00Z")
        fields.setdefault("updated_at", audits[-1]["created_at"] if audits else fields["created_at"])
        ticket = self.fake.add_ticket(ticket_id, **fields)
        self.audits[ticket_id] = audits
        return ticket

    def export_calls(self) -> list[dict[str, str]]:
        return [c.args for c in self.fake.calls if c.path.endswith("/incremental/tickets/cursor.json")]


def _cursor(ticket: dict[str, Any]) -> str:
    return base64.b64encode(f"{unix(ticket['updated_at'])}.{ticket['id']}".encode()).decode()


def _position(cursor: str) -> tuple[int, int]:
    stamp, ticket_id = base64.b64decode(cursor).decode().split(".")
    return int(stamp), int(ticket_id)


def add_history_routes(app: Flask, history: ZendeskHistory) -> None:
    fake = history.fake

    @app.get("/api/v2/incremental/tickets/cursor.json")
    def export() -> Response:
        per_page = min(int(request.args.get("per_page", "1000")), 1000)
        ordered = sorted(fake.tickets.values(), key=lambda t: (unix(t["updated_at"]), t["id"]))
        if "cursor" in request.args:
            after = _position(request.args["cursor"])
            chosen = [t for t in ordered if (unix(t["updated_at"]), t["id"]) > after]
        elif "start_time" in request.args:
            start = int(request.args["start_time"])
            chosen = [t for t in ordered if unix(t["updated_at"]) >= start]
        else:
            return _json({"error": "InvalidPaginationParameter", "description": "start_time or cursor"}, 400)
        page = chosen[:per_page]
        end = len(chosen) <= per_page
        cursor = _cursor(page[-1]) if page else request.args.get("cursor") or base64.b64encode(
            f"{int(request.args.get('start_time', '0')) - 1}.0".encode()).decode()
        tickets = [{**fake.public_ticket(t), "generated_timestamp": unix(t["updated_at"])} for t in page]
        return _json({"tickets": tickets, "after_cursor": cursor,
                      "after_url": f"{fake.base_url}{request.path}?cursor={cursor}", "before_url": None,
                      "before_cursor": None, "end_of_stream": end})

    @app.get("/api/v2/tickets/<int:ticket_id>/audits.json")
    def audits(ticket_id: int) -> Response:
        if ticket_id not in fake.tickets:
            return _json({"error": "RecordNotFound", "description": "Not found"}, 404)
        return _page(fake, history.audits.get(ticket_id, []), "audits")


@pytest.fixture(name="zendesk_history")
def zendesk_history_fixture() -> Iterator[ZendeskHistory]:
    """Serve the fake Zendesk with the history endpoints on 127.0.0.1 (an ephemeral port) for one test."""
    history = ZendeskHistory(FakeZendesk())
    app = create_app(history.fake)
    add_history_routes(app, history)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    history.fake.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="fake-zendesk-history", daemon=True)
    thread.start()
    try:
        yield history
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
