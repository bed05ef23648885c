"""Inbound side of Freshdesk: authenticate the automation webhook, accept its body, normalize (enriching).

Freshdesk automation rules ("Trigger webhook" action) POST the body we ship in
`config/freshdesk/webhook-body.json` to `/hooks/freshdesk`; the zulip-style body that nests the same kind
of keys under `freshdesk_webhook` (`ticket_id`, `ticket_status`, `ticket_priority` …) is read too. Keys:
`ticket_id` (required, digits), `kind` (`ticket.created` | `ticket.updated` | `comment.added`; else read
from `triggered_event`, else `ticket.updated`), rendered labels (`status`, `priority`, `source`, `tags`)
and names (`group`, `agent_email`, `requester_email`, `company`) kept for people, not for the clocks.

Placeholders render labels, comma-separated tags and human dates, never ids of requesters or agents, and
`{{triggered_event}}` is not JSON (`{status:{from:4,to:6}}`, `{ticket_action:created}`,
`{note_type:private}`). So `normalize` reads the ticket through `FreshdeskApi.get_ticket` (v2 JSON with
`stats`) for ids and ISO `created_at`/`updated_at`, and for a `comment.added` reads the conversations: the
newest decides (incoming, or written by the requester → end user; private → agent private note; else →
agent public reply). A
`{note_type:private}` event is a private note without listing conversations. Without an API that is a
`PayloadError` naming FRESHDESK_DOMAIN and FRESHDESK_API_KEY.

Which snapshot wins: a body carrying its own ISO `updated_at` is dated, and what it says held then, so it
wins over the (possibly later) fetched ticket. An undated body's event is dated by the fetched `updated_at`,
so the fetched ticket wins: the snapshot and its instant must agree, because the event id is built from
that instant. A `ticket.created` is dated by `created_at`, and the labels rendered when the creation rule
ran win.

Identity: Freshdesk sends no delivery id and may repeat a delivery (retries after 5, 30, 60 minutes), so the
dedupe key is `fd:<ticket id>:sha256:<hex of the raw body>`; two different updates that render the same
body collapse into one delivery (reconciliation polling recovers the state). Event ids are
`fd:<ticket id>:<updated_at, or created_at for ticket.created, or the body's sha256>:<kind>`, and
`fd:<ticket id>:conversation:<id>` for a reply read from the conversations, so several deliveries that see
the same state or the same conversation give the same event.

Fetches are cached per delivery (bounded LRU, `CACHE_SECONDS` old at most) so a worker retry does not spend
API credits twice; never per ticket, since an undated delivery may describe a later change than the last
fetch. `accept` (ingress, no network) checks the shape and every value it can judge without the API: the
ticket id (1-20 digits), `kind`, the ids (`requester_id`, `group_id` …: at most 255 printable characters)
and the instants (`updated_at`, `created_at`: ISO 8601 with Z or an offset, 1970 to 2099) a body carries;
the rest of the mapping surfaces in `normalize`, which refuses an API answer's bad values the same way. No
reason repeats text of the body (`mapping.described`). The API's own errors (`Transient` …) pass through
untouched: translating vendor errors is the client's job.

A conversation whose `user_id` is the ticket's requester is the requester's, whatever `incoming` says:
Freshdesk sets `incoming` only for what arrives from outside, so a requester's portal reply has
`incoming: false` and must never stop first response.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from adapters.base import Accepted, InboundRequest, ticket_ref
from adapters.freshdesk import auth, mapping
from adapters.freshdesk.const import SOURCE
from adapters.jsonbody import decode_object
from adapters.values import NO_VALUE
from connector.errors import EventError, PayloadError
from connector.events import Comment, Event, Ticket, check_id, format_instant

MAX_AUDIT_VALUE = 256
CACHE_SECONDS = 300
WRAPPER = "freshdesk_webhook"
AUDIT_HEADERS = ("user-agent", "content-type", "x-forwarded-for")  # never the token or Authorization
NEEDS_API = "needs the Freshdesk API: set FRESHDESK_DOMAIN and FRESHDESK_API_KEY"
KINDS = ("ticket.created", "ticket.updated", "comment.added")
CLOCK_KEYS = ("status", "priority", "created_at", "requester_id", "tags")  # what the clocks cannot do without
BODY_INSTANTS = ("updated_at", "created_at")
BODY_IDS = ("requester_id", "group_id", "responder_id", "company_id")
FORWARD_SOURCE = 8  # conversation source "forwarded email": sent to a third party, not a reply to the requester
# Body keys → API v2 ticket keys (our template's names first, then the zulip-style `ticket_*` names).
BODY_KEYS = (("status", "status"), ("ticket_status", "status"), ("priority", "priority"),
             ("ticket_priority", "priority"), ("source", "source"), ("ticket_source", "source"),
             ("group_id", "group_id"), ("responder_id", "responder_id"), ("requester_id", "requester_id"),
             ("company_id", "company_id"), ("tags", "tags"), ("ticket_tags", "tags"),
             ("created_at", "created_at"), ("subject", "subject"), ("ticket_subject", "subject"),
             ("description", "description"), ("ticket_description", "description"),
             ("custom_fields", "custom_fields"))

_TICKET_ID = re.compile(r"[0-9]{1,20}")
_TRIGGERED = re.compile(r"\{\s*([A-Za-z_]+)\s*:\s*([A-Za-z_]*)")


class FreshdeskApi(Protocol):
    """What enrichment reads from Freshdesk's API v2 (implemented by `adapters/freshdesk/client.py`)."""

    def get_ticket(self, ticket_id: str) -> Mapping[str, Any]:
        """Return `GET /api/v2/tickets/{id}?include=stats` (the ticket object)."""

    def list_conversations(self, ticket_id: str) -> Sequence[Mapping[str, Any]]:
        """Return every conversation of a ticket (`incoming`, `private`, `user_id`, `created_at`, `source`)."""


