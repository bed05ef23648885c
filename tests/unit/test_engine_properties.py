"""Properties of the rules core over random ticket histories (Hypothesis).

- feeding events one at a time, persisting the state as JSON between events, gives the same result as
  replaying the whole history; so does any arrival order with repeats;
- each clock's view is internally consistent (met/breached/due/elapsed);
- on 24x7 without pauses, business time is wall time.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.rules.engine import Rulebook, TicketState
from tests.helpers import AGENT, BOT, CUSTOMER, PRIVATE_NOTE, config, event, utc

CFG = config(
    calendars={"business": {"timezone": "America/New_York", "hours": {"mon-fri": ["09:00-12:00", "13:00-17:00"]},
                            "holidays": {"country": "US"}}},
    escalations=[{"name": "warn", "when": {"at": "50%"}, "actions": [{"add_tags": ["half"]}]},
                 {"name": "breach", "when": {"breached": True}, "actions": [{"add_tags": ["late"]}]}],
)
FLAT_TARGETS = {"first_response": "4h", "next_response": "8h", "periodic_update": "8h", "resolution": "2d"}
FLAT = config(calendars={}, policies=[{"name": "flat", "calendar": "24x7",
                                       "targets": {sev: FLAT_TARGETS for sev in ("P1", "P2", "P3", "P4")}}])
START = utc("2026-03-02 14:00")

STEP = st.tuples(
    st.integers(min_value=1, max_value=3 * 24 * 60),  # minutes after the previous event
    st.sampled_from(["agent", "customer", "note", "bot", "open", "pending", "on_hold", "solved", "closed",
                     "deleted", "urgent", "high", "normal", "tag", "repeat"]),
)


def history(steps, *, created_status="new"):
    at = START
    status, priority, tags = "new", "normal", ()
    events = [event(at, "ticket.created", status=created_status, created=at, event_id="e0")]
    status = created_status
    for i, (minutes, kind) in enumerate(steps, start=1):
        at = at + timedelta(minutes=minutes)
        comment = {"agent": AGENT, "customer": CUSTOMER, "note": PRIVATE_NOTE, "bot": BOT}.get(kind)
        if kind == "repeat" and events[-1].comment is not None:
            # the last comment again a second later under another id (a webhook and a poll), with the
            # ticket moved on: counted once, its snapshot applied
            status = "open" if status == "pending" else "pending"
            at = events[-1].occurred_at + timedelta(seconds=1)
            events.append(event(at, "comment.added", status=status, priority=priority, comment=events[-1].comment,
                                tags=tags, event_id=f"e{i}"))
            continue
        if kind in ("open", "pending", "on_hold", "solved", "closed", "deleted"):
            status = kind
        elif kind in ("urgent", "high", "normal"):
            priority = kind
        elif kind == "tag":
            tags = () if tags else ("vip",)
        elif kind == "customer" and status in ("solved", "closed"):
            status = "open"  # a customer reply reopens
        events.append(event(at, "comment.added" if comment else "ticket.updated", status=status, priority=priority,
                            comment=comment, tags=tags, event_id=f"e{i}"))
    return events


def report(book, events, now):
    (state,) = book.run(events).values()
    return book.evaluate(state, now)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, max_size=14), extra=st.integers(min_value=0, max_value=5 * 24 * 60))
def test_incremental_with_persistence_equals_replay(steps, extra):
    book = Rulebook(CFG)
    events = history(steps)
    now = events[-1].occurred_at + timedelta(minutes=extra)
    state = None
    for e in events:
        state = book.apply(state, e)
        state = TicketState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert book.evaluate(state, now) == report(book, events, now)


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(STEP, max_size=12), seed=st.integers(0, 2**32 - 1))
def test_arrival_order_and_repeats_do_not_matter(steps, seed):
    book = Rulebook(CFG)
    events = history(steps)
    rng = random.Random(seed)
    shuffled = events + rng.sample(events, k=min(3, len(events)))
    rng.shuffle(shuffled)
    now = events[-1].occurred_at + timedelta(hours=5)
    assert report(book, shuffled, now) == report(book, events, now)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(STEP, max_size=14), extra=st.integers(min_value=0, max_value=10 * 24 * 60))
def test_clock_views_are_consistent(steps, extra):
    book = Rulebook(CFG)
    events = history(steps)
    now = events[-1].occurred_at + timedelta(minutes=extra)
    rep = report(book, events, now)
    for c in rep.clocks:
        end = c.stopped_at or now
        assert c.elapsed_seconds >= 0
        assert c.elapsed_seconds <= (end - c.started_at).total_seconds()
        assert c.started_at <= end
        if c.breached:
            assert c.status == "breached" and c.breached_at == c.due_at
            assert c.breached_at is not None and c.breached_at < end
            assert c.elapsed_seconds >= c.target_seconds
        else:
            assert c.breached_at is None
        if c.status == "met":
            assert c.stopped_at is not None and c.elapsed_seconds <= c.target_seconds
            assert c.due_at is None or c.stopped_at <= c.due_at
        if c.status == "running":
            assert c.stopped_at is None and c.due_at is not None and c.due_at >= now
            assert c.elapsed_seconds <= c.target_seconds
        if c.status == "paused":
            assert c.due_at is None and c.metric in ("resolution", "periodic_update")
    keys = [a.key for a in rep.actions]
    assert len(keys) == len(set(keys))
    for a in rep.actions:
        assert a.due_since is not None and a.due_since <= now


OPEN_STEP = STEP.filter(lambda step: step[1] not in ("solved", "closed", "deleted"))


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(OPEN_STEP, max_size=12))
def test_on_24x7_without_pauses_first_response_is_wall_time(steps):
    # never solved, so nothing excludes time from first response
    book = Rulebook(FLAT)
    events = history(steps)
    now = events[-1].occurred_at
    fr = next(c for c in report(book, events, now).clocks if c.metric == "first_response")
    replies = [e.occurred_at for e in events[1:] if e.comment is not None and e.comment.is_agent_reply]
    if replies:
        assert fr.stopped_at == replies[0]
        assert fr.elapsed_seconds == (replies[0] - START).total_seconds()
        assert fr.status == ("met" if replies[0] <= START + timedelta(hours=4) else "breached")
    else:
        assert fr.elapsed_seconds == (now - START).total_seconds()
    assert fr.due_at == START + timedelta(hours=4)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(STEP, max_size=10), extra=st.integers(min_value=0, max_value=3 * 24 * 60))
def test_evaluate_is_pure(steps, extra):
    book = Rulebook(CFG)
    (state,) = book.run(history(steps)).values()
    before = json.dumps(state.to_dict(), sort_keys=True)
    now = state.last_at + timedelta(minutes=extra)
    first = book.evaluate(state, now)
    assert json.dumps(state.to_dict(), sort_keys=True) == before
    assert book.evaluate(state, now) == first


@settings(max_examples=100, deadline=None)
@given(steps=st.lists(STEP, max_size=12), cut=st.integers(min_value=0, max_value=10 * 24 * 60),
       amount=st.integers(min_value=0, max_value=3 * 24 * 3600))
def test_measure_agrees_with_elapsed_and_instant_of(steps, cut, amount):
    from connector.rules.clocks import elapsed, instant_of, measure

    book = Rulebook(CFG)
    (state,) = book.run(history(steps)).values()
    cal = CFG.calendar("business")
    limit = START + timedelta(minutes=cut)
    for run in state.clocks.runs:
        assert measure(run, cal, limit, amount) == (elapsed(run, cal, limit), instant_of(run, cal, amount))
