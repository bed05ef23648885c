"""SLA attainment from the store's `clocks` table (SQLite and PostgreSQL alike).

The worker keeps one row per clock (metric × cycle) as last evaluated, and the scheduler re-evaluates
every running clock just after its due instant. Between the due instant and that sweep a clock is *stale*:
still `running` in the table though breached at `now`. The report counts it as breached and measures its
business time up to `now` (target + business time since the due instant: it ran without interruption since
its last evaluation, or an event would have re-evaluated it) on its calendar in Python.

What runs where, as measured on 1,000,000 rows (benchmarks/bench_reports.py):

- counts by status, distinct tickets and the sum of lateness: one GROUP BY in SQL;
- percentiles on PostgreSQL: `percentile_cont` over the decided clocks (one sort per report), the few
  stale clocks joined to its input as a VALUES list;
- percentiles on SQLite, which has no `percentile_cont`: the decided clocks' business seconds streamed in
  group order and interpolated in Python (`stats.percentile`, the same definition). The default grouping
  comes sorted from the covering index `ix_clocks_report` (migration 0002) without any sort; this stream is
  about twice as fast as ranking with window functions, and the stale clocks join their group exactly
  (`bisect.insort`);
- the breach list: the worst `breach_limit` by lateness, sorted in SQL.

A store filled by an older version may hold clock rows no report can place: a start or due instant outside
the accepted range (1970-2100: year 0001, 9999), an elapsed or target time that is negative, not a number
or longer than that range. A clean store must not pay for looking: the first query that reads the rows
anyway (the period bounds, or else the counts) also takes each column's min and max (`EXTREMES`); only
when one lies outside does every stage filter (`PLACEABLE`, on columns of the covering index, so the index
still serves the report alone) and one more count say how many were left out (`"skipped": {"clocks": n}`).
In the breach list, a stop or breach instant outside the range (not indexed, not checked) is shown as null.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, String, and_, case, column, func, literal, or_, select, type_coerce, union_all, values
from sqlalchemy.dialects import postgresql

from connector.config import Config
from connector.events import EARLIEST_INSTANT, LATEST_INSTANT, format_instant
from connector.reports.dataset import ClockRow
from connector.reports.sla import STATUSES, breach_entry, normalize_by, row_sort_key, summarize
from connector.reports.stats import (
    EVERYTHING,
    MAX_SECONDS,
    PERCENTILES,
    Window,
    period_bounds,
    period_label,
    placeable,
    whole,
)
from connector.store import Store
from connector.store.schema import clocks as T

COLUMNS = {"metric": T.c.metric, "severity": T.c.severity, "policy": T.c.policy, "group": T.c.group_name,
           "source": T.c.source, "org": T.c.requester_org}


# What a clock row needs for the report to place it, on the columns of the covering index only (a start
# after `now`, so after 2100 too, is outside every report already).
PLACEABLE = and_(T.c.started_at >= EARLIEST_INSTANT,
                 T.c.elapsed_seconds >= 0, T.c.elapsed_seconds <= MAX_SECONDS,  # NaN and ±inf fail one of the two
                 T.c.target_seconds >= 0, T.c.target_seconds <= MAX_SECONDS,
                 or_(T.c.due_at.is_(None), and_(T.c.due_at >= EARLIEST_INSTANT, T.c.due_at < LATEST_INSTANT)))
# The same test on a set of rows, from aggregates: every row is placeable if and only if these lie inside.
EXTREMES = (func.min(T.c.started_at).label("x_start"), func.min(T.c.elapsed_seconds).label("x_elapsed_lo"),
            func.max(T.c.elapsed_seconds).label("x_elapsed_hi"), func.min(T.c.target_seconds).label("x_target_lo"),
            func.max(T.c.target_seconds).label("x_target_hi"), func.min(T.c.due_at).label("x_due_lo"),
            func.max(T.c.due_at).label("x_due_hi"))


def _inside(r: Any) -> bool:
    """Whether the rows behind one result of `EXTREMES` are all placeable (no rows: True)."""
    return (placeable(r.x_start) and placeable(r.x_due_lo) and placeable(r.x_due_hi)
            and all(v is None or 0 <= v <= MAX_SECONDS  # NaN compares false
                    for v in (r.x_elapsed_lo, r.x_elapsed_hi, r.x_target_lo, r.x_target_hi)))


def _period_case(store: Store, scope: Sequence[Any], period: str, tz: ZoneInfo) -> tuple[Any, bool]:
    """Return a CASE expression labelling each row's period by its start (bounds computed in Python, any zone),
    and whether every row of `scope` is placeable (if not, the bounds are those of the placeable ones)."""
    with store.read() as conn:
        r = conn.execute(select(func.min(T.c.started_at).label("first"), func.max(T.c.started_at).label("last"),
                                *EXTREMES).where(*scope)).one()
        first, last, clean = r.first, r.last, _inside(r)
        if not clean:
            first, last = conn.execute(select(func.min(T.c.started_at), func.max(T.c.started_at))
                                       .where(*scope, PLACEABLE)).one()
    if first is None:
        return literal(None), clean
    bounds = period_bounds(first, last, period, tz)
    whens = [(T.c.started_at < end, literal(label)) for label, _, end in bounds[:-1]]
    return (case(*whens, else_=literal(bounds[-1][0])) if whens else literal(bounds[-1][0])), clean


def _placed(at: datetime | None) -> datetime | None:
    return at if placeable(at) else None


def _row_of(r: Any) -> ClockRow:
    breached_at = _placed(r.due_at if r.breached_at is None else r.breached_at)
    return ClockRow(source=r.source, account=r.account, ticket_id=r.ticket_id, metric=r.metric, cycle=r.cycle,
                    status="breached", severity=r.severity, policy=r.policy, calendar=r.calendar,
                    target_seconds=r.target_seconds, started_at=r.started_at, due_at=r.due_at,
                    stopped_at=_placed(r.stopped_at), elapsed_seconds=r.elapsed_seconds, breached=True,
                    breached_at=breached_at, group=r.group_name, org=r.requester_org)


def _stale(store: Store, config: Config, q: AttainmentQuery) -> list[tuple[tuple[Any, ...], ClockRow]]:
    """Return the stale running clocks, measured up to `now`, each with its group key."""
    with store.read() as conn:
        rows = conn.execute(select(T).where(*q.where, q.stale)).all()
    out = []
    for r in rows:
        clock = _row_of(r)
        try:
            cal = config.calendar(clock.calendar)
        except KeyError:  # a calendar no longer in the config: keep the business time last measured
            cal = None
        if cal is not None and clock.due_at is not None:
            clock = replace(clock, elapsed_seconds=clock.target_seconds + cal.between(clock.due_at, q.now))
        gk = tuple(getattr(r, COLUMNS[k].key) for k in q.keys)
        if q.period is not None:
            gk = (period_label(clock.started_at, q.period, q.zone), *gk)
        out.append((gk, clock))
    return out


@dataclass(frozen=True, slots=True)
class AttainmentQuery:
    """The SQL pieces of one attainment report: its window, grouping and the expressions every stage uses."""

    keys: tuple[str, ...]
    period: str | None
    zone: ZoneInfo
    now: datetime
    where: tuple[Any, ...]      # the window (and, once rows that cannot be placed were found, `PLACEABLE`)
    scope: tuple[Any, ...]      # the window alone
    dims: tuple[Any, ...]
    stale: Any
    late: Any
    checked: bool = False       # whether every row of the window is known to be placeable, or `where` filters

    @property
    def filters(self) -> bool:
        """Whether `where` leaves out rows that cannot be placed."""
        return len(self.where) > len(self.scope)

    def filtered(self) -> AttainmentQuery:
        """The same query leaving out the rows that cannot be placed."""
        return replace(self, where=(*self.scope, PLACEABLE), checked=True)

    @property
    def names(self) -> list[str]:
        return [d.key for d in self.dims]

    @property
    def width(self) -> int:
        return len(self.dims)

    @property
    def decided(self) -> Any:
        return T.c.status.in_(("met", "breached"))


def attainment_query(store: Store, config: Config, *, now: datetime, window: Window = EVERYTHING,
                     by: Sequence[str] | None = None, period: str | None = None,
                     tz: ZoneInfo | None = None) -> AttainmentQuery:
    """Build the pieces of an attainment report over the store's clocks."""
    keys = normalize_by(by)
    zone = tz or ZoneInfo(config.reports.timezone)
    scope: list[Any] = [T.c.started_at <= now]
    if window.start is not None:
        scope.append(T.c.started_at >= window.start)
    if window.end is not None:
        scope.append(T.c.started_at < window.end)
    dims = [COLUMNS[k].label(k) for k in keys]
    clean: bool | None = None   # unknown until a query looks
    if period is not None:
        label, clean = _period_case(store, scope, period, zone)
        dims.insert(0, label.label("period"))
    greatest = func.max if store.dialect == "sqlite" else func.greatest  # SQLite's two-argument max is scalar
    q = AttainmentQuery(
        keys=keys, period=period, zone=zone, now=now, where=tuple(scope), scope=tuple(scope), dims=tuple(dims),
        stale=and_(T.c.status == "running", T.c.due_at.is_not(None), T.c.due_at < now),
        late=case((T.c.status == "breached", greatest(T.c.elapsed_seconds - T.c.target_seconds, 0)), else_=0),
        checked=bool(clean))
    return q.filtered() if clean is False else q


