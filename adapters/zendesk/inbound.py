"""Inbound side of Zendesk: verify the signature, accept both webhook shapes, normalize (enriching if needed).

Two body shapes arrive on `/hooks/zendesk` (a webhook has exactly one connection method):

- **Event-subscription envelopes** `{"type": "zen:event-type:ticket.<name>", "id", "time",
  "subject": "zen:ticket:<id>", "detail": {ticket snapshot}, "event": {what changed}}`. The envelope `id`
  is the dedupe key and the event id. `ticket.created` → `ticket.created`, `ticket.comment_added` →
  `comment.added`, status/priority/group/assignee/tags/field/… changes → `ticket.updated`; so are deletions
  (`soft_deleted`, `permanently_deleted`, `marked_as_spam`: the ticket's status is `deleted`, whatever the
  detail says) and restores (`undeleted`: the detail's status, read from the API if it still says deleted).
  Other ticket types (attachments, CSAT, SLA) and non-ticket types (`user.deleted`) give no events.
- **Trigger/automation bodies** in the shape of `config/zendesk/trigger-body.json`: `ticket_id`, `kind`
  (`ticket.created` | `ticket.updated` | `comment.added`, default `ticket.updated`), `event_id`, and rendered
  placeholders. Zendesk gives every invocation of a webhook its own `x-zendesk-webhook-invocation-id`,
  kept across retries: that is the dedupe key and the base of the event id (`<invocation>:<kind>`, or
  `<invocation>:comment:<comment id>`). Without that header (a replay, another sender) the base is the
  body's `event_id` plus the first 16 hex digits of the body's SHA-256, else the whole SHA-256: the
  recommended `event_id` is to the minute, and two updates in one minute must stay two events.

`accept` (ingress, no network) checks what it can judge without the API, and refuses the rest with a
`PayloadError` (400) naming the key: the ticket id (1-20 digits), the envelope `id`, `account_id`, the
trigger's `event_id` and invocation header, every id the body carries (at most 255 printable characters; ids
that end up in event ids shorter, see `MAX_BASE_ID`) and every instant it carries (ISO 8601 to the second or
to the minute, 1970-2099; in a trigger body a human date such as `February 3, 2025` is no instant and is
left to the API). A status nobody mapped yet must not bounce a delivery Zendesk will not resend, so mapping
errors surface in `normalize`, where the worker keeps the delivery as failed with the reason.

`normalize` enriches through `ZendeskApi` when the snapshot the clocks need is incomplete (status, priority,
created_at as ISO 8601, requester, tags) or a comment's author and visibility are unknown; without an API
that is a `PayloadError` naming the variables to set. Subject, description and mapped custom fields are
fetched when an API is there and they are missing, and never required. An instant given to the minute
(`{{ticket.updated_at_with_timestamp}}` renders `2013-12-12T05:35Z`) is refined to the fetched ticket's own
`updated_at` when one was fetched and it lies in that minute, and the comment of a `comment.added` without a
`comment_id` is the latest one made by the end of that minute. The API's own errors (`Transient` …) pass
through untouched: translating vendor errors is the client's job. Anything else wrong with a value the API
answered is a `PayloadError`, never another exception.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from adapters.base import Accepted, InboundRequest, ticket_ref
from adapters.jsonbody import decode_object, json_type, short
from adapters.zendesk import mapping, signing
from adapters.zendesk.const import SOURCE
from adapters.zendesk.mapping import Instant
from connector.errors import EventError, PayloadError
from connector.events import DELETED, MAX_ID_LENGTH, Comment, Event, Ticket

MAX_AUDIT_VALUE = 256
MAX_BASE_ID = 190      # an event id base (invocation id, the body's event_id): room left for ":comment:<id>"
MAX_COMMENT_ID = 24    # Zendesk comment ids are integers (at most 20 digits)
INVOCATION_HEADER = "x-zendesk-webhook-invocation-id"
AUDIT_HEADERS = ("x-zendesk-webhook-id", INVOCATION_HEADER, "x-zendesk-account-id",
                 signing.TIMESTAMP_HEADER, "user-agent")  # never the signature
NEEDS_API = "needs the Zendesk API: set ZENDESK_SUBDOMAIN, ZENDESK_EMAIL, ZENDESK_API_TOKEN"

EVENT_PREFIX = "zen:event-type:"
TICKET_PREFIX = EVENT_PREFIX + "ticket."
UPDATE_TYPES = frozenset({
    "status_changed", "custom_status_changed", "priority_changed", "group_assignment_changed",
    "agent_assignment_changed", "tags_changed", "custom_field_changed", "subject_changed",
    "description_changed", "organization_changed", "requester_changed", "type_changed", "form_changed",
    "brand_changed",
})
DELETION_TYPES = frozenset({"soft_deleted", "permanently_deleted", "marked_as_spam"})  # the ticket is deleted
RESTORE_TYPES = frozenset({"undeleted"})
TRIGGER_KINDS = ("ticket.created", "ticket.updated", "comment.added")
CLOCK_KEYS = ("status", "priority", "created_at", "requester_id", "tags")  # what the clocks cannot do without
AUTOMATED_CHANNELS = mapping.AUTOMATED_VIA  # raw via types whose comments are Zendesk's own (rules, bots)
AUTOMATED_RELS = frozenset({"trigger", "automation", "rule"})
ID_KEYS = ("requester_id", "submitter_id", "assignee_id", "group_id", "organization_id")
# Trigger body keys → REST ticket keys (the zulip-style names of a hand-written body are read too).
TRIGGER_KEYS = (("status", "status"), ("ticket_status", "status"), ("priority", "priority"),
                ("ticket_priority", "priority"), ("via", "via"), ("group_id", "group_id"),
                ("assignee_id", "assignee_id"), ("requester_id", "requester_id"),
                ("submitter_id", "submitter_id"), ("organization_id", "organization_id"), ("tags", "tags"),
                ("created_at", "created_at"), ("subject", "subject"), ("ticket_title", "subject"),
                ("description", "description"), ("custom_fields", "custom_fields"))

_TICKET_ID = re.compile(r"[0-9]{1,20}")


class ZendeskApi(Protocol):
    """What enrichment reads from Zendesk's REST API (implemented by `adapters/zendesk/client.py`)."""

    def get_ticket(self, ticket_id: str) -> Mapping[str, Any]:
        """Return the REST ticket object (`GET /api/v2/tickets/{id}`)."""

    def list_comments(self, ticket_id: str) -> Sequence[Mapping[str, Any]]:
        """Return the ticket's comments, oldest first, with author_id, public, created_at, via, metadata."""

    def get_user_role(self, user_id: str) -> str:
        """Return a user's role: 'end-user', 'agent' or 'admin'."""


