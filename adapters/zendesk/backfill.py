"""Zendesk history → canonical events: the incremental ticket export plus each ticket's audits.

`iter_ticket_history` reads `GET /api/v2/incremental/tickets/cursor.json` (`start_time=<unix>` the first
time, `cursor=<after_cursor>` after) page by page; for every ticket of a page it lists the ticket's audits
(`GET /api/v2/tickets/{id}/audits.json`, cursor pagination) and turns them into events, oldest first:

    the Create audit                              ticket.created, carrying the creating comment
    an audit with a (public or private) comment   comment.added, one per comment
    an audit changing status, priority, group,    ticket.updated
    assignee, tags or a mapped custom field

Every event carries the ticket as it stood *after* its audit: the values at creation are the Create audit's
(or, for a field never set there, the `previous_value` of its first change, or the current value when it
never changed) and each audit's changes are applied forward. Event ids are `audit:<audit id>` and
`audit:<audit id>:comment:<comment id>` (`export:<ticket id>:created` for a ticket whose history has no
Create audit), so a re-run of a backfill or a reconciliation poll gives the same ids and the store keeps
one copy. They are a different namespace from webhook event ids on purpose: they describe the same change
through another channel, which `connector.runtime.history` recognises by type and instant.

Deleted tickets are kept: the export lists them with status `deleted`, and their audits show the deletion
(and a restore) as status changes, which map to the canonical `deleted` (the rules core cancels the clocks of
a deleted ticket and resumes them on restore). When Zendesk no longer shows a deleted ticket's audits (404),
its events come from the export alone: `export:<id>:created` and a ticket.updated to `deleted` at its
`updated_at` (`export:<id>:deleted:<unix time>`).

Each page is yielded with its `after_cursor` so the caller can persist progress and resume. API errors are
the client's (`Transient`, `Permanent` …); a `Transient` (429 with Retry-After, 503, 5xx, timeout) is
waited out and the request tried again, a bounded number of times, before it is raised. A value Zendesk
answered that no event can hold (an instant outside 1970-2099, an id of 300 characters) is a `PayloadError`
for that ticket, like an unmapped status.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.retry import MAX_RETRIES, RetryingCaller
from adapters.zendesk import mapping
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.const import SOURCE
from adapters.zendesk.inbound import AUTOMATED_RELS
from connector.errors import EventError, PayloadError, Permanent
from connector.events import DELETED, Comment, Event, Ticket

log = logging.getLogger("adapters.zendesk.backfill")

EXPORT_PATH = "/api/v2/incremental/tickets/cursor.json"
AUDIT_PREFIX = "audit:"
EXPORT_PREFIX = "export:"
MAX_EXPORT_PAGE_SIZE = 1000   # Zendesk's per_page limit on the export
AUDIT_PAGE_SIZE = 100         # cursor pagination's page[size] limit
MAX_AUDIT_PAGES = 200         # 20,000 audits: a ticket holds at most 5000 comments
EXPORT_LAG_SECONDS = 60       # start_time must be at least a minute in the past
UPDATE_FIELDS = frozenset({"status", "priority", "group_id", "assignee_id", "tags"})
TRACKED_FIELDS = UPDATE_FIELDS | {"requester_id", "organization_id", "subject", "description"}

RoleOf = Callable[[str], str]


def is_history_event(event_id: str) -> bool:
    """True for the ids this module gives (deduped by id); False for webhook ids (deduped by meaning)."""
    return event_id.startswith((AUDIT_PREFIX, EXPORT_PREFIX))


# --- calling the API with bounded waits ----------------------------------------------------------


class Caller(RetryingCaller):
    """Run Zendesk API calls, waiting out `Transient` errors a bounded number of times."""

    source = "Zendesk"


def _get(client: ZendeskClient, call: Caller, path: str, what: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    # The client's transport: its error translation, auth and per-account rate-limit hold (it has no
    # public method for these two endpoints, and adding one there is out of this module's scope).
    body = call(client._request, "GET", path, what, params=params)
    if not isinstance(body, Mapping):
        raise Permanent(f"Zendesk answered {what} without a JSON object")
    return body


def list_audits(client: ZendeskClient, ticket_id: str, *, call: Caller | None = None) -> list[dict[str, Any]]:
    """Return every audit of a ticket, oldest first (`GET /api/v2/tickets/{id}/audits.json`, cursor pages)."""
    call = call or Caller()
    if not ticket_id.isdigit():
        raise Permanent("ticket id is not a valid Zendesk id")
    path, what = f"/api/v2/tickets/{ticket_id}/audits.json", f"audits of ticket {ticket_id}"
    audits: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page[size]": AUDIT_PAGE_SIZE}
    seen: set[str] = set()
    for _ in range(MAX_AUDIT_PAGES):
        body = _get(client, call, path, what, params)
        page = body.get("audits")
        if not isinstance(page, list):
            raise Permanent(f"Zendesk answered {what} without an 'audits' list")
        audits.extend(a for a in page if isinstance(a, dict))
        meta = body.get("meta")
        after = meta.get("after_cursor") if isinstance(meta, Mapping) else None
        if not (isinstance(meta, Mapping) and meta.get("has_more")) or not isinstance(after, str):
            return _oldest_first(audits)
        if after in seen:
            raise Permanent(f"Zendesk repeated a page cursor for {what}")
        seen.add(after)
        params = {"page[size]": AUDIT_PAGE_SIZE, "page[after]": after}
    raise Permanent(f"Zendesk returned more than {MAX_AUDIT_PAGES} pages for {what}")


def _oldest_first(audits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(audit: Mapping[str, Any]) -> tuple[str, int]:
        try:
            created = mapping.instant(audit.get("created_at"), "audit.created_at")
        except PayloadError:
            created = None  # `history_events` refuses it, naming the ticket
        number = audit.get("id")
        return (created.isoformat() if created else "", number if isinstance(number, int) else 0)

    return sorted(audits, key=key)


def _at(value: Any, what: str) -> datetime:
    """An instant Zendesk's API gave: ISO 8601 inside 1970-2099, else `PayloadError` naming `what`."""
    found = mapping.instant(value, what)
    if found is None:
        raise PayloadError(f"{what}: {mapping.shown(value)} is not an ISO 8601 timestamp")
    return found


