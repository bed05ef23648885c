"""SLA attainment over 1,000,000 generated clock rows, on SQLite and PostgreSQL.

    python benchmarks/bench_reports.py [--rows 1000000] [--postgres URL] [--seed 11]

Fills the store's `clocks` table with realistic rows (four metrics, four severities, two policies, eight
groups, forty organizations, a year of start times, ~8 % breached, a few hundred clocks still running past
their due instant), then times, in one run on the same rows:

- `report`: `connector.reports.store_sla` as the CLI and the web run it, and its stages alone: `counts`
  (by status, distinct tickets, lateness: one SQL GROUP BY) and the percentiles computed both ways,
  `stream` (decided values streamed in group order, interpolated in Python: what SQLite uses) and `sql`
  (PostgreSQL's `percentile_cont`: what PostgreSQL uses; SQLite has none, so window functions there: row
  numbers, then the two closest ranks), so the choice per database is measured, not assumed;
- `fetch-all` (peer): fetch every row and aggregate in Python with the offline report's code
  (`connector.reports.sla.aggregate`), the way the report would work without SQL aggregation;

each for the default grouping (metric × severity × policy) and for `--by metric,org --period month`.
Target (issue 7): at most 10 s per report on 1,000,000 rows. The PostgreSQL run uses a fresh schema of
`--postgres` (default: CONNECTOR_TEST_POSTGRES_URL) and is skipped without one.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Integer, case, cast, func, select  # noqa: E402

from connector.config import load_config  # noqa: E402
from connector.reports.dataset import ClockRow  # noqa: E402
from connector.reports.sla import aggregate  # noqa: E402
from connector.reports.stats import EVERYTHING  # noqa: E402
from connector.reports.store_sla import (  # noqa: E402
    attainment_query,
    counts,
    sql_percentiles,
    store_sla_report,
    stream_values,
)
from connector.store import Store  # noqa: E402
from connector.store.schema import clocks  # noqa: E402
from tests.pg import fresh_schema  # noqa: E402

METRICS = {"first_response": (1800, 28800), "next_response": (3600, 86400), "periodic_update": (7200, 28800),
           "resolution": (14400, 432000)}
SEVERITIES = ["P1", "P2", "P3", "P4"]
POLICIES = ["enterprise", "standard"]
GROUPS = ["support", "billing", "tier2", "platform", "security", "onboarding", "emea", "apac"]
ORGS = [f"org-{i:02d}" for i in range(40)]
START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def generate(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    ticket = 0
    while len(rows) < n:
        ticket += 1
        sev = rng.choices(SEVERITIES, weights=[1, 3, 5, 2])[0]
        policy = rng.choice(POLICIES)
        group, org = rng.choice(GROUPS), rng.choice(ORGS)
        created = START + timedelta(seconds=rng.randrange(0, 365 * 86400 - 86400))
        source = rng.choice(["zendesk", "freshdesk", "webhook"])
        for metric, (low, high) in METRICS.items():
            cycles = 1 if metric in ("first_response", "resolution") else rng.randrange(0, 4)
            for cycle in range(1, cycles + 1):
                target = float(rng.choice([low, (low + high) // 2, high]))
                started = created + timedelta(seconds=rng.randrange(0, 7200) * (cycle - 1))
                roll = rng.random()
                due = started + timedelta(seconds=target * rng.uniform(1.0, 3.0))
                if roll < 0.86:
                    status, spent = "met", target * rng.uniform(0.05, 1.0)
                elif roll < 0.94:
                    status, spent = "breached", target * rng.uniform(1.0, 4.0)
                elif roll < 0.97:
                    status, spent = "cancelled", target * rng.uniform(0.0, 0.8)
                elif roll < 0.9995:
                    status, spent = "running", target * rng.uniform(0.0, 0.9)
                    due = NOW + timedelta(hours=rng.randrange(1, 48))
                else:  # still running at its last evaluation, due before now: breached since
                    status, spent = "running", target * 0.9
                    due = NOW - timedelta(hours=rng.randrange(1, 48))
                rows.append({
                    "source": source, "account": "acme", "ticket_id": str(ticket), "metric": metric, "cycle": cycle,
                    "status": status, "severity": sev, "policy": policy, "calendar": "24x7",
                    "target_seconds": target, "started_at": started, "due_at": due,
                    "stopped_at": started + timedelta(seconds=spent) if status in ("met", "breached") else None,
                    "elapsed_seconds": float(int(spent)), "breached": status == "breached",
                    "breached_at": due if status == "breached" else None, "group_name": group, "requester_org": org,
                    "updated_at": NOW - timedelta(days=2),
                })
    return rows[:n]


def fill(store: Store, rows: list[dict]) -> float:
    t0 = time.perf_counter()
    with store.write() as conn:
        for i in range(0, len(rows), 20000):
            conn.execute(clocks.insert(), rows[i:i + 20000])
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE clocks")
            conn.commit()
    return time.perf_counter() - t0


def python_peer(store: Store, config, by: tuple[str, ...], period: str | None) -> int:
    """Fetch every row and aggregate in Python (what the report would do without SQL aggregation)."""
    names = ["source", "account", "ticket_id", "metric", "cycle", "status", "severity", "policy", "calendar",
             "target_seconds", "started_at", "due_at", "stopped_at", "elapsed_seconds", "breached", "breached_at",
             "group_name", "requester_org"]
    with store.read() as conn:
        result = conn.execute(select(*[clocks.c[n] for n in names]))
        rows = [ClockRow(source=r[0], account=r[1], ticket_id=r[2], metric=r[3], cycle=r[4],
                         status="breached" if r[5] == "running" and r[11] is not None and r[11] < NOW else r[5],
                         severity=r[6], policy=r[7], calendar=r[8], target_seconds=r[9], started_at=r[10],
                         due_at=r[11], stopped_at=r[12], elapsed_seconds=r[13], breached=r[14], breached_at=r[15],
                         group=r[16], org=r[17]) for r in result]
    return len(aggregate(config, rows, by, period, ZoneInfo(config.reports.timezone)))


def sqlite_window_percentiles(store: Store, q) -> int:
    """SQLite's all-SQL percentiles: row numbers per group, then the two closest ranks of each percentile."""
    inner = select(*q.dims, clocks.c.elapsed_seconds.label("x")).where(*q.where, q.decided).subquery()
    part = [inner.c[n] for n in q.names]
    ranked = select(*part, inner.c.x,
                    (func.row_number().over(partition_by=part, order_by=inner.c.x) - 1).label("rn"),
                    func.count().over(partition_by=part).label("n")).subquery()
    picks = []
    for p in (50, 90, 95):
        lo = cast(func.floor(p / 100 * (ranked.c.n - 1)), Integer)
        picks += [func.max(case((ranked.c.rn == lo, ranked.c.x))), func.max(case((ranked.c.rn == lo + 1, ranked.c.x)))]
    keys = [ranked.c[n] for n in q.names]
    with store.read() as conn:
        return len(conn.execute(select(*keys, func.max(ranked.c.x), *picks).group_by(*keys)).all())


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def run(label: str, store: Store, rows: list[dict], config) -> None:
    print(f"\n{label}: loading {len(rows):,} clock rows ...", flush=True)
    print(f"  load {fill(store, rows):.1f} s")
    cases = [("metric × severity × policy", ("metric", "severity", "policy"), None),
             ("metric × org × month", ("metric", "org"), "month")]
    uses = "sql" if store.dialect == "postgresql" else "stream"
    print(f"  {'grouping':<28} {'report':>7} {'rows':>5} {'counts':>7} {'stream':>7} {'sql':>7} "
          f"{'fetch-all':>10} {'fetch-all/report':>17}   (seconds; its percentiles: {uses})")
    for name, by, period in cases:
        total, report = timed(store_sla_report, store, config, now=NOW, window=EVERYTHING, by=by, period=period)
        q = attainment_query(store, config, now=NOW, by=by, period=period)
        with store.read() as conn:
            t_counts, _ = timed(counts, conn, q)
            t_stream, _ = timed(stream_values, conn, q)
            if store.dialect == "postgresql":
                t_sql, _ = timed(sql_percentiles, conn, q)
        if store.dialect != "postgresql":
            t_sql, _ = timed(sqlite_window_percentiles, store, q)
        t_all, n = timed(python_peer, store, config, by, period)
        assert n == len(report["rows"]), (n, len(report["rows"]))
        print(f"  {name:<28} {total:>7.2f} {len(report['rows']):>5} {t_counts:>7.2f} {t_stream:>7.2f} "
              f"{t_sql:>7.2f} {t_all:>10.2f} {t_all / total:>16.1f}×", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres", default=os.environ.get("CONNECTOR_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    config = load_config(ROOT / "config" / "example.yaml")
    rows = generate(args.rows, args.seed)
    print(f"{len(rows):,} rows, {len({r['ticket_id'] for r in rows}):,} tickets; target ≤ 10 s per report")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.upgrade()
        run("SQLite", store, rows, config)
        store.dispose()
    if args.postgres:
        with fresh_schema(args.postgres, prefix="bench") as url:
            store = Store(url)
            store.upgrade()
            run("PostgreSQL", store, rows, config)
            store.dispose()
    else:
        print("\nPostgreSQL: skipped (give --postgres URL or set CONNECTOR_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
