"""Business calendars: working hours, holidays and business-time arithmetic.

A `BusinessCalendar` answers three questions in O(log n) whatever the span:
``add`` (which instant is N business seconds after this one), ``between`` (how many
business seconds lie between two instants) and ``gaps`` (which non-business
stretches lie between them, for human explanations).

Conventions (DESIGN.md §4; each has a test in ``tests/unit/test_calendar_cases.py``):

- Business time is *real elapsed seconds* inside working windows.
- Window edges are local wall times converted with ``zoneinfo`` and ``fold=0``
  ("compatible"): an edge inside a DST gap moves forward by the gap, an edge inside a
  repeated hour takes its first occurrence. A window whose edges convert to
  ``end <= start`` (e.g. ``02:30-03:00`` on a spring-forward night) is empty.
- A window with ``end <= start`` is overnight and belongs to the day it starts on;
  ``00:00-00:00`` is the whole day. Overlapping or touching windows (also an overnight
  window and the next morning's) are joined, so no second counts twice. The windows of
  one day are joined as wall-clock times *before* conversion (``00:00-01:15`` plus
  ``00:00-02:00`` is ``00:00-02:00``, even on a night where 01:15 does not exist).
- A holiday removes its whole local date, 00:00 to the next 00:00, including the
  after-midnight part of an overnight window that started the day before.
- ``add(dt, s)`` with ``s > 0`` returns the *earliest* instant with ``s`` business
  seconds after ``dt``, so a result that lands exactly on a closing time is that
  closing time. With ``s < 0`` it returns the *latest* such instant before ``dt``,
  so landing exactly on an opening time returns the opening time. ``add(dt, 0)`` is
  ``dt`` unchanged, even outside working hours.
- ``between(a, b)`` is negative when ``b < a``; an ``int`` when both inputs are whole
  seconds, else a ``float`` (sub-second parts are carried, never rounded).
- Results keep the input's ``tzinfo``.

Gaps (`Gap`): each non-business stretch is cut at local midnights and every piece is
classified by its local date: ``holiday`` (the date is a holiday; wins over a weekend),
``weekend`` (no window starts on that weekday) or ``closed`` (a working day's nights,
lunch breaks and the after-hours part of a day). Adjacent pieces of the same kind and
name are merged, so Friday 17:00 to Monday 09:00 reads as three gaps: closed (Friday
evening), weekend (Saturday 00:00 to Monday 00:00), closed (Monday early morning).

Design: business time is stored as one sorted list of open intervals in UTC epoch
seconds (ints), flattened to ``points = [sentinel, s0, e0, s1, e1, ...]``, with the
cumulative business seconds ``cums`` at every point and ``shifts = points - cums``.
``cum(t)`` is ``cums[k-1]`` in a gap or ``t - shifts[k-1]`` in a window, where ``k``
comes from a ``bisect`` restricted to t's UTC day through a per-day index, so
``between`` is ``cum(b) - cum(a)`` in O(1) whatever the span, and ``add`` is one such
lookup plus a ``bisect`` on ``cums`` (searched near ``k`` first). The lists are built
lazily per UTC year, extended on demand in either direction (prepending keeps the
existing ``cums``: they may go negative) and published as one immutable snapshot, so
readers in other threads never see half an extension. One calendar builds at most
1000 years (about 2 s); a span or an ``add`` that needs more raises ``ValueError``.

Errors::

    ValueError
     ├── CalendarSpecError   bad config: ``.key`` is the key path inside the spec
     └── (plain ValueError)  naive datetime, non-finite amount, result outside years 1..9999
    TypeError                not a datetime / not a number
"""

from __future__ import annotations

import math
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = ["BusinessCalendar", "CalendarSpecError", "Gap", "zone_named"]

_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_fromtimestamp = datetime.fromtimestamp
_DAY = 86400
_ONE_DAY = timedelta(days=1)
_MIN_YEAR = 1
_MAX_YEAR = 9999
# The lazily built years of one calendar may span at most this many years (about 2 s and
# 70 MB to build); beyond it add/between raise ValueError instead of eating memory.
_MAX_YEARS_BUILT = 1000
# No calendar holds more business time than this, so a larger amount can never finish.
_MAX_AMOUNT = (_MAX_YEAR + 1) * 366 * _DAY
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_INDEX = {name: i for i, name in enumerate(_DAY_NAMES)} | {name: i for i, name in enumerate(_FULL_DAY_NAMES)}
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*-\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")
_SPEC_KEYS = ("timezone", "hours", "holidays")
_HOLIDAY_KEYS = ("country", "subdiv", "observed", "categories", "dates")
_HOLIDAY_LABEL = "holiday"
_ALWAYS = "24x7"


