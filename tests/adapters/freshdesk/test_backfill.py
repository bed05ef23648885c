"""Freshdesk history → canonical events: listing pages, stats, conversations, webhook-equal ids, resume, 429s."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.freshdesk.backfill import Caller, history_events, is_history_event, iter_ticket_history
from adapters.freshdesk.client import FreshdeskClient
from adapters.freshdesk.inbound import FreshdeskAdapter
from connector.errors import PayloadError, Permanent, Transient
from connector.events import Event
from tests.fakes.freshdesk import (
    FakeFreshdesk,
    fake_freshdesk_fixture,  # noqa: F401
)

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
                               "order_type": "asc", "per_page": "100", "page": "1"}
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
            "updated_at": "2026-03-05T09:00:00Z", "stats": stats, **fields}


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

    def list_tickets_updated_since(self, since: datetime | str, page: int = 1) -> list[dict[str, Any]]:
        assert isinstance(since, str)
        self.calls.append((since, page))
        found = sorted((t for t in self.tickets if t["updated_at"] >= since), key=lambda t: t["updated_at"])
        return found[(page - 1) * self.page_size:page * self.page_size]

    def get_ticket(self, ticket_id: int | str) -> dict[str, Any]:
        raise AssertionError("the listed tickets carry their stats")

    def list_conversations(self, ticket_id: int | str) -> list[dict[str, Any]]:
        return []


def listed(api: Listing, **kwargs: Any) -> list[tuple[list[str], int]]:
    options: dict[str, Any] = {"since": SINCE, "account": "acme", "field_names": {}, "status_map": {},
                               "page_size": api.page_size, **kwargs}
    return [([e.ticket_id for e in events], page) for events, page in iter_ticket_history(api, **options)]


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
    assert slides == [datetime(2026, 3, 2, 13, tzinfo=UTC), datetime(2026, 3, 2, 15, tzinfo=UTC)]
    assert [page for _, page in pages] == [2, 1, 2, 1, 1]
    assert ("2026-03-02T13:00:00Z", 1) in api.calls and ("2026-03-02T15:00:00Z", 1) in api.calls


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
        def list_tickets_updated_since(self, since: datetime | str, page: int = 1) -> list[dict[str, Any]]:
            return [*client.list_tickets_updated_since(since, page), {"id": 99, "updated_at": "2026-03-09T00:00:00Z"}]

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