# --- decoding ------------------------------------------------------------------------------------


def decode(body: bytes) -> dict[str, Any]:
    """Decode a body into a JSON object; raise `PayloadError` for anything else (never echoing the body)."""
    return decode_object(body, expected="a Zendesk event envelope or a trigger body (JSON object)")


# --- recognising a delivery ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """What a body is, parsed just enough to dedupe it and to know which event it becomes."""

    shape: str                      # envelope | trigger
    dedupe_key: str
    event_id: str
    type: str | None                # the canonical event type, or None: this delivery gives no events
    name: str = ""                  # the envelope's ticket event name (status_changed …), "" for a trigger
    ticket_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)    # envelope detail, or the trigger body
    change: Mapping[str, Any] = field(default_factory=dict)  # envelope event
    occurred: Instant | None = None
    stamp: Instant | None = None    # the ticket's updated_at: how fresh a cached fetch must be
    comment_id: str | None = None   # a trigger's rendered comment_id, or an envelope comment's id

    @property
    def occurred_at(self) -> datetime | None:
        return None if self.occurred is None else self.occurred.at

    @property
    def cache_stamp(self) -> datetime | None:
        """The stamp a cached fetch is judged by; None (always fetch again) when given only to the minute."""
        return self.stamp.at if self.stamp is not None and self.stamp.to_the_second else None


def _rendered(value: Any) -> bool:
    """False for a placeholder Zendesk left unrendered ("{{ticket.id}}"), which means no value."""
    return not (isinstance(value, str) and "{{" in value)


