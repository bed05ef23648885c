"""Internal agreements (OLAs) and who held a ticket when: pure, like the rest of the rules core.

A support team's promise to the customer depends on other teams: engineering triage, billing approvals, an
outsourced first line. An internal agreement (`olas:` in the config) binds one team and measures, each
time the ticket is handed to that team (a **cycle**):

- ``ownership``: from the moment the team gets the ticket until it hands it on, hands it back or solves
  it (met); paused while the status is in the agreement's `pause_on`;
- ``first_touch``: until the first comment, public or private, by a member of the team (met); handed on
  or solved before any → cancelled. It waits on the team, so it never pauses.

Both run on the agreement's calendar, with targets per severity; a reopen continues the cycle that the
solve ended (the solved period excluded) if the team still holds the ticket; a severity change recomputes
running cycles from their start; a deletion cancels them and a restore resumes them — DESIGN §4's
conventions, as for the customer's clocks. Internal clocks never set a help desk's due date.

The team holds the ticket while the agreement's `when` holds; without `when`, while the assignee is one of
the team's `agents` or the group one of its `groups` (`teams:`). A comment is the team's when its author
is one of the team's agents, or, for a team that lists no agents, any human agent's.

**Who held the ticket** is kept as a timeline of changes, for attribution: the team of the first agreement
that binds the ticket, else the team its assignee or group belongs to (`teams:`), else the group's own name
(a team the config does not describe), else ``unassigned``; and whether it awaits the customer (status
``pending``). `held_by` splits a clock's elapsed business time along that timeline on the clock's own
calendar, so its parts sum to the clock's elapsed time. Time awaiting the customer is the ``customer``'s
for resolution and periodic updates; first and next response wait on the team by definition (DESIGN §4:
they never pause), so a ticket set pending without a reply stays the team's time on them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from connector.events import DELETED, DONE_STATUSES, Comment, Ticket, format_instant, parse_instant
from connector.rules.calendar import BusinessCalendar
from connector.rules.clocks import (
    CANCELLED,
    MET,
    Clock,
    ClockRun,
    Note,
    Target,
    _no_note,
    duration_text,
    view,
)
from connector.rules.conditions import Facts, Matcher, compile_condition, ticket_fields_read
from connector.rules.escalation import Escalator

if TYPE_CHECKING:
    from connector.config import Config, Ola

Holding = tuple[datetime, str, bool]  # since when, the team holding the ticket, whether it awaits the customer

OWNERSHIP = "ownership"
FIRST_TOUCH = "first_touch"
INTERNAL_ORDER = (OWNERSHIP, FIRST_TOUCH)
UNASSIGNED = "unassigned"
AWAITING_CUSTOMER = "pending"  # the canonical status of a ticket waiting on the customer

DELETED_REASON = "ticket deleted"
_SOLVED_PREFIX = "ticket "  # the stop reason of a cycle that a solve (or close) ended: "ticket solved"


class Agreement:
    """One internal agreement, compiled: how it binds, who touches, its targets and escalations."""

    __slots__ = ("name", "team", "index", "_match", "_agents", "_groups", "toucher", "touched", "pause_on", "moving",
                 "escalator", "_ola", "_targets")

    def __init__(self, ola: Ola, index: int, config: Config) -> None:
        self.name = ola.name
        self.team = ola.team
        self.index = index
        self._ola = ola
        team = config.teams.get(ola.team)
        self._match: Matcher | None = None if ola.when is None else compile_condition(ola.when)
        self._agents = frozenset(team.agents) if team is not None else frozenset()
        self._groups = frozenset(team.groups) if team is not None else frozenset()
        # who touches for the team: its agents when it lists any, else any human agent
        self.toucher: frozenset[str] | None = self._agents or None
        self.touched = f"touched by {ola.team}"  # the stop reason of a first touch
        self.pause_on = frozenset(ola.pause_on)
        # the statuses whose coming or going stops, pauses or resumes a cycle; a change between two others
        # (new → open, open → pending without pausing) leaves the cycle's runs as they are
        self.moving = self.pause_on | DONE_STATUSES | {DELETED}
        self.escalator = Escalator(ola.escalations)
        self._targets: dict[tuple[str, str], Target | None] = {}

    def binds(self, source: str, account: str, ticket: Ticket, severity: str) -> bool:
        """Return whether the team holds this ticket (status aside: a pending ticket stays with its team)."""
        if self._match is not None:
            return self._match(Facts(source=source, account=account, ticket=ticket, severity=severity)) is not None
        return (ticket.assignee is not None and ticket.assignee in self._agents) or \
            (ticket.group is not None and ticket.group in self._groups)

    def touches(self, comment: Comment) -> bool:
        """Return whether a comment is a touch by the team: a human agent's, one of its agents' if it lists any."""
        if comment.author_role != "agent" or comment.automated:
            return False
        return self.toucher is None or (comment.author_id is not None and comment.author_id in self.toucher)

    def target(self, severity: str, metric: str) -> Target | None:
        """Return a metric's target for a severity (None: no target, the cycle runs unseen)."""
        key = (severity, metric)
        try:
            return self._targets[key]
        except KeyError:
            pass
        targets = self._ola.targets.get(severity)
        seconds = None if targets is None else targets.target(metric)
        found = None if seconds is None else Target(seconds=seconds, calendar=self._ola.calendar_for(severity),
                                                    policy=self.name, team=self.team)
        self._targets[key] = found
        return found