class CalendarSpecError(ValueError):
    """A calendar spec is malformed; ``key`` is the key path inside the spec.

    ``str(error)`` is ``"<key>: <reason>"``; ``reason`` alone is the message without
    the key, for callers that print the key path themselves. The root of the spec has
    the key ``""``.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.key, self.reason))


GapKind = Literal["holiday", "weekend", "closed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """A non-business stretch of time, in UTC, with the reason it is not worked."""

    start: datetime
    end: datetime
    kind: GapKind
    name: str | None = None

    @property
    def seconds(self) -> float:
        """Return the gap's length in real seconds."""
        return (self.end - self.start).total_seconds()


class _State(NamedTuple):
    """An immutable snapshot of the precomputed business time.

    ``points`` is ``[lo, s0, e0, s1, e1, ..., +inf x _GUARD]``: index 0 is a sentinel
    that acts as an end, odd indices are window starts and even ones window ends, all in
    UTC epoch seconds. They are ints (edges are whole seconds), so sums are exact and
    bisect compares int to int for whole-second inputs. The trailing +inf guards (the
    first one a "start") let the hot path read ``points[k]`` and bisect
    ``[k, k + _GUARD)`` without bounds checks; their ``cums`` repeat the last total.

    ``cums[i]`` is the business time before ``points[i]``, from an arbitrary origin
    (the first year built), and ``shifts[i] = points[i] - cums[i]``. ``days[q]`` is where
    ``lo + q * 86400`` would be inserted in ``points``, so an instant on UTC day ``q`` is
    found by bisecting only ``points[days[q]:days[q + 1]]``: O(1) and cache-friendly.
    The snapshot covers ``[lo, hi)``, the UTC years ``first_year`` to ``last_year``.
    """

    lo: int
    hi: int
    points: list[float]
    cums: list[float]
    shifts: list[float]
    days: list[int]
    first_year: int
    last_year: int


_EMPTY = _State(0, 0, [], [], [], [], 0, -1)
_INF = float("inf")
# Trailing +inf entries: the hot path may read or bisect up to this many points past k.
_GUARD = 8
_NO_ZONE = object()
# add() keeps at most this many recent results (see there); the cache is emptied when full.
_RESULTS_MAX = 4096


class _Probe(NamedTuple):
    """What an extension's stop condition sees: the years and business time so far."""

    first_year: int
    last_year: int
    first_cum: float
    last_cum: float


def _cum(st: _State, t: float) -> float:
    """Return the business time before t on st's scale (t must be inside [st.lo, st.hi))."""
    k = bisect_right(st.points, t)
    return st.cums[k - 1] if k & 1 else t - st.shifts[k - 1]


def _utc_year_start(year: int) -> int:
    return (datetime(year, 1, 1, tzinfo=_UTC) - _EPOCH) // timedelta(seconds=1)


def _utc_year_of(t: float) -> int:
    try:
        return (_EPOCH + timedelta(seconds=t)).year
    except OverflowError:
        raise ValueError(f"instant {t!r} s from the epoch is outside the years 1..9999") from None


def _epoch(value: datetime) -> float:
    """Return an aware datetime as UTC epoch seconds; reject anything else clearly."""
    try:
        return (value - _EPOCH).total_seconds()
    except TypeError:
        raise _bad_instant(value) from None


class _OffsetSeconds(dict[timedelta, int]):
    """A UTC offset in whole seconds, cached by offset: cheaper than total_seconds().

    A sub-second offset (legal for custom tzinfos, unheard of in real zones) raises
    TypeError, which sends the caller to its exact slow path.
    """

    def __missing__(self, offset: timedelta) -> int:
        if offset.microseconds:
            raise TypeError("sub-second UTC offset")
        value = self[offset] = offset.days * 86400 + offset.seconds
        return value


_OFFSETS = _OffsetSeconds()


def _is_aware(value: object) -> bool:
    return isinstance(value, datetime) and value.utcoffset() is not None


def _bad_instant(value: object) -> Exception:
    if isinstance(value, datetime):
        return ValueError(
            f"naive datetime {value.isoformat()} has no time zone; business time needs an "
            "aware datetime (e.g. tzinfo=timezone.utc)"
        )
    return TypeError(f"expected an aware datetime, got {type(value).__name__} {value!r}")


def _from_epoch(t: float, tz: tzinfo | None) -> datetime:
    try:
        return datetime.fromtimestamp(t, tz)
    except (OverflowError, ValueError, OSError):
        raise ValueError(f"result {t!r} s from the epoch is outside the years 1..9999") from None


# --------------------------------------------------------------------------- spec parsing


def _parse_clock(hh: str, mm: str, ss: str | None, *, end: bool) -> int | None:
    h, m, s = int(hh), int(mm), int(ss or 0)
    if m > 59 or s > 59:
        return None
    if h == 24 and end and m == 0 and s == 0:
        return _DAY
    if h > 23:
        return None
    return h * 3600 + m * 60 + s


