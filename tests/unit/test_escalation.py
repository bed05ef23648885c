"""Escalation decisions: thresholds, filters, note templates and stable idempotency keys."""

from __future__ import annotations

from connector.rules.engine import Rulebook
from tests.helpers import AGENT, config, event, utc

ESCALATIONS = [
    {"name": "warn", "when": {"metric": "first_response", "at": "75%", "severity": ["P3"]},
     "actions": [{"add_tags": ["sla_warning"]}, {"add_note": "{metric} due {due_at}, {remaining} left ({severity})"}]},
    {"name": "soon", "when": {"metric": ["resolution"], "remaining": "1h"},
     "actions": [{"notify": {"target": "oncall", "message": "ticket {ticket_id}: {remaining} left"}}]},
    {"name": "breach", "when": {"breached": True, "policy": ["standard"]},
     "actions": [{"add_tags": ["sla_breached"]}, {"remove_tags": ["sla_warning"]}, {"set_group": "escalations"},
                 {"set_priority": "urgent"}, {"notify": "pager"}]},
]
CFG = config(escalations=ESCALATIONS)


def decide(events, now):
    book = Rulebook(CFG)
    (state,) = book.run(events).values()
    return book.evaluate(state, utc(now)).actions


def created():
    return event("2026-03-02 10:00", "ticket.created", status="new", created="2026-03-02 10:00")


def by_cause(actions, cause):
    return [a for a in actions if a.cause == cause]


def test_nothing_but_due_dates_before_any_threshold():
    actions = decide([created()], "2026-03-02 12:59")
    assert {a.action for a in actions} == {"set_due_date"}
    due = {a.params["metric"]: a.params["due_at"] for a in actions}
    # 2d = 48 business hours = six 8-hour days
    assert due == {"first_response": utc("2026-03-02 14:00"), "resolution": utc("2026-03-10 10:00")}


def test_percent_threshold_fires_at_the_instant_and_renders_the_note():
    actions = decide([created()], "2026-03-02 13:00")  # 3h of 4h = 75 %
    warn = by_cause(actions, "warn")
    assert [a.action for a in warn] == ["add_tags", "add_note"]
    assert warn[1].params == {"body": "first_response due 2026-03-02T14:00:00Z, 1h00m left (P3)", "public": False}
    assert warn[0].due_since == utc("2026-03-02 13:00")
    assert warn[0].key == "zendesk:acme:1:warn:first_response#1:75%:0"


def test_a_clock_met_before_the_threshold_never_fires_it():
    actions = decide([created(), event("2026-03-02 12:00", "comment.added", comment=AGENT)], "2026-03-05 12:00")
    assert not by_cause(actions, "warn")


def test_a_threshold_crossed_before_the_reply_still_fired():
    actions = decide([created(), event("2026-03-02 13:30", "comment.added", comment=AGENT)], "2026-03-02 14:00")
    assert [a.action for a in by_cause(actions, "warn")] == ["add_tags", "add_note"]


def test_severity_filter():
    actions = decide([event("2026-03-02 10:00", "ticket.created", status="new", priority="high")], "2026-03-02 16:00")
    assert not by_cause(actions, "warn")


def test_remaining_threshold():
    actions = decide([created()], "2026-03-10 09:00")  # resolution due Tue 10 10:00: 1h left at 09:00
    (soon,) = by_cause(actions, "soon")
    assert soon.params == {"target": "oncall", "message": "ticket 1: 1h00m left"}
    # 47 of 48 business hours are reached at Monday's close, the earliest such instant
    assert soon.due_since == utc("2026-03-09 17:00")


def test_breach_fires_every_action_once_per_clock_with_distinct_keys():
    actions = decide([created()], "2026-03-11 12:00")
    breach = by_cause(actions, "breach")
    assert [(a.metric, a.action) for a in breach] == [
        (m, k) for m in ("first_response", "resolution")
        for k in ("add_tags", "remove_tags", "set_group", "set_priority", "notify")]
    assert len({a.key for a in actions}) == len(actions)
    assert breach[0].due_since == utc("2026-03-02 14:00")
    assert breach[4].params["target"] == "pager"


