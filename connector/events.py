"""Canonical events (schema 1): the one shape every adapter produces and the rules core consumes.

An event is what happened to one ticket at one instant, with the ticket's snapshot *after* it:

    {"schema": 1, "source": "zendesk", "account": "acme", "ticket_id": "123", "event_id": "…",
     "occurred_at": "2026-03-02T14:05:00Z", "type": "ticket.created|ticket.updated|comment.added",
     "ticket": {...snapshot...}, "comment": {...only on comment.added...}}

Types here are frozen, keyword-only structs (msgspec's: a third of a frozen dataclass's cost to build, and a
replay builds four per event) holding aware UTC datetimes; `updated` copies one with changes. Parsing is strict
(naive timestamps, unknown types and wrong shapes raise `EventError`) but tolerant of extra keys, since
help desks add fields over time. `read_jsonl` reports every bad line with its number and skips nothing
silently; `order_events` gives the order the core applies: by `occurred_at`, ties by arrival.

A line is at most `MAX_LINE_CHARS` characters and nests at most `jsontext.MAX_DEPTH` containers deep (what a
webhook body may): a longer or deeper line is a bad line like any other, refused before a parser sees it
(every JSON parser recurses, and a line nested a thousand levels deep would raise `RecursionError`).

This module does no I/O of its own: readers take an iterable of lines, writers a text stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from types import MappingProxyType
from typing import IO, Any, TypeVar

import msgspec

from connector.errors import EventError
from connector.jsontext import MAX_DEPTH, deeper_than

SCHEMA_VERSION = 1
EVENT_TYPES = ("ticket.created", "ticket.updated", "comment.added")
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed", "deleted")
DONE_STATUSES = frozenset({"solved", "closed"})
# A deleted ticket (Zendesk's `deleted`, `DELETED`, `SCRUBBED`) cancels its clocks; restoring it resumes them.
DELETED = "deleted"

# The limits every source shares (docs/decisions.md "Accepted ranges"): identifiers are 1-255 printable
# characters (the store's column width, and what `/tickets` accepts), instants lie in [1970, 2100).
MAX_ID_LENGTH = 255
# A canonical event is a few hundred bytes; its free text and fields are bounded only by what a webhook body
# may carry (CONNECTOR_MAX_BODY_BYTES, 1 MiB by default). Sixteen times that is room enough for any event a
# help desk makes, and bounds what one line costs to read: a file with no newline (/dev/zero) must not be read
# whole into memory to find out it is not an event.
MAX_LINE_CHARS = 16 * 1024 * 1024
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
INSTANT_RANGE = "1970-01-01T00:00:00Z to 2099-12-31T23:59:59Z"
AUTHOR_ROLES = ("agent", "end_user", "system")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_S = TypeVar("_S", bound=msgspec.Struct)


def parse_instant(value: Any, what: str, *, bounded: bool = True) -> datetime:
    """Parse an ISO 8601 timestamp with an offset into an aware UTC datetime inside the accepted range
    (`bounded=False`: any year, for the connector's own instants, such as a due date past 2099 of a clock
    started late in it)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise EventError(f"{what}: {short_text(value)!r} is not an ISO 8601 timestamp") from None
    else:
        raise EventError(f"{what}: expected an ISO 8601 timestamp, got {type(value).__name__}")
    if dt.tzinfo is not UTC:  # "Z" and "+00:00" read as UTC itself: nothing to check or convert
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise EventError(f"{what}: {short_text(value)!r} is a naive timestamp; give an offset or Z")
        try:
            dt = dt.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the first representable instant
            raise EventError(f"{what}: {short_text(value)!r} is outside {INSTANT_RANGE}") from None
    if bounded and not EARLIEST_INSTANT <= dt < LATEST_INSTANT:
        raise EventError(f"{what}: {short_text(value)!r} is outside {INSTANT_RANGE}")
    return dt


def check_instant(dt: datetime, what: str) -> datetime:
    """Return an aware instant unchanged if it lies in the accepted range; raise `EventError` naming `what`."""
    if dt.tzinfo is not UTC and (dt.tzinfo is None or dt.utcoffset() is None):
        raise EventError(f"{what} must be an aware datetime, got a naive one")
    try:
        inside = EARLIEST_INSTANT <= dt < LATEST_INSTANT
    except OverflowError:
        inside = False
    if not inside:
        raise EventError(f"{what}: {short_text(str(dt))!r} is outside {INSTANT_RANGE}")
    return dt


