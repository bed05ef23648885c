"""Write-back of a mapped source: each outbox action as the HTTP request its template describes.

The request carries `Idempotency-Key: <the outbox key>` (unless the template sets it), so an API that honours
it applies a retried action once. Answers are sorted as for the generic webhook's callbacks (2xx sent;
429/503 with Retry-After and other 5xx, timeouts and connection errors transient; 409 conflict; other 4xx,
3xx and 410 permanent) and error messages carry the status line only, never the URL, the secret or the body.
An action without a template is skipped with the reason.
"""

from __future__ import annotations

import base64
import string
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from adapters.base import WriteAction, WriteResult
from adapters.http import transport_errors
from adapters.webhook.outbound import CONNECT_TIMEOUT, USER_AGENT, _json_safe, answer
from connector.config import MappedSourceConfig
from connector.errors import Permanent
from connector.events import format_instant, parse_instant
from connector.mapping import EACH, HttpWriteback, RequestTemplate


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise Permanent(f"the action has no {key!r} for its template")


def action_values(action: WriteAction) -> dict[str, Any]:
    """What a template may use: the action's ticket and key, its parameters, and `due_at` in epoch s and ms."""
    values: dict[str, Any] = {"ticket_id": action.ticket_id, "account": action.account, "source": action.source,
                              "key": action.key, "action": action.action, **_json_safe(action.params, "params")}
    if isinstance(values.get("due_at"), str):
        due = parse_instant(values["due_at"], "due_at", bounded=False)  # the core's own: it may lie past 2099
        values["due_at_s"] = int(due.timestamp())
        values["due_at_ms"] = int(due.timestamp() * 1000)
        values["due_at_date"] = due.date().isoformat()  # the UTC date, for tools whose due date is a day
    return values


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """The JSON value of a template: `"{name}"` alone is the value itself; `$each` repeats an object."""
    if isinstance(template, str):
        parsed = list(string.Formatter().parse(template))
        if len(parsed) == 1 and parsed[0][0] == "" and parsed[0][1] and not parsed[0][2] and not parsed[0][3]:
            return _Values(values)[parsed[0][1]]
        return template.format_map(_Values(values))
    if isinstance(template, list):
        out: list[Any] = []
        for item in template:
            if isinstance(item, dict) and EACH in item:
                items = _Values(values)[str(item[EACH])]
                if not isinstance(items, list):
                    raise Permanent(f"{item[EACH]!r} is not a list: it cannot be repeated with $each")
                rest = {k: v for k, v in item.items() if k != EACH}
                out += [render(rest, {**values, "item": each}) for each in items]
            else:
                out.append(render(item, values))
        return out
    if isinstance(template, dict):
        return {str(k): render(v, values) for k, v in template.items()}
    return template


class MappedWriter:
    """A mapped source's write-back over HTTP, from `sources.<name>.writeback`."""

    def __init__(self, source: str, section: MappedSourceConfig, secret: str | None, *,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self._writeback: HttpWriteback | None = section.writeback
        self._secret = secret or None
        self._session = session or requests.Session()
        self._clock = clock
        auth = self._writeback.auth if self._writeback is not None else None
        if auth is not None and auth.scheme == "basic" and self._secret is not None and ":" not in self._secret:
            raise ValueError("HTTP Basic needs user:token")

    def __repr__(self) -> str:
        return f"MappedWriter({self.source!r}, configured={self.configured})"

    @property
    def configured(self) -> bool:
        """True when the source has write-back templates and, if they authenticate, the secret is set."""
        return self._unready() is None

    def _unready(self) -> str | None:
        """Why nothing can be sent (the skipped action's detail), or None when the writer is ready."""
        writeback, where = self._writeback, f"sources.{self.source}.writeback"
        if writeback is None:
            return f"{where} is not configured"
        empty = [name for name, value in writeback.constants.items() if not value]
        if empty:  # a constant left empty (a preset's admin id): set it first
            return f"{where}.constants.{empty[0]} is empty"
        if writeback.missing is not None:  # a preset used for its webhooks only: no base_url given
            return f"{where}.{writeback.missing}"
        if not writeback.actions or (writeback.auth is not None and self._secret is None):
            return f"{where} is not configured"
        return None

    def write(self, action: WriteAction) -> WriteResult:
        unready = self._unready()
        if unready is not None:
            return WriteResult(outcome="skipped", detail=unready)
        writeback = self._writeback
        assert writeback is not None  # `_unready` says so otherwise
        template = writeback.actions.get(action.action)
        if template is None:
            return WriteResult(outcome="skipped",
                               detail=f"no template for {action.action} in sources.{self.source}.writeback.actions")
        now = self._clock()
        values = {**writeback.constants, **action_values(action), "now_ms": int(now * 1000),
                  "now": format_instant(datetime.fromtimestamp(int(now), UTC))}
        method, url, headers, body = self._request(writeback, template, values)
        with transport_errors(self.source):
            response = self._session.request(method, url, json=body, headers=headers, allow_redirects=False,
                                             timeout=(CONNECT_TIMEOUT, writeback.timeout_seconds), stream=True)
        try:
            return answer(response.status_code, response.headers.get("retry-after"), now=self._clock(),
                          who=self.source)
        finally:
            response.close()

    def _request(self, writeback: HttpWriteback, template: RequestTemplate, values: dict[str, Any]
                 ) -> tuple[str, str, dict[str, str], Any]:
        in_path = {k: _in_path(k, v) for k, v in values.items()}
        path = template.url.format_map(_Values(in_path))
        url = path if path.startswith(("http://", "https://")) else (writeback.base_url or "").rstrip("/") + "/" + \
            path.lstrip("/")
        headers = {"content-type": "application/json", "user-agent": USER_AGENT,
                   "idempotency-key": str(values["key"])[:255]}
        headers.update({k.lower(): str(render(v, values)) for k, v in template.headers.items()})
        auth = writeback.auth
        if auth is not None and self._secret is not None:
            if auth.scheme == "bearer":
                headers[auth.header.lower()] = f"Bearer {self._secret}"
            elif auth.scheme == "basic":
                headers[auth.header.lower()] = "Basic " + base64.b64encode(self._secret.encode()).decode()
            else:
                headers[auth.header.lower()] = self._secret
        body = None if template.body is None else render(template.body, values)
        return template.method, url, headers, body


def _in_path(key: str, value: Any) -> Any:
    """A value as it goes into a URL path: escaped whole (a ticket id is one segment, whatever it holds); an
    `account` such as GitHub's `owner/repo` keeps its slashes, each part escaped, and never `.` or `..`."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return value
    text = str(value)
    if key != "account":
        return quote(text, safe="")
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise Permanent(f"account {text[:60]!r} cannot go into a URL path")
    return "/".join(quote(part, safe="") for part in parts)