def _parse_window(text: object, key: str) -> tuple[int, int]:
    if not isinstance(text, str):
        raise CalendarSpecError(key, f"expected a window string HH:MM-HH:MM, got {type(text).__name__} {text!r}")
    match = _WINDOW.match(text)
    start = end = None
    if match:
        start = _parse_clock(match[1], match[2], match[3], end=False)
        end = _parse_clock(match[4], match[5], match[6], end=True)
    if start is None or end is None:
        raise CalendarSpecError(key, f'"{text}" is not a window HH:MM-HH:MM (hours 00-23, or 24:00 as an end)')
    if end <= start:  # overnight (or the whole day for 00:00-00:00): ends the next day
        end += _DAY
    return start, end


def _parse_days(spec: object, key: str) -> set[int]:
    if not isinstance(spec, str):
        raise CalendarSpecError(key, f"a day spec must be a string such as mon-fri, got {spec!r}")
    days: set[int] = set()
    tokens = [token.strip().lower() for token in spec.split(",")]
    for token in tokens:
        if token == "daily":
            days.update(range(7))
            continue
        first, sep, last = token.partition("-")
        a = _DAY_INDEX.get(first.strip())
        b = _DAY_INDEX.get(last.strip()) if sep else a
        if a is None or b is None:
            raise CalendarSpecError(
                key,
                f'"{spec}" is not a day spec: use mon..sun, ranges such as mon-fri or fri-mon, '
                "comma lists such as sat,sun, or daily",
            )
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return days


