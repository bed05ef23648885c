"""Small numeric and calendar helpers shared by the reports: percentiles, attainment, periods, windows.

Numbers for output: durations are whole seconds (`whole`), other numbers (percentages, money) `num`.

What a report can place is what ingest accepts (`connector.events`): instants in [1970, 2100). A window
bound outside it is refused; a stored value outside it (a store filled by an older version may hold year
0001 or 9999, or an elapsed time longer than `MAX_SECONDS`) is left out of the report and counted
(`placeable`; `store_sla.PLACEABLE` in SQL). A report lists at most `MAX_PERIODS` periods: a finer split
is refused (`TooManyPeriods`), since every period becomes a branch of the SQL that labels the clocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connector.errors import EventError
from connector.events import EARLIEST_INSTANT, LATEST_INSTANT, format_instant, parse_instant, short_text
from connector.rules.clocks import whole_seconds

PERIODS = ("day", "week", "month", "quarter")
PERCENTILES = (50, 90, 95)
# No clock can run longer than the accepted range of instants: a stored duration beyond it is not a duration.
MAX_SECONDS = (LATEST_INSTANT - EARLIEST_INSTANT).total_seconds()
FIRST_DATE = EARLIEST_INSTANT.date()
LAST_DATE = (LATEST_INSTANT - timedelta(days=1)).date()
MAX_PERIODS = 2000  # all the months of the range; about five and a half years of days


def placeable(at: datetime | None) -> bool:
    """Return whether an aware instant lies in the accepted range (None: nothing to place, so True)."""
    if at is None:
        return True
    try:
        return EARLIEST_INSTANT <= at < LATEST_INSTANT
    except (OverflowError, TypeError):
        return False


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Return the pct-th percentile by linear interpolation between closest ranks (None when empty).

    The same definition as PostgreSQL's `percentile_cont` and NumPy's default: position
    `pct / 100 × (n − 1)` in the sorted values, interpolated between its neighbours.
    """
    n = len(sorted_values)
    if n == 0:
        return None
    pos = pct / 100 * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def attainment(met: int, breached: int) -> float | None:
    """Return met ÷ (met + breached) × 100, or None when no clock was met or breached."""
    total = met + breached
    return None if total == 0 else met / total * 100


def share_pct(part: float, whole: float) -> float | None:
    """Return part ÷ whole × 100 rounded to 2 decimals for output, or None when the whole is empty."""
    return None if not whole else round(part / whole * 100, 2)


def num(x: float | None, digits: int = 3) -> int | float | None:
    """Round for output: whole numbers as int, others to `digits` decimals."""
    if x is None:
        return None
    r = round(float(x), digits)
    return int(r) if r.is_integer() else r


def whole(seconds: float | None) -> int | None:
    """Return a duration for output as whole seconds (`connector.rules.clocks.whole_seconds`), or None.

    Every duration a report shows (percentiles, maxima, lateness, paused time) goes through here, so the
    JSON, CSV and HTML of a report, offline or from the store, show the same whole seconds as replay.
    """
    return None if seconds is None else whole_seconds(seconds)


def period_start(at: datetime, period: str, tz: ZoneInfo) -> datetime:
    """Return the local start of the day, ISO week, month or quarter that contains `at` (aware, in `tz`)."""
    local = at.astimezone(tz)
    d = local.date()
    if period == "day":
        start = d
    elif period == "week":
        start = d - timedelta(days=d.weekday())
    elif period == "month":
        start = d.replace(day=1)
    elif period == "quarter":
        start = date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    else:
        raise ValueError(f"unknown period {period!r}; periods are {', '.join(PERIODS)}")
    return datetime.combine(start, time(0), tzinfo=tz)


def period_label(at: datetime, period: str, tz: ZoneInfo) -> str:
    """Return the label of the period that contains `at`: 2026-03-02, 2026-W10, 2026-03 or 2026-Q1."""
    start = period_start(at, period, tz)
    if period == "day":
        return start.date().isoformat()
    if period == "week":
        year, week, _ = start.date().isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{start.year}-{start.month:02d}"
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def next_period(start: datetime, period: str) -> datetime:
    """Return the local start of the period after the one starting at `start`."""
    tz = start.tzinfo
    d = start.date()
    if period == "day":
        nd = d + timedelta(days=1)
    elif period == "week":
        nd = d + timedelta(days=7)
    else:
        months = 1 if period == "month" else 3
        m = d.month - 1 + months
        nd = date(d.year + m // 12, m % 12 + 1, 1)
    return datetime.combine(nd, time(0), tzinfo=tz)


class TooManyPeriods(ValueError):
    """A split into more than `MAX_PERIODS` periods."""

    def __init__(self, count: int, period: str) -> None:
        super().__init__(f"{count} {period}s: at most {MAX_PERIODS} periods in one report; narrow the window "
                         "(from/to) or choose a longer period")
        self.count = count
        self.period = period


def _period_index(at: datetime, period: str, tz: ZoneInfo) -> int:
    start = period_start(at, period, tz).date()
    if period == "day":
        return start.toordinal()
    if period == "week":
        return start.toordinal() // 7
    return start.year * 12 + start.month - 1 if period == "month" else start.year * 4 + (start.month - 1) // 3


def period_count(first: datetime, last: datetime, period: str, tz: ZoneInfo) -> int:
    """Return how many periods run from the one containing `first` to the one containing `last`."""
    return max(_period_index(last, period, tz) - _period_index(first, period, tz) + 1, 0)


def check_periods(first: datetime, last: datetime, period: str, tz: ZoneInfo) -> None:
    """Raise `TooManyPeriods` if `first` to `last` spans more than `MAX_PERIODS` periods."""
    count = period_count(first, last, period, tz)
    if count > MAX_PERIODS:
        raise TooManyPeriods(count, period)


def period_bounds(first: datetime, last: datetime, period: str, tz: ZoneInfo) -> list[tuple[str, datetime, datetime]]:
    """Return (label, start, end) of every period from the one containing `first` to the one containing `last`.

    Raise `TooManyPeriods` rather than list more than `MAX_PERIODS`.
    """
    check_periods(first, last, period, tz)
    out = []
    start = period_start(first, period, tz)
    while start <= last:
        end = next_period(start, period)
        out.append((period_label(start, period, tz), start, end))
        start = end
    return out


@dataclass(frozen=True, slots=True)
class Window:
    """The reporting window: instants in [start, end); either side may be open."""

    start: datetime | None = None
    end: datetime | None = None

    def __contains__(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    def as_dict(self) -> dict[str, str | None]:
        return {"from": format_instant(self.start), "to": format_instant(self.end)}


EVERYTHING = Window()  # no bounds: the whole history


def parse_bound(text: str, tz: ZoneInfo, *, end: bool) -> datetime:
    """Parse `--from`/`--to`: a date (local midnight in `tz`; `--to` a date includes that whole day) or an instant.

    Dates run from 1970-01-01 to 2099-12-31 and instants over the accepted range (`connector.events`);
    anything else raises `EventError` naming `from` or `to`.
    """
    what = "to" if end else "from"
    value = text.strip()
    try:
        d = date.fromisoformat(value)
    except ValueError:
        return parse_instant(value, what)
    if not FIRST_DATE <= d <= LAST_DATE:
        raise EventError(f"{what}: {short_text(value)!r} is outside {FIRST_DATE} to {LAST_DATE}")
    if end:
        d += timedelta(days=1)
    return datetime.combine(d, time(0), tzinfo=tz)
