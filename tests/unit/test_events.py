"""Canonical events: strict parsing, bad lines reported with their numbers, round trip, ordering."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import EventError
from connector.events import (
    MAX_LINE_CHARS,
    BadLine,
    Event,
    _careful,
    event_to_dict,
    format_instant,
    iter_jsonl,
    line_key,
    order_events,
    parse_event,
    read_jsonl,
    write_jsonl,
)
from connector.jsontext import MAX_DEPTH
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


# --- the fast path of iter_jsonl (issue 14): the same events and the same errors as the careful path ---------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=False), st.just(""), st.just("\x00"), st.just("=cmd|' /C calc'!A0"), st.just("x" * 300),
    st.sampled_from(["new", "open", "pending", "solved", "agent", "end_user", "system", "ticket.created",
                     "comment.added", "ticket.updated", "2026-03-02T14:05:00Z", "2026-03-02T14:05:00",
                     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "zendesk", "42",
                     # instants the fast path hands to `parse_instant`: an offset, spaces, other ISO forms
                     "2026-03-02T14:05:00+05:30", " 2026-03-02T14:05:00Z ", "2026-03-02 14:05:00-00:00",
                     "2026-03-02T14:05:00.123456+00:00", "20260302T140500Z", "2026-03-02T14:05Z"]),
    st.text(max_size=8),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3),
                    st.dictionaries(st.text(max_size=4), _SCALARS, max_size=3))


def _vary(base: dict, keys: list[str]) -> st.SearchStrategy[dict]:
    """`base` with some keys dropped and some given other values (of any JSON type)."""
    return st.tuples(st.sets(st.sampled_from(keys)), st.dictionaries(st.sampled_from(keys), _VALUES)).map(
        lambda dropped_changed: {**{k: v for k, v in base.items() if k not in dropped_changed[0]},
                                 **dropped_changed[1]})


_REQUESTERS = _vary(GOOD["ticket"]["requester"], ["id", "org", "tier"])
_TICKETS = st.one_of(_VALUES, st.tuples(_vary(GOOD["ticket"], [
    "status", "priority", "channel", "group", "assignee", "subject", "description", "tags", "fields",
    "created_at"]), st.one_of(_REQUESTERS, _VALUES)).map(lambda tr: {**tr[0], "requester": tr[1]}))
_COMMENTS = st.one_of(_VALUES, _vary(GOOD["comment"], ["author_role", "public", "automated", "author_id"]))
_EVENTS = st.tuples(
    _vary({**GOOD, "ticket_id": "123"}, ["schema", "source", "account", "ticket_id", "event_id", "occurred_at",
                                         "type"]), _TICKETS, _COMMENTS,
).map(lambda etc: {**etc[0], "ticket": etc[1], "comment": etc[2]})


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_EVENTS)
def test_the_fast_path_reads_every_line_as_the_careful_path_does(raw):
    line = json.dumps(raw)
    assert list(iter_jsonl([line])) == [_careful(1, line)]


@pytest.mark.parametrize("line", [
    '{"schema":1,"source":"a","source":"b","ticket_id":"1","event_id":"e","occurred_at":"2026-03-02T14:05:00Z",'
    '"type":"ticket.created"}',                                                      # a key twice: the last wins
    '{"schema":1,"source":"a","ticket_id":"1","event_id":"e","occurred_at":"2026-03-02T14:05:00Z",'
    '"type":"ticket.created","ticket":{"fields":{"n":NaN}}}',                        # NaN, as json.loads reads it
    '{"schema":true,"source":"a","ticket_id":"1","event_id":"e","occurred_at":"2026-03-02T14:05:00Z",'
    '"type":"ticket.created"}',                                                      # true == 1 to the careful path
    '{"schema":1,"source":"a\\ud800","ticket_id":"1","event_id":"e","occurred_at":"2026-03-02T14:05:00Z",'
    '"type":"ticket.created"}',                                                      # a lone surrogate
    '{"schema":1,"source":"a","ticket_id":12345678901234567890123,"event_id":"e",'
    '"occurred_at":"2026-03-02T14:05:00Z","type":"ticket.created"}',                 # an id beyond 64 bits
    '   ', '[]', '"text"', '{"schema":1', '{"schema":1,"source":"a"}  trailing',
])
def test_the_fast_path_hands_odd_lines_to_the_careful_path(line):
    expected = [] if not line.strip() else [_careful(1, line)]
    assert list(iter_jsonl([line])) == expected


def test_a_partial_update_changes_only_the_fields_it_gives():
    """Issue 15: HubSpot-style deltas. The core merges `given` fields over the ticket as it last stood."""
    from connector.events import merge_partial
    from connector.events import updated as replace
    from connector.rules.engine import Rulebook
    from tests.helpers import config

    first = event("2026-03-02 10:00", "ticket.created", status="open", priority="urgent", created="2026-03-02 10:00")
    first = replace(first, ticket=replace(first.ticket, subject="Checkout down", tags=("vip",),
                                          fields={"plan": "pro", "region": "eu"}))
    delta = event("2026-03-02 11:00", status="solved", priority=None, event_id="d1")
    delta = replace(delta, ticket=replace(delta.ticket, fields={"region": "us"}), given=frozenset({"status", "fields"}))
    merged = merge_partial(first.ticket, delta)
    assert merged.ticket.status == "solved" and merged.ticket.priority == "urgent"
    assert merged.ticket.subject == "Checkout down" and merged.ticket.tags == ("vip",)
    assert dict(merged.ticket.fields) == {"plan": "pro", "region": "us"}
    assert merge_partial(None, delta) is delta  # nothing to merge into: the given fields over the defaults
    states = Rulebook(config(priority_map={"zendesk": {"urgent": "P1", "normal": "P3"}})).run([first, delta])
    [state] = states.values()
    assert state.severity.classified == "P1" and state.snapshot.status == "solved"  # not reset to the default
    assert parse_event(event_to_dict(delta)) == delta  # "given" survives the round trip (JSONL, the store)
    assert list(iter_jsonl([json.dumps(event_to_dict(delta))])) == [delta]
    with pytest.raises(EventError, match="given: 'colour' is not a ticket field"):
        parse_event({**event_to_dict(delta), "given": ["colour"]})


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=20) | st.integers(min_value=2**63, max_value=2**90)
                    | st.integers(min_value=-(2**90), max_value=-(2**63)),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=20))
def test_jsontext_loads_reads_what_the_standard_library_reads(value):
    import json

    from connector import jsontext

    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        assert jsontext.loads(text) == json.loads(text)
        assert jsontext.loads(text.encode("utf-8", "surrogatepass")) == json.loads(text)


def test_jsontext_loads_keeps_big_integers_and_what_orjson_refuses():
    from connector import jsontext

    assert jsontext.loads("[18446744073709551616, -9223372036854775809]") == [2**64, -(2**63) - 1]
    assert jsontext.loads('{"n": NaN, "big": 1e400}')["big"] == float("inf")
    lone = '["\\ud800", "\\ud83d\\ude00", "caf\\u00e9"]'  # a lone surrogate escaped, a pair, a plain escape
    assert jsontext.loads(lone) == ["\ud800", "\U0001F600", "café"]
    with pytest.raises(ValueError):
        jsontext.loads('{"unfinished": ')  # what neither reads raises as the standard library does


def test_jsontext_dumps_writes_what_orjson_refuses_as_the_standard_library_does():
    """A lone surrogate (a JSON escape reads into one), an integer beyond 64 bits: `dumps` returns the
    standard library's text, as it did before `dumps_bytes` shared its fallback; `dumps_bytes` cannot encode
    the surrogate and says so."""
    import json

    from connector import jsontext

    for value in ({"a": "\ud800"}, [2**64]):
        assert jsontext.dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        assert jsontext.dumps(value, indent=True) == json.dumps(value, indent=2, ensure_ascii=False)
    assert jsontext.dumps_bytes([2**64], indent=True) == json.dumps([2**64], indent=2).encode()
    with pytest.raises(UnicodeEncodeError):
        jsontext.dumps_bytes({"a": "\ud800"})


# --- lines too deep or too long (robustness pass) -----------------------------------------------------------


def _nested(depth: int, *, under: str = "x") -> str:
    """GOOD as one line, with `under` (a top-level key, or "fields" inside the ticket) holding lists nested
    `depth` deep: the event itself is one more level, or three under its fields."""
    value = "[" * depth + "]" * depth
    line = json.dumps({**GOOD, "ticket": {**GOOD["ticket"], "fields": {}}})
    if under == "fields":
        return line.replace('"fields": {}', f'"fields": {{"deep": {value}}}')
    return f'{{"{under}": {value}, {line[1:]}'


@pytest.mark.parametrize("depth", [32, 1000, 100_000])
@pytest.mark.parametrize("under", ["x", "fields"])
def test_a_line_nested_too_deep_is_a_bad_line(depth: int, under: str):
    # before: RecursionError out of msgspec (or json.loads), whatever the key it hides under
    line = _nested(depth, under=under)
    items = list(iter_jsonl([json.dumps(GOOD), line, json.dumps({**GOOD, "event_id": "e2"})]))
    assert [type(i).__name__ for i in items] == ["Event", "BadLine", "Event"]
    assert items[1] == BadLine(line=2, message="nested too deep (more than 32 levels of lists and objects)")
    with pytest.raises(EventError, match=r"^1 bad line:\n  line 1: nested too deep"):
        read_jsonl([line])
    assert line_key(line) is None   # read by the parallel replay before parsing: no RecursionError there either


def test_the_deepest_line_a_webhook_body_may_be_is_read():
    deepest = MAX_DEPTH - 3   # the event, its ticket and its fields are three of the levels
    [item] = iter_jsonl([_nested(deepest, under="fields")])
    assert isinstance(item, Event) and item.ticket.fields["deep"] == json.loads(_nested(deepest, under="fields"))[
        "ticket"]["fields"]["deep"]
    [item] = iter_jsonl([_nested(deepest + 1, under="fields")])
    assert isinstance(item, BadLine) and item.message.startswith("nested too deep")


def test_a_line_longer_than_the_limit_is_a_bad_line():
    line = json.dumps({**GOOD, "ticket": {**GOOD["ticket"], "description": "x" * MAX_LINE_CHARS}})
    assert list(iter_jsonl([line])) == [BadLine(line=1, message=f"longer than {MAX_LINE_CHARS} characters")]
    fits = json.dumps({**GOOD, "ticket": {**GOOD["ticket"], "description": ""}})
    fits = fits.replace('"description": ""', '"description": "' + "x" * (MAX_LINE_CHARS - len(fits)) + '"')
    assert len(fits) == MAX_LINE_CHARS
    [item] = iter_jsonl([fits + "\n"])   # its newline does not count
    assert isinstance(item, Event) and len(item.ticket.description) > MAX_LINE_CHARS - 1000


_JSON = st.recursive(st.none() | st.integers() | st.text(alphabet="[]{}\"\\ab,:", max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.text(alphabet="[]{}\"\\ab", max_size=4), inner, max_size=3),
                     max_leaves=60)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=500, deadline=None)
@given(_JSON, st.integers(min_value=0, max_value=12), st.booleans())
def test_deeper_than_counts_the_containers_and_not_the_brackets_in_strings(value, limit: int, ascii_only: bool):
    from connector.jsontext import deeper_than

    text = json.dumps(value, ensure_ascii=ascii_only)
    assert deeper_than(text, limit) == (_depth(value) > limit), text


def test_deeper_than_reads_text_that_is_not_json_in_one_pass():
    from connector.jsontext import deeper_than

    assert deeper_than("[" * 33)                                   # cut off 33 levels down: too deep so far
    assert not deeper_than("[" * 20 + '"' + "[" * 40)              # an open string: its brackets are text
    # brackets, then a string left open and full of escaped quotes: a pattern that had to close the string was
    # tried again from every quote (quadratic: minutes for a long line)
    assert deeper_than("[" * 40 + '"a' + '\\"' * 200_000)
    assert not deeper_than("[" * 20 + '"a' + '\\"' * 200_000 + "[" * 20)
