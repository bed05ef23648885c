"""What-if: the same history under the current config and a proposed one, side by side (DESIGN §3.4.1).

    {"rows": [{"metric", "severity", "policy", "current": {<sla report row>}, "proposed": {...},
               "difference": {...}}],
     "changed": [{"ticket": {...}, "metric", "cycle", "current": "<status>", "proposed": "<status>", ...}],
     "actions": {...}, "escalations": {...}, "credits": {...}}

Both configs replay the same events up to the same `now` through `collect` (the reports' walk), so every
number is what the SLA report would say under that config:

- **rows**: the SLA report's aggregation (per metric × severity × policy, `by` adds group/source/org, and
  `period`) under each config, joined on the grouping; a group that exists under one config only has
  `null` on the other side. `difference` is proposed − current for the counts, attainment and percentiles.
- **changed**: each clock (ticket × metric × cycle) whose status or severity differs: `met → breached`,
  `breached → met`, reclassified, or a clock that exists under one config only (its status there, `null`
  under the other). Statuses are as at `now` (`running`, `paused`, `met`, `breached`, `cancelled`).
- **actions**: the write-back actions due at `now` by kind under each (tags, notes, priorities, groups,
  notifications, due dates); **escalations**: how often each escalation fired (once per clock cycle).
- **credits**: each contract's periods under each config (attainment, credit %, amount).

A clock counts in the window by its start, as in the SLA report.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.events import Event, format_instant, order_events
from connector.reports.credits import credits_report
from connector.reports.dataset import Dataset, collect
from connector.reports.sla import aggregate, normalize_by, row_sort_key
from connector.reports.stats import EVERYTHING, Window
from connector.rules.clocks import METRIC_ORDER

COMPARED = ("tickets", "met", "breached", "running", "paused", "cancelled", "attainment_pct", "p50_seconds",
            "p90_seconds", "p95_seconds", "max_seconds", "breach_seconds")
COUNTS = frozenset({"tickets", "met", "breached", "running", "paused", "cancelled", "breach_seconds"})
ClockKey = tuple[str, str, str, str, int]


def _difference(current: dict[str, Any] | None, proposed: dict[str, Any] | None) -> dict[str, Any]:
    """Proposed − current for each compared number; a side without the group counts 0 clocks (and has no
    attainment or percentile, so those differences are None)."""
    def value(row: dict[str, Any] | None, name: str) -> Any:
        if row is None:
            return 0 if name in COUNTS else None
        return row.get(name)

    out: dict[str, Any] = {}
    for name in COMPARED:
        a, b = value(current, name), value(proposed, name)
        out[name] = None if a is None or b is None else round(b - a, 2)
    return out


class _Clock(NamedTuple):
    status: str
    severity: str
    policy: str
    elapsed: float
    due: datetime | None


@dataclass(frozen=True, slots=True)
class _Side:
    """What the comparison needs of one config's walk (small enough to come back from another process)."""

    rows: dict[tuple[Any, ...], dict[str, Any]]           # the SLA rows by their grouping
    clocks: dict[ClockKey, _Clock]
    actions: dict[str, int]
    fired: dict[str, int]
    credits: list[dict[str, Any]]


def _labels(keys: Sequence[str], period: str | None) -> list[str]:
    return (["period"] if period else []) + list(keys)


def _side(config: Config, ordered: Sequence[Event], now: datetime, window: Window, keys: Sequence[str],
          period: str | None, zone: ZoneInfo) -> _Side:
    data = collect(config, ordered, now, walk=False)  # clocks, tickets and actions: no findings needed
    labels = _labels(keys, period)
    found = aggregate(config, [c for c in data.clocks if c.started_at in window], keys, period, zone)
    return _Side(
        rows={tuple(r.get(k) for k in labels): {k: v for k, v in r.items() if k not in labels} for r in found},
        clocks={(c.source, c.account, c.ticket_id, c.metric, c.cycle): _Clock(c.status, c.severity, c.policy,
                                                                               c.elapsed_seconds, c.due_at)
                for c in data.clocks if c.started_at in window},
        actions=dict(data.actions), fired=dict(Counter(e.escalation for e in data.escalations if e.at in window)),
        credits=_credits(config, data, window, zone))


def _joined(current: Config, left: _Side, right: _Side, keys: Sequence[str], period: str | None
            ) -> list[dict[str, Any]]:
    labels = _labels(keys, period)
    out = []
    for key in dict.fromkeys([*left.rows, *right.rows]):
        now_row, new_row = left.rows.get(key), right.rows.get(key)
        out.append({**dict(zip(labels, key, strict=True)), "current": now_row, "proposed": new_row,
                    "difference": _difference(now_row, new_row)})
    out.sort(key=row_sort_key(current, keys))
    return out


