"""Inbound side of the generic webhook: verify the Standard Webhooks signature, accept canonical events.

A body is one canonical event object (DESIGN §3.3), a JSON list of them, or `{"events": [...]}`, with
1 to `MAX_EVENTS` events. An event without `source` is given `webhook`; any other source is refused, so a
sender cannot write into another source's tickets through this endpoint. Every way a body can be wrong
(not UTF-8, not JSON, nested too deep, numbers too large, wrong shapes) is a `PayloadError` naming the
event and key, e.g. `events[2].occurred_at: '2026-03-02T14:05:00' is a naive timestamp; give an offset or Z`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from adapters.base import Accepted, InboundRequest, only_ticket, refuse_ahead
from adapters.jsonbody import decode_json, json_type, short
from adapters.webhook import signing
from adapters.webhook.const import SOURCE
from connector.errors import EventError, PayloadError
from connector.events import Event, parse_event

MAX_EVENTS = 1000
AUDIT_HEADERS = ("webhook-id", "webhook-timestamp", "user-agent", "content-type")  # never the signature
MAX_AUDIT_VALUE = 256

_KEY_PATH = re.compile(r"[A-Za-z_][\w.]*:")


def _decode(body: bytes) -> Any:
    return decode_json(body, expected='a JSON event, a list of events or {"events": [...]}')


def _event_objects(data: Any) -> tuple[list[Any], bool]:
    """Return the event objects of a decoded body and whether errors should name their index."""
    if type(data) is list:
        items, indexed = data, True
    elif type(data) is dict and "events" in data:
        items, indexed = data["events"], True
        if type(items) is not list:
            got = json_type(items)
            raise PayloadError(f"events: expected a list of event objects, got {got}")
    elif type(data) is dict:
        items, indexed = [data], False
    else:
        raise PayloadError(f"expected an event object, a list of events or {{\"events\": [...]}}, "
                           f"got {json_type(data)}")
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
                raise PayloadError(short(_where(f"source: must be {SOURCE!r} on this endpoint", where)))
        try:
            events.append(parse_event(raw))
        except EventError as err:
            raise PayloadError(short(_where(err.message, where))) from None
    return events


class WebhookAdapter:
    """The generic webhook's inbound adapter: Standard Webhooks signatures over canonical event bodies."""

    source = SOURCE
    waits_on_api = False  # the body is the event
    reads_url = False     # Standard Webhooks sign the id, the timestamp and the body

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
        refuse_ahead(events, request.received_at)  # the sender hears of its clock now, not in a failed delivery
        audit = {}
        for name in AUDIT_HEADERS:
            value = signing.header_value(request.headers, name)
            if value is not None:
                audit[name] = value[:MAX_AUDIT_VALUE]
        return Accepted(dedupe_key=msg_id.strip(), audit_headers=audit, events=len(events),
                        ticket=only_ticket(events))

    def normalize(self, body: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Event]:
        """Return the canonical events of a stored delivery (they already are canonical: no API calls)."""
        return parse_body(body)
