"""FreshdeskWriter: every action kind against the fake Freshdesk over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from adapters.base import WriteAction, Writer, WriteResult
from adapters.freshdesk.client import FreshdeskClient
from adapters.freshdesk.writeback import FreshdeskWriter
from connector.config import FreshdeskSourceConfig, SourceConfig
from connector.errors import Conflict, Permanent, Transient
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk, fake_freshdesk_fixture, stamp  # noqa: F401

DUE = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
NATIVE = {"first_response": "fr_due_by", "resolution": "due_by"}
CUSTOM = {"first_response": "cf_sla_first_response_due", "resolution": "cf_sla_resolution_due"}


def action(kind: str, params: dict[str, Any], ticket_id: str = "42") -> WriteAction:
    return WriteAction(key=f"freshdesk:acme:{ticket_id}:{kind}", action=kind, source="freshdesk", account="acme",
                       ticket_id=ticket_id, params=params)


def writer(fake: FakeFreshdesk, **kwargs: Any) -> FreshdeskWriter:
    config = FreshdeskSourceConfig(base_url=fake.base_url, due_fields=NATIVE, due_by_owner="connector")
    return FreshdeskWriter(FreshdeskClient(None, fake.api_key, base_url=fake.base_url), config, **kwargs)


def test_is_a_writer_and_configured_follows_the_client(fake_freshdesk: FakeFreshdesk) -> None:
    configured: Writer = writer(fake_freshdesk)
    assert configured.source == "freshdesk" and configured.configured
    unconfigured = FreshdeskWriter(None, SourceConfig())
    assert not unconfigured.configured
    assert unconfigured.write(action("add_tags", {"tags": ["x"]})).outcome == "skipped"
    assert fake_freshdesk.calls == []


# -- tags -----------------------------------------------------------------------------------------------------

def test_add_tags_merges_with_existing_and_adds_the_marker(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, tags=["vip", "billing"])
    result = writer(fake_freshdesk).write(action("add_tags", {"tags": ("sla_warning",)}))
    assert result == WriteResult(outcome="sent", detail="added 2 tag(s)")
    assert fake_freshdesk.tickets[42]["tags"] == ["vip", "billing", "sla_warning", "sla_connector"]
    assert [c.json for c in fake_freshdesk.writes()] == [{"tags": ["vip", "billing", "sla_warning", "sla_connector"]}]
    assert [c.method for c in fake_freshdesk.calls] == ["GET", "PUT", "GET"]  # read, write, verify


def test_add_tags_already_there_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, tags=["sla_warning", "sla_connector"])
    assert writer(fake_freshdesk).write(action("add_tags", {"tags": ["sla_warning"]})).outcome == "skipped"
    assert fake_freshdesk.writes() == []


def test_add_tags_survives_a_concurrent_change(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, tags=["vip"])
    fake_freshdesk.concurrent_tag_change("agent_tag")  # a stale writer puts back ["vip", "agent_tag"]
    result = writer(fake_freshdesk).write(action("add_tags", {"tags": ["sla_breached"]}))
    assert result.outcome == "sent" and "concurrent" in result.detail
    assert fake_freshdesk.tickets[42]["tags"] == ["vip", "agent_tag", "sla_breached", "sla_connector"]
    assert len(fake_freshdesk.writes()) == 2


def test_add_tags_lost_twice_is_a_conflict(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, tags=["vip"])
    fake_freshdesk.concurrent_tag_change("a", times=2)
    with pytest.raises(Conflict):
        writer(fake_freshdesk).write(action("add_tags", {"tags": ["sla_breached"]}))
    assert "a" in fake_freshdesk.tickets[42]["tags"]  # the other writer's tag was never lost


def test_custom_marker_tag(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    writer(fake_freshdesk, marker_tag="sla_bot").write(action("add_tags", {"tags": ["sla_breached"]}))
    assert fake_freshdesk.tickets[42]["tags"] == ["sla_breached", "sla_bot"]


def test_remove_tags_keeps_the_others(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, tags=["vip", "sla_warning", "sla_connector"])
    result = writer(fake_freshdesk).write(action("remove_tags", {"tags": ["sla_warning"]}))
    assert result.outcome == "sent"
    assert fake_freshdesk.tickets[42]["tags"] == ["vip", "sla_connector"]


def test_remove_tags_undone_by_a_concurrent_writer_is_retried(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, tags=["vip", "sla_warning"])
    fake_freshdesk.concurrent_tag_change("agent_tag")
    assert writer(fake_freshdesk).write(action("remove_tags", {"tags": ["sla_warning"]})).outcome == "sent"
    assert fake_freshdesk.tickets[42]["tags"] == ["vip", "agent_tag"]


def test_remove_absent_tags_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, tags=["vip"])
    assert writer(fake_freshdesk).write(action("remove_tags", {"tags": ["sla_warning"]})).outcome == "skipped"


@pytest.mark.parametrize("tags", [[], [""], "", None, [1]])
def test_bad_tags_are_permanent(fake_freshdesk: FakeFreshdesk, tags: Any) -> None:
    with pytest.raises(Permanent):
        writer(fake_freshdesk).write(action("add_tags", {"tags": tags}))
    assert fake_freshdesk.calls == []


# -- priority, group, note, notify ----------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "sent"), [("Urgent", 4), ("low", 1), ("Medium", 2), (3, 3), ("4", 4)])
def test_set_priority(fake_freshdesk: FakeFreshdesk, given: Any, sent: int) -> None:
    fake_freshdesk.add_ticket(42, priority=1 if sent != 1 else 2)
    assert writer(fake_freshdesk).write(action("set_priority", {"priority": given})).outcome == "sent"
    assert fake_freshdesk.tickets[42]["priority"] == sent
    assert fake_freshdesk.writes()[0].json == {"priority": sent}


@pytest.mark.parametrize("bad", ["normal", 0, 5, True, None])
def test_bad_priority_is_permanent(fake_freshdesk: FakeFreshdesk, bad: Any) -> None:
    with pytest.raises(Permanent):
        writer(fake_freshdesk).write(action("set_priority", {"priority": bad}))
    assert fake_freshdesk.calls == []


def test_set_group_resolves_the_name_once(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.add_ticket(43)
    fake_freshdesk.groups.extend([{"id": 11, "name": "Support"}, {"id": 12, "name": "Escalations"}])
    w = writer(fake_freshdesk)
    assert w.write(action("set_group", {"group": "Escalations"})) == WriteResult(outcome="sent",
                                                                                  detail="group_id 12")
    assert w.write(action("set_group", {"group": "Escalations"}, ticket_id="43")).outcome == "sent"
    assert fake_freshdesk.tickets[42]["group_id"] == 12 == fake_freshdesk.tickets[43]["group_id"]
    assert len([c for c in fake_freshdesk.calls if c.path == "/api/v2/groups"]) == 1


def test_unknown_group_is_permanent(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    with pytest.raises(Permanent) as info:
        writer(fake_freshdesk).write(action("set_group", {"group": "Nowhere"}))
    assert "no Freshdesk group named 'Nowhere'" in str(info.value)
    assert fake_freshdesk.writes() == []


def test_add_note_is_a_private_escaped_note(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    result = writer(fake_freshdesk).write(action("add_note", {"body": "Due <soon>\nnow"}))
    assert result.outcome == "sent"
    assert fake_freshdesk.writes()[0].json == {"body": "Due &lt;soon&gt;<br>now", "private": True}


NOTE = "Reply due <15:00> & counting:\nreply now"
DECIDED = datetime(2026, 3, 2, 13, 55, tzinfo=UTC)  # the fake stamps its notes 14:00


def test_a_note_freshdesk_applied_but_whose_answer_was_lost_is_not_posted_again(
        fake_freshdesk: FakeFreshdesk) -> None:
    """A gateway's 502 after Freshdesk applied the note; the retry reads the conversations and finds the
    private note saying the same (its `body_text`: the HTML sent, as Freshdesk shows it) since the decision."""
    fake_freshdesk.add_ticket(42)
    freshdesk = writer(fake_freshdesk)
    fake_freshdesk.write_faults(["lost"])
    first = replace(action("add_note", {"body": NOTE}), queued_at=DECIDED)
    with pytest.raises(Transient):
        freshdesk.write(first)
    [note] = fake_freshdesk.tickets[42]["conversations"]
    assert fake_freshdesk.lost == 1 and note["body"].startswith("<div>") and "&lt;15:00&gt;" in note["body"]
    result = freshdesk.write(replace(first, attempt=2))
    assert result.outcome == "skipped" and "already on the ticket" in result.detail
    assert len(fake_freshdesk.tickets[42]["conversations"]) == 1


def test_a_retried_note_is_posted_when_no_earlier_try_reached_freshdesk(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.tickets[42]["conversations"] += [
        {"id": 1, "body": "<div>x</div>", "body_text": NOTE, "private": False, "created_at": "2026-03-02T14:00:00Z"},
        {"id": 2, "body": "<div>x</div>", "body_text": NOTE, "private": True, "created_at": "2026-03-02T13:30:00Z"},
        {"id": 3, "body": "<div>x</div>", "body_text": "other words", "private": True,
         "created_at": "2026-03-02T14:00:00Z"},
    ]
    result = writer(fake_freshdesk).write(replace(action("add_note", {"body": NOTE}), attempt=2, queued_at=DECIDED))
    assert result.outcome == "sent" and len(fake_freshdesk.tickets[42]["conversations"]) == 4


def test_notify_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    assert writer(fake_freshdesk).write(action("notify", {"channel": "x"})).outcome == "skipped"
    assert fake_freshdesk.calls == []


def test_unknown_action_is_permanent(fake_freshdesk: FakeFreshdesk) -> None:
    with pytest.raises(Permanent):
        writer(fake_freshdesk).write(action("explode", {}))


@pytest.mark.parametrize(("kind", "params"), [("add_tags", {"tags": ["x"]}), ("set_priority", {"priority": 4}),
                                              ("set_due_date", {"metric": "resolution", "due_at": DUE})])
def test_closed_ticket_is_skipped(fake_freshdesk: FakeFreshdesk, kind: str, params: dict[str, Any]) -> None:
    fake_freshdesk.add_ticket(42, status=5)
    result = writer(fake_freshdesk).write(action(kind, params))
    assert result == WriteResult(outcome="skipped", detail="ticket 42 is closed")
    assert fake_freshdesk.writes() == []


# -- due dates ------------------------------------------------------------------------------------------------

def test_set_due_date_resolution_as_utc_z(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)  # fr_due_by 15:00Z, due_by 22:00Z
    due = DUE.astimezone(timezone(timedelta(hours=2)))
    result = writer(fake_freshdesk).write(action("set_due_date", {"metric": "resolution", "due_at": due}))
    assert result.outcome == "sent"
    assert fake_freshdesk.writes()[0].json == {"due_by": "2026-03-02T20:00:00Z"}


def test_a_due_date_past_2099_is_written(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    result = writer(fake_freshdesk).write(action("set_due_date", {"metric": "resolution",
                                                                  "due_at": "2100-01-04T17:00:00Z"}))
    assert result.outcome == "sent"
    assert fake_freshdesk.writes()[0].json == {"due_by": "2100-01-04T17:00:00Z"}


def test_set_due_date_first_response(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    writer(fake_freshdesk).write(action("set_due_date", {"metric": "first_response",
                                                          "due_at": "2026-03-02T14:30:00Z"}))
    assert fake_freshdesk.tickets[42]["fr_due_by"] == "2026-03-02T14:30:00Z"


def test_same_due_date_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, due_by="2026-03-02T20:00:00Z")
    assert writer(fake_freshdesk).write(action("set_due_date", {"metric": "resolution",
                                                                "due_at": DUE})).outcome == "skipped"
    assert fake_freshdesk.writes() == []


def test_unmapped_metric_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    result = writer(fake_freshdesk).write(action("set_due_date", {"metric": "next_response", "due_at": DUE}))
    assert result == WriteResult(outcome="skipped", detail="no field mapped for next_response")
    assert fake_freshdesk.calls == []


def test_fr_due_by_after_first_response_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, first_responded_at=stamp(600))
    result = writer(fake_freshdesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))
    assert result.outcome == "skipped" and "first response" in result.detail
    assert fake_freshdesk.writes() == []


def test_due_date_on_resolved_ticket_is_skipped(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, status=4)
    result = writer(fake_freshdesk).write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))
    assert result == WriteResult(outcome="skipped", detail="ticket 42 is resolved")


def test_due_by_before_fr_due_by_moves_both(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, fr_due_by="2026-03-02T21:00:00Z")
    result = writer(fake_freshdesk).write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))
    assert result.outcome == "sent" and "fr_due_by" in result.detail
    assert fake_freshdesk.writes()[0].json == {"due_by": "2026-03-02T20:00:00Z", "fr_due_by": "2026-03-02T20:00:00Z"}


def test_fr_due_by_after_due_by_moves_both(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, due_by="2026-03-02T19:00:00Z")
    writer(fake_freshdesk).write(action("set_due_date", {"metric": "first_response", "due_at": DUE}))
    assert fake_freshdesk.tickets[42]["due_by"] == fake_freshdesk.tickets[42]["fr_due_by"] == "2026-03-02T20:00:00Z"


def test_due_by_after_first_response_ignores_fr_due_by(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, fr_due_by="2026-03-02T21:00:00Z", first_responded_at=stamp(60))
    writer(fake_freshdesk).write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))
    assert fake_freshdesk.writes()[0].json == {"due_by": "2026-03-02T20:00:00Z"}


def test_fake_enforces_the_rule_the_writer_respects(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, fr_due_by="2026-03-02T21:00:00Z")
    client = FreshdeskClient(None, API_KEY, base_url=fake_freshdesk.base_url)
    with pytest.raises(Permanent) as info:
        client.update_ticket(42, {"due_by": "2026-03-02T20:00:00Z"})
    assert str(info.value).endswith("rejected due_by (invalid_value)")


@pytest.mark.parametrize("due_at", ["tomorrow", datetime(2026, 3, 2, 20, 0), None])
def test_bad_due_at_is_permanent(fake_freshdesk: FakeFreshdesk, due_at: Any) -> None:
    with pytest.raises(Permanent):
        writer(fake_freshdesk).write(action("set_due_date", {"metric": "resolution", "due_at": due_at}))
    assert fake_freshdesk.calls == []


def test_due_field_must_be_a_freshdesk_due_field(fake_freshdesk: FakeFreshdesk) -> None:
    config = SourceConfig(due_fields={"resolution": "cf_sla_due"})
    w = FreshdeskWriter(FreshdeskClient(None, API_KEY, base_url=fake_freshdesk.base_url), config)
    with pytest.raises(Permanent):
        w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))


# -- failures pass through ------------------------------------------------------------------------------------

def test_rate_limited_write_is_transient_with_retry_after(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.fail_next(429, headers={"Retry-After": "12"})
    with pytest.raises(Transient) as info:
        writer(fake_freshdesk).write(action("set_priority", {"priority": 4}))
    assert info.value.retry_after == 12.0


def test_missing_ticket_is_permanent_and_clean(fake_freshdesk: FakeFreshdesk) -> None:
    with pytest.raises(Permanent) as info:
        writer(fake_freshdesk).write(action("add_tags", {"tags": ["x"]}, ticket_id="404"))
    assert API_KEY not in str(info.value) and "127.0.0.1" not in str(info.value)


# -- who owns due_by/fr_due_by: Freshdesk's newer SLA policies ------------------------------------------------

class FakeTime:
    """One clock for the fake desk and the writer's waits: a wait moves it on, nothing sleeps for real."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def owned_writer(fake: FakeFreshdesk, clock: FakeTime, sleep: Callable[[float], None] | None = None,
                 **settings: Any) -> FreshdeskWriter:
    fake.clock_seconds = clock
    config = FreshdeskSourceConfig(base_url=fake.base_url, due_fields=NATIVE, **settings)
    return FreshdeskWriter(FreshdeskClient(None, fake.api_key, base_url=fake.base_url), config,
                           sleep=sleep or clock.sleep)