def check_id(value: str | None, what: str, *, empty: bool = False) -> str | None:
    """Return an identifier unchanged if it is 1-255 printable characters (or None); else raise `EventError`."""
    if value is None or ((empty or value) and len(value) <= MAX_ID_LENGTH and value.isprintable()):
        return value
    if not value:
        raise EventError(f"{what}: must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise EventError(f"{what}: {len(value)} characters; at most {MAX_ID_LENGTH}")
    raise EventError(f"{what}: holds a control character (NUL, newline, …); identifiers are printable text")


def short_text(value: Any, limit: int = 40) -> str:
    """Return a value as text cut to `limit` characters, for error messages."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def format_instant(dt: datetime | None) -> str | None:
    """Format an aware datetime as ISO 8601 UTC with a ``Z`` (microseconds only when present)."""
    if dt is None:
        return None
    # Reports format the same due instants again and again (a clock's due_at, its breach, the decision's
    # key and params), so texts are cached by instant; the cache is simply emptied when it is full.
    text = _FORMATTED.get(dt)
    if text is None:
        if len(_FORMATTED) >= _FORMATTED_MAX:
            _FORMATTED.clear()
        text = _FORMATTED[dt] = _format_instant(dt)
    return text


_FORMATTED: dict[datetime, str] = {}
_FORMATTED_MAX = 16384
# isoformat() of an aware datetime costs about a microsecond; a whole-second UTC instant is cheaper
# assembled from its day's text (cached) and precomputed "HH:MM:" and "SSZ" pieces.
_DAY_TEXTS: dict[int, str] = {}
_MINUTE_TEXTS = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECOND_TEXTS = tuple(f"{s:02d}Z" for s in range(60))


def _format_instant(dt: datetime) -> str:
    if type(dt) is datetime and dt.tzinfo is UTC and not dt.microsecond:
        day = _DAY_TEXTS.get(dt.toordinal())
        if day is None:
            if len(_DAY_TEXTS) >= _FORMATTED_MAX:
                _DAY_TEXTS.clear()
            day = _DAY_TEXTS[dt.toordinal()] = dt.date().isoformat() + "T"
        return day + _MINUTE_TEXTS[dt.hour * 60 + dt.minute] + _SECOND_TEXTS[dt.second]
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    text = dt.isoformat()[:-6]  # drop "+00:00"
    return (text.rstrip("0") if dt.microsecond else text) + "Z"


class Requester(msgspec.Struct, frozen=True, kw_only=True):
    id: str | None = None
    org: str | None = None
    tier: str | None = None


class Ticket(msgspec.Struct, frozen=True, kw_only=True):
    """The ticket as it stands after an event."""

    status: str = "new"
    priority: str | None = None
    channel: str | None = None
    group: str | None = None
    assignee: str | None = None
    requester: Requester = msgspec.field(default_factory=Requester)
    subject: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    fields: Mapping[str, Any] = msgspec.field(default_factory=lambda: _EMPTY)
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        created = self.created_at
        if created is not None and (created.tzinfo is not UTC or not EARLIEST_INSTANT <= created < LATEST_INSTANT):
            check_instant(created, "ticket.created_at")
        if self.status not in STATUSES:
            raise EventError(f"ticket.status: {short_text(self.status)!r} is not one of {', '.join(STATUSES)}")
        # the identifiers a store column or a write-back carries (free text and tags live in JSON): all seven
        # at once (None and "" pass), each one only if that fails
        req = self.requester
        joined = "".join(filter(None, (self.priority, self.channel, self.group, self.assignee, req.id, req.org,
                                       req.tier)))
        if len(joined) > MAX_ID_LENGTH or not joined.isprintable():
            for name in _TICKET_IDS:
                value = getattr(self, name)
                if value is not None and not (len(value) <= MAX_ID_LENGTH and value.isprintable()):
                    check_id(value, f"ticket.{name}", empty=True)
            for name in _REQUESTER_IDS:
                value = getattr(req, name)
                if value is not None and not (len(value) <= MAX_ID_LENGTH and value.isprintable()):
                    check_id(value, f"ticket.requester.{name}", empty=True)


class Comment(msgspec.Struct, frozen=True, kw_only=True):
    author_role: str
    public: bool = True
    automated: bool = False
    author_id: str | None = None

    def __post_init__(self) -> None:
        if self.author_id is not None:
            check_id(self.author_id, "comment.author_id", empty=True)
        if self.author_role not in AUTHOR_ROLES:
            raise EventError(f"comment.author_role: {self.author_role!r} is not one of {', '.join(AUTHOR_ROLES)}")

    @property
    def is_agent_reply(self) -> bool:
        """A public, human agent comment: what stops reply clocks."""
        return self.author_role == "agent" and self.public and not self.automated

    @property
    def is_customer_message(self) -> bool:
        """A public end-user comment: what starts a next-response cycle."""
        return self.author_role == "end_user" and self.public


class Event(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    account: str
    ticket_id: str
    event_id: str
    occurred_at: datetime
    type: str
    ticket: Ticket
    comment: Comment | None = None
    schema: int = SCHEMA_VERSION
    # a partial update: the ticket fields this event carries; the rest are the ticket's as it last stood
    # (None: the snapshot is whole). The rules core merges it (`merge_partial`).
    given: frozenset[str] | None = None

    def __post_init__(self) -> None:
        at = self.occurred_at
        if at.tzinfo is not UTC or not EARLIEST_INSTANT <= at < LATEST_INSTANT:  # the common case, inlined
            check_instant(at, "occurred_at")
        if self.given is not None and not self.given <= TICKET_FIELDS:
            unknown = sorted(self.given - TICKET_FIELDS)[0]
            raise EventError(f"given: {short_text(unknown)!r} is not a ticket field "
                             f"({', '.join(sorted(TICKET_FIELDS))})")
        # every event is checked (a million in a replay): the four ids at once, each one only if that fails
        ids = (self.source, self.account, self.ticket_id, self.event_id)
        joined = "".join(ids)
        if len(joined) > MAX_ID_LENGTH or not joined.isprintable() or not all(ids):
            for name, value in zip(_EVENT_IDS, ids, strict=True):
                if not (0 < len(value) <= MAX_ID_LENGTH and value.isprintable()):
                    check_id(value, name)
        if self.type not in EVENT_TYPES:
            raise EventError(f"type: {self.type!r} is not one of {', '.join(EVENT_TYPES)}")
        if self.type == "comment.added" and self.comment is None:
            raise EventError("comment: a comment.added event needs a comment")

    @property
    def key(self) -> tuple[str, str, str]:
        """The ticket this event belongs to: (source, account, ticket_id)."""
        return (self.source, self.account, self.ticket_id)


TICKET_FIELDS = frozenset({"status", "priority", "channel", "group", "assignee", "requester", "subject", "description",
                           "tags", "fields", "created_at"})
_TICKET_IDS = ("priority", "channel", "group", "assignee")
_REQUESTER_IDS = ("id", "org", "tier")
_EVENT_IDS = ("source", "account", "ticket_id", "event_id")


# --- parsing -------------------------------------------------------------------------------------


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:  # the common case first: this runs a dozen times per event
        return value
    if type(value) is int or type(value) is float:  # ids are often numbers; bool is not accepted
        return str(value)
    raise EventError(f"{where}{key}: expected a string, got {type(value).__name__}")


def _req_str(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    value = _opt_str(obj, key, where)
    if value is None or value == "":
        raise EventError(f"{where}{key}: required")
    return value


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if type(value) is dict:
        return value
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise EventError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _bool(obj: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise EventError(f"{where}{key}: expected true or false, got {value!r}")
    return value


def parse_ticket(raw: Any) -> Ticket:
    """Build a `Ticket` snapshot from its JSON object."""
    obj = _mapping(raw, "ticket")
    req = _mapping(obj.get("requester"), "ticket.requester")
    tags = obj.get("tags") or ()
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise EventError("ticket.tags: expected a list of strings")
    fields = _mapping(obj.get("fields"), "ticket.fields")
    created = obj.get("created_at")
    return Ticket(
        status=_opt_str(obj, "status", "ticket.") or "new",
        priority=_opt_str(obj, "priority", "ticket."),
        channel=_opt_str(obj, "channel", "ticket."),
        group=_opt_str(obj, "group", "ticket."),
        assignee=_opt_str(obj, "assignee", "ticket."),
        requester=Requester(
            id=_opt_str(req, "id", "ticket.requester."),
            org=_opt_str(req, "org", "ticket.requester."),
            tier=_opt_str(req, "tier", "ticket.requester."),
        ),
        subject=_opt_str(obj, "subject", "ticket.") or "",
        description=_opt_str(obj, "description", "ticket.") or "",
        tags=tuple(tags),
        fields=MappingProxyType(dict(fields)),
        created_at=None if created is None else parse_instant(created, "ticket.created_at"),
    )


def parse_event(raw: Any) -> Event:
    """Build an `Event` from its decoded JSON object; raise `EventError` naming the bad key."""
    if not isinstance(raw, Mapping):
        raise EventError(f"expected a JSON object, got {type(raw).__name__}")
    schema = raw.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise EventError(f"schema: unsupported schema version {schema!r} (this connector reads {SCHEMA_VERSION})")
    comment_raw = raw.get("comment")
    comment = None
    if comment_raw is not None:
        c = _mapping(comment_raw, "comment")
        comment = Comment(
            author_role=_req_str(c, "author_role", "comment."),
            public=_bool(c, "public", True, "comment."),
            automated=_bool(c, "automated", False, "comment."),
            author_id=_opt_str(c, "author_id", "comment."),
        )
    given = raw.get("given")
    if given is not None and (not isinstance(given, list | tuple) or not all(isinstance(g, str) for g in given)):
        raise EventError("given: expected a list of ticket field names")
    return Event(
        source=_req_str(raw, "source"),
        account=_opt_str(raw, "account", "") or "default",
        ticket_id=_req_str(raw, "ticket_id"),
        event_id=_req_str(raw, "event_id"),
        occurred_at=parse_instant(raw.get("occurred_at"), "occurred_at"),
        type=_req_str(raw, "type"),
        ticket=parse_ticket(raw.get("ticket")),
        comment=comment,
        given=None if given is None else frozenset(given),
    )


def merge_partial(snapshot: Ticket | None, event: Event) -> Event:
    """A partial update (`event.given`) as a whole one: the given fields over the ticket as it last stood
    (`fields` merged key by key). Without a last snapshot, the given fields over the defaults."""
    if event.given is None or snapshot is None:
        return event
    t = event.ticket
    changes: dict[str, Any] = {name: getattr(t, name) for name in event.given if name != "fields"}
    if "fields" in event.given:
        changes["fields"] = MappingProxyType({**snapshot.fields, **t.fields})
    return updated(event, ticket=updated(snapshot, **changes))


def updated(value: _S, **changes: Any) -> _S:
    """A copy of an event, ticket, requester or comment with `changes`, checked as a new one is."""
    return msgspec.structs.replace(value, **changes)


def event_to_dict(event: Event) -> dict[str, Any]:
    """Return the JSON object of an event (the inverse of `parse_event`)."""
    t = event.ticket
    out: dict[str, Any] = {
        "schema": event.schema,
        "source": event.source,
        "account": event.account,
        "ticket_id": event.ticket_id,
        "event_id": event.event_id,
        "occurred_at": format_instant(event.occurred_at),
        "type": event.type,
        "ticket": {
            "status": t.status,
            "priority": t.priority,
            "channel": t.channel,
            "group": t.group,
            "assignee": t.assignee,
            "requester": {"id": t.requester.id, "org": t.requester.org, "tier": t.requester.tier},
            "subject": t.subject,
            "description": t.description,
            "tags": list(t.tags),
            "fields": dict(t.fields),
            "created_at": format_instant(t.created_at),
        },
    }
    if event.comment is not None:
        c = event.comment
        out["comment"] = {"author_role": c.author_role, "public": c.public, "automated": c.automated,
                          "author_id": c.author_id}
    if event.given is not None:
        out["given"] = sorted(event.given)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class BadLine:
    line: int
    message: str


def iter_jsonl(lines: Iterable[str]) -> Iterator[Event | BadLine]:
    """Yield an `Event` or a `BadLine` for every non-blank line, in order; never skip silently.

    A line is first decoded by msgspec into the wire shape below, typed as the common case writes it
    (identifiers as strings, booleans as booleans), about four times as fast as `json.loads` and
    `parse_event`. Anything that fast path does not take as it is — a number for an identifier, a null
    boolean, a wrong shape, a bad value — goes the careful way, which accepts what it always accepted and
    words every error as it always did (the line and the key)."""
    for number, text in enumerate(lines, start=1):
        item = parse_line(number, text)
        if item is not None:
            yield item


def parse_line(number: int, text: str) -> Event | BadLine | None:
    """One line of JSONL as `iter_jsonl` reads it: an `Event`, a `BadLine`, or None for a blank line."""
    refused = _refused(text)
    if refused is not None:
        return BadLine(line=number, message=refused)
    try:
        event = _from_wire(_WIRE.decode(text))
    except (msgspec.DecodeError, EventError):  # msgspec.ValidationError is a DecodeError
        event = None
    if event is not None:
        return event
    return _careful(number, text) if text.strip() else None


def _refused(text: str) -> str | None:
    """Why a line is refused before it is parsed (too long, nested too deep), or None."""
    if len(text) > MAX_LINE_CHARS and len(text.rstrip("\r\n")) > MAX_LINE_CHARS:  # its newline does not count
        return f"longer than {MAX_LINE_CHARS} characters"
    if deeper_than(text):
        return f"nested too deep (more than {MAX_DEPTH} levels of lists and objects)"
    return None


class _WireKey(msgspec.Struct):
    source: str
    ticket_id: str
    account: str | None = None


_WIRE_KEY = msgspec.json.Decoder(_WireKey)


def line_key(text: str) -> tuple[str, str, str] | None:
    """The ticket a line's event is about, read without parsing the rest of it: (source, account, ticket_id)
    as the parsed event's `key` has it, or None where only parsing the line can say (a number for an id,
    an empty one, not JSON at all, a line `parse_line` refuses unparsed)."""
    if _refused(text) is not None:
        return None
    try:
        w = _WIRE_KEY.decode(text)
    except msgspec.DecodeError:
        return None
    if not (w.source and w.ticket_id):
        return None
    return (w.source, w.account or "default", w.ticket_id)


_TICKET_ID_KEY = '"ticket_id":'


def line_ticket(text: str, start: int = 0, end: int | None = None) -> str | None:
    """A guess at the ticket id of a line's event (`text[start:end]`, read where it stands: a file's lines
    need not be cut apart first), to share lines among processes by ticket: the string after the first
    `"ticket_id":` (or `"ticket_id": `, as `json.dumps` writes it) when it holds no escape (a fifth of
    `line_key`'s cost, which reads the whole line), else `line_key`'s, or None where only parsing can say.
    The guess can be another object's key (`"fields": {"ticket_id": …}` written before the event's own):
    whoever parses the line must check the event's own ticket (`Event.ticket_id`)."""
    if end is None:
        end = len(text)
    at = text.find(_TICKET_ID_KEY, start, end)
    if at >= 0:
        begin = at + len(_TICKET_ID_KEY)
        if text.startswith(" ", begin, end):
            begin += 1
        if text.startswith('"', begin, end):
            close = text.find('"', begin + 1, end)
            if close > begin + 1 and "\\" not in (found := text[begin + 1:close]):
                return found
    key = line_key(text[start:end])
    return None if key is None else key[2]


