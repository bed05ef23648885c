"""Business-time cases: the public table re-derived under DESIGN.md §4, plus edge cases.

The table rows (B*, P*, E*, G*, D*) come from ../shared/reference/business-time-cases.md (beside the project).
Naive source datetimes ("naive(UTC)", "naive(server)") are expressed as UTC here.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest

from connector.rules.calendar import BusinessCalendar, CalendarSpecError, Gap

UTC = UTC
HOUR = 3600

NINE_TO_FIVE = {"mon-fri": ["09:00-17:00"]}
NINE_TO_SIX_LUNCH = {"mon-fri": ["09:00-12:00", "13:00-18:00"]}
TEN_TO_SIX = {"mon-fri": ["10:00-18:00"]}

# Every schedule used by the table, by name.
SCHEDULES: dict[str, dict[str, Any] | str] = {
    "9-17 utc": {"hours": NINE_TO_FIVE},
    "9-18 lunch utc": {"hours": NINE_TO_SIX_LUNCH},
    "9-18 lunch utc, US-CA": {
        "hours": NINE_TO_SIX_LUNCH,
        "holidays": {"country": "US", "subdiv": "CA"},
    },
    "9-18 lunch santiago": {"timezone": "America/Santiago", "hours": NINE_TO_SIX_LUNCH},
    "9-17 + night 23-07 utc": {"hours": {"mon-fri": ["09:00-17:00", "23:00-07:00"]}},
    "night 23-01 utc": {"hours": {"mon-fri": ["23:00-01:00"]}},
    "9-17 utc, pandas dates": {
        "hours": NINE_TO_FIVE,
        "holidays": {"dates": ["2014-06-27", "2014-06-30", "2014-07-02"]},
    },
    "9-17 utc, US": {"hours": NINE_TO_FIVE, "holidays": {"country": "US"}},
    "mon-sat 8-17 utc, 2018-11-09": {
        "hours": {"mon-sat": ["08:00-17:00"]},
        "holidays": {"dates": ["2018-11-09"]},
    },
    "9-12 + 14-18 utc": {"hours": {"mon-fri": ["09:00-12:00", "14:00-18:00"]}},
    "night 21-02 utc": {"hours": {"mon-fri": ["21:00-02:00"]}},
    "10-18 utc, erpnext dates": {
        "hours": TEN_TO_SIX,
        "holidays": {"dates": ["2019-03-05", "2019-03-07", "2019-02-11"]},
    },
    "10-18 utc": {"hours": TEN_TO_SIX},
    "9-17 new york, US": {
        "timezone": "America/New_York",
        "hours": NINE_TO_FIVE,
        "holidays": {"country": "US", "observed": True},
    },
    "24x7 new york": {"timezone": "America/New_York", "hours": "24x7"},
    "00-00 daily new york": {"timezone": "America/New_York", "hours": {"daily": ["00:00-00:00"]}},
    "9-17 london, GB-ENG": {
        "timezone": "Europe/London",
        "hours": NINE_TO_FIVE,
        "holidays": {"country": "UK", "subdiv": "ENG"},
    },
    "9-17 los angeles, US-CA": {
        "timezone": "America/Los_Angeles",
        "hours": NINE_TO_FIVE,
        "holidays": {"country": "US", "subdiv": "CA"},
    },
}


def cal(schedule: str) -> BusinessCalendar:
    return BusinessCalendar.from_config(SCHEDULES[schedule], name=schedule)


def at(text: str, zone: str = "UTC") -> datetime:
    """Parse 'YYYY-MM-DD HH:MM[:SS]' as a wall time in an IANA zone (fold=0)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


class Case(NamedTuple):
    id: str
    schedule: str
    op: str  # "add" (negative amount = sub), "between", or "add paused" (E7)
    start: datetime
    # add: seconds; between: the end instant; add paused: (seconds, pause start, pause end)
    arg: datetime | float | tuple[float, datetime, datetime]
    expected: datetime | int  # instant (and offset) for add, business seconds for between


