"""Freshdesk history → canonical events: tickets listed by `updated_since`, each with its stats and conversations.

`iter_ticket_history` reads
`GET /api/v2/tickets?updated_since=…&order_by=updated_at&order_type=asc&include=stats&per_page=100` page by
page (`updated_since` is always sent: without it Freshdesk lists only the last 30 days), following the
`link` header from page to page (no header: the last page). The listing embeds every ticket's `stats` (3
API credits per page of 100, where reading each ticket with `include=stats` cost 2 per ticket); for every
ticket it then reads the conversations and turns the lot into events, oldest first:

    created_at                                    ticket.created, carrying the description as its comment
    each conversation (reply, note, incoming)     comment.added
    stats.pending_since / resolved_at /           ticket.updated (status pending / solved / closed / open)
    closed_at / reopened_at (and status_updated_at for the current status, when none of those explains it)
    updated_at, when later than all of those      ticket.updated with the current values (a change that left
                                                  no other trace: a priority, group or tag changed silently)

Freshdesk's API gives no field history: only the current values are known. Every snapshot is the current
ticket, except its status, which follows the timeline the stats timestamps allow (open at creation when a
later status change is known; each stats instant sets its status). Intermediate statuses that left no
stats timestamp (a second pending spell, a custom status changed twice …) are lost; so are earlier values
of priority, group, agent and tags, and a change recovered only from `updated_at` is dated then.

Event ids are the webhook path's (`adapters/freshdesk/inbound.py`) where the webhook path has a stable one:
`fd:<ticket>:<created_at>:ticket.created`, `fd:<ticket>:conversation:<id>` and, for the current values,
`fd:<ticket>:<updated_at>:ticket.updated` (what an undated webhook delivery read right after the change
gives), so an event already delivered by a webhook is stored once. Status events have ids of their own,
`fd:<ticket>:stats:<name>:<instant>` (`is_history_event`): the webhook's
`fd:<ticket>:<updated_at>:ticket.updated` for the same change is recognised by type and instant by
`adapters.freshdesk.reconcile`. Conversations are the webhook path's too (`inbound.conversation_comment`):
a reply whose `user_id` is the requester's is the requester's, whatever `incoming` says.

Each page is yielded with the page number to read next (for the caller to save and resume). Freshdesk
refuses pages beyond the 300th: after the last allowed page the window slides (`updated_since` = the last
ticket's `updated_at`, page 1), `on_slide` is told the new window, and tickets already done in this run are
recognised by (id, updated_at) and skipped. A `Transient` (429 with Retry-After, 5xx, timeout) is waited out
and the call tried again, a bounded number of times, before it is raised.

A ticket the connector cannot read (an id that is no Freshdesk id, an instant outside 1970–2099, a status
nobody mapped) raises `PayloadError` naming the key, or is passed to `on_bad_ticket` and skipped when that
is given: never a `ValueError` or an `OverflowError`.

Known gap: page numbers over a list that changes while it is read can skip a ticket (one updated during the
walk moves to the end and shifts the rest back); the next reconciliation poll, whose window overlaps, or a
re-run of the backfill picks it up when it changes again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from adapters.freshdesk import mapping
from adapters.freshdesk.client import MAX_PAGES, Page
from adapters.freshdesk.const import SOURCE
from adapters.freshdesk.inbound import conversation_comment
from adapters.retry import MAX_RETRIES, RetryingCaller
from connector.errors import EventError, PayloadError, Permanent
from connector.events import Comment, Event, Ticket, format_instant

log = logging.getLogger("adapters.freshdesk.backfill")

STATS_PREFIX = "stats"
# stats timestamp → the API status it stands for (2 open, 3 pending, 4 resolved, 5 closed)
STATUS_STATS: tuple[tuple[str, int], ...] = (("pending_since", 3), ("resolved_at", 4), ("closed_at", 5),
                                             ("reopened_at", 2))
OPEN = 2


class FreshdeskHistoryApi(Protocol):
    """What the backfill reads (implemented by `adapters.freshdesk.client.FreshdeskClient`)."""

    def get_ticket(self, ticket_id: int | str) -> Mapping[str, Any]: ...

    def list_conversations(self, ticket_id: int | str) -> Sequence[Mapping[str, Any]]: ...

    def list_tickets_updated_since(self, since: datetime | str, page: int = 1) -> Page: ...


def is_history_event(event_id: str) -> bool:
    """True for the status events only this module gives (deduped by id; matched to webhooks by meaning)."""
    parts = event_id.split(":", 3)
    return len(parts) == 4 and parts[0] == "fd" and parts[2] == STATS_PREFIX


# --- calling the API with bounded waits ----------------------------------------------------------


class Caller(RetryingCaller):
    """Run Freshdesk API calls, waiting out `Transient` errors a bounded number of times."""

    source = "Freshdesk"


# --- one ticket → events (pure) ------------------------------------------------------------------


def _creating_comment(raw: Mapping[str, Any], requester: str | None, assignee: str | None,
                      own_user_ids: frozenset[str]) -> Comment:
    """As the webhook path: the description, by the requester, or by the agent of an outbound email."""
    source = raw.get("source")
    outbound = source == mapping.OUTBOUND_EMAIL or source == str(mapping.OUTBOUND_EMAIL) or (
        isinstance(source, str) and source.strip().lower() == "outbound email")
    if outbound:
        return Comment(author_role="agent", public=True, author_id=assignee, automated=assignee in own_user_ids)
    return Comment(author_role="end_user" if requester is not None else "system", public=True, author_id=requester)


def status_timeline(ticket: Mapping[str, Any]) -> tuple[Any, list[tuple[datetime, str, Any]]]:
    """Return (the status at creation, [(instant, stats key, status)] after it, oldest first).

    The current status is the last word: a stats instant later than `status_updated_at` cannot be the
    last change, so it is kept only when it is not after it; `status_updated_at` itself is a point when no
    stats key explains the current status at that instant. A stats instant that is not ISO 8601 or lies
    outside 1970–2099 is a `PayloadError` naming it.
    """
    created = mapping.instant(ticket.get("created_at"), "created_at")
    current = ticket.get("status")
    stats = ticket.get("stats")
    stats = stats if isinstance(stats, Mapping) else {}
    last = mapping.instant(stats.get("status_updated_at"), "stats.status_updated_at")
    points: list[tuple[datetime, str, Any]] = []
    for key, status in STATUS_STATS:
        at = mapping.instant(stats.get(key), f"stats.{key}")
        if at is None or (created is not None and at <= created) or (last is not None and at > last):
            continue
        points.append((at, key, status))
    points.sort(key=lambda p: p[0])
    if last is not None and (created is None or last > created):
        explained = any(at == last and str(status) == str(current) for at, _, status in points)
        if not explained:
            points = [p for p in points if p[0] != last]
            points.append((last, "status_updated_at", current))
    initial = OPEN if points else current
    return initial, points


def history_events(ticket: Mapping[str, Any], conversations: Sequence[Mapping[str, Any]], *, account: str,
                   field_names: Mapping[str, str], status_map: Mapping[str, str],
                   own_user_ids: frozenset[str] = frozenset()) -> list[Event]:
    """Return a ticket's canonical events (oldest first) from its current values, stats and conversations."""
    ticket_id = mapping.numeric_id(ticket.get("id"), "ticket.id")
    created = mapping.instant(ticket.get("created_at"), f"ticket {ticket_id}: created_at")
    if created is None:
        raise PayloadError(f"ticket {ticket_id}: created_at is missing")
    updated = mapping.instant(ticket.get("updated_at"), f"ticket {ticket_id}: updated_at")
    initial, points = status_timeline(ticket)
    snapshots: dict[str, Ticket] = {}

    def snapshot(status: Any) -> Ticket:
        key = str(status)
        if key not in snapshots:
            snapshots[key] = mapping.ticket_from_api({**ticket, "status": status}, field_names=field_names,
                                                     status_map=status_map)
        return snapshots[key]

    def status_at(at: datetime) -> Any:
        status = initial
        for when, _, value in points:
            if when <= at:
                status = value
        return status

    first = snapshot(initial)
    requester = first.requester.id
    timed: list[tuple[datetime, int, Event]] = [(created, 0, Event(
        source=SOURCE, account=account, ticket_id=ticket_id, type="ticket.created", occurred_at=created,
        event_id=f"fd:{ticket_id}:{format_instant(created)}:ticket.created", ticket=first,
        comment=_creating_comment(ticket, requester, first.assignee, own_user_ids)))]
    for position, item in enumerate(conversations):
        at = mapping.instant(item.get("created_at"), f"ticket {ticket_id}: conversation.created_at")
        if at is None or item.get("id") is None:
            raise PayloadError(f"ticket {ticket_id}: a conversation lacks its id or its created_at")
        conversation_id = mapping.numeric_id(item.get("id"), f"ticket {ticket_id}: conversation.id")
        timed.append((at, 1 + position, Event(
            source=SOURCE, account=account, ticket_id=ticket_id, type="comment.added", occurred_at=at,
            event_id=f"fd:{ticket_id}:conversation:{conversation_id}", ticket=snapshot(status_at(at)),
            comment=conversation_comment(item, ticket_id, requester, own_user_ids))))
    for at, key, status in points:  # after a comment of the same instant: a reply that sets pending
        timed.append((at, 1 + len(conversations), Event(
            source=SOURCE, account=account, ticket_id=ticket_id, type="ticket.updated", occurred_at=at,
            event_id=f"fd:{ticket_id}:{STATS_PREFIX}:{key}:{format_instant(at)}", ticket=snapshot(status))))
    if updated is not None and all(updated > at for at, _, _ in timed):
        # the last change left no other trace (a priority, group or tags): the current values, at updated_at
        timed.append((updated, 2 + len(conversations), Event(
            source=SOURCE, account=account, ticket_id=ticket_id, type="ticket.updated", occurred_at=updated,
            event_id=f"fd:{ticket_id}:{format_instant(updated)}:ticket.updated",
            ticket=snapshot(ticket.get("status")))))
    timed.sort(key=lambda t: (t[0], t[1]))
    return [event for _, _, event in timed]


