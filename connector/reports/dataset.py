"""What every report reads: clocks, tickets, escalations and audit findings as they stood at an instant.

`collect(config, events, now)` runs the rules core over a history (a JSONL file or the store's events,
the same code either way) and records, beside each ticket's clocks at `now`, what only a walk through the
history can tell: reopens, wall time spent paused, the escalations that fired, and the two suspicious
patterns of the severity audit:

- **severity lowered shortly before a breach**: the classified severity dropped at an instant when a
  clock running then was, under the old severity, due within `reports.audit.lowered_within` (default the
  last 25 % of the old target; or a duration) or already past due. The old due instant is computed on
  the clock's real segments with the old target, so pauses count as they happened.
- **pause right after a customer reply**: the ticket entered one of its policy's `pause_on` statuses within
  `reports.audit.pause_within` of a public end-user comment, with no public agent reply in between.

Nothing here reads the clock or does I/O: `now` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.config import Config
from connector.events import DONE_STATUSES, Event, Ticket, format_instant, order_events
from connector.replay import build_states
from connector.rules.clocks import instant_of, lateness_by, target_for
from connector.rules.engine import Rulebook, TicketState

TicketKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockRow:
    """One clock (metric × cycle) of one ticket at `now`, with the ticket's dimensions."""

    source: str
    account: str
    ticket_id: str
    metric: str
    cycle: int
    status: str
    severity: str
    policy: str
    calendar: str
    target_seconds: float
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_seconds: float
    breached: bool
    breached_at: datetime | None
    group: str | None
    org: str | None
    team: str | None = None  # an internal clock's team (its agreement is `policy`); None: the customer's
    held_by: Mapping[str, float] | None = None  # a customer clock's elapsed time by who held the ticket
    late_by: Mapping[str, float] | None = None  # a breached customer clock's lateness by who held the ticket

    @property
    def ticket_key(self) -> TicketKey:
        return (self.source, self.account, self.ticket_id)

    @property
    def agreement(self) -> str:
        """An internal clock's agreement (the `policy` column of the customer's clocks)."""
        return self.policy

    @property
    def late_seconds(self) -> float:
        """Business seconds past the target (0 unless breached)."""
        return max(self.elapsed_seconds - self.target_seconds, 0.0) if self.status == "breached" else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRow:
    """One ticket at `now`: its classification and what its history says."""

    source: str
    account: str
    ticket_id: str
    created_at: datetime
    status: str
    declared: str | None
    classified: str
    rule: str
    policy: str | None
    group: str | None
    org: str | None
    assignee: str | None
    snapshot: Ticket
    reopens: int
    solves: int
    paused_seconds: float   # wall-clock seconds spent in the policy's pause_on statuses
    open_seconds: float     # wall-clock seconds not solved or closed
    handoffs: int = 0       # how often the ticket changed teams (the customer and unassigned aside)
    holders: tuple[tuple[datetime, str, bool], ...] = ()  # since when, which team, awaiting the customer

    @property
    def key(self) -> TicketKey:
        return (self.source, self.account, self.ticket_id)

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationRow:
    """An escalation that fired on one clock cycle."""

    source: str
    account: str
    ticket_id: str
    escalation: str
    metric: str
    cycle: int
    at: datetime
    severity: str
    group: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A suspicious pattern in one ticket's history."""

    kind: str               # severity_lowered_before_breach | pause_after_customer_reply
    source: str
    account: str
    ticket_id: str
    at: datetime
    detail: str
    group: str | None
    org: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ticket": {"source": self.source, "account": self.account, "id": self.ticket_id},
                "at": format_instant(self.at), "detail": self.detail, "group": self.group, "org": self.org}


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    now: datetime
    clocks: tuple[ClockRow, ...]
    tickets: tuple[TicketRow, ...]
    escalations: tuple[EscalationRow, ...]
    findings: tuple[Finding, ...]
    internal: tuple[ClockRow, ...] = ()  # the internal agreements' clocks (OLAs), one per cycle
    actions: Mapping[str, int] = field(default_factory=dict)  # write-back actions due at `now`, by kind


@dataclass(slots=True)
class _Walk:
    """What the walk remembers of one ticket besides its rules-core state."""

    status: str = "new"
    since: datetime | None = None
    paused: float = 0.0
    open: float = 0.0
    reopens: int = 0
    solves: int = 0
    customer_waiting_since: datetime | None = None  # a public end-user comment no agent has answered yet
    lowered: list[tuple[datetime, str, str | None, str]] = field(default_factory=list)
    pauses: list[tuple[datetime, datetime, str]] = field(default_factory=list)


