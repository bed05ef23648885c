"""SLA clocks: a deterministic state machine over one ticket's events (DESIGN §4).

Four metrics, Zendesk-compatible by default:

- ``first_response``: creation → first public, human agent comment. A comment carried by the
  ``ticket.created`` event never stops it. Solved without a reply → cancelled.
- ``next_response``: each public end-user comment after the first reply starts a cycle (unless one is
  already waiting) that the next public agent reply ends.
- ``periodic_update``: from each public agent reply to the next, while the ticket is not solved.
- ``resolution``: creation → solved/closed. A reopen continues it with the solved period excluded, or
  restarts it from the reopen when the policy says ``on_reopen: restart``.

A ticket that is ``deleted`` cancels its active clocks ("ticket deleted") and starts none; restoring it
resumes exactly those, the deleted period excluded, and then applies the restore like a change from the
status it had before the deletion (a solved ticket restored as open is a reopen).

How time is kept: every clock records the wall-clock *segments* during which it ran. Its elapsed time is
the business time of those segments on the clock's calendar, and its due instant is where that sum
reaches the target. Because the segments are kept, a new target or calendar (a severity or policy change)
recomputes a running clock exactly from its original start, while a stopped clock keeps the target it had
when it stopped. `pause_on` statuses pause ``resolution`` and ``periodic_update`` only; a solved ticket
stops every clock. A clock breaches when it is still running after its due instant; the breach time is
the due instant, whenever the proof arrives.

Nothing here reads the clock: `evaluate(now)` takes the instant and mutates nothing.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from connector.events import DELETED, DONE_STATUSES, Comment, format_instant, parse_instant
from connector.rules.calendar import BusinessCalendar
from connector.rules.conditions import Facts, Matcher, compile_condition

if TYPE_CHECKING:
    from connector.config import Config, Policy

FIRST_RESPONSE = "first_response"
NEXT_RESPONSE = "next_response"
PERIODIC_UPDATE = "periodic_update"
RESOLUTION = "resolution"
METRIC_ORDER = (FIRST_RESPONSE, NEXT_RESPONSE, PERIODIC_UPDATE, RESOLUTION)
PAUSABLE = frozenset({RESOLUTION, PERIODIC_UPDATE})
CUSTOMER = "customer"  # who holds a ticket awaiting the customer (`held_by`), on the clocks that may pause

# How a clock stopped
MET = "met"              # its goal happened (reply, solve)
CANCELLED = "cancelled"  # it can no longer be met: solved without a reply, or no policy applies

DELETED_REASON = "ticket deleted"
NO_NEW_CYCLES = DONE_STATUSES | {DELETED}  # statuses in which no reply clock starts


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What a clock is measured against: target seconds on a named calendar, under a policy."""

    seconds: float
    calendar: str
    policy: str        # the policy's name; an internal agreement's name for an internal clock
    team: str | None = None  # the team an internal agreement binds; None for the customer's clocks

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"seconds": self.seconds, "calendar": self.calendar, "policy": self.policy}
        if self.team is not None:
            data["team"] = self.team
        return data


@dataclass(slots=True, kw_only=True)
class ClockRun:
    """One cycle of one metric as it ran (internal, mutable, persistable)."""

    metric: str
    cycle: int
    started_at: datetime
    segments: list[list[datetime | None]] = field(default_factory=list)  # [start, end or None if open]
    stopped_at: datetime | None = None
    stop: str | None = None            # MET or CANCELLED once stopped
    stop_reason: str | None = None
    target: Target | None = None       # current target; frozen once stopped

    @property
    def active(self) -> bool:
        return self.stop is None

    @property
    def running(self) -> bool:
        return bool(self.segments) and self.segments[-1][1] is None

    def open(self, at: datetime) -> None:
        if not self.running:
            self.segments.append([at, None])

    def close(self, at: datetime) -> None:
        if self.running:
            self.segments[-1][1] = at

    def finish(self, at: datetime, how: str, reason: str) -> None:
        self.close(at)
        self.stopped_at = at
        self.stop = how
        self.stop_reason = reason

    def reactivate(self) -> None:
        self.stopped_at = None
        self.stop = None
        self.stop_reason = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "cycle": self.cycle, "started_at": format_instant(self.started_at),
            "segments": [[format_instant(s), format_instant(e)] for s, e in self.segments],
            "stopped_at": format_instant(self.stopped_at), "stop": self.stop, "stop_reason": self.stop_reason,
            "target": None if self.target is None else self.target.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClockRun:
        def inst(v: Any) -> datetime | None:
            return None if v is None else parse_instant(v, "clock")

        started = parse_instant(data["started_at"], "clock.started_at")
        target = data.get("target")
        return cls(
            metric=data["metric"], cycle=int(data["cycle"]), started_at=started,
            segments=[[inst(s), inst(e)] for s, e in data.get("segments", [])],
            stopped_at=inst(data.get("stopped_at")), stop=data.get("stop"), stop_reason=data.get("stop_reason"),
            target=None if target is None else Target(seconds=target["seconds"], calendar=target["calendar"],
                                                      policy=target["policy"], team=target.get("team")),
        )


