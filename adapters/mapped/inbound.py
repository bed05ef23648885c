"""Inbound side of a mapped source: authenticate as configured, map the body to canonical events.

The mapping's JMESPath expressions run against the decoded body (or each item `mapping.events` selects).
A body the mapping cannot read is a `PayloadError` (HTTP 400) naming the mapping key, its expression and what
it found, e.g. ``mapping.ticket_id: `issue.key` found null; expected text or a whole number``. Over HTTP, a
value quoted from the body is masked (the answer never echoes what was sent); `connector mapping check` shows
it. The door maps the whole body before it answers, so nothing it accepts fails to map later; the worker maps
it again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from adapters.base import Accepted, InboundRequest, header_value, only_ticket
from adapters.jsonbody import decode_json, json_type, short
from adapters.mapped import auth as auth_schemes
from connector.config import MappedSourceConfig
from connector.errors import EventError, PayloadError
from connector.events import (
    AUTHOR_ROLES,
    EVENT_TYPES,
    STATUSES,
    Comment,
    Event,
    Requester,
    Ticket,
    check_instant,
    parse_instant,
)
from connector.mapping import CommentMap, MappingSpec, TicketMap

MAX_EVENTS = 1000
EPOCH_MS_ABOVE = 100_000_000_000  # a number above this is milliseconds (as seconds it would be the year 5138)
MAX_DEDUPE = 255


@lru_cache(maxsize=4096)
def _compiled(expression: str) -> ParsedResult:
    return jmespath.compile(expression)


def _found(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:39] + "…")
    if isinstance(value, bool | int | float):
        return json_type(value) + f" ({value!r:.40})"
    return json_type(value)


class _Reader:
    """Evaluates one item's expressions, each once (a partial item's fields are read for the ticket and for
    `given`); every problem names the mapping key, the expression and the value."""

    def __init__(self, item: Any, where: str) -> None:
        self.item = item
        self.where = where
        self._found: dict[str, Any] = {}

    def problem(self, key: str, expression: str, value: Any, expected: str) -> PayloadError:
        return PayloadError(short(f"{self.where}mapping.{key}: `{expression}` found {_found(value)}; "
                                  f"expected {expected}"))

    def get(self, key: str, expression: str | None) -> Any:
        if expression is None:
            return None
        if expression in self._found:
            return self._found[expression]
        try:
            found = self._found[expression] = _compiled(expression).search(self.item)
            return found
        except JMESPathError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise PayloadError(short(f"{self.where}mapping.{key}: `{expression}` cannot be evaluated on this body "
                                     f"({reason})")) from None

    def text(self, key: str, expression: str | None, *, required: bool = False) -> str | None:
        value = self.get(key, expression)
        if value is None and not required:
            return None
        if isinstance(value, str) and (value or not required):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise self.problem(key, expression or "", value, "text or a whole number")

    def instant(self, key: str, expression: str | None, *, required: bool = False) -> datetime | None:
        value = self.get(key, expression)
        if value is None and not required:
            return None
        try:
            if isinstance(value, str):
                return parse_instant(value, f"mapping.{key}")
            if isinstance(value, int | float) and not isinstance(value, bool):
                seconds = value / 1000 if abs(value) > EPOCH_MS_ABOVE else value
                return check_instant(datetime.fromtimestamp(seconds, UTC), f"mapping.{key}")
        except (OverflowError, OSError, ValueError):
            pass
        except EventError as err:
            raise PayloadError(short(f"{self.where}{err.message}")) from None
        raise self.problem(key, expression or "", value,
                           "an ISO 8601 instant with an offset, or seconds or milliseconds since 1970 "
                           "(1970 to 2099)")

    def mapped(self, key: str, expression: str | None, table: Mapping[str, str], allowed: Sequence[str],
               what: str, default: str | None) -> str | None:
        value = self.get(key, expression)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.problem(key, expression or "", value, f"text to map to a {what}")
        raw = str(value)
        result = table.get(raw, table.get("*", raw))
        if allowed and result not in allowed:
            raise PayloadError(short(f"{self.where}mapping.{key}: `{expression}` found {raw!r}, which is not a "
                                     f"{what} ({', '.join(allowed)}); map it in {key}_map"))
        return result

    def flag(self, key: str, expression: str | None, default: bool) -> bool:
        value = self.get(key, expression)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        raise self.problem(key, expression or "", value, "true or false")


def decode_body(body: bytes) -> Any:
    return decode_json(body, expected="a JSON body")


def map_body(name: str, section: MappedSourceConfig, body: bytes) -> list[Event]:
    """The canonical events a mapped source's body gives; `PayloadError` for anything the mapping cannot read."""
    return map_data(name, section, decode_body(body))


