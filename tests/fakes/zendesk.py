"""A fake Zendesk over real HTTP on 127.0.0.1, speaking the wire shapes of `reference/samples/zendesk_*`.

Use it through the `fake_zendesk` fixture: import its function in a test module (the fixture is registered
under the name `fake_zendesk`, so arguments of that name do not shadow an import):

    from tests.fakes.zendesk import fake_zendesk_fixture  # noqa: F401

    def test_x(fake_zendesk):
        fake_zendesk.add_ticket(42, tags=["vip"])
        client = ZendeskClient(None, fake_zendesk.email, fake_zendesk.token, base_url=fake_zendesk.base_url)

State: `.tickets` (id → ticket dict, with `comments`), `.users`, `.groups`, `.webhooks`, `.triggers`; every
request is logged in `.calls` (method, path, args, json, auth user, the time it arrived by `.clock_seconds`
and the status answered). Switches:
`.fail_next(status, body=…, headers=…, times=1)`, `.conflict_next(times=1)` (the next safe updates find a
newer ticket and get 409, as when an agent edits it meanwhile), `.rate_limit(remaining, reset)` (headers on
every response), `.date_fields` (custom field ids that only accept YYYY-MM-DD, 422 otherwise).

Faults for write calls (PUT/POST/DELETE), `.write_faults(plan)`: each write takes the next entry, `"429:<s>"`
(Retry-After s, held account-wide as Zendesk's limits are), `"503"`, `"409"` (an update collision: nothing
applied), `"hang"` (answer after `.hang_seconds`, with 503, nothing applied) or `"lost"` (applied, then
answered 502 as a gateway that gave up waiting: the client cannot tell it from a failure); None lets it
through.
`.early_calls` counts calls that came before a Retry-After the fake sent had elapsed.

Time: `.clock` (datetime) stamps `updated_at` on API writes (a counter from 2026-03-02T14:00 without it);
`.clock_seconds` dates calls and Retry-After. `.on_write(ticket_id, events)`, when set, is told the audit
events of every API write (`tests/fakes/zendesk_export.py` records them as the ticket's audits).
"""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

