"""SLA clock semantics (DESIGN §4), one behaviour per test, on a UTC Mon–Fri 09–17 calendar.

2026-03-02 is a Monday. P3 targets: first response 4h, next response 8h, periodic update 8h,
resolution 2d (48 business hours) on `business`; P1 targets run on 24x7.
"""

from __future__ import annotations

import pytest

from connector.rules.clocks import Clock
from connector.rules.engine import OutOfOrder, Rulebook
from tests.helpers import AGENT, BOT, CUSTOMER, PRIVATE_NOTE, config, event, utc

CFG = config()


def clocks_of(events, now: str | None = None, cfg=CFG) -> dict[str, Clock]:
    book = Rulebook(cfg)
    states = book.run(events)
    (state,) = states.values()
    at = utc(now) if now else max(e.occurred_at for e in events)
    report = book.evaluate(state, at)
    return {f"{c.metric}#{c.cycle}": c for c in report.clocks}


def created(at: str = "2026-03-02 10:00", **kw) -> object:
    return event(at, "ticket.created", status="new", created=at, **kw)


# --- first response --------------------------------------------------------------------------------


def test_first_response_met_by_a_public_agent_reply():
    c = clocks_of([created(), event("2026-03-02 12:00", "comment.added", comment=AGENT)])
    fr = c["first_response#1"]
    assert (fr.status, fr.elapsed_seconds, fr.target_seconds) == ("met", 7200, 14400)
    assert fr.due_at == utc("2026-03-02 14:00") and fr.stopped_at == utc("2026-03-02 12:00")
    assert not fr.breached and fr.breached_at is None


def test_first_response_breached_records_the_due_instant_as_breach_time():
    c = clocks_of([created(), event("2026-03-03 10:00", "comment.added", comment=AGENT)])
    fr = c["first_response#1"]
    assert fr.status == "breached" and fr.breached
    assert fr.breached_at == fr.due_at == utc("2026-03-02 14:00")
    assert fr.elapsed_seconds == 7 * 3600 + 3600  # Mon 10–17 and Tue 09–10


@pytest.mark.parametrize("comment", [PRIVATE_NOTE, BOT, CUSTOMER], ids=["private-note", "automated", "end-user"])
def test_first_response_ignores_comments_that_are_not_public_human_agent_replies(comment):
    c = clocks_of([created(), event("2026-03-02 11:00", "comment.added", comment=comment)], now="2026-03-02 12:00")
    assert c["first_response#1"].status == "running"
    assert c["first_response#1"].elapsed_seconds == 7200


def test_a_comment_on_ticket_created_never_stops_first_response():
    agent_created = event("2026-03-02 10:00", "ticket.created", status="open", created="2026-03-02 10:00",
                          comment=AGENT)
    c = clocks_of([agent_created, event("2026-03-02 11:00", "comment.added", comment=AGENT)])
    assert c["first_response#1"].stopped_at == utc("2026-03-02 11:00")


def test_solved_without_a_reply_cancels_first_response_and_meets_resolution():
    c = clocks_of([created(), event("2026-03-02 11:00", status="solved")])
    assert c["first_response#1"].status == "cancelled"
    assert c["first_response#1"].due_at is None
    assert c["resolution#1"].status == "met" and c["resolution#1"].elapsed_seconds == 3600


def test_solved_without_a_reply_after_the_due_instant_is_a_breach():
    c = clocks_of([created(), event("2026-03-02 16:00", status="solved")])
    assert c["first_response#1"].status == "breached"
    assert c["first_response#1"].breached_at == utc("2026-03-02 14:00")


def test_reply_exactly_at_the_due_instant_is_met():
    c = clocks_of([created(), event("2026-03-02 14:00", "comment.added", comment=AGENT)])
    assert c["first_response#1"].status == "met"


def test_reply_after_hours_past_a_due_instant_at_closing_time_is_a_breach():
    # due lands exactly on 17:00; a reply at 17:30 adds no business time but comes after the due instant
    c = clocks_of([created("2026-03-02 13:00"), event("2026-03-02 17:30", "comment.added", comment=AGENT)])
    fr = c["first_response#1"]
    assert fr.due_at == utc("2026-03-02 17:00") and fr.elapsed_seconds == fr.target_seconds
    assert fr.status == "breached" and fr.breached_at == utc("2026-03-02 17:00")


