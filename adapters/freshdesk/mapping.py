"""Freshdesk values → the canonical vocabulary (DESIGN §3.3). Pure functions: no I/O, no clock.

Freshdesk spells the same thing two ways: API v2 integers (`status` 2–5 and custom ≥ 6, `priority` 1–4,
`source` 1–10) and the labels its automation placeholders render (`Resolved`, `Waiting on Customer`,
`Urgent`, `Feedback Widget`, comma-separated tags). Every function here takes both. Priorities stay
Freshdesk's own numbers as strings "1".."4" (`priority_map.freshdesk` turns "4" into P1). A value that
cannot be mapped is a `PayloadError` naming the key and the value (cut short), so the worker keeps the
delivery as failed and the reason says what to add to `sources.freshdesk`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from adapters.values import MAX_VALUE_SHOWN, NO_VALUE, iso_instant, shown
from adapters.values import word as _word
from connector.errors import PayloadError
from connector.events import STATUSES, Requester, Ticket

STATUS_CODES: Mapping[int, str] = MappingProxyType({2: "open", 3: "pending", 4: "solved", 5: "closed"})
STATUS_LABELS: Mapping[str, str] = MappingProxyType({"open": "open", "pending": "pending",
                                                      "resolved": "solved", "closed": "closed"})
# Custom statuses every new account starts with (ids 6 and 7 by default, but renamable and removable): their
# labels have a default that `status_map` may override; their numbers never do.
DEFAULT_CUSTOM_LABELS: Mapping[str, str] = MappingProxyType({"waiting_on_customer": "pending",
                                                              "waiting_on_third_party": "on_hold"})
PRIORITY_LABELS: Mapping[str, str] = MappingProxyType({"low": "1", "medium": "2", "high": "3", "urgent": "4"})
SOURCE_CODES: Mapping[int, str] = MappingProxyType({
    1: "email", 2: "web", 3: "phone", 4: "web", 5: "social", 6: "social", 7: "chat", 8: "mobile", 9: "web",
    10: "email", 11: "web", 12: "chat", 13: "chat",
})
SOURCE_LABELS: Mapping[str, str] = MappingProxyType({
    "email": "email", "portal": "web", "phone": "phone", "forum": "web", "twitter": "social",
    "facebook": "social", "chat": "chat", "mobihelp": "mobile", "feedback_widget": "web",
    "outbound_email": "email", "ecommerce": "web", "e_commerce": "web", "bot": "chat", "whatsapp": "chat",
})
OUTBOUND_EMAIL = 10

_DIGITS = re.compile(r"[0-9]{1,20}")


def _number(value: Any) -> int | None:
    """The integer of an API number or a rendered digit string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def map_status(value: Any, status_map: Mapping[str, str] | None = None) -> str:
    """Map a Freshdesk status (2–5, a label, or a custom one through `status_map`) to a canonical status."""
    number = _number(value)
    if number is None and (not isinstance(value, str) or not _word(value)):
        raise PayloadError(f"status: expected a Freshdesk status number or label, got {shown(value)}")
    if number is not None and number in STATUS_CODES:
        return STATUS_CODES[number]
    word = "" if number is not None else _word(value)
    if word in STATUS_LABELS:
        return STATUS_LABELS[word]
    configured = dict(status_map or {})
    keys = [str(number)] if number is not None else [value, value.strip(), word]
    for key in keys:
        target = configured.get(key)
        if target is not None:
            if target not in STATUSES:
                raise PayloadError(f"status: sources.freshdesk.status_map maps {shown(value)} to {shown(target)}, "
                                   f"which is not one of {', '.join(STATUSES)}")
            return target
    if word in DEFAULT_CUSTOM_LABELS:
        return DEFAULT_CUSTOM_LABELS[word]
    raise PayloadError(f"status: {shown(value)} is a custom Freshdesk status; map it in sources.freshdesk.status_map")


def map_priority(value: Any) -> str | None:
    """Map a Freshdesk priority (1–4 or Low/Medium/High/Urgent) to "1".."4"; None, "" or "-" mean none."""
    if value is None:
        return None
    number = _number(value)
    if number is not None:
        if 1 <= number <= 4:
            return str(number)
        raise PayloadError(f"priority: {shown(value)} is not a Freshdesk priority (1-4)")
    if not isinstance(value, str):
        raise PayloadError(f"priority: expected a Freshdesk priority, got {shown(value)}")
    word = _word(value)
    if not word:
        return None
    if word not in PRIORITY_LABELS:
        raise PayloadError(f"priority: {shown(value)} is not one of Low, Medium, High, Urgent")
    return PRIORITY_LABELS[word]