# --- decoding ------------------------------------------------------------------------------------


def decode(body: bytes) -> dict[str, Any]:
    """Decode a body into a JSON object; raise `PayloadError` for anything else (never echoing the body)."""
    try:
        return decode_object(body, expected="the Freshdesk webhook body (JSON object)")
    except PayloadError as err:
        if err.reason.startswith("body is not valid JSON"):
            raise PayloadError(f"{err.reason}; a free-text placeholder with a quote breaks JSON") from None
        raise


# --- recognising a delivery ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """A body parsed just enough to dedupe it and to know which event it becomes."""

    dedupe_key: str
    digest: str
    ticket_id: str
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)  # the body's fields (unwrapped)
    private_note: bool = False      # `{note_type:private}`: the comment is an agent's private note
    stamp: datetime | None = None   # the body's own ISO `updated_at`, if a rule renders one
    cache_key: str = ""             # what API answers are cached under: this delivery, as received

    @property
    def cached_as(self) -> str:
        return self.cache_key or self.dedupe_key


def _rendered(value: Any) -> bool:
    """False for a placeholder Freshdesk left unrendered ("{{ticket.id}}"), which means no value."""
    return not (isinstance(value, str) and "{{" in value)


def _ticket_id(value: Any) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None or not _TICKET_ID.fullmatch(text):
        hint = " (is the placeholder rendered?)" if not _rendered(value) else ""
        raise PayloadError(f"ticket_id: {mapping.described(value)} is not a Freshdesk ticket id (1-20 digits){hint}")
    return text


def _given(data: Mapping[str, Any], key: str) -> bool:
    """True when the body gives `key` a value: not absent, not an unrendered placeholder, not empty or "-"."""
    value = data.get(key)
    return value is not None and _rendered(value) and not (
        isinstance(value, str) and value.strip().lower() in NO_VALUE)


def _check_values(data: Mapping[str, Any]) -> datetime | None:
    """Refuse the body's ids and instants that no ticket can have; return its `updated_at`, if it gives one."""
    for key in BODY_IDS:
        if _given(data, key):
            mapping.map_id(data[key], key)
    found = {key: mapping.instant(data[key], key) for key in BODY_INSTANTS if _given(data, key)}
    return found.get("updated_at")


def triggered_event(value: Any) -> tuple[str, str] | None:
    """Return the first (property, value) of a rendered `{{triggered_event}}` (not JSON), else None."""
    if not isinstance(value, str) or len(value) > 1000:
        return None
    match = _TRIGGERED.match(value.strip())
    return (match.group(1).lower(), match.group(2).lower()) if match else None