def test_first_response_does_not_pause_on_pending():
    c = clocks_of([created(), event("2026-03-02 11:00", status="pending")], now="2026-03-02 15:00")
    assert c["first_response#1"].status == "breached"
    assert c["resolution#1"].status == "paused" and c["resolution#1"].due_at is None


def test_a_ticket_created_before_hours_starts_counting_at_opening():
    c = clocks_of([created("2026-03-02 06:00"), event("2026-03-02 09:30", "comment.added", comment=AGENT)])
    assert c["first_response#1"].elapsed_seconds == 1800
    assert c["first_response#1"].due_at == utc("2026-03-02 13:00")


# --- pauses and resolution -------------------------------------------------------------------------


def test_pause_removes_business_time_only_and_moves_the_due_instant():
    urgent = {"priority": "urgent"}
    evs = [created(**urgent), event("2026-03-02 11:00", status="pending", **urgent),
           event("2026-03-02 13:00", status="open", **urgent)]
    res = clocks_of(evs, now="2026-03-02 14:00")["resolution#1"]
    assert res.status == "running"
    assert res.elapsed_seconds == 2 * 3600  # 10–11 and 13–14 on 24x7
    assert res.due_at == utc("2026-03-02 20:00")  # 8h target + 2h paused


def test_pause_outside_business_hours_moves_nothing():
    evs = [created("2026-03-02 16:00"), event("2026-03-02 18:00", status="pending"),
           event("2026-03-03 08:00", status="open")]
    res = clocks_of(evs, now="2026-03-03 10:00")["resolution#1"]
    assert res.elapsed_seconds == 2 * 3600
    assert res.due_at == clocks_of([created("2026-03-02 16:00")], now="2026-03-03 10:00")["resolution#1"].due_at


def test_resolution_reopen_continues_with_the_solved_period_excluded():
    evs = [created(), event("2026-03-02 12:00", status="solved"),
           event("2026-03-03 10:00", "comment.added", status="open", comment=CUSTOMER),
           event("2026-03-03 11:00", status="solved")]
    res = clocks_of(evs)["resolution#1"]
    assert res.status == "met" and res.cycle == 1
    assert res.elapsed_seconds == 3 * 3600
    assert res.started_at == utc("2026-03-02 10:00")


def test_resolution_reopen_restart_option():
    cfg = config(policies=[{"name": "p", "calendar": "business", "on_reopen": "restart",
                            "targets": {"P3": {"resolution": "2d"}}}])
    evs = [created(), event("2026-03-02 12:00", status="solved"),
           event("2026-03-03 10:00", status="open"), event("2026-03-03 11:00", status="solved")]
    res = clocks_of(evs, cfg=cfg)["resolution#1"]
    assert res.started_at == utc("2026-03-03 10:00") and res.elapsed_seconds == 3600


def test_pause_on_pauses_periodic_update_but_not_next_response():
    evs = [created(), event("2026-03-02 10:30", "comment.added", comment=AGENT),
           event("2026-03-02 11:00", "comment.added", comment=CUSTOMER, status="pending")]
    c = clocks_of(evs, now="2026-03-02 13:00")
    assert c["periodic_update#1"].status == "paused" and c["periodic_update#1"].elapsed_seconds == 1800
    assert c["next_response#1"].status == "running" and c["next_response#1"].elapsed_seconds == 7200


# --- next response and periodic update -------------------------------------------------------------


def test_next_response_cycles_start_on_customer_comments_after_the_first_reply():
    evs = [created(),
           event("2026-03-02 10:05", "comment.added", comment=CUSTOMER),  # before any reply: no cycle
           event("2026-03-02 11:00", "comment.added", comment=AGENT),
           event("2026-03-02 12:00", "comment.added", comment=CUSTOMER),
           event("2026-03-02 12:30", "comment.added", comment=CUSTOMER),  # already waiting: same cycle
           event("2026-03-02 14:00", "comment.added", comment=AGENT),
           event("2026-03-02 15:00", "comment.added", comment=CUSTOMER)]
    c = clocks_of(evs, now="2026-03-02 16:00")
    assert c["next_response#1"].started_at == utc("2026-03-02 12:00")
    assert (c["next_response#1"].status, c["next_response#1"].elapsed_seconds) == ("met", 7200)
    assert c["next_response#2"].status == "running" and c["next_response#2"].elapsed_seconds == 3600
    assert "next_response#3" not in c