class Agreements:
    """The config's internal agreements and teams, compiled once (part of the `Rulebook`)."""

    __slots__ = ("items", "reads", "_team_of_agent", "_team_of_group", "static", "unbound")

    def __init__(self, config: Config) -> None:
        self.items = tuple(Agreement(ola, i, config) for i, ola in enumerate(config.olas))
        self._team_of_agent = {agent: name for name, team in config.teams.items() for agent in team.agents}
        self._team_of_group = {group: name for name, team in config.teams.items() for group in team.groups}
        # what the bindings depend on: the fields the agreements' conditions read, the assignee and the group
        reads = set(ticket_fields_read([ola.when for ola in config.olas])) | {"assignee", "group"}
        reads.discard("status")  # a binding never depends on the status (see `Agreement.binds`)
        # `reads(ticket)`, with the severity unless `static`, is what the bindings depend on: while it is
        # unchanged they are not computed again
        self.reads = attrgetter(*sorted(reads))
        self.static = not any(ola.when is not None for ola in config.olas)  # no condition: no severity read
        self.unbound = (False,) * len(self.items)  # a ticket no agreement holds yet

    def bindings(self, source: str, account: str, ticket: Ticket, severity: str) -> tuple[bool, ...]:
        return tuple(a.binds(source, account, ticket, severity) for a in self.items)

    def holder(self, ticket: Ticket, bound: tuple[bool, ...]) -> str:
        """Return the team that holds a ticket: an agreement's, the assignee's or group's, the group's own name
        (a team the config does not describe), or unassigned. The status plays no part (see `TeamClocks`)."""
        if True in bound:
            return self.items[bound.index(True)].team
        team = None
        if ticket.assignee is not None:
            team = self._team_of_agent.get(ticket.assignee)
        if team is None and ticket.group is not None:
            team = self._team_of_group.get(ticket.group, ticket.group)
        return team or UNASSIGNED


def turns(holders: Iterable[Holding]) -> list[str]:
    """Return the teams that held a ticket in turn (unassigned spells left out, a team once per turn)."""
    names: list[str] = []
    for _, holder, _ in holders:
        if holder != UNASSIGNED and (not names or names[-1] != holder):
            names.append(holder)
    return names


