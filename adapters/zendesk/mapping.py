"""Zendesk values → the canonical vocabulary (DESIGN §3.3). Pure functions: no I/O, no clock.

Zendesk spells the same thing three ways: the REST API (`open`, `normal`, `via.channel: "web"`), event
webhooks (`OPEN`, `NORMAL`, `via.channel: "web_service"`, ids as strings) and rendered trigger placeholders
(display labels: `Open`, `On-hold`, `Normal`, `Web Form`, tags space-separated). Every function here takes
all three. A value that cannot be mapped is a `PayloadError` naming the key and the value (cut short), so
the worker keeps the delivery as failed and the reason says what to add to `sources.zendesk`.

Instants (`read_instant`): ISO 8601 with `Z` or an offset, to the second or to the minute (the
`{{ticket.*_with_timestamp}}` placeholders render `2013-12-12T05:35Z`), fractions up to nanoseconds, inside
the accepted range (`connector.events.INSTANT_RANGE`). Text that does not begin like an ISO date (a human
date rendered by `{{ticket.updated_at}}`, an unrendered placeholder) is no instant at all (None); text that
does but is not one (`2025-02-30T10:00Z`, no zone, year 0001 or 9999) is a `PayloadError` naming the key.

Identifiers (`map_id`) are 1-255 printable characters (`connector.events.MAX_ID_LENGTH`), never cut short.

Statuses: `deleted` (REST, audits, the export), `DELETED` and `SCRUBBED` (event webhooks) are the canonical
`deleted`; `archived` is `closed`. Channels: every via type of Zendesk's via types reference (by name or by
via id), the REST channel names and the labels `{{ticket.via}}` renders map to one of web, email, chat,
phone, sms, social, api, mobile, rule, system, internal (`VIA_CHANNELS`); a value nobody mapped is kept,
as a slug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from adapters.values import MAX_VALUE_SHOWN, NO_VALUE, shown, tag_tuple
from adapters.values import word as _word
from connector.errors import EventError, PayloadError
from connector.events import DELETED, INSTANT_RANGE, MAX_ID_LENGTH, STATUSES, Requester, Ticket, check_instant

STATUS_NAMES: Mapping[str, str] = MappingProxyType({
    "new": "new", "open": "open", "pending": "pending",
    "hold": "on_hold", "on_hold": "on_hold",
    "solved": "solved", "closed": "closed",
    "archived": "closed",  # archived tickets are closed tickets moved to cold storage
    "deleted": DELETED,    # soft-deleted (REST, audits, the export; DELETED in event webhooks)
    "scrubbed": DELETED,   # deleted, then its content scrubbed for good (event webhooks)
})
PRIORITIES = ("urgent", "high", "normal", "low")

# Zendesk's via types reference: via id → via type (ids 1-3, 6, 7 and 18 are not used).
VIA_TYPES: Mapping[int, str] = MappingProxyType({
    0: "web_form", 4: "mail", 5: "web_service", 8: "rule", 9: "linked_problem", 10: "group_deletion",
    11: "user_change", 12: "user_deletion", 13: "group_change", 14: "resource_push", 15: "iphone",
    16: "get_satisfaction", 17: "dropbox", 19: "merge", 20: "batch", 21: "recovered_from_suspended_tickets",
    22: "automatic_solution_suggestions", 23: "twitter_favorite", 24: "topic", 25: "user_merge",
    26: "twitter_dm", 27: "closed_ticket", 28: "logmein_rescue", 29: "chat", 30: "twitter", 31: "ticket_sharing",
    32: "macro_reference", 33: "voicemail", 34: "phone_call_inbound", 35: "phone_call_outbound", 36: "blog",
    37: "text_message", 38: "facebook_post", 39: "import", 40: "github", 41: "facebook_message", 42: "lotus",
    43: "monitor_event", 44: "api_voicemail", 45: "api_phone_call_inbound", 46: "api_phone_call_outbound",
    47: "churned_account", 48: "web_widget", 49: "mobile_sdk", 50: "helpcenter", 51: "sample_ticket",
    52: "sample_interactive_ticket", 53: "admin_setting", 54: "satisfaction_prediction", 55: "any_channel",
    56: "mobile", 57: "sms", 58: "ticket_tagging", 59: "connect_ipm", 60: "connect_mail", 61: "connect_sms",
    62: "rule_revision", 63: "answer_bot_for_agents", 64: "answer_bot_for_slack", 65: "answer_bot_for_sdk",
    66: "answer_bot_api", 67: "answer_bot_for_web_widget", 68: "symphony", 69: "side_conversation",
    70: "answer_bot", 71: "omnichannel", 72: "line", 73: "wechat", 74: "whatsapp", 75: "native_messaging",
    76: "mailgun", 77: "messagebird_sms", 78: "sunshine_conversations_facebook_messenger", 79: "telegram",
    80: "twilio_sms", 81: "viber", 82: "google_rcs", 83: "apple_business_chat", 84: "google_business_messages",
    85: "kakaotalk", 86: "instagram_dm", 87: "sunshine_conversations_api", 88: "sunshine_conversations_twitter_dm",
    89: "chat_offline_message", 90: "chat_transcript", 91: "business_messaging_slack_connect",
})


def _group(channel: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, channel)


# Where the ticket came from. Zendesk's own grouping (the reference's channel column: dropbox, batch,
# closed_ticket and lotus are `web`; ticket_sharing, blog, import and github are `api`) is followed, except
# that a CTI call (api_voicemail, api_phone_call_*) is `phone`: the customer phoned, an integration logged it.
VIA_CHANNELS: Mapping[str, str] = MappingProxyType({
    **_group("web", "web_form", "dropbox", "batch", "closed_ticket", "lotus", "web_widget", "helpcenter",
             "topic", "get_satisfaction", "connect_ipm", "answer_bot_for_web_widget"),
    **_group("email", "mail", "mailgun", "connect_mail", "recovered_from_suspended_tickets"),
    **_group("api", "web_service", "ticket_sharing", "blog", "import", "github", "any_channel", "answer_bot_api"),
    **_group("phone", "voicemail", "phone_call_inbound", "phone_call_outbound", "api_voicemail",
             "api_phone_call_inbound", "api_phone_call_outbound"),
    **_group("chat", "chat", "chat_transcript", "chat_offline_message", "logmein_rescue", "native_messaging",
             "line", "wechat", "whatsapp", "telegram", "viber", "kakaotalk", "apple_business_chat",
             "google_business_messages", "sunshine_conversations_api", "business_messaging_slack_connect",
             "symphony", "answer_bot_for_slack"),
    **_group("sms", "sms", "text_message", "twilio_sms", "messagebird_sms", "google_rcs", "connect_sms"),
    **_group("social", "twitter", "twitter_dm", "twitter_favorite", "facebook_post", "facebook_message",
             "instagram_dm", "sunshine_conversations_facebook_messenger", "sunshine_conversations_twitter_dm"),
    **_group("mobile", "mobile", "mobile_sdk", "iphone", "answer_bot_for_sdk"),
    # made by Zendesk's business rules and bots
    **_group("rule", "rule", "rule_revision", "automatic_solution_suggestions", "satisfaction_prediction",
             "ticket_tagging", "answer_bot", "answer_bot_for_agents"),
    # Zendesk's own bookkeeping: merges, deletions, sample tickets …
    **_group("system", "linked_problem", "group_deletion", "user_change", "user_deletion", "group_change",
             "resource_push", "merge", "user_merge", "macro_reference", "monitor_event", "churned_account",
             "sample_ticket", "sample_interactive_ticket", "admin_setting", "omnichannel"),
    # a ticket an agent opened from another ticket (a side conversation's child ticket)
    **_group("internal", "side_conversation"),
})
# REST `via.channel` names that are not via types, and the labels `{{ticket.via}}` renders, as slugs.
CHANNEL_ALIASES: Mapping[str, str] = MappingProxyType({
    "web": "web", "help_center": "web", "forum": "web", "email": "email", "api": "api", "voice": "phone",
    "phone": "phone", "facebook": "social", "messaging": "chat", "internal": "internal", "automation": "rule",
    "trigger": "rule", "business_rule": "rule",
    "web_service_api": "api", "trigger_automation": "rule", "feedback_tab": "web", "help_center_post": "web",
    "phone_call_incoming": "phone", "cti_voicemail": "phone", "cti_phone_call_inbound": "phone",
    "cti_phone_call_outbound": "phone", "twitter_like": "social", "facebook_private_message": "social",
    "channel_framework": "api",
})
CHANNELS: Mapping[str, str] = MappingProxyType({**VIA_CHANNELS, **CHANNEL_ALIASES})
# Comments made through these are Zendesk's own (business rules, bots): never an agent's reply.
AUTOMATED_VIA = frozenset({"automation", "trigger", *(name for name, channel in VIA_CHANNELS.items()
                                                      if channel == "rule")})
ROLES: Mapping[str, str] = MappingProxyType({"end-user": "end_user", "end_user": "end_user",
                                             "agent": "agent", "admin": "agent"})
MAX_INSTANT_CHARS = 64

_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
                  r"(Z|z|[+-][0-9]{2}:[0-9]{2})")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SLUG_GAPS = re.compile(r"[^a-z0-9]+")


# --- instants ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instant:
    """An instant read from Zendesk, and whether it was given to the second (False: to the minute)."""

    at: datetime
    to_the_second: bool = True

    @property
    def latest(self) -> datetime:
        """The last instant this value may stand for: the end of its minute when given to the minute."""
        return self.at if self.to_the_second else self.at + timedelta(seconds=59, microseconds=999999)


def read_instant(value: Any, key: str) -> Instant | None:
    """Read an ISO 8601 instant; None for text that is no ISO date; `PayloadError` naming `key` for a bad one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _ISO_DATE.match(text):
        return None  # a human date, a placeholder left unrendered, a number …
    match = _ISO.fullmatch(text) if len(text) <= MAX_INSTANT_CHARS else None
    if match is None:
        raise PayloadError(f"{key}: {shown(value)} is not an ISO 8601 instant like 2013-12-12T05:35:00Z "
                           "(date, time to the minute or second, and Z or an offset)")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        offset = timedelta(0) if zone in ("Z", "z") else \
            (1 if zone[0] == "+" else -1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                         int((fraction or "0")[:6].ljust(6, "0")), tzinfo=timezone(offset))
    except ValueError:
        raise PayloadError(f"{key}: {shown(value)} is not a valid date and time") from None
    try:
        at = check_instant(local, key).astimezone(UTC)
    except (EventError, OverflowError):  # 0001-01-01T00:00+14:00 is before the first representable instant
        raise PayloadError(f"{key}: {shown(value)} is outside {INSTANT_RANGE}") from None
    return Instant(at, to_the_second=second is not None)