def counts(conn: Any, q: AttainmentQuery) -> dict[tuple[Any, ...], Any]:
    """Each group's clocks by status (a stale clock counts as breached), distinct tickets and stored lateness.

    Unless `q.checked`, each group's `EXTREMES` too: whether its rows can all be placed (`placeable_groups`).
    """
    status = case((q.stale, literal("breached")), else_=T.c.status)
    ticket = T.c.source + literal("\x1f") + T.c.account + literal("\x1f") + T.c.ticket_id
    query = select(*q.dims, func.count(func.distinct(ticket)).label("tickets"), func.sum(q.late).label("late"),
                   *[func.sum(case((status == s, 1), else_=0)).label(s) for s in STATUSES],
                   *(() if q.checked else EXTREMES)).where(*q.where).group_by(*q.dims)
    return {tuple(r[:q.width]): r for r in conn.execute(query)}


def placeable_groups(q: AttainmentQuery, by_group: dict[tuple[Any, ...], Any]) -> bool:
    """Whether every row behind these counts can be placed (always, for a query that already filters)."""
    return q.checked or all(_inside(r) for r in by_group.values())


def unplaceable(conn: Any, q: AttainmentQuery) -> int:
    """How many clock rows of the window cannot be placed (and are left out of every stage)."""
    return int(conn.execute(select(func.count()).select_from(T).where(*q.scope, ~PLACEABLE)).scalar_one())


