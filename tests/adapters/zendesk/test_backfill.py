"""Zendesk history → canonical events: export pages and audits, snapshots, roles, cursors, 429s."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.zendesk.backfill import Caller, describe_cursor, history_events, iter_ticket_history, start_time
from adapters.zendesk.client import ZendeskClient
from connector.errors import PayloadError, Transient
from connector.events import Event
from tests.fakes.zendesk_export import (
    ZendeskHistory,
    change,
    create,
    unix,
    zendesk_history_fixture,  # noqa: F401
)

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
REQUESTER, AGENT, ADMIN, SYSTEM = 501, 900, 901, -1


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def seed(h: ZendeskHistory) -> None:
    h.add_user(AGENT, "agent")
    h.add_user(ADMIN, "admin")
    h.add_history(1, [
        create("2026-03-02T14:00:00Z", REQUESTER, status="new", priority="normal", requester_id=str(REQUESTER),
               tags=["printer"], subject="Printer on fire"),
        change("2026-03-02T14:30:00Z", AGENT, comment="On it",
               changes={"status": ("new", "open"), "assignee_id": (None, str(AGENT))}),
        change("2026-03-02T15:00:00Z", AGENT, comment="note", public=False, changes={"status": ("open", "pending")}),
        change("2026-03-02T16:00:00Z", REQUESTER, comment="Still burning", via="email",
               changes={"status": ("pending", "open")}),
        change("2026-03-02T16:10:00Z", ADMIN, changes={"priority": ("normal", "high"),
                                                       "tags": (["printer"], ["printer", "vip"])}),
        change("2026-03-02T17:00:00Z", SYSTEM, comment="Solved by trigger", via="rule", rel="trigger",
               changes={"status": ("open", "solved")}),
    ], status="solved", priority="high", tags=["printer", "vip"], assignee_id=AGENT, group_id=42)
    # created by an agent on the requester's behalf; never changed since
    h.add_history(2, [create("2026-03-03T09:00:00Z", AGENT, status="open", priority="urgent", requester_id="502")],
                  requester_id=502, submitter_id=AGENT, status="open", priority="urgent")
    # imported: no Create audit
    h.add_history(3, [change("2026-03-04T10:00:00Z", AGENT, comment="Imported reply")],
                  created_at="2026-03-04T08:00:00Z", status="open")
    h.add_history(4, [create("2026-03-04T11:00:00Z", REQUESTER, status="new")], status="deleted")


def client_for(h: ZendeskHistory, clock: Clock | None = None) -> ZendeskClient:
    return ZendeskClient(None, h.fake.email, h.fake.token, base_url=h.base_url,
                         clock=clock.time if clock else datetime.now(UTC).timestamp)


def run(h: ZendeskHistory, clock: Clock | None = None, **kwargs: Any) -> list[tuple[list[Event], str | None]]:
    clock = clock or Clock()
    options: dict[str, Any] = {"since": SINCE, "cursor": None, "account": "acme", "field_names": {},
                               "status_map": {}, "sleep": clock.sleep, "now": clock.time, **kwargs}
    return list(iter_ticket_history(client_for(h, clock), **options))


def flat(pages: list[tuple[list[Event], str | None]]) -> list[Event]:
    return [e for events, _ in pages for e in events]


def test_audits_become_events_in_order_with_snapshots_and_roles(zendesk_history: ZendeskHistory) -> None:
    seed(zendesk_history)
    events = [e for e in flat(run(zendesk_history)) if e.ticket_id == "1"]
    assert [(e.type, e.occurred_at.strftime("%H:%M")) for e in events] == [
        ("ticket.created", "14:00"),
        ("comment.added", "14:30"), ("ticket.updated", "14:30"),
        ("comment.added", "15:00"), ("ticket.updated", "15:00"),
        ("comment.added", "16:00"), ("ticket.updated", "16:00"),
        ("ticket.updated", "16:10"),
        ("comment.added", "17:00"), ("ticket.updated", "17:00"),
    ]
    audits = zendesk_history.audits[1]
    assert events[0].event_id == f"audit:{audits[0]['id']}"
    assert events[1].event_id == f"audit:{audits[1]['id']}:comment:{audits[1]['events'][0]['id']}"
    assert events[2].event_id == f"audit:{audits[1]['id']}"
    assert [e.ticket.status for e in events] == ["new", "open", "open", "pending", "pending", "open", "open", "open",
                                                 "solved", "solved"]
    created = events[0].ticket
    assert (created.priority, created.tags, created.assignee, created.group) == ("normal", ("printer",), None, "42")
    assert created.created_at == datetime(2026, 3, 2, 14, tzinfo=UTC)
    assert events[1].ticket.assignee == "900"
    assert events[7].ticket.priority == "high" and events[7].ticket.tags == ("printer", "vip")
    assert events[6].ticket.priority == "normal"  # before the change at 16:10
    first = events[0].comment
    assert first is not None and (first.author_role, first.public, first.author_id) == ("end_user", True, "501")
    roles = [(e.comment.author_role, e.comment.public, e.comment.automated) for e in events if e.comment]
    assert roles == [("end_user", True, False), ("agent", True, False), ("agent", False, False),
                     ("end_user", True, False), ("system", True, True)]
    assert all(e.source == "zendesk" and e.account == "acme" for e in events)


def test_agent_created_imported_and_deleted_tickets(zendesk_history: ZendeskHistory) -> None:
    seed(zendesk_history)
    events = flat(run(zendesk_history))
    two = [e for e in events if e.ticket_id == "2"]
    assert [e.type for e in two] == ["ticket.created"]
    assert two[0].comment is not None and two[0].comment.author_role == "agent"
    assert two[0].ticket.requester.id == "502" and two[0].ticket.priority == "urgent"
    three = [e for e in events if e.ticket_id == "3"]
    assert [(e.type, e.event_id) for e in three][0] == ("ticket.created", "export:3:created")
    assert three[0].occurred_at == datetime(2026, 3, 4, 8, tzinfo=UTC)
    assert three[1].type == "comment.added" and three[1].comment is not None
    assert three[1].comment.author_role == "agent"
    four = [e for e in events if e.ticket_id == "4"]  # deleted: kept, its deletion the export's last word
    assert [(e.type, e.ticket.status) for e in four] == [("ticket.created", "new"), ("ticket.updated", "deleted")]
    assert four[1].event_id == f"export:4:deleted:{unix('2026-03-04T11:00:00Z')}"
    # each user's role is asked once
    user_calls = [c.path for c in zendesk_history.fake.calls if c.path.startswith("/api/v2/users/")]
    assert user_calls == ["/api/v2/users/900.json"]  # 901 never commented


def test_pages_carry_their_cursor_and_a_saved_cursor_resumes(zendesk_history: ZendeskHistory) -> None:
    seed(zendesk_history)
    pages = run(zendesk_history, page_size=1)
    assert len(pages) == 4 and all(cursor for _, cursor in pages)
    first_call = zendesk_history.export_calls()[0]
    assert first_call == {"start_time": str(unix("2026-01-01T00:00:00Z")), "per_page": "1"}
    assert [sorted({e.ticket_id for e in events}) for events, _ in pages] == [["1"], ["2"], ["3"], ["4"]]
    again = run(zendesk_history, page_size=1, cursor=pages[0][1])
    assert sorted({e.ticket_id for e in flat(again)}) == ["2", "3", "4"]
    assert zendesk_history.export_calls()[-3]["cursor"] == pages[0][1]
    # a re-run gives the same ids: the store keeps one copy
    assert [e.event_id for e in flat(run(zendesk_history))] == [e.event_id for e in flat(pages)]


def test_end_of_stream_yields_the_cursor_to_poll_again(zendesk_history: ZendeskHistory) -> None:
    seed(zendesk_history)
    last = run(zendesk_history)[-1][1]
    later = run(zendesk_history, cursor=last)
    assert later == [([], last)]


def test_429_waits_retry_after_and_continues(zendesk_history: ZendeskHistory) -> None:
    seed(zendesk_history)
    clock = Clock()
    zendesk_history.fake.fail_next(429, "Number of allowed API requests per minute exceeded",
                                   headers={"Retry-After": "7"})
    events = flat(run(zendesk_history, clock=clock))
    assert clock.sleeps == [pytest.approx(7.05)]
    assert len([e for e in events if e.ticket_id == "1"]) == 10
    # and mid-history, on an audits page
    zendesk_history.fake.calls.clear()
    clock2 = Clock()
    pages = iter_ticket_history(client_for(zendesk_history, clock2), since=SINCE, cursor=None, account="acme",
                                field_names={}, status_map={}, sleep=clock2.sleep, now=clock2.time)
    zendesk_history.fake.fail_next(503, {"error": "ServiceUnavailable"}, headers={"Retry-After": "2"})
    assert len(flat(list(pages))) == len(events)


def test_429_retries_are_bounded(zendesk_history: ZendeskHistory) -> None:
    seed(zendesk_history)
    clock = Clock()
    zendesk_history.fake.fail_next(429, "slow down", headers={"Retry-After": "1"}, times=4)
    with pytest.raises(Transient):
        run(zendesk_history, clock=clock, max_retries=2)
    assert len(clock.sleeps) == 2


def test_caller_raises_a_wait_longer_than_allowed() -> None:
    sleeps: list[float] = []

    def busy() -> None:
        raise Transient("429", retry_after=3600)

    with pytest.raises(Transient):
        Caller(sleep=sleeps.append, max_wait=300)(busy)
    assert sleeps == []


def test_unmapped_status_is_raised_or_skipped(zendesk_history: ZendeskHistory) -> None:
    zendesk_history.add_history(7, [create("2026-03-02T14:00:00Z", REQUESTER, status="escalated")],
                                status="escalated")
    seed(zendesk_history)
    with pytest.raises(PayloadError, match="status_map"):
        run(zendesk_history)
    skipped: list[str] = []
    events = flat(run(zendesk_history, on_bad_ticket=lambda tid, err: skipped.append(tid)))
    assert skipped == ["7"] and events
    mapped = flat(run(zendesk_history, status_map={"escalated": "open"}))
    assert [e.ticket.status for e in mapped if e.ticket_id == "7"] == ["open"]


def test_values_at_creation_come_from_the_first_change_when_the_create_audit_lacks_them() -> None:
    ticket = {"id": 9, "status": "solved", "priority": "low", "requester_id": 5, "group_id": 7, "tags": [],
              "created_at": "2026-03-02T10:00:00Z", "via": {"channel": "email"},
              "custom_fields": [{"id": 360001, "value": "enterprise"}]}
    audits = [
        {"id": 1, "created_at": "2026-03-02T10:00:00Z", "author_id": 5,
         "events": [{"id": 11, "type": "Comment", "author_id": 5, "public": True},
                    {"id": 12, "type": "Create", "field_name": "status", "value": "new"}]},
        {"id": 2, "created_at": "2026-03-02T11:00:00Z", "author_id": 6,
         "events": [{"id": 21, "type": "Change", "field_name": "priority", "value": "low", "previous_value": "high"},
                    {"id": 22, "type": "Change", "field_name": "360001", "value": "enterprise",
                     "previous_value": "basic"}]},
        {"id": 3, "created_at": "2026-03-02T12:00:00Z", "author_id": 6,
         "events": [{"id": 31, "type": "Change", "field_name": "ticket_form_id", "value": "2", "previous_value": "1"},
                    {"id": 32, "type": "Change", "field_name": "status", "value": "solved", "previous_value": "new"}]},
    ]
    events = history_events(ticket, audits, account="acme", field_names={"360001": "tier"}, status_map={},
                            role_of=lambda uid: "agent")
    assert [(e.type, e.ticket.status, e.ticket.priority, e.ticket.requester.tier) for e in events] == [
        ("ticket.created", "new", "high", "basic"),
        ("ticket.updated", "new", "low", "enterprise"),  # a mapped custom field changed
        ("ticket.updated", "solved", "low", "enterprise"),
    ]
    assert all(e.ticket.group == "7" and e.ticket.channel == "email" for e in events)


def test_start_time_is_at_least_a_minute_ago() -> None:
    now = datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()
    assert start_time(datetime(2026, 3, 2, 11, tzinfo=UTC), now) == int(now) - 3600
    assert start_time(datetime(2026, 3, 3, tzinfo=UTC), now) == int(now) - 60
    with pytest.raises(ValueError, match="aware"):
        start_time(datetime(2026, 3, 2), now)


# --- deleted tickets (issue 11, item 9) -----------------------------------------------------------------------


def deleted_and_restored(h: ZendeskHistory) -> None:
    """The shape of zenpy's recorded audits (TestTicketAudits.test_values): open → deleted, then deleted → open."""
    h.add_user(AGENT, "agent")
    h.add_history(11, [
        create("2026-03-02T09:00:00Z", REQUESTER, status="open", priority="normal", requester_id=str(REQUESTER),
               via="sample_ticket"),
        change("2026-03-02T09:19:17Z", AGENT, via="api", changes={"status": ("open", "deleted")}),
        change("2026-03-02T09:25:38Z", AGENT, via="sample_ticket", changes={"status": ("deleted", "open")}),
        change("2026-03-02T10:00:00Z", AGENT, comment="Back on it", via="web"),
    ], status="open", priority="normal", via={"channel": "sample_ticket", "source": {"rel": None}})


