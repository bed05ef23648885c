"""Explain: the human story of one ticket's severity, policy and every clock.

It answers the question help desks answer badly, *why is this ticket due then*: which rule set the
severity (and which conditions held), which policy applied, when each clock started, paused and
stopped, which nights, weekends and named holidays its calendar skipped, and how the due instant follows.

Every line is for a person: words (never a Python repr), durations in whole seconds (`whole_seconds`) and
instants in the ticket's zone (its policy's calendar; a clock on a calendar with a zone of its own, in that
zone), to the second. The UTC instant of the JSON appears only beside a due instant, to match the two up.

Every line passes through `connector.visible.visible` as the story is joined: a subject, a matched excerpt or
any other text the events supplied prints with its control characters (ESC, CR, newline, bidi overrides) as
escapes, so it can neither steer the reader's terminal nor add a line to the story — in `connector explain`
and in the service's `/tickets/<source>/<id>/explain` alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import ALWAYS, Config
from connector.errors import ConnectorError
from connector.events import Event, format_instant
from connector.replay import build_states
from connector.rules.calendar import BusinessCalendar, Gap
from connector.rules.clocks import Clock, ClockRun, clock_label, duration_text, whole_seconds
from connector.rules.engine import TicketState
from connector.rules.escalation import Decision
from connector.rules.severity import RULE_DEFAULT, RULE_PRIORITY_MAP
from connector.visible import visible


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


def display_zone(config: Config, calendar: str, fallback: ZoneInfo) -> ZoneInfo:
    """Return the zone a clock's instants are shown in: its calendar's, or `fallback` for a bare `24x7`.

    A bare 24x7 calendar has no zone of its own (UTC by construction), and nothing it counts depends on one,
    so its clocks are shown in the ticket's zone (its policy's calendar) like the rest of the story.
    """
    spec = config.calendars.get(calendar)
    if spec == ALWAYS or (spec is None and calendar == ALWAYS):
        return fallback
    return config.calendar(calendar).timezone


def _at(zone: ZoneInfo, dt: datetime | None) -> str:
    """Return an instant as a person reads it in `zone`: `Wed 2026-11-25 15:00 EST` (seconds when not 0)."""
    if dt is None:
        return "-"
    local = dt.astimezone(zone)  # whole seconds: a fraction of a second is dropped (the second begun)
    return f"{local:%a %Y-%m-%d %H:%M %Z}" if local.second == 0 else f"{local:%a %Y-%m-%d %H:%M:%S %Z}"


def _gap_text(zone: ZoneInfo, gap: Gap) -> str:
    kind = {"closed": "closed (outside hours)", "weekend": "weekend"}.get(gap.kind, gap.kind)
    if gap.kind == "holiday":
        kind = f"holiday: {gap.name}" if gap.name else "holiday"
    return f"{_at(zone, gap.start)} → {_at(zone, gap.end)}  {kind}"


def _label(clock: Clock) -> str:
    """Return a clock's name for a person; an internal one says its agreement and team."""
    if clock.team is not None:
        return f"{clock.policy} {clock.metric} #{clock.cycle} (internal, team {clock.team})"
    return clock_label(clock.metric, clock.cycle)


def _held_text(clock: Clock) -> str | None:
    """Return `held by engineering 5h (71%), support 2h (29%)`: a customer clock's time by who held it."""
    if not clock.held_by:
        return None
    total = sum(clock.held_by.values())
    parts = sorted(clock.held_by.items(), key=lambda item: (-item[1], item[0]))
    return "held by " + ", ".join(
        f"{who} {duration_text(seconds)}" + (f" ({seconds / total:.0%})" if total > 0 and len(parts) > 1 else "")
        for who, seconds in parts)


