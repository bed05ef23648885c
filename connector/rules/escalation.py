"""Escalation decisions: which write-back actions are due for a ticket at an instant.

Pure: given the escalation rules, a ticket's clocks and `now`, return `Decision`s. Each carries a stable
idempotency key built from what caused it (ticket, escalation, metric, cycle, threshold, action index;
for due dates, the due instant itself), so the executor can run each decision exactly once however often
the same question is asked.

An escalation fires for a clock when its threshold was crossed while the clock was running, at or before
`now`: ``at: "75%"`` when 75 % of the target had elapsed, ``remaining: 30m`` when 30 minutes were left,
``breached: true`` once the clock ran past its due instant. A clock that stopped before the threshold
never fires it. `set_due_date` is decided for each active clock's current due instant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from connector.events import format_instant
from connector.rules.calendar import BusinessCalendar
from connector.rules.clocks import Clock, ClockRun, duration_text, instant_of, last_active, whole_seconds
from connector.templates import fill

if TYPE_CHECKING:
    from connector.config import Escalation

_JUST_AFTER = timedelta(seconds=1)  # a clock breaches once it runs *past* its due instant

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_new_tuple = tuple.__new__


class Decision(NamedTuple):
    """One write-back action the rules decided on, with its idempotency key.

    Immutable like the other domain types; a NamedTuple because replay builds hundreds of thousands.
    """

    action: str                 # set_due_date | add_tags | remove_tags | set_priority | set_group | add_note | notify
    source: str
    account: str
    ticket_id: str
    key: str
    cause: str                  # the escalation's name, or "due_date"
    params: Mapping[str, Any] = _EMPTY
    metric: str | None = None
    cycle: int | None = None
    due_since: datetime | None = None  # when the decision became due

    def as_dict(self) -> dict[str, Any]:
        # one unpacking instead of a field getter per value: replay calls this for every decision
        action, _, _, _, key, cause, params, metric, cycle, due_since = self
        # the params are a read-only view of a dict: its copy() is several times cheaper than dict(view)
        params = params.copy() if type(params) is MappingProxyType else dict(params)
        if action == "set_due_date":
            params["due_at"] = format_instant(params["due_at"])
        return {
            "action": action, "params": params, "key": key, "cause": cause,
            "metric": metric, "cycle": cycle, "due_since": format_instant(due_since),
        }


def _duration(seconds: float) -> str:
    """`1h05m`, `0h30m`, `2h00m07s`: never negative (a note is read by people; past due, 0h00m is left)."""
    rest = max(whole_seconds(seconds), 0)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" + (f"{s:02d}s" if s else "")


def _time_left(clock: Clock) -> str:
    """`45m left`, `due now`, or past the due instant `2h13m late`: what a warning note should say."""
    left = whole_seconds(clock.remaining_seconds)
    if left == 0:
        return "due now"
    return f"{duration_text(left)} left" if left > 0 else f"{duration_text(-left)} late"


def _crossed(run: ClockRun, cal: BusinessCalendar, clock: Clock, kind: str, value: float,
             now: datetime) -> datetime | None:
    """Return the instant the threshold was crossed while running, if that is at or before `now`."""
    if kind == "breached":
        return clock.breached_at if clock.breached else None
    amount = clock.target_seconds * value / 100 if kind == "pct" else clock.target_seconds - value
    amount = max(amount, 0)
    at = instant_of(run, cal, amount)
    if at is None or at > now:
        return None
    active = last_active(run, now)
    still_running = run.running and active == now
    if active is None or (active <= at and not still_running):
        return None  # reached only as it stopped or paused, and never ran on: not crossed
    return at


class TicketRef(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    account: str
    ticket_id: str
    severity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rule:
    """One escalation, compiled: filters as sets, the threshold, and each action's kind and value."""

    name: str
    metrics: frozenset[str] | None
    severities: frozenset[str] | None
    policies: frozenset[str] | None
    kind: str
    value: float
    label: str
    actions: tuple[tuple[str, Any, Mapping[str, Any] | None], ...]  # kind, value, params unless templated
    needs_text: bool

    def matches(self, ticket: TicketRef, clock: Clock) -> bool:
        """Return whether this escalation applies to a clock of a ticket (severity, metric, policy filters)."""
        return ((self.severities is None or ticket.severity in self.severities)
                and (self.metrics is None or clock.metric in self.metrics)
                and (self.policies is None or clock.policy in self.policies))


def _static_params(kind: str, value: Any) -> Mapping[str, Any] | None:
    """Return the parameters of an action that do not depend on the clock (None for templated ones)."""
    if kind in ("add_tags", "remove_tags"):
        return MappingProxyType({"tags": tuple(value)})
    if kind == "set_priority":
        return MappingProxyType({"priority": value})
    if kind == "set_group":
        return MappingProxyType({"group": value})
    return None


def _compile(esc: Escalation) -> _Rule:
    when = esc.when
    kind, value = when.threshold
    label = {"pct": f"{value:g}%", "remaining": f"remaining-{value:g}s", "breached": "breached"}[kind]
    actions = tuple((a.kind, a.value, _static_params(a.kind, a.value)) for a in esc.actions)
    return _Rule(
        name=esc.name, metrics=None if when.metric is None else frozenset(when.metric),
        severities=None if when.severity is None else frozenset(when.severity),
        policies=None if when.policy is None else frozenset(when.policy),
        kind=kind, value=value, label=label, actions=actions,
        needs_text=any(static is None for _, _, static in actions),
    )


