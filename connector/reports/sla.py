"""SLA attainment: per metric, severity and policy (and on request group, source, organization, period).

One row per group of clocks (DESIGN §3.4)::

    {"metric", "severity", "policy", "tickets", "met", "breached", "attainment_pct",
     "p50_seconds", "p90_seconds", "p95_seconds", "max_seconds", "breach_seconds", ...}

- A clock belongs to the window and period in which it **started** (`--from`/`--to`, `--period`).
- `attainment_pct` = met ÷ (met + breached) × 100; running, paused and cancelled clocks are counted beside
  it (`running`, `paused`, `cancelled`) but are neither met nor breached yet. A running clock already past
  its due instant at `now` is breached.
- Percentiles are of the business seconds each met or breached clock ran (for a breached clock still
  running, up to `now`), interpolated between closest ranks (PostgreSQL's `percentile_cont`).
- `breach_seconds` sums how late the breached clocks were: business seconds past their target.
- `breaches` lists the breached clocks, latest first by lateness, up to `breach_limit`.

`sla_report(config, dataset, …)` computes it from a replayed history; `connector.reports.store_sla` computes
the same numbers in SQL from the store's clocks table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.events import format_instant
from connector.reports.dataset import ClockRow, Dataset
from connector.reports.stats import EVERYTHING, PERCENTILES, Window, percentile, period_label, share_pct, whole
from connector.rules.clocks import METRIC_ORDER
from connector.rules.internal import INTERNAL_ORDER

GROUPINGS = ("metric", "severity", "policy", "group", "source", "org")
DEFAULT_BY = ("metric", "severity", "policy")
STATUSES = ("met", "breached", "running", "paused", "cancelled")


def normalize_by(by: Sequence[str] | None) -> tuple[str, ...]:
    """Return the grouping keys in canonical order (metric, severity, policy first); reject unknown ones."""
    chosen = tuple(by) if by else DEFAULT_BY
    unknown = [k for k in chosen if k not in GROUPINGS]
    if unknown:
        raise ValueError(f"unknown grouping {unknown[0]!r}; group by {', '.join(GROUPINGS)}")
    return tuple(k for k in GROUPINGS if k in chosen)


def row_sort_key(config: Config, keys: Sequence[str]) -> Any:
    """Order rows for a reader: periods in time, metrics in SLA order, severities by rank, policies as configured."""
    sev_rank = {s: i for i, s in enumerate(config.severities)}
    pol_rank = {p.name: i for i, p in enumerate(config.policies)}
    ola_rank = {o.name: i for i, o in enumerate(config.olas)}
    metrics = (*METRIC_ORDER, *INTERNAL_ORDER)

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        out: list[Any] = [row.get("period") or ""]
        for k in keys:
            v = row.get(k)
            if k == "metric":
                out.append(metrics.index(v) if v in metrics else 99)
            elif k == "severity":
                out.append(sev_rank.get(v or "", 99))
            elif k == "policy":
                out.append((pol_rank.get(v or "", 99), v or ""))
            elif k == "agreement":
                out.append((ola_rank.get(v or "", 99), v or ""))
            else:
                out.append((v is None, v or ""))
        return tuple(out)

    return key


def summarize(values: list[float], met: int, breached: int, counts: dict[str, int], tickets: int,
              late: float) -> dict[str, Any]:
    """Return the numbers of one row from its counts and the sorted durations of its met/breached clocks."""
    out: dict[str, Any] = {"tickets": tickets, "met": met, "breached": breached,
                           "running": counts.get("running", 0), "paused": counts.get("paused", 0),
                           "cancelled": counts.get("cancelled", 0), "attainment_pct": share_pct(met, met + breached)}
    for p in PERCENTILES:
        out[f"p{p}_seconds"] = whole(percentile(values, p))
    out["max_seconds"] = whole(values[-1]) if values else None
    out["breach_seconds"] = whole(late)
    return out


def breach_entry(c: ClockRow) -> dict[str, Any]:
    return {"ticket": {"source": c.source, "account": c.account, "id": c.ticket_id}, "metric": c.metric,
            "cycle": c.cycle, "severity": c.severity, "policy": c.policy, "group": c.group, "org": c.org,
            "started_at": format_instant(c.started_at), "due_at": format_instant(c.due_at),
            "stopped_at": format_instant(c.stopped_at), "target_seconds": whole(c.target_seconds),
            "elapsed_seconds": whole(c.elapsed_seconds), "late_seconds": whole(c.late_seconds)}


def aggregate(config: Config, clocks: Iterable[ClockRow], keys: Sequence[str], period: str | None,
              tz: ZoneInfo) -> list[dict[str, Any]]:
    """Group clocks by `keys` (and period) and return one summary row per group, in reading order."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in clocks:
        gk = tuple(getattr(c, k) for k in keys)
        if period is not None:
            gk = (period_label(c.started_at, period, tz), *gk)
        g = groups.get(gk)
        if g is None:
            g = groups[gk] = {"values": [], "counts": {}, "tickets": set(), "late": 0.0}
        g["counts"][c.status] = g["counts"].get(c.status, 0) + 1
        g["tickets"].add(c.ticket_key)
        if c.status in ("met", "breached"):
            g["values"].append(c.elapsed_seconds)
            g["late"] += c.late_seconds
    rows = []
    for gk, g in groups.items():
        row: dict[str, Any] = {}
        if period is not None:
            row["period"] = gk[0]
            gk = gk[1:]
        row.update(zip(keys, gk, strict=True))
        values = sorted(g["values"])
        row.update(summarize(values, g["counts"].get("met", 0), g["counts"].get("breached", 0), g["counts"],
                             len(g["tickets"]), g["late"]))
        rows.append(row)
    rows.sort(key=row_sort_key(config, keys))
    return rows


def sla_report(config: Config, dataset: Dataset, *, window: Window = EVERYTHING, by: Sequence[str] | None = None,
               period: str | None = None, tz: ZoneInfo | None = None, breach_limit: int = 1000) -> dict[str, Any]:
    """Return the SLA attainment report of a replayed history."""
    keys = normalize_by(by)
    zone = tz or ZoneInfo(config.reports.timezone)
    clocks = [c for c in dataset.clocks if c.started_at in window]
    breached = sorted((c for c in clocks if c.status == "breached"),
                      key=lambda c: (-c.late_seconds, c.started_at, c.ticket_id))
    return {
        "report": "sla", "now": format_instant(dataset.now), **window.as_dict(), "timezone": zone.key,
        "by": list(keys), "period": period, "rows": aggregate(config, clocks, keys, period, zone),
        "breaches_total": len(breached), "breaches": [breach_entry(c) for c in breached[:breach_limit]],
    }