def _kind(a: _Clock | None, b: _Clock | None) -> str:
    if a is None:
        return "only_proposed"
    if b is None:
        return "only_current"
    if (a.status, b.status) == ("met", "breached"):
        return "met_to_breached"
    if (a.status, b.status) == ("breached", "met"):
        return "breached_to_met"
    if a.severity != b.severity:
        return "reclassified"
    return "status"


def _changed(left: _Side, right: _Side) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in dict.fromkeys([*left.clocks, *right.clocks]):
        x, y = left.clocks.get(key), right.clocks.get(key)
        if x is not None and y is not None and (x.status, x.severity) == (y.status, y.severity):
            continue
        source, account, ticket_id, metric, cycle = key
        either = x if x is not None else y
        assert either is not None
        out.append({
            "ticket": {"source": source, "account": account, "id": ticket_id}, "metric": metric, "cycle": cycle,
            "current": None if x is None else x.status, "proposed": None if y is None else y.status,
            "kind": _kind(x, y),
            "severity": {"current": None if x is None else x.severity, "proposed": None if y is None else y.severity},
            "policy": {"current": None if x is None else x.policy, "proposed": None if y is None else y.policy},
            "elapsed_seconds": round(either.elapsed),
            "due_at": {"current": None if x is None else format_instant(x.due),
                       "proposed": None if y is None else format_instant(y.due)},
        })
    order = {m: i for i, m in enumerate(METRIC_ORDER)}
    out.sort(key=lambda c: (c["ticket"]["source"], c["ticket"]["account"], c["ticket"]["id"],
                            order.get(c["metric"], 99), c["metric"], c["cycle"]))
    return out


def _side_by_side(current: dict[str, int], proposed: dict[str, int]) -> dict[str, Any]:
    names = sorted(set(current) | set(proposed))
    return {"current": {n: current.get(n, 0) for n in names}, "proposed": {n: proposed.get(n, 0) for n in names},
            "difference": {n: proposed.get(n, 0) - current.get(n, 0) for n in names}}


def _credits(config: Config, data: Dataset, window: Window, zone: ZoneInfo) -> list[dict[str, Any]]:
    report = credits_report(config, data, window=window, tz=zone)
    return [{k: r.get(k) for k in ("contract", "period", "counted", "met", "breached", "attainment_pct",
                                   "credit_pct", "credit_amount", "currency")} for r in report["rows"]]


# the arguments of the proposed side's walk, for a forked process to read (fork copies them; nothing is pickled)
_FORKED: tuple[Any, ...] | None = None
PARALLEL_FROM = 20_000  # events: below this, a second process costs more than it saves


def _forked_side() -> _Side:
    assert _FORKED is not None
    return _side(*_FORKED)


def simulate(current: Config, proposed: Config, events: Iterable[Event], *, now: datetime | None = None,
             window: Window = EVERYTHING, by: Sequence[str] | None = None, period: str | None = None,
             tz: ZoneInfo | None = None, parallel: bool = False) -> dict[str, Any]:
    """Return the comparison of one history under two configs, at the same `now` (default: the last event).

    With `parallel` (the command line, single-threaded), a long history's proposed side is walked in a forked
    process while this one walks the current side: the two are independent, and a machine has two cores."""
    global _FORKED
    ordered = order_events(events)  # once, for both
    if now is None:
        if not ordered:
            raise ValueError("no events and no `now`: nothing to compare")
        now = ordered[-1].occurred_at
    keys = normalize_by(by)
    zone = tz or ZoneInfo(current.reports.timezone)
    args = (ordered, now, window, keys, period, zone)
    if parallel and len(ordered) >= PARALLEL_FROM and "fork" in multiprocessing.get_all_start_methods():
        _FORKED = (proposed, *args)
        try:
            with multiprocessing.get_context("fork").Pool(1) as pool:
                pending = pool.apply_async(_forked_side)
                left = _side(current, *args)
                right = pending.get()
        finally:
            _FORKED = None
    else:
        left, right = _side(current, *args), _side(proposed, *args)
    changed = _changed(left, right)
    return {
        "report": "simulate", "now": format_instant(now), **window.as_dict(), "timezone": zone.key,
        "by": list(keys), "period": period,
        "rows": _joined(current, left, right, keys, period),
        "changed": changed,
        "changed_counts": dict(Counter(c["kind"] for c in changed)),
        "actions": _side_by_side(left.actions, right.actions),
        "escalations": _side_by_side(left.fired, right.fired),
        "credits": {"current": left.credits, "proposed": right.credits},
    }