def test_keys_are_stable_across_evaluations_and_due_date_keys_follow_the_due_instant():
    first = decide([created()], "2026-03-11 12:00")
    again = decide([created()], "2026-03-12 12:00")
    assert {a.key for a in first if a.action != "set_due_date"} == {a.key for a in again if a.action != "set_due_date"}
    paused = decide([created(), event("2026-03-02 11:00", status="pending"), event("2026-03-02 15:00", status="open")],
                    "2026-03-02 15:00")
    res_due = [a for a in paused if a.action == "set_due_date" and a.metric == "resolution"]
    assert res_due[0].params["due_at"] == utc("2026-03-10 14:00")
    assert res_due[0].key.endswith(":due:resolution#1:2026-03-10T14:00:00Z")


def test_policy_filter():
    cfg = config(escalations=ESCALATIONS, policies=[
        {"name": "other", "calendar": "business", "targets": {"P3": {"first_response": "1h"}}},
        {"name": "standard", "when": {"tags_any": ["never"]}, "calendar": "business",
         "targets": {"P3": {"first_response": "1h"}}}])
    book = Rulebook(cfg)
    (state,) = book.run([created()]).values()
    assert not by_cause(book.evaluate(state, utc("2026-03-05 12:00")).actions, "breach")


def test_every_documented_placeholder_renders():
    from connector.templates import NOTE_FIELDS

    template = " ".join(f"{name}={{{name}}}" for name in NOTE_FIELDS)
    cfg = config(escalations=[{"name": "all", "when": {"breached": True, "metric": "first_response"},
                               "actions": [{"add_note": template}]}])
    book = Rulebook(cfg)
    (state,) = book.run([created()]).values()
    (note,) = [a for a in book.evaluate(state, utc("2026-03-02 15:00")).actions if a.cause == "all"]
    assert note.params["body"] == (
        "ticket_id=1 source=zendesk account=acme metric=first_response cycle=1 severity=P3 policy=standard "
        "escalation=all due_at=2026-03-02T14:00:00Z breached_at=2026-03-02T14:00:00Z target=4h00m elapsed=5h00m "
        "remaining=0h00m late=1h00m time_left=1h late status=breached")


def test_a_note_never_shows_a_negative_time_left():
    """Past its due instant a note says how late (a ticket learned of late, or evaluated after an outage)."""
    template = "{time_left} | {remaining} left | {late} late"
    cfg = config(escalations=[{"name": "warn", "when": {"at": "75%", "metric": "first_response"},
                               "actions": [{"add_note": template}]}])
    book = Rulebook(cfg)
    (state,) = book.run([created()]).values()

    def note(at: str) -> str:
        (action,) = [a for a in book.evaluate(state, utc(at)).actions if a.cause == "warn"]
        return action.params["body"]

    assert note("2026-03-02 13:15") == "45m left | 0h45m left | 0h00m late"
    assert note("2026-03-02 14:00") == "due now | 0h00m left | 0h00m late"
    assert note("2026-03-02 16:13:07") == "2h13m7s late | 0h00m left | 2h13m07s late"


def test_next_check_is_the_next_threshold_or_breach_of_a_running_clock():
    book = Rulebook(CFG)
    (state,) = book.run([created()]).values()
    assert book.next_check(state, utc("2026-03-02 10:05")) == utc("2026-03-02 13:00")  # 75 % of first response
    assert book.next_check(state, utc("2026-03-02 13:00")) == utc("2026-03-02 14:00:01")  # just past its due
    assert book.next_check(state, utc("2026-03-02 14:30")) == utc("2026-03-09 17:00")  # 1h left on resolution
    assert book.next_check(state, utc("2026-03-10 10:00:01")) is None  # everything has fired


def test_a_paused_clock_needs_no_check():
    book = Rulebook(CFG)
    (state,) = book.run([created(), event("2026-03-02 10:30", "comment.added", comment=AGENT, status="pending")
                         ]).values()
    assert book.next_check(state, utc("2026-03-02 11:00")) is None