def _ticket_id(value: Any, what: str) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None or not _TICKET_ID.fullmatch(text):
        hint = " (is the placeholder rendered?)" if not _rendered(value) else ""
        raise PayloadError(short(f"{what}: {mapping.shown(value)} is not a Zendesk ticket id{hint}"))
    return text


def _identifier(value: Any, what: str, limit: int = MAX_ID_LENGTH) -> str:
    """Return an identifier given as text (or a number): 1-`limit` printable characters, else `PayloadError`."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{what}: expected an id (1-{limit} printable characters), got {json_type(value)}"
                           if not isinstance(value, str) else f"{what}: must not be empty")
    text = value.strip()
    if len(text) > limit:
        raise PayloadError(f"{what}: {len(text)} characters; at most {limit}")
    if not text.isprintable():
        raise PayloadError(f"{what}: holds a control character (NUL, newline, …); ids are printable text")
    return text


def _nested(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else MappingProxyType({})


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if type(value) is not dict:
        raise PayloadError(f"{what}: expected an object, got {json_type(value)}")
    return value


def _strict_instant(obj: Mapping[str, Any], key: str, what: str) -> Instant | None:
    """An instant Zendesk itself writes (envelopes, the API): absent or null is None, anything else must parse."""
    value = obj.get(key)
    if value is None:
        return None
    found = mapping.read_instant(value, what)
    if found is None:
        raise PayloadError(short(f"{what}: {mapping.shown(value)} is not an ISO 8601 timestamp"))
    return found


def _check_ids(obj: Mapping[str, Any], prefix: str) -> None:
    for key in ID_KEYS:
        value = obj.get(key)
        if _rendered(value):
            mapping.map_id(value, prefix + key)


def _envelope(data: dict[str, Any]) -> Delivery:
    kind = data["type"]
    envelope_id = _identifier(data.get("id"), "id")
    if data.get("account_id") is not None:
        _identifier(data.get("account_id"), "account_id")
    if not kind.startswith(TICKET_PREFIX):
        return Delivery(shape="envelope", dedupe_key=envelope_id, event_id=envelope_id, type=None)
    name = kind[len(TICKET_PREFIX):]
    detail = _object(data.get("detail"), "detail")
    change = _object(data.get("event"), "event")
    subject = data.get("subject")
    if isinstance(subject, str) and subject.startswith("zen:ticket:"):
        ticket_id = _ticket_id(subject[len("zen:ticket:"):], "subject")
    else:
        ticket_id = _ticket_id(detail.get("id"), "detail.id")
    occurred = _strict_instant(data, "time", "time")
    if occurred is None:
        raise PayloadError(short(f"time: {mapping.shown(data.get('time'))} is not an ISO 8601 timestamp"))
    updated = _strict_instant(detail, "updated_at", "detail.updated_at")
    _strict_instant(detail, "created_at", "detail.created_at")
    _check_ids(detail, "detail.")
    comment_id = None
    if name == "created":
        canonical: str | None = "ticket.created"
    elif name == "comment_added":
        canonical = "comment.added"
        given = _object(change.get("comment"), "event.comment")
        comment_id = mapping.map_id(given.get("id"), "event.comment.id")
        mapping.map_id(_object(given.get("author"), "event.comment.author").get("id"), "event.comment.author.id")
    elif name in UPDATE_TYPES or name in DELETION_TYPES or name in RESTORE_TYPES:
        canonical = "ticket.updated"
    else:
        canonical = None
    return Delivery(shape="envelope", dedupe_key=envelope_id, event_id=envelope_id, type=canonical, name=name,
                    ticket_id=ticket_id, data=detail, change=change, occurred=occurred, stamp=updated or occurred,
                    comment_id=comment_id)


def _trigger(data: dict[str, Any], body: bytes, headers: Mapping[str, str]) -> Delivery:
    ticket_id = _ticket_id(data["ticket_id"], "ticket_id")
    kind = data.get("kind", "ticket.updated")
    if kind not in TRIGGER_KINDS:
        raise PayloadError(short(f"kind: {mapping.shown(kind)} is not one of {', '.join(TRIGGER_KINDS)}"))
    own_id = data.get("event_id")
    own = None if own_id is None or own_id == "" or not _rendered(own_id) else \
        _identifier(own_id, "event_id", MAX_BASE_ID)
    invocation = signing.header_value(headers, INVOCATION_HEADER)
    if invocation is not None and invocation.strip():
        invocation = _identifier(invocation, INVOCATION_HEADER, MAX_BASE_ID)
    else:
        invocation = None
    digest = hashlib.sha256(body).hexdigest()
    # One invocation, one delivery (its retries keep the id); a body's own event_id may repeat within a minute.
    base = invocation or (f"{own}:{digest[:16]}" if own else f"sha256:{digest}")
    updated = mapping.read_instant(data.get("updated_at"), "updated_at")
    created = mapping.read_instant(data.get("created_at"), "created_at")
    _check_ids(data, "")
    raw_comment = data.get("comment_id")
    comment_id = mapping.map_id(raw_comment, "comment_id") if _rendered(raw_comment) else None
    if comment_id is not None and len(comment_id) > MAX_COMMENT_ID:
        raise PayloadError(f"comment_id: {len(comment_id)} characters; a Zendesk comment id has at most "
                           f"{MAX_COMMENT_ID}")
    return Delivery(shape="trigger", dedupe_key=base, event_id=f"{base}:{kind}", type=kind, ticket_id=ticket_id,
                    data=data, occurred=created if kind == "ticket.created" and created else updated,
                    stamp=updated, comment_id=comment_id)


def recognise(body: bytes, headers: Mapping[str, str]) -> Delivery:
    """Decode a body and say what it is; raise `PayloadError` when it is neither Zendesk shape or holds a bad value."""
    data = decode(body)
    kind = data.get("type")
    if isinstance(kind, str) and kind.startswith(EVENT_PREFIX):
        return _envelope(data)
    if "ticket_id" in data:
        return _trigger(data, body, headers)
    raise PayloadError("expected a Zendesk event envelope (type zen:event-type:…) or a trigger body with ticket_id")


# --- the LRU caches ------------------------------------------------------------------------------


class _Fetched:
    __slots__ = ("stamp", "ticket", "comments")

    def __init__(self, stamp: datetime | None) -> None:
        self.stamp = stamp
        self.ticket: Mapping[str, Any] | None = None
        self.comments: list[Mapping[str, Any]] | None = None


class _Cache:
    """What enrichment fetched, per ticket (dropped when a newer event for it arrives) and per user."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tickets: OrderedDict[str, _Fetched] = OrderedDict()
        self.roles: OrderedDict[str, str] = OrderedDict()
        self.lock = threading.Lock()

    def ticket(self, ticket_id: str, stamp: datetime | None) -> _Fetched:
        with self.lock:
            entry = self.tickets.get(ticket_id)
            # An event we cannot date (to the second), or a newer one, may describe a change made after the fetch.
            if entry is not None and (stamp is None or entry.stamp is None or stamp > entry.stamp):
                del self.tickets[ticket_id]
                entry = None
            if entry is None:
                entry = self.tickets[ticket_id] = _Fetched(stamp)
                while len(self.tickets) > self.size:
                    self.tickets.popitem(last=False)
            else:
                self.tickets.move_to_end(ticket_id)
            return entry

    def role(self, user_id: str) -> str | None:
        with self.lock:
            role = self.roles.get(user_id)
            if role is not None:
                self.roles.move_to_end(user_id)
            return role

    def remember_role(self, user_id: str, role: str) -> None:
        with self.lock:
            self.roles[user_id] = role
            while len(self.roles) > self.size:
                self.roles.popitem(last=False)


