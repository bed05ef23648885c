"""Internal agreements (OLAs) and attribution, hand-computed (connector.rules.internal, DESIGN §3.4.1).

2026-03-02 is a Monday. Support works Mon–Fri 09–17 UTC (`business`); engineering works Mon–Fri 06–14 UTC
(`eng`, a follow-the-sun team's earlier hours). The customer's policy is the helpers' `standard`: P3 first
response 4h and resolution 2d on `business`, pausing on pending and on_hold.

- eng-triage binds engineering through `teams:` (its group, or its agents e1 and e2): P3 ownership 4h and
  first touch 1h on `eng`, ownership paused on on_hold; P1 ownership 2h and first touch 15m on 24x7.
- support-first-line binds support through `when: {group: [support]}`: P3 ownership 8h and first touch 30m
  on `business`. Support lists no agents, so any human agent's comment is its touch.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.events import Comment
from connector.replay import replay
from connector.rules.clocks import Clock
from connector.rules.engine import Rulebook, TicketState
from tests.helpers import AGENT, BOT, CUSTOMER, config, event, utc

H = 3600
ENG = Comment(author_role="agent", public=False, author_id="e1")        # an engineer's private note
ENG_REPLY = Comment(author_role="agent", public=True, author_id="e2")   # an engineer's public reply

OLA_CONFIG = {
    "calendars": {"business": {"timezone": "UTC", "hours": {"mon-fri": ["09:00-17:00"]}},
                  "eng": {"timezone": "UTC", "hours": {"mon-fri": ["06:00-14:00"]}}},
    "teams": {"support": {"groups": ["support"]}, "engineering": {"groups": ["engineering"], "agents": ["e1", "e2"]},
              "billing": {"agents": ["b1"]}},
    "olas": [
        {"name": "eng-triage", "team": "engineering", "calendar": "eng", "pause_on": ["on_hold"],
         "targets": {"P3": {"ownership": "4h", "first_touch": "1h"},
                     "P1": {"ownership": "2h", "first_touch": "15m", "calendar": "24x7"}},
         "escalations": [{"name": "eng-ownership-breach", "when": {"metric": "ownership", "breached": True},
                          "actions": [{"add_tags": ["ola_breached"]},
                                      {"add_note": "{escalation}: engineering held it past {due_at}"}]}]},
        {"name": "support-first-line", "team": "support", "when": {"group": ["support"]}, "calendar": "business",
         "targets": {"P3": {"ownership": "8h", "first_touch": "30m"}}},
    ],
}
CFG = config(**OLA_CONFIG)


def report_of(events, now: str, cfg=CFG):
    book = Rulebook(cfg)
    (state,) = book.run(events).values()
    return book.evaluate(state, utc(now)), state


def clocks_of(events, now: str, cfg=CFG) -> dict[str, Clock]:
    """Clocks by `metric#cycle` for the customer's, `agreement:metric#cycle` for internal ones."""
    report, _ = report_of(events, now, cfg)
    return {(f"{c.policy}:" if c.internal else "") + f"{c.metric}#{c.cycle}": c for c in report.clocks}


def created(at: str = "2026-03-02 10:00", group: str | None = "support", **kw):
    return event(at, "ticket.created", status="new", created=at, group=group, **kw)


def moved(at: str, group: str | None, status: str = "open", **kw):
    return event(at, status=status, group=group, **kw)


HANDBACK = [created(), moved("2026-03-02 11:00", "engineering"),
            event("2026-03-02 13:00", "comment.added", comment=ENG, group="engineering"),
            moved("2026-03-02 15:00", "support")]


# --- ownership and first touch, per cycle ---------------------------------------------------------


def test_ownership_runs_from_the_handoff_to_the_handback_on_the_teams_own_calendar():
    c = clocks_of(HANDBACK, now="2026-03-02 16:00")
    own = c["eng-triage:ownership#1"]
    assert (own.status, own.team, own.calendar) == ("met", "engineering", "eng")
    assert own.started_at == utc("2026-03-02 11:00") and own.stopped_at == utc("2026-03-02 15:00")
    assert own.elapsed_seconds == 3 * H  # 11:00–14:00 on eng; 14:00–15:00 is outside engineering's hours
    assert own.due_at == utc("2026-03-03 07:00")  # 3h on Monday, the 4th hour Tuesday from 06:00
    assert own.stop_reason == "handed on to support"