@dataclass(slots=True, kw_only=True)
class TeamClocks:
    """One ticket's handoffs and internal clocks, fed one event at a time after its customer clocks.

    An agreement's runs are kept cycle by cycle, ownership then first touch; a cycle ends (both runs
    stopped) before the next starts, so only the latest two runs can be active."""

    holders: list[Holding] = field(default_factory=list)  # (since, team, awaiting the customer), in time order
    bound: tuple[bool, ...] = ()  # per agreement, in config order
    runs: dict[str, list[ClockRun]] = field(default_factory=dict)  # agreement name → its cycles' runs
    severity: str | None = None   # the severity the running cycles' targets are for
    status: str = "new"
    # what the last event's holder, bindings and status came from: (fields read, status, severity); not
    # persisted (a state read back recomputes them once)
    signature: tuple[Any, ...] | None = None

    def handoffs(self) -> int:
        """Return how many times the ticket changed hands between teams (unassigned spells aside)."""
        return max(len(turns(self.holders)) - 1, 0)

    def apply(self, agreements: Agreements, at: datetime, source: str, account: str, ticket: Ticket,
              severity: str, comment: Comment | None, note: Note = _no_note) -> None:
        """Advance by one event: who holds the ticket, the cycles it starts or ends, its status and severity."""
        status = ticket.status
        reads = agreements.reads(ticket)
        signature = (reads, status, severity)
        touched = comment is not None and comment.author_role == "agent" and not comment.automated
        if signature == self.signature:
            # nothing that decides who holds the ticket, or how its clocks run, changed: only a touch can matter
            if touched and True in self.bound:
                assert comment is not None
                self._touch(agreements, at, comment, note)
            return
        last, self.signature = self.signature, signature
        before = self.bound
        items = agreements.items
        if not items:
            bound: tuple[bool, ...] = ()
        elif last is None or last[0] != reads or (not agreements.static and last[2] != severity):
            bound = agreements.bindings(source, account, ticket, severity)
        else:
            bound = before
        holder = agreements.holder(ticket, bound)
        awaiting = status == AWAITING_CUSTOMER
        holders = self.holders
        if not holders or holder != holders[-1][1] or awaiting != holders[-1][2]:
            if holders and note is not _no_note:
                if holder != holders[-1][1]:
                    note(at, f"held by {holder} (was {holders[-1][1]})")
                if awaiting != holders[-1][2]:
                    note(at, "awaiting the customer" if awaiting else "no longer awaiting the customer")
            holders.append((at, holder, awaiting))
        if not items:
            self.status = status
            return
        if bound == before and status == self.status and severity == self.severity:
            if touched:
                assert comment is not None
                self._touch(agreements, at, comment, note)
            return
        self.bound = bound
        was_status = self.status
        self.status = status
        if len(before) != len(bound):  # a new ticket, or the config's agreements changed since it was stored
            before = agreements.unbound
        retarget = severity != self.severity
        for agreement, was, now in zip(agreements.items, before, bound, strict=True):
            if not was and not now:
                continue  # an agreement that does not hold the ticket has no active cycle (see `_status_change`)
            runs = self.runs.get(agreement.name)
            if runs is None:
                runs = self.runs[agreement.name] = []
            touch = touched and comment is not None and agreement.touches(comment)
            if was and touch:
                self._stop(runs, FIRST_TOUCH, at, MET, agreement.touched, agreement, note)
            if was and not now:
                self._stop(runs, OWNERSHIP, at, MET, f"handed on to {holder}", agreement, note)
                self._stop(runs, FIRST_TOUCH, at, CANCELLED, f"handed on to {holder} before a touch", agreement,
                           note)
            if retarget:
                self._retarget(runs, agreement, severity, at, note)
            started = now and not was
            if started:
                cycle = len(runs) // 2 + 1  # runs come in pairs, one pair per cycle
                for metric in INTERNAL_ORDER:
                    runs.append(ClockRun(metric=metric, cycle=cycle, started_at=at,
                                         target=agreement.target(severity, metric)))
                if note is not _no_note:
                    note(at, f"{agreement.team} gets the ticket: {agreement.name} cycle #{cycle} starts")
                if touch:
                    self._stop(runs, FIRST_TOUCH, at, MET, agreement.touched, agreement, note)
            if status != was_status and (status in agreement.moving or was_status in agreement.moving):
                self._status_change(runs, agreement, now, was_status, status, at, note)
                self._settle(runs, agreement, at, note)
            elif started:
                self._settle(runs, agreement, at, note)
        self.severity = severity

    # -- transitions

    def _touch(self, agreements: Agreements, at: datetime, comment: Comment, note: Note) -> None:
        """A human agent's comment: the first touch of each agreement holding the ticket whose team wrote it."""
        for agreement, on in zip(agreements.items, self.bound):  # noqa: B905 (`bound` is per agreement)
            if on and agreement.touches(comment):
                self._stop(self.runs.get(agreement.name, []), FIRST_TOUCH, at, MET, agreement.touched,
                           agreement, note)

    @staticmethod
    def _stop(runs: list[ClockRun], metric: str, at: datetime, how: str, reason: str, agreement: Agreement,
              note: Note) -> None:
        """Stop the active run of a metric, if any (the latest cycle's: runs are kept in cycle order)."""
        for run in reversed(runs[-2:]):
            if run.metric != metric:
                continue
            if run.stop is None:
                run.finish(at, how, reason)
                if run.target is not None and note is not _no_note:
                    note(at, f"{_label(agreement, run)} {'stops' if how == MET else 'cancelled'}: {reason}")
            return

    @staticmethod
    def _retarget(runs: list[ClockRun], agreement: Agreement, severity: str, at: datetime, note: Note) -> None:
        for run in runs[-2:]:  # the latest cycle: an earlier one has stopped
            if not run.active:
                continue
            new = agreement.target(severity, run.metric)  # cached: the same object for the same target
            if new is not run.target and run.target is not None and new is not None and new != run.target:
                note(at, f"{_label(agreement, run)} target changes to {duration_text(new.seconds)} "
                         f"on {new.calendar} (recomputed from its start)")
            run.target = new

    def _status_change(self, runs: list[ClockRun], agreement: Agreement, bound: bool, before: str, status: str,
                       at: datetime, note: Note) -> None:
        current = runs[-2:]  # the latest cycle (ownership, first touch): an earlier one has stopped for good
        if status == DELETED and before != DELETED:
            for run in current:
                if run.active:
                    run.finish(at, CANCELLED, DELETED_REASON)
            return
        if before == DELETED and status != DELETED:
            if bound:  # resumed only while the team holds the ticket: an unbound agreement has no active cycle
                for run in current:
                    if run.stop == CANCELLED and run.stop_reason == DELETED_REASON:
                        run.reactivate()
            before = "open"
        if status in DONE_STATUSES and before not in DONE_STATUSES:
            for run in current:
                if run.active:
                    if run.metric == OWNERSHIP:
                        run.finish(at, MET, f"ticket {status}")
                    else:
                        run.finish(at, CANCELLED, f"ticket {status} before a touch")
                    if run.target is not None and note is not _no_note:
                        note(at, f"{_label(agreement, run)} {'stops' if run.stop == MET else 'cancelled'}: "
                                 f"{run.stop_reason}")
        elif before in DONE_STATUSES and status not in DONE_STATUSES and bound:
            # a reopen while the team still holds the ticket continues the cycle the solve ended
            for latest in current:
                if not latest.active and latest.stop_reason is not None \
                        and latest.stop_reason.startswith(_SOLVED_PREFIX):
                    latest.reactivate()
                    if latest.target is not None:
                        note(at, f"{_label(agreement, latest)} continues: reopened, the solved period excluded")

    def _settle(self, runs: list[ClockRun], agreement: Agreement, at: datetime, note: Note) -> None:
        """Open or close each active cycle's segment to match the status."""
        stopped = self.status in DONE_STATUSES or self.status == DELETED
        paused = self.status in agreement.pause_on
        for run in runs[-2:]:  # the latest cycle: an earlier one has stopped
            if run.stop is not None:
                continue
            want = not stopped and not (paused and run.metric == OWNERSHIP)
            if want and not run.running:
                if run.segments and run.target is not None and note is not _no_note:
                    note(at, f"{_label(agreement, run)} resumes (status {self.status})")
                run.segments.append([at, None])
            elif not want and run.running:
                if run.target is not None and note is not _no_note:
                    note(at, f"{_label(agreement, run)} pauses (status {self.status})")
                run.segments[-1][1] = at

    # -- evaluation

    def views(self, agreement: Agreement, now: datetime,
              calendars: Callable[[str], BusinessCalendar]) -> list[tuple[ClockRun, Clock]]:
        """Return (run, view at `now`) of an agreement's cycles that have a target, cycle by cycle."""
        out = []
        # runs are kept in cycle order, ownership before first touch (`apply` appends them so): no sort
        for run in self.runs.get(agreement.name, ()):
            target = run.target
            if target is None or run.started_at > now:
                continue
            out.append((run, view(run, calendars(target.calendar), target, now)))
        return out

    def iter_runs(self) -> Iterator[tuple[str, ClockRun]]:
        for name, runs in self.runs.items():
            for run in runs:
                yield name, run

    # -- persistence

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"holders": [[format_instant(at), holder, awaiting]
                                            for at, holder, awaiting in self.holders]}
        if self.runs:
            data["bound"] = list(self.bound)
            data["runs"] = {name: [run.to_dict() for run in runs] for name, runs in self.runs.items()}
            data["severity"] = self.severity
            data["status"] = self.status
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], agreements: Agreements | None = None) -> TeamClocks:
        bound = tuple(bool(b) for b in data.get("bound", ()))
        if agreements is not None and len(bound) != len(agreements.items):
            bound = ()  # the agreements changed since: the next event binds afresh
        return cls(
            holders=[(parse_instant(entry[0], "holders"), str(entry[1]), bool(entry[2]))
                     for entry in data.get("holders", ())],
            bound=bound, runs={str(name): [ClockRun.from_dict(r) for r in runs]
                               for name, runs in data.get("runs", {}).items()},
            severity=data.get("severity"), status=data.get("status", "new"),
        )


def _label(agreement: Agreement, run: ClockRun) -> str:
    """Return how an internal clock is named to a person: `eng-triage ownership #2`."""
    return f"{agreement.name} {run.metric} #{run.cycle}"
