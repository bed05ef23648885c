"""Benchmark business-time arithmetic against peer libraries on the same inputs.

    python benchmarks/bench_calendar.py [--n N] [--seed S] [--budget SECONDS] [--inputs utc|local|both]

One schedule, built in every library: America/New_York, Monday to Friday 09:00-17:00,
US federal holidays (observed). For each span (1 hour, 1 day, 90 days, 2 years) the
same N random start instants (2025-2026, whole seconds) are used by every library:

- ``between(a, a + span)``;
- ``add(a, amount)`` where ``amount`` is the business time a typical stretch of that
  length holds: 1 h -> 1 h, 1 day -> 8 h, 90 days -> 64 x 8 h, 2 years -> 500 x 8 h.

Peers: workclock (Rust core behind a Python API); businesstimedelta twice, as its README
sets it up (a ``holidays`` object) and with a frozenset of the same dates (~30% faster);
pandas' CustomBusinessHour if pandas is importable (add only). Each library is called
the way its users would call it, with its own argument types prepared outside the timed
loop (timedeltas for workclock, pytz-localized datetimes and BusinessTimeDelta objects
for businesstimedelta). The fast libraries run the N inputs three times and keep the best
pass; slow ones stop after ``--budget`` seconds per cell, and the table shows how many
operations were timed. Results are compared with ours on every timed input; conventions
differ between libraries (for instance pandas' CustomBusinessHour returns the next
opening where we return a closing time), so disagreements are counted, not fatal.

``--inputs utc`` passes UTC datetimes (what the connector's domain types hold),
``local`` passes the same instants as America/New_York ZoneInfo datetimes.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.rules.calendar import BusinessCalendar  # noqa: E402

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
HOUR = 3600
SPANS: list[tuple[str, timedelta, int]] = [
    ("1 hour", timedelta(hours=1), 1 * HOUR),
    ("1 day", timedelta(days=1), 8 * HOUR),
    ("90 days", timedelta(days=90), 64 * 8 * HOUR),
    ("2 years", timedelta(days=730), 500 * 8 * HOUR),
]
HOLIDAY_YEARS = range(2020, 2036)


@dataclass
class Peer:
    """One library: how to prepare its arguments, run an op, and read its result."""

    name: str
    between: Callable[[Any, Any], Any]
    add: Callable[[Any, Any], Any]
    prepare_instant: Callable[[datetime], Any]
    prepare_amount: Callable[[int], Any]
    seconds_of: Callable[[Any], float]  # between's result -> seconds
    instant_of: Callable[[Any], datetime]  # add's result -> aware datetime
    fast: bool = True
    notes: list[str] = field(default_factory=list)


def build_ours() -> Peer:
    calendar = BusinessCalendar.from_config(
        {"timezone": ZONE, "hours": {"mon-fri": ["09:00-17:00"]}, "holidays": {"country": "US"}},
        name="business",
    )
    return Peer(
        name="ours",
        between=calendar.between,
        add=calendar.add,
        prepare_instant=lambda dt: dt,
        prepare_amount=lambda seconds: seconds,
        seconds_of=float,
        instant_of=lambda dt: dt,
    )


def build_workclock() -> Peer | None:
    try:
        import workclock
    except ImportError:
        return None
    schedule = workclock.Schedule(
        [workclock.WorkDay(clock(9), clock(17)), workclock.Holidays(holidays.US(years=HOLIDAY_YEARS))],
        time_zone=NY,
    )
    return Peer(
        name="workclock",
        between=schedule.between,
        add=schedule.add,
        prepare_instant=lambda dt: dt,
        prepare_amount=lambda seconds: timedelta(seconds=seconds),
        seconds_of=lambda delta: delta.total_seconds(),
        instant_of=lambda dt: dt,
    )


def build_businesstimedelta(frozen: bool) -> Peer | None:
    """businesstimedelta as its README sets it up (a `holidays` object), or with a frozenset.

    Its HolidayRule tests `date in holidays` day by day; a frozenset makes that ~30% faster
    than the `holidays` object the README shows, so both are measured.
    """
    try:
        import businesstimedelta
        import pytz
    except ImportError:
        return None
    tz = pytz.timezone(ZONE)
    workday = businesstimedelta.WorkDayRule(
        start_time=clock(9), end_time=clock(17), working_days=[0, 1, 2, 3, 4], tz=tz
    )
    dates = holidays.US(years=HOLIDAY_YEARS)
    holiday_rule = businesstimedelta.HolidayRule(frozenset(dates) if frozen else dates, tz=tz)
    rules = businesstimedelta.Rules([workday, holiday_rule])

    def seconds_of(delta: Any) -> float:
        return float(delta.hours * HOUR + delta.seconds)

    return Peer(
        name="btd-frozenset" if frozen else "btd",
        between=rules.difference,  # unsigned; our inputs always have b >= a
        add=lambda dt, delta: dt + delta,
        # pytz-localized inputs, as its README shows
        prepare_instant=lambda dt: dt.astimezone(tz),
        prepare_amount=lambda seconds: businesstimedelta.BusinessTimeDelta(rules, seconds=seconds),
        seconds_of=seconds_of,
        instant_of=lambda dt: dt,
        fast=False,
    )


def build_pandas() -> Peer | None:
    try:
        import pandas as pd
    except ImportError:
        return None
    hour = pd.offsets.CustomBusinessHour(start="09:00", end="17:00", holidays=list(holidays.US(years=HOLIDAY_YEARS)))

    def add(ts: Any, seconds: int) -> Any:
        # CustomBusinessHour counts whole business hours, on naive local wall times.
        return ts + hour * (seconds // HOUR)

    def between(a: Any, b: Any) -> Any:
        return None  # pandas has no business-time difference for hours

    return Peer(
        name="pandas",
        between=between,
        add=add,
        prepare_instant=lambda dt: pd.Timestamp(dt.astimezone(NY).replace(tzinfo=None)),
        prepare_amount=lambda seconds: seconds,
        seconds_of=lambda value: float("nan"),
        instant_of=lambda ts: ts.to_pydatetime().replace(tzinfo=NY),
        fast=False,
        notes=[f"pandas {pd.__version__} CustomBusinessHour: add only (whole hours), next-opening convention"],
    )


def timed(
    run: Callable[[Any, Any], Any], args: Sequence[tuple[Any, Any]], fast: bool, budget: float
) -> tuple[float, int, list[Any]]:
    """Return (ops per second, ops timed, results of the last pass)."""
    if fast:
        best = float("inf")
        results: list[Any] = []
        for _ in range(3):
            start = time.perf_counter()
            results = [run(x, y) for x, y in args]
            best = min(best, time.perf_counter() - start)
        return len(args) / best, len(args), results
    results = []
    start = time.perf_counter()
    deadline = start + budget
    for x, y in args:
        results.append(run(x, y))
        if time.perf_counter() > deadline:
            break
    return len(results) / (time.perf_counter() - start), len(results), results


def fmt_ratio(ours: float, theirs: float | None) -> str:
    if not theirs:
        return "-"
    ratio = ours / theirs
    return f"{ratio:,.1f}x" if ratio < 100 else f"{ratio:,.0f}x"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="random inputs per span (default 20000)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--budget", type=float, default=1.5, help="seconds per cell for slow peers")
    parser.add_argument("--inputs", choices=["utc", "local", "both"], default="both")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    lo = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    hi = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    starts_utc = [datetime.fromtimestamp(rng.randrange(lo, hi), UTC) for _ in range(args.n)]

    t0 = time.perf_counter()
    ours = build_ours()
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in starts_utc[:50]:  # first use builds the years 2024..2029 lazily
        ours.between(start, start + timedelta(days=730))
    warm = time.perf_counter() - t0
    peers = [ours] + [
        p
        for p in (build_workclock(), build_businesstimedelta(False), build_businesstimedelta(True), build_pandas())
        if p
    ]

    print(f"Python {sys.version.split()[0]}, n={args.n} random starts in 2025-2026, seed {args.seed}")
    print(f"schedule: {ZONE} Mon-Fri 09:00-17:00, US holidays (observed)")
    print(
        f"ours: from_config {built * 1e3:.1f} ms (mostly importing the US holiday module), "
        f"first use of 2024-2029 (lazy years) {warm * 1e3:.1f} ms"
    )
    versions = {"workclock": _version("workclock"), "btd": _version("businesstimedelta")}
    print(
        f"peers: workclock {versions['workclock']}; btd = businesstimedelta {versions['btd']} "
        "with the holidays object its README shows; btd-frozenset = the same with a frozenset of dates"
    )
    for peer in peers:
        for note in peer.notes:
            print("  " + note)
    if not any(p.name == "pandas" for p in peers):
        print("pandas: not importable, CustomBusinessHour skipped")
    print("cells: ops/s (ops timed) and ours/peer; fast libraries: best of 3 passes over all n inputs;")
    print(f"slow ones: as many inputs as fit in {args.budget} s")
    print()

    kinds = ["utc", "local"] if args.inputs == "both" else [args.inputs]
    header = f"{'op':8} {'span':8} {'inputs':6} {'ours':>11}"
    for peer in peers[1:]:
        header += f" | {peer.name:>26}"
    print(header)
    print("-" * len(header))
    agreement: list[str] = []
    for kind in kinds:
        starts = starts_utc if kind == "utc" else [s.astimezone(NY) for s in starts_utc]
        for op in ("between", "add"):
            for label, span, amount in SPANS:
                raw = [(a, a + span) for a in starts] if op == "between" else [(a, amount) for a in starts]
                reference: list[Any] = []
                ours_rate = 0.0
                row = f"{op:8} {label:8} {kind:6}"
                for peer in peers:
                    if peer.name == "pandas" and op == "between":
                        row += f" | {'-':>26}"
                        continue
                    if op == "between":
                        prepared = [(peer.prepare_instant(a), peer.prepare_instant(b)) for a, b in raw]
                    else:
                        prepared = [(peer.prepare_instant(a), peer.prepare_amount(s)) for a, s in raw]
                    run = peer.between if op == "between" else peer.add
                    rate, count, results = timed(run, prepared, peer.fast, args.budget)
                    if peer is ours:
                        ours_rate, reference = rate, results
                        row += f" {rate:>11,.0f}"
                        continue
                    row += f" | {rate:>10,.0f} ({count:>5}) {fmt_ratio(ours_rate, rate):>7}"
                    agreement.append(compare(peer, op, label, kind, raw, reference, results))
                print(row)
    print()
    print("agreement with ours, on every timed input:")
    for line in agreement:
        print("  " + line)
    return 0


def compare(
    peer: Peer, op: str, label: str, kind: str, raw: list[tuple[Any, Any]], ours: list[Any], theirs: list[Any]
) -> str:
    """Return one line: how many of the peer's results differ from ours, with an example."""
    bad = 0
    example = ""
    for i, result in enumerate(theirs):
        if op == "between":
            same = abs(peer.seconds_of(result) - ours[i]) < 1e-6
        else:
            same = peer.instant_of(result) == ours[i]
        if not same:
            bad += 1
            example = example or f"; e.g. {op}({raw[i][0].isoformat()}, {raw[i][1]}): ours {ours[i]}, {result}"
    verdict = f"{bad}/{len(theirs)} differ{example}" if bad else f"all {len(theirs)} agree"
    return f"{peer.name:14} {op:8} {label:8} {kind:6} {verdict}"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