def test_first_touch_is_the_teams_first_comment_public_or_private():
    c = clocks_of(HANDBACK, now="2026-03-02 16:00")
    touch = c["eng-triage:first_touch#1"]
    assert touch.stopped_at == utc("2026-03-02 13:00") and touch.elapsed_seconds == 2 * H
    assert touch.status == "breached" and touch.breached_at == utc("2026-03-02 12:00")


def test_each_assignment_to_a_team_starts_a_new_cycle():
    c = clocks_of(HANDBACK, now="2026-03-02 16:00")
    first = c["support-first-line:ownership#1"]
    assert (first.status, first.elapsed_seconds, first.stop_reason) == ("met", H, "handed on to engineering")
    # handed on before anyone touched it, past its 30 minutes: a breach (a cancelled clock past due is one)
    assert c["support-first-line:first_touch#1"].status == "breached"
    assert c["support-first-line:first_touch#1"].breached_at == utc("2026-03-02 10:30")
    second = c["support-first-line:ownership#2"]
    assert (second.status, second.started_at, second.elapsed_seconds) == ("running", utc("2026-03-02 15:00"), H)
    assert c["support-first-line:first_touch#2"].breached_at == utc("2026-03-02 15:30")


def test_a_ticket_that_bounces_has_one_cycle_per_assignment_and_counts_its_handoffs():
    events = [created(), moved("2026-03-02 10:30", "engineering"), moved("2026-03-02 11:00", "support"),
              moved("2026-03-02 11:30", "engineering"), moved("2026-03-02 12:00", "support")]
    report, state = report_of(events, now="2026-03-02 12:30")
    eng = [c for c in report.clocks if c.policy == "eng-triage" and c.metric == "ownership"]
    assert [(c.cycle, c.elapsed_seconds) for c in eng] == [(1, 1800), (2, 1800)]
    support = [c for c in report.clocks if c.policy == "support-first-line" and c.metric == "ownership"]
    assert [c.cycle for c in support] == [1, 2, 3]
    assert state.teams.handoffs() == 4


def test_ownership_pauses_on_the_agreements_pause_on_but_first_touch_never_pauses():
    events = [created(), moved("2026-03-02 11:00", "engineering"),
              moved("2026-03-02 12:00", "engineering", status="on_hold"),
              moved("2026-03-02 13:00", "engineering"), moved("2026-03-02 15:00", "support")]
    c = clocks_of(events, now="2026-03-02 16:00")
    assert c["eng-triage:ownership#1"].elapsed_seconds == 2 * H  # 11–12 and 13–14
    touch = c["eng-triage:first_touch#1"]
    assert touch.elapsed_seconds == 3 * H and touch.stop_reason == "handed on to support before a touch"
    assert touch.status == "breached"


def test_a_reopen_continues_the_cycle_the_solve_ended_while_the_team_still_holds_it():
    events = [created(group="engineering"), moved("2026-03-02 12:00", "engineering", status="solved"),
              moved("2026-03-03 07:00", "engineering")]
    c = clocks_of(events, now="2026-03-03 08:00")
    own = c["eng-triage:ownership#1"]
    assert own.status == "running" and own.elapsed_seconds == 3 * H  # Mon 10–12, Tue 07–08: solved time left out
    assert own.due_at == utc("2026-03-03 09:00")
    assert "eng-triage:ownership#2" not in c


def test_a_severity_change_recomputes_a_running_cycle_from_its_start():
    events = [created(), moved("2026-03-02 11:00", "engineering"),
              moved("2026-03-02 12:00", "engineering", priority="urgent")]
    c = clocks_of(events, now="2026-03-02 12:30")
    own = c["eng-triage:ownership#1"]
    assert (own.target_seconds, own.calendar) == (2 * H, "24x7")
    assert own.due_at == utc("2026-03-02 13:00") and own.elapsed_seconds == 1.5 * H


def test_only_a_member_touches_for_a_team_that_lists_its_agents():
    events = [created(), moved("2026-03-02 11:00", "engineering"),
              event("2026-03-02 11:30", "comment.added", comment=AGENT, group="engineering"),  # a1: support
              event("2026-03-02 11:45", "comment.added", comment=BOT, group="engineering"),
              event("2026-03-02 12:00", "comment.added", comment=ENG_REPLY, group="engineering")]
    c = clocks_of(events, now="2026-03-02 12:30")
    touch = c["eng-triage:first_touch#1"]
    assert (touch.status, touch.stopped_at, touch.elapsed_seconds) == ("met", utc("2026-03-02 12:00"), H)