def _careful(number: int, text: str) -> Event | BadLine:
    """One line the careful way: `json.loads`, then `parse_event`."""
    try:
        raw = json.loads(text)
    except ValueError as err:
        return BadLine(line=number, message=f"not valid JSON ({err})")
    try:
        return parse_event(raw)
    except EventError as err:
        return BadLine(line=number, message=err.message)


class _WireRequester(msgspec.Struct):
    id: str | None = None
    org: str | None = None
    tier: str | None = None


class _WireTicket(msgspec.Struct):
    status: str | None = None
    priority: str | None = None
    channel: str | None = None
    group: str | None = None
    assignee: str | None = None
    requester: _WireRequester | None = None
    subject: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    fields: dict[str, Any] | None = None
    created_at: str | None = None


class _WireComment(msgspec.Struct):
    author_role: str
    public: bool = True
    automated: bool = False
    author_id: str | None = None


class _WireEvent(msgspec.Struct):
    source: str
    ticket_id: str
    event_id: str
    occurred_at: str
    type: str
    schema: int = SCHEMA_VERSION
    account: str | None = None
    ticket: _WireTicket | None = None
    comment: _WireComment | None = None
    given: list[str] | None = None


_WIRE = msgspec.json.Decoder(_WireEvent)
_NO_TICKET = _WireTicket()
_NO_REQUESTER = _WireRequester()