def _advance(walk: _Walk, state: TicketState, at: datetime) -> None:
    """Add the wall time since the last event to the totals of the status it was in."""
    if walk.since is not None and at > walk.since:
        span = (at - walk.since).total_seconds()
        if walk.status not in DONE_STATUSES:
            walk.open += span
            if walk.status in state.clocks.pause_on:
                walk.paused += span
    walk.since = at


def collect(config: Config, events: Iterable[Event], now: datetime | None = None, *, walk: bool = True) -> Dataset:
    """Run the rules core over a history and return what the reports read, as it stood at `now`.

    `now` defaults to the last event's time; events after it are left out (as in replay). Without `walk`,
    only what the core itself tells (clocks, tickets, escalations, actions): no findings, no split of a
    breach's lateness, and the tickets' reopens, solves and paused or open times left at 0 — what the what-if
    compares, faster.
    """
    ordered = order_events(events)
    if now is None:
        if not ordered:
            raise ValueError("no events and no `now`: nothing to report on")
        now = ordered[-1].occurred_at
    if walk:
        book = Rulebook(config)
        states, walks = _walk_history(book, ordered, now)
    else:  # the core alone, as replay runs it
        states, _, book = build_states(config, ordered, now)
        walks = {}
    findings: list[Finding] = []
    clocks: list[ClockRow] = []
    internal: list[ClockRow] = []
    actions: dict[str, int] = {}
    tickets: list[TicketRow] = []
    escalations: list[EscalationRow] = []
    audit = config.reports.audit
    for key, state in states.items():
        ticket_walk = walks.get(key) or _Walk()  # no walk: every total stays 0
        _advance(ticket_walk, state, now)
        report = book.evaluate(state, now)
        snap = state.snapshot
        sev = state.severity
        holders = state.teams.holders
        for c in report.clocks:
            late_by = None
            if walk and c.status == "breached" and c.team is None:  # the attribution report's split
                run = next(r for r in state.clocks.runs if r.metric == c.metric and r.cycle == c.cycle)
                late_by = lateness_by(run, book.calendar(c.calendar), c, now, holders)
            (internal if c.team is not None else clocks).append(ClockRow(
                source=state.source, account=state.account, ticket_id=state.ticket_id, metric=c.metric,
                cycle=c.cycle, status=c.status, severity=sev.classified, policy=c.policy, calendar=c.calendar,
                target_seconds=c.target_seconds, started_at=c.started_at, due_at=c.due_at, stopped_at=c.stopped_at,
                elapsed_seconds=c.elapsed_seconds, breached=c.breached, breached_at=c.breached_at,
                group=snap.group, org=snap.requester.org, team=c.team, held_by=c.held_by, late_by=late_by))
        fired: set[tuple[str, str, int]] = set()
        for action in report.actions:
            actions[action.action] = actions.get(action.action, 0) + 1
            if action.cause == "due_date" or action.metric is None or action.cycle is None:
                continue
            ident = (action.cause, action.metric, action.cycle)
            if ident in fired or action.due_since is None:
                continue
            fired.add(ident)
            escalations.append(EscalationRow(
                source=state.source, account=state.account, ticket_id=state.ticket_id, escalation=action.cause,
                metric=action.metric, cycle=action.cycle, at=action.due_since, severity=sev.classified,
                group=snap.group))
        tickets.append(TicketRow(
            source=state.source, account=state.account, ticket_id=state.ticket_id, created_at=state.created_at,
            status=snap.status, declared=sev.declared, classified=sev.classified, rule=sev.rule,
            policy=state.policy, group=snap.group, org=snap.requester.org, assignee=snap.assignee, snapshot=snap,
            reopens=ticket_walk.reopens, solves=ticket_walk.solves, paused_seconds=ticket_walk.paused,
            open_seconds=ticket_walk.open,
            handoffs=state.teams.handoffs(), holders=tuple(holders)))
        findings.extend(_lowered_findings(book, state, ticket_walk))
        findings.extend(Finding(kind="pause_after_customer_reply", source=state.source, account=state.account,
                                ticket_id=state.ticket_id, at=at, group=snap.group, org=snap.requester.org,
                                detail=f"status {status} {_minutes((at - reply).total_seconds())} after a "
                                       f"customer reply at {format_instant(reply)}, with no agent reply")
                        for at, reply, status in ticket_walk.pauses
                        if (at - reply).total_seconds() <= audit.pause_within)
    findings.sort(key=lambda f: (f.at, f.source, f.account, f.ticket_id, f.kind))
    return Dataset(now=now, clocks=tuple(clocks), tickets=tuple(tickets), escalations=tuple(escalations),
                   findings=tuple(findings), internal=tuple(internal), actions=actions)