def test_periodic_update_runs_between_public_agent_replies():
    evs = [created(), event("2026-03-02 11:00", "comment.added", comment=AGENT),
           event("2026-03-02 13:00", "comment.added", comment=AGENT),
           event("2026-03-02 14:00", status="solved")]
    c = clocks_of(evs)
    assert c["periodic_update#1"].status == "met" and c["periodic_update#1"].elapsed_seconds == 7200
    assert c["periodic_update#2"].status == "cancelled"


def test_a_reply_that_solves_meets_first_response_and_resolution_and_starts_no_update_cycle():
    c = clocks_of([created(), event("2026-03-02 11:00", "comment.added", comment=AGENT, status="solved")])
    assert c["first_response#1"].status == "met" and c["resolution#1"].status == "met"
    assert "periodic_update#1" not in c


# --- severity and policy changes -------------------------------------------------------------------


def test_priority_raise_recomputes_running_clocks_from_their_original_start():
    evs = [created(), event("2026-03-02 10:30", priority="urgent")]
    c = clocks_of(evs, now="2026-03-02 10:45")
    fr = c["first_response#1"]
    assert fr.target_seconds == 3600 and fr.calendar == "24x7"
    assert fr.started_at == utc("2026-03-02 10:00") and fr.due_at == utc("2026-03-02 11:00")


def test_stopped_clocks_keep_the_target_they_stopped_with():
    evs = [created(), event("2026-03-02 11:00", "comment.added", comment=AGENT),
           event("2026-03-02 12:00", priority="urgent")]
    c = clocks_of(evs)
    assert c["first_response#1"].target_seconds == 4 * 3600 and c["first_response#1"].status == "met"
    assert c["resolution#1"].target_seconds == 8 * 3600


def test_a_priority_raise_can_reveal_a_breach_in_the_past():
    evs = [created(), event("2026-03-02 12:00", priority="urgent")]
    fr = clocks_of(evs)["first_response#1"]
    assert fr.status == "breached" and fr.breached_at == utc("2026-03-02 11:00")


def test_a_metric_without_target_has_no_clock():
    c = clocks_of([created(priority="high")])  # P2 has no periodic_update target
    assert set(c) == {"first_response#1", "resolution#1"}


def test_no_matching_policy_cancels_running_clocks():
    cfg = config(policies=[{"name": "tagged", "when": {"tags_any": ["sla"]}, "calendar": "business",
                            "targets": {"P3": {"first_response": "4h", "resolution": "2d"}}}])
    evs = [created(tags=("sla",)), event("2026-03-02 11:00", tags=())]
    c = clocks_of(evs, cfg=cfg)
    assert {k: v.status for k, v in c.items()} == {"first_response#1": "cancelled", "resolution#1": "cancelled"}


def test_target_calendar_overrides_the_policy_calendar():
    c = clocks_of([created("2026-03-06 16:00", priority="urgent")], now="2026-03-07 12:00")  # Friday → Saturday
    assert c["resolution#1"].due_at == utc("2026-03-07 00:00")  # 24x7, weekend counts


# --- ordering, duplicates, purity ------------------------------------------------------------------


def test_events_out_of_order_and_repeated_give_the_same_clocks():
    evs = [created(), event("2026-03-02 11:00", "comment.added", comment=AGENT),
           event("2026-03-02 12:00", status="pending"), event("2026-03-02 15:00", status="open")]
    shuffled = [evs[2], evs[0], evs[3], evs[1], evs[2]]
    assert clocks_of(shuffled) == clocks_of(evs)


def test_apply_refuses_an_event_older_than_the_last_one():
    book = Rulebook(CFG)
    state = book.apply(None, created())
    state = book.apply(state, event("2026-03-02 12:00"))
    with pytest.raises(OutOfOrder):
        book.apply(state, event("2026-03-02 11:00"))


def test_evaluate_changes_nothing():
    book = Rulebook(CFG)
    state = None
    for e in [created(), event("2026-03-02 11:00", status="pending")]:
        state = book.apply(state, e)
    before = state.to_dict()
    first = book.evaluate(state, utc("2026-03-05 12:00"))
    assert state.to_dict() == before
    assert book.evaluate(state, utc("2026-03-05 12:00")) == first


def test_running_clock_past_its_due_instant_at_now_is_breached():
    c = clocks_of([created()], now="2026-03-02 14:00:01")
    assert c["first_response#1"].status == "breached"
    assert clocks_of([created()], now="2026-03-02 14:00")["first_response#1"].status == "running"