def test_any_human_agent_touches_for_a_team_that_lists_no_agents():
    events = [created(), event("2026-03-02 10:05", "comment.added", comment=BOT, group="support"),
              event("2026-03-02 10:10", "comment.added", comment=AGENT, group="support")]
    c = clocks_of(events, now="2026-03-02 11:00")
    assert c["support-first-line:first_touch#1"].elapsed_seconds == 600
    assert c["support-first-line:first_touch#1"].status == "met"


def test_a_deleted_ticket_cancels_its_cycles_and_a_restore_resumes_them():
    events = [created(group="engineering"), moved("2026-03-02 11:00", "engineering", status="deleted"),
              moved("2026-03-02 12:00", "engineering")]
    c = clocks_of(events, now="2026-03-02 13:00")
    assert c["eng-triage:ownership#1"].status == "running"
    assert c["eng-triage:ownership#1"].elapsed_seconds == 2 * H  # 10–11 and 12–13


# --- attribution -------------------------------------------------------------------------------------


CUSTOMER_WAITS = [created(), moved("2026-03-02 11:00", "engineering"),
                  moved("2026-03-02 12:00", "engineering", status="pending"),
                  moved("2026-03-02 13:00", "engineering"),
                  event("2026-03-02 14:00", "comment.added", comment=ENG_REPLY, group="engineering")]


def test_held_by_splits_a_customer_clock_by_team_and_sums_to_its_elapsed_time():
    c = clocks_of(CUSTOMER_WAITS, now="2026-03-02 15:00")
    fr = c["first_response#1"]
    # first response never pauses and waits on the team: pending without a reply is still the team's time
    assert fr.status == "met" and fr.elapsed_seconds == 4 * H
    assert fr.held_by == {"support": H, "engineering": 3 * H}
    res = c["resolution#1"]  # paused while pending: the customer's hour is not in it
    assert res.elapsed_seconds == 4 * H and res.held_by == {"support": H, "engineering": 3 * H}


def test_time_awaiting_the_customer_is_the_customers_on_a_resolution_clock_that_runs_through_it():
    never_pauses = config(**OLA_CONFIG, policies=[{"name": "strict", "calendar": "business",
                                                   "targets": {"P3": {"first_response": "4h", "resolution": "2d"}}}])
    c = clocks_of(CUSTOMER_WAITS, now="2026-03-02 15:00", cfg=never_pauses)
    assert c["resolution#1"].held_by == {"support": H, "engineering": 3 * H, "customer": H}
    assert c["first_response#1"].held_by == {"support": H, "engineering": 3 * H}


def test_held_by_in_the_replay_json_is_whole_seconds_summing_to_elapsed_seconds():
    events = [created("2026-03-02 10:00:00.4"), moved("2026-03-02 10:20:00.7", "engineering"),
              moved("2026-03-02 10:40:00.2", None)]
    out = replay(CFG, events, now=utc("2026-03-02 11:00:00.9"))
    (ticket,) = out["tickets"]
    for clock in ticket["clocks"]:
        if not clock.get("internal"):
            assert sum(clock["held_by"].values()) == clock["elapsed_seconds"]
            assert set(clock["held_by"]) == {"support", "engineering", "unassigned"}


def test_a_group_no_team_names_holds_under_its_own_name_and_no_group_is_unassigned():
    events = [created(group="billing-approvals"), moved("2026-03-02 11:00", None),
              moved("2026-03-02 12:00", None, assignee="b1")]
    c = clocks_of(events, now="2026-03-02 13:00")
    assert c["first_response#1"].held_by == {"billing-approvals": H, "unassigned": H, "billing": H}


def test_without_teams_or_agreements_every_customer_clock_still_says_who_held_it():
    events = [created(group="tier1"), moved("2026-03-02 11:00", "tier2")]
    c = clocks_of(events, now="2026-03-02 12:00", cfg=config())
    assert c["first_response#1"].held_by == {"tier1": H, "tier2": H}
    assert not any(clock.internal for clock in c.values())


# --- the contract other tools read (DESIGN §3.4.1) --------------------------------------------------


