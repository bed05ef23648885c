"""Zendesk values in all three spellings (REST, event webhook, rendered trigger) → canonical vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.zendesk.mapping import (
    AUTOMATED_VIA,
    CHANNELS,
    VIA_CHANNELS,
    VIA_TYPES,
    Instant,
    instant,
    is_automated_via,
    map_channel,
    map_custom_fields,
    map_id,
    map_priority,
    map_role,
    map_status,
    map_tags,
    read_instant,
    ticket_from_api,
)
from connector.errors import PayloadError
from connector.events import DELETED, MAX_ID_LENGTH, Requester


@pytest.mark.parametrize(("given", "expected"), [
    ("new", "new"), ("open", "open"), ("pending", "pending"), ("hold", "on_hold"), ("solved", "solved"),
    ("closed", "closed"), ("NEW", "new"), ("OPEN", "open"), ("PENDING", "pending"), ("HOLD", "on_hold"),
    ("SOLVED", "solved"), ("CLOSED", "closed"), ("Open", "open"), ("On-hold", "on_hold"), ("On hold", "on_hold"),
    (" Solved ", "solved"), ("ARCHIVED", "closed"),
    # deleted tickets: REST/audits/export say `deleted`, event webhooks `DELETED`, and `SCRUBBED` once scrubbed
    ("deleted", DELETED), ("DELETED", DELETED), ("SCRUBBED", DELETED), ("scrubbed", DELETED),
])
def test_statuses(given, expected):
    assert map_status(given) == expected


def test_an_unknown_status_uses_the_status_map():
    assert map_status("Awaiting vendor", {"Awaiting vendor": "on_hold"}) == "on_hold"
    assert map_status("AWAITING_VENDOR", {"awaiting_vendor": "pending"}) == "pending"


def test_an_unknown_status_without_a_mapping_names_the_value():
    with pytest.raises(PayloadError, match=r"^status: 'ESCALATED' is not a Zendesk status; map it in "
                                           r"sources.zendesk.status_map$"):
        map_status("ESCALATED")
    with pytest.raises(PayloadError, match="to 'waiting', which is not one of new, open"):
        map_status("Waiting", {"Waiting": "waiting"})
    for bad in (None, "", 3, ["open"]):
        with pytest.raises(PayloadError, match="^status: expected a Zendesk status"):
            map_status(bad)
    with pytest.raises(PayloadError) as info:
        map_status("x" * 1000)
    assert len(info.value.reason) < 200


@pytest.mark.parametrize(("given", "expected"), [
    ("urgent", "urgent"), ("HIGH", "high"), ("Normal", "normal"), ("low", "low"), (None, None), ("-", None),
    ("", None),
])
def test_priorities(given, expected):
    assert map_priority(given) == expected


@pytest.mark.parametrize("bad", ["critical", 4, True])
def test_an_unknown_priority_is_a_payload_error(bad):
    with pytest.raises(PayloadError, match="priority"):
        map_priority(bad)


@pytest.mark.parametrize(("via", "expected"), [
    ({"channel": "web"}, "web"), ({"channel": "web_form"}, "web"), ({"channel": "email"}, "email"),
    ({"channel": "mail"}, "email"), ({"channel": "chat"}, "chat"), ({"channel": "api"}, "api"),
    ({"channel": "web_service"}, "api"), ({"channel": "voice"}, "phone"), ({"channel": "rule"}, "rule"),
    ({"channel": "mobile_sdk"}, "mobile"), ("Web Form", "web"), ("Mail", "email"), ("API", "api"),
    ({"channel": "Some_New_Thing"}, "some_new_thing"), (None, None), ({}, None), ("-", None), (4, "email"),
    # real via.channel values seen in REST answers, audits and event webhooks (issue 11, item 9)
    ({"channel": "helpcenter"}, "web"), ({"channel": "api_phone_call_inbound"}, "phone"),
    ({"channel": "side_conversation"}, "internal"), ({"channel": "sample_ticket"}, "system"),
    ({"channel": "help_center"}, "web"), ({"channel": "whatsapp"}, "chat"), ({"channel": "instagram_dm"}, "social"),
    ({"channel": "twilio_sms"}, "sms"), ({"channel": "answer_bot_for_web_widget"}, "web"),
    ({"channel": 45}, "phone"), ({"channel": 69}, "internal"), ({"channel": 50}, "web"), ({"channel": 999}, "999"),
    # labels `{{ticket.via}}` renders (Zendesk's descriptions of the via types)
    ("Phone call (incoming)", "phone"), ("CTI phone call (inbound)", "phone"), ("Help Center post", "web"),
    ("Web service (API)", "api"), ("Trigger, automation", "rule"), ("Twitter like", "social"),
    ("Channel framework", "api"),
])
def test_channels(via, expected):
    assert map_channel(via) == expected


def test_every_documented_via_type_and_id_has_a_canonical_channel():
    """Zendesk's via types reference (86 ids): each maps to one of the canonical channels, by name and by id."""
    canonical = {"web", "email", "chat", "phone", "sms", "social", "api", "mobile", "rule", "system", "internal"}
    assert len(VIA_TYPES) == 86 and set(VIA_TYPES.values()) == set(VIA_CHANNELS)
    for via_id, via_type in VIA_TYPES.items():
        assert map_channel({"channel": via_type}) in canonical, via_type
        assert map_channel({"channel": via_id}) == map_channel({"channel": via_type})
    assert set(CHANNELS.values()) == canonical


