"""The fake Zendesk plus the history endpoints it lacks: the cursor-based incremental ticket export and
ticket audits, in the wire shapes of `reference/samples/zendesk_incremental_tickets_pages.json` and
`zendesk_ticket_audits_cursor_page.json`.

    from tests.fakes.zendesk_export import zendesk_history_fixture  # noqa: F401

    def test_x(zendesk_history):
        zendesk_history.add_history(42, [audit(...), ...], status="solved")

The routes are registered on the fake's own Flask app (`tests.fakes.zendesk.create_app`), so its request
log (`.fake.calls`), auth check, `fail_next`, `rate_limit` and user endpoint all apply. The export lists
tickets by (updated_at, id); its cursor is base64 of `<unix>.<id>`; `end_of_stream` is true on the last page.
`.gone_audits`: tickets whose audits answer 404 (deleted and scrubbed). The connector's own API writes (tags,
custom fields, notes) become audits too, by the API user, via `api`.

The desk side (`open_ticket`, `reply`, `change`, `delete`, `restore`), for reconciliation drills: what agents
and requesters do, at instants of `.clock`, each recorded as the ticket's audit and sent as the event webhook
Zendesk would send (`zen:event-type:ticket.*` envelopes, in the shape of `tests/fixtures/zendesk/envelope_*`)
into `.webhooks`, except when `notify=False` (a change no webhook reports) or when the delivery is dropped
(`.drop_rate`, seeded by `.rng`; counted in `.dropped`).
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import threading
import uuid
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


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# REST `via.channel` → the via type event webhooks say for the same channel
VIA_TYPE = {"web": "web_form", "email": "mail", "api": "web_service", "voice": "phone_call_inbound"}


@dataclass
class ZendeskHistory:
    fake: FakeZendesk
    audits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    gone_audits: set[int] = field(default_factory=set)  # tickets whose audits answer 404 (deleted and scrubbed)
    webhooks: list[bytes] = field(default_factory=list)
    drop_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    dropped: int = 0
    restore_to: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fake.on_write = self._api_audit

    def _api_audit(self, ticket_id: int, events: list[dict[str, Any]]) -> None:
        """The connector's own write, as Zendesk audits it: by the API user, via api, at the ticket's updated_at."""
        if ticket_id not in self.audits:
            return
        audit_id = next(_audit_ids)
        items = [{"id": next(_event_ids), **e, "audit_id": audit_id} for e in events]
        self.audits[ticket_id].append({
            "id": audit_id, "ticket_id": ticket_id, "created_at": self.fake.tickets[ticket_id]["updated_at"],
            "author_id": self.fake.api_user_id, "metadata": {"system": {}, "custom": {}}, "events": items,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}}})

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

    # -- the desk side: what agents and requesters do, and the event webhook each change sends ----------------

    def open_ticket(self, ticket_id: int, *, at: datetime, requester_id: int, priority: str = "normal",
                    channel: str = "web", tags: tuple[str, ...] = (), notify: bool = True,
                    **fields: Any) -> dict[str, Any]:
        """A requester opens a ticket (its creating comment is theirs)."""
        audit = create(iso(at), requester_id, via=channel, status="new", priority=priority,
                       requester_id=str(requester_id), tags=list(tags))
        ticket = self.add_history(ticket_id, [audit], status="new", priority=priority, requester_id=requester_id,
                                  submitter_id=requester_id, tags=list(tags), created_at=iso(at), updated_at=iso(at),
                                  via={"channel": channel, "source": {"from": {}, "to": {}, "rel": None}}, **fields)
        self._send(ticket, "created", at, {"meta": {"sequence": {"id": str(uuid.uuid4()), "position": 1}}}, notify)
        return ticket

    def reply(self, ticket_id: int, *, at: datetime, user_id: int, public: bool = True,
              notify: bool = True) -> dict[str, Any]:
        """A comment: an agent's reply or note, or the requester's message."""
        ticket = self.fake.tickets[ticket_id]
        audit = change(iso(at), user_id, comment="text", public=public)
        self._record(ticket_id, audit)
        ticket["updated_at"] = iso(at)
        comment = audit["events"][0]
        staff = self.fake.users.get(user_id, {}).get("role") in ("agent", "admin")
        self._send(ticket, "comment_added", at, {"comment": {
            "id": str(comment["id"]), "body": "text", "is_public": public,
            "author": {"id": str(user_id), "is_staff": staff, "name": f"user {user_id}"}}}, notify)
        return comment

    def change(self, ticket_id: int, *, at: datetime, notify: bool = True, **values: Any) -> None:
        """An agent changes fields (status, priority, tags …); each change sends its own event."""
        ticket = self.fake.tickets[ticket_id]
        before = {key: ticket.get(key) for key in values}
        self._record(ticket_id, change(iso(at), 900, changes={k: (before[k], v) for k, v in values.items()}))
        ticket.update(values)
        ticket["updated_at"] = iso(at)
        for key, value in values.items():
            if key == "tags":
                old, new = before[key] or [], value or []
                event = {"tags_added": [t for t in new if t not in old],
                         "tags_removed": [t for t in old if t not in new]}
                self._send(ticket, "tags_changed", at, event, notify)
            else:
                name = {"status": "status_changed", "priority": "priority_changed"}.get(key, "custom_field_changed")
                self._send(ticket, name, at, {"current": _upper(value), "previous": _upper(before[key])}, notify)

    def delete(self, ticket_id: int, *, at: datetime, notify: bool = True) -> None:
        """An agent deletes the ticket: a status change to `deleted` in the audits, `ticket.soft_deleted` sent."""
        ticket = self.fake.tickets[ticket_id]
        self._record(ticket_id, change(iso(at), 900, changes={"status": (ticket["status"], "deleted")}))
        self.restore_to[ticket_id], ticket["status"], ticket["updated_at"] = ticket["status"], "deleted", iso(at)
        self._send(ticket, "soft_deleted", at, {}, notify)

    def restore(self, ticket_id: int, *, at: datetime, notify: bool = True) -> None:
        """An admin restores a deleted ticket: back to its status, `ticket.undeleted` sent."""
        ticket = self.fake.tickets[ticket_id]
        status = self.restore_to.pop(ticket_id, "open")
        self._record(ticket_id, change(iso(at), 900, changes={"status": ("deleted", status)}))
        ticket["status"], ticket["updated_at"] = status, iso(at)
        self._send(ticket, "undeleted", at, {}, notify)

    def take_webhooks(self) -> list[bytes]:
        """The deliveries sent since the last call, in order."""
        sent, self.webhooks = self.webhooks, []
        return sent

    def _record(self, ticket_id: int, audit: dict[str, Any]) -> None:
        audit["ticket_id"] = ticket_id
        for event in audit["events"]:
            event["audit_id"] = audit["id"]
        self.audits[ticket_id].append(audit)

    def _send(self, ticket: dict[str, Any], name: str, at: datetime, event: dict[str, Any], notify: bool) -> None:
        if not notify:
            return
        if self.rng.random() < self.drop_rate:
            self.dropped += 1
            return
        self.webhooks.append(json.dumps(envelope(ticket, name, at, event)).encode())


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _id(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def envelope(ticket: dict[str, Any], name: str, at: datetime, event: dict[str, Any]) -> dict[str, Any]:
    """The event webhook Zendesk sends for a ticket as it stands: string ids, UPPERCASE enums, via types."""
    channel = (ticket.get("via") or {}).get("channel") or "web"
    status = "DELETED" if name == "soft_deleted" else ("HOLD" if ticket["status"] == "hold" else
                                                       _upper(ticket["status"]))
    detail = {
        "actor_id": "900", "assignee_id": _id(ticket.get("assignee_id")), "brand_id": "8447346621310",
        "created_at": ticket["created_at"], "custom_status": "8447320465790", "description": ticket["description"],
        "external_id": None, "form_id": "8646151517822", "group_id": _id(ticket.get("group_id")),
        "id": str(ticket["id"]), "is_public": True, "organization_id": _id(ticket.get("organization_id")),
        "priority": _upper(ticket.get("priority")), "requester_id": _id(ticket.get("requester_id")),
        "status": status, "subject": ticket["subject"], "submitter_id": _id(ticket.get("submitter_id")),
        "tags": list(ticket.get("tags") or []), "type": _upper(ticket.get("type")), "updated_at": iso(at),
        "via": {"channel": VIA_TYPE.get(channel, channel)},
    }
    return {"account_id": 22129848, "detail": detail, "event": event, "id": str(uuid.uuid4()),
            "subject": f"zen:ticket:{ticket['id']}", "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z"),
            "type": f"zen:event-type:ticket.{name}", "zendesk_event_version": "2022-11-06"}


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
        if ticket_id not in fake.tickets or ticket_id in history.gone_audits:
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
