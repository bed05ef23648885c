"""Leading KPIs: the numbers that move before an SLA does.

- **backlog**: tickets not solved or closed at `now`, by age (wall time since creation) and severity;
- **trends**: per period (by clock start), first-reply and resolution attainment and business-time p50/p90;
- **reopens**: of the tickets ever solved, the share reopened at least once;
- **paused**: the share of open wall time spent in the policy's `pause_on` statuses, overall and per severity;
- **escalations**: how many escalations fired (once per clock cycle), per escalation and severity;
- **groups**: tickets per agent group: created in the window, open now, P1 among them.

The backlog is every open ticket at `now`, whatever the window; otherwise tickets count in the window by
creation, clocks by start and escalations by the instant they fired.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.events import format_instant
from connector.reports.dataset import Dataset
from connector.reports.sla import aggregate
from connector.reports.stats import EVERYTHING, Window, share_pct, whole

AGE_BUCKETS = (("<1d", 86400), ("1-3d", 3 * 86400), ("3-7d", 7 * 86400), ("7-30d", 30 * 86400), (">30d", None))


def _age_bucket(seconds: float) -> str:
    for name, limit in AGE_BUCKETS:
        if limit is None or seconds < limit:
            return name
    return AGE_BUCKETS[-1][0]  # pragma: no cover - the last bucket has no limit


def kpi_report(config: Config, dataset: Dataset, *, window: Window = EVERYTHING, period: str = "week",
               tz: ZoneInfo | None = None) -> dict[str, Any]:
    """Return the leading KPIs of a replayed history at `dataset.now`."""
    zone = tz or ZoneInfo(config.reports.timezone)
    now = dataset.now
    severities = list(config.severities)
    top = severities[0] if severities else None
    created = [t for t in dataset.tickets if t.created_at in window]

    backlog: dict[str, Counter[str]] = {s: Counter() for s in severities}
    for t in dataset.tickets:
        if not t.done:
            backlog.setdefault(t.classified, Counter())[_age_bucket((now - t.created_at).total_seconds())] += 1
    backlog_rows = [{"severity": sev, **{name: counts.get(name, 0) for name, _ in AGE_BUCKETS},
                     "total": sum(counts.values())} for sev, counts in backlog.items()]

    trend_clocks = [c for c in dataset.clocks if c.started_at in window
                    and c.metric in ("first_response", "resolution")]
    trends = [{k: row[k] for k in ("period", "metric", "tickets", "met", "breached", "attainment_pct",
                                   "p50_seconds", "p90_seconds")}
              for row in aggregate(config, trend_clocks, ("metric",), period, zone)]

    solved = [t for t in created if t.solves]
    reopened = [t for t in solved if t.reopens]

    paused_total = sum(t.paused_seconds for t in created)
    open_total = sum(t.open_seconds for t in created)
    paused_rows = []
    for sev in severities:
        mine = [t for t in created if t.classified == sev]
        p, o = sum(t.paused_seconds for t in mine), sum(t.open_seconds for t in mine)
        paused_rows.append({"severity": sev, "tickets": len(mine), "paused_seconds": whole(p), "open_seconds": whole(o),
                            "paused_pct": share_pct(p, o)})

    fired = [e for e in dataset.escalations if e.at in window]
    by_escalation = Counter((e.escalation, e.severity) for e in fired)
    order = {e.name: i for i, e in enumerate(config.escalations)}
    sev_rank = {s: i for i, s in enumerate(severities)}
    escalation_rows = [{"escalation": name, "severity": sev, "count": n}
                       for (name, sev), n in sorted(by_escalation.items(),
                                                    key=lambda kv: (order.get(kv[0][0], 99),
                                                                    sev_rank.get(kv[0][1], 99)))]

    groups: dict[str | None, dict[str, int]] = {}
    for t in created:
        g = groups.setdefault(t.group, {"created": 0, "open": 0, "top_severity": 0})
        g["created"] += 1
        g["open"] += 0 if t.done else 1
        g["top_severity"] += 1 if t.classified == top else 0
    group_rows = [{"group": name, **counts} for name, counts in
                  sorted(groups.items(), key=lambda kv: (-kv[1]["created"], kv[0] is None, kv[0] or ""))]

    return {
        "report": "kpis", "now": format_instant(now), **window.as_dict(), "timezone": zone.key, "period": period,
        "top_severity": top,
        "backlog": {"buckets": [name for name, _ in AGE_BUCKETS], "rows": backlog_rows,
                    "total": sum(r["total"] for r in backlog_rows)},
        "trends": trends,
        "reopens": {"solved": len(solved), "reopened": len(reopened),
                    "reopen_rate_pct": share_pct(len(reopened), len(solved))},
        "paused": {"paused_seconds": whole(paused_total), "open_seconds": whole(open_total),
                   "paused_pct": share_pct(paused_total, open_total), "rows": paused_rows},
        "escalations": {"total": len(fired), "rows": escalation_rows},
        "groups": group_rows,
    }