def _clock_story(config: Config, run: ClockRun, clock: Clock, now: datetime, zone: ZoneInfo) -> list[str]:
    cal = config.calendar(clock.calendar)
    target = duration_text(clock.target_seconds)
    lines = [f"{_label(clock)}: {clock.status.upper()}",
             f"  target {target} of business time on {describe_calendar(config, clock.calendar)}",
             f"  started {_at(zone, clock.started_at)}"]
    previous_end: datetime | None = None
    skipped_before_due = False  # whether a gap listed lies before the due instant (so the due line can say so)
    paused = False
    for start, end in run.segments:
        assert start is not None
        if start > now:
            break
        if end is not None and end == start:
            previous_end = previous_end or end
            continue  # stopped as it started (e.g. solved and reopened in one instant): nothing ran
        if previous_end is not None and start > previous_end:
            lines.append(f"  paused {_at(zone, previous_end)} → {_at(zone, start)} (no business time counted)")
            paused = True
        open_now = end is None or end > now
        stop = now if open_now else end
        assert stop is not None
        lines.append(f"  {'running since' if open_now else 'ran'} {_at(zone, start)}"
                     + ("" if open_now else f" → {_at(zone, stop)}")
                     + f": {duration_text(cal.between(start, stop))} counted")
        # the stretches the calendar skipped, up to the due instant when it lies ahead
        horizon = stop
        if open_now and clock.due_at is not None and clock.due_at > stop:
            horizon = clock.due_at
        elif clock.due_at is not None and start <= clock.due_at < stop:
            horizon = clock.due_at
        for gap in cal.gaps(start, horizon):
            lines.append(f"    skipped {_gap_text(zone, gap)}")
            skipped_before_due = skipped_before_due or (clock.due_at is not None and gap.start < clock.due_at)
        previous_end = end
    if clock.stopped_at is not None:
        lines.append(f"  stopped {_at(zone, clock.stopped_at)}: {clock.stop_reason or 'stopped'}")
    # whole seconds, and the time left is what the target leaves of the elapsed time shown
    elapsed = whole_seconds(clock.elapsed_seconds)
    left = whole_seconds(clock.target_seconds) - elapsed
    lines.append(f"  elapsed {duration_text(elapsed)} of {target}")
    held = _held_text(clock)
    if held is not None:
        lines.append(f"  {held}")
    if clock.status == "paused":
        lines.append(f"  due: none while paused; {duration_text(left)} left when it resumes")
    elif clock.due_at is not None:
        # the UTC instant of the JSON beside it, to the same whole second as the local one
        lines.append(f"  due {_at(zone, clock.due_at)} = {format_instant(clock.due_at.replace(microsecond=0))}: "
                     f"{_why_due(target, cal, skipped=skipped_before_due, paused=paused)}")
        if clock.breached:
            lines.append(f"  BREACHED at {_at(zone, clock.breached_at)}")
        elif clock.status == "met" and clock.stopped_at is not None:
            spare = cal.between(clock.stopped_at, clock.due_at)
            lines.append(f"  met with {duration_text(spare)} of business time to spare")
        elif clock.status == "running":
            lines.append(f"  {duration_text(left)} of business time left at {_at(zone, now)}")
    return lines


def _why_due(target: str, cal: BusinessCalendar, *, skipped: bool, paused: bool) -> str:
    """Return why a clock is due when it is: its target after the start, and what was not counted."""
    why = f"{target} of business time after the start"
    left_out = (["the gaps above"] if skipped else []) + (["the pauses"] if paused else [])
    if left_out:
        return f"{why}, skipping {' and '.join(left_out)}"
    if cal.always_open:
        return f"{why}; every second counts on this calendar"
    return f"{why}, all of it within working hours"


def action_words(kind: str, params: Mapping[str, Any], *, instant: Callable[[Any], str],
                 label: str | None = None, short: bool = False) -> str:
    """Return what a write-back action does, in words (`instant` writes a due instant; `short`: a note's first
    line, cut at 80 characters). Shared by `explain` and `connector outbox list`."""
    def text(value: Any) -> str:
        words = str(value or "")
        if not short:
            return words
        lines = words.strip().splitlines() or [""]
        return lines[0] if len(lines) == 1 and len(lines[0]) <= 80 else lines[0][:79].rstrip() + "…"

    if kind == "set_due_date":
        return f"set the {label or 'ticket'} due date to {instant(params.get('due_at'))}"
    if kind in ("add_tags", "remove_tags"):
        tags = list(params.get("tags", ()))
        noun = "tag" if len(tags) == 1 else "tags"
        return f"{'add' if kind == 'add_tags' else 'remove'} {noun} {', '.join(map(str, tags))}"
    if kind == "set_priority":
        return f"set priority to {params.get('priority')}"
    if kind == "set_group":
        return f"move to group {params.get('group')}"
    if kind == "add_note":
        return f"add {'a public' if params.get('public') else 'an internal'} note: \"{text(params.get('body'))}\""
    if kind == "notify":
        return f"notify {params.get('target')}: \"{text(params.get('message'))}\""
    return kind.replace("_", " ")