def stream_values(conn: Any, q: AttainmentQuery) -> dict[tuple[Any, ...], list[float]]:
    """Each group's decided business seconds, sorted: streamed in group order, one list per group."""
    query = select(*q.dims, T.c.elapsed_seconds).where(*q.where, q.decided).order_by(*q.dims, T.c.elapsed_seconds)
    values: dict[tuple[Any, ...], list[float]] = {}
    last: tuple[Any, ...] | None = None
    current: list[float] = []
    width = q.width
    for r in conn.execution_options(stream_results=True, yield_per=20000).execute(query):
        gk = tuple(r[:width])
        if gk != last:
            current = values.setdefault(gk, [])
            last = gk
        current.append(r[width])
    return values


def sql_percentiles(conn: Any, q: AttainmentQuery,
                    measured: Sequence[tuple[tuple[Any, ...], float]] = ()) -> dict[tuple[Any, ...], Any]:
    """PostgreSQL: each group's percentiles by `percentile_cont` (one sort) and max, stale clocks included."""
    names = q.names
    population: Any = select(*q.dims, T.c.elapsed_seconds.label("x")).where(*q.where, q.decided)
    if measured:
        extra = values(*[column(n, String) for n in names], column("x", Float), name="measured") \
            .data([(*gk, x) for gk, x in measured])
        population = union_all(population, select(*[extra.c[n] for n in names], extra.c.x))
    sub = population.subquery()
    keys = [sub.c[n] for n in names]
    fractions = postgresql.array([literal(p / 100) for p in PERCENTILES])
    pcts = func.percentile_cont(fractions).within_group(sub.c.x).label("pcts")
    query = select(*keys, type_coerce(pcts, postgresql.ARRAY(Float)), func.max(sub.c.x).label("top")) \
        .group_by(*keys)
    width = q.width
    return {tuple(r[:width]): (r[width], r[width + 1]) for r in conn.execute(query)}