# --- the adapter ---------------------------------------------------------------------------------


class ZendeskAdapter:
    """Zendesk's inbound adapter: signed event envelopes and trigger bodies, enriched through the API."""

    source = SOURCE
    reads_url = False  # Zendesk signs the timestamp and the body

    def __init__(self, secrets: Sequence[str], *, account: str, api: ZendeskApi | None = None,
                 field_names: Mapping[str, str] | None = None, status_map: Mapping[str, str] | None = None,
                 own_user_ids: Sequence[str] = (), tolerance: int = 300,
                 clock: Callable[[], float] = time.time, cache_size: int = 1024) -> None:
        if isinstance(secrets, str):
            raise TypeError("secrets must be a sequence of signing secrets, not one string")
        if not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise ValueError("the zendesk source needs at least one non-empty signing secret")
        if not isinstance(account, str) or not account.strip():
            raise ValueError("account must be the Zendesk subdomain, e.g. 'acme'")
        if len(account.strip()) > MAX_ID_LENGTH or not account.strip().isprintable():
            raise ValueError(f"account must be at most {MAX_ID_LENGTH} printable characters")
        if tolerance <= 0:
            raise ValueError("tolerance must be a positive number of seconds")
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._secrets = tuple(secrets)
        self.account = account.strip()
        self._api = api
        self._field_names = MappingProxyType({str(k): str(v) for k, v in (field_names or {}).items()})
        self._status_map = MappingProxyType({str(k): str(v) for k, v in (status_map or {}).items()})
        self._own_users = frozenset(str(u) for u in own_user_ids)
        self._tolerance = tolerance
        self._clock = clock
        self._cache = _Cache(cache_size)

    @property
    def waits_on_api(self) -> bool:
        return self._api is not None

    def __repr__(self) -> str:
        return (f"ZendeskAdapter(account={self.account!r}, secrets=<{len(self._secrets)}>, "
                f"api={'yes' if self._api is not None else 'no'}, tolerance={self._tolerance})")

    def verify(self, request: InboundRequest) -> None:
        """Raise `AuthError` unless the Zendesk signature matches one of the secrets within the tolerance."""
        signing.verify(self._secrets, request.headers, request.body, now=self._clock(), tolerance=self._tolerance)

    def accept(self, request: InboundRequest) -> Accepted:
        """Recognise the body's shape and dedupe key, refusing bad ids and instants; keep the headers to audit."""
        delivery = recognise(request.body, request.headers)
        audit = {}
        for name in AUDIT_HEADERS:
            value = signing.header_value(request.headers, name)
            if value is not None:
                audit[name] = value[:MAX_AUDIT_VALUE]
        return Accepted(dedupe_key=delivery.dedupe_key, audit_headers=audit,
                        events=0 if delivery.type is None else 1,
                        ticket=ticket_ref(SOURCE, self.account, delivery.ticket_id) if delivery.ticket_id else None)

    def normalize(self, body: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Event]:
        """Return the canonical events of a stored delivery, fetching from the API what the body lacks."""
        delivery = recognise(body, headers)
        if delivery.type is None or delivery.ticket_id is None:
            return []
        raw, ticket_json = self._snapshot(delivery)
        ticket = mapping.ticket_from_api(raw, field_names=self._field_names, status_map=self._status_map)
        occurred_at = self._refined(delivery, ticket_json)
        if occurred_at is None and ticket_json is not None:
            occurred_at = _strict_at(ticket_json, "updated_at", "ticket.updated_at")
        comment: Comment | None = None
        event_id = delivery.event_id
        if delivery.type == "ticket.created":
            occurred_at = occurred_at or ticket.created_at
            comment = self._first_comment(raw, ticket)
        elif delivery.type == "comment.added":
            found = self._comment(delivery)
            if found is None:
                return []  # the ticket's creating comment: it is on the ticket.created event already
            comment, comment_id, created = found
            occurred_at = created or occurred_at
            if delivery.shape == "trigger" and comment_id:
                if len(comment_id) > MAX_COMMENT_ID:
                    raise PayloadError(f"comment.id: {len(comment_id)} characters; a Zendesk comment id has at "
                                       f"most {MAX_COMMENT_ID}")
                event_id = delivery.event_id.removesuffix(":comment.added") + f":comment:{comment_id}"
        if occurred_at is None:
            raise PayloadError(f"ticket {delivery.ticket_id}: updated_at is not an ISO 8601 timestamp and the "
                               f"ticket could not be read; use {{{{ticket.updated_at_with_timestamp}}}}")
        try:
            return [Event(source=SOURCE, account=self.account, ticket_id=delivery.ticket_id, event_id=event_id,
                          occurred_at=occurred_at, type=delivery.type, ticket=ticket, comment=comment)]
        except EventError as err:  # a value the API answered that no event can hold
            raise PayloadError(short(f"ticket {delivery.ticket_id}: {err.message}")) from None

    def _refined(self, delivery: Delivery, fetched: Mapping[str, Any] | None) -> datetime | None:
        """The delivery's instant; one given to the minute takes the fetched ticket's own if it lies in that minute."""
        occurred = delivery.occurred
        if occurred is None or occurred.to_the_second or fetched is None:
            return None if occurred is None else occurred.at
        key = "created_at" if delivery.type == "ticket.created" else "updated_at"
        exact = _strict_at(fetched, key, f"ticket.{key}")
        if exact is not None and occurred.at <= exact <= occurred.latest:
            return exact
        return occurred.at  # changed again since: the minute is all that is known

    # --- snapshot ---

    def _snapshot(self, delivery: Delivery) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
        """Return the REST-shaped ticket to map, and the fetched ticket if one was fetched."""
        raw = self._known(delivery)
        missing = [key for key in CLOCK_KEYS if key not in raw]
        if delivery.occurred is None:
            missing.append("updated_at")
        wanted = "subject" not in raw or "description" not in raw or (
            bool(self._field_names) and "custom_fields" not in raw)
        refine = delivery.occurred is not None and not delivery.occurred.to_the_second
        if not missing and not ((wanted or refine) and self._api is not None):
            return raw, None
        if self._api is None:
            raise PayloadError(f"ticket {delivery.ticket_id}: the delivery lacks {', '.join(missing)}; "
                               f"reading it {NEEDS_API}")
        fetched = self._fetch_ticket(delivery)
        # What the delivery says is what held at the event; the fetched ticket may already be later.
        merged = {**fetched, **raw}
        given = mapping.read_instant(raw.get("created_at"), "created_at")
        if given is not None and not given.to_the_second:
            exact = _strict_at(fetched, "created_at", "ticket.created_at")
            if exact is not None and given.at <= exact <= given.latest:
                merged["created_at"] = fetched["created_at"]  # the same instant, to the second
        return merged, fetched

    def _known(self, delivery: Delivery) -> dict[str, Any]:
        data = delivery.data
        if delivery.shape == "envelope":
            raw = {key: value for key, value in data.items() if key != "id"}
            if delivery.name in DELETION_TYPES:
                raw["status"] = DELETED
            elif delivery.name in RESTORE_TYPES and _says_deleted(raw.get("status")):
                del raw["status"]  # restored, but to which status the detail does not say: ask the API
        else:
            raw = {}
            for key, target in TRIGGER_KEYS:
                if key in data and _rendered(data[key]) and target not in raw:
                    raw[target] = data[key]
        if "created_at" in raw and mapping.instant(raw["created_at"], "created_at") is None:
            del raw["created_at"]  # a human date ("February 3, 2025") is in the account's zone: never use it
        return raw

    def _fetch_ticket(self, delivery: Delivery) -> Mapping[str, Any]:
        assert self._api is not None and delivery.ticket_id is not None
        entry = self._cache.ticket(delivery.ticket_id, delivery.cache_stamp)
        if entry.ticket is None:
            fetched = self._api.get_ticket(delivery.ticket_id)
            if isinstance(fetched, Mapping) and isinstance(fetched.get("ticket"), Mapping):
                fetched = fetched["ticket"]  # tolerate the REST wrapper {"ticket": {...}}
            if not isinstance(fetched, Mapping):
                raise PayloadError(f"ticket {delivery.ticket_id}: the API returned no ticket object")
            entry.ticket = fetched
        return entry.ticket

    # --- comments ---

    def _role(self, user_id: str | None) -> str:
        if user_id is None:
            return "system"
        role = self._cache.role(user_id)
        if role is None:
            if self._api is None:
                raise PayloadError(f"user {user_id}: telling an agent from an end user {NEEDS_API}")
            role = mapping.map_role(self._api.get_user_role(user_id))
            self._cache.remember_role(user_id, role)
        return role

    def _first_comment(self, raw: Mapping[str, Any], ticket: Ticket) -> Comment:
        """The ticket's creating comment, carried by ticket.created so it never stops first_response."""
        author = mapping.map_id(raw.get("submitter_id"), "submitter_id") or ticket.requester.id
        public = raw.get("is_public", True)
        if author is None or author == ticket.requester.id:
            role = "end_user" if author is not None else "system"
        elif self._api is not None:
            role = self._role(author)
        else:
            role = "agent"  # someone other than the requester opened it: an agent, on the requester's behalf
        return Comment(author_role=role, public=public if isinstance(public, bool) else True,
                       automated=ticket.channel == "rule" or author in self._own_users, author_id=author)

    def _comment(self, delivery: Delivery) -> tuple[Comment, str | None, datetime | None] | None:
        """The added comment, its id and instant; None when it is the creating comment."""
        if delivery.shape == "envelope":
            given = _object(delivery.change.get("comment"), "event.comment")
            author = _object(given.get("author"), "event.comment.author")
            created = mapping.instant(delivery.data.get("created_at"), "detail.created_at")
            if created is not None and delivery.stamp is not None and \
                    created.replace(microsecond=0) == delivery.stamp.at.replace(microsecond=0):
                return None
            if isinstance(given.get("is_public"), bool) and isinstance(author.get("is_staff"), bool):
                author_id = mapping.map_id(author.get("id"), "event.comment.author.id")
                return (Comment(author_role="agent" if author["is_staff"] else "end_user",
                                public=given["is_public"], automated=author_id in self._own_users,
                                author_id=author_id), delivery.comment_id, None)
        return self._comment_from_api(delivery, delivery.comment_id)

    def _comment_from_api(self, delivery: Delivery, comment_id: str | None
                          ) -> tuple[Comment, str | None, datetime | None] | None:
        assert delivery.ticket_id is not None
        if self._api is None:
            raise PayloadError(f"ticket {delivery.ticket_id}: whether the comment is a public agent reply "
                               f"{NEEDS_API}")
        entry = self._cache.ticket(delivery.ticket_id, delivery.cache_stamp)
        if entry.comments is None:
            listed = self._api.list_comments(delivery.ticket_id)
            if not isinstance(listed, Sequence) or not all(isinstance(c, Mapping) for c in listed):
                raise PayloadError(f"ticket {delivery.ticket_id}: the API returned no list of comments")
            entry.comments = list(listed)
        comments = entry.comments
        index = self._pick(comments, comment_id, None if delivery.stamp is None else delivery.stamp.latest)
        if index is None:
            raise PayloadError(f"ticket {delivery.ticket_id}: comment {comment_id or '(latest)'} not found")
        if index == 0:
            return None
        found = comments[index]
        author_id = mapping.map_id(found.get("author_id"), "comment.author_id")
        via = _nested(found, "via") or _nested(_nested(found, "metadata"), "via")  # the docs sample nests it
        rel = _nested(via, "source").get("rel")
        automated = (author_id in self._own_users or author_id is None or mapping.is_automated_via(via)
                     or (isinstance(rel, str) and rel.lower() in AUTOMATED_RELS))
        public = found.get("public", True)
        role = self._role(author_id) if author_id is not None else "system"
        return (Comment(author_role=role, public=public if isinstance(public, bool) else True, automated=automated,
                        author_id=author_id),
                mapping.map_id(found.get("id"), "comment.id"), _strict_at(found, "created_at", "comment.created_at"))

    @staticmethod
    def _pick(comments: Sequence[Mapping[str, Any]], comment_id: str | None, until: datetime | None) -> int | None:
        if comment_id is not None:
            for index, item in enumerate(comments):
                if str(item.get("id")) == comment_id:
                    return index
            return None
        chosen = None
        for index, item in enumerate(comments):
            created = _strict_at(item, "created_at", "comment.created_at")
            if until is None or created is None or created <= until:
                chosen = index  # the latest comment made by the time of the update
        return chosen


def _strict_at(obj: Mapping[str, Any], key: str, what: str) -> datetime | None:
    found = _strict_instant(obj, key, what)
    return None if found is None else found.at


def _says_deleted(status: Any) -> bool:
    try:
        return isinstance(status, str) and mapping.map_status(status) == DELETED
    except PayloadError:
        return False
