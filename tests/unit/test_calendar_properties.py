"""Properties of business time, checked against a slow, obviously correct reference.

The reference below shares no code with ``connector.rules.calendar``: day by day it
joins that day's windows as wall-clock times, converts their edges with ``zoneinfo``
(fold=0), drops empty windows, joins overlapping instants across days, removes each
holiday's local day, and then sums or walks the resulting intervals linearly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connector.rules.calendar import BusinessCalendar

UTC = UTC
DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "UTC",
    "America/Santiago",
    "Australia/Lord_Howe",
]
# Instants are drawn from 2023-2026, which holds DST switches in every zone above.
T_MIN = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
T_MAX = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- reference


class Reference:
    """Business time the slow way, from a per-weekday list of (start, end) wall seconds."""

    def __init__(self, zone: str, week: list[list[tuple[int, int]]], holidays: set[date]) -> None:
        self.zone = ZoneInfo(zone)
        self.week = week  # end may exceed 86400: an overnight window ends the next day
        self.holidays = holidays

    def wall(self, day: date, seconds: int) -> float:
        """Epoch seconds of `seconds` after local midnight of `day`, as a wall time, fold=0."""
        naive = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)
        return naive.replace(tzinfo=self.zone, fold=0).timestamp()

    @staticmethod
    def wall_union(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """One day's windows joined as wall-clock times, before any conversion.

        Convention: ``00:00-01:15`` plus ``00:00-02:00`` is ``00:00-02:00`` even on a night
        where 01:15 does not exist (fold=0 would move that lone edge past 02:00).
        """
        joined: list[list[int]] = []
        for s, e in sorted(windows):
            if joined and s <= joined[-1][1]:
                joined[-1][1] = max(joined[-1][1], e)
            else:
                joined.append([s, e])
        return [(s, e) for s, e in joined]

    def intervals(self, first: date, last: date) -> list[tuple[float, float]]:
        """Open intervals of the windows that start on local dates first..last."""
        raw = []
        day = first
        while day <= last:
            for start, end in self.wall_union(self.week[day.weekday()]):
                s, e = self.wall(day, start), self.wall(day, end)
                if e > s:
                    raw.append((s, e))
            day += timedelta(days=1)
        raw.sort()
        joined: list[list[float]] = []
        for s, e in raw:
            if joined and s <= joined[-1][1]:
                joined[-1][1] = max(joined[-1][1], e)
            else:
                joined.append([s, e])
        # Remove each holiday's local day, one cut at a time.
        result = [(s, e) for s, e in joined]
        for holiday in sorted(self.holidays):
            h0, h1 = self.wall(holiday, 0), self.wall(holiday, 86400)
            cut = []
            for s, e in result:
                if e <= h0 or s >= h1:
                    cut.append((s, e))
                    continue
                if s < h0:
                    cut.append((s, h0))
                if e > h1:
                    cut.append((h1, e))
            result = cut
        return result

    def local_date(self, t: float) -> date:
        return datetime.fromtimestamp(t, self.zone).date()

    def around(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """Intervals complete over [t0, t1] (plus some): windows can start 2 days earlier."""
        return self.intervals(self.local_date(t0) - timedelta(days=3), self.local_date(t1) + timedelta(days=1))

    def between(self, a: float, b: float) -> float:
        lo, hi = min(a, b), max(a, b)
        total = sum(max(0.0, min(e, hi) - max(s, lo)) for s, e in self.around(lo, hi))
        return total if b >= a else -total

    def add(self, t: float, amount: float) -> float:
        if amount == 0:
            return t
        horizon = 40 * 86400
        while True:  # walk the intervals within `horizon` of t; if that is not enough, widen it
            if amount > 0:
                left, bound = amount, t + horizon
                for s, e in self.around(t, bound):
                    s, e = max(s, t), min(e, bound)  # only the part of the list known complete
                    if e <= s:
                        continue
                    if e - s >= left:  # earliest instant: a landing on a close is the close
                        return s + left
                    left -= e - s
            else:
                left, bound = -amount, t - horizon
                for s, e in reversed(self.around(bound, t)):
                    s, e = max(s, bound), min(e, t)
                    if e <= s:
                        continue
                    if e - s >= left:  # latest instant: a landing on an opening is the opening
                        return e - left
                    left -= e - s
            horizon *= 4

    def weekly(self) -> int:
        return sum(e - s for windows in self.week for s, e in windows)

    def is_open(self, t: float) -> bool:
        return any(s <= t < e for s, e in self.around(t, t))


# --------------------------------------------------------------------------- strategies


def hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


# Quarter hours hit DST edges (02:00, 02:30, 01:00 ...) often; end <= start is overnight.
quarter = st.integers(0, 95).map(lambda q: q * 900)
window = st.tuples(quarter, quarter)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[dict, Reference]:
    zone = draw(st.sampled_from(ZONES))
    kind = draw(st.sampled_from(["weekly", "weekly", "weekly", "24x7", "daily"]))
    week: list[list[tuple[int, int]]]
    if kind == "24x7":
        hours: object = "24x7"
        week = [[(0, 86400)] for _ in range(7)]
    else:
        if kind == "daily":
            windows = draw(st.lists(window, min_size=1, max_size=3))
            per_day = [windows] * 7
            hours = {"daily": [f"{hhmm(s)}-{hhmm(e)}" for s, e in windows]}
        else:
            per_day = draw(st.lists(st.lists(window, max_size=3), min_size=7, max_size=7))
            assume(any(per_day))
            hours = {DAY_NAMES[i]: [f"{hhmm(s)}-{hhmm(e)}" for s, e in windows] for i, windows in enumerate(per_day)}
        week = [[(s, e if e > s else e + 86400) for s, e in windows] for windows in per_day]
    holidays = set(draw(st.lists(st.dates(date(2022, 12, 20), date(2027, 1, 10)), max_size=12)))
    spec: dict = {"timezone": zone, "hours": hours}
    if holidays:
        spec["holidays"] = {"dates": [d.isoformat() for d in sorted(holidays)]}
    return spec, Reference(zone, week, holidays)


def _transitions() -> list[int]:
    """UTC instants (to the hour) where one of ZONES changes its offset, 2023-2026."""
    found = set()
    for name in ZONES:
        zone = ZoneInfo(name)
        previous = None
        for t in range(T_MIN, T_MAX, 3600):
            offset = datetime.fromtimestamp(t, zone).utcoffset()
            if previous is not None and offset != previous:
                found.add(t)
            previous = offset
    return sorted(found)


TRANSITIONS = _transitions()

uniform_instants = st.integers(T_MIN, T_MAX)
# Near a DST switch, often on a quarter hour (where window edges are).
near_switch = st.tuples(st.sampled_from(TRANSITIONS), st.integers(-48 * 4, 48 * 4), st.integers(0, 899)).map(
    lambda p: p[0] + p[1] * 900 + (p[2] if p[2] > 850 else 0)
)
whole_instants = st.one_of(uniform_instants, near_switch)
instants = st.one_of(
    whole_instants.map(float),
    st.tuples(whole_instants, st.integers(1, 999_999)).map(lambda p: p[0] + p[1] / 1e6),
)
# Pairs far apart (sums over years) and close together (within a day or two).
pairs = st.one_of(
    st.tuples(instants, instants),
    st.tuples(instants, st.integers(-2 * 86400, 2 * 86400)).map(lambda p: (p[0], p[0] + p[1])),
)

# Amounts are drawn as multiples of the schedule's nominal weekly business time, so that
# a sparse schedule (15 minutes a week) does not send the reference walking for decades.
factors = st.one_of(
    st.floats(-6, 6, allow_nan=False),
    st.floats(-0.05, 0.05, allow_nan=False),
    st.sampled_from([0.0, 1.0, -1.0, 0.5, -0.5]),
)


def amount(ref: Reference, factor: float, whole: bool) -> float:
    value = factor * ref.weekly()
    return round(value) if whole else value


amounts = st.tuples(factors, st.booleans())


def as_datetime(t: float, zone: str) -> datetime:
    value = datetime.fromtimestamp(t, UTC)
    return value if zone == "UTC" else value.astimezone(ZoneInfo(zone))


def epoch(value: datetime) -> float:
    return value.timestamp()


# --------------------------------------------------------------------------- against the reference


@PROPERTY
@given(schedules(), st.lists(pairs, min_size=1, max_size=4), st.sampled_from(ZONES))
def test_between_matches_reference(sched: tuple[dict, Reference], pairs: list, input_zone: str) -> None:
    spec, ref = sched
    calendar = BusinessCalendar.from_config(spec)
    for a, b in pairs:
        da, db = as_datetime(a, input_zone), as_datetime(b, input_zone)
        got = calendar.between(da, db)
        want = ref.between(epoch(da), epoch(db))
        if da.microsecond == 0 and db.microsecond == 0:
            assert type(got) is int
            assert got == want
        else:
            assert abs(got - want) < 1e-5


@PROPERTY
@given(schedules(), st.lists(st.tuples(instants, amounts), min_size=1, max_size=4), st.sampled_from(ZONES))
def test_add_matches_reference(sched: tuple[dict, Reference], steps: list, input_zone: str) -> None:
    spec, ref = sched
    calendar = BusinessCalendar.from_config(spec)
    for t, (factor, whole) in steps:
        start = as_datetime(t, input_zone)
        seconds = amount(ref, factor, whole)
        got = calendar.add(start, seconds)
        assert got.tzinfo is start.tzinfo
        want = ref.add(epoch(start), seconds)
        assert abs(epoch(got) - want) < 2e-6, (start, seconds, got, datetime.fromtimestamp(want, UTC))


@PROPERTY
@given(schedules(), st.lists(instants, min_size=1, max_size=6))
def test_is_open_matches_reference(sched: tuple[dict, Reference], points: list) -> None:
    spec, ref = sched
    calendar = BusinessCalendar.from_config(spec)
    for t in points:
        assert calendar.is_open(as_datetime(t, "UTC")) == ref.is_open(t)


# --------------------------------------------------------------------------- algebraic properties


@PROPERTY
@given(schedules(), instants, st.lists(amounts, min_size=1, max_size=5))
def test_between_inverts_add_and_add_is_monotone(sched: tuple[dict, Reference], t: float, steps: list) -> None:
    spec, ref = sched
    calendar = BusinessCalendar.from_config(spec)
    start = as_datetime(t, "UTC")
    results = []
    for seconds in sorted(amount(ref, factor, whole) for factor, whole in steps):
        end = calendar.add(start, seconds)
        assert abs(calendar.between(start, end) - seconds) < 1e-5
        results.append(end)
    assert results == sorted(results)


@PROPERTY
@given(schedules(), instants, instants, instants)
def test_between_is_antisymmetric_and_additive(sched: tuple[dict, Reference], a: float, b: float, c: float) -> None:
    calendar = BusinessCalendar.from_config(sched[0])
    da, db, dc = (as_datetime(x, "UTC") for x in (a, b, c))
    ab, bc, ac = calendar.between(da, db), calendar.between(db, dc), calendar.between(da, dc)
    assert calendar.between(db, da) == -ab
    assert abs(ab + bc - ac) < 1e-5


@PROPERTY
@given(schedules(), instants, st.integers(0, 20 * 86400))
def test_gaps_tile_the_span_with_business_time(sched: tuple[dict, Reference], t: float, span: int) -> None:
    calendar = BusinessCalendar.from_config(sched[0])
    a, b = as_datetime(t, "UTC"), as_datetime(t + span, "UTC")
    gaps = calendar.gaps(a, b)
    assert all(a <= g.start < g.end <= b for g in gaps)
    assert all(x.end <= y.start for x, y in zip(gaps, gaps[1:], strict=False))
    assert all(calendar.between(g.start, g.end) == 0 for g in gaps)
    assert all(g.kind in {"holiday", "weekend", "closed"} for g in gaps)
    assert abs(sum(g.seconds for g in gaps) + calendar.between(a, b) - span) < 1e-5


@PROPERTY
@given(schedules(), instants, st.integers(-20 * 86400, 20 * 86400))
def test_add_lands_on_closes_and_openings(sched: tuple[dict, Reference], t: float, span: int) -> None:
    # Forwards, an amount that runs out exactly at a closing time gives that closing time;
    # backwards, one that runs out exactly at an opening time gives that opening time.
    calendar = BusinessCalendar.from_config(sched[0])
    start = as_datetime(t, "UTC")
    gaps = calendar.gaps(start, as_datetime(t + span, "UTC"))
    closes = {g.start for g in gaps} - {g.end for g in gaps} - {start}
    openings = {g.end for g in gaps} - {g.start for g in gaps} - {start}
    for edge in closes if span > 0 else openings:
        seconds = calendar.between(start, edge)
        if seconds:
            assert calendar.add(start, seconds) == edge
