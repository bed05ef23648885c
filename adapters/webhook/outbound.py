"""Outbound side of the generic webhook: POST each write-back action to a callback URL, signed.

    POST <callback_url>
    content-type: application/json          webhook-id: msg_<sha256(idempotency key)[:32]>
    webhook-timestamp: <unix seconds>       webhook-signature: v1,<base64>
    {"type": "sla.add_tags", "timestamp": "2026-03-02T14:05:00Z",
     "data": {"key", "action", "source", "account", "ticket_id", "params"}}

The webhook-id is derived from the outbox row's idempotency key, so every retry of one action carries the
same id and the receiver can dedupe. Responses, sorted by what the outbox does:

    2xx                                   sent
    429, 503                              Transient, with `retry_after` from Retry-After (seconds or HTTP-date)
    other 5xx, timeout, connection error  Transient (the outbox backs off)
    409                                   Conflict
    410                                   Permanent: the endpoint is gone
    3xx, other 4xx                        Permanent (redirects are not followed)

Error messages carry a status line only: never the secret, the signature, the URL or the response body.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests

from adapters.base import WriteAction, WriteResult
from adapters.http import transport_errors
from adapters.webhook import signing
from adapters.webhook.const import SOURCE
from connector.errors import Conflict, Permanent, Transient
from connector.events import format_instant

CONNECT_TIMEOUT = 3.05  # a little over a multiple of 3 s, the TCP retransmission window
USER_AGENT = "sla-connector"
_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")


def webhook_id(key: str) -> str:
    """Return the webhook-id of an idempotency key: the same for every attempt of one action."""
    return "msg_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 HTTP-dates are GMT; email.utils gives "-0000" as naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _json_safe(value: Any, where: str) -> Any:
    """Return `value` as JSON types: aware datetimes as ISO Z, tuples and sets as lists."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Permanent(f"{where}: {value!r} cannot be sent as JSON")
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Permanent(f"{where}: naive datetime; the rules core gives aware UTC ones")
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds.is_integer() else seconds
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        return sorted((_json_safe(v, f"{where}[]") for v in value), key=repr)
    raise Permanent(f"{where}: a {type(value).__name__} cannot be sent as JSON")


def _status_line(status: int) -> str:
    # the standard phrase, not the server's: a reason phrase is free text the receiver controls
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class WebhookWriter:
    """The generic webhook's write-back: signed Standard Webhooks POSTs to one callback URL."""

    source = SOURCE

    def __init__(self, callback_url: str | None, secret: str | None, *, timeout: float = 10.0,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        if callback_url and urlsplit(callback_url).scheme not in ("http", "https"):
            raise ValueError("the webhook callback_url must be an http:// or https:// URL")
        if secret:
            signing.decode_secret(secret)  # a bad secret is a configuration error, found at start-up
        if timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._url = callback_url or None
        self._secret = secret or None
        self._timeout = timeout
        self._session = session or requests.Session()
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookWriter(configured={self.configured}, timeout={self._timeout})"

    @property
    def configured(self) -> bool:
        """True when both the callback URL and the signing secret are set."""
        return self._url is not None and self._secret is not None

    def _body(self, action: WriteAction, now: int) -> bytes:
        payload = {
            "type": f"sla.{action.action}",
            "timestamp": format_instant(datetime.fromtimestamp(now, UTC)),
            "data": {"key": action.key, "action": action.action, "source": action.source,
                     "account": action.account, "ticket_id": action.ticket_id,
                     "params": _json_safe(action.params, "params")},
        }
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")

    def write(self, action: WriteAction) -> WriteResult:
        """POST one action to the callback URL; raise `Transient`, `Conflict` or `Permanent` on failure."""
        if self._url is None or self._secret is None:
            return WriteResult(outcome="skipped", detail="webhook callback_url or secret not configured")
        now = int(self._clock())
        body = self._body(action, now)
        msg_id = webhook_id(action.key)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": signing.sign(self._secret, msg_id, now, body),
        }
        with transport_errors("the callback"):
            # stream=True: the status and headers are all we read; the body is never downloaded
            response = self._session.post(self._url, data=body, headers=headers,
                                          timeout=(CONNECT_TIMEOUT, self._timeout),
                                          allow_redirects=False, stream=True)
        try:
            return self._result(response.status_code, response.headers.get("retry-after"))
        finally:
            response.close()

    def _result(self, status: int, retry_after: str | None) -> WriteResult:
        return answer(status, retry_after, now=self._clock(), who="callback")


def answer(status: int, retry_after: str | None, *, now: float, who: str) -> WriteResult:
    """What an HTTP write-back's status means to the outbox (see the table above); `who` names the receiver."""
    line = _status_line(status)
    if 200 <= status < 300:
        return WriteResult(outcome="sent", detail=line)
    if status in (429, 503):
        raise Transient(f"{who} answered {line}", retry_after=parse_retry_after(retry_after, now))
    if 500 <= status < 600:
        raise Transient(f"{who} answered {line}")
    if status == 409:
        raise Conflict(f"{who} answered {line}")
    if status == 410:
        raise Permanent(f"{who} endpoint is gone (410)")
    if 300 <= status < 400:
        raise Permanent(f"{who} answered {line}; redirects are not followed")
    raise Permanent(f"{who} answered {line}")
