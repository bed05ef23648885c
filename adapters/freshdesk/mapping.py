"""Freshdesk values → the canonical vocabulary (DESIGN §3.3). Pure functions: no I/O, no clock.

Freshdesk spells the same thing two ways: API v2 integers (`status` 2–5 and custom ≥ 6, `priority` 1–4,
`source` 1–10) and the labels its automation placeholders render (`Resolved`, `Waiting on Customer`,
`Urgent`, `Feedback Widget`, comma-separated tags). Every function here takes both. Priorities stay
Freshdesk's own numbers as strings "1".."4" (`priority_map.freshdesk` turns "4" into P1). A value that
cannot be mapped is a `PayloadError` naming the key, so the worker keeps the delivery as failed and the
reason says what to add to `sources.freshdesk`.

Reasons never repeat text that came in a request or an API answer (a webhook body is customer data and the
reason goes back to the sender and into the inbox): `described` names a value's kind and size instead, and
shows only numbers (status 42, priority 7). The stored delivery keeps the body for whoever must look.

Instants are ISO 8601 with `Z` or an offset inside `connector.events`' accepted range (1970 to 2099):
`instant` refuses anything else with a `PayloadError` naming the key; `iso_instant` is the lenient reading
(None) for values that may legitimately be absent or human (a rendered placeholder). Identifiers are at most
`MAX_ID_LENGTH` printable characters; the ids that go into event ids (ticket, conversation) are 1-20 digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from adapters import values
from adapters.values import MAX_VALUE_SHOWN, NO_VALUE, shown, tag_tuple
from adapters.values import word as _word
from connector.errors import EventError, PayloadError
from connector.events import INSTANT_RANGE, MAX_ID_LENGTH, STATUSES, Requester, Ticket

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
MAX_NUMBER_SHOWN = 20  # digits: a longer number is described, not shown


def described(value: Any) -> str:
    """Describe a value for an error reason without repeating its text: numbers as they are, else kind and size."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value)))
        return str(value) if digits <= MAX_NUMBER_SHOWN else f"a number of {digits} digits"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        if not value.strip():
            return "an empty text"
        if "{{" in value:
            return "an unrendered placeholder"
        return f"a text of {len(value)} character{'s' if len(value) != 1 else ''}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _read_instant(value: Any) -> tuple[datetime | None, bool]:
    """Return (the instant if ISO 8601 with Z or an offset and in range, whether it was ISO but out of range)."""
    return values.read_iso(value)


def iso_instant(value: Any) -> datetime | None:
    """Return the UTC instant of an ISO 8601 timestamp (Z or an offset) in the accepted range, else None."""
    return _read_instant(value)[0]


def instant(value: Any, key: str) -> datetime | None:
    """Return the instant of `key` (None when null); raise `PayloadError` naming `key` for anything else."""
    if value is None:
        return None
    found, outside = _read_instant(value)
    if found is not None:
        return found
    if outside:
        raise PayloadError(f"{key}: the instant is outside {INSTANT_RANGE}")
    raise PayloadError(f"{key}: expected an ISO 8601 instant with Z or an offset, got {described(value)}")


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
        raise PayloadError(f"status: expected a Freshdesk status number or label, got {described(value)}")
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
                raise PayloadError(f"status: sources.freshdesk.status_map maps {described(value)} to {shown(target)}, "
                                   f"which is not one of {', '.join(STATUSES)}")
            return target
    if word in DEFAULT_CUSTOM_LABELS:
        return DEFAULT_CUSTOM_LABELS[word]
    if number is not None:
        raise PayloadError(f"status: {number} is a custom Freshdesk status; map it in sources.freshdesk.status_map")
    raise PayloadError(f"status: the label ({described(value)}) is no Freshdesk status; map it, or better its number "
                       f"(the API sends numbers), in sources.freshdesk.status_map")


