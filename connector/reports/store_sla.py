"""SLA attainment from the store's `clocks` table, aggregated in SQL (SQLite and PostgreSQL alike).

The worker keeps one row per clock (metric × cycle) as last evaluated; the scheduler re-evaluates clocks
as they cross thresholds. At report time one thing may have changed without an event: a clock still
*running* whose due instant has passed is breached now. The SQL counts it as breached; its business time
up to `now` (target + business time since the due instant) is computed on its calendar in Python and
joins the durations as a small VALUES list.

Everything else is SQL: counts by status, distinct tickets, the sum of lateness, and the percentiles
through window functions (row numbers within each group, then the two closest ranks of each percentile,
interpolated as `percentile_cont` does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer, String, and_, case, cast, column, func, literal, select, text, union_all

from connector.config import Config
from connector.events import format_instant
from connector.reports.dataset import ClockRow
from connector.reports.sla import STATUSES, breach_entry, normalize_by, row_sort_key, summarize
from connector.reports.stats import EVERYTHING, PERCENTILES, Window, num, period_bounds, period_label
from connector.store import Store
from connector.store.schema import clocks as T

COLUMNS = {"metric": T.c.metric, "severity": T.c.severity, "policy": T.c.policy, "group": T.c.group_name,
           "source": T.c.source, "org": T.c.requester_org}


def _period_case(store: Store, where: Sequence[Any], period: str, tz: ZoneInfo) -> Any:
    """Return a CASE expression labelling each row's period by its start (bounds computed in Python, any zone)."""
    with store.read() as conn:
        first, last = conn.execute(select(func.min(T.c.started_at), func.max(T.c.started_at)).where(*where)).one()
    if first is None:
        return literal(None)
    bounds = period_bounds(first, last, period, tz)
    whens = [(T.c.started_at < end, literal(label)) for label, _, end in bounds[:-1]]
    return case(*whens, else_=literal(bounds[-1][0])) if whens else literal(bounds[-1][0])


def _row_of(r: Any) -> ClockRow:
    return ClockRow(source=r.source, account=r.account, ticket_id=r.ticket_id, metric=r.metric, cycle=r.cycle,
                    status="breached", severity=r.severity, policy=r.policy, calendar=r.calendar,
                    target_seconds=r.target_seconds, started_at=r.started_at, due_at=r.due_at,
                    stopped_at=r.stopped_at, elapsed_seconds=r.elapsed_seconds, breached=True,
                    breached_at=r.due_at if r.breached_at is None else r.breached_at, group=r.group_name,
                    org=r.requester_org)