def instant(value: Any, key: str) -> datetime | None:
    """Return the aware UTC datetime `read_instant` reads, or None."""
    found = read_instant(value, key)
    return None if found is None else found.at


# --- statuses, priorities, channels --------------------------------------------------------------


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


def slug(value: str) -> str:
    """Lower-case a label, other characters as one underscore: "Phone call (incoming)" → phone_call_incoming."""
    return _SLUG_GAPS.sub("_", value.strip().lower()).strip("_")


def via_channel(via: Any) -> str | None:
    """Return the raw via type or channel name of `via` (an object, a via id or a rendered label) as a slug."""
    if isinstance(via, Mapping):
        via = via.get("channel")
    if via is None or isinstance(via, bool):
        return None
    if isinstance(via, int):  # REST and audits may give the via id
        via = VIA_TYPES.get(via, str(via))
    if not isinstance(via, str):
        raise PayloadError(f"via.channel: expected a string, got {shown(via)}")
    if via.strip().lower() in NO_VALUE:
        return None
    return slug(via)[:MAX_VALUE_SHOWN] or None


def map_channel(via: Any) -> str | None:
    """Map `via` (an object with `channel`, a via id, or a rendered `{{ticket.via}}` label) to a canonical channel."""
    name = via_channel(via)
    if name is None:
        return None
    return CHANNELS.get(name, name)  # a channel nobody mapped yet is kept as it is