def _action_text(action: Decision, zone: ZoneInfo) -> str:
    """Return a write-back action in words, with what made it due."""
    label = clock_label(action.metric, action.cycle) if action.metric and action.cycle else None
    what = action_words(action.action, action.params, instant=lambda at: _at(zone, at), label=label)
    if action.action == "set_due_date":
        return what
    why = f"escalation {action.cause}" + (f" on {label}" if label else "")
    if action.due_since is not None:
        why += f", due since {_at(zone, action.due_since)}"
    return f"{what} ({why})"


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
    policy = book.policy(state.policy)
    # the ticket's zone: its policy's calendar (the hours its team keeps); without a policy, UTC
    zone = config.calendar(policy.calendar).timezone if policy is not None else UTC_ZONE
    sev = state.severity
    out = [f"Ticket {state.source}/{state.account}/{state.ticket_id}: {state.snapshot.subject or '(no subject)'}",
           f"As of {_at(zone, now)}; status {state.snapshot.status}; created {_at(zone, state.created_at)}"
           f" (times in {zone.key})",
           "",
           f"Severity {sev.classified}" + (f" (declared {sev.declared} from priority {state.snapshot.priority})"
                                          if sev.declared else " (no declared priority)"),
           f"  set by {_RULES.get(sev.rule, f'rule {_quoted(sev.rule)}')}"]
    out += [f"    - {m}" for m in sev.matched]
    if state.policy is None:
        out += ["", "Policy: none matches this ticket, so it has no clocks."]
    else:
        out += ["", f"Policy {_quoted(state.policy)} (the first policy whose conditions hold)"]
        out += [f"    - {r}" for r in state.policy_reasons] or ["    - it has no conditions: it matches every ticket"]
        if policy is not None:
            pauses = (f"pauses resolution and periodic updates while status is {', '.join(policy.pause_on)}"
                      if policy.pause_on else "never pauses")
            out.append(f"  {pauses}; on reopen: {policy.on_reopen}")
    out += ["", "Timeline"]
    for at, text in state.timeline or []:
        out.append(f"  {_at(zone, at)}  {text}")
    out += ["", "Clocks"]
    pairs = state.clocks.views(now, config.calendar, state.teams.holders)
    if not pairs:
        out.append("  (none: the policy sets no target for this severity)")
    zones: dict[tuple[str, int], ZoneInfo] = {}
    for run, clock in pairs:
        zones[(clock.metric, clock.cycle)] = clock_zone = display_zone(config, clock.calendar, zone)
        out += ["  " + line for line in _clock_story(config, run, clock, now, clock_zone)]
        out.append("")
    out += _handoffs(state, zone)
    internal = [(agreement, state.teams.views(agreement, now, config.calendar))
                for agreement in book.agreements.items]
    if any(pairs for _, pairs in internal):
        out += ["Internal clocks (agreements between teams; never written to the help desk's due dates)"]
        for _, agreement_pairs in internal:
            for run, clock in agreement_pairs:
                zones[(clock.metric, clock.cycle)] = clock_zone = display_zone(config, clock.calendar, zone)
                out += ["  " + line for line in _clock_story(config, run, clock, now, clock_zone)]
                out.append("")
    if report.actions:
        out += ["Actions due", *(f"  {_action_text(a, zones.get((a.metric or '', a.cycle or 0), zone))}"
                                 for a in report.actions)]
    return "\n".join(map(visible, out)).rstrip() + "\n"  # one line each, whatever the events held


def _handoffs(state: TicketState, zone: ZoneInfo) -> list[str]:
    """Return who held the ticket when: each change of holder, and how often it changed teams."""
    holders = state.teams.holders
    if not holders:
        return []
    count = state.teams.handoffs()
    out = [f"Who held it ({count} handoff{'' if count == 1 else 's'} between teams)"]
    out += [f"  {_at(zone, at)}  {holder}" + (", awaiting the customer" if awaiting else "")
            for at, holder, awaiting in holders]
    return [*out, ""]


UTC_ZONE = ZoneInfo("UTC")
_RULES = {RULE_PRIORITY_MAP: "the priority map", RULE_DEFAULT: "default"}


def _quoted(name: str) -> str:
    """Return a configured name in quotes, as written (not a Python repr: no escapes, no quote swapping)."""
    return f"'{name}'"