def map_data(name: str, section: MappedSourceConfig, data: Any) -> list[Event]:
    """`map_body` of a body already decoded."""
    spec = section.mapping
    if spec.events is None:
        items, indexed = [data], False
    else:
        found = _Reader(data, "").get("events", spec.events)
        if not isinstance(found, list) or not 1 <= len(found) <= MAX_EVENTS:
            raise PayloadError(short(f"mapping.events: `{spec.events}` found {_found(found)}; expected a list of "
                                     f"1 to {MAX_EVENTS} items"))
        items, indexed = found, True
    return [_event(name, section, spec, _Reader(item, f"events[{n}]: " if indexed else ""))
            for n, item in enumerate(items)]


def _event(name: str, section: MappedSourceConfig, spec: MappingSpec, read: _Reader) -> Event:
    kind = read.mapped("type", spec.type, spec.type_map, EVENT_TYPES, "canonical event type", "ticket.updated")
    assert kind is not None
    ticket = _ticket(spec.ticket, read)
    comment = _comment(spec.comment, read, kind)
    if kind == "comment.added" and comment is None:
        raise PayloadError(f"{read.where}mapping.comment: a comment.added event needs a comment; map one under "
                           f"mapping.comment")
    given = _given(spec.ticket, read) if spec.partial else None
    try:
        return Event(source=name, account=read.text("account", spec.account) or section.account or "default",
                     ticket_id=read.text("ticket_id", spec.ticket_id, required=True) or "",
                     event_id=read.text("event_id", spec.event_id, required=True) or "",
                     occurred_at=read.instant("occurred_at", spec.occurred_at, required=True),  # type: ignore[arg-type]
                     type=kind, ticket=ticket, comment=comment, given=given)
    except EventError as err:
        raise PayloadError(short(f"{read.where}{err.message}")) from None


def _given(spec: TicketMap, read: _Reader) -> frozenset[str]:
    """The ticket fields a partial item gives: those whose expression finds a value."""
    simple = {"status": spec.status, "priority": spec.priority, "channel": spec.channel, "group": spec.group,
              "assignee": spec.assignee, "subject": spec.subject, "description": spec.description,
              "tags": spec.tags, "created_at": spec.created_at}
    given = {name for name, expression in simple.items()
             if expression is not None and read.get(f"ticket.{name}", expression) is not None}
    r = spec.requester
    if any(e is not None and read.get("ticket.requester", e) is not None for e in (r.id, r.org, r.tier)):
        given.add("requester")
    if any(read.get(f"ticket.fields.{key}", e) is not None for key, e in spec.fields.items()):
        given.add("fields")
    return frozenset(given)


def _ticket(spec: TicketMap, read: _Reader) -> Ticket:
    tags_value = read.get("ticket.tags", spec.tags)
    if tags_value is None:
        tags: tuple[str, ...] = ()
    elif isinstance(tags_value, str):  # "a, b" or "a b", as tools render a tag list into text
        tags = tuple(t for t in tags_value.replace(",", " ").split() if t)
    elif isinstance(tags_value, list) and all(isinstance(t, str) for t in tags_value):
        tags = tuple(tags_value)
    else:
        raise read.problem("ticket.tags", spec.tags or "", tags_value, "a list of text, or text")
    fields = {key: value for key, expression in spec.fields.items()
              if (value := read.get(f"ticket.fields.{key}", expression)) is not None}
    try:
        return Ticket(
            status=read.mapped("ticket.status", spec.status, spec.status_map, STATUSES, "canonical status", "new")
            or "new",
            priority=read.mapped("ticket.priority", spec.priority, spec.priority_map, (), "priority", None),
            channel=read.text("ticket.channel", spec.channel), group=read.text("ticket.group", spec.group),
            assignee=read.text("ticket.assignee", spec.assignee),
            requester=Requester(id=read.text("ticket.requester.id", spec.requester.id),
                                org=read.text("ticket.requester.org", spec.requester.org),
                                tier=read.text("ticket.requester.tier", spec.requester.tier)),
            subject=read.text("ticket.subject", spec.subject) or "",
            description=read.text("ticket.description", spec.description) or "",
            tags=tags, fields=fields, created_at=read.instant("ticket.created_at", spec.created_at))
    except EventError as err:
        raise PayloadError(short(f"{read.where}{err.message}")) from None


def _comment(spec: CommentMap | None, read: _Reader, kind: str) -> Comment | None:
    if spec is None:
        return None
    present = read.get("comment.present", spec.present) if spec.present is not None else kind == "comment.added"
    if not present:
        return None
    role = read.mapped("comment.author_role", spec.author_role, spec.author_role_map, AUTHOR_ROLES,
                       "comment author role", None)
    if role is None:
        raise read.problem("comment.author_role", spec.author_role, None, "text to map to an author role")
    try:
        return Comment(author_role=role, public=read.flag("comment.public", spec.public, True),
                       automated=read.flag("comment.automated", spec.automated, False),
                       author_id=read.text("comment.author_id", spec.author_id))
    except EventError as err:
        raise PayloadError(short(f"{read.where}{err.message}")) from None


