"""Replay: run the rules core over a recorded history, offline (no database, no network).

`replay(config, events, now=None)` returns the JSON of DESIGN §3.4::

    {"now": "…Z", "tickets": [{"ticket": {...}, "severity": {...}, "policy": "…", "clocks": [...],
                               "actions": [...]}]}

`now` defaults to the last event's time. Events after `now` are left out, so replaying with an earlier
`--now` shows the tickets as they stood then. Tickets come in the order of their first event.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import datetime
from operator import attrgetter
from typing import Any

from connector.config import Config
from connector.events import Event, format_instant, order_events
from connector.rules.engine import Rulebook, TicketReport, TicketState

_occurred_at = attrgetter("occurred_at")


def build_states(config: Config, events: Iterable[Event], now: datetime | None = None, *, record: bool = False,
                 progress: Callable[[int], None] | None = None,
                 distinct: bool = False) -> tuple[dict[tuple[str, str, str], TicketState], datetime | None, Rulebook]:
    """Apply the events up to `now` (all of them when None); return the states, `now` and the rulebook.
    `distinct`: the caller has dropped repeated event ids already (they are not looked for again)."""
    book = Rulebook(config)
    ordered = sorted(events, key=_occurred_at) if distinct else order_events(events)
    if now is None and ordered:
        now = ordered[-1].occurred_at
    if now is not None:  # the events are in occurred_at order, so those up to `now` are a prefix
        ordered = ordered[:bisect_right(ordered, now, key=_occurred_at)]
    states: dict[tuple[str, str, str], TicketState] = {}
    apply = book.apply
    for index, event in enumerate(ordered):
        key = (event.source, event.account, event.ticket_id)  # event.key, without a property call per event
        states[key] = apply(states.get(key), event, record=record)
        if progress is not None and index % 1000 == 999:
            progress(1000)
    return states, now, book


def replay_reports(config: Config, events: Iterable[Event], now: datetime | None = None,
                   progress: Callable[[int], None] | None = None) -> tuple[list[TicketReport], datetime | None]:
    """Return every ticket's report at `now` (default: the last event's time)."""
    states, now, book = build_states(config, events, now, progress=progress)
    if now is None:
        return [], None
    return [book.evaluate(state, now) for state in states.values()], now


def replay(config: Config, events: Iterable[Event], now: datetime | None = None,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Return the replay JSON of DESIGN §3.4 for these events at `now`."""
    reports, now = replay_reports(config, events, now, progress)
    return {"now": format_instant(now), "tickets": [r.as_dict() for r in reports]}