def test_a_deleted_then_restored_ticket_keeps_its_whole_history(zendesk_history: ZendeskHistory) -> None:
    deleted_and_restored(zendesk_history)
    skipped: list[str] = []
    events = flat(run(zendesk_history, on_bad_ticket=lambda tid, err: skipped.append(tid)))
    assert skipped == []
    assert [(e.type, e.ticket.status, e.occurred_at.strftime("%H:%M:%S")) for e in events] == [
        ("ticket.created", "open", "09:00:00"),
        ("ticket.updated", "deleted", "09:19:17"),
        ("ticket.updated", "open", "09:25:38"),
        ("comment.added", "open", "10:00:00"),
    ]
    assert {e.ticket.channel for e in events} == {"system"}  # via sample_ticket: Zendesk's own sample


def test_the_export_keeps_deleted_tickets_and_their_deletion(zendesk_history: ZendeskHistory) -> None:
    """The recorded export lists deleted (and scrubbed) tickets: they are kept, deleted at their updated_at."""
    zendesk_history.add_history(21, [
        create("2026-03-02T09:00:00Z", REQUESTER, status="new", requester_id=str(REQUESTER)),
        change("2026-03-02T11:00:00Z", AGENT, changes={"status": ("new", "deleted")}),
    ], status="deleted")
    # deleted and scrubbed: Zendesk shows no audits any more (404), only the export's ticket
    zendesk_history.add_history(22, [], status="deleted", subject="SCRUBBED", description="X",
                                created_at="2026-03-02T08:00:00Z", updated_at="2026-03-02T12:30:00Z")
    zendesk_history.gone_audits.add(22)
    events = flat(run(zendesk_history))
    assert [(e.ticket_id, e.type, e.ticket.status) for e in events] == [
        ("21", "ticket.created", "new"), ("21", "ticket.updated", "deleted"),
        ("22", "ticket.created", "new"), ("22", "ticket.updated", "deleted"),
    ]
    scrubbed = [e for e in events if e.ticket_id == "22"]
    assert [e.event_id for e in scrubbed] == ["export:22:created", f"export:22:deleted:{unix('2026-03-02T12:30:00Z')}"]
    assert scrubbed[1].occurred_at == datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    # a ticket that is not deleted and whose audits are gone was deleted during the run: skipped, as before
    zendesk_history.add_history(23, [create("2026-03-02T09:00:00Z", REQUESTER, status="new")], status="open")
    zendesk_history.gone_audits.add(23)
    assert not [e for e in flat(run(zendesk_history)) if e.ticket_id == "23"]


