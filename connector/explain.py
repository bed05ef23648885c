"""Explain: the human story of one ticket's severity, policy and every clock.

It answers the question help desks answer badly, *why is this ticket due then*: which rule set the
severity (and which conditions held), which policy applied, when each clock started, paused and
stopped, which nights, weekends and named holidays its calendar skipped, and how the due instant follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from connector.config import ALWAYS, Config, format_duration
from connector.errors import ConnectorError
from connector.events import Event, format_instant
from connector.replay import build_states
from connector.rules.calendar import BusinessCalendar
from connector.rules.clocks import Clock, ClockRun
from connector.rules.engine import TicketState


class TicketNotFound(ConnectorError):
    """The ticket asked for is not in the events (or is ambiguous across sources)."""


def describe_calendar(config: Config, name: str) -> str:
    """Return a one-line description of a calendar: zone, hours and holidays."""
    spec = config.calendars.get(name)
    if name == ALWAYS and spec is None or spec == ALWAYS:
        return f"{name}: 24x7, every second counts"
    if not isinstance(spec, Mapping):
        return name
    hours = spec.get("hours")
    if hours == ALWAYS:
        hours_text = "24x7"
    elif isinstance(hours, Mapping):
        hours_text = "; ".join(f"{days} {', '.join(map(str, windows))}" for days, windows in hours.items())
    else:
        hours_text = "?"
    text = f"{name}: {spec.get('timezone', 'UTC')}, {hours_text}"
    hol = spec.get("holidays")
    if isinstance(hol, Mapping):
        parts = []
        if hol.get("country"):
            parts.append(str(hol["country"]) + (f"-{hol['subdiv']}" if hol.get("subdiv") else "") + " holidays")
        if hol.get("dates"):
            parts.append(f"{len(hol['dates'])} extra date{'s' if len(hol['dates']) != 1 else ''}")
        if parts:
            text += ", " + " + ".join(parts)
    return text


def _local(cal: BusinessCalendar, dt: datetime | None) -> str:
    if dt is None:
        return "-"
    local = dt.astimezone(cal.timezone)
    if local.second == 0 and local.microsecond == 0:
        return f"{local:%a %Y-%m-%d %H:%M %Z}"
    return f"{local:%a %Y-%m-%d %H:%M:%S %Z}"


def _gap_text(cal: BusinessCalendar, gap: Any) -> str:
    kind = {"closed": "closed (outside hours)", "weekend": "weekend"}.get(gap.kind, gap.kind)
    if gap.kind == "holiday":
        kind = f"holiday: {gap.name}" if gap.name else "holiday"
    return f"{_local(cal, gap.start)} → {_local(cal, gap.end)}  {kind}"


def _clock_story(config: Config, run: ClockRun, clock: Clock, now: datetime) -> list[str]:
    cal = config.calendar(clock.calendar)
    label = clock.metric if clock.metric in ("first_response", "resolution") else f"{clock.metric} #{clock.cycle}"
    lines = [f"{label}: {clock.status.upper()}",
             f"  target {format_duration(clock.target_seconds)} of business time on "
             f"{describe_calendar(config, clock.calendar)}",
             f"  started {_local(cal, clock.started_at)}"]
    previous_end: datetime | None = None
    for start, end in run.segments:
        assert start is not None
        if start > now:
            break
        if previous_end is not None and start > previous_end:
            lines.append(f"  paused {_local(cal, previous_end)} → {_local(cal, start)} (no business time counted)")
        open_now = end is None or end > now
        stop = now if open_now else end
        assert stop is not None
        lines.append(f"  {'running since' if open_now else 'ran'} {_local(cal, start)}"
                     + ("" if open_now else f" → {_local(cal, stop)}")
                     + f": {format_duration(cal.between(start, stop))} counted")
        # the stretches the calendar skipped, up to the due instant when it lies ahead
        horizon = stop
        if open_now and clock.due_at is not None and clock.due_at > stop:
            horizon = clock.due_at
        elif clock.due_at is not None and start <= clock.due_at < stop:
            horizon = clock.due_at
        for gap in cal.gaps(start, horizon):
            lines.append(f"    skipped {_gap_text(cal, gap)}")
        previous_end = end
    if clock.stopped_at is not None:
        lines.append(f"  stopped {_local(cal, clock.stopped_at)}: {clock.stop_reason or 'stopped'}")
    lines.append(f"  elapsed {format_duration(clock.elapsed_seconds)} of {format_duration(clock.target_seconds)}")
    if clock.status == "paused":
        lines.append(f"  due: none while paused; {format_duration(clock.remaining_seconds)} left when it resumes")
    elif clock.due_at is not None:
        why = f"{format_duration(clock.target_seconds)} of business time after the start, skipping the gaps above"
        if len(run.segments) > 1:
            why += " and the pauses"
        lines.append(f"  due {_local(cal, clock.due_at)} = {format_instant(clock.due_at)}: {why}")
        if clock.breached:
            lines.append(f"  BREACHED at {format_instant(clock.breached_at)}")
        elif clock.status == "met" and clock.stopped_at is not None:
            spare = cal.between(clock.stopped_at, clock.due_at)
            lines.append(f"  met with {format_duration(spare)} of business time to spare")
        elif clock.status == "running":
            lines.append(f"  {format_duration(clock.remaining_seconds)} of business time left at {format_instant(now)}")
    return lines


def find_ticket(states: Mapping[tuple[str, str, str], TicketState], ticket_id: str,
                source: str | None = None) -> TicketState:
    """Return the one ticket with that id (and source, if given)."""
    found = [s for s in states.values() if s.ticket_id == ticket_id and (source is None or s.source == source)]
    if not found:
        where = f" of source {source!r}" if source else ""
        raise TicketNotFound(f"ticket {ticket_id!r} is not in the events{where}")
    if len(found) > 1:
        where = ", ".join(f"{s.source}/{s.account}" for s in found)
        raise TicketNotFound(f"ticket {ticket_id!r} exists in several sources ({where}); choose one with --source")
    return found[0]


def explain(config: Config, events: Iterable[Event], ticket_id: str, *, now: datetime | None = None,
            source: str | None = None) -> str:
    """Return the story of one ticket as text."""
    states, now, book = build_states(config, events, now, record=True)
    state = find_ticket(states, ticket_id, source)
    assert now is not None
    report = book.evaluate(state, now)
    sev = state.severity
    out = [f"Ticket {state.source}/{state.account}/{state.ticket_id}: {state.snapshot.subject or '(no subject)'}",
           f"As of {format_instant(now)}; status {state.snapshot.status}; created {format_instant(state.created_at)}",
           "",
           f"Severity {sev.classified}" + (f" (declared {sev.declared} from priority {state.snapshot.priority})"
                                          if sev.declared else " (no declared priority)"),
           f"  set by {'rule ' + repr(sev.rule) if sev.rule not in ('priority_map', 'default') else sev.rule}"]
    out += [f"    - {m}" for m in sev.matched]
    if state.policy is None:
        out += ["", "Policy: none matches this ticket, so it has no clocks."]
    else:
        policy = book.policy(state.policy)
        out += ["", f"Policy {state.policy!r} (the first policy whose conditions hold)"]
        out += [f"    - {r}" for r in state.policy_reasons] or ["    - it has no conditions: it matches every ticket"]
        if policy is not None:
            pauses = ", ".join(policy.pause_on) or "(never)"
            out.append(f"  pauses resolution and periodic updates while status is {pauses}"
                       f"; on reopen: {policy.on_reopen}")
    out += ["", "Timeline"]
    for at, text in state.timeline or []:
        out.append(f"  {format_instant(at)}  {text}")
    out += ["", "Clocks"]
    pairs = state.clocks.views(now, config.calendar)
    if not pairs:
        out.append("  (none: the policy sets no target for this severity)")
    for run, clock in pairs:
        out += ["  " + line for line in _clock_story(config, run, clock, now)]
        out.append("")
    if report.actions:
        out += ["Actions due", *(f"  {a.action} {dict(a.params)} ({a.cause})" for a in report.actions)]
    return "\n".join(out).rstrip() + "\n"
