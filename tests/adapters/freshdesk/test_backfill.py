"""Freshdesk history → canonical events: listing pages, stats, conversations, webhook-equal ids, resume, 429s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.freshdesk.backfill import Caller, history_events, is_history_event, iter_ticket_history
from adapters.freshdesk.client import FreshdeskClient, Page
from adapters.freshdesk.inbound import FreshdeskAdapter
from connector.errors import EventError, PayloadError, Permanent, Transient
from connector.events import Event
from connector.rules.engine import Rulebook
from tests.fakes.freshdesk import (
    FakeFreshdesk,
    fake_freshdesk_fixture,  # noqa: F401
)
from tests.helpers import config

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
REQUESTER, AGENT = 6012691534, 900


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def conversation(cid: int, at: str, *, incoming: bool = False, private: bool = False, user: int = AGENT,
                 source: int = 0) -> dict[str, Any]:
    return {"id": cid, "body_text": "text", "incoming": incoming, "private": private, "user_id": user,
            "source": source, "created_at": at, "updated_at": at}


def seed(fake: FakeFreshdesk) -> None:
    fake.add_ticket(1, status=4, priority=3, tags=["printer"], responder_id=AGENT, group_id=42,
                    created_at="2026-03-02T14:00:00Z", updated_at="2026-03-02T17:00:00Z",
                    stats={"first_responded_at": "2026-03-02T14:30:00Z", "agent_responded_at": None,
                           "requester_responded_at": None, "status_updated_at": "2026-03-02T17:00:00Z",
                           "pending_since": "2026-03-02T14:30:00Z", "resolved_at": "2026-03-02T17:00:00Z",
                           "reopened_at": None, "closed_at": None},
                    conversations=[conversation(7001, "2026-03-02T14:30:00Z"),
                                   conversation(7002, "2026-03-02T15:00:00Z", private=True, source=2),
                                   conversation(7003, "2026-03-02T16:00:00Z", incoming=True, user=REQUESTER,
                                                source=0)])
    fake.add_ticket(2, priority=4, requester_id=502, created_at="2026-03-03T09:00:00Z",
                    updated_at="2026-03-03T09:00:00Z")


def client_for(fake: FakeFreshdesk, clock: Clock | None = None) -> FreshdeskClient:
    return FreshdeskClient(None, fake.api_key, base_url=fake.base_url,
                           clock=clock.time if clock else datetime.now(UTC).timestamp)


def run(fake: FakeFreshdesk, clock: Clock | None = None, **kwargs: Any) -> list[tuple[list[Event], int]]:
    clock = clock or Clock()
    options: dict[str, Any] = {"since": SINCE, "account": "acme", "field_names": {}, "status_map": {},
                               "sleep": clock.sleep, **kwargs}
    return list(iter_ticket_history(client_for(fake, clock), **options))


def flat(pages: list[tuple[list[Event], int]]) -> list[Event]:
    return [e for events, _ in pages for e in events]


def test_tickets_become_events_in_order_with_snapshots_and_roles(fake_freshdesk: FakeFreshdesk) -> None:
    seed(fake_freshdesk)
    pages = run(fake_freshdesk)
    assert len(pages) == 1 and pages[0][1] == 1
    events = [e for e in flat(pages) if e.ticket_id == "1"]
    assert [(e.type, e.occurred_at.strftime("%H:%M"), e.ticket.status) for e in events] == [
        ("ticket.created", "14:00", "open"),
        ("comment.added", "14:30", "pending"), ("ticket.updated", "14:30", "pending"),
        ("comment.added", "15:00", "pending"),
        ("comment.added", "16:00", "pending"),
        ("ticket.updated", "17:00", "solved"),
    ]
    assert [e.event_id for e in events] == [
        "fd:1:2026-03-02T14:00:00Z:ticket.created", "fd:1:conversation:7001",
        "fd:1:stats:pending_since:2026-03-02T14:30:00Z", "fd:1:conversation:7002", "fd:1:conversation:7003",
        "fd:1:stats:resolved_at:2026-03-02T17:00:00Z"]
    assert [is_history_event(e.event_id) for e in events] == [False, False, True, False, False, True]
    created = events[0].ticket  # the current values: Freshdesk keeps no field history
    assert (created.priority, created.tags, created.assignee, created.group) == ("3", ("printer",), str(AGENT), "42")
    assert created.created_at == datetime(2026, 3, 2, 14, tzinfo=UTC)
    roles = [(e.comment.author_role, e.comment.public, e.comment.author_id) for e in events if e.comment]
    assert roles == [("end_user", True, str(REQUESTER)), ("agent", True, str(AGENT)), ("agent", False, str(AGENT)),
                     ("end_user", True, str(REQUESTER))]
    two = [e for e in flat(pages) if e.ticket_id == "2"]
    assert [(e.type, e.ticket.status, e.ticket.priority) for e in two] == [("ticket.created", "open", "4")]
    assert all(e.source == "freshdesk" and e.account == "acme" for e in flat(pages))
    listing = [c for c in fake_freshdesk.calls if c.path == "/api/v2/tickets"]
    assert listing[0].args == {"updated_since": "2026-01-01T00:00:00Z", "order_by": "updated_at",
                               "order_type": "asc", "include": "stats", "per_page": "100", "page": "1"}
    # the stats come with the listing (3 credits a page), never from reading each ticket (2 credits each)
    assert [c.path for c in fake_freshdesk.calls if c.path.startswith("/api/v2/tickets/")
            and not c.path.endswith("/conversations")] == []
    # a re-run gives the same ids: the store keeps one copy
    assert [e.event_id for e in flat(run(fake_freshdesk))] == [e.event_id for e in flat(pages)]


def test_ids_equal_the_webhook_paths(fake_freshdesk: FakeFreshdesk) -> None:
    seed(fake_freshdesk)
    client = client_for(fake_freshdesk)
    adapter = FreshdeskAdapter(["s3cret"], account="acme", api=client)
    history = {e.event_id: e for e in flat(run(fake_freshdesk))}
    now = datetime(2026, 3, 10, tzinfo=UTC)
    bodies = [{"ticket_id": "1", "kind": "ticket.created"},
              {"ticket_id": "1", "kind": "comment.added", "updated_at": "2026-03-02T14:30:00Z"},
              {"ticket_id": "1", "kind": "comment.added", "updated_at": "2026-03-02T16:00:00Z"},
              {"ticket_id": "2", "kind": "ticket.created"}]
    for body in bodies:
        (hook,) = adapter.normalize(json.dumps(body).encode(), {}, now)
        assert hook.event_id in history, body
        mine = history[hook.event_id]
        assert (mine.type, mine.occurred_at, mine.comment) == (hook.type, hook.occurred_at, hook.comment)


def ticket(**fields: Any) -> dict[str, Any]:
    stats = {"status_updated_at": None, "pending_since": None, "resolved_at": None, "closed_at": None,
             "reopened_at": None}
    stats.update(fields.pop("stats", {}))
    return {"id": 5, "status": 2, "priority": 1, "source": 1, "requester_id": 77, "created_at": "2026-03-02T09:00:00Z",
            "updated_at": None, "stats": stats, **fields}


def statuses(raw: Mapping[str, Any], status_map: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    events = history_events(raw, [], account="acme", field_names={}, status_map=status_map or {})
    return [(e.type, e.occurred_at.strftime("%d %H:%M"), e.ticket.status) for e in events]


def test_status_events_come_from_the_stats_timestamps() -> None:
    # resolved, then reopened: both instants known, the ticket is open again
    assert statuses(ticket(status=2, stats={"resolved_at": "2026-03-03T10:00:00Z",
                                            "reopened_at": "2026-03-04T12:00:00Z",
                                            "status_updated_at": "2026-03-04T12:00:00Z"})) == [
        ("ticket.created", "02 09:00", "open"), ("ticket.updated", "03 10:00", "solved"),
        ("ticket.updated", "04 12:00", "open")]
    # closed after resolved
    assert statuses(ticket(status=5, stats={"resolved_at": "2026-03-03T10:00:00Z", "closed_at": "2026-03-04T10:00:00Z",
                                            "status_updated_at": "2026-03-04T10:00:00Z"})) == [
        ("ticket.created", "02 09:00", "open"), ("ticket.updated", "03 10:00", "solved"),
        ("ticket.updated", "04 10:00", "closed")]
    # a custom status: only status_updated_at says when
    assert statuses(ticket(status=6, stats={"status_updated_at": "2026-03-03T08:00:00Z"}), {"6": "on_hold"}) == [
        ("ticket.created", "02 09:00", "open"), ("ticket.updated", "03 08:00", "on_hold")]
    # never changed: one event, the current status
    assert statuses(ticket(status=3, stats={"status_updated_at": "2026-03-02T09:00:00Z"})) == [
        ("ticket.created", "02 09:00", "pending")]
    # an unmapped custom status is the mapping's error
    with pytest.raises(PayloadError, match="status_map"):
        statuses(ticket(status=9))


def test_outbound_email_is_created_by_the_agent() -> None:
    (created,) = history_events(ticket(source=10, responder_id=900), [], account="acme", field_names={},
                                status_map={}, own_user_ids=frozenset({"900"}))
    assert created.comment is not None
    assert (created.comment.author_role, created.comment.author_id, created.comment.automated) == ("agent", "900", True)


class Listing:
    """An in-memory Freshdesk listing with a small page size (the real client always asks for 100)."""

    def __init__(self, updated: list[str], page_size: int = 2) -> None:
        self.page_size = page_size
        self.tickets = [ticket(id=i + 1, updated_at=u) for i, u in enumerate(updated)]
        self.calls: list[tuple[str, int]] = []

    def list_tickets_updated_since(self, since: datetime | str, page: int = 1) -> Page:
        assert isinstance(since, str)
        self.calls.append((since, page))
        found = sorted((t for t in self.tickets if t["updated_at"] >= since), key=lambda t: t["updated_at"])
        more = page * self.page_size < len(found)  # what Freshdesk's link header says
        return Page(items=found[(page - 1) * self.page_size:page * self.page_size],
                    next_page=page + 1 if more else None)

    def get_ticket(self, ticket_id: int | str) -> dict[str, Any]:
        raise AssertionError("the listed tickets carry their stats")

    def list_conversations(self, ticket_id: int | str) -> list[dict[str, Any]]:
        return []


def listed(api: Listing, **kwargs: Any) -> list[tuple[list[str], int]]:
    options: dict[str, Any] = {"since": SINCE, "account": "acme", "field_names": {}, "status_map": {}, **kwargs}
    return [(list(dict.fromkeys(e.ticket_id for e in events)), page)
            for events, page in iter_ticket_history(api, **options)]


def stamp(hour: int) -> str:
    return f"2026-03-02T{hour:02d}:00:00Z"


def test_pages_carry_the_next_page_and_a_saved_page_resumes() -> None:
    api = Listing([stamp(h) for h in range(10, 15)])
    assert listed(api) == [(["1", "2"], 2), (["3", "4"], 3), (["5"], 3)]
    assert listed(api, page_start=2) == [(["3", "4"], 3), (["5"], 3)]
    assert api.calls[-2:] == [("2026-01-01T00:00:00Z", 2), ("2026-01-01T00:00:00Z", 3)]


def test_the_page_cap_slides_the_window_and_skips_tickets_done() -> None:
    # 7 tickets, 2 per page, 2 pages at most; tickets 4 and 5 share an instant across the slide
    api = Listing([stamp(10), stamp(11), stamp(12), stamp(13), stamp(13), stamp(14), stamp(15)])
    slides: list[datetime] = []
    pages = listed(api, max_pages=2, on_slide=slides.append)
    assert sorted(t for ids, _ in pages for t in ids) == ["1", "2", "3", "4", "5", "6", "7"]
    assert slides == [datetime(2026, 3, 2, 13, tzinfo=UTC)]
    assert [page for _, page in pages] == [2, 1, 2, 2]  # the second window's page 2 has no link: the last
    assert api.calls == [("2026-01-01T00:00:00Z", 1), ("2026-01-01T00:00:00Z", 2), ("2026-03-02T13:00:00Z", 1),
                         ("2026-03-02T13:00:00Z", 2)]


def test_too_many_tickets_at_one_instant_cannot_slide() -> None:
    api = Listing([stamp(10)] * 5)
    with pytest.raises(Permanent, match="share updated_at"):
        listed(api, max_pages=2)


def test_429_is_waited_out_then_raised_when_it_persists(fake_freshdesk: FakeFreshdesk) -> None:
    seed(fake_freshdesk)
    clock = Clock()
    fake_freshdesk.fail_next(429, {"message": "slow down"}, headers={"Retry-After": "7"}, times=2)
    events = flat(run(fake_freshdesk, clock))
    assert len(events) == 7 and clock.sleeps == [7.05, 7.05]
    fake_freshdesk.fail_next(429, {"message": "slow down"}, headers={"Retry-After": "1"}, times=3)
    with pytest.raises(Transient):
        run(fake_freshdesk, Clock(), max_retries=2)
    fake_freshdesk.fail_next(429, {"message": "slow down"}, headers={"Retry-After": "3600"})
    with pytest.raises(Transient):  # longer than a backfill should sleep through
        run(fake_freshdesk, Clock())


def test_caller_backs_off_without_retry_after() -> None:
    clock = Clock()
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Transient("503")
        return "ok"

    assert Caller(sleep=clock.sleep)(flaky) == "ok" and clock.sleeps == [2.0, 4.0]


def test_deleted_and_unmappable_tickets(fake_freshdesk: FakeFreshdesk) -> None:
    seed(fake_freshdesk)
    fake_freshdesk.add_ticket(3, status=9, updated_at="2026-03-04T09:00:00Z")
    bad: list[str] = []
    events = flat(run(fake_freshdesk, on_bad_ticket=lambda tid, err: bad.append(tid)))
    assert bad == ["3"] and {e.ticket_id for e in events} == {"1", "2"}
    with pytest.raises(PayloadError):
        run(fake_freshdesk)
    del fake_freshdesk.tickets[3]
    fake_freshdesk.fail_next(401)  # a listing refused is not a ticket to skip
    with pytest.raises(Permanent):
        run(fake_freshdesk)


def test_a_ticket_deleted_between_listing_and_reading_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    seed(fake_freshdesk)
    client = client_for(fake_freshdesk)

    class Vanishing:
        def list_tickets_updated_since(self, since: datetime | str, page: int = 1) -> Page:
            listed = client.list_tickets_updated_since(since, page)
            return Page(items=[*listed.items, {"id": 99, "updated_at": "2026-03-09T00:00:00Z"}],
                        next_page=listed.next_page)

        def get_ticket(self, ticket_id: int | str) -> dict[str, Any]:
            return client.get_ticket(ticket_id)

        def list_conversations(self, ticket_id: int | str) -> list[dict[str, Any]]:
            return client.list_conversations(ticket_id)

    events = [e for events, _ in iter_ticket_history(Vanishing(), since=SINCE, account="acme", field_names={},
                                                      status_map={}) for e in events]
    assert {e.ticket_id for e in events} == {"1", "2"}


def test_since_must_be_aware(fake_freshdesk: FakeFreshdesk) -> None:
    with pytest.raises(ValueError):
        run(fake_freshdesk, since=datetime(2026, 1, 1))


def test_a_requester_reply_through_the_portal_never_stops_first_response() -> None:
    # Freshdesk sets `incoming` only for what comes from outside ("not through web portal"): a requester's portal
    # reply has incoming false; its user_id is the requester's, so it is theirs
    portal = conversation(7101, "2026-03-02T09:20:00Z", incoming=False, user=77)
    agent = conversation(7102, "2026-03-02T10:30:00Z", incoming=False, user=AGENT)
    events = history_events(ticket(priority=4), [portal, agent], account="acme", field_names={}, status_map={})
    comments = [(e.comment.author_role, e.comment.public, e.comment.is_agent_reply) for e in events if e.comment]
    assert comments == [("end_user", True, False), ("end_user", True, False), ("agent", True, True)]
    book = Rulebook(config(priority_map={"freshdesk": {"4": "P1", "3": "P2", "2": "P3", "1": "P4"}}))
    state = book.run(events)[("freshdesk", "acme", "5")]
    first = next(c for c in book.evaluate(state, datetime(2026, 3, 2, 12, tzinfo=UTC)).clocks
                 if c.metric == "first_response")
    assert (first.status, first.stopped_at) == ("breached", datetime(2026, 3, 2, 10, 30, tzinfo=UTC))


def test_a_change_that_left_no_other_trace_comes_with_the_current_values() -> None:
    # a priority raised silently: only updated_at says when; the event carries the current values and the id
    # an undated webhook delivery read right after the change would have
    raw = ticket(priority=4, updated_at="2026-03-02T09:40:00Z")
    events = history_events(raw, [], account="acme", field_names={}, status_map={})
    assert [(e.type, e.event_id, e.ticket.priority) for e in events] == [
        ("ticket.created", "fd:5:2026-03-02T09:00:00Z:ticket.created", "4"),
        ("ticket.updated", "fd:5:2026-03-02T09:40:00Z:ticket.updated", "4")]
    # when a stats instant or a conversation is the last change, it carries the current values already
    solved = ticket(status=4, updated_at="2026-03-03T10:00:00Z",
                    stats={"resolved_at": "2026-03-03T10:00:00Z", "status_updated_at": "2026-03-03T10:00:00Z"})
    assert [e.type for e in history_events(solved, [], account="acme", field_names={}, status_map={})] == [
        "ticket.created", "ticket.updated"]
    replied = ticket(updated_at="2026-03-02T10:00:00Z")
    assert [e.type for e in history_events(replied, [conversation(1, "2026-03-02T10:00:00Z")], account="acme",
                                           field_names={}, status_map={})] == ["ticket.created", "comment.added"]


@pytest.mark.parametrize(("bad", "reason"), [
    ({"created_at": "0001-01-01T00:00:00+14:00"}, "ticket 5: created_at: the instant is outside"),
    ({"updated_at": "9999-12-31T23:59:59Z"}, "ticket 5: updated_at: the instant is outside"),
    ({"stats": {"resolved_at": "2150-01-01T00:00:00Z"}}, "stats.resolved_at: the instant is outside"),
    ({"stats": {"status_updated_at": "soon"}}, "stats.status_updated_at: expected an ISO 8601 instant"),
    ({"id": "5\x00"}, "ticket.id: expected a Freshdesk id (1-20 digits), got a text of 2 characters"),
    ({"id": 10 ** 25}, "ticket.id: expected a Freshdesk id (1-20 digits), got a number of 26 digits"),
    ({"requester_id": "r" * 256}, "requester_id: an id of 256 characters; at most 255"),
])
def test_a_ticket_no_event_can_hold_is_a_payload_error_naming_the_key(bad: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        history_events(ticket(**bad), [], account="acme", field_names={}, status_map={})
    assert info.value.reason.startswith(reason)


def test_the_listing_skips_such_tickets_with_a_reason_and_goes_on(fake_freshdesk: FakeFreshdesk) -> None:
    seed(fake_freshdesk)
    fake_freshdesk.add_ticket(3, created_at="0001-01-01T00:00:00+14:00", updated_at="2026-03-04T09:00:00Z")
    fake_freshdesk.add_ticket(4, updated_at="2026-03-04T10:00:00Z",
                              conversations=[conversation(8001, "9999-01-01T00:00:00Z")])
    fake_freshdesk.add_ticket(6, updated_at="2026-03-04T11:00:00Z", group_id="g\x00")
    bad: list[tuple[str, str]] = []
    events = flat(run(fake_freshdesk, on_bad_ticket=lambda tid, err: bad.append((tid, str(err)))))
    assert [tid for tid, _ in bad] == ["3", "4", "6"]
    assert "created_at: the instant is outside" in bad[0][1] and "conversation.created_at" in bad[1][1]
    assert "group_id: the id holds a control character" in bad[2][1]
    assert {e.ticket_id for e in events} == {"1", "2"}
    with pytest.raises(PayloadError):  # without a handler: the error, never a ValueError or OverflowError
        run(fake_freshdesk)


def test_a_listed_id_that_is_no_id_is_reported_without_its_text() -> None:
    class Odd:
        def list_tickets_updated_since(self, since: datetime | str, page: int = 1) -> Page:
            return Page(items=[{"id": "9\n" + "x" * 500, "updated_at": "2026-03-04T11:00:00Z"}])

        def get_ticket(self, ticket_id: int | str) -> dict[str, Any]:
            raise AssertionError("an id that is no id never reaches a URL")

        list_conversations = get_ticket

    bad: list[str] = []
    pages = list(iter_ticket_history(Odd(), since=SINCE, account="acme", field_names={}, status_map={},
                                     on_bad_ticket=lambda tid, err: bad.append(tid)))
    assert pages == [([], 1)] and bad == ["(a text of 502 characters)"]


def credits(calls: list[Any]) -> int:
    """API credits as Freshdesk counts them: 1 a call; each include +2 on a list, +1 on a single ticket."""
    total = 0
    for call in calls:
        includes = len([i for i in call.args.get("include", "").split(",") if i])
        listing = call.path == "/api/v2/tickets" or call.path.endswith("/conversations")
        total += 1 + includes * (2 if listing else 1)
    return total


def test_the_backfill_pays_for_stats_per_page_not_per_ticket(fake_freshdesk: FakeFreshdesk) -> None:
    for i in range(1, 151):
        fake_freshdesk.add_ticket(i, updated_at=f"2026-03-0{1 + i % 5}T10:00:{i % 60:02d}Z")
    events = flat(run(fake_freshdesk))
    assert len({e.ticket_id for e in events}) == 150
    listing = [c for c in fake_freshdesk.calls if c.path == "/api/v2/tickets"]
    reads = [c for c in fake_freshdesk.calls
             if c.path.startswith("/api/v2/tickets/") and not c.path.endswith("/conversations")]
    assert [c.args["page"] for c in listing] == ["1", "2"] and reads == []  # the link header ends it at page 2
    assert credits(listing) == 6  # 3 a page of 100, where reading each ticket with its stats cost 2 × 150
    assert credits(fake_freshdesk.calls) == 6 + 150  # and one conversation listing per ticket


odd = st.sampled_from([
    None, "", "-", 0, -1, 1, 2, 4, 6, 10 ** 25, 1.5, True, [], {}, ["a", 1], "x" * 300, "a\x00b", "line\nbreak",
    "2026-03-02T14:00:00Z", "2026-03-03T14:00:00+02:00", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00",
    "1969-12-31T23:59:59Z", "2026-13-45T25:61:00Z", "March 2, 2026", "Resolved", "Urgent"])
ticket_keys = st.sampled_from(["id", "status", "priority", "source", "requester_id", "responder_id", "group_id",
                               "company_id", "tags", "created_at", "updated_at", "custom_fields", "subject"])
stats_keys = st.sampled_from(["status_updated_at", "pending_since", "resolved_at", "closed_at", "reopened_at"])
conversation_keys = st.sampled_from(["id", "created_at", "incoming", "private", "user_id", "source"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(ticket_keys, odd, max_size=4), st.dictionaries(stats_keys, odd, max_size=3),
       st.lists(st.dictionaries(conversation_keys, odd, max_size=3), max_size=3))
def test_fuzz_any_api_answer_is_events_or_a_payload_error(over: dict[str, Any], stats: dict[str, Any],
                                                          conversations: list[dict[str, Any]]) -> None:
    raw = ticket(**over, stats=stats)
    listed = [{**conversation(7000 + n, "2026-03-02T10:00:00Z"), **c} for n, c in enumerate(conversations)]
    try:
        events = history_events(raw, listed, account="acme", field_names={"cf_tier": "tier"}, status_map={"6": "open"})
    except (PayloadError, EventError) as err:
        assert str(err) and len(str(err)) < 400
        return
    assert [e.type for e in events].count("ticket.created") == 1
    assert len({e.ticket_id for e in events}) == 1 and all(e.account == "acme" for e in events)
