"""Service credits: each contract's attainment per period and the credit its sliding scale gives.

A contract (config `contracts`) names the customer organizations it covers and, optionally, the policies,
metrics and severities whose clocks count. Per period (week, month or quarter in `reports.timezone`, by the
clock's start):

- counted clocks are the met and breached ones; running, paused and cancelled clocks are not decided yet;
- a clock of a ticket matching one of the contract's `exclusions` (e.g. tagged `customer_caused`) is
  excluded and listed with the exclusion's name;
- attainment = met ÷ (met + breached) × 100 over the counted clocks; the credit is the largest step of the
  sliding scale whose `below` the attainment falls under (0 % when nothing was measured);
- with a `fee`, the credit amount is fee × credit % (rounded to cents).

Each row says the contract's period (`contract_period`: week, month or quarter) and which part of it the
window covers (`counted_from`, `counted_to`): a window that cuts a period (March of a quarterly contract) makes
the row `partial`, and the report's `notes` say so in words, since such a credit is for part of the period.

Customer-caused waiting is already out of the clocks themselves: `pause_on` statuses stop resolution and
periodic-update time. Exclusions cover what a status cannot say.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector.config import Config, Contract
from connector.events import format_instant
from connector.reports.dataset import ClockRow, Dataset, TicketRow
from connector.reports.stats import EVERYTHING, Window, attainment, num, period_bounds, period_label, whole
from connector.rules.conditions import Facts, compile_condition

ADJECTIVES = {"day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly"}

def _covers(contract: Contract, c: ClockRow) -> bool:
    return (c.org in contract.organizations
            and (contract.policies is None or c.policy in contract.policies)
            and (contract.metrics is None or c.metric in contract.metrics)
            and (contract.severities is None or c.severity in contract.severities))


def _day(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).date().isoformat()


def _partial_note(contract: Contract, label: str, start: datetime, end: datetime, counted: tuple[datetime, datetime],
                  zone: ZoneInfo) -> str:
    """Say in words that the window covers only part of a contract's period."""
    last = timedelta(microseconds=1)
    return (f"{contract.name} is a {ADJECTIVES[contract.period]} contract: {label} runs {_day(start, zone)} to "
            f"{_day(end - last, zone)}, but the window covers only {_day(counted[0], zone)} to "
            f"{_day(counted[1] - last, zone)} of it; clocks started outside the window are not counted, so this "
            f"credit is for part of the {contract.period}.")


def credits_report(config: Config, dataset: Dataset, *, window: Window = EVERYTHING,
                   tz: ZoneInfo | None = None) -> dict[str, Any]:
    """Return, per contract and period, the clocks counted, the attainment and the credit due."""
    zone = tz or ZoneInfo(config.reports.timezone)
    tickets: dict[tuple[str, str, str], TicketRow] = {t.key: t for t in dataset.tickets}
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    for contract in config.contracts:
        exclusions = [(e.name, compile_condition(e.when)) for e in contract.exclusions]
        mine = [c for c in dataset.clocks if c.started_at in window and _covers(contract, c)]
        starts = [c.started_at for c in mine]
        # every period of the window, even an empty one (no credit is due for it, and the row says so)
        first = window.start or (min(starts) if starts else None)
        last = window.end - timedelta(microseconds=1) if window.end is not None else (max(starts) if starts else None)
        periods = [] if first is None or last is None else period_bounds(first, last, contract.period, zone)
        by_period: dict[str, list[ClockRow]] = {label: [] for label, _, _ in periods}
        for c in mine:
            by_period.setdefault(period_label(c.started_at, contract.period, zone), []).append(c)
        for label, start, end in periods:
            met = breached = 0
            excluded: list[dict[str, Any]] = []
            breaches: list[dict[str, Any]] = []
            for c in by_period.get(label, []):
                if c.status not in ("met", "breached"):
                    continue
                ticket = tickets.get(c.ticket_key)
                reason = None
                if ticket is not None:
                    facts = Facts(source=c.source, account=c.account, ticket=ticket.snapshot, severity=c.severity)
                    reason = next((name for name, match in exclusions if match(facts) is not None), None)
                ref = {"ticket": {"source": c.source, "account": c.account, "id": c.ticket_id},
                       "metric": c.metric, "cycle": c.cycle}
                if reason is not None:
                    excluded.append({**ref, "status": c.status, "exclusion": reason})
                elif c.status == "met":
                    met += 1
                else:
                    breached += 1
                    breaches.append({**ref, "due_at": format_instant(c.due_at),
                                     "late_seconds": whole(c.late_seconds)})
            pct = attainment(met, breached)
            credit = contract.credit_for(pct)
            counted = (max(start, window.start or start), min(end, window.end or end))
            partial = counted != (start, end)
            if partial:
                notes.append(_partial_note(contract, label, start, end, counted, zone))
            out.append({
                "contract": contract.name, "organizations": list(contract.organizations), "period": label,
                "contract_period": contract.period,
                "period_start": format_instant(start), "period_end": format_instant(end),
                "counted_from": format_instant(counted[0]), "counted_to": format_instant(counted[1]),
                "partial": partial,
                "counted": met + breached, "met": met, "breached": breached, "excluded": len(excluded),
                "attainment_pct": None if pct is None else round(pct, 2), "credit_pct": num(credit),
                "fee": num(contract.fee), "credit_amount": None if contract.fee is None else
                round(contract.fee * credit / 100, 2), "currency": contract.currency,
                "breaches": breaches, "exclusions": excluded,
            })
    return {"report": "credits", "now": format_instant(dataset.now), **window.as_dict(), "timezone": zone.key,
            "rows": out, "notes": notes}