# --- the listing ---------------------------------------------------------------------------------


def _utc_z(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("since must be an aware datetime")
    text = format_instant(at.replace(microsecond=0))
    assert text is not None
    return text


def iter_ticket_history(client: FreshdeskHistoryApi, *, since: datetime, page_start: int = 1, account: str,
                        field_names: Mapping[str, str] | None, status_map: Mapping[str, str] | None,
                        own_user_ids: Sequence[str] = (), sleep: Callable[[float], None] = time.sleep,
                        max_retries: int = MAX_RETRIES, max_pages: int = MAX_PAGES,
                        on_slide: Callable[[datetime], None] | None = None,
                        done: set[tuple[str, str]] | None = None,
                        on_bad_ticket: Callable[[str, Exception], None] | None = None,
                        ) -> Iterator[tuple[list[Event], int]]:
    """Yield (events of a page of tickets updated since `since`, the page to read next), to the last page.

    The page without a `link` to a next one is the last. After page `max_pages` (Freshdesk's cap, 300) the
    window slides to the last ticket's `updated_at` and the next page is 1; `on_slide` gets the new window
    before that page is yielded. A ticket that cannot be read (an id or instant no ticket can have, a status
    nobody mapped) raises `PayloadError`, or is passed to `on_bad_ticket` and skipped when that is given; a
    ticket deleted meanwhile (404) is skipped with a warning. `done` holds the (id, updated_at) of tickets
    already read (skipped when listed again); it is added to as tickets are read, so a caller can keep it.
    """
    if not 1 <= page_start <= max_pages:
        raise ValueError(f"page_start must be 1..{max_pages}")
    if not 1 <= max_pages <= MAX_PAGES:
        raise ValueError(f"max_pages must be 1..{MAX_PAGES}")
    call = Caller(sleep=sleep, max_retries=max_retries)
    names = {str(k): str(v) for k, v in (field_names or {}).items()}
    statuses = {str(k): str(v) for k, v in (status_map or {}).items()}
    own = frozenset(str(u) for u in own_user_ids)
    window, page = _utc_z(since), page_start
    done = done if done is not None else set()
    while True:
        listed = call(client.list_tickets_updated_since, window, page)
        if not isinstance(listed, Page):
            raise Permanent("Freshdesk answered the ticket listing without a list")
        events: list[Event] = []
        last_updated: str | None = None
        for raw in listed.items:
            if not isinstance(raw, Mapping):
                continue
            ticket_id = str(raw.get("id", ""))
            updated = raw.get("updated_at")
            if isinstance(updated, str):
                last_updated = updated
            key = (ticket_id, str(updated))
            if key in done:
                continue
            done.add(key)
            events.extend(_ticket_events(client, call, raw, ticket_id, account=account, field_names=names,
                                         status_map=statuses, own=own, on_bad_ticket=on_bad_ticket))
        if listed.next_page is None:
            yield events, page
            return
        if listed.next_page <= max_pages:
            page = listed.next_page
            yield events, page
            continue
        slid = mapping.iso_instant(last_updated)
        if slid is None:
            raise Permanent("Freshdesk listed tickets without an ISO 8601 updated_at; cannot slide the window")
        new_window = _utc_z(slid)
        if new_window == window:
            raise Permanent(f"more than {max_pages} pages of tickets share updated_at {window}; "
                            f"the listing cannot get past them")
        log.info("Freshdesk page cap reached; sliding the window", extra={"outcome": f"updated_since {new_window}"})
        window, page = new_window, 1
        if on_slide is not None:
            on_slide(slid.replace(microsecond=0))
        yield events, page


def _ticket_events(client: FreshdeskHistoryApi, call: Caller, raw: Mapping[str, Any], ticket_id: str, *,
                   account: str, field_names: Mapping[str, str], status_map: Mapping[str, str],
                   own: frozenset[str], on_bad_ticket: Callable[[str, Exception], None] | None) -> list[Event]:
    try:
        ticket_id = mapping.numeric_id(raw.get("id"), "ticket.id")  # before it goes into a URL or an id
        ticket: Mapping[str, Any] = raw
        if not isinstance(raw.get("stats"), Mapping):  # a listing without include=stats: read the ticket
            ticket = call(client.get_ticket, ticket_id)
        conversations = call(client.list_conversations, ticket_id)
        return history_events(ticket, conversations, account=account, field_names=field_names,
                              status_map=status_map, own_user_ids=own)
    except Permanent as err:
        if "not found" not in str(err):
            raise
        log.warning("ticket deleted during the backfill; skipped", extra={"ticket_id": mapping.safe_id(ticket_id)})
        return []
    except (PayloadError, EventError) as err:
        if on_bad_ticket is None:
            raise
        on_bad_ticket(mapping.safe_id(ticket_id), err)
        return []