def _probes(name: str, section: MappedSourceConfig, spec: MappingSpec, read: _Reader) -> list[Callable[[], object]]:
    """Each mapping key's reading of one item, to be tried on its own."""
    t, r = spec.ticket, spec.ticket.requester
    return [
        lambda: read.mapped("type", spec.type, spec.type_map, EVENT_TYPES, "canonical event type", None),
        lambda: read.text("account", spec.account),
        lambda: read.text("ticket_id", spec.ticket_id, required=True),
        lambda: read.text("event_id", spec.event_id, required=True),
        lambda: read.instant("occurred_at", spec.occurred_at, required=True),
        lambda: read.mapped("ticket.status", t.status, t.status_map, STATUSES, "canonical status", None),
        lambda: read.mapped("ticket.priority", t.priority, t.priority_map, (), "priority", None),
        lambda: read.instant("ticket.created_at", t.created_at),
        *[(lambda key=key, expression=expression: read.text(f"ticket.{key}", expression))
          for key, expression in (("channel", t.channel), ("group", t.group), ("assignee", t.assignee),
                                  ("subject", t.subject), ("description", t.description),
                                  ("requester.id", r.id), ("requester.org", r.org), ("requester.tier", r.tier))],
        *[(lambda key=key, expression=expression: read.get(f"ticket.fields.{key}", expression))
          for key, expression in t.fields.items()],
        lambda: _ticket(t, read),
        lambda: _event(name, section, spec, read),
    ]


def check_body(name: str, section: MappedSourceConfig, body: bytes) -> tuple[list[Event], list[str]]:
    """The events a body gives, or every problem the mapping has with it (each key tried on its own), for
    `connector mapping check`."""
    try:
        data = decode_body(body)
    except PayloadError as err:
        return [], [err.reason]
    try:
        return map_data(name, section, data), []
    except PayloadError as first:
        problems = [first.reason]
    try:
        items = [data] if section.mapping.events is None else _Reader(data, "").get("events", section.mapping.events)
    except PayloadError:
        return [], problems
    if not isinstance(items, list):
        return [], problems
    spec = section.mapping
    for n, item in enumerate(items[:MAX_EVENTS]):
        read = _Reader(item, f"events[{n}]: " if spec.events is not None else "")
        for probe in _probes(name, section, spec, read):
            try:
                probe()
            except PayloadError as err:
                if err.reason not in problems:
                    problems.append(err.reason)
    return [], problems


class MappedAdapter:
    """The inbound adapter of one mapped source (`sources.<name>`, `type: mapped`)."""

    waits_on_api = False  # the body is all there is
    reads_url = True      # an HMAC may sign the URL it was sent to

    def __init__(self, name: str, section: MappedSourceConfig, secrets: Sequence[str], *,
                 clock: Callable[[], float] = time.time) -> None:
        if isinstance(secrets, str) or not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise ValueError("a mapped source needs at least one non-empty secret")
        assert section.auth is not None  # the config refuses a mapped source without auth
        auth_schemes.check_secrets(section.auth, secrets)
        self.source = name
        self.section = section
        self._auth = section.auth
        self._secrets = tuple(secrets)
        self._clock = clock

    def __repr__(self) -> str:
        return f"MappedAdapter({self.source!r}, scheme={self._auth.scheme}, secrets=<{len(self._secrets)}>)"

    def verify(self, request: InboundRequest) -> None:
        auth_schemes.verify(self._auth, self._secrets, request, now=self._clock())

    def accept(self, request: InboundRequest) -> Accepted:
        """Map the whole body (so nothing accepted fails to map later); dedupe on what `dedupe` names."""
        data = decode_body(request.body)
        events = map_data(self.source, self.section, data)
        return Accepted(dedupe_key=self._dedupe_key(request, data), events=len(events), ticket=only_ticket(events))

    def _dedupe_key(self, request: InboundRequest, data: Any) -> str:
        spec = self.section.dedupe
        if spec is None:
            return "sha256:" + hashlib.sha256(request.body).hexdigest()
        if spec.header is not None:
            value = header_value(request.headers, spec.header.lower())
            if value is None or not value.strip():
                raise PayloadError(f"missing {spec.header} header (dedupe.header)")
            key = value.strip()
        else:
            key = _Reader(data, "").text("dedupe.expression", spec.expression, required=True) or ""
        if len(key) > MAX_DEDUPE or not key.isprintable():
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return key

    def normalize(self, body: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Event]:
        return map_body(self.source, self.section, body)

