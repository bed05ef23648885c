"""Inbound side of the generic webhook: verify the Standard Webhooks signature, accept canonical events.

A body is one canonical event object (DESIGN §3.3), a JSON list of them, or `{"events": [...]}`, with
1 to `MAX_EVENTS` events. An event without `source` is given `webhook`; any other source is refused, so a
sender cannot write into another source's tickets through this endpoint. Every way a body can be wrong
(not UTF-8, not JSON, nested too deep, numbers too large, wrong shapes) is a `PayloadError` naming the
event and key, e.g. `events[2].occurred_at: '2026-03-02T14:05:00' is a naive timestamp; give an offset or Z`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from adapters.base import Accepted, InboundRequest
from adapters.webhook import signing
from adapters.webhook.const import SOURCE
from connector.errors import EventError, PayloadError
from connector.events import Event, parse_event

MAX_EVENTS = 1000
MAX_DEPTH = 32          # containers inside containers; a canonical event needs 5
MAX_NUMBER_CHARS = 100  # no help desk id or field value needs more digits than this
MAX_REASON = 300        # reasons go back to the sender; a 1 MiB bad value must not
AUDIT_HEADERS = ("webhook-id", "webhook-timestamp", "user-agent", "content-type")  # never the signature
MAX_AUDIT_VALUE = 256

_SURROGATE = re.compile("[\ud800-\udfff]")  # "\ud800" escapes decode to text no database can store
_KEY_PATH = re.compile(r"[A-Za-z_][\w.]*:")
_JSON_TYPES = {str: "a string", int: "a number", float: "a number", bool: "true or false", type(None): "null"}


class _BadNumber(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _BadNumber(text)
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise _BadNumber(text)
    return value


def _reject_constant(text: str) -> None:
    raise _BadNumber(text)


def _short(reason: str) -> str:
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"


def _decode(body: bytes) -> Any:
    if not body or not body.strip():
        raise PayloadError("empty body: expected a JSON event, a list of events or {\"events\": [...]}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PayloadError(f"body is not UTF-8 (bad byte at offset {err.start})") from None
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant)
    except _BadNumber:
        raise PayloadError(f"body has a number that is not finite or longer than {MAX_NUMBER_CHARS} characters"
                           ) from None
    except RecursionError:
        raise PayloadError(f"body is nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as err:
        raise PayloadError(f"body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    _check_tree(data)
    return data


def _check_tree(data: Any) -> None:
    """Refuse documents nested too deep or holding unpaired surrogates (iteratively: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if type(node) is str:
            if _SURROGATE.search(node):
                raise PayloadError("body has a string with an unpaired UTF-16 surrogate escape")
        elif type(node) is dict or type(node) is list:
            if depth > MAX_DEPTH:
                raise PayloadError(f"body is nested more than {MAX_DEPTH} levels deep")
            if type(node) is dict:
                stack.extend((key, depth) for key in node)
                stack.extend((value, depth + 1) for value in node.values())
            else:
                stack.extend((value, depth + 1) for value in node)


def _event_objects(data: Any) -> tuple[list[Any], bool]:
    """Return the event objects of a decoded body and whether errors should name their index."""
    if type(data) is list:
        items, indexed = data, True
    elif type(data) is dict and "events" in data:
        items, indexed = data["events"], True
        if type(items) is not list:
            got = _JSON_TYPES.get(type(items), "an object")
            raise PayloadError(f"events: expected a list of event objects, got {got}")
    elif type(data) is dict:
        items, indexed = [data], False
    else:
        raise PayloadError(f"expected an event object, a list of events or {{\"events\": [...]}}, "
                           f"got {_JSON_TYPES.get(type(data), type(data).__name__)}")
    if not items:
        raise PayloadError(f"no events: send 1 to {MAX_EVENTS}")
    if len(items) > MAX_EVENTS:
        raise PayloadError(f"too many events: {len(items)} (at most {MAX_EVENTS} per request)")
    return items, indexed


def _where(message: str, index: int | None) -> str:
    if index is None:
        return message
    if _KEY_PATH.match(message):
        return f"events[{index}].{message}"
    return f"events[{index}]: {message}"


def parse_body(body: bytes) -> list[Event]:
    """Parse a webhook body into canonical events; raise `PayloadError` naming the event index and key."""
    items, indexed = _event_objects(_decode(body))
    events = []
    for index, raw in enumerate(items):
        where = index if indexed else None
        if type(raw) is dict:
            source = raw.get("source")
            if source is None:
                raw = {**raw, "source": SOURCE}
            elif source != SOURCE:
                raise PayloadError(_short(_where(f"source: must be {SOURCE!r} on this endpoint", where)))
        try:
            events.append(parse_event(raw))
        except EventError as err:
            raise PayloadError(_short(_where(err.message, where))) from None
    return events


class WebhookAdapter:
    """The generic webhook's inbound adapter: Standard Webhooks signatures over canonical event bodies."""

    source = SOURCE

    def __init__(self, secrets: Sequence[str], *, tolerance: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        if isinstance(secrets, str):
            raise TypeError("secrets must be a sequence of whsec_ secrets, not one string")
        if not secrets:
            raise ValueError("the webhook source needs at least one whsec_ secret")
        for number, secret in enumerate(secrets, start=1):
            try:
                signing.decode_secret(secret)
            except ValueError as err:
                raise ValueError(f"webhook secret {number} of {len(secrets)}: {err}") from None
        if tolerance <= 0:
            raise ValueError("tolerance must be a positive number of seconds")
        self._secrets = tuple(secrets)
        self._tolerance = tolerance
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookAdapter(secrets=<{len(self._secrets)}>, tolerance={self._tolerance})"

    def verify(self, request: InboundRequest) -> None:
        """Raise `AuthError` unless a `v1` signature matches one of the secrets within the tolerance."""
        signing.verify(self._secrets, request.headers, request.body, now=self._clock(), tolerance=self._tolerance)

    def accept(self, request: InboundRequest) -> Accepted:
        """Validate every event of the body; dedupe on the webhook-id, which senders keep across retries."""
        msg_id = signing.header_value(request.headers, signing.ID_HEADER)
        if not msg_id or not msg_id.strip():
            raise PayloadError("missing webhook-id header")
        events = parse_body(request.body)
        audit = {}
        for name in AUDIT_HEADERS:
            value = signing.header_value(request.headers, name)
            if value is not None:
                audit[name] = value[:MAX_AUDIT_VALUE]
        return Accepted(dedupe_key=msg_id.strip(), audit_headers=audit, events=len(events))

    def normalize(self, body: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Event]:
        """Return the canonical events of a stored delivery (they already are canonical: no API calls)."""
        return parse_body(body)
