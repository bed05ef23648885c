"""Zendesk write-back: carry out one outbox action through `ZendeskClient`.

    add_tags      PUT tickets/{id}/tags.json (adds; never replaces the ticket's other tags) + the marker tag
    remove_tags   DELETE tickets/{id}/tags.json with the tags
    set_priority  PUT tickets/{id}.json {"priority"}
    set_group     group name → id (GET groups.json, cached per writer), PUT {"group_id"}; when Zendesk
                  refuses because the assignee is not in that group (422 on assignee_id), again unassigned
    add_note      PUT {"comment": {"body", "public": false}}: an internal note; a retry first lists the
                  ticket's comments and skips a private one saying the same since the action was decided
                  (an earlier try that Zendesk applied but whose answer was lost: a timeout, a 502)
    set_due_date  the custom field `sources.zendesk.due_fields[metric]`, as a safe update with the ticket's
                  current `updated_at`; on 409 re-fetch and re-apply once, then Conflict. Date fields get the
                  UTC calendar day (YYYY-MM-DD), other fields the instant as ISO 8601 `Z`.
    notify        skipped: not a Zendesk action

Outcomes: `sent`, or `skipped` with a reason (no field mapped, value already there, not configured).
Failures are the client's `Transient` / `Conflict` / `Permanent`; a closed ticket is Permanent.
The marker tag makes the connector's own updates recognisable when they come back as webhooks.

A 409 (Zendesk saw a newer ticket, or an update collided) is never answered by sending the same call again
blind: the ticket is read again first (`GET tickets/{id}.json`, which also finds a ticket closed meanwhile),
then the action is tried once more; a second 409 is a `Conflict` for the executor, and the next try of any
action on that ticket starts by reading it again. `held_for()` tells the executor how long Zendesk's rate
limit (a 429's Retry-After, an exhausted window) still holds every call, so no try is spent waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.base import WriteAction, WriteResult
from adapters.writer import ApiWriter, tag_list
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.const import SOURCE
from connector.config import SourceConfig
from connector.errors import Conflict, EventError, Permanent
from connector.events import format_instant, parse_instant

PRIORITIES = ("urgent", "high", "normal", "low")
SAFE_UPDATE_TRIES = 2  # the first try and one re-fetch after a 409


class ZendeskWriter(ApiWriter):
    """The Zendesk adapter's `Writer`: one outbox action → one or two REST calls."""

    source = SOURCE
    label = "Zendesk"
    note_kind = "internal note"

    def __init__(self, client: ZendeskClient | None, source_config: SourceConfig, *,
                 marker_tag: str = "sla_connector") -> None:
        super().__init__(client, source_config, marker_tag=marker_tag)
        self._stale: set[str] = set()  # tickets whose last write got a 409: read them before writing again

    def write(self, action: WriteAction) -> WriteResult:
        """Carry out one action; raise `Transient`, `Conflict` or `Permanent` on failure."""
        client = self._client
        if client is None:
            return super().write(action)
        ticket_id = action.ticket_id
        if ticket_id in self._stale and action.action not in ("set_due_date", "notify"):
            self._refetch(client, ticket_id)  # set_due_date reads the ticket first anyway
        try:
            result = self._write(client, action)
        except Conflict:
            self._stale.add(ticket_id)
            raise
        self._stale.discard(ticket_id)
        return result

    def _write(self, client: ZendeskClient, action: WriteAction) -> WriteResult:
        params = action.params
        kind = action.action
        if kind == "add_tags":
            tags = self._with_marker(tag_list(params))
            self._refetching(client, action.ticket_id, lambda: client.add_tags(action.ticket_id, tags))
            return WriteResult(outcome="sent", detail=f"added {len(tags)} tag(s)")
        if kind == "remove_tags":
            tags = tag_list(params)
            self._refetching(client, action.ticket_id, lambda: client.remove_tags(action.ticket_id, tags))
            return WriteResult(outcome="sent", detail=f"removed {len(tags)} tag(s)")
        if kind == "set_priority":
            priority = params.get("priority")
            if priority not in PRIORITIES:
                raise Permanent(f"priority must be one of {', '.join(PRIORITIES)}")
            self._refetching(client, action.ticket_id, lambda: client.update_ticket(
                action.ticket_id, {"priority": priority}, updated_stamp=None))
            return WriteResult(outcome="sent", detail=f"priority {priority}")
        if kind == "set_group":
            group_id = self._group_id(client, params.get("group"))
            try:
                self._refetching(client, action.ticket_id, lambda: client.update_ticket(
                    action.ticket_id, {"group_id": group_id}, updated_stamp=None))
            except Permanent as err:
                if "assignee_id" not in str(err):
                    raise
                # the assignee is not a member of the new group: escalate to the group, unassigned
                self._refetching(client, action.ticket_id, lambda: client.update_ticket(
                    action.ticket_id, {"group_id": group_id, "assignee_id": None}, updated_stamp=None))
                return WriteResult(outcome="sent", detail=f"group {group_id}, assignee cleared")
            return WriteResult(outcome="sent", detail=f"group {group_id}")
        if kind == "add_note":
            body = params.get("body")
            if not isinstance(body, str) or not body.strip():
                raise Permanent("add_note needs a non-empty body")
            if (there := self._note_there(client, action, body)) is not None:
                return there
            self._refetching(client, action.ticket_id, lambda: client.add_internal_note(action.ticket_id, body))
            return WriteResult(outcome="sent", detail="internal note added")
        if kind == "set_due_date":
            return self._set_due_date(client, action)
        if kind == "notify":
            return WriteResult(outcome="skipped", detail="notify is not a Zendesk action")
        raise Permanent(f"unknown write-back action {kind!r}")

    def _refetching(self, client: ZendeskClient, ticket_id: str, send: Callable[[], object]) -> None:
        """Send; on a 409 read the ticket again, then send once more (a second 409 is the executor's)."""
        for attempt in range(1, SAFE_UPDATE_TRIES + 1):
            try:
                send()
                return
            except Conflict:
                if attempt == SAFE_UPDATE_TRIES:
                    raise
                self._refetch(client, ticket_id)

    @staticmethod
    def _refetch(client: ZendeskClient, ticket_id: str) -> Mapping[str, Any]:
        """Read the ticket again after a 409; a ticket closed meanwhile can take no update (Permanent)."""
        ticket = client.get_ticket(ticket_id)
        if ticket.get("status") == "closed":
            raise Permanent(f"ticket {ticket_id} is closed; Zendesk rejects updates to closed tickets")
        return ticket

    def _list_groups(self, client: ZendeskClient) -> list[dict[str, Any]]:
        return [g for g in client.list_groups() if not g.get("deleted")]

    def _private_notes(self, client: ZendeskClient, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's private comments: their text (`plain_body`, else `body`) and `created_at`."""
        return [{"text": c.get("plain_body") or c.get("body") or "", "created_at": c.get("created_at")}
                for c in client.list_comments(ticket_id) if isinstance(c, dict) and c.get("public") is False]

    def _set_due_date(self, client: ZendeskClient, action: WriteAction) -> WriteResult:
        metric = action.params.get("metric")
        field = self._config.due_fields.get(str(metric)) if metric is not None else None
        if field is None:
            return WriteResult(outcome="skipped", detail=f"no field mapped for {metric}")
        try:
            field_id = int(field)
        except ValueError:
            raise Permanent(f"due field for {metric} must be a Zendesk ticket field id") from None
        due_at = _instant(action.params.get("due_at"))
        value = (due_at.astimezone(UTC).date().isoformat() if self._config.due_field_format == "date"
                 else _format_instant(due_at))
        for attempt in range(1, SAFE_UPDATE_TRIES + 1):
            ticket = client.get_ticket(action.ticket_id)
            if ticket.get("status") == "closed":
                raise Permanent(f"ticket {action.ticket_id} is closed; Zendesk rejects updates to closed tickets")
            if _field_value(ticket, field_id) == value:
                return WriteResult(outcome="skipped", detail=f"field {field_id} already holds {value}")
            stamp = ticket.get("updated_at")
            try:
                client.update_ticket(action.ticket_id, {"custom_fields": [{"id": field_id, "value": value}]},
                                     updated_stamp=stamp if isinstance(stamp, str) else None)
            except Conflict:
                if attempt == SAFE_UPDATE_TRIES:
                    raise
                continue
            return WriteResult(outcome="sent", detail=f"{metric} due {value} in field {field_id}")
        raise AssertionError("unreachable")  # pragma: no cover


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Permanent("due_at is a naive datetime; the rules core gives aware UTC ones")
        return value
    try:
        return parse_instant(value, "due_at", bounded=False)  # the core's own: it may lie past 2099
    except EventError as err:
        raise Permanent("due_at is not an ISO 8601 instant") from err


def _format_instant(dt: datetime) -> str:
    text = format_instant(dt)
    assert text is not None  # an aware datetime always formats
    return text


def _field_value(ticket: Mapping[str, Any], field_id: int) -> Any:
    fields = ticket.get("custom_fields")
    if isinstance(fields, list):
        for entry in fields:
            if isinstance(entry, Mapping) and entry.get("id") == field_id:
                return entry.get("value")
    return None