def test_replay_marks_internal_clocks_and_never_sets_a_due_date_from_them():
    events = [created(), moved("2026-03-02 11:00", "engineering")]
    out = replay(CFG, events, now=utc("2026-03-03 08:00"))
    (ticket,) = out["tickets"]
    internal = [c for c in ticket["clocks"] if c.get("internal")]
    assert {(c["agreement"], c["team"], c["metric"], c["cycle"]) for c in internal} == {
        ("support-first-line", "support", "ownership", 1), ("support-first-line", "support", "first_touch", 1),
        ("eng-triage", "engineering", "ownership", 1), ("eng-triage", "engineering", "first_touch", 1)}
    customer = [c for c in ticket["clocks"] if not c.get("internal")]
    assert customer and all("held_by" in c and "agreement" not in c for c in customer)
    due_dates = [a for a in ticket["actions"] if a["action"] == "set_due_date"]
    assert due_dates and {a["metric"] for a in due_dates} <= {"first_response", "resolution"}
    # Monday 11–14 and Tuesday 06–08 on eng: 5h of a 4h ownership, breached at Tuesday 07:00
    breach = [a for a in ticket["actions"] if a["cause"] == "eng-ownership-breach"]
    assert [a["action"] for a in breach] == ["add_tags", "add_note"]
    assert list(breach[0]["params"]["tags"]) == ["ola_breached"] and breach[0]["due_since"] == "2026-03-03T07:00:00Z"
    assert "2026-03-03T07:00:00Z" in breach[1]["params"]["body"]


def test_the_scheduler_is_woken_for_an_internal_breach():
    events = [created(group="engineering")]
    book = Rulebook(config(**{**OLA_CONFIG, "policies": []}))  # no customer clock: only the internal ones wake it
    (state,) = book.run(events).values()
    # first touch (1h) is due at 11:00 on eng; a breach is looked at just after the due instant
    assert book.next_check(state, utc("2026-03-02 10:30")) == utc("2026-03-02 11:00:01")


def _live(book: Rulebook, events) -> TicketState:
    """Apply the events one at a time, the state read back from JSON between them (as the worker stores it)."""
    state = None
    for e in events:
        if state is not None:
            state = TicketState.from_dict(json.loads(json.dumps(state.to_dict())))
        state = book.apply(state, e)
    assert state is not None
    return state


def test_the_state_keeps_handoffs_and_internal_clocks_through_json():
    book = Rulebook(CFG)
    state = _live(book, HANDBACK)
    (whole,) = book.run(HANDBACK).values()
    now = utc("2026-03-02 16:00")
    assert book.evaluate(state, now) == book.evaluate(whole, now)


def test_explain_tells_who_held_the_ticket_and_each_internal_clocks_story():
    from connector.explain import explain
    text = explain(CFG, HANDBACK, "1", now=utc("2026-03-02 16:00"))
    assert "Who held it (2 handoffs between teams)" in text
    assert "eng-triage ownership #1 (internal, team engineering): MET" in text
    assert "held by engineering 4h (67%), support 2h (33%)" in text
    assert "engineering gets the ticket: eng-triage cycle #1 starts" in text


# --- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "problem"), [
    ({"olas": [{"name": "x", "team": "nobody"}]}, "olas[0].team: unknown team 'nobody'"),
    ({"teams": {"customer": {"groups": ["g"]}}}, "teams.customer: 'customer' is reserved"),
    ({"teams": {"a": {"agents": ["u1"]}, "b": {"agents": ["u1"]}}}, "teams.b.agents: agent 'u1' is also on team 'a'"),
    ({"olas": [{"name": "x", "team": "t", "when": {"group": ["g"]}, "targets": {"P9": {"ownership": "1h"}}}]},
     "olas[0].targets.P9: unknown severity 'P9'"),
    ({"olas": [{"name": "x", "team": "t", "when": {"group": ["g"]}, "calendar": "nope"}]},
     "olas[0].calendar: unknown calendar 'nope'"),
    ({"olas": [{"name": "x", "team": "t", "when": {"group": ["g"]},
                "escalations": [{"name": "e", "when": {"metric": "resolution", "breached": True},
                                 "actions": [{"add_tags": ["t"]}]}]}]},
     "olas[0].escalations[0].when.metric: unknown internal metric 'resolution'"),
    ({"olas": [{"name": "x", "team": "t", "when": {"group": ["g"]}, "targets": {"P1": {"ownership": "soon"}}}]},
     "olas[0].targets.P1.ownership: 'soon' is not a duration"),
    ({"olas": [{"name": "x", "team": "t", "when": {"any": [{"group": ["g"]}, {"status": ["pending"]}]}}]},
     "olas[0].when: which team holds a ticket cannot depend on its status"),
    ({"olas": [{"name": "x", "team": "t", "when": {"group": ["g"]},
                "escalations": [{"name": "e", "when": {"policy": "standard", "breached": True},
                                 "actions": [{"add_tags": ["t"]}]}]}]},
     "olas[0].escalations[0].when.policy: an agreement's escalation applies to its own clocks"),
    ({"olas": [{"name": "x", "team": "t", "when": {"group": ["g"]}},
               {"name": "x", "team": "u", "when": {"group": ["h"]}}]},
     "olas[1].name: duplicate agreement name 'x'"),
    ({"escalations": [{"name": "e", "when": {"breached": True}, "actions": [{"add_tags": ["t"]}]}],
      "olas": [{"name": "x", "team": "t", "when": {"group": ["g"]},
                "escalations": [{"name": "e", "when": {"breached": True}, "actions": [{"add_tags": ["t"]}]}]}]},
     "olas[0].escalations[0].name: duplicate escalation name 'e'"),
])
def test_a_bad_agreement_is_a_config_error_naming_the_key(change, problem):
    with pytest.raises(ConfigError) as err:
        config(**change)
    assert problem in str(err.value)