class Clock(NamedTuple):
    """A clock as seen at an instant: the public view that replay, reports and escalations use.

    Immutable; a NamedTuple rather than a frozen dataclass because replay builds one per clock per ticket.
    """

    metric: str
    cycle: int
    status: str  # running | paused | met | breached | cancelled
    target_seconds: float
    calendar: str
    policy: str
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_seconds: float
    breached: bool
    breached_at: datetime | None
    stop_reason: str | None = None
    team: str | None = None  # an internal clock's team (`policy` is then its agreement); None: the customer's
    held_by: Mapping[str, float] | None = None  # a customer clock's elapsed time by who held the ticket
    running: bool = False  # running at the instant of the view (not stopped, not paused): its time still grows

    @property
    def remaining_seconds(self) -> float:
        return self.target_seconds - self.elapsed_seconds

    @property
    def internal(self) -> bool:
        return self.team is not None

    def as_dict(self) -> dict[str, Any]:
        # one unpacking instead of a field getter per value: replay calls this for every clock
        (metric, cycle, status, target_seconds, calendar, policy, started_at, due_at, stopped_at, elapsed_seconds,
         breached, breached_at, _, team, held, _) = self
        # durations leave the core as whole seconds (`whole_seconds`; round is that function, inlined)
        elapsed = round(elapsed_seconds)
        data = {
            "metric": metric, "cycle": cycle, "status": status,
            "target_seconds": round(target_seconds), "calendar": calendar,
            "started_at": format_instant(started_at), "due_at": format_instant(due_at),
            "stopped_at": format_instant(stopped_at), "elapsed_seconds": elapsed,
            "breached": breached, "breached_at": format_instant(breached_at),
        }
        if team is not None:
            data["internal"] = True
            data["agreement"] = policy
            data["team"] = team
        elif held is not None:
            # whole seconds that sum to elapsed_seconds: one holder (the common case) takes it all
            data["held_by"] = {next(iter(held)): elapsed} if len(held) == 1 else whole_parts(held, elapsed)
        return data