EMAIL = "agent@example.com"
TOKEN = "fake-zendesk-token-6f1e2d"
_START = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _stamp(n: int) -> str:
    return (_START + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Call:
    method: str
    path: str
    args: dict[str, str]
    json: Any
    user: str | None
    at: float = 0.0        # `.clock_seconds` when the call arrived
    status: int = 0        # what the fake answered (0 until it answered)

    @property
    def ticket_id(self) -> int | None:
        match = re.match(r"/api/v2/tickets/([0-9]+)(?:\.json|/)", self.path)
        return int(match.group(1)) if match else None


@dataclass
class FakeZendesk:
    email: str = EMAIL
    token: str = TOKEN
    base_url: str = ""
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    date_fields: set[int] = field(default_factory=set)
    failures: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    conflicts: int = 0
    rate_headers: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], datetime] | None = None
    clock_seconds: Callable[[], float] = time.monotonic
    faults: list[str | None] = field(default_factory=list)
    hang_seconds: float = 0.5
    hangs: int = 0
    lost: int = 0  # writes applied but answered 502 ("lost" faults)
    blocked_until: float = 0.0
    early_calls: int = 0
    api_user_id: int = 900
    on_write: Callable[[int, list[dict[str, Any]]], None] | None = None
    _clock: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(9000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- set-up helpers -------------------------------------------------------------------------------------

    def add_ticket(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        """Add a ticket in Zendesk's shape; keyword arguments override its fields."""
        ticket: dict[str, Any] = {
            "url": f"{self.base_url}/api/v2/tickets/{ticket_id}.json", "id": ticket_id, "external_id": None,
            "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": _stamp(0), "updated_at": _stamp(next(self._clock)), "type": None,
            "subject": "Printer on fire", "raw_subject": "Printer on fire", "description": "It burns",
            "priority": "normal", "status": "open", "requester_id": 501, "submitter_id": 501,
            "assignee_id": None, "organization_id": None, "group_id": None, "tags": [], "custom_fields": [],
            "fields": [], "is_public": True, "due_at": None, "comments": [],
        }
        ticket.update(fields)
        self.tickets[ticket_id] = ticket
        return ticket

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  times: int = 1) -> None:
        """Answer the next `times` requests with this status, body (dict → JSON, str → text) and headers."""
        text = json.dumps(body) if isinstance(body, dict | list) else (body or "")
        for _ in range(times):
            self.failures.append((status, text, dict(headers or {})))

    def conflict_next(self, times: int = 1) -> None:
        """Make the next `times` safe updates find a newer ticket (someone else just edited it): 409."""
        self.conflicts += times

    def rate_limit(self, remaining: int, reset: int = 60) -> None:
        """Send these rate-limit headers on every response."""
        self.rate_headers = {"x-rate-limit": "700", "x-rate-limit-remaining": str(remaining),
                             "ratelimit-remaining": str(remaining), "ratelimit-reset": str(reset)}

    def write_faults(self, plan: list[str | None]) -> None:
        """Answer the next write calls (PUT/POST/DELETE) by this plan, one entry each (see the module docstring)."""
        self.faults = list(plan)

    def touch(self, ticket: dict[str, Any]) -> None:
        ticket["updated_at"] = (self.clock().strftime("%Y-%m-%dT%H:%M:%SZ") if self.clock is not None
                                else _stamp(next(self._clock)))

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def audit(self, ticket_id: int, events: list[dict[str, Any]]) -> None:
        if self.on_write is not None and events:
            self.on_write(ticket_id, events)

    def public_ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ticket.items() if k != "comments"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _page(fake: FakeZendesk, items: list[Any], key: str) -> Response:
    size = min(int(request.args.get("page[size]", "100")), 100)
    start = int(request.args.get("page[after]", "0") or 0)
    chunk = items[start:start + size]
    more = start + size < len(items)
    after = str(start + size) if more else None
    return _json({key: chunk, "meta": {"has_more": more, "after_cursor": after,
                                       "before_cursor": str(start) if start else None},
                  "links": {"next": f"{fake.base_url}{request.path}?page[after]={after}" if more else None,
                            "prev": None}})


_NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
_CLOSED = {"error": "RecordInvalid", "description": "Record validation errors",
           "details": {"status": [{"description": "Status: closed prevents ticket update"}]}}
_CONFLICT = {"error": "UpdateConflict", "description": "Safe Update prevented the update due to outdated ticket data. "
             "Please fetch the latest ticket data and try again."}


def _fault(fake: FakeZendesk, fault: str) -> Response:
    """Answer a write call with a planned fault (nothing is applied)."""
    if fault.startswith("429"):
        seconds = int(fault.partition(":")[2] or "1")
        with fake.lock:
            fake.blocked_until = max(fake.blocked_until, fake.clock_seconds() + seconds)
        return Response("Number of allowed API requests per minute exceeded", status=429,
                        headers={"Retry-After": str(seconds)}, mimetype="text/plain")
    if fault == "409":
        return _json(_CONFLICT, 409)
    if fault == "hang":
        with fake.lock:
            fake.hangs += 1
        time.sleep(fake.hang_seconds)  # longer than the client waits: it has given up, nothing is applied
    return _json({"error": "ServiceUnavailable", "description": "Please try again later"}, 503)


def create_app(fake: FakeZendesk) -> Flask:
    app = Flask("fake_zendesk")

    @app.before_request
    def _log_and_gate() -> Response | None:
        auth = request.authorization
        body = request.get_json(silent=True) if request.data else None
        with fake.lock:
            now = fake.clock_seconds()
            call = Call(request.method, request.path, dict(request.args), body, auth.username if auth else None,
                        at=now)
            fake.calls.append(call)
            if now < fake.blocked_until:
                fake.early_calls += 1
            failure = fake.failures.pop(0) if fake.failures else None
            fault = fake.faults.pop(0) if fake.faults and request.method in ("PUT", "POST", "DELETE") else None
        request.environ["fake.call"] = call
        if failure is not None:
            status, text, headers = failure
            mimetype = "application/json" if text.startswith("{") else "text/plain"
            return Response(text, status=status, headers=headers, mimetype=mimetype)
        if fault == "lost":  # applied as any call is, then answered as a gateway that gave up on it
            request.environ["fake.lost"] = True
        elif fault is not None:
            return _fault(fake, fault)
        if auth is None or auth.username != f"{fake.email}/token" or auth.password != fake.token:
            return _json({"error": "Couldn't authenticate you"}, 401)
        return None

    @app.after_request
    def _rate_headers(response: Response) -> Response:
        if request.environ.get("fake.lost") and response.status_code < 400:
            with fake.lock:
                fake.lost += 1
            response = Response("<html><body><h1>502 Bad Gateway</h1></body></html>", status=502,
                                mimetype="text/html")
        response.headers.update(fake.rate_headers)
        call = request.environ.get("fake.call")
        if call is not None:
            call.status = response.status_code
        return response

    def ticket_or_404(ticket_id: int) -> dict[str, Any] | None:
        return fake.tickets.get(ticket_id)

    @app.get("/api/v2/tickets/<int:ticket_id>.json")
    def show_ticket(ticket_id: int) -> Response:
        ticket = ticket_or_404(ticket_id)
        if ticket is None:
            return _json(_NOT_FOUND, 404)
        return _json({"ticket": fake.public_ticket(ticket)})

    @app.put("/api/v2/tickets/<int:ticket_id>.json")
    def update_ticket(ticket_id: int) -> Response:
        with fake.lock:
            ticket = ticket_or_404(ticket_id)
            if ticket is None:
                return _json(_NOT_FOUND, 404)
            changes = dict((request.get_json(silent=True) or {}).get("ticket") or {})
            if changes.pop("safe_update", False) in (True, "true"):
                stamp = changes.pop("updated_stamp", None)
                if fake.conflicts:
                    fake.conflicts -= 1
                    fake.touch(ticket)  # an agent edited the ticket meanwhile
                if stamp != ticket["updated_at"]:
                    return _json(_CONFLICT, 409)
            changes.pop("updated_stamp", None)
            if ticket["status"] == "closed":
                return _json(_CLOSED, 422)
            events: list[dict[str, Any]] = []
            for entry in changes.pop("custom_fields", None) or []:
                if entry["id"] in fake.date_fields and not _DATE.fullmatch(str(entry["value"])):
                    return _json({"error": "RecordInvalid", "description": "Record validation errors",
                                  "details": {"base": [{"description": "Date Field is not valid",
                                                        "error": "InvalidValue", "ticket_field_id": entry["id"],
                                                        "ticket_field_type": "FieldDate"}]}}, 422)
                fields = [f for f in ticket["custom_fields"] if f["id"] != entry["id"]]
                previous = next((f["value"] for f in ticket["custom_fields"] if f["id"] == entry["id"]), None)
                ticket["custom_fields"] = [*fields, {"id": entry["id"], "value": entry["value"]}]
                events.append({"type": "Change", "field_name": str(entry["id"]), "value": entry["value"],
                               "previous_value": previous})
            comment = changes.pop("comment", None)
            fake.touch(ticket)
            if comment:
                comment_id = next(fake._ids)
                # as the API lists a plain-text comment: `body` as sent, `plain_body` and `html_body` rendered
                ticket["comments"].append({"id": comment_id, "type": "Comment", "body": comment["body"],
                                           "plain_body": comment["body"],
                                           "html_body": "<div class=\"zd-comment\" dir=\"auto\"><p>"
                                                        + html.escape(comment["body"]).replace("\n", "<br>")
                                                        + "</p></div>",
                                           "public": comment.get("public", True), "author_id": fake.api_user_id,
                                           "created_at": ticket["updated_at"], "via": {"channel": "api"}})
                events.append({"id": comment_id, "type": "Comment", "public": comment.get("public", True),
                               "author_id": fake.api_user_id, "body": comment["body"]})
            for key, value in changes.items():
                events.append({"type": "Change", "field_name": key, "value": value,
                               "previous_value": ticket.get(key)})
                ticket[key] = value
            fake.audit(ticket_id, events)
            return _json({"ticket": fake.public_ticket(ticket),
                          "audit": {"id": next(fake._ids), "ticket_id": ticket_id, "events": events,
                                    "via": {"channel": "api"}}})

    @app.route("/api/v2/tickets/<int:ticket_id>/tags.json", methods=["PUT", "DELETE"])
    def tags(ticket_id: int) -> Response:
        with fake.lock:
            ticket = ticket_or_404(ticket_id)
            if ticket is None:
                return _json(_NOT_FOUND, 404)
            if ticket["status"] == "closed":
                return _json(_CLOSED, 422)
            given = (request.get_json(silent=True) or {}).get("tags") or []
            before = list(ticket["tags"])
            if request.method == "PUT":
                ticket["tags"] = list(dict.fromkeys([*ticket["tags"], *given]))
            else:
                ticket["tags"] = [t for t in ticket["tags"] if t not in given]
            fake.touch(ticket)
            if ticket["tags"] != before:
                fake.audit(ticket_id, [{"type": "Change", "field_name": "tags", "value": list(ticket["tags"]),
                                        "previous_value": before}])
            return _json({"tags": ticket["tags"]})

    @app.get("/api/v2/tickets/<int:ticket_id>/comments.json")
    def comments(ticket_id: int) -> Response:
        ticket = ticket_or_404(ticket_id)
        if ticket is None:
            return _json(_NOT_FOUND, 404)
        return _page(fake, ticket["comments"], "comments")

    @app.get("/api/v2/users/<int:user_id>.json")
    def user(user_id: int) -> Response:
        found = fake.users.get(user_id)
        return _json({"user": found}) if found else _json(_NOT_FOUND, 404)

    @app.get("/api/v2/groups.json")
    def groups() -> Response:
        return _page(fake, fake.groups, "groups")

    @app.get("/api/v2/webhooks")
    def list_webhooks() -> Response:
        return _page(fake, list(fake.webhooks.values()), "webhooks")

    @app.post("/api/v2/webhooks")
    def create_webhook() -> Response:
        spec = dict((request.get_json(silent=True) or {}).get("webhook") or {})
        webhook_id = f"01HANAHHBNJDDW768TX5J4Y{next(fake._ids):03d}"
        auth = spec.get("authentication")
        if isinstance(auth, dict) and isinstance(auth.get("data"), dict):
            auth["data"].pop("password", None)  # Zendesk never echoes credentials back
        stored = {"id": webhook_id, **spec, "created_at": _stamp(0), "created_by": "900"}
        fake.webhooks[webhook_id] = stored
        return _json({"webhook": stored}, 201)

    @app.route("/api/v2/webhooks/<webhook_id>", methods=["PUT"])
    def update_webhook(webhook_id: str) -> Response:
        if webhook_id not in fake.webhooks:
            return _json({"errors": [{"code": "WebhookNotFound", "title": "Webhook not found"}]}, 404)
        spec = (request.get_json(silent=True) or {}).get("webhook") or {}
        fake.webhooks[webhook_id] = {**spec, "id": webhook_id}
        return Response(status=204)

    @app.get("/api/v2/webhooks/<webhook_id>/signing_secret")
    def signing_secret(webhook_id: str) -> Response:
        if webhook_id not in fake.webhooks:
            return _json(_NOT_FOUND, 404)
        return _json({"signing_secret": {"secret": "c2VjcmV0LWZvci0" + webhook_id[-3:], "algorithm": "SHA256"}})

    @app.get("/api/v2/triggers.json")
    def list_triggers() -> Response:
        return _page(fake, list(fake.triggers.values()), "triggers")

    @app.post("/api/v2/triggers.json")
    def create_trigger() -> Response:
        spec = (request.get_json(silent=True) or {}).get("trigger") or {}
        trigger_id = next(fake._ids)
        fake.triggers[trigger_id] = {"id": trigger_id, "active": True, **spec}
        return _json({"trigger": fake.triggers[trigger_id]}, 201)

    @app.put("/api/v2/triggers/<int:trigger_id>.json")
    def update_trigger(trigger_id: int) -> Response:
        if trigger_id not in fake.triggers:
            return _json(_NOT_FOUND, 404)
        spec = (request.get_json(silent=True) or {}).get("trigger") or {}
        fake.triggers[trigger_id] = {**fake.triggers[trigger_id], **spec, "id": trigger_id}
        return _json({"trigger": fake.triggers[trigger_id]})

    return app


@pytest.fixture(name="fake_zendesk")
def fake_zendesk_fixture() -> Iterator[FakeZendesk]:
    """Serve a fresh fake Zendesk on 127.0.0.1 (an ephemeral port) for one test."""
    fake = FakeZendesk()
    server = make_server("127.0.0.1", 0, create_app(fake), threaded=True)
    fake.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-zendesk",
                              daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