def map_priority(value: Any) -> str | None:
    """Map a Freshdesk priority (1–4 or Low/Medium/High/Urgent) to "1".."4"; None, "" or "-" mean none."""
    if value is None:
        return None
    number = _number(value)
    if number is not None:
        if 1 <= number <= 4:
            return str(number)
        raise PayloadError(f"priority: {number} is not a Freshdesk priority (1-4)")
    if not isinstance(value, str):
        raise PayloadError(f"priority: expected a Freshdesk priority, got {described(value)}")
    word = _word(value)
    if not word:
        return None
    if word not in PRIORITY_LABELS:
        raise PayloadError(f"priority: the label ({described(value)}) is not one of Low, Medium, High, Urgent")
    return PRIORITY_LABELS[word]


def map_channel(value: Any) -> str | None:
    """Map a ticket `source` (API number or rendered label) to a canonical channel."""
    if value is None:
        return None
    number = _number(value)
    if number is not None:
        return SOURCE_CODES.get(number, f"source_{number}")
    if not isinstance(value, str):
        raise PayloadError(f"source: expected a Freshdesk source, got {described(value)}")
    word = _word(value)
    if not word:
        return None
    return SOURCE_LABELS.get(word, word[:MAX_VALUE_SHOWN])


def map_tags(value: Any) -> tuple[str, ...]:
    """Return tags from a list or a comma-separated `{{ticket.tags}}` string, in order, without repeats."""
    return tag_tuple(value, separator=",", separator_name="comma", show=described)


def map_id(value: Any, what: str) -> str | None:
    """Return a Freshdesk id as a string; None, "", "0" and "-" mean none; `PayloadError` for what no id can be."""
    if isinstance(value, bool):
        raise PayloadError(f"{what}: expected an id, got {described(value)}")
    if value is None:
        return None
    if isinstance(value, int):
        text = str(value)
        if value <= 0:
            return None
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in NO_VALUE or text == "0":
            return None
    else:
        raise PayloadError(f"{what}: expected an id, got {described(value)}")
    if len(text) > MAX_ID_LENGTH:
        raise PayloadError(f"{what}: an id of {len(text)} characters; at most {MAX_ID_LENGTH}")
    if not text.isprintable():
        raise PayloadError(f"{what}: the id holds a control character (NUL, newline, …)")
    return text


def numeric_id(value: Any, what: str) -> str:
    """Return an id that goes into event ids (a ticket's, a conversation's): 1-20 digits, else `PayloadError`."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise PayloadError(f"{what}: expected a Freshdesk id (digits), got {described(value)}")
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        raise PayloadError(f"{what}: expected a Freshdesk id (1-20 digits), got {described(value)}")
    return text


def safe_id(value: Any) -> str:
    """Return an id fit for a log line or a reason: itself if 1-20 digits, else only its description."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is not None and _DIGITS.fullmatch(text):
        return text
    return f"({described(value)})"


def map_custom_fields(value: Any, field_names: Mapping[str, str]) -> dict[str, Any]:
    """Return the mapped custom fields by our name, from the API's `custom_fields` object keyed by field name.

    Fields not in `field_names` (e.g. `{"cf_customer_tier": "tier"}`) are left out: rules name fields.
    """
    if value is None or not field_names:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"custom_fields: expected an object keyed by field name, got {described(value)}")
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
            raise PayloadError(f"{key}: expected a string, got {described(value)}")
        return value
    return ""


def ticket_from_api(ticket_json: Mapping[str, Any], *, field_names: Mapping[str, str],
                    status_map: Mapping[str, str]) -> Ticket:
    """Build a canonical `Ticket` from an API v2 ticket (`include=stats,requester` extras are tolerated)."""
    if not isinstance(ticket_json, Mapping):
        raise PayloadError(f"ticket: expected an object, got {described(ticket_json)}")
    fields = map_custom_fields(ticket_json.get("custom_fields"), field_names)
    created_at = instant(ticket_json.get("created_at"), "created_at")
    requester_id = ticket_json.get("requester_id")
    requester = ticket_json.get("requester")
    if requester_id is None and isinstance(requester, Mapping):
        requester_id = requester.get("id")
    try:
        return _ticket(ticket_json, fields, requester_id, created_at, status_map)
    except EventError as err:  # an identifier too long or not printable: the message names it, not its text
        raise PayloadError(err.message) from None


def _ticket(ticket_json: Mapping[str, Any], fields: dict[str, Any], requester_id: Any, created_at: datetime | None,
            status_map: Mapping[str, str]) -> Ticket:
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
