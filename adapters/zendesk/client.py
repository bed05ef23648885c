"""A small Zendesk REST client: tickets, tags, comments, users, groups, webhooks and triggers.

Auth: HTTP basic `{email}/token:{api_token}` on every request (no OAuth yet).
Base URL: `https://{subdomain}.zendesk.com`, or `base_url` (a proxy, a sandbox, the local test fake).
Every call has an explicit (connect, read) timeout and never follows redirects.

Errors, translated here and nowhere else (`raise … from err`):

    2xx                                     the parsed JSON body ({} for 204)
    429, 503                                Transient, `retry_after` from Retry-After (JSON or text bodies)
    other 5xx, timeout, connection error    Transient
    409 (safe_update saw a newer ticket)    Conflict
    422                                     Permanent naming the fields Zendesk rejected (never their values);
                                            a closed ticket says so
    401, 403, 404, 3xx, other 4xx           Permanent with the status line
    rate-limit headers say 0 remaining      the *next* calls raise Transient (no request) until the window
    (or a 429's Retry-After)                resets: the limit is per account, so one client holds all calls

Messages carry the status, the resource (e.g. `ticket 42`) and Zendesk's error code: never the email, the
token, the URL's host or body text, which can hold customer data.

Why plain `requests` and not zenpy (2.0.57) for these calls: zenpy builds URLs as
`https://{subdomain}.{domain}` (an `http://127.0.0.1:port` fake or proxy cannot be targeted without the
process-wide `ZENPY_FORCE_SCHEME` variable), sleeps on 429 inside the caller instead of surfacing
Retry-After, retries PUTs on 503 through urllib3 (a note could be posted twice), caches tickets for 30 s
(stale `updated_at` → spurious 409s) and its tag calls cannot carry `safe_update`. The write-back worker
needs the raw status codes, so every endpoint here is a direct request.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from adapters.http import transport_errors
from adapters.webhook.outbound import parse_retry_after
from connector.errors import Conflict, Permanent, Transient

CONNECT_TIMEOUT = 3.05
USER_AGENT = "sla-connector"
PAGE_SIZE = 100
MAX_PAGES = 100  # a ticket holds at most 5000 comments (50 pages); stop a server that never ends
DEFAULT_RATE_WINDOW = 60.0  # Zendesk limits are per minute
_SUBDOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}", re.IGNORECASE)
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_REMAINING_HEADERS = ("x-rate-limit-remaining", "ratelimit-remaining", "rate-limit-remaining")
_RESET_HEADERS = ("ratelimit-reset", "rate-limit-reset", "retry-after")
CLOSED_MARKER = "closed prevents ticket update"


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _id(value: int | str, what: str) -> str:
    """Return an id as URL-safe text: Zendesk ids are integers, webhook ids are ULIDs."""
    text = str(value).strip()
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text):
        raise Permanent(f"{what} id is not a valid Zendesk id")
    return quote(text, safe="")


def _error_code(body: Any) -> str | None:
    if isinstance(body, Mapping):
        code = body.get("error")
        if isinstance(code, Mapping):  # some endpoints nest {"error": {"title", "message"}}
            code = code.get("title")
        if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
            return code
    return None


def _describe_422(body: Any) -> tuple[bool, str]:
    """Return (ticket is closed, the rejected fields) from a RecordInvalid body, without any values."""
    closed = False
    fields: list[str] = []
    details = body.get("details") if isinstance(body, Mapping) else None
    if isinstance(details, Mapping):
        for name, problems in details.items():
            entries = problems if isinstance(problems, list) else [problems]
            for entry in entries:
                if not isinstance(entry, Mapping):
                    continue
                description = entry.get("description")
                if isinstance(description, str) and CLOSED_MARKER in description.lower():
                    closed = True
                field_id = entry.get("ticket_field_id")
                label = None
                if isinstance(field_id, int) and not isinstance(field_id, bool):
                    label = f"custom field {field_id}"
                elif isinstance(name, str) and _FIELD_NAME.fullmatch(name):
                    label = name
                if label is not None:
                    code = entry.get("error")
                    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
                        label += f" ({code})"
                    if label not in fields:
                        fields.append(label)
    return closed, ", ".join(fields)


class ZendeskClient:
    """The Zendesk REST calls the connector makes, with errors translated into `connector.errors`."""

    def __init__(self, subdomain: str | None, email: str, api_token: str, *, base_url: str | None = None,
                 timeout: float = 10.0, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if base_url:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("the Zendesk base_url must be an http:// or https:// URL")
            self._base = base_url.rstrip("/")
        elif subdomain:
            if not _SUBDOMAIN.fullmatch(subdomain):
                raise ValueError("the Zendesk subdomain must be letters, digits and dashes (no dots)")
            self._base = f"https://{subdomain}.zendesk.com"
        else:
            raise ValueError("a Zendesk subdomain or base_url is required")
        if not email or not api_token:
            raise ValueError("the Zendesk email and API token are required")
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._auth = (f"{email}/token", api_token)
        self._timeout = timeout
        self._session = session or requests.Session()
        self._clock = clock
        self._blocked_until = 0.0

    def __repr__(self) -> str:  # never the email or the token
        return f"ZendeskClient(base_url={self._base!r}, timeout={self._timeout})"

    @property
    def base_url(self) -> str:
        return self._base

    def held_for(self) -> float:
        """Seconds before Zendesk may be called again (a 429's Retry-After, an exhausted window); 0 if now."""
        return max(0.0, self._blocked_until - self._clock())

    # -- transport ------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, what: str, *, params: Mapping[str, Any] | None = None,
                 json: Any = None) -> Any:
        now = self._clock()
        if self._blocked_until > now:
            raise Transient("Zendesk rate limit exhausted; waiting for the window to reset",
                            retry_after=self._blocked_until - now)
        with transport_errors("Zendesk", what):
            response = self._session.request(
                method, self._base + path, params=params, json=json, auth=self._auth,
                headers={"accept": "application/json", "user-agent": USER_AGENT},
                timeout=(CONNECT_TIMEOUT, self._timeout), allow_redirects=False)
        with response:
            self._track_rate_limit(response.headers)
            return self._result(response, what)

    def _track_rate_limit(self, headers: Mapping[str, str]) -> None:
        remaining = None
        for name in _REMAINING_HEADERS:
            value = headers.get(name)
            if value is not None and value.strip().isdigit():
                remaining = int(value.strip()) if remaining is None else min(remaining, int(value.strip()))
        if remaining != 0:
            return
        now = self._clock()
        wait = None
        for name in _RESET_HEADERS:
            wait = parse_retry_after(headers.get(name), now)
            if wait is not None:
                break
        self._blocked_until = now + (DEFAULT_RATE_WINDOW if wait is None else wait)

    def _result(self, response: requests.Response, what: str) -> Any:
        status = response.status_code
        line = _status_line(status)
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return {}
            try:
                return response.json()
            except ValueError as err:
                raise Transient(f"Zendesk answered {line} for {what} with a body that is not JSON") from err
        if status in (429, 503):
            # a 429 body may be JSON or plain text: only the header is read
            now = self._clock()
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
            if status == 429 and retry_after is not None:  # the limit is per account: hold every call
                self._blocked_until = max(self._blocked_until, now + retry_after)
            raise Transient(f"Zendesk answered {line} for {what}", retry_after=retry_after)
        if 500 <= status < 600:
            raise Transient(f"Zendesk answered {line} for {what}")
        body = self._json_or_none(response)
        code = _error_code(body)
        suffix = f" ({code})" if code else ""
        if status == 409:
            raise Conflict(f"Zendesk answered {line} for {what}{suffix}: the ticket changed since it was read")
        if status == 422:
            closed, fields = _describe_422(body)
            if closed:
                raise Permanent(f"{what} is closed; Zendesk rejects updates to closed tickets (422)")
            detail = f": rejected {fields}" if fields else ""
            raise Permanent(f"Zendesk answered {line} for {what}{suffix}{detail}")
        if status == 401:
            raise Permanent(f"Zendesk refused the credentials ({line}) for {what}")
        if status == 403:
            raise Permanent(f"Zendesk API user may not access {what} ({line})")
        if status == 404:
            raise Permanent(f"{what} not found in Zendesk ({line})")
        if 300 <= status < 400:
            raise Permanent(f"Zendesk answered {line} for {what}; redirects are not followed")
        raise Permanent(f"Zendesk answered {line} for {what}{suffix}")

    @staticmethod
    def _json_or_none(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _paginate(self, path: str, key: str, what: str,
                  params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Return every item of a cursor-paginated list (`page[size]`, `meta.has_more`, `meta.after_cursor`)."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] = {**(params or {}), "page[size]": PAGE_SIZE}
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self._request("GET", path, what, params=query)
            page = body.get(key) if isinstance(body, Mapping) else None
            if not isinstance(page, list):
                raise Permanent(f"Zendesk answered {what} without a {key!r} list")
            items.extend(item for item in page if isinstance(item, dict))
            meta = body.get("meta") or {}
            cursor = meta.get("after_cursor") if isinstance(meta, Mapping) else None
            if not (isinstance(meta, Mapping) and meta.get("has_more")) or not isinstance(cursor, str):
                return items
            if cursor in seen:
                raise Permanent(f"Zendesk repeated a page cursor for {what}")
            seen.add(cursor)
            query = {**(params or {}), "page[size]": PAGE_SIZE, "page[after]": cursor}
        raise Permanent(f"Zendesk returned more than {MAX_PAGES} pages for {what}")

    @staticmethod
    def _item(body: Any, key: str, what: str) -> dict[str, Any]:
        item = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(item, dict):
            raise Permanent(f"Zendesk answered {what} without a {key!r} object")
        return item

    # -- tickets --------------------------------------------------------------------------------------------

    def get_ticket(self, ticket_id: int | str) -> dict[str, Any]:
        """Return the ticket as Zendesk sends it (`updated_at` is the stamp for safe updates)."""
        tid = _id(ticket_id, "ticket")
        what = f"ticket {tid}"
        return self._item(self._request("GET", f"/api/v2/tickets/{tid}.json", what), "ticket", what)

    def list_comments(self, ticket_id: int | str) -> list[dict[str, Any]]:
        """Return all comments of a ticket, oldest first, following the cursor pages."""
        tid = _id(ticket_id, "ticket")
        return self._paginate(f"/api/v2/tickets/{tid}/comments.json", "comments", f"comments of ticket {tid}")

    def get_user_role(self, user_id: int | str) -> str:
        """Return a user's role: `end-user`, `agent` or `admin`."""
        uid = _id(user_id, "user")
        what = f"user {uid}"
        user = self._item(self._request("GET", f"/api/v2/users/{uid}.json", what), "user", what)
        role = user.get("role")
        if not isinstance(role, str):
            raise Permanent(f"Zendesk answered {what} without a role")
        return role

    def list_groups(self) -> list[dict[str, Any]]:
        """Return every group of the account (`id`, `name`, `deleted` …)."""
        return self._paginate("/api/v2/groups.json", "groups", "groups")

    def add_tags(self, ticket_id: int | str, tags: Iterable[str]) -> list[str]:
        """Add tags, keeping the ticket's others (PUT …/tags.json); return the ticket's tags after."""
        return self._tags("PUT", ticket_id, tags)

    def remove_tags(self, ticket_id: int | str, tags: Iterable[str]) -> list[str]:
        """Remove just these tags (DELETE …/tags.json with a body); return the ticket's tags after."""
        return self._tags("DELETE", ticket_id, tags)

    def _tags(self, method: str, ticket_id: int | str, tags: Iterable[str]) -> list[str]:
        tid = _id(ticket_id, "ticket")
        names = list(dict.fromkeys(str(t) for t in tags))
        if not names:
            raise Permanent("no tags given")
        what = f"tags of ticket {tid}"
        body = self._request(method, f"/api/v2/tickets/{tid}/tags.json", what, json={"tags": names})
        after = body.get("tags") if isinstance(body, Mapping) else None
        return [t for t in after if isinstance(t, str)] if isinstance(after, list) else []

    def update_ticket(self, ticket_id: int | str, changes: Mapping[str, Any], *,
                      updated_stamp: str | None) -> dict[str, Any]:
        """PUT changes to a ticket; with `updated_stamp`, as a safe update that 409s (Conflict) if stale."""
        tid = _id(ticket_id, "ticket")
        ticket: dict[str, Any] = dict(changes)
        if updated_stamp is not None:
            ticket["safe_update"] = True
            ticket["updated_stamp"] = updated_stamp
        what = f"ticket {tid}"
        body = self._request("PUT", f"/api/v2/tickets/{tid}.json", what, json={"ticket": ticket})
        return self._item(body, "ticket", what)

    def add_internal_note(self, ticket_id: int | str, body: str) -> dict[str, Any]:
        """Add a private comment (an internal note) to a ticket."""
        if not body:
            raise Permanent("an internal note needs a body")
        return self.update_ticket(ticket_id, {"comment": {"body": body, "public": False}}, updated_stamp=None)

    # -- webhooks and triggers (for `connector zendesk install`) --------------------------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        """Return every webhook of the account."""
        return self._paginate("/api/v2/webhooks", "webhooks", "webhooks")

    def create_webhook(self, webhook: Mapping[str, Any]) -> dict[str, Any]:
        """Create a webhook; return it as Zendesk stored it (with its id)."""
        body = self._request("POST", "/api/v2/webhooks", "webhook", json={"webhook": dict(webhook)})
        return self._item(body, "webhook", "webhook")

    def update_webhook(self, webhook_id: str, webhook: Mapping[str, Any]) -> None:
        """Replace a webhook's settings (Zendesk answers 204 No Content)."""
        wid = _id(webhook_id, "webhook")
        self._request("PUT", f"/api/v2/webhooks/{wid}", f"webhook {wid}", json={"webhook": dict(webhook)})

    def create_or_update_webhook(self, webhook: Mapping[str, Any]) -> dict[str, Any]:
        """Create the webhook, or update the one with the same `name`; return it with its id."""
        name = webhook.get("name")
        if not isinstance(name, str) or not name:
            raise Permanent("a webhook needs a name")
        for existing in self.list_webhooks():
            if existing.get("name") == name and existing.get("id"):
                self.update_webhook(str(existing["id"]), webhook)
                return {**existing, **webhook, "id": existing["id"]}
        return self.create_webhook(webhook)

    def webhook_signing_secret(self, webhook_id: str) -> str:
        """Return a webhook's signing secret (store it as ZENDESK_WEBHOOK_SECRET; never log it)."""
        wid = _id(webhook_id, "webhook")
        what = f"signing secret of webhook {wid}"
        secret = self._item(self._request("GET", f"/api/v2/webhooks/{wid}/signing_secret", what),
                            "signing_secret", what).get("secret")
        if not isinstance(secret, str) or not secret:
            raise Permanent(f"Zendesk answered the {what} without a secret")
        return secret

    def list_triggers(self) -> list[dict[str, Any]]:
        """Return every ticket trigger of the account."""
        return self._paginate("/api/v2/triggers.json", "triggers", "triggers")

    def create_trigger(self, trigger: Mapping[str, Any]) -> dict[str, Any]:
        """Create a trigger; return it with its id."""
        body = self._request("POST", "/api/v2/triggers.json", "trigger", json={"trigger": dict(trigger)})
        return self._item(body, "trigger", "trigger")

    def update_trigger(self, trigger_id: int | str, trigger: Mapping[str, Any]) -> dict[str, Any]:
        """Update a trigger; return it as stored."""
        tid = _id(trigger_id, "trigger")
        what = f"trigger {tid}"
        body = self._request("PUT", f"/api/v2/triggers/{tid}.json", what, json={"trigger": dict(trigger)})
        return self._item(body, "trigger", what)

    def create_or_update_trigger(self, trigger: Mapping[str, Any]) -> dict[str, Any]:
        """Create the trigger, or update the one with the same `title`; return it with its id."""
        title = trigger.get("title")
        if not isinstance(title, str) or not title:
            raise Permanent("a trigger needs a title")
        for existing in self.list_triggers():
            if existing.get("title") == title and existing.get("id") is not None:
                return self.update_trigger(existing["id"], trigger)
        return self.create_trigger(trigger)