# --- properties over random handoffs ------------------------------------------------------------------

STEP = st.tuples(st.integers(min_value=1, max_value=36 * 60),
                 st.sampled_from(["support", "engineering", "billing-approvals", "none", "pending", "open",
                                  "on_hold", "solved", "agent", "eng", "customer", "urgent", "normal"]))


def _history(steps):
    at = utc("2026-03-02 08:00")
    group, status, priority = "support", "new", "normal"
    events = [event(at, "ticket.created", status=status, created=at, group=group)]
    for minutes, kind in steps:
        at += timedelta(minutes=minutes)
        comment = {"agent": AGENT, "eng": ENG, "customer": CUSTOMER}.get(kind)
        if kind in ("support", "engineering", "billing-approvals", "none"):
            group = None if kind == "none" else kind
        elif kind in ("pending", "open", "on_hold", "solved"):
            status = kind
        elif kind in ("urgent", "normal"):
            priority = kind
        events.append(event(at, "comment.added" if comment else "ticket.updated", status=status, group=group,
                            priority=priority, comment=comment))
    return events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, max_size=14), st.integers(min_value=0, max_value=48 * 60))
def test_held_by_always_sums_to_the_clock_and_live_state_equals_replay(steps, later):
    events = _history(steps)
    now = events[-1].occurred_at + timedelta(minutes=later)
    book = Rulebook(CFG)
    state = _live(book, events)
    (whole,) = book.run(events).values()
    report = book.evaluate(whole, now)
    assert book.evaluate(state, now) == report
    assert book.assess(whole, now) == (report, book.next_check(whole, now))  # what the worker records
    for clock in report.clocks:
        data = clock.as_dict()
        if clock.internal:
            assert clock.held_by is None and data["internal"] is True
            continue
        assert clock.held_by is not None
        assert sum(clock.held_by.values()) == pytest.approx(clock.elapsed_seconds, abs=1e-6)
        assert sum(data["held_by"].values()) == data["elapsed_seconds"]
        assert all(v >= 0 for v in data["held_by"].values())


# --- hostile config ---------------------------------------------------------------------------------

JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["name", "team", "when", "calendar", "pause_on", "targets", "escalations",
                                         "agents", "groups", "P1", "ownership", "first_touch", "x"]), inner,
                        max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(JUNK, JUNK)
def test_any_olas_or_teams_section_loads_or_is_a_config_error(olas, teams):
    try:
        cfg = config(olas=olas, teams=teams)
    except ConfigError as err:
        assert str(err)
        return
    Rulebook(cfg).run(HANDBACK)  # whatever loads also runs


def test_names_as_long_or_odd_as_allowed_still_run():
    team = "t" * 255
    cfg = config(teams={team: {"groups": ["engineering"], "agents": ["=SUM(1)", "x" * 255]}},
                 olas=[{"name": "n" * 255, "team": team, "targets": {"P3": {"ownership": "1h"}}}])
    c = clocks_of(HANDBACK, now="2026-03-02 16:00", cfg=cfg)
    assert c[f"{'n' * 255}:ownership#1"].team == team
    with pytest.raises(ConfigError, match="olas\\[0\\].name: a name is 1-255 printable characters"):
        config(olas=[{"name": "n" * 256, "team": "x", "when": {"group": ["g"]}}])
    with pytest.raises(ConfigError, match="a name holds a control character"):
        config(teams={"a\x00b": {"groups": ["g"]}})