def _merge(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Return sorted intervals with overlapping and touching ones joined."""
    merged: list[tuple[float, float]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _parse_hours(hours: object) -> tuple[tuple[tuple[int, int], ...], ...]:
    if hours == _ALWAYS:
        return tuple(((0, _DAY),) for _ in range(7))
    if not isinstance(hours, Mapping):
        raise CalendarSpecError("hours", f'expected "24x7" or a mapping of day specs to windows, got {hours!r}')
    per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for spec, windows in hours.items():
        key = f"hours.{spec}"
        days = _parse_days(spec, key)
        if isinstance(windows, str):
            windows = [windows]
        if not isinstance(windows, list | tuple):
            raise CalendarSpecError(key, f'expected a list of windows such as ["09:00-17:00"], got {windows!r}')
        parsed = [_parse_window(window, f"{key}[{i}]") for i, window in enumerate(windows)]
        for day in days:
            per_day[day].extend(parsed)
    result = tuple(tuple((int(s), int(e)) for s, e in _merge(day_windows)) for day_windows in per_day)
    if not any(result):
        raise CalendarSpecError("hours", "the calendar has no working time: every day is closed")
    return result


def _parse_date(value: object, key: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise CalendarSpecError(key, f"{value!r} is not a date YYYY-MM-DD")


class _Holidays:
    """Holidays from the ``holidays`` package (generated per year on demand) plus dates."""

    def __init__(self, spec: object) -> None:
        self.explicit: dict[date, str | None] = {}
        self.package: holidays_lib.HolidayBase | None = None
        self._lock = threading.Lock()
        if spec is None:
            return
        if not isinstance(spec, Mapping):
            raise CalendarSpecError("holidays", f"expected a mapping, got {spec!r}")
        for key in spec:
            if key not in _HOLIDAY_KEYS:
                raise CalendarSpecError(f"holidays.{key}", f"unknown key (expected one of {', '.join(_HOLIDAY_KEYS)})")
        self._parse_dates(spec.get("dates"))
        country = spec.get("country")
        if country is None:
            for key in ("subdiv", "categories"):
                if spec.get(key) is not None:
                    raise CalendarSpecError(f"holidays.{key}", "needs holidays.country")
            return
        if not isinstance(country, str):
            raise CalendarSpecError("holidays.country", f"expected a country code, got {country!r}")
        country = country.strip().upper()
        if country not in holidays_lib.list_supported_countries():
            raise CalendarSpecError("holidays.country", f"{country!r} is not a country known to the holidays package")
        subdiv = spec.get("subdiv")
        if isinstance(subdiv, int) and not isinstance(subdiv, bool):
            subdiv = str(subdiv)
        if subdiv is not None and not isinstance(subdiv, str):
            raise CalendarSpecError("holidays.subdiv", f"expected a subdivision code, got {subdiv!r}")
        observed = spec.get("observed", True)
        if not isinstance(observed, bool):
            raise CalendarSpecError("holidays.observed", f"expected true or false, got {observed!r}")
        categories = spec.get("categories")
        if isinstance(categories, str):
            categories = (categories,)
        if categories is not None and not (
            isinstance(categories, list | tuple) and all(isinstance(c, str) for c in categories)
        ):
            raise CalendarSpecError("holidays.categories", f"expected a list of category names, got {categories!r}")
        options: dict[str, Any] = {"observed": observed, "years": ()}
        if categories:
            options["categories"] = tuple(categories)
        try:
            self.package = holidays_lib.country_holidays(country, subdiv=subdiv, **options)
        except NotImplementedError:
            raise CalendarSpecError("holidays.subdiv", f"{subdiv!r} is not a subdivision of {country}") from None
        except ValueError as err:
            raise CalendarSpecError("holidays.categories", str(err)) from None

    def _parse_dates(self, dates: object) -> None:
        if dates is None:
            return
        if isinstance(dates, Mapping):
            for i, (value, label) in enumerate(dates.items()):
                if label is not None and not isinstance(label, str):
                    raise CalendarSpecError(f"holidays.dates[{i}]", f"a label must be text: {label!r}")
                self.explicit[_parse_date(value, f"holidays.dates[{i}]")] = label
            return
        if not isinstance(dates, list | tuple):
            raise CalendarSpecError("holidays.dates", f"expected a list of dates, got {dates!r}")
        for i, value in enumerate(dates):
            self.explicit.setdefault(_parse_date(value, f"holidays.dates[{i}]"), None)

    def __bool__(self) -> bool:
        return bool(self.explicit) or self.package is not None

    def name(self, day: date) -> str | None:
        label = self.explicit.get(day)
        if label is not None:
            return label
        if self.package is not None:
            with self._lock:  # the package fills in a year on first use: not thread-safe
                found = self.package.get(day)
            if found:
                return str(found)
        return _HOLIDAY_LABEL if day in self.explicit else None


# --------------------------------------------------------------------------- the calendar


class BusinessCalendar:
    """Working hours and holidays in one time zone, with fast business-time arithmetic.

    Build one with `from_config`. Instances are safe to share between threads.
    """

    def __init__(
        self,
        *,
        name: str,
        zone: ZoneInfo,
        windows: tuple[tuple[tuple[int, int], ...], ...],
        holidays: _Holidays,
        spec: object,
    ) -> None:
        self.name = name
        self.timezone = zone
        self._windows = windows
        self._holidays = holidays
        self._spec = spec
        self.always_open = not holidays and all(w and w[0][0] == 0 and w[0][1] >= _DAY for w in windows)
        # An upper bound of business seconds in any year (53 weeks, plus slack for DST and
        # historical offset changes), to refuse impossible adds before building years.
        self._max_per_year = 53 * sum(e - s for day in windows for s, e in day) + 2 * _DAY
        self._state = _EMPTY
        self._local_epoch: tuple[object, datetime] = (_NO_ZONE, _EPOCH)
        # add()'s recent results in one zone: (tzinfo, {epoch seconds: aware datetime in that zone})
        self._results: tuple[object, dict[float, datetime]] = (_NO_ZONE, {})
        self._hot: tuple[int, int, list[float], list[float], list[float], list[int]] = (0, 0, [], [], [], [])
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_config(cls, spec: Mapping[str, Any] | str, *, name: str = "calendar") -> BusinessCalendar:
        """Build a calendar from a config mapping or the string "24x7"."""
        if spec == _ALWAYS:
            return cls(
                name=name,
                zone=ZoneInfo("UTC"),
                windows=_parse_hours(_ALWAYS),
                holidays=_Holidays(None),
                spec=spec,
            )
        if not isinstance(spec, Mapping):
            raise CalendarSpecError("", f'a calendar is "24x7" or a mapping, got {spec!r}')
        for key in spec:
            if key not in _SPEC_KEYS:
                raise CalendarSpecError(str(key), f"unknown key (expected one of {', '.join(_SPEC_KEYS)})")
        zone = _parse_zone(spec.get("timezone", "UTC"))
        if "hours" not in spec:
            raise CalendarSpecError("hours", 'missing: give "24x7" or a mapping such as {"mon-fri": ["09:00-17:00"]}')
        windows = _parse_hours(spec["hours"])
        holidays = _Holidays(spec.get("holidays"))
        return cls(name=name, zone=zone, windows=windows, holidays=holidays, spec=_freeze(spec))

    def __repr__(self) -> str:
        return f"BusinessCalendar(name={self.name!r}, timezone={self.timezone.key!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._spec, self.name))

    # ------------------------------------------------------------------ queries

    def holiday_name(self, day: date) -> str | None:
        """Return the holiday's name on this local date, or None if it is not a holiday."""
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"expected a date, got {day!r}")
        return self._holidays.name(day)

    def is_open(self, dt: datetime) -> bool:
        """Return whether dt is inside a working window (start inclusive, end exclusive)."""
        t = _epoch(dt)
        if self.always_open:
            return True
        return not bisect_right(self._cover(t, t).points, t) & 1

    def between(self, a: datetime, b: datetime) -> float:
        """Return the business seconds from a to b (negative if b is before a)."""
        # The hot path. Instants become whole epoch seconds (ints) plus microseconds: int
        # arithmetic is exact, and int-to-int comparisons keep bisect fast. A datetime in
        # the zone seen last is converted as (dt - that zone's local epoch) - utcoffset:
        # subtracting two datetimes with the same tzinfo is plain wall-clock arithmetic,
        # several times cheaper than the offset lookups of dt - utc_epoch.
        ta: int
        tb: int
        try:
            tz = a.tzinfo
            if tz is _UTC:
                d = a - _EPOCH
                ta = d.days * 86400 + d.seconds
            else:
                local = self._local_epoch
                if local[0] is tz:
                    d = a - local[1]
                    ta = d.days * 86400 + d.seconds - _OFFSETS[tz.utcoffset(a)]  # type: ignore[union-attr,index]
                else:
                    d = a - _EPOCH
                    ta = d.days * 86400 + d.seconds
                    self._remember(tz)
            tz = b.tzinfo
            if tz is _UTC:
                e = b - _EPOCH
                tb = e.days * 86400 + e.seconds
            else:
                local = self._local_epoch
                if local[0] is tz:
                    e = b - local[1]
                    tb = e.days * 86400 + e.seconds - _OFFSETS[tz.utcoffset(b)]  # type: ignore[union-attr,index]
                else:
                    e = b - _EPOCH
                    tb = e.days * 86400 + e.seconds
                    self._remember(tz)
        except (TypeError, AttributeError):  # naive, not a datetime, or a sub-second offset
            if not (_is_aware(a) and _is_aware(b)):
                raise _bad_instant(b if _is_aware(a) else a) from None
            value = self._between(_epoch(a), _epoch(b))
            return value if a.microsecond or b.microsecond else round(value)
        if d.microseconds or e.microseconds:
            return float(self._between(ta + d.microseconds / 1e6, tb + e.microseconds / 1e6))
        lo, hi, points, cums, shifts, days = self._hot
        if not (lo <= ta < hi and lo <= tb < hi):
            return self._between(ta, tb)
        q = (ta - lo) // 86400
        k = bisect_right(points, ta, days[q], days[q + 1])
        if points[k - 1] <= tb < points[k]:  # same window or same gap: the common short span
            return 0 if k & 1 else tb - ta
        ca = cums[k - 1] if k & 1 else ta - shifts[k - 1]  # odd k: in a gap, constant
        q = (tb - lo) // 86400
        k = bisect_right(points, tb, days[q], days[q + 1])
        return (cums[k - 1] if k & 1 else tb - shifts[k - 1]) - ca

    def add(self, dt: datetime, seconds: float) -> datetime:
        """Return the instant `seconds` business seconds after dt (before it if negative)."""
        t: int
        try:  # the same inline conversion as in between()
            tz = dt.tzinfo
            if tz is _UTC:
                d = dt - _EPOCH
                t = d.days * 86400 + d.seconds
            else:
                local = self._local_epoch
                if local[0] is tz:
                    d = dt - local[1]
                    t = d.days * 86400 + d.seconds - _OFFSETS[tz.utcoffset(dt)]  # type: ignore[union-attr,index]
                else:
                    d = dt - _EPOCH
                    t = d.days * 86400 + d.seconds
                    self._remember(tz)
            if not -_MAX_AMOUNT < seconds < _MAX_AMOUNT:
                raise ValueError(
                    f"business-time amount {seconds!r} is not a finite number of seconds within the years 1..9999"
                )
        except (TypeError, AttributeError):  # as in between(), or seconds is not a number
            if not _is_aware(dt):
                raise _bad_instant(dt) from None
            if not isinstance(seconds, int | float):
                raise TypeError(f"seconds must be an int or float, got {seconds!r}") from None
            return self._add_exact(dt, seconds)
        if not seconds:
            return dt
        lo, hi, points, cums, shifts, days = self._hot
        if d.microseconds or not lo <= t < hi:
            return self._add_slow(dt, t + d.microseconds / 1e6, seconds)
        q = (t - lo) // 86400
        k = bisect_right(points, t, days[q], days[q + 1])
        r = t + seconds
        if k & 1 or not points[k - 1] <= r <= points[k]:  # not within dt's own window
            c = (cums[k - 1] if k & 1 else t - shifts[k - 1]) + seconds
            if seconds > 0:
                # Most adds end in the next window, whose end is at index (k | 1) + 1: when c lies in
                # (cums[j - 1], cums[j]], that j is what bisect_left(cums, c, k) returns, without the call.
                # (Then r lies inside that window, after t and inside the built years: no check needed.)
                j = (k | 1) + 1
                if not cums[j - 1] < c <= cums[j]:
                    j = bisect_left(cums, c, k, k + _GUARD)  # near k first, then the rest
                    if j == k + _GUARD:
                        j = bisect_left(cums, c, j)
                    if j == len(cums) or c + shifts[j] < t:  # past the years built, or rounding
                        return self._add_slow(dt, t, seconds)
            else:
                j = bisect_right(cums, c) - 1
                if j < 0 or c + shifts[j] > t:
                    return self._add_slow(dt, t, seconds)
            r = c + shifts[j]
            if not lo <= r < hi:  # an amount below float resolution met the built years' sentinel: go exact
                return self._add_slow(dt, t, seconds)
        # Results repeat: every add from outside hours lands on an opening plus the amount (tickets that
        # arrive overnight are all due at 09:00 + target), and building an aware datetime costs about
        # as much as the rest of add. Datetimes are immutable, so one may be handed out many times.
        results = self._results
        if results[0] is tz:
            hit = results[1].get(r)
            if hit is not None:
                return hit
        else:
            results = self._results = (tz, {})
        try:
            value = _fromtimestamp(r, tz)
        except (OverflowError, ValueError, OSError):
            return _from_epoch(r, tz)
        if len(results[1]) >= _RESULTS_MAX:
            results[1].clear()
        results[1][r] = value
        return value

    def gaps(self, a: datetime, b: datetime) -> list[Gap]:
        """Return the non-business stretches inside [a, b] in order (of [b, a] if b < a)."""
        ta, tb = _epoch(a), _epoch(b)
        if tb < ta:
            ta, tb = tb, ta
        if self.always_open or ta == tb:
            return []
        st = self._cover(ta, tb)
        points = st.points
        raw: list[tuple[float, float]] = []
        cursor = ta
        # First interval that ends after ta: its end's index is the first even index > ta.
        i = bisect_right(points, ta)
        i += i & 1  # now the index of that interval's end (even), or past the list
        while i < len(points) and cursor < tb:
            start, end = points[i - 1], points[i]
            if start >= tb:
                break
            if start > cursor:
                raw.append((cursor, start))
            cursor = max(cursor, end)
            i += 2
        if cursor < tb:
            raw.append((cursor, tb))
        return self._classify(raw)

    # ------------------------------------------------------------------ slow paths

    def _remember(self, tz: tzinfo | None) -> None:
        """Keep tz and its local epoch for the inline conversion (see between)."""
        if tz is not None:
            self._local_epoch = (tz, datetime(1970, 1, 1, tzinfo=tz))

    def _between(self, ta: float, tb: float) -> float:
        """Return between() for epoch seconds, building years as needed (the slow path)."""
        if self.always_open:
            return tb - ta
        st = self._cover(min(ta, tb), max(ta, tb))
        return _cum(st, tb) - _cum(st, ta)

    def _add_exact(self, dt: datetime, seconds: float) -> datetime:
        """Return add() for an input the inline conversion cannot take."""
        if not -_MAX_AMOUNT < seconds < _MAX_AMOUNT:
            raise ValueError(f"business-time amount {seconds!r} is not a finite number of seconds")
        return self._add_slow(dt, _epoch(dt), seconds) if seconds else dt

    def _add_slow(self, dt: datetime, t: float, seconds: float) -> datetime:
        """Add with coverage and extension: the first call in a year, or a long way."""
        if self.always_open:
            return _from_epoch(t + seconds, dt.tzinfo)
        if abs(seconds) > _MAX_YEARS_BUILT * self._max_per_year:  # fail fast, build nothing
            raise ValueError(
                f"adding {seconds!r} business seconds on calendar {self.name!r} needs more than "
                f"{_MAX_YEARS_BUILT} years of business time"
            )
        st = self._cover(t, t)
        before = _cum(st, t)
        c = before + seconds
        if seconds > 0:
            if c <= before:  # the amount is below the float resolution of c: step by one ulp
                c = math.nextafter(before, _INF)
            if c > st.cums[-1]:
                st = self._extend_until_cum(c)
            r = max(c + st.shifts[bisect_left(st.cums, c)], t)
        else:
            if c >= before:
                c = math.nextafter(before, -_INF)
            if c < st.cums[0]:
                st = self._extend_until_cum(c)
            r = min(c + st.shifts[bisect_right(st.cums, c) - 1], t)
        return _from_epoch(r, dt.tzinfo)

    # ------------------------------------------------------------------ gap classification

    def _classify(self, raw: list[tuple[float, float]]) -> list[Gap]:
        tz = self.timezone
        pieces: list[tuple[float, float, GapKind, str | None]] = []
        for g0, g1 in raw:
            cursor = g0
            day = datetime.fromtimestamp(g0, tz).date()
            while cursor < g1:
                next_midnight = self._local_midnight(day + _ONE_DAY)
                piece_end = min(g1, next_midnight)
                if piece_end > cursor:
                    kind, name = self._day_kind(day)
                    if pieces and pieces[-1][1] == cursor and pieces[-1][2:] == (kind, name):
                        pieces[-1] = (pieces[-1][0], piece_end, kind, name)
                    else:
                        pieces.append((cursor, piece_end, kind, name))
                    cursor = piece_end
                day += _ONE_DAY
        return [
            Gap(
                start=datetime.fromtimestamp(s, _UTC),
                end=datetime.fromtimestamp(e, _UTC),
                kind=kind,
                name=name,
            )
            for s, e, kind, name in pieces
        ]

    def _day_kind(self, day: date) -> tuple[GapKind, str | None]:
        name = self._holidays.name(day)
        if name is not None:
            return "holiday", name
        if not self._windows[day.weekday()]:
            return "weekend", None
        return "closed", None

    def _local_midnight(self, day: date) -> float:
        return datetime(day.year, day.month, day.day, tzinfo=self.timezone).timestamp()

    # ------------------------------------------------------------------ precomputation

    def _cover(self, t0: float, t1: float) -> _State:
        """Return a snapshot covering [t0, t1], extending the precomputed years if needed."""
        st = self._state
        if st.lo <= t0 and t1 < st.hi:
            return st
        y0, y1 = _utc_year_of(t0), _utc_year_of(t1)
        with self._lock:
            st = self._state
            self._check_span(min(y0, st.first_year) if st.points else y0, max(y1, st.last_year))
            if not st.points:  # nothing built yet
                st = self._extend(st, forward=True, first=y0, stop=lambda nxt: nxt.last_year >= y1)
            if y0 < st.first_year:
                st = self._extend(st, forward=False, first=st.first_year - 1, stop=lambda nxt: nxt.first_year <= y0)
            if y1 > st.last_year:
                st = self._extend(st, forward=True, first=st.last_year + 1, stop=lambda nxt: nxt.last_year >= y1)
            return self._publish(st)

    def _extend_until_cum(self, c: float) -> _State:
        """Return a snapshot whose cumulative business time reaches c (an add's target)."""
        with self._lock:
            st = self._state
            if c > st.cums[-1]:
                st = self._extend(st, forward=True, first=st.last_year + 1, stop=lambda nxt: nxt.last_cum >= c)
            elif c < st.cums[0]:
                st = self._extend(st, forward=False, first=st.first_year - 1, stop=lambda nxt: nxt.first_cum <= c)
            return self._publish(st)

    def _check_span(self, first_year: int, last_year: int) -> None:
        if last_year - first_year >= _MAX_YEARS_BUILT:
            raise ValueError(
                f"business time on calendar {self.name!r} would span more than {_MAX_YEARS_BUILT} "
                f"years ({first_year}..{last_year}); use instants closer together"
            )

    def _publish(self, st: _State) -> _State:
        # Readers take `_hot` in one attribute read, so they see the old or the new lists,
        # never a mix; `_state` is only read under the lock or for its coverage bounds.
        if st is not self._state:
            self._state = st
            self._hot = (st.lo, st.hi, st.points, st.cums, st.shifts, st.days)
        return st

    def _extend(self, st: _State, *, forward: bool, first: int, stop: Callable[[_Probe], bool]) -> _State:
        """Return st extended year by year from `first` until stop(probe) holds.

        The new years are collected first and joined to the old lists once, so a long
        extension costs O(years), not O(years squared).
        """
        points, cums = list(st.points), list(st.cums)
        lo, hi, first_year, last_year = st.lo, st.hi, st.first_year, st.last_year
        if not points:  # start from nothing: an empty range at the start of `first`
            lo = hi = _utc_year_start(first)
            points, cums = [lo] + [_INF] * _GUARD, [0] * (1 + _GUARD)
            first_year, last_year = first, first - 1
        new: list[tuple[float, float]] = []
        total: float = 0
        year = first
        while True:
            if not _MIN_YEAR <= year <= _MAX_YEAR:
                raise ValueError(
                    f"business time on calendar {self.name!r} reaches beyond the years {_MIN_YEAR}..{_MAX_YEAR}"
                )
            self._check_span(min(first_year, year), max(last_year, year))
            block = self._year_intervals(year)
            total += sum(e - s for s, e in block)
            if forward:
                new.extend(block)
                last_year = year
                probe = _Probe(first_year, last_year, cums[0], cums[-1] + total)
            else:
                new[:0] = block
                first_year = year
                probe = _Probe(first_year, last_year, cums[0] - total, cums[-1])
            if stop(probe):
                break
            year += 1 if forward else -1
        if forward:
            hi = _utc_year_start(last_year + 1) if last_year < _MAX_YEAR else _EPOCH_MAX
            del points[-_GUARD:], cums[-_GUARD:]  # the +inf guards
            base = cums[-1]
            for s, e in new:
                if len(points) > 1 and points[-1] == s:  # touches the last window: join
                    points.pop()
                    cums.pop()
                else:
                    points.append(s)
                    cums.append(base)
                base += e - s
                points.append(e)
                cums.append(base)
            points += [_INF] * _GUARD
            cums += [base] * _GUARD
        else:
            lo = _utc_year_start(first_year)
            base = cums[0] - total
            head_points: list[float] = [lo]
            head_cums = [base]
            for s, e in new:
                head_points.append(s)
                head_cums.append(base)
                base += e - s
                head_points.append(e)
                head_cums.append(base)
            old_points, old_cums = points[1:], cums[1:]  # without the old lo sentinel
            if len(head_points) > 1 and head_points[-1] == old_points[0]:  # join at the seam
                head_points.pop()
                head_cums.pop()
                del old_points[0], old_cums[0]
            points = head_points + old_points
            cums = head_cums + old_cums
        shifts = [p - c for p, c in zip(points, cums, strict=True)]
        days = [bisect_right(points, day) for day in range(lo, hi + 1, _DAY)]
        return _State(lo, hi, points, cums, shifts, days, first_year, last_year)

    def _year_intervals(self, year: int) -> list[tuple[float, float]]:
        """Return the open intervals of one UTC year, in epoch seconds, sorted and joined."""
        lo = _utc_year_start(year)
        hi = _utc_year_start(year + 1) if year < _MAX_YEAR else _EPOCH_MAX
        tz = self.timezone
        # Local dates whose windows or holidays can reach into the UTC year: offsets are
        # under a day and a window ends at most two local days after its date starts.
        first = date(year, 1, 1) - timedelta(days=3) if year > _MIN_YEAR else date.min
        last = date(year, 12, 31) + timedelta(days=2) if year < _MAX_YEAR else date.max
        opened: list[tuple[float, float]] = []
        closed: list[tuple[float, float]] = []
        day = first
        while True:
            try:
                base = datetime(day.year, day.month, day.day, tzinfo=tz)
                for s, e in self._windows[day.weekday()]:
                    opened.append(
                        (
                            _whole((base + timedelta(seconds=s)).timestamp()),
                            _whole((base + timedelta(seconds=e)).timestamp()),
                        )
                    )
                if self._holidays and self._holidays.name(day) is not None:
                    closed.append((_whole(base.timestamp()), _whole((base + _ONE_DAY).timestamp())))
            except (OverflowError, ValueError):  # only at the very ends of datetime's range
                pass
            if day >= last:
                break
            day += _ONE_DAY
        intervals = _subtract(_merge(opened), _merge(closed))
        return [(max(s, lo), min(e, hi)) for s, e in intervals if e > lo and s < hi]


