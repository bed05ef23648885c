"""ZendeskWriter: every action kind against the fake Zendesk over HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from adapters.base import WriteAction, Writer, WriteResult
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.writeback import ZendeskWriter
from connector.config import SourceConfig
from connector.errors import Conflict, Permanent, Transient
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk, fake_zendesk_fixture  # noqa: F401

DUE = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
FIRST_FIELD = 360001
RESOLUTION_FIELD = 360002


def action(kind: str, params: dict[str, Any], ticket_id: str = "42") -> WriteAction:
    return WriteAction(key=f"zendesk:acme:{ticket_id}:{kind}", action=kind, source="zendesk", account="acme",
                       ticket_id=ticket_id, params=params)


def writer(fake: FakeZendesk, due_field_format: str = "datetime", **kwargs: Any) -> ZendeskWriter:
    config = SourceConfig(base_url=fake.base_url, due_field_format=due_field_format,
                          due_fields={"first_response": str(FIRST_FIELD), "resolution": str(RESOLUTION_FIELD)})
    client = ZendeskClient(None, fake.email, fake.token, base_url=fake.base_url)
    return ZendeskWriter(client, config, **kwargs)


def writes(fake: FakeZendesk) -> list[Any]:
    return [c for c in fake.calls if c.method != "GET"]


def test_is_a_writer_and_configured_follows_the_client(fake_zendesk: FakeZendesk) -> None:
    configured: Writer = writer(fake_zendesk)
    assert configured.source == "zendesk" and configured.configured
    unconfigured = ZendeskWriter(None, SourceConfig())
    assert not unconfigured.configured
    assert unconfigured.write(action("add_tags", {"tags": ["x"]})).outcome == "skipped"
    assert fake_zendesk.calls == []


def test_add_tags_keeps_existing_tags_and_adds_the_marker(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42, tags=["vip", "billing"])
    result = writer(fake_zendesk).write(action("add_tags", {"tags": ("sla_warning",)}))
    assert result == WriteResult(outcome="sent", detail="added 2 tag(s)")
    assert fake_zendesk.tickets[42]["tags"] == ["vip", "billing", "sla_warning", "sla_connector"]
    assert writes(fake_zendesk)[0].json == {"tags": ["sla_warning", "sla_connector"]}


def test_custom_marker_tag(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    writer(fake_zendesk, marker_tag="sla_bot").write(action("add_tags", {"tags": ["sla_breached"]}))
    assert fake_zendesk.tickets[42]["tags"] == ["sla_breached", "sla_bot"]


def test_remove_tags(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42, tags=["vip", "sla_warning", "sla_connector"])
    result = writer(fake_zendesk).write(action("remove_tags", {"tags": ["sla_warning"]}))
    assert result.outcome == "sent"
    assert fake_zendesk.tickets[42]["tags"] == ["vip", "sla_connector"]


@pytest.mark.parametrize("tags", [[], [""], "", None, [1]])
def test_bad_tags_are_permanent(fake_zendesk: FakeZendesk, tags: Any) -> None:
    with pytest.raises(Permanent):
        writer(fake_zendesk).write(action("add_tags", {"tags": tags}))
    assert fake_zendesk.calls == []


def test_set_priority(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    assert writer(fake_zendesk).write(action("set_priority", {"priority": "urgent"})).outcome == "sent"
    assert fake_zendesk.tickets[42]["priority"] == "urgent"
    assert writes(fake_zendesk)[0].json == {"ticket": {"priority": "urgent"}}


def test_unknown_priority_is_permanent(fake_zendesk: FakeZendesk) -> None:
    with pytest.raises(Permanent):
        writer(fake_zendesk).write(action("set_priority", {"priority": "P1"}))


def test_set_group_resolves_the_name_once(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    fake_zendesk.add_ticket(43)
    fake_zendesk.groups.extend([{"id": 11, "name": "Support"}, {"id": 12, "name": "escalations"},
                                {"id": 13, "name": "Old", "deleted": True}])
    w = writer(fake_zendesk)
    assert w.write(action("set_group", {"group": "escalations"})).detail == "group 12"
    assert w.write(action("set_group", {"group": "escalations"}, ticket_id="43")).outcome == "sent"
    assert fake_zendesk.tickets[42]["group_id"] == 12 and fake_zendesk.tickets[43]["group_id"] == 12
    assert [c.path for c in fake_zendesk.calls].count("/api/v2/groups.json") == 1


def test_unknown_group_is_permanent_after_one_refresh(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.groups.append({"id": 11, "name": "Support"})
    w = writer(fake_zendesk)
    with pytest.raises(Permanent, match="no Zendesk group named 'Tier 3'"):
        w.write(action("set_group", {"group": "Tier 3"}))
    assert [c.path for c in fake_zendesk.calls].count("/api/v2/groups.json") == 2
    fake_zendesk.groups.append({"id": 14, "name": "Tier 3"})  # created since: found on the next refresh
    fake_zendesk.add_ticket(42)
    assert w.write(action("set_group", {"group": "Tier 3"})).detail == "group 14"


def test_add_note_is_internal(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    result = writer(fake_zendesk).write(action("add_note", {"body": "First response due 15:00", "public": False}))
    assert result.outcome == "sent"
    note = fake_zendesk.tickets[42]["comments"][-1]
    assert note["body"] == "First response due 15:00" and note["public"] is False


NOTE = "First response due 15:00:\nreply now"
DECIDED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # the fake stamps its comments from 14:00 on


def test_a_note_zendesk_applied_but_whose_answer_was_lost_is_not_posted_again(fake_zendesk: FakeZendesk) -> None:
    """A gateway's 502 after Zendesk applied the note: the client sees a failure, the executor retries. The
    retry finds the private comment saying the same since the action was decided, and posts nothing."""
    fake_zendesk.add_ticket(42)
    zendesk = writer(fake_zendesk)
    fake_zendesk.write_faults(["lost"])
    first = replace(action("add_note", {"body": NOTE}), queued_at=DECIDED)
    with pytest.raises(Transient):
        zendesk.write(first)
    assert fake_zendesk.lost == 1 and len(fake_zendesk.tickets[42]["comments"]) == 1  # applied all the same
    result = zendesk.write(replace(first, attempt=2))
    assert result.outcome == "skipped" and "already on the ticket" in result.detail
    assert [c["body"] for c in fake_zendesk.tickets[42]["comments"]] == [NOTE]


def test_a_retried_note_is_posted_when_no_earlier_try_reached_zendesk(fake_zendesk: FakeZendesk) -> None:
    """Not there: the same words as a public reply, or in a private note older than the decision (less the
    ten minutes a clock may be off), are someone else's."""
    fake_zendesk.add_ticket(42)
    fake_zendesk.tickets[42]["comments"] += [
        {"id": 1, "type": "Comment", "body": NOTE, "public": True, "created_at": "2026-03-02T14:00:05Z"},
        {"id": 2, "type": "Comment", "body": NOTE, "public": False, "created_at": "2026-03-02T13:40:00Z"},
    ]
    result = writer(fake_zendesk).write(replace(action("add_note", {"body": NOTE}), attempt=3, queued_at=DECIDED))
    assert result.outcome == "sent" and len(fake_zendesk.tickets[42]["comments"]) == 3