def test_the_same_comment_under_another_id_is_applied_once():
    # a webhook and a poll of the history report one agent reply with different ids and instants 1 s apart
    reply = event("2026-03-02 11:00", "comment.added", comment=AGENT, event_id="webhook-1")
    again = event("2026-03-02 11:00:01", "comment.added", comment=AGENT, event_id="audit:77:comment:1")
    twice = clocks_of([created(), reply, again, event("2026-03-02 12:00", "comment.added", comment=AGENT)])
    once = clocks_of([created(), reply, event("2026-03-02 12:00", "comment.added", comment=AGENT)])
    assert twice == once
    assert twice["periodic_update#1"].stopped_at == utc("2026-03-02 12:00")


def test_two_comments_by_different_authors_at_one_instant_both_count():
    other = event("2026-03-02 11:00", "comment.added", comment=CUSTOMER, event_id="c2")
    c = clocks_of([created(), event("2026-03-02 10:30", "comment.added", comment=AGENT), other,
                   event("2026-03-02 11:00", "comment.added", comment=AGENT)], now="2026-03-02 11:30")
    assert c["next_response#1"].status == "met"


# --- a repeated comment carries a snapshot (issue 11 §13) --------------------------------------------

STATUS_ONLY_IN_REPEATS = config(calendars={}, policies=[{"name": "always", "calendar": "24x7",
                                                          "pause_on": ["pending", "on_hold"],
                                                          "targets": {"P3": {"first_response": "4h",
                                                                             "resolution": "2d"}}}])


def test_a_repeated_comment_is_counted_once_but_its_status_change_applies():
    """14:00 created; 15:00:00 reply by a1 with status pending; 15:00:01 the same author, public, status open.

    The second comment is the first one again (same author, visibility, second ±1): it starts and stops
    nothing, but the ticket it describes is open, so resolution runs again from 15:00:01."""
    events = [created("2026-03-02 14:00"),
              event("2026-03-02 15:00:00", "comment.added", comment=AGENT, status="pending", event_id="r1"),
              event("2026-03-02 15:00:01", "comment.added", comment=AGENT, status="open", event_id="r2")]
    c = clocks_of(events, now="2026-03-02 22:00", cfg=STATUS_ONLY_IN_REPEATS)
    assert c["resolution#1"].status == "running"
    assert c["resolution#1"].elapsed_seconds == 3600 + 7 * 3600 - 1  # 14:00-15:00, then 15:00:01-22:00
    assert c["first_response#1"].stopped_at == utc("2026-03-02 15:00")  # the reply counted once, the first time


def test_a_repeated_comment_with_a_priority_change_changes_the_severity():
    cfg = config(calendars={}, policies=[{"name": "always", "calendar": "24x7", "targets": {
        "P1": {"first_response": "1h", "resolution": "4h"}, "P3": {"first_response": "4h", "resolution": "2d"}}}])
    events = [created("2026-03-02 14:00"),
              event("2026-03-02 15:00:00", "comment.added", comment=AGENT, event_id="r1"),
              event("2026-03-02 15:00:01", "comment.added", comment=AGENT, priority="urgent", event_id="r2")]
    book = Rulebook(cfg)
    (state,) = book.run(events).values()
    assert state.severity.classified == "P1"
    assert {c.metric: c.target_seconds for c in book.evaluate(state, utc("2026-03-02 16:00")).clocks}[
        "resolution"] == 4 * 3600


def test_a_repeated_comment_older_than_the_last_event_rebuilds_the_ticket():
    """Arriving late (a poll of the history), the repeat is out of order: the worker rebuilds from history."""
    book = Rulebook(STATUS_ONLY_IN_REPEATS)
    first = created("2026-03-02 14:00")
    reply = event("2026-03-02 15:00:00", "comment.added", comment=AGENT, status="pending", event_id="r1")
    later = event("2026-03-02 16:00", status="pending", event_id="u1")
    state = book.apply(book.apply(book.apply(None, first), reply), later)
    with pytest.raises(OutOfOrder):
        book.apply(state, event("2026-03-02 15:00:01", "comment.added", comment=AGENT, status="open",
                                event_id="audit-1"))


# --- deleted and restored tickets (issue 11 §9) ----------------------------------------------------


