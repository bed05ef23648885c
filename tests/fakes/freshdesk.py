"""A fake Freshdesk API v2 over real HTTP on 127.0.0.1, speaking the wire shapes of `reference/samples/freshdesk_*`.

Use it through the `fake_freshdesk` fixture: import its function in a test module (the fixture is registered
under the name `fake_freshdesk`, so arguments of that name do not shadow an import):

    from tests.fakes.freshdesk import fake_freshdesk_fixture  # noqa: F401

    def test_x(fake_freshdesk):
        fake_freshdesk.add_ticket(42, tags=["vip"])
        client = FreshdeskClient(None, fake_freshdesk.api_key, base_url=fake_freshdesk.base_url)

State: `.tickets` (id → ticket dict with `stats` and `conversations`), `.groups`; every request is logged in
`.calls` (method, path, args, json, auth user and password). Switches:
`.fail_next(status, body=…, headers=…, times=1)`, `.rate_limit(remaining, total=…)` (headers on every
response), `.concurrent_tag_change(tag, times=1)` (right after the next PUT that carries `tags`, another
client writes back the tag list it had read *before* that PUT plus `tag`: the lost update Freshdesk's
replace-the-list semantics allow), `.delay_next(seconds)` (answer the next request late).

Lists follow Freshdesk's pagination: `page`/`per_page` (default 30, at most 100), and a `link: <…>;
rel="next"` header while another page exists ("If you have reached the last page of objects, then the link
header will not be set", developers.freshdesk.com/api, Pagination). `.page_cap` serves fewer items than asked
(as Freshdesk does when `per_page` is ignored), `.link_base` names another host in that header. The ticket
listing embeds `stats` with `include=stats`.

Newer SLA policies (`.recalculate_due(after=seconds)`): Freshdesk owns `due_by`/`fr_due_by`; a PUT answers
with the values it was given, and `after` seconds later (by `.clock_seconds`) both are back at Freshdesk's
own (`sla_due_by`/`sla_fr_due_by`, the values the ticket was created with).

Faults for write calls (PUT/POST), `.write_faults(plan)`: each write takes the next entry, `"429:<s>"`
(Retry-After s), `"503"`, `"409"` (Freshdesk's inconsistent-state error), `"hang"` (answer after
`.hang_seconds`, with 503, the change not applied) or `"lost"` (applied, then answered 502 as a gateway that
gave up waiting); None lets it through. Every call is logged with its time
(`.clock_seconds`) and status; `.early_calls` counts calls made before a Retry-After it sent had elapsed.

The desk side (`open_ticket`, `reply`, `change`): what agents and requesters do, with stats kept as
Freshdesk keeps them, each producing the automation webhook body of `config/freshdesk/webhook-body.json`
in `.webhooks`, except when `notify=False` (a change no rule reports) or when the delivery is dropped
(`.drop_rate`, seeded by `.rng`; counted in `.dropped`).

Validation, as Freshdesk does it (400 with `{"description", "errors": [{field, message, code}]}`): unknown
fields, priority outside 1–4, unknown group ids, non-list tags, due dates that are not UTC instants;
`fr_due_by` once the first response happened or on a resolved/closed ticket; `due_by` on a closed ticket;
`due_by` before `fr_due_by` while the first response is pending (the connector's reading of the
undocumented rule between them).
"""

from __future__ import annotations

import html
import itertools
import json
import random
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

API_KEY = "fake-freshdesk-key-3b9c7a"
_START = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)
UPDATABLE = {"priority", "status", "group_id", "responder_id", "tags", "due_by", "fr_due_by", "custom_fields",
             "type", "subject"}