def store_sla_report(store: Store, config: Config, *, now: datetime, window: Window = EVERYTHING,
                     by: Sequence[str] | None = None, period: str | None = None, tz: ZoneInfo | None = None,
                     breach_limit: int = 1000) -> dict[str, Any]:
    """Return the SLA attainment report of the clocks in the store, as they stand at `now`."""
    q = attainment_query(store, config, now=now, window=window, by=by, period=period, tz=tz)
    skipped = 0
    with store.read() as conn:
        by_group = counts(conn, q)
        if not placeable_groups(q, by_group):   # a store with rows no report can place: the filtered queries
            q = q.filtered()
            by_group = counts(conn, q)
        if q.filters:
            skipped = unplaceable(conn, q)
    measured = _stale(store, config, q)
    found: dict[tuple[Any, ...], list[float]] = {}
    in_sql: dict[tuple[Any, ...], Any] = {}
    with store.read() as conn:
        if store.dialect == "postgresql":
            in_sql = sql_percentiles(conn, q, [(gk, c.elapsed_seconds) for gk, c in measured])
        else:
            found = stream_values(conn, q)
    extra_late: dict[tuple[Any, ...], float] = {}
    for gk, clock in measured:
        if store.dialect != "postgresql":
            bisect.insort(found.setdefault(gk, []), clock.elapsed_seconds)
        extra_late[gk] = extra_late.get(gk, 0.0) + clock.late_seconds

    rows = []
    for gk, c in by_group.items():
        row: dict[str, Any] = dict(zip(q.names, gk, strict=True))
        by_status = {s: int(getattr(c, s) or 0) for s in STATUSES}
        row.update(summarize(found.get(gk, []), by_status["met"], by_status["breached"], by_status,
                             int(c.tickets), float(c.late or 0) + extra_late.get(gk, 0.0)))
        if gk in in_sql:
            pcts, top = in_sql[gk]
            row.update({f"p{p}_seconds": whole(v) for p, v in zip(PERCENTILES, pcts, strict=True)})
            row["max_seconds"] = whole(top)
        rows.append(row)
    rows.sort(key=row_sort_key(config, q.keys))

    # the breach list: stored breaches by lateness, with the stale ones measured above
    breach_q = select(T).where(*q.where, T.c.status == "breached") \
        .order_by((T.c.elapsed_seconds - T.c.target_seconds).desc(), T.c.started_at, T.c.ticket_id).limit(breach_limit)
    with store.read() as conn:
        listed = [_row_of(r) for r in conn.execute(breach_q)]
    listed.extend(c for _, c in measured)
    listed.sort(key=lambda c: (-c.late_seconds, c.started_at, c.ticket_id))
    total = sum(int(c.breached or 0) for c in by_group.values())
    return {
        "report": "sla", "now": format_instant(now), **window.as_dict(), "timezone": q.zone.key,
        "by": list(q.keys), "period": period, "rows": rows,
        "breaches_total": total, "breaches": [breach_entry(c) for c in listed[:breach_limit]],
        "skipped": {"clocks": skipped} if skipped else {},
    }