def _from_wire(w: _WireEvent) -> Event | None:
    """The `Event` that `parse_event` builds from the same line, or None where only it can say (an empty
    required value, another schema): the careful path then answers, with its own words."""
    if w.schema != SCHEMA_VERSION or not (w.source and w.ticket_id and w.event_id and w.type):
        return None
    comment = None
    if (c := w.comment) is not None:
        if not c.author_role:
            return None
        comment = Comment(author_role=c.author_role, public=c.public, automated=c.automated, author_id=c.author_id)
    t = w.ticket or _NO_TICKET
    r = t.requester or _NO_REQUESTER
    return Event(
        source=w.source, account=w.account or "default", ticket_id=w.ticket_id, event_id=w.event_id,
        occurred_at=_wire_instant(w.occurred_at, "occurred_at"), type=w.type,
        ticket=Ticket(
            status=t.status or "new", priority=t.priority, channel=t.channel, group=t.group, assignee=t.assignee,
            requester=Requester(id=r.id, org=r.org, tier=r.tier), subject=t.subject or "",
            description=t.description or "", tags=tuple(t.tags) if t.tags else (),
            fields=MappingProxyType(t.fields or {}),
            created_at=None if t.created_at is None else _wire_instant(t.created_at, "ticket.created_at"),
        ),
        comment=comment, given=None if w.given is None else frozenset(w.given),
    )


