"""Freshdesk write-back: carry out one outbox action through `FreshdeskClient`.

    set_due_date  `sources.freshdesk.due_fields[metric]` is `due_by` (resolution) or `fr_due_by` (first
                  response); sent as UTC ISO 8601 `Z`. Skipped (with the reason) when the metric is not
                  mapped, the value is already there, the ticket is resolved/closed, or fr_due_by is asked
                  after the first response. Freshdesk wants due_by ≥ fr_due_by while the first response is
                  pending: when the new value would break that, both are sent, the other one moved to the
                  same instant (the rules core's own write for the other metric then corrects it, in
                  either order); when the other one can no longer change, skipped with the reason.
                  Who owns the native fields (`due_by_owner`, see below) decides whether they are written
                  or the instant goes to `due_custom_fields[metric]` instead.
    add_tags      read, merge (+ the marker tag), PUT the whole list, re-read to verify
    remove_tags   read, filter, PUT the whole list, re-read to verify
    set_priority  Low/Medium/High/Urgent or 1–4 → PUT {"priority": int}
    set_group     group name → id (GET groups, cached per writer, refreshed once on a miss), PUT {"group_id"}
    add_note      POST tickets/{id}/notes {"body": escaped HTML, "private": true}; a retry first lists the
                  ticket's conversations and skips a private note saying the same (`body_text`) since the
                  action was decided (an earlier try Freshdesk applied but whose answer was lost)
    notify        skipped: not a Freshdesk action

Quirks: Freshdesk's `tags` REPLACES the list and there is no optimistic concurrency (no safe_update), so
a tag write is read-modify-write, verified by a re-read; if a concurrent writer lost our change, it is
done once more on fresh data, then Conflict. Every action but add_note reads the ticket first: a closed
ticket (status 5) is skipped (write-back would re-fire Freshdesk rules for nothing), and a value already
there is skipped.
Due dates on the newer SLA policies: such accounts recalculate `due_by`/`fr_due_by` seconds after any update,
and the update's own answer still shows the value sent, so only a later read tells. With `due_by_owner:
auto` (the default) the first native write is read back `due_readback_delay` later (one wait per writer,
`sleep` is injectable): if Freshdesk changed it, the native fields are Freshdesk's for the writer's
lifetime (logged once, with the setting that makes it permanent) and due instants go to the mapped custom
fields; if it stayed, they are the connector's and nothing is read back again. `freshdesk` never writes
the native fields, `connector` always does. A native field Freshdesk owns is never written again: the
connector does not fight Freshdesk in a write loop. Custom fields take `due_field_format` (an ISO instant
for a text field, the UTC date for a date field); a metric mapped only to a custom field is always written
there.
Outcomes: `sent`, or `skipped` with a reason. Failures are the client's `Transient` / `Conflict` / `Permanent`.
"""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.base import WriteAction, WriteResult
from adapters.freshdesk.client import FreshdeskClient, utc_z
from adapters.freshdesk.const import SOURCE
from adapters.writer import ApiWriter, tag_list
from connector.config import FreshdeskSourceConfig, SourceConfig
from connector.errors import Conflict, EventError, Permanent, WriteError
from connector.events import parse_instant

log = logging.getLogger("adapters.freshdesk.writeback")

PRIORITIES = {"low": 1, "medium": 2, "high": 3, "urgent": 4}
DUE_FIELDS = ("due_by", "fr_due_by")
RESOLVED, CLOSED = 4, 5
TAG_TRIES = 2  # the first try and one more after a concurrent writer lost our change