def _values(names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> Any:
    """Return rows as a subquery with columns `names`, x and late (a VALUES list; SQLite and PostgreSQL alike).

    SQLite takes no column list after a VALUES alias, but both databases name VALUES columns column1, …
    The names are the fixed grouping keys, never user input.
    """
    params: dict[str, Any] = {}
    tuples = []
    for i, row in enumerate(rows):
        marks = []
        for j, value in enumerate(row):
            params[f"m{i}_{j}"] = value
            marks.append(f":m{i}_{j}")
        tuples.append(f"({', '.join(marks)})")
    cols = ", ".join(f'column{j + 1} AS "{n}"' for j, n in enumerate([*names, "x", "late"]))
    stmt = text(f"SELECT {cols} FROM (VALUES {', '.join(tuples)}) AS measured").bindparams(**params)
    return stmt.columns(*[column(n, String) for n in names], column("x", Float), column("late", Float)) \
        .subquery("measured")


def store_sla_report(store: Store, config: Config, *, now: datetime, window: Window = EVERYTHING,
                     by: Sequence[str] | None = None, period: str | None = None, tz: ZoneInfo | None = None,
                     breach_limit: int = 1000) -> dict[str, Any]:
    """Return the SLA attainment report of the clocks in the store, as they stand at `now`."""
    keys = normalize_by(by)
    zone = tz or ZoneInfo(config.reports.timezone)
    where: list[Any] = [T.c.started_at <= now]
    if window.start is not None:
        where.append(T.c.started_at >= window.start)
    if window.end is not None:
        where.append(T.c.started_at < window.end)
    stale = and_(T.c.status == "running", T.c.due_at.is_not(None), T.c.due_at < now)
    status = case((stale, literal("breached")), else_=T.c.status)
    dims = [COLUMNS[k].label(k) for k in keys]
    if period is not None:
        dims.insert(0, _period_case(store, where, period, zone).label("period"))
    names = [d.key for d in dims]
    ticket = T.c.source + literal("\x1f") + T.c.account + literal("\x1f") + T.c.ticket_id

    # 1. the stale running clocks (few: the scheduler re-evaluates most at their due instant), measured
    #    on their calendars up to now
    with store.read() as conn:
        stale_rows = conn.execute(select(T).where(*where, stale)).all()
    measured: list[tuple[tuple[Any, ...], ClockRow]] = []
    for r in stale_rows:
        base = _row_of(r)
        try:
            cal = config.calendar(base.calendar)
        except KeyError:  # a calendar no longer in the config: keep the business time last measured
            cal = None
        if cal is not None and base.due_at is not None:
            base = replace(base, elapsed_seconds=base.target_seconds + cal.between(base.due_at, now))
        gk = tuple(getattr(r, COLUMNS[k].key) for k in keys)
        if period is not None:
            gk = (period_label(base.started_at, period, zone), *gk)
        measured.append((gk, base))

    # 2. counts by status (a stale running clock counts as breached) and distinct tickets
    counts_q = select(*dims, func.count(func.distinct(ticket)).label("tickets"),
                      *[func.sum(case((status == s, 1), else_=0)).label(s) for s in STATUSES]
                      ).where(*where).group_by(*dims)
    # 3. durations: the clocks stored as met or breached, plus the stale ones as measured (a VALUES list),
    #    ranked within their group by window functions; each percentile reads its two closest ranks
    done = T.c.status.in_(("met", "breached"))
    greatest = func.max if store.dialect == "sqlite" else func.greatest  # SQLite's two-argument max is scalar
    late = case((T.c.status == "breached", greatest(T.c.elapsed_seconds - T.c.target_seconds, 0)), else_=0)
    population: Any = select(*dims, T.c.elapsed_seconds.label("x"), late.label("late")).where(*where, done)
    parts = [population]
    for i in range(0, len(measured), 500):  # in chunks: a statement's bound parameters are limited
        extra = _values(names, [(*gk, c.elapsed_seconds, c.late_seconds) for gk, c in measured[i:i + 500]])
        parts.append(select(*[extra.c[n] for n in names], extra.c.x, extra.c.late))
    if len(parts) > 1:
        population = union_all(*parts)
    inner = population.subquery()
    part = [inner.c[n] for n in names]
    ranked = select(*part, inner.c.x, inner.c.late,
                    (func.row_number().over(partition_by=part, order_by=inner.c.x) - 1).label("rn"),
                    func.count().over(partition_by=part).label("n")).subquery()
    rdims = [ranked.c[n] for n in names]
    picks = []
    for p in PERCENTILES:
        lo = cast(func.floor(p / 100 * (ranked.c.n - 1)), Integer)
        picks.append(func.max(case((ranked.c.rn == lo, ranked.c.x))).label(f"lo{p}"))
        picks.append(func.max(case((ranked.c.rn == lo + 1, ranked.c.x))).label(f"hi{p}"))
    dur_q = select(*rdims, func.max(ranked.c.n).label("n"), func.max(ranked.c.x).label("max"),
                   func.sum(ranked.c.late).label("late"), *picks).group_by(*rdims)
    with store.read() as conn:
        counts = {tuple(getattr(r, n) for n in names): r for r in conn.execute(counts_q)}
        durations = {tuple(getattr(r, n) for n in names): r for r in conn.execute(dur_q)}

    rows = []
    for gk, c in counts.items():
        d = durations.get(gk)
        row: dict[str, Any] = dict(zip(names, gk, strict=True))
        by_status = {s: int(getattr(c, s) or 0) for s in STATUSES}
        row.update(summarize([], by_status["met"], by_status["breached"], by_status, int(c.tickets),
                             0.0 if d is None else float(d.late or 0)))
        if d is not None:
            n = int(d.n)
            for p in PERCENTILES:
                pos = p / 100 * (n - 1)
                lo, hi = d._mapping[f"lo{p}"], d._mapping[f"hi{p}"]
                hi = lo if hi is None else hi
                row[f"p{p}_seconds"] = num(lo + (hi - lo) * (pos - math.floor(pos)))
            row["max_seconds"] = num(d.max)
        rows.append(row)
    rows.sort(key=row_sort_key(config, keys))

    # the breach list: stored breaches by lateness, with the stale ones measured above
    breach_q = select(T).where(*where, T.c.status == "breached") \
        .order_by((T.c.elapsed_seconds - T.c.target_seconds).desc(), T.c.started_at, T.c.ticket_id).limit(breach_limit)
    with store.read() as conn:
        listed = [_row_of(r) for r in conn.execute(breach_q)]
    listed.extend(c for _, c in measured)
    listed.sort(key=lambda c: (-c.late_seconds, c.started_at, c.ticket_id))
    total = sum(int(c.breached or 0) for c in counts.values())
    return {
        "report": "sla", "now": format_instant(now), **window.as_dict(), "timezone": zone.key,
        "by": list(keys), "period": period, "rows": rows,
        "breaches_total": total, "breaches": [breach_entry(c) for c in listed[:breach_limit]],
    }

