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

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from connector.events import format_instant
from connector.rules.calendar import BusinessCalendar
from connector.rules.clocks import Clock, ClockRun, instant_of, last_active

if TYPE_CHECKING:
    from connector.config import Escalation

NOTE_FIELDS = ("ticket_id", "source", "account", "metric", "cycle", "severity", "policy", "escalation",
               "due_at", "breached_at", "target", "elapsed", "remaining", "status")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def template_fields(template: str) -> list[str]:
    """Return the placeholder names of a note template (raises ValueError on a malformed one)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """One write-back action the rules decided on, with its idempotency key."""

    action: str                 # set_due_date | add_tags | remove_tags | set_priority | set_group | add_note | notify
    source: str
    account: str
    ticket_id: str
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    key: str
    cause: str                  # the escalation's name, or "due_date"
    metric: str | None = None
    cycle: int | None = None
    due_since: datetime | None = None  # when the decision became due

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "params": _plain(self.params), "key": self.key, "cause": self.cause,
            "metric": self.metric, "cycle": self.cycle, "due_since": format_instant(self.due_since),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return format_instant(value)
    return value


def _duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    rest = int(abs(seconds))
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}h{m:02d}m" + (f"{s:02d}s" if s else "")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRef:
    source: str
    account: str
    ticket_id: str
    severity: str


def decide(escalations: Iterable[Escalation], ticket: TicketRef,
           clocks: Iterable[tuple[ClockRun, Clock]], now: datetime,
           calendars: Callable[[str], BusinessCalendar]) -> list[Decision]:
    """Return every action due for a ticket at `now`: due dates of active clocks, then escalations."""
    escalations = tuple(escalations)
    prefix = f"{ticket.source}:{ticket.account}:{ticket.ticket_id}"
    out: list[Decision] = []
    pairs = list(clocks)
    for run, clock in pairs:
        if run.active and clock.due_at is not None:
            out.append(Decision(
                action="set_due_date", source=ticket.source, account=ticket.account, ticket_id=ticket.ticket_id,
                params=MappingProxyType({"metric": clock.metric, "cycle": clock.cycle, "due_at": clock.due_at}),
                key=f"{prefix}:due:{clock.metric}#{clock.cycle}:{format_instant(clock.due_at)}",
                cause="due_date", metric=clock.metric, cycle=clock.cycle, due_since=now,
            ))
    for esc in escalations:
        when = esc.when
        if when.severity is not None and ticket.severity not in when.severity:
            continue
        kind, value = when.threshold
        for run, clock in pairs:
            if when.metric is not None and clock.metric not in when.metric:
                continue
            if when.policy is not None and clock.policy not in when.policy:
                continue
            crossed = _crossed(run, calendars(clock.calendar), clock, kind, value, now)
            if crossed is None:
                continue
            threshold = {"pct": f"{value:g}%", "remaining": f"remaining-{value:g}s", "breached": "breached"}[kind]
            base = f"{prefix}:{esc.name}:{clock.metric}#{clock.cycle}:{threshold}"
            note_values = {
                "ticket_id": ticket.ticket_id, "source": ticket.source, "account": ticket.account,
                "metric": clock.metric, "cycle": clock.cycle, "severity": ticket.severity,
                "policy": clock.policy, "escalation": esc.name, "due_at": format_instant(clock.due_at) or "-",
                "breached_at": format_instant(clock.breached_at) or "-",
                "target": _duration(clock.target_seconds), "elapsed": _duration(clock.elapsed_seconds),
                "remaining": _duration(clock.remaining_seconds), "status": clock.status,
            }
            for index, action in enumerate(esc.actions):
                params: dict[str, Any]
                kind_name = action.kind
                if kind_name in ("add_tags", "remove_tags"):
                    params = {"tags": list(action.value)}
                elif kind_name == "set_priority":
                    params = {"priority": action.value}
                elif kind_name == "set_group":
                    params = {"group": action.value}
                elif kind_name == "add_note":
                    params = {"body": str(action.value).format_map(note_values), "public": False}
                else:  # notify
                    message = action.value.message or (
                        f"{esc.name}: {clock.metric} of ticket {ticket.ticket_id} is {clock.status}")
                    params = {"target": action.value.target, "message": message.format_map(note_values)}
                out.append(Decision(
                    action=kind_name, source=ticket.source, account=ticket.account, ticket_id=ticket.ticket_id,
                    params=MappingProxyType(params), key=f"{base}:{index}", cause=esc.name,
                    metric=clock.metric, cycle=clock.cycle, due_since=crossed,
                ))
    return out