def whole_parts(parts: Mapping[str, float], total: int) -> dict[str, int]:
    """Round parts to whole seconds that sum to `total` (largest remainder: the biggest fractions round up,
    ties by name, so the split is the same every time)."""
    floors = {name: int(value // 1) for name, value in parts.items()}
    short = total - sum(floors.values())
    if short:
        order = sorted(parts, key=lambda name: (-(parts[name] - floors[name]), name))
        step = 1 if short > 0 else -1
        for name in (order if short > 0 else order[::-1])[:abs(short)]:
            floors[name] += step
    return floors


_new_tuple = tuple.__new__


# --- how durations are shown -----------------------------------------------------------------------


def whole_seconds(seconds: float) -> int:
    """Return a duration as whole seconds: the nearest, a half to the even neighbour (Python's `round`).

    The core measures to the microsecond its instants carry (DESIGN §4: precision is the second, nothing
    rounded inside); every duration that leaves it — JSON, CSV, HTML, text — is whole seconds, rounded
    here and only here. Nearest, because a computed duration (a sum of segments, an interpolated
    percentile) may sit a hair below the whole number it means; halves to even, so that rounding many
    durations adds no bias to their sum.
    """
    return round(seconds)


def duration_text(seconds: float | None) -> str:
    """Return a duration in whole seconds for a person: `1h30m`, `2d`, `7s`, `-15m` (d = 24 h)."""
    if seconds is None:
        return "-"
    rest = whole_seconds(seconds)
    sign = "-" if rest < 0 else ""
    rest = abs(rest)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{n}{unit}")
    if rest or not parts:
        parts.append(f"{rest}s")
    return sign + "".join(parts)


def clock_label(metric: str, cycle: int) -> str:
    """Return how a clock is named to a person: `resolution`, `next_response #2`."""
    return metric if metric in (FIRST_RESPONSE, RESOLUTION) else f"{metric} #{cycle}"


# --- measuring a run on a calendar ---------------------------------------------------------------


def elapsed(run: ClockRun, cal: BusinessCalendar, at: datetime) -> float:
    """Return the business seconds the run has been running up to `at`."""
    total: float = 0
    for start, end in run.segments:
        assert start is not None
        if start >= at:
            break
        stop = at if end is None or end > at else end
        total += cal.between(start, stop)
    return total


def instant_of(run: ClockRun, cal: BusinessCalendar, amount: float) -> datetime | None:
    """Return the instant the run's business time reaches `amount` (None if it stopped or paused short).

    For a running clock that has not got there yet, this is the instant it will get there.
    """
    cum: float = 0
    for start, end in run.segments:
        assert start is not None
        if end is None:
            return cal.add(start, amount - cum)
        length = cal.between(start, end)
        if cum + length >= amount:
            return cal.add(start, amount - cum)
        cum += length
    return None


def last_active(run: ClockRun, limit: datetime) -> datetime | None:
    """Return the last instant, up to `limit`, at which the run was running (None if it never ran)."""
    if not run.segments:
        return None
    end = run.segments[-1][1]
    return limit if end is None or end > limit else end


def measure(run: ClockRun, cal: BusinessCalendar, limit: datetime, amount: float) -> tuple[float, datetime | None]:
    """Return (`elapsed(run, cal, limit)`, `instant_of(run, cal, amount)`) in one pass over the segments."""
    spent: float = 0
    cum: float = 0
    due: datetime | None = None
    for start, end in run.segments:
        assert start is not None
        if end is None:
            if due is None:
                due = cal.add(start, amount - cum)
            if start < limit:
                spent += cal.between(start, limit)
            break
        length = cal.between(start, end)
        if due is None and cum + length >= amount:
            due = cal.add(start, amount - cum)
        cum += length
        if start < limit:
            spent += length if end <= limit else cal.between(start, limit)
    return spent, due


def view(run: ClockRun, cal: BusinessCalendar, target: Target, now: datetime,
         holders: list[tuple[datetime, str, bool]] | None = None) -> Clock:
    """Return the public view of a run at `now` against a target; with the ticket's `holders` (a timeline
    of who held it), the elapsed time split by holder (`held_by`)."""
    limit = run.stopped_at if run.stopped_at is not None and run.stopped_at <= now else now
    spent, due = measure(run, cal, limit, target.seconds)
    if holders is None:
        held = None
    elif holders and holders[-1][0] <= run.started_at:
        # one holder for the whole run: the common case, nothing to measure
        _, team, awaiting = holders[-1]
        held = {CUSTOMER if awaiting and run.metric in PAUSABLE else team: spent}
    else:
        held = held_by(run, cal, limit, spent, holders)
    # breached: the clock was still running at some instant after its due instant
    active = last_active(run, limit)
    breached = due is not None and active is not None and active > due
    if due is None and run.stop == MET and run.stopped_at is not None:
        # a met clock that never reached its target: report the due instant it had as it stopped
        due = cal.add(run.stopped_at, target.seconds - spent)
    if run.stop == CANCELLED:
        status = "breached" if breached else "cancelled"
    elif run.stop == MET:
        status = "breached" if breached else "met"
    elif breached:
        status = "breached"
    else:
        status = "running" if run.running else "paused"
    if status == "paused" or (run.stop == CANCELLED and not breached):
        shown_due = None
    else:
        shown_due = due
    # Clock(metric=…, …, stop_reason=…) in field order, through tuple.__new__: the NamedTuple's generated
    # __new__ with keywords costs several times more, and replay builds one view per clock per ticket.
    return _new_tuple(Clock, (
        run.metric, run.cycle, status, target.seconds, target.calendar, target.policy, run.started_at, shown_due,
        run.stopped_at if run.stopped_at is not None and run.stopped_at <= now else None,
        spent, breached, due if breached else None, run.stop_reason, target.team, held,
        run.stop is None and run.running and run.started_at <= now,
    ))


def lateness_by(run: ClockRun, cal: BusinessCalendar, clock: Clock, now: datetime,
                holders: list[tuple[datetime, str, bool]]) -> dict[str, float]:
    """Split a breached clock's lateness (its business time past the due instant) by who held the ticket."""
    due = clock.breached_at or clock.due_at
    late = max(clock.elapsed_seconds - clock.target_seconds, 0.0)
    if due is None or not late:
        return {}
    after = ClockRun(metric=run.metric, cycle=run.cycle, started_at=due,
                     segments=[[max(start, due), end] for start, end in run.segments
                               if start is not None and (end is None or end > due)])
    limit = run.stopped_at if run.stopped_at is not None and run.stopped_at <= now else now
    return held_by(after, cal, limit, late, holders)


def held_by(run: ClockRun, cal: BusinessCalendar, limit: datetime, spent: float,
            holders: list[tuple[datetime, str, bool]]) -> dict[str, float]:
    """Split a run's business time up to `limit` (`spent`, already measured) by who held the ticket.

    `holders` is the ticket's timeline of (since, team, awaiting the customer), in time order; before its
    first entry the first holder held it. Time awaiting the customer is the `customer`'s on the clocks that
    `pause_on` may pause (resolution, periodic update); the response clocks wait on the team whatever the
    status. Each piece is measured on the run's calendar; what floating-point sums leave over goes to the
    last holder, so the parts sum to `spent` exactly."""
    if not holders:
        return {"unassigned": spent}
    customer = run.metric in PAUSABLE
    # only the entries from the one in force at the run's start to the last before `limit` matter
    times = [entry[0] for entry in holders]
    first = max(bisect_right(times, run.started_at) - 1, 0)
    last = max(bisect_left(times, limit), first + 1)
    names = [CUSTOMER if customer and awaiting else team for _, team, awaiting in holders[first:last]]
    if names.count(names[0]) == len(names):
        return {names[0]: spent}  # one holder all along for this clock (e.g. only the awaiting flag changed)
    times = times[first:last]
    parts: dict[str, float] = {}
    for start, end in run.segments:
        assert start is not None
        if start >= limit:
            break
        stop = limit if end is None or end > limit else end
        index = max(bisect_right(times, start) - 1, 0)
        cursor = start
        while cursor < stop:
            nxt = times[index + 1] if index + 1 < len(times) else None
            piece_end = stop if nxt is None or nxt >= stop else nxt
            if piece_end > cursor:
                who = names[index]
                parts[who] = parts.get(who, 0.0) + cal.between(cursor, piece_end)
            cursor = piece_end
            index += 1
    if not parts:
        return {names[0]: spent}
    drift = spent - sum(parts.values())
    if drift:
        final = next(reversed(parts))
        parts[final] = max(parts[final] + drift, 0.0)
    return parts


# --- policies ------------------------------------------------------------------------------------


class PolicyBook:
    """The config's policies compiled for first-match selection."""

    __slots__ = ("_policies",)

    def __init__(self, config: Config) -> None:
        self._policies: list[tuple[Policy, Matcher]] = [(p, compile_condition(p.when)) for p in config.policies]

    def select(self, facts: Facts) -> tuple[Policy | None, list[str]]:
        """Return the first policy whose conditions hold, with the reasons, or (None, [])."""
        for policy, match in self._policies:
            reasons = match(facts)
            if reasons is not None:
                return policy, reasons
        return None, []


def target_for(policy: Policy | None, severity: str, metric: str) -> Target | None:
    """Return a metric's target under a policy for a severity, or None when there is none."""
    if policy is None:
        return None
    # Every event that moves a clock asks again, and building the frozen Target costs far more than a
    # lookup. Targets are immutable, so runs may share one. Keyed by the policy's id (config models are
    # not hashable); the entry holds the policy, so an id is never reused while its entry lives.
    key = (id(policy), severity, metric)
    hit = _TARGETS.get(key)
    if hit is not None and hit[0] is policy:
        return hit[1]
    target = _target_for(policy, severity, metric)
    if len(_TARGETS) >= _TARGETS_MAX:
        _TARGETS.clear()
    _TARGETS[key] = (policy, target)
    return target


_TARGETS: dict[tuple[int, str, str], tuple[Policy, Target | None]] = {}
_TARGETS_MAX = 4096


def _target_for(policy: Policy, severity: str, metric: str) -> Target | None:
    targets = policy.targets.get(severity)
    if targets is None:
        return None
    seconds = targets.target(metric)
    if seconds is None:
        return None
    return Target(seconds=seconds, calendar=targets.calendar or policy.calendar, policy=policy.name)


# --- the state machine ---------------------------------------------------------------------------

Note = Callable[[datetime, str], None]
# The context of clocks that must take the targets in force again (after a reopen or a restore): equal to
# no real (policy, severity), and unlike None (a ticket's first targets) it lets a new target be noted.
_REAPPLY: tuple[str | None, str] = (None, "")


def _no_note(at: datetime, text: str) -> None:
    return None


def _target_change(run: ClockRun, new: Target | None) -> str:
    """Return the timeline note of a clock whose target changes (a severity or policy change)."""
    label = clock_label(run.metric, run.cycle)
    old = run.target
    if old is None:
        assert new is not None
        return f"{label} now has a target: {duration_text(new.seconds)} on {new.calendar} (counted from its start)"
    if new is None:
        return f"{label} has no target any more: no longer shown"
    return (f"{label} target changes from {duration_text(old.seconds)} on {old.calendar} "
            f"to {duration_text(new.seconds)} on {new.calendar} (recomputed from its start)")


@dataclass(slots=True, kw_only=True)
class TicketClocks:
    """Every clock of one ticket, fed one event at a time in `occurred_at` order."""

    created_at: datetime
    status: str
    pause_on: frozenset[str] = frozenset()
    on_reopen: str = "continue"
    first_reply_at: datetime | None = None
    runs: list[ClockRun] = field(default_factory=list)
    deleted_from: str | None = None  # while deleted: the status the ticket had before
    context: tuple[str | None, str] | None = None  # (policy, severity) last applied; not persisted

    @classmethod
    def start(cls, *, created_at: datetime) -> TicketClocks:
        """Start the clocks of a new ticket: first response and resolution run from its creation.

        The ticket starts as ``new``; the first event then moves it to its real status (so a ticket
        created already pending or solved pauses or stops its clocks at once).
        """
        clocks = cls(created_at=created_at, status="new")
        clocks.runs.append(ClockRun(metric=FIRST_RESPONSE, cycle=1, started_at=created_at))
        clocks.runs.append(ClockRun(metric=RESOLUTION, cycle=1, started_at=created_at))
        clocks._settle(created_at)
        return clocks

    # -- queries

    def active(self, metric: str) -> ClockRun | None:
        """Return the active (not stopped) run of a metric, if any."""
        for run in reversed(self.runs):
            if run.metric == metric and run.active:
                return run
        return None

    def latest(self, metric: str) -> ClockRun | None:
        for run in reversed(self.runs):
            if run.metric == metric:
                return run
        return None

    def _cycles(self, metric: str) -> int:
        return [run.metric for run in self.runs].count(metric)  # cheaper than sum() over a generator

    def _settle(self, at: datetime, note: Note = _no_note) -> None:
        """Open or close each active run's segment to match the ticket's status at `at`."""
        done = self.status in DONE_STATUSES
        paused = self.status in self.pause_on
        for run in self.runs:
            if run.stop is not None:
                continue
            want = not done and not (paused and run.metric in PAUSABLE)
            segments = run.segments
            running = bool(segments) and segments[-1][1] is None
            if want and not running:
                if segments and run.target is not None:
                    note(at, f"{clock_label(run.metric, run.cycle)} resumes (status {self.status})")
                segments.append([at, None])
            elif not want and running:
                if run.target is not None:
                    note(at, f"{clock_label(run.metric, run.cycle)} pauses (status {self.status})")
                segments[-1][1] = at

    # -- transitions

    def retarget(self, policy: Policy | None, severity: str, note: Note = _no_note, at: datetime | None = None) -> None:
        """Apply a (new) policy and severity: active clocks take the new targets, computed from their start."""
        context = (None if policy is None else policy.name, severity)
        if context == self.context:
            return
        previous, self.context = self.context, context  # None: the ticket's first targets
        if policy is not None:
            self.pause_on = frozenset(policy.pause_on)
            self.on_reopen = policy.on_reopen
        for run in self.runs:
            if not run.active:
                continue
            new = target_for(policy, severity, run.metric)
            if policy is None:
                if run.target is not None and at is not None:
                    run.finish(at, CANCELLED, "no policy applies any more")
                    note(at, f"{clock_label(run.metric, run.cycle)} cancelled: no policy applies any more")
                continue
            if new is not run.target and new != run.target and at is not None \
                    and (run.target is not None or previous is not None):  # not the ticket's first targets
                note(at, _target_change(run, new))
            run.target = new

    def apply(self, at: datetime, status: str, comment: Comment | None, is_creation: bool,
              policy: Policy | None, severity: str, note: Note = _no_note) -> None:
        """Advance the clocks by one event: the comment it carries, then its status change."""
        before = self.status
        reply = customer = False
        if comment is not None and not is_creation:
            reply = comment.is_agent_reply
            customer = comment.is_customer_message
        if status == before and not reply and not customer \
                and self.context == (None if policy is None else policy.name, severity):
            return  # nothing that moves a clock: same status, same targets, no reply or customer message
        # 1. what the comment ends
        if reply:
            for metric in (FIRST_RESPONSE, NEXT_RESPONSE, PERIODIC_UPDATE):
                run = self.active(metric)
                if run is not None:
                    run.finish(at, MET, "public agent reply")
                    if run.target is not None:  # a clock without a target is not shown, so neither is its stop
                        note(at, f"{clock_label(metric, run.cycle)} stops: public agent reply")
            if self.first_reply_at is None:
                self.first_reply_at = at
        # 2. the policy and severity in force from now on
        self.retarget(policy, severity, note, at)
        # 3. the status change (a deletion cancels; a restore resumes, then counts as a change from before it)
        if status == DELETED and before != DELETED:
            self.status = status
            self._on_delete(at, before, note)
            return
        if before == DELETED and status != DELETED:
            before = self._on_restore(at, note)
            self.retarget(policy, severity, note, at)
        self.status = status
        if status == DELETED:
            return  # still deleted: nothing starts
        if status in DONE_STATUSES and before not in DONE_STATUSES:
            self._on_done(at, note)
        elif before in DONE_STATUSES and status not in DONE_STATUSES:
            self._on_reopen(at, note)
            self.context = _REAPPLY  # reactivated clocks take the targets in force now
            self.retarget(policy, severity, note, at)
        # 4. what the comment starts
        if customer and status != DELETED and self.first_reply_at is not None and self.active(NEXT_RESPONSE) is None:
            run = ClockRun(metric=NEXT_RESPONSE, cycle=self._cycles(NEXT_RESPONSE) + 1, started_at=at,
                           target=target_for(policy, severity, NEXT_RESPONSE))
            self.runs.append(run)
            if run.target is not None:
                note(at, f"next_response #{run.cycle} starts: public end-user comment")
        if reply and status not in NO_NEW_CYCLES:
            run = ClockRun(metric=PERIODIC_UPDATE, cycle=self._cycles(PERIODIC_UPDATE) + 1, started_at=at,
                           target=target_for(policy, severity, PERIODIC_UPDATE))
            self.runs.append(run)
            if run.target is not None and note is not _no_note:
                note(at, f"periodic_update #{run.cycle} starts: public agent reply")
        # 5. segments follow the status
        self._settle(at, note)

    def _on_delete(self, at: datetime, before: str, note: Note) -> None:
        self.deleted_from = before
        cancelled = []
        for run in self.runs:
            if run.active:
                run.finish(at, CANCELLED, DELETED_REASON)
                if run.target is not None:
                    cancelled.append(clock_label(run.metric, run.cycle))
        if cancelled:
            note(at, f"ticket deleted: {', '.join(cancelled)} cancelled")

    def _on_restore(self, at: datetime, note: Note) -> str:
        """Resume the clocks the deletion cancelled; return the status the ticket had before it."""
        resumed = []
        for run in self.runs:
            if run.stop == CANCELLED and run.stop_reason == DELETED_REASON:
                run.reactivate()
                if run.target is not None:
                    resumed.append(clock_label(run.metric, run.cycle))
        note(at, "ticket restored" + (f": {', '.join(resumed)} resume, the deleted period excluded"
                                      if resumed else ""))
        self.context = _REAPPLY  # resumed clocks take the targets in force now
        before, self.deleted_from = self.deleted_from or "open", None
        return before

    def _on_done(self, at: datetime, note: Note) -> None:
        for run in self.runs:
            if not run.active:
                continue
            if run.metric == RESOLUTION:
                run.finish(at, MET, f"ticket {self.status}")
                if run.target is not None:
                    note(at, f"resolution stops: ticket {self.status}")
            else:
                run.finish(at, CANCELLED, f"ticket {self.status} without a reply")
                if run.target is not None:
                    note(at, f"{clock_label(run.metric, run.cycle)} cancelled: ticket {self.status} without a reply")

    def _on_reopen(self, at: datetime, note: Note) -> None:
        resolution = self.latest(RESOLUTION)
        if resolution is not None and resolution.stop == MET:
            shown = resolution.target is not None
            if self.on_reopen == "restart":
                resolution.reactivate()
                resolution.started_at = at
                resolution.segments.clear()
                note(at, "ticket reopened" + (": resolution restarts from here (on_reopen: restart)" if shown else ""))
            else:
                resolution.reactivate()
                note(at, "ticket reopened" + (": resolution continues, the solved period excluded" if shown else ""))
        else:
            note(at, "ticket reopened")
        first = self.latest(FIRST_RESPONSE)
        if first is not None and first.stop == CANCELLED and self.first_reply_at is None \
                and first.stop_reason and first.stop_reason.startswith("ticket "):
            first.reactivate()
            if first.target is not None:
                note(at, "first_response continues: the ticket was reopened without a first reply")

    # -- evaluation

    def views(self, now: datetime, calendars: Callable[[str], BusinessCalendar],
              holders: list[tuple[datetime, str, bool]] | None = None) -> list[tuple[ClockRun, Clock]]:
        """Return (run, view at `now`) for every clock that has a target, without changing any state; with
        the ticket's `holders`, each view's elapsed time split by who held the ticket."""
        out = []
        for run in self.iter_targeted():
            assert run.target is not None
            if run.started_at > now:
                continue
            out.append((run, view(run, calendars(run.target.calendar), run.target, now, holders)))
        out.sort(key=lambda pair: (METRIC_ORDER.index(pair[1].metric), pair[1].cycle))
        return out

    def evaluate(self, now: datetime, calendars: Callable[[str], BusinessCalendar]) -> list[Clock]:
        """Return every clock that has a target, as it stands at `now`, without changing any state."""
        return [clock for _, clock in self.views(now, calendars)]

    def iter_targeted(self) -> Iterator[ClockRun]:
        return (run for run in self.runs if run.target is not None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "created_at": format_instant(self.created_at), "status": self.status,
            "pause_on": sorted(self.pause_on), "on_reopen": self.on_reopen,
            "first_reply_at": format_instant(self.first_reply_at),
            "runs": [run.to_dict() for run in self.runs],
        }
        if self.deleted_from is not None:
            data["deleted_from"] = self.deleted_from
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TicketClocks:
        first = data.get("first_reply_at")
        return cls(
            created_at=parse_instant(data["created_at"], "created_at"), status=data["status"],
            pause_on=frozenset(data.get("pause_on", ())), on_reopen=data.get("on_reopen", "continue"),
            first_reply_at=None if first is None else parse_instant(first, "first_reply_at"),
            runs=[ClockRun.from_dict(r) for r in data.get("runs", [])], deleted_from=data.get("deleted_from"),
        )
