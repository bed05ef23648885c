"""The live board: every clock running now, what breaches next first (DESIGN §3.4.1 `GET /board.json`).

    {"as_of": "…Z", "rows": [{"source", "account", "ticket_id", "metric", "cycle", "internal", "severity",
                              "group", "assignee", "due_at", "remaining_seconds", …}],
     "counts": {"breached", "within_1h", "within_4h", "within_24h"}, "total", "shown", "filters"}

The worker keeps the store's `board` table: one row per clock running now (the customer's and the internal
agreements'), with its calendar and due instant, replaced each time a ticket is evaluated. A running clock
runs without interruption until the next event re-evaluates its ticket, so at `now` its time remaining is
the business time from `now` to its due instant on its calendar (negative past it: how late it is).

How it stays fast with 100,000 running clocks (benchmarks/bench_board.py): within one calendar, due order
*is* the order of time remaining, so the board reads each calendar's first `limit` rows by the index
`(calendar, due_at)` and merges them by time remaining, exactly; the counts are index range counts up to
the instant each window ends on each calendar (`calendar.add(now, 1h)`). Only the rows shown are measured
in Python.

- `breached`: running past its due instant (due exactly now is not late yet, as a reply then is met);
  `within_1h`/`within_4h`/`within_24h`: not breached, due within that much *business* time on its calendar
  (cumulative: within 4 h includes within 1 h).
- Each row says when its calendar opens next if it is closed at `now` (`calendar_opens_at`), and links to
  the ticket in its help desk (Zendesk, Freshdesk; null for other sources).

Filters (`source`, `group`, `assignee`, `severity`, `metric`) apply to rows and counts alike.

**Forecast** (`forecast`), per group and severity: how many running clocks breach within 1/4/24 business
hours if nothing changes, and how many of the reply clocks due within 24 business hours breach at the
group's recent pace — its replies over the last `days` days per business hour, serving its queue in order
of time remaining (`FORECAST_METHOD` says it in words, and the page shows it). Only the `group` and
`severity` filters narrow the forecast: a team serves its whole queue, whatever the board shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, case, func, select

from connector.config import Config
from connector.events import format_instant
from connector.reports.board_query import DEFAULT_LIMIT, FILTERS, FORECAST_DAYS, WINDOWS
from connector.rules.calendar import BusinessCalendar
from connector.rules.clocks import whole_seconds
from connector.store import Store
from connector.store.schema import board, clocks

_COLUMN = {"source": board.c.source, "group": board.c.group_name, "assignee": board.c.assignee,
           "severity": board.c.severity, "metric": board.c.metric}
_ROW_COLUMNS = (board.c.source, board.c.account, board.c.ticket_id, board.c.agreement, board.c.metric,
                board.c.cycle, board.c.team, board.c.severity, board.c.declared, board.c.policy, board.c.calendar,
                board.c.target_seconds, board.c.started_at, board.c.due_at, board.c.group_name, board.c.assignee)
_OPENING_HORIZON = timedelta(days=40)  # how far ahead a closed calendar's next opening is looked for


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardQuery:
    """What to show: equality filters (None: any) and how many rows at most."""

    filters: Mapping[str, str] = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT

    def where(self) -> Any:
        conditions = [_COLUMN[name] == value for name, value in self.filters.items() if value is not None]
        return and_(*conditions) if conditions else None


def ticket_link(source: str, account: str, ticket_id: str) -> str | None:
    """Return the ticket's page in its help desk (the agent view), or None for a source without a known one."""
    tid = quote(ticket_id, safe="")
    if source == "zendesk":
        return f"https://{quote(account, safe='')}.zendesk.com/agent/tickets/{tid}"
    if source == "freshdesk":
        host = account if "." in account else f"{account}.freshdesk.com"
        return f"https://{quote(host, safe='.')}/a/tickets/{tid}"
    return None


def remaining(cal: BusinessCalendar, now: datetime, due: datetime) -> float:
    """Business seconds from `now` to `due` on the calendar; negative past it (how late a running clock is)."""
    return cal.between(now, due) if due >= now else -cal.between(due, now)


def next_opening(cal: BusinessCalendar, now: datetime) -> datetime | None:
    """Return when a calendar closed at `now` opens next (None when it is open, or not within 40 days)."""
    if cal.always_open or cal.is_open(now):
        return None
    end = now
    for gap in cal.gaps(now, now + _OPENING_HORIZON):
        if gap.start > end:
            break
        end = max(end, gap.end)
    return None if end >= now + _OPENING_HORIZON else end