def recognise(body: bytes) -> Delivery:
    """Decode a body and say what it is; raise `PayloadError` when it is not a Freshdesk webhook body."""
    data = decode(body)
    wrapped = data.get(WRAPPER)
    if isinstance(wrapped, dict) and "ticket_id" not in data:
        data = {**wrapped, **{k: v for k, v in data.items() if k != WRAPPER}}
    if "ticket_id" not in data:
        raise PayloadError("expected a Freshdesk webhook body with ticket_id (see config/freshdesk/webhook-body.json)")
    ticket_id = _ticket_id(data["ticket_id"])
    event = triggered_event(data.get("triggered_event"))
    kind = data.get("kind")
    if kind is None or not _rendered(kind):
        if event is not None and event[0] == "ticket_action" and event[1] == "created":
            kind = "ticket.created"
        elif event is not None and event[0] in ("note_type", "reply_type", "reply_sent"):
            kind = "comment.added"
        else:
            kind = "ticket.updated"
    if kind not in KINDS:
        raise PayloadError(f"kind: {mapping.described(kind)} is not one of {', '.join(KINDS)}")
    stamp = _check_values(data)
    digest = hashlib.sha256(body).hexdigest()
    return Delivery(dedupe_key=f"fd:{ticket_id}:sha256:{digest}", digest=digest, ticket_id=ticket_id,
                    type=kind, data=data, private_note=event == ("note_type", "private"), stamp=stamp)


# --- the LRU cache -------------------------------------------------------------------------------


class _Fetched:
    __slots__ = ("at", "ticket", "conversations")

    def __init__(self, at: float) -> None:
        self.at = at
        self.ticket: Mapping[str, Any] | None = None
        self.conversations: list[Mapping[str, Any]] | None = None


class _Cache:
    """What enrichment fetched, per delivery: a worker retry of the same delivery reuses it for a while."""

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self.size = size
        self.clock = clock
        self.entries: OrderedDict[str, _Fetched] = OrderedDict()
        self.lock = threading.Lock()

    def entry(self, key: str) -> _Fetched:
        now = self.clock()
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and not 0 <= now - entry.at <= CACHE_SECONDS:
                del self.entries[key]
                entry = None
            if entry is None:
                entry = self.entries[key] = _Fetched(now)
                while len(self.entries) > self.size:
                    self.entries.popitem(last=False)
            else:
                self.entries.move_to_end(key)
            return entry


# --- the adapter ---------------------------------------------------------------------------------


def _account(domain: Any) -> str:
    if not isinstance(domain, str) or not domain.strip():
        raise ValueError("account must be the Freshdesk domain, e.g. 'acme' or 'acme.freshdesk.com'")
    text = domain.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    account = text.removesuffix(".freshdesk.com") or text
    try:
        check_id(account, "account")
    except EventError as err:
        raise ValueError(f"the Freshdesk account (FRESHDESK_DOMAIN or sources.freshdesk.account) {err.message}"
                         ) from None
    return account


