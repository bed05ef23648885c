"""Canonical events: strict parsing, bad lines reported with their numbers, round trip, ordering."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.errors import EventError
from connector.events import (
    BadLine,
    event_to_dict,
    format_instant,
    iter_jsonl,
    order_events,
    parse_event,
    read_jsonl,
    write_jsonl,
)
from tests.helpers import AGENT, event

GOOD = {"schema": 1, "source": "zendesk", "account": "acme", "ticket_id": 123, "event_id": "e1",
        "occurred_at": "2026-03-02T14:05:00Z", "type": "comment.added",
        "ticket": {"status": "open", "priority": "high", "requester": {"id": "9", "org": "Initech", "tier": "gold"},
                   "tags": ["vip"], "fields": {"plan": "pro"}, "created_at": "2026-03-02T09:05:00-05:00"},
        "comment": {"author_role": "agent", "public": True, "automated": False, "author_id": "7"}}


def test_parse_a_full_event():
    e = parse_event(GOOD)
    assert e.ticket_id == "123" and e.key == ("zendesk", "acme", "123")
    assert e.occurred_at == datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    assert e.ticket.created_at == datetime(2026, 3, 2, 14, 5, tzinfo=UTC)
    assert e.ticket.requester.tier == "gold" and e.ticket.tags == ("vip",)
    assert e.comment is not None and e.comment.is_agent_reply


def test_round_trip_through_jsonl():
    events = [parse_event(GOOD), event("2026-03-02 15:00", "comment.added", comment=AGENT)]
    buf = io.StringIO()
    assert write_jsonl(events, buf) == 2
    assert read_jsonl(io.StringIO(buf.getvalue())) == events
    assert event_to_dict(parse_event(event_to_dict(events[0]))) == event_to_dict(events[0])


@pytest.mark.parametrize(("change", "message"), [
    ({"occurred_at": "2026-03-02T14:05:00"}, "occurred_at: '2026-03-02T14:05:00' is a naive timestamp"),
    ({"occurred_at": "yesterday"}, "occurred_at: 'yesterday' is not an ISO 8601 timestamp"),
    ({"occurred_at": None}, "occurred_at: expected an ISO 8601 timestamp, got NoneType"),
    ({"type": "ticket.deleted"}, "type: 'ticket.deleted' is not one of"),
    ({"ticket_id": ""}, "ticket_id: required"),
    ({"source": None}, "source: required"),
    ({"schema": 2}, "schema: unsupported schema version 2"),
    ({"ticket": {"status": "waiting"}}, "ticket.status: 'waiting' is not one of"),
    ({"ticket": {"tags": "vip"}}, "ticket.tags: expected a list of strings"),
    ({"ticket": []}, "ticket: expected an object"),
    ({"comment": None}, "comment: a comment.added event needs a comment"),
    ({"comment": {"author_role": "robot"}}, "comment.author_role: 'robot' is not one of"),
    ({"comment": {"author_role": "agent", "public": "yes"}}, "comment.public: expected true or false"),
    ({"ticket": {"subject": {"x": 1}}}, "ticket.subject: expected a string, got dict"),
])
def test_bad_events_name_the_key(change, message):
    with pytest.raises(EventError) as info:
        parse_event({**GOOD, **change})
    assert info.value.message.startswith(message)


def test_read_jsonl_reports_every_bad_line_with_its_number():
    lines = [json.dumps(GOOD), "", "{not json", json.dumps({**GOOD, "event_id": "e2", "occurred_at": "2026-03-02"}),
             "[1, 2]"]
    with pytest.raises(EventError) as info:
        read_jsonl(lines)
    assert [b.line for b in info.value.bad_lines] == [3, 4, 5]
    assert "3 bad lines" in str(info.value) and "line 3: not valid JSON" in str(info.value)
    items = list(iter_jsonl(lines))
    assert [type(i).__name__ for i in items] == ["Event", "BadLine", "BadLine", "BadLine"]
    assert isinstance(items[1], BadLine)


def test_order_by_occurred_at_ties_by_arrival_and_repeats_dropped():
    a = event("2026-03-02 10:00", event_id="a")
    b = event("2026-03-02 09:00", event_id="b")
    c = event("2026-03-02 10:00", event_id="c")
    assert [e.event_id for e in order_events([a, b, c, a, c])] == ["b", "a", "c"]
    other_source = event("2026-03-02 08:00", event_id="a", source="freshdesk")
    assert [e.event_id for e in order_events([a, other_source])] == ["a", "a"]


def test_format_instant():
    assert format_instant(datetime(2026, 3, 2, 14, 5, tzinfo=UTC)) == "2026-03-02T14:05:00Z"
    assert format_instant(datetime(2026, 3, 2, 14, 5, 0, 250000, tzinfo=UTC)) == "2026-03-02T14:05:00.25Z"
    assert format_instant(None) is None


def test_format_instant_matches_isoformat_everywhere():
    # the whole-second UTC fast path assembles the text from pieces: it must agree with isoformat
    rng = random.Random(3)
    zone = ZoneInfo("America/New_York")
    for _ in range(3000):
        dt = datetime.min.replace(tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 315537897599))
        assert format_instant(dt) == dt.isoformat().replace("+00:00", "Z")
        assert format_instant(dt.astimezone(zone) if dt.year > 1 else dt) == format_instant(dt)
    assert format_instant(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) == "9999-12-31T23:59:59Z"
    assert format_instant(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert format_instant(datetime(2026, 3, 8, 1, 30, 5, 120, tzinfo=zone)) == "2026-03-08T06:30:05.00012Z"