_EPOCH_MAX = (datetime(9999, 12, 31, 23, 59, 59, tzinfo=_UTC) - _EPOCH) // timedelta(seconds=1) + 1


def _whole(t: float) -> float:
    """Return an epoch instant as an int when it is whole seconds (window edges always are)."""
    return int(t) if t.is_integer() else t


def _subtract(opened: list[tuple[float, float]], closed: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Return sorted, disjoint `opened` minus sorted, disjoint `closed`."""
    if not closed:
        return opened
    result: list[tuple[float, float]] = []
    j = 0
    for s, e in opened:
        while j < len(closed) and closed[j][1] <= s:
            j += 1
        k = j
        while s < e:
            if k >= len(closed) or closed[k][0] >= e:
                result.append((s, e))
                break
            cs, ce = closed[k]
            if cs > s:
                result.append((s, cs))
            s = max(s, ce)
            k += 1
    return result


def zone_named(name: str) -> ZoneInfo:
    """Return the IANA time zone of that name; raise ValueError naming it (shortened) when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise ValueError(f"unknown time zone {name[:60]!r} (use an IANA name such as America/New_York)") from None


def _parse_zone(value: object) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str) or not value.strip():
        raise CalendarSpecError("timezone", f"expected an IANA zone name such as Europe/London, got {value!r}")
    try:
        return zone_named(value.strip())
    except ValueError:
        raise CalendarSpecError("timezone", f"{value!r} is not an IANA time zone") from None


def _freeze(spec: object) -> object:
    """Return a private deep copy of a spec made of mappings, lists and scalars."""
    if isinstance(spec, Mapping):
        return {key: _freeze(value) for key, value in spec.items()}
    if isinstance(spec, list | tuple):
        return [_freeze(value) for value in spec]
    return spec


def _rebuild(spec: Any, name: str) -> BusinessCalendar:
    return BusinessCalendar.from_config(spec, name=name)