@pytest.mark.parametrize(("where", "value"), [
    ("audit", "0001-01-01T00:00:00+14:00"), ("audit", "9999-12-31T23:59:59Z"), ("audit", "2026-02-30T10:00:00Z"),
    ("ticket", "0001-01-01T00:00:00Z"), ("author", "5" * 300), ("author", "5\x005"),
])
def test_values_the_api_answers_that_no_event_holds_skip_that_ticket_only(zendesk_history: ZendeskHistory,
                                                                         where: str, value: str) -> None:
    seed(zendesk_history)
    bad = [create("2026-03-02T14:00:00Z", REQUESTER, status="new"),
           change("2026-03-02T15:00:00Z", AGENT, comment="hi")]
    if where == "audit":
        bad[1]["created_at"] = value
        zendesk_history.add_history(9, bad, updated_at="2026-03-02T15:00:00Z")
    elif where == "ticket":
        zendesk_history.add_history(9, bad[1:], created_at=value, updated_at="2026-03-02T15:00:00Z")
    else:
        bad[1]["events"][0]["author_id"] = value
        zendesk_history.add_history(9, bad)
    skipped: list[tuple[str, Exception]] = []
    events = flat(run(zendesk_history, on_bad_ticket=lambda tid, err: skipped.append((tid, err))))
    assert [tid for tid, _ in skipped] == ["9"] and isinstance(skipped[0][1], PayloadError)
    assert {e.ticket_id for e in events} == {"1", "2", "3", "4"}
    with pytest.raises(PayloadError, match="ticket 9: |comment.author_id: "):
        run(zendesk_history)


def test_a_ticket_id_that_is_no_zendesk_id_is_a_bad_ticket_not_a_crash(zendesk_history: ZendeskHistory) -> None:
    seed(zendesk_history)
    zendesk_history.fake.tickets[5] = {**zendesk_history.fake.tickets[2], "id": 10 ** 25}  # 26 digits
    skipped: list[str] = []
    assert flat(run(zendesk_history, on_bad_ticket=lambda tid, err: skipped.append(tid)))
    assert skipped == [str(10 ** 25)]


def test_describe_cursor_never_raises() -> None:
    import base64

    for head in ("99999999999999999999", "1695062724", "-5", "", "253402300800"):
        cursor = base64.b64encode(f"{head}.0||1571|".encode()).decode()
        assert describe_cursor(cursor)
    assert describe_cursor(base64.b64encode(b"1695062724.0||1571|").decode()).endswith("(~2023-09-18T18:45:24+00:00)")
