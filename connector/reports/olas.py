"""Internal agreements and attribution: how the teams behind a promise did, and whose time a breach was.

`olas_report` — attainment of the internal agreements (`olas:`), like the SLA report, per agreement × team ×
metric × severity (and period): counts, attainment %, business-time p50/p90/p95/max and lateness, the
breached cycles, and the handoffs per ticket (how many tickets changed teams n times: the ping-pong).

`attribution_report` — for the customer's **breached** clocks, their elapsed business time and their
lateness (business time past the due instant) split by who held the ticket (each team, the customer while
pending, unassigned: `connector.rules.internal`), per period and overall, with the worst tickets.
"Support met its part; engineering triage took 70 % of the time" is one row.

A clock belongs to the window and period in which it started, as in the SLA report; tickets (handoffs)
to the window in which they were created.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.events import format_instant
from connector.reports.dataset import ClockRow, Dataset, TicketRow
from connector.reports.sla import aggregate, breach_entry
from connector.reports.stats import EVERYTHING, Window, period_label, share_pct, whole
from connector.rules.clocks import whole_parts
from connector.rules.internal import turns

OLA_KEYS = ("agreement", "team", "metric", "severity")
BOUNCED_SHOWN = 100  # the most-bounced tickets listed


def _path(ticket: TicketRow) -> str:
    """Return the teams that held a ticket in turn: `support → engineering → support` (as the handoffs count)."""
    return " → ".join(turns(ticket.holders))


def bounced_entry(ticket: TicketRow) -> dict[str, Any]:
    return {"ticket": {"source": ticket.source, "account": ticket.account, "id": ticket.ticket_id},
            "handoffs": ticket.handoffs, "path": _path(ticket), "group": ticket.group, "severity": ticket.classified,
            "status": ticket.status}


def most_bounced(tickets: Iterable[TicketRow], more_than: int, limit: int = BOUNCED_SHOWN) -> list[dict[str, Any]]:
    """Return the tickets handed between teams more than `more_than` times, the most first."""
    chosen = sorted((t for t in tickets if t.handoffs > more_than),
                    key=lambda t: (-t.handoffs, t.created_at, t.source, t.ticket_id))
    return [bounced_entry(t) for t in chosen[:limit]]


def _cycle_entry(c: ClockRow) -> dict[str, Any]:
    """A breached internal cycle: its agreement and team, the ticket, and how late it was."""
    entry = breach_entry(c)
    for key in ("policy", "org"):  # the policy column holds the agreement; the customer's org is not the team's
        entry.pop(key)
    return {"agreement": c.agreement, "team": c.team, **entry}


def olas_report(config: Config, dataset: Dataset, *, window: Window = EVERYTHING, period: str | None = None,
                tz: ZoneInfo | None = None, breach_limit: int = 1000) -> dict[str, Any]:
    """Return the internal agreements' attainment of a replayed history, with its handoffs."""
    zone = tz or ZoneInfo(config.reports.timezone)
    clocks = [c for c in dataset.internal if c.started_at in window]
    breached = sorted((c for c in clocks if c.status == "breached"),
                      key=lambda c: (-c.late_seconds, c.started_at, c.ticket_id))
    tickets = [t for t in dataset.tickets if t.created_at in window]
    counts = Counter(t.handoffs for t in tickets)
    return {
        "report": "olas", "now": format_instant(dataset.now), **window.as_dict(), "timezone": zone.key,
        "by": list(OLA_KEYS), "period": period,
        "agreements": [{"name": ola.name, "team": ola.team} for ola in config.olas],
        "rows": aggregate(config, clocks, OLA_KEYS, period, zone),
        "breaches_total": len(breached),
        "breaches": [_cycle_entry(c) for c in breached[:breach_limit]],
        "handoffs": {
            "tickets": len(tickets), "handed_off": sum(n for h, n in counts.items() if h > 0),
            "total": sum(h * n for h, n in counts.items()),
            "rows": [{"handoffs": h, "tickets": n, "share_pct": share_pct(n, len(tickets))}
                     for h, n in sorted(counts.items())],
            "most": most_bounced(tickets, 1),
        },
    }


def _split(rows: Iterable[ClockRow], part: str) -> dict[str, float]:
    total: dict[str, float] = {}
    for c in rows:
        for holder, seconds in (getattr(c, part) or {}).items():
            total[holder] = total.get(holder, 0.0) + seconds
    return total


def _holder_rows(clocks: list[ClockRow], label: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per holder of these breached clocks: its lateness and elapsed time, and their shares."""
    late = _split(clocks, "late_by")
    spent = _split(clocks, "held_by")
    late_total = sum(late.values())
    spent_total = sum(spent.values())
    involved = Counter(holder for c in clocks for holder, s in (c.held_by or {}).items() if s > 0)
    holders = sorted(set(late) | set(spent), key=lambda h: (-late.get(h, 0.0), -spent.get(h, 0.0), h))
    return [{**label, "holder": h, "clocks": involved.get(h, 0),
             "late_seconds": whole(late.get(h, 0.0)), "late_share_pct": share_pct(late.get(h, 0.0), late_total),
             "elapsed_seconds": whole(spent.get(h, 0.0)),
             "elapsed_share_pct": share_pct(spent.get(h, 0.0), spent_total)} for h in holders]


def attribution_report(config: Config, dataset: Dataset, *, window: Window = EVERYTHING, period: str = "week",
                       tz: ZoneInfo | None = None, breach_limit: int = 1000) -> dict[str, Any]:
    """Return who held the tickets whose customer clocks breached, by share of lateness and of time."""
    zone = tz or ZoneInfo(config.reports.timezone)
    breached = [c for c in dataset.clocks if c.status == "breached" and c.started_at in window]
    periods: dict[str, list[ClockRow]] = {}
    for c in breached:
        periods.setdefault(period_label(c.started_at, period, zone), []).append(c)
    rows = [row for label in sorted(periods) for row in _holder_rows(periods[label], {"period": label})]
    worst = sorted(breached, key=lambda c: (-c.late_seconds, c.started_at, c.ticket_id))[:breach_limit]
    return {
        "report": "attribution", "now": format_instant(dataset.now), **window.as_dict(), "timezone": zone.key,
        "period": period, "breached_clocks": len(breached),
        "late_seconds": whole(sum(c.late_seconds for c in breached)),
        "totals": _holder_rows(breached, {}),
        "rows": rows,
        "worst": [_worst_entry(c) for c in worst],
    }


def _worst_entry(c: ClockRow) -> dict[str, Any]:
    """A breached customer clock, how late it was and who held the ticket during its time and its lateness."""
    return {"ticket": {"source": c.source, "account": c.account, "id": c.ticket_id}, "metric": c.metric,
            "cycle": c.cycle, "severity": c.severity, "policy": c.policy, "group": c.group,
            "due_at": format_instant(c.due_at), "stopped_at": format_instant(c.stopped_at),
            "elapsed_seconds": whole(c.elapsed_seconds), "late_seconds": whole(c.late_seconds),
            "late_by": _whole_split(c.late_by, c.late_seconds), "held_by": _whole_split(c.held_by, c.elapsed_seconds)}


def _whole_split(parts: Mapping[str, float] | None, total: float) -> dict[str, int]:
    """A split in whole seconds that sum to the whole `total`, the largest part first."""
    split = whole_parts(parts or {}, round(total))
    return dict(sorted(split.items(), key=lambda kv: (-kv[1], kv[0])))