def map_channel(value: Any) -> str | None:
    """Map a ticket `source` (API number or rendered label) to a canonical channel."""
    if value is None:
        return None
    number = _number(value)
    if number is not None:
        return SOURCE_CODES.get(number, f"source_{number}")
    if not isinstance(value, str):
        raise PayloadError(f"source: expected a Freshdesk source, got {shown(value)}")
    word = _word(value)
    if not word:
        return None
    return SOURCE_LABELS.get(word, word[:MAX_VALUE_SHOWN])


def map_tags(value: Any) -> tuple[str, ...]:
    """Return tags from a list or a comma-separated `{{ticket.tags}}` string, in order, without repeats."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = [item.strip() for item in value.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise PayloadError(f"tags: expected a list or a comma-separated string, got {shown(value)}")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise PayloadError(f"tags: expected strings, got {shown(item)}")
        if item and item not in tags:
            tags.append(item)
    return tuple(tags)


def map_id(value: Any, what: str) -> str | None:
    """Return a Freshdesk id as a string; None, "", "0" and "-" mean none."""
    if isinstance(value, bool):
        raise PayloadError(f"{what}: expected an id, got {shown(value)}")
    if value is None:
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str):
        text = value.strip()
        return None if text.lower() in NO_VALUE or text == "0" else text[:MAX_VALUE_SHOWN * 2]
    raise PayloadError(f"{what}: expected an id, got {shown(value)}")


def map_custom_fields(value: Any, field_names: Mapping[str, str]) -> dict[str, Any]:
    """Return the mapped custom fields by our name, from the API's `custom_fields` object keyed by field name.

    Fields not in `field_names` (e.g. `{"cf_customer_tier": "tier"}`) are left out: rules name fields.
    """
    if value is None or not field_names:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"custom_fields: expected an object keyed by field name, got {shown(value)}")
    fields: dict[str, Any] = {}
    for key, field_value in value.items():
        name = field_names.get(str(key))
        if name is not None:
            fields[name] = field_value
    return fields


def map_requester(requester_id: Any, company_id: Any, fields: Mapping[str, Any]) -> Requester:
    """Build the requester: ids as strings, tier from the custom field mapped to the name `tier`."""
    tier = fields.get("tier")
    return Requester(id=map_id(requester_id, "requester_id"), org=map_id(company_id, "company_id"),
                     tier=None if tier is None or tier == "" else str(tier))


def _text(obj: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise PayloadError(f"{key}: expected a string, got {shown(value)}")
        return value
    return ""


def ticket_from_api(ticket_json: Mapping[str, Any], *, field_names: Mapping[str, str],
                    status_map: Mapping[str, str]) -> Ticket:
    """Build a canonical `Ticket` from an API v2 ticket (`include=stats,requester` extras are tolerated)."""
    if not isinstance(ticket_json, Mapping):
        raise PayloadError(f"ticket: expected an object, got {shown(ticket_json)}")
    fields = map_custom_fields(ticket_json.get("custom_fields"), field_names)
    created = ticket_json.get("created_at")
    created_at = iso_instant(created)
    if created is not None and created_at is None:
        raise PayloadError(f"created_at: {shown(created)} is not an ISO 8601 timestamp")
    requester_id = ticket_json.get("requester_id")
    requester = ticket_json.get("requester")
    if requester_id is None and isinstance(requester, Mapping):
        requester_id = requester.get("id")
    return Ticket(
        status=map_status(ticket_json.get("status"), status_map),
        priority=map_priority(ticket_json.get("priority")),
        channel=map_channel(ticket_json.get("source")),
        group=map_id(ticket_json.get("group_id"), "group_id"),
        assignee=map_id(ticket_json.get("responder_id"), "responder_id"),
        requester=map_requester(requester_id, ticket_json.get("company_id"), fields),
        subject=_text(ticket_json, "subject"),
        description=_text(ticket_json, "description_text", "description"),
        tags=map_tags(ticket_json.get("tags")),
        fields=MappingProxyType(fields),
        created_at=created_at,
    )