def _walk_history(book: Rulebook, ordered: list[Event], now: datetime
                  ) -> tuple[dict[TicketKey, TicketState], dict[TicketKey, _Walk]]:
    """Apply the events up to `now`, and walk beside the core what only the history tells (see `_Walk`)."""
    rank = {sev: i for i, sev in enumerate(book.config.severities)}
    states: dict[TicketKey, TicketState] = {}
    walks: dict[TicketKey, _Walk] = {}
    for event in ordered:
        if event.occurred_at > now:
            break
        key = event.key
        before = states.get(key)
        walk = walks.get(key)
        if walk is None:
            walk = walks[key] = _Walk()
        old_sev = None if before is None else before.severity.classified
        old_policy = None if before is None else before.policy
        if before is not None:
            _advance(walk, before, event.occurred_at)
        comments_before = 0 if before is None else len(before.comments)
        state = book.apply(before, event)
        states[key] = state
        if before is None:
            walk.since = state.created_at
            _advance(walk, state, event.occurred_at)
        # the same comment reported again under another id (webhook and poll) is applied once by the core
        repeat = (before is not None and event.type == "comment.added" and event.comment is not None
                  and bool(event.comment.author_id) and len(state.comments) == comments_before)
        _observe(walk, state, event, old_sev, old_policy, rank, repeat=repeat)
    return states, walks


def _observe(walk: _Walk, state: TicketState, event: Event, old_sev: str | None, old_policy: str | None,
             rank: dict[str, int], *, repeat: bool) -> None:
    """Update the walk after an event: status transitions, the customer waiting, a lowered severity."""
    at = event.occurred_at
    new_status = state.clocks.status
    comment = event.comment if event.type != "ticket.created" and not repeat else None
    if comment is not None and comment.is_agent_reply:
        walk.customer_waiting_since = None
    elif comment is not None and comment.is_customer_message and walk.customer_waiting_since is None:
        walk.customer_waiting_since = at
    if new_status != walk.status:
        was_done = walk.status in DONE_STATUSES
        if new_status in DONE_STATUSES and not was_done:
            walk.solves += 1
            walk.customer_waiting_since = None
        elif was_done and new_status not in DONE_STATUSES:
            walk.reopens += 1
        if new_status in state.clocks.pause_on and walk.status not in state.clocks.pause_on \
                and walk.customer_waiting_since is not None:
            walk.pauses.append((at, walk.customer_waiting_since, new_status))
        walk.status = new_status
    new_sev = state.severity.classified
    if old_sev is not None and new_sev != old_sev and rank.get(new_sev, 0) > rank.get(old_sev, 0):
        walk.lowered.append((at, old_sev, old_policy, new_sev))


def _lowered_findings(book: Rulebook, state: TicketState, walk: _Walk) -> Iterable[Finding]:
    """Findings for each lowering at which a running clock was due (under the old severity) soon or already."""
    audit = book.config.reports.audit
    snap = state.snapshot
    for at, old_sev, old_policy, new_sev in walk.lowered:
        policy = book.policy(old_policy)
        worst: tuple[datetime, str] | None = None
        for run in state.clocks.runs:
            if run.started_at > at or (run.stopped_at is not None and run.stopped_at <= at):
                continue
            old = target_for(policy, old_sev, run.metric)
            if old is None:
                continue
            due = instant_of(run, book.calendar(old.calendar), old.seconds)
            if due is None or due > at + timedelta(seconds=audit.lowered_window(old.seconds)):
                continue
            if worst is None or due < worst[0]:
                worst = (due, run.metric if run.cycle == 1 else f"{run.metric} #{run.cycle}")
        if worst is None:
            continue
        due, label = worst
        gap = (due - at).total_seconds()
        when = f"{_minutes(gap)} before it was due" if gap >= 0 else f"{_minutes(-gap)} after it was due"
        yield Finding(kind="severity_lowered_before_breach", source=state.source, account=state.account,
                      ticket_id=state.ticket_id, at=at, group=snap.group, org=snap.requester.org,
                      detail=f"{old_sev} → {new_sev} {when}: {label} was due {format_instant(due)} under {old_sev}")


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