def native_writes(fake: FakeFreshdesk) -> list[dict[str, Any]]:
    return [c.json for c in fake.writes() if {"due_by", "fr_due_by"} & set(c.json or {})]


def test_auto_finds_freshdesk_owns_the_due_dates_and_writes_the_custom_fields(fake_freshdesk: FakeFreshdesk) -> None:
    clock = FakeTime()
    fake_freshdesk.recalculate_due(after=5)  # the account is on the newer SLA policies
    for ticket_id in (42, 43, 44):
        fake_freshdesk.add_ticket(ticket_id)
    w = owned_writer(fake_freshdesk, clock, due_custom_fields=CUSTOM, due_readback_delay=10)
    first = w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))
    put = fake_freshdesk.writes()[0]
    assert put.json == {"due_by": "2026-03-02T20:00:00Z"} and put.status == 200  # its answer showed our value
    assert clock.sleeps == [10]  # read back later, not from the update's answer
    assert w.due_owner == "freshdesk"
    assert first == WriteResult(outcome="sent", detail="resolution due 2026-03-02T20:00:00Z in cf_sla_resolution_due")
    assert fake_freshdesk.tickets[42]["due_by"] == fake_freshdesk.tickets[42]["sla_due_by"]  # Freshdesk's own
    assert fake_freshdesk.tickets[42]["custom_fields"]["cf_sla_resolution_due"] == "2026-03-02T20:00:00Z"
    # from now on the native fields are left alone: no write loop against Freshdesk
    for ticket_id in ("42", "43", "44"):
        for metric in ("first_response", "resolution"):
            w.write(action("set_due_date", {"metric": metric, "due_at": DUE + timedelta(hours=1)}, ticket_id))
    assert len(native_writes(fake_freshdesk)) == 1 and clock.sleeps == [10]
    assert fake_freshdesk.tickets[44]["custom_fields"] == {"cf_sla_first_response_due": "2026-03-02T21:00:00Z",
                                                           "cf_sla_resolution_due": "2026-03-02T21:00:00Z"}