def board_data(store: Store, config: Config, now: datetime, query: BoardQuery = BoardQuery(), *,
               forecast_days: int | None = None) -> dict[str, Any]:
    """Return the board at `now`: the first `query.limit` running clocks by time remaining, and the counts;
    with `forecast_days`, the forecast too (`forecast`), for the groups and severities the filters allow."""
    where = query.where()
    names = config.calendar_names()
    rows: list[dict[str, Any]] = []
    counts = {"breached": 0, **{name: 0 for name, _ in WINDOWS}}
    total = 0
    with store.read() as conn:
        for name in names:
            cal = config.calendar(name)
            mine = board.c.calendar == name if where is None else and_(board.c.calendar == name, where)
            bounds = [cal.add(now, seconds) for _, seconds in WINDOWS]
            # one statement: the calendar's total, how many ran past their due instant, and how many are due
            # by the end of each window (index range counts)
            counted = conn.execute(select(
                select(func.count()).where(mine).scalar_subquery(),
                select(func.count()).where(mine, board.c.due_at < now).scalar_subquery(),
                *(select(func.count()).where(mine, board.c.due_at <= bound).scalar_subquery() for bound in bounds),
            )).one()
            mine_total, late, due_by = counted[0], counted[1], counted[2:]
            if not mine_total:
                continue
            total += mine_total
            counts["breached"] += late
            for (label, _), n in zip(WINDOWS, due_by, strict=True):
                counts[label] += n - late
            opens = next_opening(cal, now)
            found = conn.execute(select(*_ROW_COLUMNS).where(mine).order_by(board.c.due_at, board.c.source,
                                                                             board.c.account, board.c.ticket_id)
                                 .limit(query.limit)).all()
            rows += (_row(r, cal, now, opens) for r in found)
        unknown = conn.execute(select(func.count()).select_from(board).where(
            board.c.calendar.not_in(names), *(() if where is None else (where,)))).scalar() or 0
    rows.sort(key=lambda r: (r["remaining_seconds"], r["due_at"], r["source"], r["account"], r["ticket_id"],
                             r["metric"], r["cycle"]))
    data = {"as_of": format_instant(now), "rows": rows[:query.limit], "counts": counts, "total": total,
            "shown": min(len(rows), query.limit), "filters": {k: v for k, v in query.filters.items() if v is not None},
            "skipped": {"calendars": unknown} if unknown else {}}
    if forecast_days is not None:
        ahead = forecast(store, config, now, days=forecast_days)
        group, severity = query.filters.get("group"), query.filters.get("severity")
        ahead["rows"] = [r for r in ahead["rows"] if (group is None or r["group"] == group)
                         and (severity is None or r["severity"] == severity)]
        data["forecast"] = ahead
    return data


def _row(r: Any, cal: BusinessCalendar, now: datetime, opens: datetime | None) -> dict[str, Any]:
    (source, account, ticket_id, agreement, metric, cycle, team, severity, declared, policy, calendar, target,
     started_at, due_at, group, assignee) = r
    left = whole_seconds(remaining(cal, now, due_at))
    return {
        "source": source, "account": account, "ticket_id": ticket_id, "metric": metric, "cycle": cycle,
        "internal": bool(agreement), "agreement": agreement or None, "team": team, "severity": severity,
        "declared": declared, "policy": policy, "group": group, "assignee": assignee,
        "calendar": calendar, "calendar_zone": cal.timezone.key, "calendar_opens_at": format_instant(opens),
        "started_at": format_instant(started_at),
        "due_at": format_instant(due_at), "target_seconds": whole_seconds(target), "remaining_seconds": left,
        "breached": due_at < now, "link": ticket_link(source, account, ticket_id),
    }


def parse_filters(args: Mapping[str, str], names: Sequence[str] = FILTERS) -> dict[str, str]:
    """The board's filters from a query string or options: each a non-empty value, blanks ignored."""
    return {name: args[name].strip() for name in names if args.get(name) and args[name].strip()}


def board_counts(store: Store, config: Config, now: datetime) -> dict[tuple[str, str | None], dict[str, int]]:
    """Return, per (severity, group), how many running clocks are breached and due within each window
    (`breached`, `3600`, `14400`, `86400`: business seconds on each clock's calendar): the Prometheus gauges.

    One grouped statement per calendar, each window a conditional count (bounded by the distinct severities
    and groups, not by the clocks)."""
    names = config.calendar_names()
    out: dict[tuple[str, str | None], dict[str, int]] = {}
    with store.read() as conn:
        for name in names:
            cal = config.calendar(name)
            bounds = [cal.add(now, seconds) for _, seconds in WINDOWS]
            found = conn.execute(
                select(board.c.severity, board.c.group_name,
                       func.sum(case((board.c.due_at < now, 1), else_=0)),
                       *(func.sum(case((and_(board.c.due_at >= now, board.c.due_at <= bound), 1), else_=0))
                         for bound in bounds))
                .where(board.c.calendar == name).group_by(board.c.severity, board.c.group_name)).all()
            for severity, group, late, *within in found:
                into = out.setdefault((severity, group), {"breached": 0, **{str(s): 0 for _, s in WINDOWS}})
                into["breached"] += int(late or 0)
                for (_, seconds), n in zip(WINDOWS, within, strict=True):
                    into[str(seconds)] += int(n or 0)
    return out


