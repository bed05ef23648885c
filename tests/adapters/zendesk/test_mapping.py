"""Zendesk values in all three spellings (REST, event webhook, rendered trigger) → canonical vocabulary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.zendesk.mapping import (
    iso_instant,
    map_channel,
    map_custom_fields,
    map_id,
    map_priority,
    map_role,
    map_status,
    map_tags,
    ticket_from_api,
)
from connector.errors import PayloadError
from connector.events import Requester


@pytest.mark.parametrize(("given", "expected"), [
    ("new", "new"), ("open", "open"), ("pending", "pending"), ("hold", "on_hold"), ("solved", "solved"),
    ("closed", "closed"), ("NEW", "new"), ("OPEN", "open"), ("PENDING", "pending"), ("HOLD", "on_hold"),
    ("SOLVED", "solved"), ("CLOSED", "closed"), ("Open", "open"), ("On-hold", "on_hold"), ("On hold", "on_hold"),
    (" Solved ", "solved"), ("ARCHIVED", "closed"),
])
def test_statuses(given, expected):
    assert map_status(given) == expected


def test_an_unknown_status_uses_the_status_map():
    assert map_status("Awaiting vendor", {"Awaiting vendor": "on_hold"}) == "on_hold"
    assert map_status("AWAITING_VENDOR", {"awaiting_vendor": "pending"}) == "pending"


def test_an_unknown_status_without_a_mapping_names_the_value():
    with pytest.raises(PayloadError, match=r"^status: 'DELETED' is not a Zendesk status; map it in "
                                           r"sources.zendesk.status_map$"):
        map_status("DELETED")
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
])
def test_channels(via, expected):
    assert map_channel(via) == expected


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


def test_iso_instants_and_human_dates():
    assert iso_instant("2025-01-08T16:45:20.987654321Z") == datetime(2025, 1, 8, 16, 45, 20, 987654, tzinfo=UTC)
    assert iso_instant("2025-01-08T18:45:20+02:00") == datetime(2025, 1, 8, 16, 45, 20, tzinfo=UTC)
    for human in ("February 3, 2025", "2025-01-08", "2025-01-08T16:45:20", None, 1736354720, "x" * 100):
        assert iso_instant(human) is None


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