_fromisoformat = datetime.fromisoformat


def _wire_instant(text: str, what: str) -> datetime:
    """`parse_instant(text, what)` for a line's instant, cheaper in the common case (a UTC instant, "Z" or
    "+00:00"), whose range `Event` and `Ticket` check as they are built; any other text goes through it."""
    try:
        at = _fromisoformat(text)
    except ValueError:
        return parse_instant(text, what)
    return at if at.tzinfo is UTC else parse_instant(text, what)


def read_jsonl(lines: Iterable[str]) -> list[Event]:
    """Parse JSONL into events; raise `EventError` listing every bad line (with its number) if any."""
    events: list[Event] = []
    bad: list[BadLine] = []
    for item in iter_jsonl(lines):
        (bad if isinstance(item, BadLine) else events).append(item)  # type: ignore[arg-type]
    if bad:
        raise bad_lines_error(bad)
    return events


def bad_lines_error(bad: list[BadLine]) -> EventError:
    """The error that lists bad lines (the first 20, and how many more), in the order given."""
    shown = "\n".join(f"  line {b.line}: {b.message}" for b in bad[:20])
    more = f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else ""
    err = EventError(f"{len(bad)} bad line{'s' if len(bad) != 1 else ''}:\n{shown}{more}")
    err.bad_lines = bad
    return err


def write_jsonl(events: Iterable[Event], stream: IO[str]) -> int:
    """Write events as JSON Lines; return how many were written."""
    count = 0
    for event in events:
        stream.write(json.dumps(event_to_dict(event), separators=(",", ":"), ensure_ascii=False))
        stream.write("\n")
        count += 1
    return count


def order_events(events: Iterable[Event]) -> list[Event]:
    """Order events as the core applies them: by occurred_at, ties by arrival; drop repeated event ids."""
    seen: set[tuple[str, str, str]] = set()
    unique: list[Event] = []
    for event in events:
        ident = (event.source, event.account, event.event_id)
        if ident in seen:
            continue
        seen.add(ident)
        unique.append(event)
    # sorted() is stable, so equal instants keep their arrival order.
    return sorted(unique, key=_occurred_at)


_occurred_at = attrgetter("occurred_at")