CASES = [
    # businesstimedelta
    Case("B1 start on saturday", "9-17 utc", "add", at("2016-01-23 13:14"), 2 * HOUR, at("2016-01-25 11:00")),
    Case("B2 lands on close", "9-17 utc", "add", at("2016-01-22 09:00"), 8 * HOUR, at("2016-01-22 17:00")),
    Case("B3 over a weekend", "9-17 utc", "add", at("2016-01-23 13:14"), 12 * HOUR, at("2016-01-26 13:00")),
    Case("B4 sub over weekend", "9-17 utc", "add", at("2016-01-25 11:14"), -8 * HOUR, at("2016-01-22 11:14")),
    Case("B5 seconds", "9-17 utc", "between", at("2016-01-20 10:00"), at("2016-01-21 10:00:05"), 28805),
    Case("B6 lunch break", "9-18 lunch utc", "between", at("2016-01-18 09:00"), at("2016-01-25 09:00"), 144000),
    Case(
        "B7 lands on friday close", "9-18 lunch utc", "add", at("2016-01-18 09:00"), 40 * HOUR, at("2016-01-22 18:00")
    ),
    Case(
        "B8 christmas friday",
        "9-18 lunch utc, US-CA",
        "between",
        at("2015-12-21 09:00"),
        at("2015-12-28 09:00"),
        115200,
    ),
    Case(
        "B9 zone differs from input",
        "9-18 lunch santiago",
        "between",
        at("2016-01-18 09:00", "America/Los_Angeles"),
        at("2016-01-18 18:00", "America/Los_Angeles"),
        14400,
    ),
    Case(
        "B10 overnight belongs to start day",
        "9-17 + night 23-07 utc",
        "between",
        at("2016-01-18 09:00"),
        at("2016-01-25 09:00"),
        288000,
    ),
    Case("B11 overnight", "night 23-01 utc", "between", at("2016-01-21 10:00"), at("2016-01-22 10:00"), 7200),
    # pandas CustomBusinessHour
    Case(
        "P1 seconds carried",
        "9-17 utc, pandas dates",
        "add",
        at("2014-07-01 16:30:15"),
        1 * HOUR,
        at("2014-07-03 09:30:15"),
    ),
    Case(
        "P2 over a holiday", "9-17 utc, pandas dates", "add", at("2014-07-01 16:00"), 4 * HOUR, at("2014-07-03 12:00")
    ),
    Case(
        "P3 close not next open",
        "9-17 utc, pandas dates",
        "add",
        at("2014-07-01 13:00"),
        4 * HOUR,
        at("2014-07-01 17:00"),
    ),
    Case("P4 MLK day", "9-17 utc, US", "add", at("2014-01-17 15:00"), 8 * HOUR, at("2014-01-21 15:00")),
    Case(
        "P5 saturday working",
        "mon-sat 8-17 utc, 2018-11-09",
        "add",
        at("2018-11-08 08:00"),
        10 * HOUR,
        at("2018-11-10 09:00"),
    ),
    Case("P6 split shift", "9-12 + 14-18 utc", "add", at("2014-07-01 11:00"), 4 * HOUR, at("2014-07-01 17:00")),
    Case(
        "P7 overnight from saturday",
        "night 21-02 utc",
        "add",
        at("2014-07-05 01:00"),
        28 * HOUR,
        at("2014-07-14 23:00"),
    ),
    Case("P8 negative", "9-17 utc", "add", at("2014-07-01 11:00"), -4 * HOUR, at("2014-06-30 15:00")),
    # ERPNext SLA tests
    Case(
        "E1 lands on close", "10-18 utc, erpnext dates", "add", at("2019-03-04 12:00"), 6 * HOUR, at("2019-03-04 18:00")
    ),
    Case(
        "E2 after hours then holiday",
        "10-18 utc, erpnext dates",
        "add",
        at("2019-03-04 20:00"),
        4 * HOUR,
        at("2019-03-06 14:00"),
    ),
    Case(
        "E3 spans a holiday",
        "10-18 utc, erpnext dates",
        "add",
        at("2019-03-04 14:00"),
        6 * HOUR,
        at("2019-03-06 12:00"),
    ),
    Case("E4 from before opening", "10-18 utc", "between", at("2021-06-28 06:00"), at("2021-07-01 11:00"), 90000),
    Case("E5 to before opening", "10-18 utc", "between", at("2021-06-28 12:00"), at("2021-06-29 06:00"), 21600),
    Case("E6 weekend is zero", "10-18 utc", "between", at("2021-06-25 20:00"), at("2021-06-27 11:00"), 0),
    # ERPNext adds the wall-clock hold time (16:50); a pause only removes business time, and
    # 04:15-05:05 holds none: due = add(start, 6 h + between(pause start, pause end)).
    Case(
        "E7 pause outside hours",
        "10-18 utc",
        "add paused",
        at("2020-03-04 04:00"),
        (6 * HOUR, at("2020-03-04 04:15"), at("2020-03-04 05:05")),
        at("2020-03-04 16:00"),
    ),
    # seatgeek/businesstime
    Case("G1 over MLK day", "9-17 utc, US", "between", at("2014-01-16 18:30"), at("2014-01-22 10:00"), 61200),
    Case("G2 friday to sunday", "9-17 utc, US", "between", at("2014-01-10 16:15"), at("2014-01-12 12:30"), 2700),
    Case("G3 from saturday", "9-17 utc, US", "between", at("2014-08-09 09:00"), at("2014-08-11 23:00"), 28800),
    # DST and holidays
    Case(
        "D1 spring forward weekend",
        "9-17 new york, US",
        "add",
        at("2024-03-08 16:00", "America/New_York"),
        2 * HOUR,
        at("2024-03-11 10:00", "America/New_York"),
    ),
    Case(
        "D2 71 wall hours apart",
        "9-17 new york, US",
        "between",
        at("2024-03-08 12:00", "America/New_York"),
        at("2024-03-11 12:00", "America/New_York"),
        28800,
    ),
    Case(
        "D3 fall back weekend",
        "9-17 new york, US",
        "add",
        at("2024-11-01 15:00", "America/New_York"),
        4 * HOUR,
        at("2024-11-04 11:00", "America/New_York"),
    ),
    Case(
        "D4 23-hour day",
        "24x7 new york",
        "between",
        at("2024-03-10 00:00", "America/New_York"),
        at("2024-03-11 00:00", "America/New_York"),
        82800,
    ),
    Case(
        "D4 23-hour day, 00:00-00:00 daily",
        "00-00 daily new york",
        "between",
        at("2024-03-10 00:00", "America/New_York"),
        at("2024-03-11 00:00", "America/New_York"),
        82800,
    ),
    Case(
        "D5 25-hour day",
        "24x7 new york",
        "between",
        at("2024-11-03 00:00", "America/New_York"),
        at("2024-11-04 00:00", "America/New_York"),
        90000,
    ),
    Case(
        "D5 25-hour day, 00:00-00:00 daily",
        "00-00 daily new york",
        "between",
        at("2024-11-03 00:00", "America/New_York"),
        at("2024-11-04 00:00", "America/New_York"),
        90000,
    ),
    Case(
        "D10 good friday, BST, easter monday",
        "9-17 london, GB-ENG",
        "add",
        at("2024-03-28 12:00", "Europe/London"),
        8 * HOUR,
        at("2024-04-02 12:00", "Europe/London"),
    ),
    Case(
        "D11 cesar chavez observed",
        "9-17 los angeles, US-CA",
        "add",
        at("2024-03-29 15:00", "America/Los_Angeles"),
        4 * HOUR,
        at("2024-04-02 11:00", "America/Los_Angeles"),
    ),
    Case(
        "D12 july 4 observed friday",
        "9-17 new york, US",
        "add",
        at("2026-07-02 15:00", "America/New_York"),
        4 * HOUR,
        at("2026-07-06 11:00", "America/New_York"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_published_case(case: Case) -> None:
    calendar = cal(case.schedule)
    if case.op == "add paused":
        assert isinstance(case.arg, tuple)
        target, pause_start, pause_end = case.arg
        paused = calendar.between(pause_start, pause_end)
        assert paused == 0
        assert calendar.add(case.start, target + paused) == case.expected
    elif case.op == "between":
        assert isinstance(case.arg, datetime)
        got = calendar.between(case.start, case.arg)
        assert got == case.expected
        assert type(got) is int
        assert calendar.between(case.arg, case.start) == -got
    else:
        assert isinstance(case.arg, int | float) and isinstance(case.expected, datetime)
        got = calendar.add(case.start, case.arg)
        assert got == case.expected  # same instant
        assert got.utcoffset() == case.expected.utcoffset()  # shown in the expected local offset
        assert got.tzinfo is case.start.tzinfo  # in the input's zone
        assert calendar.between(case.start, got) == case.arg


# --------------------------------------------------------------------------- add / between edges


def test_add_zero_is_identity_even_when_closed() -> None:
    calendar = cal("9-17 utc")
    for dt in (
        at("2016-01-23 13:14"),
        at("2016-01-22 10:00"),
        at("2016-01-22 17:00"),
        at("2016-01-22 03:00:00.250000"),
        at("2016-01-22 09:00", "Asia/Tokyo"),
    ):
        got = calendar.add(dt, 0)
        assert got is dt
        assert calendar.add(dt, 0.0) is dt


def test_result_exactly_on_close_is_the_close() -> None:
    calendar = cal("9-17 utc")
    assert calendar.add(at("2016-01-22 16:00"), HOUR) == at("2016-01-22 17:00")
    # and from a closed instant before opening
    assert calendar.add(at("2016-01-22 06:00"), 8 * HOUR) == at("2016-01-22 17:00")


def test_negative_add_landing_on_open_is_the_open() -> None:
    calendar = cal("9-17 utc")
    assert calendar.add(at("2016-01-26 11:00"), -2 * HOUR) == at("2016-01-26 09:00")
    # from after closing: a whole day back lands on that day's opening, not the previous close
    assert calendar.add(at("2016-01-26 20:00"), -8 * HOUR) == at("2016-01-26 09:00")
    # across a weekend back to friday's opening
    assert calendar.add(at("2016-01-25 10:00"), -9 * HOUR) == at("2016-01-22 09:00")


def test_seconds_and_fractions_are_carried() -> None:
    calendar = cal("9-17 utc")
    start = at("2016-01-22 16:59:59.250000")
    got = calendar.add(start, 1.5)
    assert got == at("2016-01-25 09:00:00.750000")
    value = calendar.between(start, got)
    assert type(value) is float
    assert value == pytest.approx(1.5, abs=1e-6)
    assert calendar.between(at("2016-01-22 09:00"), at("2016-01-22 09:00:01")) == 1


def test_between_is_signed_and_zero_for_equal_instants() -> None:
    calendar = cal("9-17 utc")
    a, b = at("2016-01-20 10:00"), at("2016-01-21 10:00:05")
    assert calendar.between(b, a) == -28805
    assert calendar.between(a, a) == 0


def test_is_open_start_inclusive_end_exclusive() -> None:
    calendar = cal("9-17 utc")
    assert calendar.is_open(at("2016-01-22 09:00"))
    assert calendar.is_open(at("2016-01-22 16:59:59.999999"))
    assert not calendar.is_open(at("2016-01-22 17:00"))
    assert not calendar.is_open(at("2016-01-22 08:59:59"))
    assert not calendar.is_open(at("2016-01-23 12:00"))


def test_overnight_window_joined_with_next_morning() -> None:
    # Monday's 20:00-02:00 overlaps Tuesday's 01:00-05:00: 01:00-02:00 counts once.
    calendar = BusinessCalendar.from_config({"hours": {"mon": ["20:00-02:00"], "tue": ["01:00-05:00"]}})
    assert calendar.between(at("2016-01-18 12:00"), at("2016-01-19 12:00")) == 9 * HOUR
    assert calendar.add(at("2016-01-18 20:00"), 9 * HOUR) == at("2016-01-19 05:00")
    assert calendar.is_open(at("2016-01-19 01:30"))
    # one stretch, so no gap between the two windows
    gaps = calendar.gaps(at("2016-01-18 20:00"), at("2016-01-19 05:00"))
    assert gaps == []


def test_same_day_listed_twice_gets_the_union() -> None:
    calendar = BusinessCalendar.from_config(
        {"hours": {"mon-fri": ["09:00-12:00"], "mon,wed": ["11:00-14:00"], "daily": ["13:00-13:30"]}}
    )
    assert calendar.between(at("2016-01-18 00:00"), at("2016-01-19 00:00")) == 5 * HOUR  # mon: 9-14
    assert calendar.between(at("2016-01-19 00:00"), at("2016-01-20 00:00")) == 3.5 * HOUR  # tue
    assert calendar.between(at("2016-01-23 00:00"), at("2016-01-24 00:00")) == 1800  # sat


def test_holiday_cuts_overnight_window_after_midnight() -> None:
    calendar = BusinessCalendar.from_config(
        {"hours": {"mon-fri": ["22:00-06:00"]}, "holidays": {"dates": ["2016-01-19"]}}
    )
    # Monday's shift keeps 22:00-24:00 only: Tuesday 00:00-06:00 is on the holiday. Tuesday's
    # own shift loses 22:00-24:00 but keeps Wednesday 00:00-06:00, which is not a holiday.
    assert calendar.between(at("2016-01-18 20:00"), at("2016-01-20 12:00")) == 2 * HOUR + 6 * HOUR
    assert calendar.add(at("2016-01-18 23:00"), 2 * HOUR) == at("2016-01-20 01:00")
    assert not calendar.is_open(at("2016-01-19 01:00"))
    assert not calendar.is_open(at("2016-01-19 23:00"))
    assert calendar.is_open(at("2016-01-20 00:00"))
    kinds = [(g.kind, g.start, g.end) for g in calendar.gaps(at("2016-01-18 20:00"), at("2016-01-20 12:00"))]
    assert kinds == [
        ("closed", at("2016-01-18 20:00"), at("2016-01-18 22:00")),
        ("holiday", at("2016-01-19 00:00"), at("2016-01-20 00:00")),
        ("closed", at("2016-01-20 06:00"), at("2016-01-20 12:00")),
    ]


def test_hours_with_seconds_and_24_00() -> None:
    calendar = BusinessCalendar.from_config({"hours": {"mon": ["09:00:30-17:00:15", "23:00-24:00"]}})
    assert calendar.between(at("2016-01-18 00:00"), at("2016-01-19 00:00")) == 8 * HOUR - 15 + HOUR


def test_wrap_around_day_range() -> None:
    calendar = BusinessCalendar.from_config({"hours": {"fri-mon": ["10:00-11:00"]}})
    week = calendar.between(at("2016-01-18 00:00"), at("2016-01-25 00:00"))
    assert week == 4 * HOUR  # fri, sat, sun, mon


def test_huge_add_terminates_with_value_error() -> None:
    calendar = cal("9-17 utc")
    with pytest.raises(ValueError, match="1..9999"):
        calendar.add(at("2016-01-22 10:00"), 1e15)
    with pytest.raises(ValueError, match="1..9999"):
        calendar.add(at("2016-01-22 10:00"), -1e12)
    with pytest.raises(ValueError):
        calendar.add(at("2016-01-22 10:00"), float("nan"))
    with pytest.raises(ValueError):
        calendar.add(at("2016-01-22 10:00"), float("inf"))


def test_long_add_far_ahead_and_back() -> None:
    calendar = cal("9-17 new york, US")
    start = at("2026-03-02 10:00", "America/New_York")
    far = calendar.add(start, 8 * HOUR * 250 * 40)  # about 40 working years
    assert far.year in (2065, 2066)
    assert calendar.between(start, far) == 8 * HOUR * 250 * 40
    back = calendar.add(start, -8 * HOUR * 250 * 30)
    assert back.year in (1995, 1996)
    assert calendar.between(back, start) == 8 * HOUR * 250 * 30


def test_spans_cost_the_same_whatever_the_order_of_first_use() -> None:
    # Lazily built years, extended backwards then forwards, agree with a fresh calendar.
    fresh = cal("9-17 new york, US")
    used = cal("9-17 new york, US")
    used.between(at("2030-06-01 00:00"), at("2031-06-01 00:00"))
    used.between(at("2001-06-01 00:00"), at("2002-06-01 00:00"))
    a, b = at("2010-01-04 10:00", "America/New_York"), at("2040-12-28 16:30", "America/New_York")
    assert used.between(a, b) == fresh.between(a, b)
    assert used.add(a, 3_000_000) == fresh.add(a, 3_000_000)


# --------------------------------------------------------------------------- DST and zones


NY = "America/New_York"


def test_window_edge_in_dst_gap_moves_forward() -> None:
    # 2024-03-10 (a Sunday) in New York: 02:00-03:00 does not exist.
    calendar = BusinessCalendar.from_config({"timezone": NY, "hours": {"sun": ["02:30-05:00"]}})
    day = at("2024-03-10 00:00", NY), at("2024-03-11 00:00", NY)
    assert calendar.between(*day) == 5400  # 03:30 EDT to 05:00 EDT
    assert not calendar.is_open(datetime(2024, 3, 10, 7, 15, tzinfo=UTC))  # 03:15 EDT
    assert calendar.is_open(datetime(2024, 3, 10, 7, 30, tzinfo=UTC))  # 03:30 EDT
    assert calendar.between(at("2024-03-17 00:00", NY), at("2024-03-18 00:00", NY)) == 2.5 * HOUR


def test_window_entirely_inside_dst_gap_is_empty() -> None:
    calendar = BusinessCalendar.from_config({"timezone": NY, "hours": {"sun": ["02:30-03:00", "09:00-10:00"]}})
    assert calendar.between(at("2024-03-10 00:00", NY), at("2024-03-11 00:00", NY)) == HOUR
    assert calendar.between(at("2024-03-17 00:00", NY), at("2024-03-18 00:00", NY)) == 1.5 * HOUR


def test_window_edge_in_repeated_hour_takes_first_occurrence() -> None:
    # 2024-11-03 (a Sunday) in New York: 01:00-02:00 happens twice.
    first_half = BusinessCalendar.from_config({"timezone": NY, "hours": {"sun": ["01:00-01:30"]}})
    day = at("2024-11-03 00:00", NY), at("2024-11-04 00:00", NY)
    assert first_half.between(*day) == 1800  # 01:00-01:30 EDT only
    across = BusinessCalendar.from_config({"timezone": NY, "hours": {"sun": ["01:30-02:00"]}})
    assert across.between(*day) == 5400  # 01:30 EDT to 02:00 EST
    assert across.is_open(datetime(2024, 11, 3, 1, 45, fold=1, tzinfo=ZoneInfo(NY)))


def test_one_days_windows_are_joined_as_wall_times_before_conversion() -> None:
    # On 2026-03-29 London skips 01:00-02:00. Alone, "00:00-01:15" would end at 01:15 GMT
    # (02:15 BST, moved forward), later than "00:00-02:00" (02:00 BST); joined as wall
    # times first, the day is just 00:00-02:00, the same as writing that window alone.
    zone = "Europe/London"
    both = BusinessCalendar.from_config({"timezone": zone, "hours": {"sun": ["00:00-01:15", "00:00-02:00"]}})
    alone = BusinessCalendar.from_config({"timezone": zone, "hours": {"sun": ["00:00-02:00"]}})
    day = at("2026-03-29 00:00", zone), at("2026-03-30 00:00", zone)
    assert both.between(*day) == alone.between(*day) == HOUR
    only_early = BusinessCalendar.from_config({"timezone": zone, "hours": {"sun": ["00:00-01:15"]}})
    assert only_early.between(*day) == 4500  # 00:00 GMT to 01:15 GMT (= 02:15 BST)


def test_working_day_containing_the_switch_is_real_time() -> None:
    calendar = BusinessCalendar.from_config({"timezone": NY, "hours": {"daily": ["00:30-04:00"]}})
    assert calendar.between(at("2024-03-10 00:00", NY), at("2024-03-11 00:00", NY)) == 2.5 * HOUR
    assert calendar.between(at("2024-11-03 00:00", NY), at("2024-11-04 00:00", NY)) == 4.5 * HOUR
    assert calendar.add(at("2024-03-10 00:30", NY), 2 * HOUR) == at("2024-03-10 03:30", NY)


@pytest.mark.parametrize(
    ("zone", "day", "seconds"),
    [
        ("Europe/London", "2024-03-31", 23 * HOUR),
        ("Europe/London", "2024-10-27", 25 * HOUR),
        ("Australia/Lord_Howe", "2024-10-06", 23.5 * HOUR),  # 30-minute DST
        ("Australia/Lord_Howe", "2024-04-07", 24.5 * HOUR),
        ("Asia/Kolkata", "2024-03-31", 24 * HOUR),  # no DST
        ("America/Santiago", "2024-09-08", 23 * HOUR),  # switch at midnight
    ],
)
def test_whole_day_length_follows_the_zone(zone: str, day: str, seconds: float) -> None:
    calendar = BusinessCalendar.from_config({"timezone": zone, "hours": {"daily": ["00:00-00:00"]}})
    start = datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(zone))
    end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=ZoneInfo(zone))
    assert calendar.between(start, end) == seconds


def test_london_working_week_over_the_bst_switch() -> None:
    calendar = BusinessCalendar.from_config({"timezone": "Europe/London", "hours": NINE_TO_FIVE})
    friday = at("2024-03-29 16:00", "Europe/London")
    got = calendar.add(friday, 2 * HOUR)
    assert got == at("2024-04-01 10:00", "Europe/London")
    assert got.utcoffset() == timedelta(hours=1)


def test_lord_howe_half_hour_shift_inside_a_window() -> None:
    zone = "Australia/Lord_Howe"
    # 2024-10-06 is a Sunday; 02:00 jumps to 02:30.
    calendar = BusinessCalendar.from_config({"timezone": zone, "hours": {"sun": ["01:00-04:00"]}})
    assert calendar.between(at("2024-10-06 00:00", zone), at("2024-10-07 00:00", zone)) == 2.5 * HOUR
    assert calendar.add(at("2024-10-06 01:30", zone), 1800) == at("2024-10-06 02:30", zone)


def test_zone_without_dst() -> None:
    zone = "Asia/Kolkata"
    calendar = BusinessCalendar.from_config({"timezone": zone, "hours": NINE_TO_FIVE})
    got = calendar.add(at("2024-03-08 16:00", zone), 2 * HOUR)
    assert got == at("2024-03-11 10:00", zone)
    assert calendar.between(at("2024-01-01 00:00", zone), at("2025-01-01 00:00", zone)) == 262 * 8 * HOUR


def test_results_keep_the_input_tzinfo() -> None:
    calendar = cal("9-17 new york, US")
    ny, tokyo, fixed = ZoneInfo(NY), ZoneInfo("Asia/Tokyo"), timezone(timedelta(hours=5, minutes=30))
    base = datetime(2026, 3, 2, 15, tzinfo=UTC)  # 10:00 in New York
    for tz in (UTC, ny, tokyo, fixed):
        start = base.astimezone(tz)
        got = calendar.add(start, 8 * HOUR)
        assert got.tzinfo is tz
        assert got == datetime(2026, 3, 3, 15, tzinfo=UTC)
        assert calendar.add(start, -HOUR).tzinfo is tz
    mixed = calendar.between(base.astimezone(tokyo), datetime(2026, 3, 3, 15, tzinfo=UTC).astimezone(fixed))
    assert mixed == 8 * HOUR


# --------------------------------------------------------------------------- 24x7


def test_24x7_is_plain_arithmetic_in_utc() -> None:
    calendar = BusinessCalendar.from_config("24x7")
    assert calendar.always_open
    assert calendar.timezone == ZoneInfo("UTC")
    assert calendar.name == "calendar"
    start = at("2024-03-10 00:00", NY)
    assert calendar.add(start, 86400) == at("2024-03-11 01:00", NY)  # real seconds, not wall days
    assert calendar.between(start, at("2024-03-11 00:00", NY)) == 82800
    assert calendar.is_open(start)
    assert calendar.gaps(start, at("2024-03-12 00:00", NY)) == []
    assert calendar.holiday_name(date(2026, 12, 25)) is None


def test_24x7_with_holidays_is_not_always_open() -> None:
    calendar = BusinessCalendar.from_config(
        {"timezone": NY, "hours": "24x7", "holidays": {"country": "US"}}, name="always"
    )
    assert not calendar.always_open
    assert calendar.name == "always"
    assert calendar.between(at("2026-12-24 00:00", NY), at("2026-12-27 00:00", NY)) == 2 * 86400
    assert calendar.add(at("2026-12-24 23:00", NY), 2 * HOUR) == at("2026-12-26 01:00", NY)


def test_always_open_detected_from_daily_whole_days() -> None:
    assert BusinessCalendar.from_config({"hours": {"daily": ["00:00-24:00"]}}).always_open
    assert not BusinessCalendar.from_config({"hours": {"mon-sat": ["00:00-00:00"]}}).always_open


# --------------------------------------------------------------------------- gaps and holidays


def test_gaps_name_holidays_weekends_and_nights() -> None:
    calendar = BusinessCalendar.from_config(
        {"timezone": NY, "hours": NINE_TO_FIVE, "holidays": {"country": "US", "dates": ["2026-12-24"]}}
    )
    gaps = calendar.gaps(at("2026-12-23 16:00", NY), at("2026-12-28 10:00", NY))
    assert [(g.kind, g.name) for g in gaps] == [
        ("closed", None),  # wed 17:00-24:00
        ("holiday", "holiday"),  # thu 24th, an explicit date
        ("holiday", "Christmas Day"),  # fri 25th
        ("weekend", None),  # sat+sun merged
        ("closed", None),  # mon 00:00-09:00
    ]
    assert gaps[0].start == datetime(2026, 12, 23, 22, tzinfo=UTC)
    assert gaps[1].start == datetime(2026, 12, 24, 5, tzinfo=UTC)
    assert gaps[3].start == datetime(2026, 12, 26, 5, tzinfo=UTC)
    assert gaps[3].end == datetime(2026, 12, 28, 5, tzinfo=UTC)
    assert gaps[-1].end == datetime(2026, 12, 28, 14, tzinfo=UTC)
    assert all(g.start.tzinfo is UTC and g.end.tzinfo is UTC for g in gaps)
    # gaps plus business time fill the span exactly
    wall = (at("2026-12-28 10:00", NY) - at("2026-12-23 16:00", NY)).total_seconds()
    business = calendar.between(at("2026-12-23 16:00", NY), at("2026-12-28 10:00", NY))
    assert sum(g.seconds for g in gaps) + business == wall


def test_gaps_lunch_and_reverse_order() -> None:
    calendar = cal("9-18 lunch utc")
    gaps = calendar.gaps(at("2016-01-18 17:00"), at("2016-01-18 10:00"))
    assert gaps == [Gap(start=at("2016-01-18 12:00"), end=at("2016-01-18 13:00"), kind="closed")]
    assert calendar.gaps(at("2016-01-18 10:00"), at("2016-01-18 11:00")) == []


def test_gaps_clip_to_the_span_and_merge_nights() -> None:
    calendar = cal("9-17 utc")
    gaps = calendar.gaps(at("2016-01-19 20:00"), at("2016-01-20 10:00"))
    assert gaps == [Gap(start=at("2016-01-19 20:00"), end=at("2016-01-20 09:00"), kind="closed", name=None)]


def test_gap_is_frozen_slotted_keyword_only() -> None:
    gap = Gap(start=at("2016-01-19 20:00"), end=at("2016-01-20 09:00"), kind="closed", name=None)
    with pytest.raises(FrozenInstanceError):
        gap.kind = "weekend"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Gap(at("2016-01-19 20:00"), at("2016-01-20 09:00"), "closed", None)  # type: ignore[misc]
    assert not hasattr(gap, "__dict__")


def test_holiday_name() -> None:
    calendar = BusinessCalendar.from_config(
        {
            "timezone": NY,
            "hours": NINE_TO_FIVE,
            "holidays": {"country": "US", "dates": ["2026-12-24", date(2026, 12, 31)]},
        }
    )
    assert calendar.holiday_name(date(2026, 12, 25)) == "Christmas Day"
    assert calendar.holiday_name(date(2026, 12, 24)) == "holiday"
    assert calendar.holiday_name(date(2026, 12, 31)) == "holiday"
    assert calendar.holiday_name(date(2026, 7, 3)) == "Independence Day (observed)"
    assert calendar.holiday_name(date(2026, 12, 23)) is None
    not_observed = BusinessCalendar.from_config(
        {"hours": NINE_TO_FIVE, "holidays": {"country": "US", "observed": False}}
    )
    assert not_observed.holiday_name(date(2026, 7, 3)) is None


def test_holiday_dates_with_labels() -> None:
    calendar = BusinessCalendar.from_config(
        {"hours": NINE_TO_FIVE, "holidays": {"dates": {"2026-12-24": "Company day", "2026-12-31": None}}}
    )
    assert calendar.holiday_name(date(2026, 12, 24)) == "Company day"
    assert calendar.holiday_name(date(2026, 12, 31)) == "holiday"


def test_holidays_are_generated_lazily_per_year() -> None:
    calendar = cal("9-17 new york, US")
    package = calendar._holidays.package
    assert package is not None and len(package.years) == 0
    calendar.between(at("2026-03-02 10:00", NY), at("2026-03-03 10:00", NY))
    assert set(package.years) <= {2025, 2026, 2027}


# --------------------------------------------------------------------------- input errors


NAIVE = datetime(2016, 1, 22, 10)
AWARE = datetime(2016, 1, 22, 10, tzinfo=UTC)
NAIVE_CALLS: dict[str, Callable[[BusinessCalendar], object]] = {
    "add": lambda c: c.add(NAIVE, 60),
    "add zero": lambda c: c.add(NAIVE, 0),
    "between start": lambda c: c.between(NAIVE, AWARE),
    "between end": lambda c: c.between(AWARE, NAIVE),
    "gaps start": lambda c: c.gaps(NAIVE, AWARE),
    "gaps end": lambda c: c.gaps(AWARE, NAIVE),
    "is_open": lambda c: c.is_open(NAIVE),
}


@pytest.mark.parametrize("spec", [SCHEDULES["9-17 utc"], "24x7"], ids=["9-17", "24x7"])
@pytest.mark.parametrize("call", list(NAIVE_CALLS.values()), ids=list(NAIVE_CALLS))
def test_naive_datetimes_are_rejected(spec: Any, call: Callable[[BusinessCalendar], object]) -> None:
    calendar = BusinessCalendar.from_config(spec)
    with pytest.raises(ValueError, match="naive datetime 2016-01-22T10:00:00 has no time zone"):
        call(calendar)


def test_wrong_types_are_type_errors() -> None:
    calendar = cal("9-17 utc")
    with pytest.raises(TypeError):
        calendar.add(date(2016, 1, 22), 60)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        calendar.add(at("2016-01-22 10:00"), "60")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        calendar.between("2016-01-22", at("2016-01-22 10:00"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        calendar.holiday_name(at("2016-01-22 10:00"))


def _spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"timezone": NY, "hours": {"mon-fri": ["09:00-17:00"]}}
    spec.update(changes)
    return spec


BAD_SPECS = [
    ("bad window", _spec(hours={"mon-fri": ["25:00-26:00"]}), "hours.mon-fri[0]", "is not a window HH:MM-HH:MM"),
    ("bad second window", _spec(hours={"sat,sun": ["10:00-12:00", "9-5"]}), "hours.sat,sun[1]", "9-5"),
    ("minutes 60", _spec(hours={"mon": ["09:60-10:00"]}), "hours.mon[0]", "not a window"),
    ("24:00 start", _spec(hours={"mon": ["24:00-10:00"]}), "hours.mon[0]", "not a window"),
    ("24:30 end", _spec(hours={"mon": ["10:00-24:30"]}), "hours.mon[0]", "not a window"),
    ("window not text", _spec(hours={"mon": [900]}), "hours.mon[0]", "expected a window"),
    ("windows not a list", _spec(hours={"mon": {"a": 1}}), "hours.mon", "list of windows"),
    ("bad day", _spec(hours={"mon-fry": ["09:00-17:00"]}), "hours.mon-fry", "not a day spec"),
    ("empty day", _spec(hours={"mon,": ["09:00-17:00"]}), "hours.mon,", "not a day spec"),
    ("day not text", _spec(hours={1: ["09:00-17:00"]}), "hours.1", "day spec"),
    ("hours wrong type", _spec(hours=["09:00-17:00"]), "hours", "24x7"),
    ("hours wrong string", _spec(hours="24/7"), "hours", "24x7"),
    ("no working time", _spec(hours={"mon-fri": []}), "hours", "no working time"),
    ("missing hours", {"timezone": NY}, "hours", "missing"),
    ("unknown zone", _spec(timezone="Mars/Olympus"), "timezone", "not an IANA time zone"),
    ("zone not text", _spec(timezone=5), "timezone", "IANA zone"),
    ("zone path", _spec(timezone="../etc/passwd"), "timezone", "not an IANA time zone"),
    ("unknown key", _spec(hour={"mon": []}), "hour", "unknown key"),
    ("holidays wrong type", _spec(holidays=["US"]), "holidays", "mapping"),
    ("unknown holidays key", _spec(holidays={"country": "US", "region": "CA"}), "holidays.region", "unknown key"),
    ("unknown country", _spec(holidays={"country": "XX"}), "holidays.country", "XX"),
    ("country not text", _spec(holidays={"country": 1}), "holidays.country", "country code"),
    ("unknown subdiv", _spec(holidays={"country": "US", "subdiv": "ZZ"}), "holidays.subdiv", "ZZ"),
    ("subdiv without country", _spec(holidays={"subdiv": "CA"}), "holidays.subdiv", "country"),
    ("observed not bool", _spec(holidays={"country": "US", "observed": "yes"}), "holidays.observed", "true"),
    ("bad category", _spec(holidays={"country": "US", "categories": ["nope"]}), "holidays.categories", "nope"),
    ("bad date", _spec(holidays={"dates": ["2026-02-30"]}), "holidays.dates[0]", "not a date"),
    ("date not text", _spec(holidays={"dates": ["2026-12-24", 20261225]}), "holidays.dates[1]", "not a date"),
    ("dates not a list", _spec(holidays={"dates": "2026-12-24"}), "holidays.dates", "list of dates"),
    ("spec wrong type", ["24x7"], "", "24x7"),
    ("spec wrong string", "9to5", "", "24x7"),
]


@pytest.mark.parametrize(("spec", "key", "message"), [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_spec_errors_name_the_key(spec: Any, key: str, message: str) -> None:
    with pytest.raises(CalendarSpecError) as info:
        BusinessCalendar.from_config(spec)
    assert info.value.key == key
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_spec_error_message_and_pickle() -> None:
    with pytest.raises(CalendarSpecError) as info:
        BusinessCalendar.from_config(_spec(hours={"mon-fri": ["25:00-26:00"]}))
    assert str(info.value).startswith('hours.mon-fri[0]: "25:00-26:00" is not a window HH:MM-HH:MM')
    assert info.value.reason.startswith('"25:00-26:00" is not a window')
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.key, str(copy)) == (info.value.key, str(info.value))


def test_day_spec_forms() -> None:
    spec = {"hours": {"Monday": ["09:00-10:00"], "tue-wed, FRI": ["09:00-10:00"], "sat,sun": []}}
    calendar = BusinessCalendar.from_config(spec)
    week = calendar.between(at("2016-01-18 00:00"), at("2016-01-25 00:00"))
    assert week == 4 * HOUR


def test_calendar_pickles_and_repr() -> None:
    calendar = cal("9-17 new york, US")
    copy = pickle.loads(pickle.dumps(calendar))
    a, b = at("2026-12-23 10:00", NY), at("2026-12-29 10:00", NY)
    assert copy.between(a, b) == calendar.between(a, b)
    assert copy.name == calendar.name
    assert "America/New_York" in repr(calendar)


def test_runaway_spans_fail_fast_with_value_error() -> None:
    calendar = cal("9-17 new york, US")
    with pytest.raises(ValueError, match="more than 1000 years"):
        calendar.add(at("2026-03-02 10:00", NY), 1e11)  # ~13,000 working years
    with pytest.raises(ValueError, match="more than 1000 years"):
        calendar.between(datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))
    # the calendar still works afterwards
    assert calendar.between(at("2026-03-02 09:00", NY), at("2026-03-02 17:00", NY)) == 8 * HOUR


def test_first_and_last_years_of_datetime() -> None:
    assert cal("9-17 utc").add(datetime(1, 1, 1, 9, tzinfo=UTC), 8 * HOUR) == datetime(1, 1, 1, 17, tzinfo=UTC)
    with pytest.raises(ValueError, match="1..9999"):
        cal("9-17 utc").add(datetime(1, 1, 1, 12, tzinfo=UTC), -8 * HOUR)
    calendar = cal("9-17 utc")
    assert calendar.between(datetime(9999, 12, 30, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC)) == 16 * HOUR
    with pytest.raises(ValueError, match="1..9999"):
        calendar.add(datetime(9999, 12, 31, 12, tzinfo=UTC), 8 * HOUR)


class _NoOffset(tzinfo):
    """A tzinfo whose utcoffset is None: such datetimes are naive by Python's rules."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None


def test_tzinfo_without_offset_counts_as_naive() -> None:
    calendar = cal("9-17 utc")
    odd = datetime(2016, 1, 22, 10, tzinfo=_NoOffset())
    with pytest.raises(ValueError, match="naive datetime"):
        calendar.between(odd, AWARE)
    with pytest.raises(ValueError, match="naive datetime"):
        calendar.add(odd, 60)


def test_sub_second_utc_offsets_are_exact() -> None:
    calendar = cal("9-17 utc")
    odd = timezone(timedelta(hours=1, microseconds=500))
    start = datetime(2016, 1, 22, 11, tzinfo=odd)  # 09:59:59.9995 UTC
    # Epoch instants are floats here: about 0.2 microseconds of resolution.
    assert calendar.between(start, at("2016-01-22 10:00")) == pytest.approx(0.0005, abs=1e-6)
    got = calendar.add(start, 0.0005)
    assert abs((got - at("2016-01-22 10:00")).total_seconds()) <= 1e-6 and got.tzinfo is odd
    assert calendar.add(start, 3600).tzinfo is odd


def test_pytz_inputs() -> None:
    pytz = pytest.importorskip("pytz")
    calendar = cal("9-17 new york, US")
    eastern = pytz.timezone(NY)
    start = eastern.localize(datetime(2024, 3, 8, 16, 0))
    got = calendar.add(start, 2 * HOUR)
    assert got == at("2024-03-11 10:00", NY)
    assert got.utcoffset() == timedelta(hours=-4)  # pytz's own EDT tzinfo for the result
    assert calendar.between(start, eastern.localize(datetime(2024, 3, 11, 12, 0))) == 4 * HOUR


def test_an_amount_below_float_resolution_added_after_the_built_years_grew_is_the_next_opening():
    """Found by Hypothesis: after an add had built the calendar's fast tables up to a year's edge, adding
    6e-84 s from outside hours just before that edge met the tables' sentinel and raised "result inf s from
    the epoch" instead of answering the next opening, as a fresh calendar (and the reference) does."""
    spec = {"timezone": "America/New_York", "hours": {"sun": ["00:00-00:00"]}}
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    used = BusinessCalendar.from_config(spec)
    used.add(datetime.fromtimestamp(1766897812, lord_howe), 3628800.0)  # builds the tables forward
    start = datetime.fromtimestamp(1798434177, lord_howe)  # Monday 00:02:57 in New York, after Sunday's hours
    fresh = BusinessCalendar.from_config(spec)
    assert used.add(start, 6.1e-84) == fresh.add(start, 6.1e-84) == datetime(2027, 1, 3, 16, 0, tzinfo=lord_howe)