def is_automated_via(via: Any) -> bool:
    """True when `via` says Zendesk itself made the change (a trigger, an automation, a bot)."""
    try:
        name = via_channel(via)
    except PayloadError:
        return False
    return name is not None and name in AUTOMATED_VIA


def map_tags(value: Any) -> tuple[str, ...]:
    """Return tags from a list or a space-separated `{{ticket.tags}}` string, in order, without repeats."""
    return tag_tuple(value, separator=None, separator_name="space", show=shown)


def map_id(value: Any, what: str) -> str | None:
    """Return a Zendesk id as a string; None, "", "0" and "-" mean none; too long or unprintable is refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{what}: expected an id, got {shown(value)}")
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if not isinstance(value, str):
        raise PayloadError(f"{what}: expected an id, got {shown(value)}")
    text = value.strip()
    if text in NO_VALUE or text == "0":
        return None
    if len(text) > MAX_ID_LENGTH:
        raise PayloadError(f"{what}: {len(text)} characters; an id has at most {MAX_ID_LENGTH}")
    if not text.isprintable():
        raise PayloadError(f"{what}: holds a control character (NUL, newline, …); ids are printable text")
    return text


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
    tier_text = None if tier is None or tier == "" else str(tier)
    if tier_text is not None and (len(tier_text) > MAX_ID_LENGTH or not tier_text.isprintable()):
        raise PayloadError(f"tier: the custom field mapped to tier holds {shown(tier_text)}, not a short label")
    return Requester(id=map_id(requester_id, "requester_id"), org=map_id(organization_id, "organization_id"),
                     tier=tier_text)


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
    created_at = instant(created, "created_at")
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
