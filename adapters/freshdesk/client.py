"""A small Freshdesk API v2 client over python-freshdesk 1.3.9: tickets, conversations, notes, groups.

Auth: HTTP basic `{api_key}:X` on every request.
Base URL: `https://{domain}.freshdesk.com/api/v2/`, or `base_url` + `/api/v2/` (a proxy, the local test fake).
Every call has an explicit (connect, read) timeout and never follows redirects.

Errors, translated here and nowhere else (`raise … from err`):

    2xx                                     the parsed JSON body ({} for 204)
    429                                     Transient, `retry_after` from Retry-After; holds every call
    5xx, timeout, connection error          Transient
    409                                     Permanent: Freshdesk's "Inconsistent/Conflicting State" (the
                                            resource would be inconsistent, e.g. a value that must be unique
                                            is taken), not a concurrent edit: the same request fails again,
                                            so it is not re-fetched and retried
    400                                     Permanent naming the fields Freshdesk rejected (`errors[].field`
                                            and `code`, never their values or messages)
    401, 403, 404, 3xx, other 4xx           Permanent with the status line
    X-RateLimit-Remaining: 0                the *next* calls raise Transient (no request) until the
                                            per-minute window resets (Retry-After if sent, else 60 s)

Messages carry the status, the resource (e.g. `ticket 42`) and Freshdesk's error codes: never the API key,
the domain, the URL or body text, which can hold customer data.

Lists (tickets, conversations, groups) follow Freshdesk's `link` header: "The 'link' header in the response
will hold the next page url if exists. If you have reached the last page of objects, then the link header
will not be set" (developers.freshdesk.com/api, Pagination). The header decides whether and which page comes
next; the request is built again on our own base URL with our own parameters, so the API key never goes to
a host a response header names. The ticket listing embeds `include=stats` (3 credits per page of up to
100 tickets, against 2 per ticket for `GET /tickets/{id}?include=stats`; "List All Tickets" in the same docs).

How python-freshdesk is used (not forked): its `API` object keeps building the URLs, the JSON bodies and
the `_get`/`_put`/`_post` calls. We replace two of its attributes after construction: `_api_prefix` (it
only builds `https://<domain>/api/v2/` and refuses non-freshdesk.com domains, so a base_url override is
impossible otherwise) and `_session` (a `_Transport`: it sets the timeout, auth, headers and
`allow_redirects=False` on every request, and remembers the last response per thread). The library's own
exceptions hide the status code and the Retry-After header (issue #91) and treat 500 as a generic error,
so we translate from the remembered response, not from the exception. We do not use its models (KeyError
on ticket source 9/10, due dates left as strings) nor `list_tickets` (sends `updated_since` twice,
unencoded): the raw dicts are returned.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from freshdesk.v2.api import API
from freshdesk.v2.errors import FreshdeskError

from adapters.http import transport_errors
from adapters.webhook.outbound import parse_retry_after
from connector.errors import EventError, Permanent, Transient
from connector.events import format_instant, parse_instant

CONNECT_TIMEOUT = 3.05
USER_AGENT = "sla-connector"
PAGE_SIZE = 100
MAX_PAGES = 300  # Freshdesk refuses pages beyond the 300th
DEFAULT_RATE_WINDOW = 60.0  # Freshdesk limits are per minute (current plans)
_PLACEHOLDER_DOMAIN = "base-url-override.freshdesk.com"  # python-freshdesk insists on a freshdesk.com domain
_DOMAIN = re.compile(r"([a-z0-9][a-z0-9-]{0,62})(\.freshdesk\.com)?", re.IGNORECASE)
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")
_ID = re.compile(r"[0-9]{1,19}")


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _id(value: int | str, what: str) -> int:
    """Return a Freshdesk id as an int (python-freshdesk formats ids with %d; webhook ids are strings)."""
    if isinstance(value, bool):
        raise Permanent(f"{what} id is not a valid Freshdesk id")
    text = str(value).strip()
    if not _ID.fullmatch(text) or int(text) <= 0:
        raise Permanent(f"{what} id is not a valid Freshdesk id")
    return int(text)


def _describe_400(body: Any) -> str:
    """Return the fields Freshdesk rejected as `field (code)`, from `errors[]`, without values or messages."""
    fields: list[str] = []
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if isinstance(errors, list):
        for entry in errors:
            if not isinstance(entry, Mapping):
                continue
            name = entry.get("field")
            if not isinstance(name, str) or not _FIELD.fullmatch(name):
                continue
            code = entry.get("code")
            label = f"{name} ({code})" if isinstance(code, str) and _CODE.fullmatch(code) else name
            if label not in fields:
                fields.append(label)
    return ", ".join(fields)


def utc_z(value: datetime | str) -> str:
    """Return an instant as ISO 8601 UTC with `Z` (a `+hh:mm` offset is mangled by Freshdesk list URLs)."""
    try:
        dt = parse_instant(value, "instant", bounded=False)  # our own: a due date may lie past 2099
    except EventError as err:
        raise Permanent("not an ISO 8601 instant with an offset") from err
    text = format_instant(dt.astimezone(UTC).replace(microsecond=0))
    assert text is not None
    return text


class _Transport(requests.Session):
    """The session python-freshdesk calls: adds timeout, auth and headers; remembers each thread's last response.

    With an `inner` session (a caller's, or a test spy) the prepared call is delegated to it.
    """

    def __init__(self, auth: tuple[str, str], timeout: tuple[float, float], inner: requests.Session | None,
                 on_response: Callable[[requests.Response], None]) -> None:
        super().__init__()
        self._fd_auth = auth
        self._fd_timeout = timeout
        self._inner = inner
        self._on_response = on_response
        self._local = threading.local()

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self._local.response = None
        kwargs.setdefault("timeout", self._fd_timeout)
        kwargs["allow_redirects"] = False  # Session.get() defaults it to True: force it
        kwargs.setdefault("auth", self._fd_auth)
        headers = {"accept": "application/json", "content-type": "application/json", "user-agent": USER_AGENT}
        headers.update(kwargs.pop("headers", None) or {})
        kwargs["headers"] = headers
        if self._inner is not None:
            response = self._inner.request(method, url, *args, **kwargs)
        else:
            response = super().request(method, url, *args, **kwargs)
        self._local.response = response
        self._on_response(response)
        return response

    @property
    def last_response(self) -> requests.Response | None:
        return getattr(self._local, "response", None)


class FreshdeskClient:
    """The Freshdesk API v2 calls the connector makes, with errors translated into `connector.errors`."""

    def __init__(self, domain: str | None, api_key: str, *, base_url: str | None = None, timeout: float = 10.0,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        if base_url:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("the Freshdesk base_url must be an http:// or https:// URL")
            self._base = base_url.rstrip("/")
            host = _PLACEHOLDER_DOMAIN
        elif domain:
            match = _DOMAIN.fullmatch(domain.strip())
            if match is None:
                raise ValueError("the Freshdesk domain must be <name> or <name>.freshdesk.com (no custom CNAMEs)")
            host = f"{match.group(1).lower()}.freshdesk.com"
            self._base = f"https://{host}"
        else:
            raise ValueError("a Freshdesk domain or base_url is required")
        if not api_key:
            raise ValueError("the Freshdesk API key is required")
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._timeout = timeout
        self._clock = clock
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        api = API(host, api_key)
        api._session.close()  # replaced below: it has no timeouts
        api._api_prefix = f"{self._base}/api/v2/"
        self._transport = _Transport((api_key, "X"), (CONNECT_TIMEOUT, timeout), session, self._track_rate_limit)
        api._session = self._transport
        self._api = api

    def __repr__(self) -> str:  # never the API key
        return f"FreshdeskClient(timeout={self._timeout})"

    @property
    def base_url(self) -> str:
        return self._base

    def held_for(self) -> float:
        """Seconds before Freshdesk may be called again (a 429's Retry-After, an exhausted window); 0 if now."""
        with self._lock:
            return max(0.0, self._blocked_until - self._clock())

    @property
    def api(self) -> API:
        """The underlying python-freshdesk `API` (prefix and session already replaced)."""
        return self._api

    # -- transport ------------------------------------------------------------------------------------------

    def _call(self, what: str, verb: str, path: str, **kwargs: Any) -> Any:
        """Make one call through python-freshdesk's `_get`/`_put`/`_post`; translate what goes wrong."""
        now = self._clock()
        with self._lock:
            blocked_until = self._blocked_until
        if blocked_until > now:
            raise Transient("Freshdesk rate limit exhausted; waiting for the window to reset",
                            retry_after=blocked_until - now)
        with transport_errors("Freshdesk", what):
            try:
                body = getattr(self._api, f"_{verb}")(path, **kwargs)
            except FreshdeskError as err:  # an HTTPError subclass: answered, not a transport error
                self._raise_for(self._transport.last_response, what, err)
        response = self._transport.last_response
        if response is not None and not 200 <= response.status_code < 300:
            self._raise_for(response, what, None)  # e.g. a 3xx, which the library returns as {}
        return body

    def _track_rate_limit(self, response: requests.Response) -> None:
        value = response.headers.get("x-ratelimit-remaining")
        if value is None or not value.strip().isdigit() or int(value.strip()) != 0:
            return
        now = self._clock()
        wait = parse_retry_after(response.headers.get("retry-after"), now)
        with self._lock:
            self._blocked_until = max(self._blocked_until, now + (DEFAULT_RATE_WINDOW if wait is None else wait))

    def _raise_for(self, response: requests.Response | None, what: str, err: Exception | None) -> None:
        if response is None:  # the library failed without a response: nothing safe to say but the type
            raise Permanent(f"Freshdesk call for {what} failed ({type(err).__name__})") from err
        status = response.status_code
        line = _status_line(status)
        if status == 429:
            now = self._clock()
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
            if retry_after is not None:  # the limit is per account: hold every call
                with self._lock:
                    self._blocked_until = max(self._blocked_until, now + retry_after)
            raise Transient(f"Freshdesk answered {line} for {what}", retry_after=retry_after) from err
        if 500 <= status < 600:
            raise Transient(f"Freshdesk answered {line} for {what}") from err
        if status == 409:  # "Inconsistent/Conflicting State": the same request would fail again
            fields = _describe_400(_json_or_none(response))
            detail = f": {fields}" if fields else ""
            raise Permanent(f"Freshdesk answered {line} for {what} (inconsistent state{detail}); the same request "
                            f"would fail again, so it is not retried") from err
        if status == 400:
            fields = _describe_400(_json_or_none(response))
            detail = f": rejected {fields}" if fields else ""
            raise Permanent(f"Freshdesk answered {line} for {what}{detail}") from err
        if status == 401:
            raise Permanent(f"Freshdesk refused the API key ({line}) for {what}") from err
        if status == 403:
            raise Permanent(f"Freshdesk API key may not access {what} ({line})") from err
        if status == 404:
            raise Permanent(f"{what} not found in Freshdesk ({line})") from err
        if 300 <= status < 400:
            raise Permanent(f"Freshdesk answered {line} for {what}; redirects are not followed") from err
        raise Permanent(f"Freshdesk answered {line} for {what}") from err

    def _page(self, path: str, what: str, page: int, params: Mapping[str, Any] | None = None) -> Page:
        """Return one page of a list (`per_page`=100) and the page its `link` header names next."""
        query = {**(params or {}), "per_page": PAGE_SIZE, "page": page}
        chunk = self._call(what, "get", path, params=query)
        if not isinstance(chunk, list):
            raise Permanent(f"Freshdesk answered {what} without a list")
        return Page(items=[item for item in chunk if isinstance(item, dict)],
                    next_page=_next_page(self._transport.last_response, page))

    def _list(self, path: str, what: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Return every item of a list, following the `link` header from page to page."""
        items: list[dict[str, Any]] = []
        page: int | None = 1
        while page is not None:
            if page > MAX_PAGES:
                raise Permanent(f"Freshdesk returned more than {MAX_PAGES} pages for {what}")
            found = self._page(path, what, page, params)
            items.extend(found.items)
            page = found.next_page
        return items

    @staticmethod
    def _object(body: Any, what: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Permanent(f"Freshdesk answered {what} without an object")
        return body

    # -- tickets --------------------------------------------------------------------------------------------

    def get_ticket(self, ticket_id: int | str) -> dict[str, Any]:
        """Return the ticket with its `stats` (first_responded_at, resolved_at …) as Freshdesk sends it."""
        tid = _id(ticket_id, "ticket")
        what = f"ticket {tid}"
        return self._object(self._call(what, "get", f"tickets/{tid}", params={"include": "stats"}),
                            what)

    def list_conversations(self, ticket_id: int | str) -> list[dict[str, Any]]:
        """Return every conversation (replies and notes) of a ticket, oldest first, following the pages."""
        tid = _id(ticket_id, "ticket")
        return self._list(f"tickets/{tid}/conversations", f"conversations of ticket {tid}")

    def update_ticket(self, ticket_id: int | str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """PUT changes to a ticket (a partial update; `tags` replaces the whole list); return the ticket."""
        tid = _id(ticket_id, "ticket")
        if not changes:
            raise Permanent("no ticket changes given")
        what = f"ticket {tid}"
        data = json.dumps(dict(changes))
        return self._object(self._call(what, "put", f"tickets/{tid}", data=data), what)

    def add_private_note(self, ticket_id: int | str, body: str) -> dict[str, Any]:
        """Add a private note (HTML body) to a ticket; return the note."""
        tid = _id(ticket_id, "ticket")
        if not body:
            raise Permanent("a private note needs a body")
        what = f"note on ticket {tid}"
        data = json.dumps({"body": body, "private": True})
        return self._object(self._call(what, "post", f"tickets/{tid}/notes", data=data), what)

    def list_groups(self) -> list[dict[str, Any]]:
        """Return every group of the account (`id`, `name` …)."""
        return self._list("groups", "groups")

    def list_tickets_updated_since(self, since: datetime | str, page: int = 1) -> Page:
        """Return one page (≤ 100) of tickets updated at or after `since`, oldest update first, with their stats."""
        if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_PAGES:
            raise Permanent(f"page must be 1..{MAX_PAGES}; slide `since` forward instead")
        params = {"updated_since": utc_z(since), "order_by": "updated_at", "order_type": "asc", "include": "stats"}
        return self._page("tickets", "tickets updated since", page, params)


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a Freshdesk list and the page number its `link` header names next (None: the last page)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    next_page: int | None = None


def _next_page(response: requests.Response | None, page: int) -> int | None:
    """The page the `link: <…?page=N…>; rel="next"` header names (page + 1 if it names none); None without one."""
    if response is None:
        return None
    url = response.links.get("next", {}).get("url")
    if not url:
        return None
    numbers = parse_qs(urlsplit(url).query).get("page", [])
    if numbers and numbers[0].isdigit() and len(numbers[0]) <= 6 and int(numbers[0]) > page:
        return int(numbers[0])
    return page + 1


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
