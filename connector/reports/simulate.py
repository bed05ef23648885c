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

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.events import Event, format_instant, order_events
from connector.reports.credits import credits_report
from connector.reports.dataset import ClockRow, Dataset, collect
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


def _joined(current: Config, proposed: Config, a: Dataset, b: Dataset, keys: Sequence[str], period: str | None,
            zone: ZoneInfo, window: Window) -> list[dict[str, Any]]:
    labels = (["period"] if period else []) + list(keys)

    def rows(config: Config, data: Dataset) -> dict[tuple[Any, ...], dict[str, Any]]:
        found = aggregate(config, [c for c in data.clocks if c.started_at in window], keys, period, zone)
        return {tuple(r.get(k) for k in labels): {k: v for k, v in r.items() if k not in labels} for r in found}

    left, right = rows(current, a), rows(proposed, b)
    out = []
    for key in dict.fromkeys([*left, *right]):
        now_row, new_row = left.get(key), right.get(key)
        out.append({**dict(zip(labels, key, strict=True)), "current": now_row, "proposed": new_row,
                    "difference": _difference(now_row, new_row)})
    out.sort(key=row_sort_key(current, keys))
    return out


def _kind(a: ClockRow | None, b: ClockRow | None) -> str:
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


def _changed(a: Dataset, b: Dataset, window: Window) -> list[dict[str, Any]]:
    def index(data: Dataset) -> dict[ClockKey, ClockRow]:
        return {(c.source, c.account, c.ticket_id, c.metric, c.cycle): c for c in data.clocks
                if c.started_at in window}

    left, right = index(a), index(b)
    out: list[dict[str, Any]] = []
    for key in dict.fromkeys([*left, *right]):
        x, y = left.get(key), right.get(key)
        if x is not None and y is not None and (x.status, x.severity) == (y.status, y.severity):
            continue
        source, account, ticket_id, metric, cycle = key
        out.append({
            "ticket": {"source": source, "account": account, "id": ticket_id}, "metric": metric, "cycle": cycle,
            "current": None if x is None else x.status, "proposed": None if y is None else y.status,
            "kind": _kind(x, y),
            "severity": {"current": None if x is None else x.severity, "proposed": None if y is None else y.severity},
            "policy": {"current": None if x is None else x.policy, "proposed": None if y is None else y.policy},
            "elapsed_seconds": round((x or y).elapsed_seconds),  # type: ignore[union-attr]
            "due_at": {"current": None if x is None else format_instant(x.due_at),
                       "proposed": None if y is None else format_instant(y.due_at)},
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


def simulate(current: Config, proposed: Config, events: Iterable[Event], *, now: datetime | None = None,
             window: Window = EVERYTHING, by: Sequence[str] | None = None, period: str | None = None,
             tz: ZoneInfo | None = None) -> dict[str, Any]:
    """Return the comparison of one history under two configs, at the same `now` (default: the last event)."""
    ordered = order_events(events)  # once, for both
    if now is None:
        if not ordered:
            raise ValueError("no events and no `now`: nothing to compare")
        now = ordered[-1].occurred_at
    keys = normalize_by(by)
    zone = tz or ZoneInfo(current.reports.timezone)
    a, b = collect(current, ordered, now), collect(proposed, ordered, now)
    changed = _changed(a, b, window)
    fired_a = Counter(e.escalation for e in a.escalations if e.at in window)
    fired_b = Counter(e.escalation for e in b.escalations if e.at in window)
    return {
        "report": "simulate", "now": format_instant(now), **window.as_dict(), "timezone": zone.key,
        "by": list(keys), "period": period,
        "rows": _joined(current, proposed, a, b, keys, period, zone, window),
        "changed": changed,
        "changed_counts": dict(Counter(c["kind"] for c in changed)),
        "actions": _side_by_side(dict(a.actions), dict(b.actions)),
        "escalations": _side_by_side(dict(fired_a), dict(fired_b)),
        "credits": {"current": _credits(current, a, window, zone), "proposed": _credits(proposed, b, window, zone)},
    }