class FreshdeskAdapter:
    """Freshdesk's inbound adapter: shared-secret automation webhooks, enriched through API v2."""

    source = SOURCE
    reads_url = False  # the shared secret is a header

    def __init__(self, secrets: Sequence[str], *, account: str, api: FreshdeskApi | None = None,
                 field_names: Mapping[str, str] | None = None, status_map: Mapping[str, str] | None = None,
                 own_user_ids: Sequence[str] = (), clock: Callable[[], float] = time.time,
                 cache_size: int = 1024) -> None:
        if isinstance(secrets, str):
            raise TypeError("secrets must be a sequence of webhook secrets, not one string")
        if not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise ValueError("the freshdesk source needs at least one non-empty webhook secret")
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._secrets = tuple(secrets)
        self.account = _account(account)
        self._api = api
        self._field_names = MappingProxyType({str(k): str(v) for k, v in (field_names or {}).items()})
        self._status_map = MappingProxyType({str(k): str(v) for k, v in (status_map or {}).items()})
        self._own_users = frozenset(str(u) for u in own_user_ids)
        self._cache = _Cache(cache_size, clock)

    @property
    def waits_on_api(self) -> bool:
        return self._api is not None

    def __repr__(self) -> str:
        return (f"FreshdeskAdapter(account={self.account!r}, secrets=<{len(self._secrets)}>, "
                f"api={'yes' if self._api is not None else 'no'})")

    def verify(self, request: InboundRequest) -> None:
        """Raise `AuthError` unless the token header or Basic password matches one of the secrets."""
        auth.verify(self._secrets, request.headers)

    def accept(self, request: InboundRequest) -> Accepted:
        """Recognise the body and its dedupe key; keep the headers worth auditing (never credentials)."""
        delivery = recognise(request.body)
        audit = {}
        for name in AUDIT_HEADERS:
            value = auth.header_value(request.headers, name)
            if value is not None:
                audit[name] = value[:MAX_AUDIT_VALUE]
        return Accepted(dedupe_key=delivery.dedupe_key, audit_headers=audit, events=1,
                        ticket=ticket_ref(SOURCE, self.account, delivery.ticket_id))

    def normalize(self, body: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Event]:
        """Return the canonical event of a stored delivery, fetching from the API what the body lacks."""
        # two deliveries can render the same body (a body says nothing of *which* reply was sent): the API
        # answers are cached per delivery as received, never reused for a later one
        recognised = recognise(body)
        delivery = replace(recognised, cache_key=f"{recognised.dedupe_key}@{received_at.isoformat()}")
        raw, fetched = self._snapshot(delivery)
        ticket = mapping.ticket_from_api(raw, field_names=self._field_names, status_map=self._status_map)
        updated = delivery.stamp or (mapping.instant(fetched.get("updated_at"), "the fetched ticket's updated_at")
                                     if fetched else None)
        comment: Comment | None = None
        if delivery.type == "ticket.created":
            occurred_at = ticket.created_at or updated
            comment = self._creating_comment(raw, ticket)
            event_id = self._event_id(delivery, occurred_at)
        elif delivery.type == "comment.added" and not delivery.private_note:
            comment, conversation_id, created = self._conversation(delivery, ticket.requester.id)
            occurred_at = created or updated
            event_id = (f"fd:{delivery.ticket_id}:conversation:{conversation_id}" if conversation_id
                        else self._event_id(delivery, occurred_at))
        else:
            occurred_at = updated
            event_id = self._event_id(delivery, occurred_at)
            if delivery.type == "comment.added":
                comment = Comment(author_role="agent", public=False)
        if occurred_at is None:
            raise PayloadError(f"ticket {delivery.ticket_id}: no ISO 8601 updated_at in the delivery or the "
                               f"fetched ticket")
        try:
            return [Event(source=SOURCE, account=self.account, ticket_id=delivery.ticket_id, event_id=event_id,
                          occurred_at=occurred_at, type=delivery.type, ticket=ticket, comment=comment)]
        except EventError as err:  # names the key, never the value
            raise PayloadError(f"ticket {delivery.ticket_id}: {err.message}") from None

    @staticmethod
    def _event_id(delivery: Delivery, instant: datetime | None) -> str:
        return f"fd:{delivery.ticket_id}:{format_instant(instant) or 'sha256-' + delivery.digest}:{delivery.type}"

    # --- snapshot ---

    def _snapshot(self, delivery: Delivery) -> tuple[dict[str, Any], Mapping[str, Any] | None]:
        """Return the API-shaped ticket to map, and the fetched ticket if one was fetched."""
        known = self._known(delivery)
        missing = [key for key in CLOCK_KEYS if key not in known]
        if delivery.stamp is None:
            missing.append("updated_at")
        if delivery.type == "comment.added" and not delivery.private_note:
            missing.append("the conversation")
        wanted = "subject" not in known or "description" not in known or (
            bool(self._field_names) and "custom_fields" not in known)
        if not missing and not (wanted and self._api is not None):
            return known, None
        if self._api is None:
            raise PayloadError(f"ticket {delivery.ticket_id}: the delivery lacks {', '.join(missing)}; "
                               f"reading it {NEEDS_API}")
        fetched = self._fetch_ticket(delivery)
        if delivery.stamp is not None or delivery.type == "ticket.created":
            return {**fetched, **known}, fetched  # what the delivery says held at its own instant
        return {**known, **fetched}, fetched      # the fetched ticket agrees with the instant it gives

    @staticmethod
    def _known(delivery: Delivery) -> dict[str, Any]:
        data = delivery.data
        raw: dict[str, Any] = {}
        for key, target in BODY_KEYS:
            if key in data and target not in raw and _rendered(data[key]):
                value = data[key]
                if isinstance(value, str) and not value.strip() and target not in ("subject", "description"):
                    continue  # an empty rendering ("no group") says nothing the API cannot say better
                raw[target] = value
        return raw

    def _fetch_ticket(self, delivery: Delivery) -> Mapping[str, Any]:
        assert self._api is not None
        entry = self._cache.entry(delivery.cached_as)
        if entry.ticket is None:
            fetched = self._api.get_ticket(delivery.ticket_id)
            if isinstance(fetched, Mapping) and isinstance(fetched.get("ticket"), Mapping):
                fetched = fetched["ticket"]  # tolerate a wrapper {"ticket": {...}}
            if not isinstance(fetched, Mapping):
                raise PayloadError(f"ticket {delivery.ticket_id}: the API returned no ticket object")
            entry.ticket = fetched
        return entry.ticket

    # --- comments ---

    def _creating_comment(self, raw: Mapping[str, Any], ticket: Ticket) -> Comment:
        """The ticket's description, carried by ticket.created so it never stops first_response."""
        source = raw.get("source")
        outbound = source == mapping.OUTBOUND_EMAIL or source == str(mapping.OUTBOUND_EMAIL) or (
            isinstance(source, str) and source.strip().lower() == "outbound email")
        if outbound:  # an agent wrote to the requester: the ticket was opened by the agent
            return Comment(author_role="agent", public=True, author_id=ticket.assignee,
                           automated=ticket.assignee in self._own_users)
        author = ticket.requester.id
        return Comment(author_role="end_user" if author is not None else "system", public=True, author_id=author)

    def _conversation(self, delivery: Delivery, requester: str | None
                      ) -> tuple[Comment, str | None, datetime | None]:
        """The newest conversation (by the delivery's own instant, if dated), its id and instant."""
        assert self._api is not None
        entry = self._cache.entry(delivery.cached_as)
        if entry.conversations is None:
            listed = self._api.list_conversations(delivery.ticket_id)
            if isinstance(listed, str | bytes) or not isinstance(listed, Sequence) or not all(
                    isinstance(c, Mapping) for c in listed):
                raise PayloadError(f"ticket {delivery.ticket_id}: the API returned no list of conversations")
            entry.conversations = list(listed)
        chosen: tuple[datetime, int, Mapping[str, Any]] | None = None
        for position, item in enumerate(entry.conversations):
            created = mapping.instant(item.get("created_at"), f"ticket {delivery.ticket_id}: conversation.created_at")
            if created is None or (delivery.stamp is not None and created > delivery.stamp):
                continue
            if chosen is None or (created, position) >= (chosen[0], chosen[1]):
                chosen = (created, position, item)
        if chosen is None:
            raise PayloadError(f"ticket {delivery.ticket_id}: no dated conversation found for comment.added")
        created, _, found = chosen
        comment = conversation_comment(found, delivery.ticket_id, requester, self._own_users)
        raw_id = found.get("id")
        conversation_id = None if raw_id is None else mapping.numeric_id(raw_id, "conversation.id")
        return comment, conversation_id, created


def conversation_comment(item: Mapping[str, Any], ticket_id: str, requester: str | None,
                         own_user_ids: frozenset[str] = frozenset()) -> Comment:
    """The comment a conversation is: the requester's (by `user_id`, or `incoming`), else an agent's.

    A requester's reply through the portal has `incoming: false`; its `user_id` is the requester's, so it is
    an end user's comment and never stops first response. A forward (source 8) goes to a third party: not
    public. Comments by the connector's own user are automated.
    """
    incoming, private = item.get("incoming"), item.get("private")
    if not isinstance(incoming, bool) or not isinstance(private, bool):
        raise PayloadError(f"ticket {ticket_id}: conversation incoming/private must be true or false, got "
                           f"{mapping.described(incoming)}/{mapping.described(private)}")
    author_id = mapping.map_id(item.get("user_id"), "conversation.user_id")
    if incoming or (author_id is not None and author_id == requester):
        return Comment(author_role="end_user", public=not private, author_id=author_id)
    forward = item.get("source") == FORWARD_SOURCE
    return Comment(author_role="agent", public=not private and not forward, author_id=author_id,
                   automated=author_id is None or author_id in own_user_ids)