def test_auto_keeps_native_due_dates_that_stay(fake_freshdesk: FakeFreshdesk) -> None:
    clock = FakeTime()
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.add_ticket(43)
    w = owned_writer(fake_freshdesk, clock, due_custom_fields=CUSTOM)
    assert w.due_owner is None
    assert w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE})).detail == (
        "resolution due 2026-03-02T20:00:00Z in due_by")
    assert w.due_owner == "connector" and clock.sleeps == [10]
    w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE}, "43"))
    assert clock.sleeps == [10]  # found out once: no more waiting
    assert fake_freshdesk.tickets[43]["due_by"] == "2026-03-02T20:00:00Z"
    assert all("custom_fields" not in (c.json or {}) for c in fake_freshdesk.writes())


def test_a_failed_read_back_decides_nothing(fake_freshdesk: FakeFreshdesk) -> None:
    clock = FakeTime()
    fake_freshdesk.add_ticket(42)

    def sleep_then_fail(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.sleeps) == 1:
            fake_freshdesk.fail_next(503)  # the read-back after the first wait fails

    w = owned_writer(fake_freshdesk, clock, sleep=sleep_then_fail, due_custom_fields=CUSTOM)
    assert w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE})).outcome == "sent"
    assert w.due_owner is None  # the next native write reads back again
    w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE + timedelta(hours=1)}))
    assert w.due_owner == "connector" and clock.sleeps == [10, 10]


