"""Severity audit: is the severity honest, and does anything look like gaming the clocks?

- **confusion**: declared severity (the help desk's priority through `priority_map`; `(none)` without one)
  against the classified severity the clocks used, over the tickets created in the window, with the share
  where they agree;
- **top share**: the share of tickets classified at the top severity (P1) per period, per requester
  organization, per group and per agent (assignee) — "everything is P1" shows here;
- **rules**: how often each classification rule fired (`priority_map` and `default` included);
- **findings**: severity lowered shortly before a breach, and pauses right after a customer reply (see
  `connector.reports.dataset`), with counts per kind;
- **bounced**: the tickets handed between teams more than `reports.audit.bounced_over` times (default 2),
  the most first, with the path they took (`support → engineering → support → engineering`).

Tickets are counted as they stand at `now`, in the window by creation; findings by the instant they happened.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.events import format_instant
from connector.reports.dataset import Dataset, TicketRow
from connector.reports.olas import most_bounced
from connector.reports.stats import EVERYTHING, Window, period_label, share_pct

NONE = "(none)"
FINDING_KINDS = ("severity_lowered_before_breach", "pause_after_customer_reply")


def _share(tickets: list[TicketRow], top: str | None, name: str, key: Any, *, by_size: bool = True
           ) -> list[dict[str, Any]]:
    """The top-severity share per value of `key`: the largest first (or in key order), None last."""
    groups: dict[Any, list[int]] = {}
    for t in tickets:
        g = groups.setdefault(key(t), [0, 0])
        g[0] += 1
        g[1] += 1 if t.classified == top else 0
    order = sorted(groups.items(), key=lambda kv: ((-kv[1][0],) if by_size else ()) + (kv[0] is None, kv[0] or ""))
    return [{name: k, "tickets": n, "top": p, "share_pct": share_pct(p, n)} for k, (n, p) in order]


def audit_report(config: Config, dataset: Dataset, *, window: Window = EVERYTHING, period: str = "week",
                 tz: ZoneInfo | None = None) -> dict[str, Any]:
    """Return the severity audit of a replayed history."""
    zone = tz or ZoneInfo(config.reports.timezone)
    severities = list(config.severities)
    top = severities[0] if severities else None
    tickets = [t for t in dataset.tickets if t.created_at in window]

    declared_labels = [*severities, NONE]
    matrix = {d: dict.fromkeys(severities, 0) for d in declared_labels}
    for t in tickets:
        row = matrix.get(t.declared or NONE)
        if row is None:  # only for a label not configured: a row built per ticket was tickets × severities
            row = matrix[t.declared or NONE] = dict.fromkeys(severities, 0)
        row[t.classified] = row.get(t.classified, 0) + 1
    with_declared = [t for t in tickets if t.declared is not None]
    agree = sum(1 for t in with_declared if t.declared == t.classified)
    rank = {s: i for i, s in enumerate(severities)}
    last = len(severities)  # after every configured severity, however many there are
    upgraded = sum(1 for t in with_declared if rank.get(t.classified, last) < rank.get(t.declared or "", last))
    confusion = {
        "declared": declared_labels, "classified": severities,
        "rows": [{"declared": d, **matrix[d], "total": sum(matrix[d].values())} for d in declared_labels],
        "tickets": len(tickets), "with_declared": len(with_declared), "agree": agree,
        "agreement_pct": share_pct(agree, len(with_declared)),
        "raised": upgraded, "lowered": len(with_declared) - agree - upgraded,
    }

    by_period = _share(tickets, top, "period", lambda t: period_label(t.created_at, period, zone), by_size=False)
    by_org = _share(tickets, top, "org", lambda t: t.org)
    by_group = _share(tickets, top, "group", lambda t: t.group)
    by_agent = _share(tickets, top, "agent", lambda t: t.assignee)
    total_top = sum(1 for t in tickets if t.classified == top)

    rule_order = {r.name: i for i, r in enumerate(config.classification.rules)}
    after_rules = len(rule_order)  # priority_map and default come after the rules
    fired = Counter((t.rule, t.classified) for t in tickets)
    rules = [{"rule": rule, "severity": sev, "tickets": n}
             for (rule, sev), n in sorted(fired.items(), key=lambda kv: (rule_order.get(kv[0][0], after_rules),
                                                                          kv[0][0], rank.get(kv[0][1], last)))]

    findings = [f for f in dataset.findings if f.at in window]
    over = config.reports.audit.bounced_over
    return {
        "report": "audit", "now": format_instant(dataset.now), **window.as_dict(), "timezone": zone.key,
        "period": period, "top_severity": top,
        "confusion": confusion,
        "top_share": {
            "tickets": len(tickets), "top": total_top,
            "share_pct": share_pct(total_top, len(tickets)),
            "by_period": by_period, "by_org": by_org, "by_group": by_group, "by_agent": by_agent,
        },
        "rules": rules,
        "findings": {"counts": {k: sum(1 for f in findings if f.kind == k) for k in FINDING_KINDS},
                     "items": [f.as_dict() for f in findings]},
        # tickets handed between teams more than `reports.audit.bounced_over` times (the handoffs view)
        "bounced": {"over": over, "tickets": sum(1 for t in tickets if t.handoffs > over),
                    "items": most_bounced(tickets, over)},
    }