def test_comments_through_rules_and_bots_are_automated():
    for via in ({"channel": "rule"}, {"channel": "answer_bot"}, {"channel": 8}, "Trigger", {"channel": "automation"}):
        assert is_automated_via(via), via
    for via in ({"channel": "web"}, {"channel": "mail"}, {"channel": "side_conversation"}, None, {"channel": []}):
        assert not is_automated_via(via), via
    assert {"rule", "rule_revision", "answer_bot"} <= AUTOMATED_VIA


def test_tags_from_a_list_or_a_rendered_string():
    assert map_tags(["vip", "eu", "vip"]) == ("vip", "eu")
    assert map_tags("change_address help order") == ("change_address", "help", "order")
    assert map_tags("") == () and map_tags(None) == ()
    for bad in ({"a": 1}, [1], 5):
        with pytest.raises(PayloadError, match="tags"):
            map_tags(bad)


def test_ids_are_strings_and_zero_or_empty_is_none():
    assert map_id(8447388090494, "x") == "8447388090494" and map_id("42", "x") == "42"
    assert map_id(None, "x") is None and map_id("", "x") is None and map_id("0", "x") is None
    with pytest.raises(PayloadError, match="^assignee_id: expected an id"):
        map_id(True, "assignee_id")


def test_ids_too_long_or_unprintable_are_refused_never_cut():
    assert map_id("9" * MAX_ID_LENGTH, "group_id") == "9" * MAX_ID_LENGTH
    with pytest.raises(PayloadError, match=f"^group_id: {MAX_ID_LENGTH + 1} characters; an id has at most 255$"):
        map_id("9" * (MAX_ID_LENGTH + 1), "group_id")
    for bad in ("12\x003", "12\n3", "a\u202eb"):
        with pytest.raises(PayloadError, match="^requester_id: holds a control character"):
            map_id(bad, "requester_id")


def test_roles():
    assert map_role("end-user") == "end_user" and map_role("agent") == "agent" and map_role("admin") == "agent"
    with pytest.raises(PayloadError, match="'robot' is not a Zendesk user role"):
        map_role("robot")


def test_custom_fields_by_id_to_name():
    names = {"360011112222": "tier", "360033334444": "region"}
    rest = [{"id": 360011112222, "value": "enterprise"}, {"id": 360033334444, "value": None},
            {"id": 999, "value": "unmapped"}]
    assert map_custom_fields(rest, names) == {"tier": "enterprise", "region": None}
    assert map_custom_fields({"360033334444": "eu"}, names) == {"region": "eu"}
    assert map_custom_fields(rest, {}) == {}
    with pytest.raises(PayloadError, match="custom_fields"):
        map_custom_fields([{"value": 1}], names)