def test_a_deleted_ticket_cancels_its_clocks_and_a_restore_resumes_them_without_the_deleted_period():
    cfg = STATUS_ONLY_IN_REPEATS
    events = [created("2026-03-02 14:00"), event("2026-03-02 15:00", status="deleted", event_id="d"),
              event("2026-03-02 18:00", status="open", event_id="r")]
    deleted = clocks_of(events[:2], now="2026-03-02 17:00", cfg=cfg)
    assert {k: (c.status, c.stopped_at) for k, c in deleted.items()} == {
        "first_response#1": ("cancelled", utc("2026-03-02 15:00")),
        "resolution#1": ("cancelled", utc("2026-03-02 15:00"))}
    restored = clocks_of(events, now="2026-03-02 19:00", cfg=cfg)
    assert restored["first_response#1"].status == "running"
    assert restored["first_response#1"].elapsed_seconds == 2 * 3600  # 14-15 and 18-19: not the 3 h deleted
    assert restored["first_response#1"].due_at == utc("2026-03-02 21:00")


def test_a_solved_ticket_deleted_then_restored_as_open_is_a_reopen():
    cfg = STATUS_ONLY_IN_REPEATS
    events = [created("2026-03-02 14:00"), event("2026-03-02 15:00", "comment.added", comment=AGENT),
              event("2026-03-02 16:00", status="solved"), event("2026-03-02 17:00", status="deleted"),
              event("2026-03-02 18:00", status="open")]
    c = clocks_of(events, now="2026-03-02 19:00", cfg=cfg)
    assert c["first_response#1"].status == "met"
    assert c["resolution#1"].status == "running" and c["resolution#1"].elapsed_seconds == 3 * 3600


def test_comments_on_a_deleted_ticket_start_nothing():
    events = [created("2026-03-02 10:00"), event("2026-03-02 10:30", "comment.added", comment=AGENT),
              event("2026-03-02 11:00", status="deleted"),
              event("2026-03-02 11:30", "comment.added", comment=CUSTOMER, status="deleted"),
              event("2026-03-02 11:40", "comment.added", comment=AGENT, status="deleted")]
    c = clocks_of(events, now="2026-03-02 12:00")
    assert all(clock.status != "running" for clock in c.values())
    assert "next_response#1" not in c and "periodic_update#2" not in c


def test_deleted_state_survives_persistence():
    import json

    from connector.rules.engine import TicketState

    book = Rulebook(CFG)
    state = None
    for e in [created("2026-03-02 10:00"), event("2026-03-02 10:30", status="solved"),
              event("2026-03-02 11:00", status="deleted")]:
        state = book.apply(state, e)
        state = TicketState.from_dict(json.loads(json.dumps(state.to_dict())))
    state = book.apply(state, event("2026-03-02 12:00", status="open"))
    c = {f"{x.metric}#{x.cycle}": x for x in book.evaluate(state, utc("2026-03-02 13:00")).clocks}
    assert c["resolution#1"].status == "running"  # restored as open after solved: a reopen


# --- two choices DESIGN leaves open (issue 11 §14; docs/decisions.md "Clocks") -----------------------


def test_a_clock_met_while_paused_shows_the_due_instant_it_would_have_had_resuming_at_the_stop():
    events = [created("2026-03-02 10:00"), event("2026-03-02 10:30", "comment.added", comment=AGENT),
              event("2026-03-02 11:00", status="pending"),
              event("2026-03-02 12:00", "comment.added", comment=AGENT, status="pending")]
    update = clocks_of(events, now="2026-03-02 13:00")["periodic_update#1"]
    assert (update.status, update.elapsed_seconds, update.stopped_at) == ("met", 1800, utc("2026-03-02 12:00"))
    # 8 h target, 30 min used before the pause: 7 h 30 min of business time from the stop at 12:00
    assert update.due_at == utc("2026-03-03 11:30")


def test_reply_cycles_started_while_the_severity_has_no_target_keep_their_numbers():
    cfg = config(calendars={}, policies=[{"name": "s", "calendar": "24x7", "targets": {
        "P1": {"next_response": "1h"}, "P3": {"first_response": "4h"}}}])
    events = [created("2026-03-02 10:00"), event("2026-03-02 10:30", "comment.added", comment=AGENT),
              event("2026-03-02 11:00", "comment.added", comment=CUSTOMER),      # cycle 1: P3 has no target
              event("2026-03-02 11:10", "comment.added", comment=AGENT),
              event("2026-03-02 11:20", priority="urgent"),
              event("2026-03-02 11:30", "comment.added", comment=CUSTOMER, priority="urgent")]
    shown = [k for k in clocks_of(events, now="2026-03-02 12:00", cfg=cfg) if k.startswith("next_response")]
    assert shown == ["next_response#2"]  # the second customer message's cycle, numbered as it happened