# --- forecast ------------------------------------------------------------------------------------------

REPLY_METRICS = ("first_response", "next_response")
FORECAST_METHOD = (
    "If nothing changes, a running clock breaches when its due instant passes: the counts per window are the "
    "clocks due within 1, 4 and 24 business hours on their calendars. At the current pace: each group's pace "
    "is the replies it sent (first and next responses met or breached) over the last {days} days, per business "
    "hour of the calendar most of those ran on; its reply clocks due within 24 business hours are answered in "
    "order of time remaining, one every 1/pace business hours, and a clock whose turn comes after its due "
    "instant is counted as breaching. A group with no reply in that time has no pace: all of them breach.")


def forecast(store: Store, config: Config, now: datetime, *, days: int = FORECAST_DAYS,
             counts: Mapping[tuple[str, str | None], Mapping[str, int]] | None = None) -> dict[str, Any]:
    """Return, per group and severity, how many running clocks breach within 1/4/24 business hours if nothing
    changes, and how many of the reply clocks due within 24 business hours breach at the group's recent pace."""
    since = now - timedelta(days=days)
    names = config.calendar_names()
    answered = (clocks.c.metric.in_(REPLY_METRICS), clocks.c.status.in_(("met", "breached")),
                clocks.c.stopped_at > since, clocks.c.stopped_at <= now)
    queue: dict[str | None, list[tuple[float, str]]] = {}
    with store.read() as conn:
        sent = conn.execute(select(clocks.c.group_name, clocks.c.calendar, func.count()).where(*answered)
                            .group_by(clocks.c.group_name, clocks.c.calendar)).all()
        for name in names:
            cal = config.calendar(name)
            waiting = conn.execute(select(board.c.group_name, board.c.severity, board.c.due_at).where(
                board.c.calendar == name, board.c.due_at >= now, board.c.due_at <= cal.add(now, 86400),
                board.c.agreement == "", board.c.metric.in_(REPLY_METRICS))).all()
            for group, severity, at in waiting:
                queue.setdefault(group, []).append((remaining(cal, now, at), severity))
    replies: dict[str | None, int] = {}
    hours_on: dict[str | None, tuple[int, str]] = {}
    for group, calendar, n in sent:
        replies[group] = replies.get(group, 0) + n
        if calendar in names and n > hours_on.get(group, (0, ""))[0]:
            hours_on[group] = (n, calendar)
    pace: dict[str | None, float | None] = {}
    for group, n in replies.items():
        hours = config.calendar(hours_on[group][1]).between(since, now) / 3600 if group in hours_on else 0.0
        pace[group] = n / hours if hours > 0 else None
    at_pace: dict[tuple[str | None, str], list[int]] = {}
    for group, clocks_due in queue.items():
        rate = pace.get(group)
        for turn, (left, severity) in enumerate(sorted(clocks_due), start=1):
            late = rate is None or turn / rate * 3600 > left
            tally = at_pace.setdefault((group, severity), [0, 0])
            tally[0] += 1
            tally[1] += late
    counts = board_counts(store, config, now) if counts is None else counts
    keys = set(counts) | {(severity, group) for group, severity in at_pace}
    rank = {s: i for i, s in enumerate(config.severities)}
    rows = []
    for severity, group in sorted(keys, key=lambda k: (k[1] is None, k[1] or "", rank.get(k[0], 99), k[0])):
        numbers = counts.get((severity, group), {})
        due, breaching = at_pace.get((group, severity), [0, 0])
        rate = pace.get(group)
        rows.append({
            "group": group, "severity": severity, "breached": numbers.get("breached", 0),
            "breach_within_1h": numbers.get("3600", 0), "breach_within_4h": numbers.get("14400", 0),
            "breach_within_24h": numbers.get("86400", 0), "replies_due_24h": due,
            "pace_per_hour": None if rate is None else round(rate, 2), "replies_breaching_at_pace": breaching,
            "summary": _forecast_words(group, severity, due, breaching, rate),
        })
    return {"days": days, "method": FORECAST_METHOD.format(days=days), "rows": rows}


def _forecast_words(group: str | None, severity: str, due: int, breaching: int, rate: float | None) -> str:
    who = group or "(no group)"
    if not due:
        return f"{who}: no {severity} reply due within 24 business hours"
    pace = "with no reply sent lately" if rate is None else \
        f"at the current pace ({rate:.1f} replies per business hour)"
    return f"{who}: {pace}, {breaching} of the {due} {severity} replies due within 24 business hours will breach"