def test_iso_instants_to_the_second_or_to_the_minute():
    assert instant("2025-01-08T16:45:20.987654321Z", "t") == datetime(2025, 1, 8, 16, 45, 20, 987654, tzinfo=UTC)
    assert instant("2025-01-08T18:45:20+02:00", "t") == datetime(2025, 1, 8, 16, 45, 20, tzinfo=UTC)
    # `{{ticket.updated_at_with_timestamp}}` renders to the minute (Zendesk's placeholder reference)
    assert read_instant("2013-12-12T05:35Z", "t") == Instant(datetime(2013, 12, 12, 5, 35, tzinfo=UTC), False)
    assert read_instant("2013-12-12T05:35:00Z", "t") == Instant(datetime(2013, 12, 12, 5, 35, tzinfo=UTC), True)
    minute = read_instant("2013-12-12T07:35+02:00", "t")
    assert minute is not None and minute.at == datetime(2013, 12, 12, 5, 35, tzinfo=UTC) and not minute.to_the_second
    assert minute.latest == datetime(2013, 12, 12, 5, 35, 59, 999999, tzinfo=UTC)


def test_human_dates_and_placeholders_are_no_instant():
    for human in ("February 3, 2025", "{{ticket.updated_at_with_timestamp}}", "", None, 1736354720, "x" * 100):
        assert read_instant(human, "t") is None


@pytest.mark.parametrize(("value", "message"), [
    ("0001-01-01T00:00:00Z", "outside 1970-01-01T00:00:00Z to 2099-12-31T23:59:59Z"),
    ("0001-01-01T00:00:00+14:00", "outside"),     # before the first instant Python can represent
    ("9999-12-31T23:59:59-14:00", "outside"),     # after the last
    ("9999-12-31T23:59:59Z", "outside"), ("1969-12-31T23:59:59Z", "outside"), ("2100-01-01T00:00Z", "outside"),
    ("2025-02-30T10:00Z", "not a valid date and time"), ("2025-01-08T24:00:00Z", "not a valid date and time"),
    ("2025-01-08T10:00:00+24:00", "not a valid date and time"),
    ("2025-01-08", "is not an ISO 8601 instant"), ("2025-01-08T16:45:20", "is not an ISO 8601 instant"),
    ("2025-01-08T16:45:20Z junk", "is not an ISO 8601 instant"), ("2025-01-08T16" + "0" * 100, "ISO 8601 instant"),
])
def test_bad_or_out_of_range_instants_name_the_key(value, message):
    with pytest.raises(PayloadError, match=f"^detail.updated_at: .*{message}"):
        read_instant(value, "detail.updated_at")


def test_ticket_from_api():
    rest = {"id": 35436, "status": "hold", "priority": "urgent", "via": {"channel": "email"}, "group_id": 77,
            "assignee_id": None, "requester_id": 20978392, "organization_id": 509974, "subject": "Help",
            "description": "It broke", "tags": ["enterprise", "other_tag"], "created_at": "2009-07-20T22:55:29Z",
            "updated_at": "2011-05-05T10:38:52Z", "submitter_id": 76872,
            "custom_fields": [{"id": 27642, "value": "enterprise"}, {"id": 27648, "value": "yes"}]}
    ticket = ticket_from_api(rest, field_names={"27642": "tier"}, status_map={})
    assert ticket.status == "on_hold" and ticket.priority == "urgent" and ticket.channel == "email"
    assert ticket.group == "77" and ticket.assignee is None
    assert ticket.requester == Requester(id="20978392", org="509974", tier="enterprise")
    assert ticket.tags == ("enterprise", "other_tag") and dict(ticket.fields) == {"tier": "enterprise"}
    assert ticket.created_at == datetime(2009, 7, 20, 22, 55, 29, tzinfo=UTC)
    assert ticket.subject == "Help" and ticket.description == "It broke"


def test_ticket_from_api_refuses_a_human_created_at_and_a_custom_status():
    with pytest.raises(PayloadError, match="created_at: 'February 3, 2025' is not an ISO 8601"):
        ticket_from_api({"status": "open", "created_at": "February 3, 2025"}, field_names={}, status_map={})
    with pytest.raises(PayloadError, match="status_map"):
        ticket_from_api({"status": "Awaiting vendor"}, field_names={}, status_map={})
    assert ticket_from_api({"status": "Awaiting vendor"}, field_names={},
                           status_map={"Awaiting vendor": "pending"}).status == "pending"