STATUS_LABELS = {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
PRIORITY_LABELS = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
SOURCE_LABELS = {1: "Email", 2: "Portal", 3: "Phone", 7: "Chat", 10: "Outbound Email"}


def stamp(n: int) -> str:
    return (_START + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass
class Call:
    method: str
    path: str
    args: dict[str, str]
    json: Any
    user: str | None
    password: str | None
    at: float = 0.0        # `.clock_seconds` when the call arrived
    status: int = 0        # what the fake answered (0 until it answered)


@dataclass
class FakeFreshdesk:
    api_key: str = API_KEY
    base_url: str = ""
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    failures: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    rate_headers: dict[str, str] = field(default_factory=dict)
    tag_races: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    page_cap: int | None = None
    custom_field_names: set[str] | None = None  # the account's custom fields (any name when None)
    link_base: str | None = None
    clock: Callable[[], datetime] | None = None  # updated_at of API writes; a counter from 14:00 without it
    clock_seconds: Callable[[], float] = time.monotonic  # call times, Retry-After and due recalculation
    recalculate_after: float | None = None
    pending_recalculations: list[tuple[float, int]] = field(default_factory=list)
    faults: list[str | None] = field(default_factory=list)
    hang_seconds: float = 0.5
    hangs: int = 0
    lost: int = 0  # writes applied but answered 502 ("lost" faults)
    blocked_until: float = 0.0
    early_calls: int = 0
    webhooks: list[bytes] = field(default_factory=list)
    drop_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    dropped: int = 0
    _clock: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(9000))
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- set-up helpers -------------------------------------------------------------------------------------

    def add_ticket(self, ticket_id: int, *, first_responded_at: str | None = None,
                   **fields: Any) -> dict[str, Any]:
        """Add a ticket in Freshdesk's v2 shape (with `stats`); keyword arguments override its fields."""
        ticket: dict[str, Any] = {
            "id": ticket_id, "subject": "Printer on fire", "description": "<div>It burns</div>",
            "description_text": "It burns", "priority": 1, "status": 2, "source": 2, "type": "Question",
            "requester_id": 6012691534, "responder_id": None, "group_id": None, "company_id": None,
            "product_id": None, "cc_emails": [], "fwd_emails": [], "reply_cc_emails": [], "to_emails": None,
            "email_config_id": None, "spam": False, "is_escalated": False, "fr_escalated": False,
            "created_at": stamp(0), "updated_at": stamp(next(self._clock)),
            "due_by": stamp(8 * 3600), "fr_due_by": stamp(3600), "nr_due_by": None,
            "custom_fields": {}, "tags": [], "attachments": [],
            "stats": {"agent_responded_at": first_responded_at, "requester_responded_at": None,
                      "first_responded_at": first_responded_at, "status_updated_at": stamp(0),
                      "reopened_at": None, "resolved_at": None, "closed_at": None, "pending_since": None},
            "conversations": [],
        }
        ticket.update(fields)
        ticket.setdefault("sla_due_by", ticket["due_by"])
        ticket.setdefault("sla_fr_due_by", ticket["fr_due_by"])
        self.tickets[ticket_id] = ticket
        return ticket

    def add_conversations(self, ticket_id: int, count: int) -> None:
        """Give a ticket `count` conversations (alternating replies and private notes)."""
        ticket = self.tickets[ticket_id]
        for i in range(count):
            note = i % 2 == 1
            ticket["conversations"].append({
                "id": next(self._ids), "body": f"<div>message {i}</div>", "body_text": f"message {i}",
                "incoming": False, "private": note, "user_id": 1, "support_email": None,
                "source": 2 if note else 0, "ticket_id": ticket_id, "to_emails": [], "from_email": None,
                "cc_emails": None, "bcc_emails": None, "created_at": stamp(60 + i), "updated_at": stamp(60 + i),
                "attachments": []})

    def fail_next(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
                  times: int = 1) -> None:
        """Answer the next `times` requests with this status, body (dict → JSON, str → text) and headers."""
        text = json.dumps(body) if isinstance(body, dict | list) else (body or "")
        for _ in range(times):
            self.failures.append((status, text, dict(headers or {})))

    def rate_limit(self, remaining: int, total: int = 200) -> None:
        """Send Freshdesk's rate-limit headers on every response."""
        self.rate_headers = {"x-ratelimit-total": str(total), "x-ratelimit-remaining": str(remaining),
                             "x-ratelimit-used-currentrequest": "1"}

    def concurrent_tag_change(self, tag: str, times: int = 1) -> None:
        """After the next `times` tag-carrying PUTs, a stale writer puts back its old list plus `tag`."""
        self.tag_races.extend([tag] * times)

    def delay_next(self, seconds: float) -> None:
        """Answer the next request after `seconds` (for client timeouts)."""
        self.delays.append(seconds)

    def recalculate_due(self, after: float) -> None:
        """Behave as an account on the newer SLA policies: Freshdesk puts its own due dates back `after` s later."""
        self.recalculate_after = after

    def write_faults(self, plan: list[str | None]) -> None:
        """Answer the next write calls (PUT/POST) by this plan, one entry each (see the module docstring)."""
        self.faults = list(plan)

    def touch(self, ticket: dict[str, Any]) -> None:
        ticket["updated_at"] = iso(self.clock()) if self.clock is not None else stamp(next(self._clock))

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def apply_due_recalculations(self) -> None:
        """Put Freshdesk's own due dates back on the tickets whose recalculation time has come."""
        now = self.clock_seconds()
        due = [item for item in self.pending_recalculations if item[0] <= now]
        self.pending_recalculations = [item for item in self.pending_recalculations if item[0] > now]
        for _, ticket_id in due:
            ticket = self.tickets[ticket_id]
            ticket["due_by"], ticket["fr_due_by"] = ticket["sla_due_by"], ticket["sla_fr_due_by"]

    # -- the desk side: what agents and requesters do, and the webhook each change sends -----------------------

    def open_ticket(self, ticket_id: int, *, at: datetime, priority: int, requester_id: int, source: int = 2,
                    tags: tuple[str, ...] = (), notify: bool = True, **fields: Any) -> dict[str, Any]:
        """A requester opens a ticket; Freshdesk's own SLA sets due dates a day and three days later."""
        ticket = self.add_ticket(ticket_id, priority=priority, requester_id=requester_id, source=source,
                                 tags=list(tags), created_at=iso(at), updated_at=iso(at),
                                 fr_due_by=iso(at + timedelta(days=1)), due_by=iso(at + timedelta(days=3)),
                                 **fields)
        ticket["stats"]["status_updated_at"] = iso(at)
        self._notify(ticket, "ticket.created", "{ticket_action:created}", notify)
        return ticket

    def reply(self, ticket_id: int, *, at: datetime, user_id: int, incoming: bool = False, private: bool = False,
              notify: bool = True) -> dict[str, Any]:
        """A conversation: an agent's reply or note, or the requester's message (`incoming` from email)."""
        ticket = self.tickets[ticket_id]
        conversation = {"id": next(self._ids), "body": "<div>text</div>", "body_text": "text", "incoming": incoming,
                        "private": private, "user_id": user_id, "support_email": None,
                        "source": 2 if private else 0, "ticket_id": ticket_id, "to_emails": [], "from_email": None,
                        "cc_emails": None, "bcc_emails": None, "created_at": iso(at), "updated_at": iso(at),
                        "attachments": []}
        ticket["conversations"].append(conversation)
        stats = ticket["stats"]
        if user_id == ticket["requester_id"]:
            stats["requester_responded_at"] = iso(at)
        elif not private:
            stats["agent_responded_at"] = iso(at)
            stats["first_responded_at"] = stats["first_responded_at"] or iso(at)
        ticket["updated_at"] = iso(at)
        event = "{note_type:private}" if private else "{reply_type:reply}"
        self._notify(ticket, "comment.added", event, notify)
        return conversation

    def change(self, ticket_id: int, *, at: datetime, notify: bool = True, **fields: Any) -> None:
        """An agent changes fields (status, priority, tags …); status changes leave their stats timestamps."""
        ticket = self.tickets[ticket_id]
        stats = ticket["stats"]
        status = fields.get("status")
        if status is not None and status != ticket["status"]:
            stamp_at = iso(at)
            if status == 3:
                stats["pending_since"] = stamp_at
            elif status == 4:
                stats["resolved_at"] = stamp_at
            elif status == 5:
                stats["closed_at"] = stamp_at
            elif status == 2 and ticket["status"] in (4, 5):
                stats["reopened_at"] = stamp_at
            stats["status_updated_at"] = stamp_at
        before = {key: ticket.get(key) for key in fields}
        ticket.update(fields)
        ticket["updated_at"] = iso(at)
        changed = next(iter(fields), "status")
        event = "{" + f"{changed}:{{from:{before.get(changed)},to:{fields.get(changed)}}}" + "}"
        self._notify(ticket, "ticket.updated", event, notify)

    def _notify(self, ticket: dict[str, Any], kind: str, triggered: str, notify: bool) -> None:
        if not notify:
            return
        if self.rng.random() < self.drop_rate:
            self.dropped += 1
            return
        self.webhooks.append(json.dumps(webhook_body(ticket, kind, triggered)).encode())

    def take_webhooks(self) -> list[bytes]:
        """The deliveries sent since the last call, in order."""
        sent, self.webhooks = self.webhooks, []
        return sent


def webhook_body(ticket: dict[str, Any], kind: str, triggered: str) -> dict[str, Any]:
    """The body `config/freshdesk/webhook-body.json` renders into for this ticket (labels, comma-separated tags)."""
    return {"kind": kind, "ticket_id": str(ticket["id"]), "status": STATUS_LABELS.get(ticket["status"], "Open"),
            "priority": PRIORITY_LABELS[ticket["priority"]], "source": SOURCE_LABELS.get(ticket["source"], "Portal"),
            "tags": ", ".join(ticket["tags"]), "group": "", "agent_email": "", "requester_email": "ann@example.com",
            "company": "", "triggered_event": triggered}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _invalid(*errors: tuple[str, str, str]) -> Response:
    return _json({"description": "Validation failed",
                  "errors": [{"field": f, "message": m, "code": c} for f, m, c in errors]}, 400)


_NOT_FOUND = Response(status=404)  # Freshdesk answers an unknown ticket with an empty 404


def _page(fake: FakeFreshdesk, items: list[Any]) -> Response:
    per_page = min(int(request.args.get("per_page", "30")), 100)
    if fake.page_cap is not None:
        per_page = min(per_page, fake.page_cap)
    page = max(int(request.args.get("page", "1")), 1)
    chunk = items[(page - 1) * per_page:page * per_page]
    response = _json(chunk)
    if page * per_page < len(items):
        query = "&".join(f"{k}={v}" for k, v in request.args.items() if k not in ("page", "per_page"))
        base = fake.link_base or fake.base_url
        response.headers["link"] = (f'<{base}{request.path}?{query + "&" if query else ""}page={page + 1}'
                                    f'&per_page={per_page}>; rel="next"')
    return response


def _public(ticket: dict[str, Any], include: set[str]) -> dict[str, Any]:
    shown = {k: v for k, v in ticket.items() if k not in ("stats", "conversations", "sla_due_by", "sla_fr_due_by")}
    if "stats" in include:
        shown["stats"] = ticket["stats"]
    return shown


def _validate(fake: FakeFreshdesk, ticket: dict[str, Any], changes: dict[str, Any]) -> Response | None:
    errors: list[tuple[str, str, str]] = []
    for name in changes:
        if name not in UPDATABLE:
            errors.append((name, "Unexpected/invalid field in request", "invalid_field"))
    if "priority" in changes and changes["priority"] not in (1, 2, 3, 4):
        errors.append(("priority", "It should be one of these values: '1,2,3,4'", "invalid_value"))
    if "group_id" in changes and changes["group_id"] not in {g["id"] for g in fake.groups}:
        errors.append(("group_id", "There is no group matching the given group_id", "invalid_value"))
    if "tags" in changes and (not isinstance(changes["tags"], list)
                              or not all(isinstance(t, str) for t in changes["tags"])):
        errors.append(("tags", "It should be an Array of String", "datatype_mismatch"))
    custom = changes.get("custom_fields", {})
    if not isinstance(custom, dict):
        errors.append(("custom_fields", "It should be a key/value pair", "datatype_mismatch"))
    elif fake.custom_field_names is not None:
        errors.extend((name, "Unexpected/invalid field in request", "invalid_field")
                      for name in custom if name not in fake.custom_field_names)
    for name in ("due_by", "fr_due_by"):
        if name in changes and _parse(changes[name]) is None:
            errors.append((name, "It should be in the 'valid date time' format", "invalid_value"))
    if errors:
        return _invalid(*errors)
    status = ticket["status"]
    responded = ticket["stats"]["first_responded_at"] is not None
    if "fr_due_by" in changes and (responded or status in (4, 5)):
        errors.append(("fr_due_by", "fr_due_by cannot be updated once the first response is sent "
                                    "or the ticket is resolved or closed", "invalid_value"))
    if "due_by" in changes and status == 5:
        errors.append(("due_by", "due_by cannot be updated on a closed ticket", "invalid_value"))
    due = _parse(changes.get("due_by", ticket["due_by"]))
    first = _parse(changes.get("fr_due_by", ticket["fr_due_by"]))
    if ("due_by" in changes or "fr_due_by" in changes) and not responded and due and first and due < first:
        errors.append(("due_by", "due_by should be greater than fr_due_by", "invalid_value"))
    return _invalid(*errors) if errors else None


def _fault(fake: FakeFreshdesk, fault: str) -> Response:
    """Answer a write call with a planned fault (nothing is applied)."""
    if fault.startswith("429"):
        seconds = int(fault.partition(":")[2] or "1")
        with fake.lock:
            fake.blocked_until = max(fake.blocked_until, fake.clock_seconds() + seconds)
        return Response(json.dumps({"message": "You have exceeded the limit of requests per minute"}), status=429,
                        headers={"Retry-After": str(seconds)}, mimetype="application/json")
    if fault == "409":
        return _json({"description": "Validation failed", "errors": [
            {"field": "email", "message": "It should be a unique value", "code": "duplicate_value"}]}, 409)
    if fault == "hang":
        with fake.lock:
            fake.hangs += 1
        time.sleep(fake.hang_seconds)  # longer than the client waits: it has given up, nothing is applied
    return Response("<html>Service Unavailable</html>", status=503, mimetype="text/html")


def create_app(fake: FakeFreshdesk) -> Flask:
    app = Flask("fake_freshdesk")

    @app.before_request
    def _log_and_gate() -> Response | None:
        auth = request.authorization
        body = request.get_json(silent=True) if request.data else None
        with fake.lock:
            now = fake.clock_seconds()
            call = Call(request.method, request.path, dict(request.args), body,
                        auth.username if auth else None, auth.password if auth else None, at=now)
            fake.calls.append(call)
            if now < fake.blocked_until:
                fake.early_calls += 1
            delay = fake.delays.pop(0) if fake.delays else 0.0
            failure = fake.failures.pop(0) if fake.failures else None
            fault = fake.faults.pop(0) if fake.faults and request.method in ("PUT", "POST") else None
            fake.apply_due_recalculations()
        request.environ["fake.call"] = call
        if delay:
            time.sleep(delay)
        if failure is not None:
            status, text, headers = failure
            mimetype = "application/json" if text.startswith(("{", "[")) else "text/plain"
            return Response(text, status=status, headers=headers, mimetype=mimetype)
        if fault == "lost":  # applied as any call is, then answered as a gateway that gave up on it
            request.environ["fake.lost"] = True
        elif fault is not None:
            return _fault(fake, fault)
        if auth is None or auth.username != fake.api_key or auth.password != "X":
            return _json({"code": "invalid_credentials", "message": "You have to be logged in to perform this "
                                                                   "action."}, 401)
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

    @app.get("/api/v2/tickets/<int:ticket_id>")
    def show_ticket(ticket_id: int) -> Response:
        ticket = fake.tickets.get(ticket_id)
        if ticket is None:
            return _NOT_FOUND
        include = set(filter(None, request.args.get("include", "").split(",")))
        return _json(_public(ticket, include))

    @app.put("/api/v2/tickets/<int:ticket_id>")
    def update_ticket(ticket_id: int) -> Response:
        with fake.lock:
            ticket = fake.tickets.get(ticket_id)
            if ticket is None:
                return _NOT_FOUND
            changes = request.get_json(silent=True)
            if not isinstance(changes, dict) or not changes:
                return _invalid(("request", "Request body is empty or not JSON", "invalid_json"))
            refused = _validate(fake, ticket, changes)
            if refused is not None:
                return refused
            before = list(ticket["tags"])
            if "custom_fields" in changes:  # a partial update of the custom fields: the others stay
                changes = {**changes, "custom_fields": {**ticket["custom_fields"], **changes["custom_fields"]}}
            ticket.update(changes)
            if "tags" in changes and fake.tag_races:
                # another client read the tags before our PUT and writes its stale list back after it
                ticket["tags"] = list(dict.fromkeys([*before, fake.tag_races.pop(0)]))
            fake.touch(ticket)
            answer = _json(_public(ticket, set()))  # shows the values just given, as Freshdesk's answer does
            if fake.recalculate_after is not None:
                fake.pending_recalculations.append((fake.clock_seconds() + fake.recalculate_after, ticket_id))
            return answer

    @app.get("/api/v2/tickets/<int:ticket_id>/conversations")
    def conversations(ticket_id: int) -> Response:
        ticket = fake.tickets.get(ticket_id)
        if ticket is None:
            return _NOT_FOUND
        return _page(fake, ticket["conversations"])

    @app.post("/api/v2/tickets/<int:ticket_id>/notes")
    def add_note(ticket_id: int) -> Response:
        with fake.lock:
            ticket = fake.tickets.get(ticket_id)
            if ticket is None:
                return _NOT_FOUND
            spec = request.get_json(silent=True) or {}
            if not isinstance(spec.get("body"), str) or not spec["body"]:
                return _invalid(("body", "It should not be blank as this is a mandatory field", "missing_field"))
            # as Freshdesk lists a note (python-freshdesk's recorded conversations): the HTML in a <div>,
            # `body_text` the text it shows
            shown = html.unescape(re.sub(r"<br\s*/?>", "\n", spec["body"]))
            note = {"id": next(fake._ids), "body": f"<div>{spec['body']}</div>",
                    "body_text": re.sub(r"<[^>]*>", "", shown),
                    "incoming": False, "private": spec.get("private", True), "user_id": 1,
                    "support_email": None, "source": 2, "ticket_id": ticket_id, "to_emails": [],
                    "from_email": None, "cc_emails": None, "bcc_emails": None,
                    "created_at": stamp(0), "updated_at": stamp(0), "attachments": []}
            ticket["conversations"].append(note)
            fake.touch(ticket)
            return _json(note, 201)

    @app.get("/api/v2/groups")
    def groups() -> Response:
        return _page(fake, fake.groups)

    @app.get("/api/v2/tickets")
    def list_tickets() -> Response:
        since = _parse(request.args.get("updated_since"))
        if "updated_since" in request.args and since is None:
            return _invalid(("updated_since", "It should be in the 'valid date time' format", "invalid_value"))
        if len(request.args.getlist("updated_since")) > 1:
            return _invalid(("updated_since", "Duplicate parameter", "invalid_value"))
        found = [t for t in fake.tickets.values() if since is None or _parse(t["updated_at"]) >= since]  # type: ignore[operator]
        found.sort(key=lambda t: t["updated_at"] if request.args.get("order_by") == "updated_at"
                   else t["created_at"], reverse=request.args.get("order_type", "desc") == "desc")
        include = set(filter(None, request.args.get("include", "").split(",")))
        return _page(fake, [_public(t, include & {"stats"}) for t in found])

    return app


@pytest.fixture(name="fake_freshdesk")
def fake_freshdesk_fixture() -> Iterator[FakeFreshdesk]:
    """Serve a fresh fake Freshdesk on 127.0.0.1 (an ephemeral port) for one test."""
    fake = FakeFreshdesk()
    server = make_server("127.0.0.1", 0, create_app(fake), threaded=True)
    fake.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="fake-freshdesk", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
