"""The live board over 100,000 running clocks, on SQLite and PostgreSQL.

    python benchmarks/bench_board.py [--clocks 100000] [--postgres URL] [--seed 5] [--repeat 5]

Fills the store's `board` table with running clocks as the worker leaves them (the example config's four
calendars, four metrics and the two internal ones, four severities, eight groups, thirty assignees, due
instants from two days late to two weeks ahead), then times, in one run on the same rows:

- `board`: `connector.reports.board.board_data` with the default 500 rows, and rendered as JSON; the same
  with the forecast, as `GET /board.json` sends it (its pace read from as many stopped clocks of the last 30
  days in the `clocks` table); again with a filter (one group); and the metrics' grouped counts;
- `full scan` (peer): every row fetched, its time remaining measured in Python on its calendar, all sorted,
  the first 500 kept and counted the same way — what the board would cost without the per-calendar index.

Target (issue 17): at most 200 ms for the board's query and render with 100,000 running clocks. The
PostgreSQL run uses a fresh schema of `--postgres` (default: CONNECTOR_TEST_POSTGRES_URL), skipped without.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402

from connector.config import Config, load_config  # noqa: E402
from connector.jsontext import dumps  # noqa: E402
from connector.reports.board import BoardQuery, board_counts, board_data, remaining  # noqa: E402
from connector.reports.board_query import FORECAST_DAYS, WINDOWS  # noqa: E402
from connector.store import Store  # noqa: E402
from connector.store.schema import board, clocks  # noqa: E402
from tests.pg import fresh_schema  # noqa: E402

METRICS = ("first_response", "next_response", "periodic_update", "resolution")
SEVERITIES = ("P1", "P2", "P3", "P4")
GROUPS = ("support", "billing", "tier2", "platform", "security", "onboarding", "emea", "apac")
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def generate(n: int, seed: int, config: Config) -> list[dict]:
    rng = random.Random(seed)
    calendars = [*config.calendars, "24x7"]
    agreements = [(o.name, o.team) for o in config.olas]
    rows = []
    for i in range(n):
        internal = agreements and rng.random() < 0.2
        agreement, team = rng.choice(agreements) if internal else ("", None)
        due = NOW + timedelta(seconds=rng.randint(-2 * 86400, 14 * 86400))
        rows.append({
            "source": rng.choice(("zendesk", "zendesk", "freshdesk", "webhook")), "account": "acme",
            "ticket_id": str(100000 + i // 2), "agreement": agreement,
            "metric": rng.choice(("ownership", "first_touch")) if internal else rng.choice(METRICS),
            "cycle": 1 + i % 2, "team": team, "severity": rng.choice(SEVERITIES), "declared": rng.choice(SEVERITIES),
            "policy": None if internal else "standard", "calendar": rng.choice(calendars),
            "target_seconds": 14400.0, "started_at": due - timedelta(hours=4), "due_at": due,
            "group_name": rng.choice(GROUPS), "assignee": f"agent-{rng.randint(1, 30)}", "updated_at": NOW,
        })
    return rows


def history(n: int, seed: int, config: Config) -> list[dict]:
    """Stopped clocks of the last 30 days (what the forecast's pace reads), a third of them replies."""
    rng = random.Random(seed + 1)
    calendars = [*config.calendars, "24x7"]
    out = []
    for i in range(n):
        stopped = NOW - timedelta(seconds=rng.randint(0, 30 * 86400))
        out.append({
            "source": "zendesk", "account": "acme", "ticket_id": str(i // 3), "metric": METRICS[i % 4],
            "cycle": 1 + i % 3, "status": rng.choice(("met", "met", "met", "breached", "cancelled")),
            "severity": rng.choice(SEVERITIES), "policy": "standard", "calendar": rng.choice(calendars),
            "target_seconds": 14400.0, "started_at": stopped - timedelta(hours=3), "due_at": stopped,
            "stopped_at": stopped, "elapsed_seconds": 10800.0, "breached": False, "breached_at": None,
            "group_name": rng.choice(GROUPS), "requester_org": None, "updated_at": stopped,
        })
    return out


def fill(store: Store, rows: list[dict], stopped: list[dict]) -> None:
    with store.write() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(board.insert(), rows[start:start + 5000])
        for start in range(0, len(stopped), 5000):
            conn.execute(clocks.insert(), stopped[start:start + 5000])
    # as a live store stands after its autovacuum (PostgreSQL) or an ANALYZE (SQLite): statistics gathered,
    # PostgreSQL's visibility map set so that its index-only scans need not visit the table
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE board"))
            conn.execute(text("VACUUM ANALYZE clocks"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()


def full_scan(store: Store, config: Config, now: datetime, limit: int = 500) -> dict:
    """The peer: fetch everything, measure every row in Python, sort, keep the first `limit`."""
    with store.read() as conn:
        found = conn.execute(select(board.c.ticket_id, board.c.metric, board.c.calendar, board.c.due_at)).all()
    measured = []
    counts = {"breached": 0, **{name: 0 for name, _ in WINDOWS}}
    for ticket_id, metric, calendar, due in found:
        left = remaining(config.calendar(calendar), now, due)
        measured.append((left, ticket_id, metric))
        if due < now:
            counts["breached"] += 1
        else:
            for name, seconds in WINDOWS:
                counts[name] += left <= seconds
    measured.sort()
    return {"rows": measured[:limit], "counts": counts}


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(label: str, store: Store, config: Config, repeat: int) -> None:
    data = board_data(store, config, NOW)
    peer = full_scan(store, config, NOW)
    assert data["counts"] == peer["counts"], (data["counts"], peer["counts"])
    # the same first rows by time remaining (ties, e.g. clocks whose calendar is closed, may come in either order)
    assert [r["remaining_seconds"] for r in data["rows"]] == [round(left) for left, _, _ in peer["rows"]]
    t_board = best(lambda: dumps(board_data(store, config, NOW)), repeat)
    t_served = best(lambda: dumps(board_data(store, config, NOW, forecast_days=FORECAST_DAYS)), repeat)
    t_filtered = best(lambda: dumps(board_data(store, config, NOW, BoardQuery(filters={"group": "emea"}))), repeat)
    t_counts = best(lambda: board_counts(store, config, NOW), repeat)
    t_peer = best(lambda: full_scan(store, config, NOW), max(1, repeat // 2))
    print(f"{label}: {data['total']:,} running clocks")
    print(f"  {'board (query + JSON render, 500 rows)':<44} {t_board * 1000:>8.1f} ms  "
          f"{'met' if t_board <= 0.2 else 'NOT met'} (target <= 200 ms)")
    print(f"  {'board.json as served (with the forecast)':<44} {t_served * 1000:>8.1f} ms  "
          f"{'met' if t_served <= 0.2 else 'NOT met'} (target <= 200 ms)")
    print(f"  {'board filtered by one group':<44} {t_filtered * 1000:>8.1f} ms")
    print(f"  {'gauges (grouped counts)':<44} {t_counts * 1000:>8.1f} ms")
    print(f"  {'full scan (peer)':<44} {t_peer * 1000:>8.1f} ms")
    print(f"  board vs full scan: {t_peer / t_board:.1f}x faster (same counts, same first rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clocks", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("CONNECTOR_TEST_POSTGRES_URL"))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--config", default=str(ROOT / "config" / "example.yaml"))
    args = parser.parse_args()
    config = load_config(args.config)
    rows = generate(args.clocks, args.seed, config)
    stopped = history(args.clocks, args.seed, config)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.upgrade()
        fill(store, rows, stopped)
        run("SQLite", store, config, args.repeat)
        store.dispose()
    if args.postgres:
        with fresh_schema(args.postgres, prefix="bench") as url:
            store = Store(url)
            store.upgrade()
            fill(store, rows, stopped)
            run("PostgreSQL", store, config, args.repeat)
            store.dispose()
    else:
        print("PostgreSQL: skipped (no --postgres or CONNECTOR_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main()