class FreshdeskWriter(ApiWriter):
    """The Freshdesk adapter's `Writer`: one outbox action → a read and one or two REST calls."""

    source = SOURCE
    label = "Freshdesk"
    note_kind = "private note"

    def __init__(self, client: FreshdeskClient | None, source_config: SourceConfig, *,
                 marker_tag: str = "sla_connector", sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(client, source_config, marker_tag=marker_tag)
        settings = source_config if isinstance(source_config, FreshdeskSourceConfig) else FreshdeskSourceConfig()
        self._custom_fields = dict(settings.due_custom_fields)
        self._readback_delay = float(settings.due_readback_delay)
        # who owns due_by/fr_due_by: "connector", "freshdesk", or None while `auto` has not found out yet
        self._due_owner: str | None = None if settings.due_by_owner == "auto" else settings.due_by_owner
        self._sleep = sleep

    def _write(self, client: FreshdeskClient, action: WriteAction) -> WriteResult:
        params = action.params
        kind = action.action
        if kind == "notify":
            return WriteResult(outcome="skipped", detail="notify is not a Freshdesk action")
        if kind == "add_note":
            body = params.get("body")
            if not isinstance(body, str) or not body.strip():
                raise Permanent("add_note needs a non-empty body")
            if (there := self._note_there(client, action, body)) is not None:
                return there
            client.add_private_note(action.ticket_id, html.escape(body).replace("\n", "<br>"))
            return WriteResult(outcome="sent", detail="private note added")
        if kind == "add_tags":
            tags = self._with_marker(tag_list(params))
            return self._tags(client, action.ticket_id, tags, add=True)
        if kind == "remove_tags":
            return self._tags(client, action.ticket_id, tag_list(params), add=False)
        if kind == "set_priority":
            priority = _priority(params.get("priority"))
            return self._set(client, action.ticket_id, "priority", priority)
        if kind == "set_group":
            return self._set(client, action.ticket_id, "group_id", self._group_id(client, params.get("group")))
        if kind == "set_due_date":
            return self._set_due_date(client, action)
        raise Permanent(f"unknown write-back action {kind!r}")

    # -- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def _open_ticket(client: FreshdeskClient, ticket_id: str) -> tuple[dict[str, Any], WriteResult | None]:
        ticket = client.get_ticket(ticket_id)
        if ticket.get("status") == CLOSED:
            return ticket, WriteResult(outcome="skipped", detail=f"ticket {ticket_id} is closed")
        return ticket, None

    def _set(self, client: FreshdeskClient, ticket_id: str, name: str, value: int) -> WriteResult:
        ticket, skipped = self._open_ticket(client, ticket_id)
        if skipped:
            return skipped
        if ticket.get(name) == value:
            return WriteResult(outcome="skipped", detail=f"{name} already {value}")
        client.update_ticket(ticket_id, {name: value})
        return WriteResult(outcome="sent", detail=f"{name} {value}")

    def _tags(self, client: FreshdeskClient, ticket_id: str, tags: list[str], *, add: bool) -> WriteResult:
        def done(current: list[str]) -> bool:
            return all(t in current for t in tags) if add else not any(t in current for t in tags)

        def merged(current: list[str]) -> list[str]:
            return list(dict.fromkeys([*current, *tags])) if add else [t for t in current if t not in tags]

        verb = "added" if add else "removed"
        for attempt in range(1, TAG_TRIES + 1):
            ticket, skipped = self._open_ticket(client, ticket_id)
            if skipped:
                return skipped
            current = _current_tags(ticket)
            if done(current):
                if attempt == 1:
                    return WriteResult(outcome="skipped", detail=f"tags already {verb}")
                return WriteResult(outcome="sent", detail=f"{verb} {len(tags)} tag(s)")
            client.update_ticket(ticket_id, {"tags": merged(current)})
            if done(_current_tags(client.get_ticket(ticket_id))):
                suffix = " after a concurrent change" if attempt > 1 else ""
                return WriteResult(outcome="sent", detail=f"{verb} {len(tags)} tag(s){suffix}")
        raise Conflict(f"tags of ticket {ticket_id} kept changing concurrently; our change was lost twice")

    def _list_groups(self, client: FreshdeskClient) -> list[dict[str, Any]]:
        return list(client.list_groups())

    def _private_notes(self, client: FreshdeskClient, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's private notes: their text (`body_text`, else the HTML `body`) and `created_at`."""
        return [{"text": c.get("body_text") or c.get("body") or "", "created_at": c.get("created_at")}
                for c in client.list_conversations(ticket_id) if isinstance(c, dict) and c.get("private") is True]

    @property
    def due_owner(self) -> str | None:
        """Who owns `due_by`/`fr_due_by`: "connector", "freshdesk", or None while `auto` has not found out."""
        return self._due_owner

    def _set_due_date(self, client: FreshdeskClient, action: WriteAction) -> WriteResult:
        metric = action.params.get("metric")
        field = self._config.due_fields.get(str(metric)) if metric is not None else None
        custom = self._custom_fields.get(str(metric)) if metric is not None else None
        if field is None and custom is None:
            return WriteResult(outcome="skipped", detail=f"no field mapped for {metric}")
        if field is not None and field not in DUE_FIELDS:
            raise Permanent(f"due field for {metric} must be due_by or fr_due_by on Freshdesk")
        due_at = _instant(action.params.get("due_at"))
        ticket, skipped = self._open_ticket(client, action.ticket_id)
        if skipped:
            return skipped
        if ticket.get("status") == RESOLVED:
            return WriteResult(outcome="skipped", detail=f"ticket {action.ticket_id} is resolved")
        if field is not None and self._due_owner != "freshdesk":
            result = self._write_native(client, action, ticket, str(metric), field, utc_z(due_at))
            if self._due_owner is not None or result.outcome != "sent" or self._kept(client, action, field, due_at):
                return result
            if custom is None:
                return WriteResult(outcome="skipped", detail=f"Freshdesk recalculated {field} after it was written "
                                                             f"(its newer SLA policies own it); map "
                                                             f"due_custom_fields.{metric} to write it elsewhere")
            ticket = client.get_ticket(action.ticket_id)
        if custom is None:
            return WriteResult(outcome="skipped", detail=f"{field} belongs to Freshdesk's SLA policies on this "
                                                         f"account; map due_custom_fields.{metric} to write it")
        return self._write_custom(client, action, ticket, str(metric), custom, due_at)

    def _kept(self, client: FreshdeskClient, action: WriteAction, field: str, due_at: datetime) -> bool:
        """Read a native due date back after the delay; decide who owns the native fields (`auto`)."""
        self._sleep(self._readback_delay)
        try:
            later = _instant_or_none(client.get_ticket(action.ticket_id).get(field))
        except WriteError:  # nothing learnt: the next native write reads back again
            return True
        if later is not None and later == due_at.replace(microsecond=0):
            self._due_owner = "connector"
            return True
        self._due_owner = "freshdesk"
        log.warning("Freshdesk recalculated a due date the connector wrote: its SLA policies own due_by and "
                    "fr_due_by on this account; due instants go to sources.freshdesk.due_custom_fields from now on "
                    "(set due_by_owner: freshdesk to skip this check)",
                    extra={"source": SOURCE, "ticket_id": action.ticket_id, "action": action.action,
                           "outcome": "due_by_owner freshdesk"})
        return False

    @staticmethod
    def _write_native(client: FreshdeskClient, action: WriteAction, ticket: Mapping[str, Any], metric: str,
                      field: str, value: str) -> WriteResult:
        stats = ticket.get("stats")
        responded = isinstance(stats, Mapping) and stats.get("first_responded_at") is not None
        if field == "fr_due_by" and responded:
            return WriteResult(outcome="skipped", detail="first response already sent; fr_due_by is fixed")
        current = _instant_or_none(ticket.get(field))
        if current is not None and utc_z(current) == value:
            return WriteResult(outcome="skipped", detail=f"{field} already {value}")
        changes: dict[str, str] = {field: value}
        other = "fr_due_by" if field == "due_by" else "due_by"
        other_at = _instant_or_none(ticket.get(other))
        new_at = _instant(value)
        clash: Callable[[datetime], bool] = (lambda o: new_at < o) if field == "due_by" else (lambda o: new_at > o)
        if not responded and other_at is not None and clash(other_at):
            changes[other] = value  # keep due_by ≥ fr_due_by: move the other one to the same instant
        client.update_ticket(action.ticket_id, changes)
        moved = f" (and {other}, to keep due_by ≥ fr_due_by)" if other in changes else ""
        return WriteResult(outcome="sent", detail=f"{metric} due {value} in {field}{moved}")

    def _write_custom(self, client: FreshdeskClient, action: WriteAction, ticket: Mapping[str, Any], metric: str,
                      name: str, due_at: datetime) -> WriteResult:
        value = (due_at.astimezone(UTC).date().isoformat() if self._config.due_field_format == "date"
                 else utc_z(due_at))
        fields = ticket.get("custom_fields")
        if isinstance(fields, Mapping) and fields.get(name) == value:
            return WriteResult(outcome="skipped", detail=f"{name} already {value}")
        client.update_ticket(action.ticket_id, {"custom_fields": {name: value}})
        return WriteResult(outcome="sent", detail=f"{metric} due {value} in {name}")


def _current_tags(ticket: Mapping[str, Any]) -> list[str]:
    tags = ticket.get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _priority(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in PRIORITIES:
            return PRIORITIES[text]
        if text in ("1", "2", "3", "4"):
            return int(text)
    raise Permanent("priority must be Low, Medium, High, Urgent or 1-4")


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
        raise Permanent("due_at is a naive datetime; the rules core gives aware UTC ones")
    try:
        return parse_instant(value, "due_at", bounded=False)  # the core's own: it may lie past 2099
    except EventError as err:
        raise Permanent("due_at is not an ISO 8601 instant") from err


def _instant_or_none(value: Any) -> datetime | None:
    try:
        return parse_instant(value, "due date") if value is not None else None
    except EventError:
        return None
