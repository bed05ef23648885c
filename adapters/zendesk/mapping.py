"""Zendesk values → the canonical vocabulary (DESIGN §3.3). Pure functions: no I/O, no clock.

Zendesk spells the same thing three ways: the REST API (`open`, `normal`, `via.channel: "web"`), event
webhooks (`OPEN`, `NORMAL`, `via.channel: "web_service"`, ids as strings) and rendered trigger placeholders
(display labels: `Open`, `On-hold`, `Normal`, `Web Form`, tags space-separated). Every function here takes
all three. A value that cannot be mapped is a `PayloadError` naming the key and the value (cut short), so
the worker keeps the delivery as failed and the reason says what to add to `sources.zendesk`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from adapters.values import MAX_VALUE_SHOWN, NO_VALUE, iso_instant, shown
from adapters.values import word as _word
from connector.errors import PayloadError
from connector.events import STATUSES, Requester, Ticket

STATUS_NAMES: Mapping[str, str] = MappingProxyType({
    "new": "new", "open": "open", "pending": "pending",
    "hold": "on_hold", "on_hold": "on_hold",
    "solved": "solved", "closed": "closed",
    "archived": "closed",  # archived tickets are closed tickets moved to cold storage
})
PRIORITIES = ("urgent", "high", "normal", "low")
CHANNELS: Mapping[str, str] = MappingProxyType({
    "web": "web", "web_form": "web", "web_widget": "web", "help_center": "web",
    "email": "email", "mail": "email",
    "chat": "chat", "chat_transcript": "chat", "native_messaging": "chat", "messaging": "chat",
    "api": "api", "web_service": "api",
    "voice": "phone", "phone": "phone", "phone_call_inbound": "phone", "phone_call_outbound": "phone",
    "voicemail": "phone",
    "mobile": "mobile", "mobile_sdk": "mobile",
    "rule": "rule", "automation": "rule", "trigger": "rule", "business_rule": "rule",
    "sms": "sms", "twitter": "social", "facebook": "social", "any_channel": "api",
})
ROLES: Mapping[str, str] = MappingProxyType({"end-user": "end_user", "end_user": "end_user",
                                             "agent": "agent", "admin": "agent"})



def map_status(value: Any, status_map: Mapping[str, str] | None = None) -> str:
    """Map a Zendesk status (REST, UPPERCASE or display label) or a `status_map` entry to a canonical status."""
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"status: expected a Zendesk status, got {shown(value)}")
    mapped = STATUS_NAMES.get(_word(value))
    if mapped is not None:
        return mapped
    configured = dict(status_map or {})
    for key in (value, value.strip(), _word(value)):
        target = configured.get(key)
        if target is not None:
            if target not in STATUSES:
                raise PayloadError(f"status: sources.zendesk.status_map maps {shown(value)} to {shown(target)}, "
                                   f"which is not one of {', '.join(STATUSES)}")
            return target
    raise PayloadError(f"status: {shown(value)} is not a Zendesk status; map it in sources.zendesk.status_map")


def map_priority(value: Any) -> str | None:
    """Map a Zendesk priority (any case) to urgent/high/normal/low; None, "" or "-" mean no priority."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"priority: expected a Zendesk priority, got {shown(value)}")
    word = _word(value)
    if word in NO_VALUE:
        return None
    if word not in PRIORITIES:
        raise PayloadError(f"priority: {shown(value)} is not one of {', '.join(PRIORITIES)}")
    return word


def map_channel(via: Any) -> str | None:
    """Map `via` (an object with `channel`, or a rendered `{{ticket.via}}` label) to a canonical channel."""
    if isinstance(via, Mapping):
        via = via.get("channel")
    if via is None or isinstance(via, bool):
        return None
    if isinstance(via, int):  # REST via type ids: 0 web_form, 4 mail, 5 web_service, 8 rule
        via = {0: "web_form", 4: "mail", 5: "web_service", 8: "rule"}.get(via, str(via))
    if not isinstance(via, str):
        raise PayloadError(f"via.channel: expected a string, got {shown(via)}")
    word = _word(via)
    if word in NO_VALUE:
        return None
    return CHANNELS.get(word, word[:MAX_VALUE_SHOWN])