def test_owner_freshdesk_never_writes_the_native_fields(fake_freshdesk: FakeFreshdesk) -> None:
    clock = FakeTime()
    fake_freshdesk.add_ticket(42)
    w = owned_writer(fake_freshdesk, clock, due_by_owner="freshdesk", due_custom_fields=CUSTOM)
    assert w.write(action("set_due_date", {"metric": "first_response", "due_at": DUE})).outcome == "sent"
    assert w.write(action("set_due_date", {"metric": "first_response", "due_at": DUE})).detail == (
        "cf_sla_first_response_due already 2026-03-02T20:00:00Z")
    assert native_writes(fake_freshdesk) == [] and clock.sleeps == []
    assert [c.json for c in fake_freshdesk.writes()] == [
        {"custom_fields": {"cf_sla_first_response_due": "2026-03-02T20:00:00Z"}}]


def test_owned_without_a_custom_field_is_skipped_with_the_reason(fake_freshdesk: FakeFreshdesk) -> None:
    clock = FakeTime()
    fake_freshdesk.add_ticket(42)
    w = owned_writer(fake_freshdesk, clock, due_by_owner="freshdesk")
    result = w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))
    assert result == WriteResult(outcome="skipped", detail="due_by belongs to Freshdesk's SLA policies on this "
                                                           "account; map due_custom_fields.resolution to write it")
    fake_freshdesk.recalculate_due(after=1)
    auto = owned_writer(fake_freshdesk, clock)
    result = auto.write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))
    assert result.outcome == "skipped" and "Freshdesk recalculated due_by" in result.detail
    assert len(native_writes(fake_freshdesk)) == 1  # the one write that found out


def test_custom_due_fields_as_dates(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    config = FreshdeskSourceConfig(due_by_owner="freshdesk", due_custom_fields={"resolution": "cf_due_day"},
                                   due_field_format="date")
    w = FreshdeskWriter(FreshdeskClient(None, API_KEY, base_url=fake_freshdesk.base_url), config)
    due = datetime(2026, 3, 2, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC the next day
    w.write(action("set_due_date", {"metric": "resolution", "due_at": due}))
    assert fake_freshdesk.tickets[42]["custom_fields"] == {"cf_due_day": "2026-03-03"}


def test_a_custom_field_freshdesk_does_not_know_is_permanent(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.custom_field_names = {"cf_other"}
    config = FreshdeskSourceConfig(due_by_owner="freshdesk", due_custom_fields={"resolution": "cf_sla_due"})
    w = FreshdeskWriter(FreshdeskClient(None, API_KEY, base_url=fake_freshdesk.base_url), config)
    with pytest.raises(Permanent, match=r"rejected cf_sla_due \(invalid_field\)"):
        w.write(action("set_due_date", {"metric": "resolution", "due_at": DUE}))