class Escalator:
    """The config's escalations compiled once; `decide` answers which actions are due."""

    __slots__ = ("_rules",)

    def __init__(self, escalations: Iterable[Escalation]) -> None:
        self._rules = tuple(_compile(e) for e in escalations)

    def __bool__(self) -> bool:
        """Whether there is any escalation to decide on."""
        return bool(self._rules)

    def decide(self, ticket: TicketRef, clocks: Iterable[tuple[ClockRun, Clock]], now: datetime,
               calendars: Callable[[str], BusinessCalendar], *, due_dates: bool = True) -> list[Decision]:
        """Return every action due for a ticket at `now`: due dates of active clocks (unless `due_dates` is
        false: internal clocks), then escalations."""
        source, account, ticket_id = ticket.source, ticket.account, ticket.ticket_id
        prefix = f"{source}:{account}:{ticket_id}"
        out: list[Decision] = []
        pairs = list(clocks)
        for run, clock in pairs if due_dates else ():
            if run.active and clock.due_at is not None:
                # Decision(action, source, account, ticket_id, key, cause, params, metric, cycle, due_since)
                # through tuple.__new__, skipping the NamedTuple's Python __new__: replay builds hundreds
                # of thousands of these
                out.append(_new_tuple(Decision, (
                    "set_due_date", source, account, ticket_id,
                    f"{prefix}:due:{clock.metric}#{clock.cycle}:{format_instant(clock.due_at)}", "due_date",
                    MappingProxyType({"metric": clock.metric, "cycle": clock.cycle, "due_at": clock.due_at}),
                    clock.metric, clock.cycle, now,
                )))
        for rule in self._rules:
            if rule.severities is not None and ticket.severity not in rule.severities:
                continue
            for run, clock in pairs:
                if rule.metrics is not None and clock.metric not in rule.metrics:
                    continue
                if rule.policies is not None and clock.policy not in rule.policies:
                    continue
                crossed = _crossed(run, calendars(clock.calendar), clock, rule.kind, rule.value, now)
                if crossed is None:
                    continue
                base = f"{prefix}:{rule.name}:{clock.metric}#{clock.cycle}:{rule.label}"
                values = _NoteValues(ticket, clock, rule.name) if rule.needs_text else _EMPTY
                for index, (kind, value, static) in enumerate(rule.actions):
                    params = static if static is not None else _text_params(kind, value, values, rule.name, clock)
                    out.append(_new_tuple(Decision, (kind, source, account, ticket_id, f"{base}:{index}",
                                                     rule.name, params, clock.metric, clock.cycle, crossed)))
        return out

    def next_check(self, ticket: TicketRef, clocks: Iterable[tuple[ClockRun, Clock]], now: datetime,
                   calendars: Callable[[str], BusinessCalendar]) -> datetime | None:
        """Return the first instant after `now` at which a running clock breaches or crosses a threshold.

        A paused or stopped clock cannot cross anything until the next event, which is evaluated anyway.
        """
        soonest: datetime | None = None
        for run, clock in clocks:
            if not run.running or clock.due_at is None:
                continue
            candidates = [clock.due_at + _JUST_AFTER] if not clock.breached else []
            cal = calendars(clock.calendar)
            for rule in self._rules:
                if rule.kind == "breached" or not rule.matches(ticket, clock):
                    continue
                amount = clock.target_seconds * rule.value / 100 if rule.kind == "pct" else \
                    clock.target_seconds - rule.value
                at = instant_of(run, cal, max(amount, 0))
                if at is not None and at > now:
                    candidates.append(at)
            for at in candidates:
                if at > now and (soonest is None or at < soonest):
                    soonest = at
        return soonest


class _NoteValues(dict[str, Any]):
    """The placeholders of a note template, each computed only if the template uses it."""

    __slots__ = ("_ticket", "_clock", "_escalation")

    def __init__(self, ticket: TicketRef, clock: Clock, escalation: str) -> None:
        super().__init__()
        self._ticket, self._clock, self._escalation = ticket, clock, escalation

    def __missing__(self, name: str) -> Any:
        ticket, clock = self._ticket, self._clock
        value: Any
        if name in ("ticket_id", "source", "account", "severity"):
            value = getattr(ticket, name)
        elif name in ("metric", "cycle", "policy", "status"):
            value = getattr(clock, name)
        elif name == "escalation":
            value = self._escalation
        elif name in ("due_at", "breached_at"):
            value = format_instant(getattr(clock, name)) or "-"
        elif name == "target":
            value = _duration(clock.target_seconds)
        elif name == "elapsed":
            value = _duration(clock.elapsed_seconds)
        elif name == "remaining":
            value = _duration(clock.remaining_seconds)
        elif name == "late":
            value = _duration(-clock.remaining_seconds)
        elif name == "time_left":
            value = _time_left(clock)
        else:
            raise KeyError(name)
        self[name] = value
        return value


def _text_params(kind: str, value: Any, values: Mapping[str, Any], escalation: str,
                 clock: Clock) -> Mapping[str, Any]:
    if kind == "add_note":
        return MappingProxyType({"body": fill(str(value), values), "public": False})
    # the default message is plain text: a ticket id or escalation name with braces in it is not a template
    message = (fill(value.message, values) if value.message else
               f"{escalation}: {clock.metric} of ticket {values['ticket_id']} is {clock.status}")
    return MappingProxyType({"target": value.target, "message": message})


def decide(escalations: Iterable[Escalation], ticket: TicketRef, clocks: Iterable[tuple[ClockRun, Clock]],
           now: datetime, calendars: Callable[[str], BusinessCalendar]) -> list[Decision]:
    """Return every action due for a ticket at `now` (compiles the escalations; see `Escalator`)."""
    return Escalator(escalations).decide(ticket, clocks, now, calendars)