def test_a_first_try_never_reads_the_comments(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    writer(fake_zendesk).write(replace(action("add_note", {"body": NOTE}), queued_at=DECIDED))
    assert [c.method for c in fake_zendesk.calls] == ["PUT"]


def test_empty_note_is_permanent(fake_zendesk: FakeZendesk) -> None:
    with pytest.raises(Permanent):
        writer(fake_zendesk).write(action("add_note", {"body": "  "}))


def test_notify_is_skipped(fake_zendesk: FakeZendesk) -> None:
    result = writer(fake_zendesk).write(action("notify", {"channel": "pager"}))
    assert result == WriteResult(outcome="skipped", detail="notify is not a Zendesk action")
    assert fake_zendesk.calls == []


def test_unknown_action_is_permanent(fake_zendesk: FakeZendesk) -> None:
    with pytest.raises(Permanent):
        writer(fake_zendesk).write(action("delete_ticket", {}))


# -- due dates ------------------------------------------------------------------------------------------------

def test_due_date_datetime_format_is_a_safe_update_of_the_mapped_field(fake_zendesk: FakeZendesk) -> None:
    ticket = fake_zendesk.add_ticket(42, custom_fields=[{"id": 777, "value": "keep"}])
    stamp = ticket["updated_at"]
    result = writer(fake_zendesk).write(action("set_due_date", {"metric": "first_response", "cycle": 1,
                                                                "due_at": DUE}))
    assert result.outcome == "sent"
    assert {"id": FIRST_FIELD, "value": "2026-03-02T23:30:00Z"} in fake_zendesk.tickets[42]["custom_fields"]
    assert {"id": 777, "value": "keep"} in fake_zendesk.tickets[42]["custom_fields"]
    put = writes(fake_zendesk)[0]
    assert put.json == {"ticket": {"custom_fields": [{"id": FIRST_FIELD, "value": "2026-03-02T23:30:00Z"}],
                                   "safe_update": True, "updated_stamp": stamp}}


def test_due_date_date_format_writes_the_utc_day(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    fake_zendesk.date_fields.add(RESOLUTION_FIELD)
    # 20:30 in New York on 2 March is 01:30 UTC on 3 March: the UTC day is written
    due = datetime(2026, 3, 2, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    result = writer(fake_zendesk, due_field_format="date").write(
        action("set_due_date", {"metric": "resolution", "cycle": 1, "due_at": due}))
    assert result.outcome == "sent"
    assert fake_zendesk.tickets[42]["custom_fields"] == [{"id": RESOLUTION_FIELD, "value": "2026-03-03"}]


def test_due_date_accepts_iso_text(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    writer(fake_zendesk).write(action("set_due_date", {"metric": "resolution", "due_at": "2026-03-02T23:30:00Z"}))
    assert fake_zendesk.tickets[42]["custom_fields"] == [{"id": RESOLUTION_FIELD, "value": "2026-03-02T23:30:00Z"}]


def test_a_due_date_past_2099_is_written(fake_zendesk: FakeZendesk) -> None:
    """Events may be dated up to 2099-12-31, so a clock started late in 2099 is due in 2100: the connector's own
    instant, not input held to the accepted range (it was refused as "not an ISO 8601 instant")."""
    fake_zendesk.add_ticket(42)
    result = writer(fake_zendesk).write(action("set_due_date", {"metric": "resolution",
                                                                "due_at": "2100-01-04T17:00:00Z"}))
    assert result.outcome == "sent"
    assert fake_zendesk.tickets[42]["custom_fields"] == [{"id": RESOLUTION_FIELD, "value": "2100-01-04T17:00:00Z"}]


@pytest.mark.parametrize("due_at", [datetime(2026, 3, 2, 23, 30), "tomorrow", None])
def test_bad_due_at_is_permanent(fake_zendesk: FakeZendesk, due_at: Any) -> None:
    with pytest.raises(Permanent):
        writer(fake_zendesk).write(action("set_due_date", {"metric": "resolution", "due_at": due_at}))


def test_unmapped_metric_is_skipped(fake_zendesk: FakeZendesk) -> None:
    result = writer(fake_zendesk).write(action("set_due_date", {"metric": "next_response", "due_at": DUE}))
    assert result == WriteResult(outcome="skipped", detail="no field mapped for next_response")
    assert fake_zendesk.calls == []


def test_due_date_already_there_is_not_written_again(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42, custom_fields=[{"id": FIRST_FIELD, "value": "2026-03-02T23:30:00Z"}])
    result = writer(fake_zendesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))
    assert result.outcome == "skipped"
    assert writes(fake_zendesk) == []


def test_conflict_refetches_and_reapplies(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    fake_zendesk.conflict_next(1)
    result = writer(fake_zendesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))
    assert result.outcome == "sent"
    assert [(c.method, c.path) for c in fake_zendesk.calls] == [("GET", "/api/v2/tickets/42.json"),
                                                               ("PUT", "/api/v2/tickets/42.json")] * 2
    first, second = writes(fake_zendesk)
    assert first.json["ticket"]["updated_stamp"] != second.json["ticket"]["updated_stamp"]
    assert fake_zendesk.tickets[42]["custom_fields"] == [{"id": FIRST_FIELD, "value": "2026-03-02T23:30:00Z"}]


def test_conflict_twice_is_conflict(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    fake_zendesk.conflict_next(2)
    with pytest.raises(Conflict):
        writer(fake_zendesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))
    assert len(writes(fake_zendesk)) == 2
    assert fake_zendesk.tickets[42]["custom_fields"] == []


def test_due_date_on_closed_ticket_is_permanent_without_a_write(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42, status="closed")
    with pytest.raises(Permanent, match="closed"):
        writer(fake_zendesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))
    assert writes(fake_zendesk) == []


@pytest.mark.parametrize("kind,params", [
    ("add_tags", {"tags": ["sla_breached"]}), ("remove_tags", {"tags": ["x"]}),
    ("set_priority", {"priority": "high"}), ("add_note", {"body": "late"}),
])
def test_closed_ticket_rejection_is_permanent(fake_zendesk: FakeZendesk, kind: str, params: dict[str, Any]) -> None:
    fake_zendesk.add_ticket(42, status="closed")
    with pytest.raises(Permanent, match="closed"):
        writer(fake_zendesk).write(action(kind, params))


def test_bad_date_value_for_a_date_field_is_permanent_and_clean(fake_zendesk: FakeZendesk) -> None:
    # the field is a date field in Zendesk but configured as datetime: Zendesk's 422 names the field
    fake_zendesk.add_ticket(42)
    fake_zendesk.date_fields.add(FIRST_FIELD)
    with pytest.raises(Permanent) as info:
        writer(fake_zendesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))
    assert f"custom field {FIRST_FIELD}" in str(info.value)
    assert TOKEN not in str(info.value) and EMAIL not in str(info.value)


def test_rate_limited_write_is_transient_with_retry_after(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    fake_zendesk.fail_next(429, "Number of allowed API requests per minute exceeded", {"Retry-After": "12"})
    with pytest.raises(Transient) as info:
        writer(fake_zendesk).write(action("add_tags", {"tags": ["sla_warning"]}))
    assert info.value.retry_after == 12.0


def test_server_error_during_due_date_is_transient(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    fake_zendesk.fail_next(502, "bad gateway")
    with pytest.raises(Transient):
        writer(fake_zendesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))


def test_missing_ticket_is_permanent(fake_zendesk: FakeZendesk) -> None:
    with pytest.raises(Permanent, match="not found"):
        writer(fake_zendesk).write(action("set_priority", {"priority": "low"}, ticket_id="999"))


def test_set_group_unassigns_when_the_assignee_is_not_in_the_new_group(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42, assignee_id=777)
    fake_zendesk.add_ticket(43)
    fake_zendesk.groups.append({"id": 12, "name": "escalations"})
    w = writer(fake_zendesk)
    w.write(action("set_group", {"group": "escalations"}, ticket_id="43"))  # the group names are cached now
    fake_zendesk.fail_next(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                 "details": {"assignee_id": [{"description": "Assignee is not a member of the group",
                                                              "error": "InvalidValue"}]}})
    result = w.write(action("set_group", {"group": "escalations"}))
    assert (result.outcome, result.detail) == ("sent", "group 12, assignee cleared")
    assert fake_zendesk.tickets[42]["group_id"] == 12 and fake_zendesk.tickets[42]["assignee_id"] is None
    assert writes(fake_zendesk)[-1].json == {"ticket": {"group_id": 12, "assignee_id": None}}


def test_set_group_other_422s_stay_permanent(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42)
    fake_zendesk.add_ticket(43)
    fake_zendesk.groups.append({"id": 12, "name": "escalations"})
    w = writer(fake_zendesk)
    w.write(action("set_group", {"group": "escalations"}, ticket_id="43"))
    fake_zendesk.fail_next(422, {"error": "RecordInvalid", "details": {"group_id": [{"error": "InvalidValue"}]}})
    with pytest.raises(Permanent, match="group_id"):
        w.write(action("set_group", {"group": "escalations"}))


# -- a 409 is followed by a re-fetch before the retry (R10) --------------------------------------------------

EVERY_KIND = [("add_tags", {"tags": ["sla_warning"]}), ("remove_tags", {"tags": ["vip"]}),
              ("set_priority", {"priority": "high"}), ("set_group", {"group": "escalations"}),
              ("add_note", {"body": "Reply due soon"}),
              ("set_due_date", {"metric": "first_response", "due_at": DUE})]


def trail(fake: FakeZendesk) -> list[tuple[str, str, int]]:
    return [(c.method, c.path, c.status) for c in fake.calls if c.path != "/api/v2/groups.json"]


@pytest.mark.parametrize(("kind", "params"), EVERY_KIND)
def test_a_409_is_followed_by_a_refetch_then_one_more_try(fake_zendesk: FakeZendesk, kind: str,
                                                          params: dict[str, Any]) -> None:
    fake_zendesk.add_ticket(42, tags=["vip"])
    fake_zendesk.groups.append({"id": 12, "name": "escalations"})
    fake_zendesk.write_faults(["409"])
    assert writer(fake_zendesk).write(action(kind, params)).outcome == "sent"
    calls = trail(fake_zendesk)
    conflict = next(i for i, c in enumerate(calls) if c[2] == 409)
    assert calls[conflict + 1] == ("GET", "/api/v2/tickets/42.json", 200)
    assert calls[conflict + 2][0] in ("PUT", "DELETE") and calls[conflict + 2][2] == 200
    assert len(calls) == conflict + 3


@pytest.mark.parametrize(("kind", "params"), EVERY_KIND)
def test_two_409s_are_a_conflict_and_the_next_try_reads_the_ticket_first(fake_zendesk: FakeZendesk, kind: str,
                                                                        params: dict[str, Any]) -> None:
    fake_zendesk.add_ticket(42, tags=["vip"])
    fake_zendesk.groups.append({"id": 12, "name": "escalations"})
    w = writer(fake_zendesk)
    fake_zendesk.write_faults(["409", "409"])
    with pytest.raises(Conflict):
        w.write(action(kind, params))
    fake_zendesk.calls.clear()
    assert w.write(action(kind, params)).outcome == "sent"  # the executor's next try
    first = trail(fake_zendesk)[0]
    assert first == ("GET", "/api/v2/tickets/42.json", 200)


def test_a_ticket_closed_since_the_409_is_permanent_without_another_write(fake_zendesk: FakeZendesk) -> None:
    ticket = fake_zendesk.add_ticket(42)
    conflict = {"error": "UpdateConflict", "description": "Safe Update prevented the update"}
    fake_zendesk.fail_next(409, conflict)                                          # our PUT
    fake_zendesk.fail_next(200, {"ticket": {**fake_zendesk.public_ticket(ticket), "status": "closed"}})  # re-fetch
    with pytest.raises(Permanent, match="closed"):
        writer(fake_zendesk).write(action("add_tags", {"tags": ["sla_warning"]}))
    assert [(c.method, c.status) for c in fake_zendesk.calls] == [("PUT", 409), ("GET", 200)]


def test_held_for_follows_a_429_retry_after(fake_zendesk: FakeZendesk) -> None:
    now = [1000.0]
    fake_zendesk.add_ticket(42)
    config = SourceConfig(base_url=fake_zendesk.base_url)
    client = ZendeskClient(None, fake_zendesk.email, fake_zendesk.token, base_url=fake_zendesk.base_url,
                           clock=lambda: now[0])
    w = ZendeskWriter(client, config)
    assert w.held_for() == 0.0 and ZendeskWriter(None, config).held_for() == 0.0
    fake_zendesk.fail_next(429, "Number of allowed API requests per minute exceeded", {"Retry-After": "3"})
    with pytest.raises(Transient):
        w.write(action("add_tags", {"tags": ["sla_warning"]}))
    assert w.held_for() == 3.0
    now[0] += 2.5
    assert w.held_for() == 0.5
    now[0] += 1
    assert w.held_for() == 0.0
