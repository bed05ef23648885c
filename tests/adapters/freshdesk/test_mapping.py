"""Freshdesk numbers and labels → the canonical vocabulary."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.freshdesk import mapping
from connector.errors import PayloadError

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "freshdesk" / "api" / "tickets.json"


@pytest.mark.parametrize(("value", "expected"), [
    (2, "open"), (3, "pending"), (4, "solved"), (5, "closed"), ("2", "open"), ("5", "closed"),
    ("Open", "open"), ("PENDING", "pending"), ("Resolved", "solved"), (" closed ", "closed"),
    ("Waiting on Customer", "pending"), ("Waiting on Third Party", "on_hold"), ("waiting-on-customer", "pending"),
])
def test_statuses(value, expected):
    assert mapping.map_status(value) == expected


def test_custom_statuses_go_through_the_status_map():
    status_map = {"6": "on_hold", "8": "pending", "Awaiting Parts": "on_hold", "waiting_on_customer": "on_hold"}
    assert mapping.map_status(6, status_map) == "on_hold"
    assert mapping.map_status("8", status_map) == "pending"
    assert mapping.map_status("Awaiting Parts", status_map) == "on_hold"
    assert mapping.map_status("awaiting parts", {"awaiting_parts": "pending"}) == "pending"
    assert mapping.map_status("Waiting on Customer", status_map) == "on_hold"  # a default label is overridable
    assert mapping.map_status(2, {"2": "closed"}) == "open"  # built-in numbers are not
    with pytest.raises(PayloadError, match=r"status: 9 is a custom Freshdesk status; map it in sources.freshdesk"):
        mapping.map_status(9, status_map)
    with pytest.raises(PayloadError, match=r"the label \(a text of 14 characters\) is no Freshdesk status"):
        mapping.map_status("Awaiting Parts")
    with pytest.raises(PayloadError, match="not one of new, open"):
        mapping.map_status(6, {"6": "paused"})


@pytest.mark.parametrize("value", [None, "", " ", "-", True, 2.0, [], {}, -1])
def test_bad_statuses(value):
    with pytest.raises(PayloadError, match="status"):
        mapping.map_status(value)


@pytest.mark.parametrize(("value", "expected"), [
    (1, "1"), (4, "4"), ("3", "3"), ("Low", "1"), ("medium", "2"), ("High", "3"), ("URGENT", "4"),
    (None, None), ("", None), ("-", None),
])
def test_priorities(value, expected):
    assert mapping.map_priority(value) == expected


@pytest.mark.parametrize("value", [0, 5, "7", "Normal", True, 1.5, ["Low"]])
def test_bad_priorities(value):
    with pytest.raises(PayloadError, match="priority"):
        mapping.map_priority(value)


@pytest.mark.parametrize(("value", "expected"), [
    (1, "email"), (2, "web"), (3, "phone"), (7, "chat"), (9, "web"), (10, "email"), ("9", "web"), (99, "source_99"),
    ("Email", "email"), ("Portal", "web"), ("Feedback Widget", "web"), ("Outbound Email", "email"),
    ("Phone", "phone"), ("Chat", "chat"), ("Carrier Pigeon", "carrier_pigeon"), (None, None), ("", None),
])
def test_channels(value, expected):
    assert mapping.map_channel(value) == expected


def test_bad_channel():
    with pytest.raises(PayloadError, match="source"):
        mapping.map_channel([1])


@pytest.mark.parametrize(("value", "expected"), [
    (["foo", "bar", "foo"], ("foo", "bar")), ("foo, bar,foo", ("foo", "bar")), ("", ()), (None, ()),
    ("vip", ("vip",)), (", ,x,", ("x",)),
])
def test_tags(value, expected):
    assert mapping.map_tags(value) == expected


@pytest.mark.parametrize("value", [7, {"a": 1}, ["a", 1]])
def test_bad_tags(value):
    with pytest.raises(PayloadError, match="tags"):
        mapping.map_tags(value)


def test_ids_are_strings():
    assert mapping.map_id(6012691534, "x") == "6012691534"
    assert mapping.map_id(" 42 ", "x") == "42"
    assert [mapping.map_id(v, "x") for v in (None, 0, "", "0", "-", "null")] == [None] * 6
    for bad in (True, 1.5, [1]):
        with pytest.raises(PayloadError, match="x: expected an id"):
            mapping.map_id(bad, "x")


def test_custom_fields_by_name():
    value = {"cf_customer_tier": "gold", "cf_other": 1}
    assert mapping.map_custom_fields(value, {"cf_customer_tier": "tier"}) == {"tier": "gold"}
    assert mapping.map_custom_fields(value, {}) == {}
    with pytest.raises(PayloadError, match="custom_fields"):
        mapping.map_custom_fields([{"id": 1}], {"x": "y"})


def test_iso_instants_only():
    assert mapping.iso_instant("2016-05-18T04:36:04Z") == datetime(2016, 5, 18, 4, 36, 4, tzinfo=UTC)
    assert mapping.iso_instant("2014-07-28T16:20:03+05:30") == datetime(2014, 7, 28, 10, 50, 3, tzinfo=UTC)
    for human in ("Mon, 18 May 2016 at 10:06 AM", "2016-05-18", "2016-05-18T04:36:04", None, 5, "x" * 50):
        assert mapping.iso_instant(human) is None


def test_ticket_from_the_api_sample():
    raw = json.loads(SAMPLE.read_text())["1"]
    ticket = mapping.ticket_from_api(raw, field_names={"cf_customer_tier": "tier"}, status_map={})
    assert ticket.status == "open" and ticket.priority == "1" and ticket.channel == "web"
    assert ticket.group is None and ticket.assignee == "6010396333"
    assert (ticket.requester.id, ticket.requester.org, ticket.requester.tier) == ("6012691534", None, "gold")
    assert ticket.subject == "This is a sample ticket"
    assert ticket.description == "This is a sample ticket, feel free to delete it."  # the text, not the HTML
    assert ticket.tags == ("foo", "bar") and dict(ticket.fields) == {"tier": "gold"}
    assert ticket.created_at == datetime(2016, 5, 18, 4, 36, 4, tzinfo=UTC)


def test_ticket_from_the_api_falls_back_to_the_embedded_requester_and_needs_iso_dates():
    raw = {"status": 6, "priority": 4, "source": 10, "requester": {"id": 77}, "company_id": 9,
           "created_at": "2026-03-02T09:00:00Z"}
    ticket = mapping.ticket_from_api(raw, field_names={}, status_map={"6": "on_hold"})
    assert (ticket.status, ticket.priority, ticket.channel) == ("on_hold", "4", "email")
    assert (ticket.requester.id, ticket.requester.org) == ("77", "9")
    with pytest.raises(PayloadError, match="created_at: expected an ISO 8601 instant with Z or an offset, got a "
                                           "text of 13 characters"):
        mapping.ticket_from_api({**raw, "created_at": "March 2, 2026"}, field_names={}, status_map={"6": "open"})
    with pytest.raises(PayloadError, match="subject: expected a string"):
        mapping.ticket_from_api({**raw, "subject": 5}, field_names={}, status_map={"6": "open"})
    with pytest.raises(PayloadError, match="ticket: expected an object"):
        mapping.ticket_from_api([], field_names={}, status_map={})  # type: ignore[arg-type]


def test_reasons_are_short():
    with pytest.raises(PayloadError) as info:
        mapping.map_status("x" * 10_000)
    assert len(info.value.reason) < 200