def map_tags(value: Any) -> tuple[str, ...]:
    """Return tags from a list or a space-separated `{{ticket.tags}}` string, in order, without repeats."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split()
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise PayloadError(f"tags: expected a list or a space-separated string, got {shown(value)}")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise PayloadError(f"tags: expected strings, got {shown(item)}")
        if item and item not in tags:
            tags.append(item)
    return tuple(tags)


def map_id(value: Any, what: str) -> str | None:
    """Return a Zendesk id as a string; None, "", "0" and "-" mean none."""
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            raise PayloadError(f"{what}: expected an id, got {shown(value)}")
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str):
        text = value.strip()
        return None if text in NO_VALUE or text == "0" else text[:MAX_VALUE_SHOWN * 2]
    raise PayloadError(f"{what}: expected an id, got {shown(value)}")


def map_role(value: Any) -> str:
    """Map a Zendesk user role (end-user, agent, admin) to a comment author role (end_user, agent)."""
    role = ROLES.get(value.strip().lower()) if isinstance(value, str) else None
    if role is None:
        raise PayloadError(f"role: {shown(value)} is not a Zendesk user role (end-user, agent, admin)")
    return role


def map_custom_fields(value: Any, field_names: Mapping[str, str]) -> dict[str, Any]:
    """Return the mapped custom fields by name, from REST `[{"id", "value"}]` or an `{id: value}` object.

    Fields whose id is not in `field_names` are left out: rules name fields, not ids.
    """
    if value is None or not field_names:
        return {}
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list):
        pairs = []
        for item in value:
            if not isinstance(item, Mapping) or "id" not in item:
                raise PayloadError(f"custom_fields: expected objects with id and value, got {shown(item)}")
            pairs.append((item["id"], item.get("value")))
    else:
        raise PayloadError(f"custom_fields: expected a list of {{id, value}} objects, got {shown(value)}")
    fields: dict[str, Any] = {}
    for field_id, field_value in pairs:
        name = field_names.get(str(field_id))
        if name is not None:
            fields[name] = field_value
    return fields


def map_requester(requester_id: Any, organization_id: Any, fields: Mapping[str, Any]) -> Requester:
    """Build the requester: ids as strings, tier from the custom field mapped to the name `tier`."""
    tier = fields.get("tier")
    return Requester(id=map_id(requester_id, "requester_id"), org=map_id(organization_id, "organization_id"),
                     tier=None if tier is None or tier == "" else str(tier))


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{key}: expected a string, got {shown(value)}")
    return value


def ticket_from_api(ticket_json: Mapping[str, Any], *, field_names: Mapping[str, str],
                    status_map: Mapping[str, str]) -> Ticket:
    """Build a canonical `Ticket` from a REST ticket object (also accepts event-webhook `detail` spellings)."""
    if not isinstance(ticket_json, Mapping):
        raise PayloadError(f"ticket: expected an object, got {shown(ticket_json)}")
    fields = map_custom_fields(ticket_json.get("custom_fields"), field_names)
    created = ticket_json.get("created_at")
    created_at = iso_instant(created)
    if created is not None and created_at is None:
        raise PayloadError(f"created_at: {shown(created)} is not an ISO 8601 timestamp")
    return Ticket(
        status=map_status(ticket_json.get("status"), status_map),
        priority=map_priority(ticket_json.get("priority")),
        channel=map_channel(ticket_json.get("via")),
        group=map_id(ticket_json.get("group_id"), "group_id"),
        assignee=map_id(ticket_json.get("assignee_id"), "assignee_id"),
        requester=map_requester(ticket_json.get("requester_id"), ticket_json.get("organization_id"), fields),
        subject=_text(ticket_json, "subject"),
        description=_text(ticket_json, "description"),
        tags=map_tags(ticket_json.get("tags")),
        fields=MappingProxyType(fields),
        created_at=created_at,
    )