# --- one ticket's audits → events (pure) ---------------------------------------------------------


def _custom_key(field_name: Any) -> str | None:
    text = str(field_name) if isinstance(field_name, int | str) and not isinstance(field_name, bool) else ""
    return text if text.isdigit() else None


class _State:
    """The REST-shaped ticket as it stood at some audit, custom fields kept by id."""

    def __init__(self, ticket: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = dict(ticket)
        self.custom: dict[str, Any] = {}
        fields = ticket.get("custom_fields")
        if isinstance(fields, list):
            for item in fields:
                if isinstance(item, Mapping) and "id" in item:
                    self.custom[str(item["id"])] = item.get("value")

    def set(self, field_name: Any, value: Any) -> None:
        custom = _custom_key(field_name)
        if custom is not None:
            self.custom[custom] = value
        elif field_name in TRACKED_FIELDS:
            self.raw[field_name] = value

    def ticket(self, field_names: Mapping[str, str], status_map: Mapping[str, str]) -> Ticket:
        raw = {**self.raw, "custom_fields": [{"id": k, "value": v} for k, v in self.custom.items()]}
        return mapping.ticket_from_api(raw, field_names=field_names, status_map=status_map)


def _events_of(audit: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    items = audit.get("events")
    return [e for e in items if isinstance(e, Mapping) and e.get("type") == kind] if isinstance(items, list) else []


def _comments_of(audit: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = audit.get("events")
    if not isinstance(items, list):
        return []
    return [e for e in items if isinstance(e, Mapping) and isinstance(e.get("type"), str)
            and e["type"].endswith("Comment")]  # Comment, VoiceComment …


def _rel(via: Any) -> str | None:
    """The `via.source.rel` of a via object, lower-cased (trigger, automation …), or None."""
    source = via.get("source") if isinstance(via, Mapping) else None
    rel = source.get("rel") if isinstance(source, Mapping) else None
    return rel.lower() if isinstance(rel, str) else None


def history_events(ticket: Mapping[str, Any], audits: Sequence[Mapping[str, Any]], *, account: str,
                   field_names: Mapping[str, str], status_map: Mapping[str, str], role_of: RoleOf,
                   own_user_ids: frozenset[str] = frozenset()) -> list[Event]:
    """Return a ticket's canonical events from its audits (oldest first), each with the snapshot after it."""
    ticket_id = mapping.map_id(ticket.get("id"), "ticket.id")
    if ticket_id is None:
        raise PayloadError("ticket.id: missing")
    state = _State(ticket)
    # Back to the ticket as created: undo every change, newest first, then apply what the Create audit set.
    for audit in reversed(audits):
        for change in reversed(_events_of(audit, "Change")):
            if "previous_value" in change:
                state.set(change.get("field_name"), change.get("previous_value"))
    for audit in audits:
        for create in _events_of(audit, "Create"):
            state.set(create.get("field_name"), create.get("value"))

    def event(kind: str, event_id: str, at: datetime, comment: Comment | None = None) -> Event:
        return _event(ticket_id, account, kind, event_id, at, state.ticket(field_names, status_map), comment)

    def comment_of(item: Mapping[str, Any], audit: Mapping[str, Any]) -> Comment:
        author = mapping.map_id(item.get("author_id"), "comment.author_id") or \
            mapping.map_id(audit.get("author_id"), "audit.author_id")
        requester = mapping.map_id(state.raw.get("requester_id"), "requester_id")
        if author is None:
            role = "system"
        elif author == requester:
            role = "end_user"
        else:
            role = role_of(author)
        via = item.get("via") if isinstance(item.get("via"), Mapping) else audit.get("via")
        public = item.get("public", True)
        automated = (author is None or author in own_user_ids or mapping.is_automated_via(via)
                     or _rel(via) in AUTOMATED_RELS)
        return Comment(author_role=role, public=public if isinstance(public, bool) else True, automated=automated,
                       author_id=author)

    events: list[Event] = []
    created = False
    if not any(_events_of(a, "Create") for a in audits):
        # An imported ticket, or audits we cannot see: the ticket was created as far as its values say.
        at = _at(ticket.get("created_at"), f"ticket {ticket_id}: created_at")
        events.append(event("ticket.created", f"{EXPORT_PREFIX}{ticket_id}:created", at))
        created = True
    for audit in audits:
        audit_id = mapping.map_id(audit.get("id"), "audit.id")
        if audit_id is None:
            raise PayloadError(f"ticket {ticket_id}: an audit lacks its id")
        at = _at(audit.get("created_at"), f"ticket {ticket_id}: audit {audit_id} created_at")
        changes = _events_of(audit, "Change")
        for change in changes:
            state.set(change.get("field_name"), change.get("value"))
        comments = _comments_of(audit)
        if not created and _events_of(audit, "Create"):
            created = True
            first = comment_of(comments[0], audit) if comments else None
            events.append(event("ticket.created", f"{AUDIT_PREFIX}{audit_id}", at, first))
            continue
        for item in comments:
            comment_id = mapping.map_id(item.get("id"), "comment.id") or str(len(events))
            events.append(event("comment.added", f"{AUDIT_PREFIX}{audit_id}:comment:{comment_id}", at,
                                comment_of(item, audit)))
        if any(c.get("field_name") in UPDATE_FIELDS or (_custom_key(c.get("field_name")) or "") in field_names
               for c in changes):
            events.append(event("ticket.updated", f"{AUDIT_PREFIX}{audit_id}", at))
    if _is_deleted(ticket.get("status")) and events and events[-1].ticket.status != DELETED:
        # deleted, though no audit we were shown says so: the deletion is the export's last word
        state.set("status", DELETED)
        at = max(events[-1].occurred_at, _at(ticket.get("updated_at"), f"ticket {ticket_id}: updated_at"))
        events.append(event("ticket.updated", f"{EXPORT_PREFIX}{ticket_id}:deleted:{int(at.timestamp())}", at))
    return events


def _is_deleted(status: Any) -> bool:
    return isinstance(status, str) and status.strip().lower() == DELETED


def deleted_ticket_events(ticket: Mapping[str, Any], *, account: str, field_names: Mapping[str, str],
                          status_map: Mapping[str, str]) -> list[Event]:
    """Return the events of a deleted ticket whose audits Zendesk no longer shows: created, then deleted.

    How it was created is not known any more: its values are the export's, with Zendesk's default status
    `new`; the deletion is dated at its `updated_at`.
    """
    ticket_id = mapping.map_id(ticket.get("id"), "ticket.id")
    if ticket_id is None:
        raise PayloadError("ticket.id: missing")
    created_at = _at(ticket.get("created_at"), f"ticket {ticket_id}: created_at")
    deleted_at = max(created_at, _at(ticket.get("updated_at"), f"ticket {ticket_id}: updated_at"))
    state = _State({**ticket, "status": "new"})
    created = _event(ticket_id, account, "ticket.created", f"{EXPORT_PREFIX}{ticket_id}:created", created_at,
                     state.ticket(field_names, status_map), None)
    state.raw["status"] = DELETED
    deleted = _event(ticket_id, account, "ticket.updated",
                     f"{EXPORT_PREFIX}{ticket_id}:deleted:{int(deleted_at.timestamp())}", deleted_at,
                     state.ticket(field_names, status_map), None)
    return [created, deleted]


def _event(ticket_id: str, account: str, kind: str, event_id: str, at: datetime, ticket: Ticket,
           comment: Comment | None) -> Event:
    try:
        return Event(source=SOURCE, account=account, ticket_id=ticket_id, event_id=event_id, occurred_at=at,
                     type=kind, ticket=ticket, comment=comment)
    except EventError as err:  # a value Zendesk answered that no event can hold
        raise PayloadError(f"ticket {ticket_id}: {err.message}") from None


# --- the export ----------------------------------------------------------------------------------


class _Roles:
    """Comment authors' roles, asked of Zendesk once per user (a user Zendesk cannot show counts as agent)."""

    def __init__(self, client: ZendeskClient, call: Caller) -> None:
        self._client = client
        self._call = call
        self._known: dict[str, str] = {}

    def __call__(self, user_id: str) -> str:
        role = self._known.get(user_id)
        if role is None:
            getter = getattr(self._client, "get_user_role", None)
            if getter is None:
                role = "agent"
            else:
                try:
                    role = mapping.map_role(self._call(getter, user_id))
                except (Permanent, PayloadError) as err:
                    log.warning("comment author's role unknown; counted as agent", extra={"outcome": str(err)})
                    role = "agent"
            self._known[user_id] = role
        return role


def start_time(since: datetime, now: float) -> int:
    """Unix seconds for `start_time`: at most a minute before now, as the export requires."""
    if since.tzinfo is None or since.utcoffset() is None:
        raise ValueError("since must be an aware datetime")
    return max(0, min(int(since.timestamp()), int(now) - EXPORT_LAG_SECONDS))


def iter_ticket_history(client: ZendeskClient, *, since: datetime, cursor: str | None, account: str,
                        field_names: Mapping[str, str] | None, status_map: Mapping[str, str] | None,
                        page_size: int = 100, own_user_ids: Sequence[str] = (),
                        sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time,
                        max_retries: int = MAX_RETRIES,
                        on_bad_ticket: Callable[[str, Exception], None] | None = None,
                        ) -> Iterator[tuple[list[Event], str | None]]:
    """Yield (events of a page of the export, the cursor to resume after it), until the end of the stream.

    `cursor` (a saved `after_cursor`) wins over `since`. A ticket whose values cannot be mapped (a status
    nobody mapped) raises `PayloadError`, or is passed to `on_bad_ticket` and skipped when that is given;
    a ticket deleted meanwhile (404 on its audits) is skipped with a warning. Events already yielded in this
    run are not yielded again when a ticket comes back on a later page.
    """
    if not 1 <= page_size <= MAX_EXPORT_PAGE_SIZE:
        raise ValueError(f"page_size must be 1-{MAX_EXPORT_PAGE_SIZE}")
    call = Caller(sleep=sleep, max_retries=max_retries)
    roles = _Roles(client, call)
    names = {str(k): str(v) for k, v in (field_names or {}).items()}
    statuses = {str(k): str(v) for k, v in (status_map or {}).items()}
    own = frozenset(str(u) for u in own_user_ids)
    params: dict[str, Any] = ({"cursor": cursor} if cursor else {"start_time": start_time(since, now())})
    params["per_page"] = page_size
    emitted: set[str] = set()
    seen: set[str] = set()
    while True:
        body = _get(client, call, EXPORT_PATH, "incremental ticket export", params)
        tickets = body.get("tickets")
        if not isinstance(tickets, list):
            raise Permanent("Zendesk answered the incremental ticket export without a 'tickets' list")
        after = body.get("after_cursor")
        after = after if isinstance(after, str) and after else None
        events: list[Event] = []
        for raw in tickets:
            if not isinstance(raw, Mapping):
                continue
            ticket_id = str(raw.get("id", ""))
            if not ticket_id.isdigit() or len(ticket_id) > 20:
                bad = PayloadError(f"ticket.id: {mapping.shown(raw.get('id'))} is not a Zendesk ticket id")
                if on_bad_ticket is None:
                    raise bad
                on_bad_ticket(ticket_id[:40], bad)
                continue
            deleted = _is_deleted(raw.get("status"))
            try:
                audits: list[dict[str, Any]] | None = list_audits(client, ticket_id, call=call)
            except Permanent as err:
                if "not found" not in str(err):
                    raise
                if not deleted:
                    log.warning("ticket deleted during the backfill; skipped", extra={"ticket_id": ticket_id})
                    continue
                audits = None  # a deleted ticket's audits are gone: the export says what is left
            try:
                if audits is None:
                    found = deleted_ticket_events(raw, account=account, field_names=names, status_map=statuses)
                else:
                    found = history_events(raw, audits, account=account, field_names=names, status_map=statuses,
                                           role_of=roles, own_user_ids=own)
            except PayloadError as err:
                if on_bad_ticket is None:
                    raise
                on_bad_ticket(ticket_id, err)
                continue
            for item in found:
                if item.event_id not in emitted:
                    emitted.add(item.event_id)
                    events.append(item)
        yield events, after or cursor
        if body.get("end_of_stream") is True or after is None:
            return
        if after in seen or after == cursor:
            raise Permanent("Zendesk repeated a cursor of the incremental ticket export")
        seen.add(after)
        cursor = after
        params = {"cursor": after, "per_page": page_size}


def describe_cursor(cursor: str | None) -> str:
    """A short, log-safe view of an export cursor (they are opaque base64; Zendesk's hold a Unix time)."""
    if not cursor:
        return "(start)"
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), validate=False).decode("ascii", "replace")
    except ValueError:
        text = ""
    head = text.split("|", 1)[0].split(".", 1)[0]
    if head.isdigit() and len(head) <= 11:
        try:
            return f"{cursor[:12]}… (~{datetime.fromtimestamp(int(head), UTC).isoformat(timespec='seconds')})"
        except (OverflowError, ValueError, OSError):  # a time no calendar holds: show the cursor only
            pass
    return cursor[:16] + ("…" if len(cursor) > 16 else "")
