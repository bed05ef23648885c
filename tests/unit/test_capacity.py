"""Erlang C against published values (issue 18). Every source is listed, with the value recomputed, in
docs/erlang-c-sources.md:

- S1: the mitan.co.uk worked example (360 calls per half hour, 240 s handling, 55 agents, 15 s target), as
  copied in tap52384/erlang-c html/index.php @845fadb;
- S2/S3: the ErlangC package for R (CRAN; Damonsoul/ErlangC README.md and tests/testthat/test-erlang_c.R
  @e796db5): 100 calls per 30 minutes, 180 s handling, 20 s target, 11 to 14 agents;
- S5, S7: perehinik/call-center-tools @e9be6fe src/tests/unit/test_erlang.py and
  src/tests/integration/test_staffing.py.
"""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.cli import main
from connector.reports.capacity import (
    MAX_AGENTS,
    WEEK_HOURS,
    CapacityError,
    capacity,
    check_options,
    parse_goal,
    simulate_queue,
)
from connector.reports.erlang import agents_needed, average_speed_of_answer, erlang_c, service_level
from tests.helpers import config, event, utc


@pytest.mark.parametrize(("agents", "wait", "within_20s", "asa"), [
    (11, 0.6821182, 0.3896138, 122.78127684408),     # S2
    (12, 0.4493882, 0.640158, 40.4449401868444),     # S2
    (13, 0.2852705, 0.7955948, 17.1162271821896),    # S2
    (14, 0.1741319335950498, 0.8883500191794669, 7.83593701177724),  # S2; S3 asserts SL 0.88835002
])
def test_the_r_packages_table_for_100_calls_per_half_hour(agents, wait, within_20s, asa):
    traffic = 100 * 180 / 1800  # 10 erlangs
    assert erlang_c(traffic, agents) == pytest.approx(wait, abs=1e-7)
    assert service_level(traffic, agents, 20, 180) == pytest.approx(within_20s, abs=1e-6)
    assert average_speed_of_answer(traffic, agents, 180) == pytest.approx(asa, abs=1e-6)


def test_the_mitan_worked_example():  # S1: 360 calls per 30 minutes of 240 s: 48 erlangs, 55 agents
    traffic = 360 * 240 / 1800
    assert traffic == 48
    assert round(erlang_c(traffic, 55), 3) == 0.239
    assert round(service_level(traffic, 55, 15, 240), 3) == 0.846
    assert round(average_speed_of_answer(traffic, 55, 240), 1) == 8.2


@pytest.mark.parametrize(("traffic", "agents", "wait"), [(123, 132, 0.3211), (12345, 12421, 0.3812)])  # S5
def test_large_queues_without_overflow(traffic, agents, wait):
    assert round(erlang_c(traffic, agents), 4) == wait


def test_agents_needed_for_a_service_level():  # S7: 1000 calls an hour of 120 s, 20 s target
    traffic = 1000 * 120 / 3600
    assert round(service_level(traffic, 40, 20, 120), 2) == 0.94
    assert round(service_level(traffic, 35, 20, 120), 2) == 0.47
    # the fewest agents for 80 % in 20 s: 37 answer 76.6 %, 38 answer 84.7 %
    assert agents_needed(traffic, 20, 120, 80) == 38
    assert service_level(traffic, 37, 20, 120) < 0.8 <= service_level(traffic, 38, 20, 120)
    assert agents_needed(10, 20, 180, 80) == 14  # S2's table: 13 agents answer 79.56 % in 20 s, 14 answer 88.8 %
    assert agents_needed(0, 20, 180, 80) == 0


def test_too_few_agents_never_catch_up():
    assert erlang_c(10, 10) == 1.0 and service_level(10, 9, 20, 180) == 0.0
    assert average_speed_of_answer(10, 10, 180) == math.inf


# --- the simulation against Erlang C, and the staffing per hour ---------------------------------------------

@pytest.mark.parametrize(("agents", "tolerance"), [(12, 0.03), (14, 0.02)])
def test_the_simulation_agrees_with_erlang_c_on_a_stationary_queue(agents, tolerance):
    """200 arrivals an hour of 180 s (10 erlangs), answered within 20 s, around the clock for a week (about
    33,600 tickets): the simulated share is within `tolerance` of Erlang C's (S2: 0.640 with 12, 0.888 with 14)."""
    always = config().calendar("24x7")
    arrived, in_time = simulate_queue([200.0] * WEEK_HOURS, [agents] * WEEK_HOURS, 180, 20, always,
                                      utc("2026-03-02 00:00"), weeks=1, seed=11)
    simulated = sum(in_time) / sum(arrived)
    assert sum(arrived) == pytest.approx(200 * WEEK_HOURS, rel=0.02)
    assert simulated == pytest.approx(service_level(10, agents, 20, 180), abs=tolerance)


BUSINESS = config(policies=[{"name": "standard", "calendar": "business",
                             "targets": {"P3": {"first_response": "1h"}}}])


def _history() -> list:
    """Two weeks of P3 tickets, four each weekday between 10:00 and 11:00 UTC (business hours 09–17)."""
    out = []
    for day in range(12):
        start = utc("2026-03-02 10:00") + timedelta(days=day)
        if start.weekday() >= 5:
            continue
        for quarter in range(4):
            at = start + timedelta(minutes=15 * quarter)
            out.append(event(at, "ticket.created", status="new", created=at, ticket_id=f"{day}-{quarter}"))
    return out


def test_staffing_per_weekday_and_hour_by_hand():
    # 4 arrivals an hour of 30 minutes: 2 erlangs; with 3 agents 94 % wait under the 1 h target (1 − 0.444 ·
    # e^(−2)), so 3 answer 90 %; with 25 % shrinkage 4 must be scheduled. Closed hours need no one.
    data = capacity(BUSINESS, _history(), [parse_goal("P3 first_response 90%", BUSINESS)], handling=1800,
                    shrinkage_pct=25, weeks=2)
    hours = {(h["weekday"], h["hour"]): h for h in data["hours"]}
    monday_10 = hours[("mon", 10)]
    assert (monday_10["arrivals"], monday_10["agents_erlang_c"]) == (4.0, 4)
    assert monday_10["expected_attainment_pct"] == pytest.approx(100 * service_level(2, 3, 3600, 1800), abs=0.01)
    assert hours[("mon", 11)]["agents_erlang_c"] == 0 and hours[("sat", 10)]["open"] == 0.0
    (target,) = data["targets"]
    assert (target["weeks_of_history"], target["arrivals_per_week"], target["peak_agents_erlang_c"]) == (2, 20.0, 4)
    assert target["simulated_attainment_pct"] is not None and target["peak_agents_simulated"] >= 4
    assert target["hours_differing"] == [f"{h['weekday']} {h['hour']:02d}:00" for h in data["hours"] if h["differs"]]


def test_the_other_way_round_with_a_given_staffing():
    data = capacity(BUSINESS, _history(), [parse_goal("P3 first_response 90%", BUSINESS)], handling=1800,
                    agents=3, weeks=2)
    monday_10 = next(h for h in data["hours"] if (h["weekday"], h["hour"]) == ("mon", 10))
    assert monday_10["expected_attainment_pct"] == pytest.approx(100 * service_level(2, 3, 3600, 1800), abs=0.01)
    assert monday_10["agents_simulated"] == 3  # given, not tuned


@pytest.mark.parametrize(("text", "message"), [
    ("P3 first_response", "write it as SEVERITY METRIC PERCENT"),
    ("P9 first_response 90%", "unknown severity 'P9'"),
    ("P3 ownership 90%", "unknown metric 'ownership'"),
    ("P3 first_response 100%", "below 100%"),
    ("P3 periodic_update 90%", "has no periodic_update target for P3"),
])
def test_a_bad_target_names_itself(text, message):
    with pytest.raises(CapacityError, match=message):
        parse_goal(text, BUSINESS)


def test_connector_capacity_on_the_example(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["capacity", "--config", "config/example.yaml", "--events", "examples/events.jsonl",
                                  "--target", "P3 first_response 90%", "--policy", "standard", "--aht", "30m",
                                  "--shrinkage", "25%", "--weeks", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["targets"][0]["policy"] == "standard" and len(data["hours"]) == WEEK_HOURS
    assert set(data["hours"][0]) >= {"weekday", "hour", "arrivals", "agents_erlang_c", "agents_simulated",
                                     "expected_attainment_pct"}
    bad = runner.invoke(main, ["capacity", "--config", "config/example.yaml", "--events", "examples/events.jsonl",
                               "--target", "P3 first_response 90%", "--aht", "soon"])
    assert bad.exit_code == 1 and "--aht:" in bad.output


def test_arrivals_of_one_channel():
    history = _history()
    goal = [parse_goal("P3 first_response 90%", BUSINESS)]
    email = capacity(BUSINESS, history, goal, handling=1800, weeks=1, channel="email")  # every helper event's
    assert email["targets"][0]["arrivals_per_week"] == 20.0 and email["targets"][0]["channel"] == "email"
    phone = capacity(BUSINESS, history, goal, handling=1800, weeks=1, channel="phone")
    assert phone["targets"][0]["arrivals_per_week"] == 0.0 and phone["targets"][0]["peak_agents_erlang_c"] == 0


# --- bounded work: huge inputs are refused or cheap, never a spin (robustness pass) -------------------------

@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail, instead of hanging, when the block takes longer than `seconds` (SIGALRM interrupts it)."""
    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_erlang_c_stops_once_the_recursion_underflows():
    # before: a step per agent, a billion of them; B underflows to 0 a few hundred agents past 10 erlangs
    with within(10):
        assert erlang_c(10, 10**9) == 0.0 == erlang_c(10, 1000)
        assert service_level(10, 10**9, 20, 180) == 1.0
        assert average_speed_of_answer(10, 10**9, 180) == 0.0
    with pytest.raises(ValueError, match="1e\\+12 erlangs: beyond the 1,000,000 erlangs computed here"):
        erlang_c(1e12, 10**13)


def test_agents_needed_carries_the_recursion_and_stops_at_most():
    # before: the recursion from 1 for each staffing tried, 1,917 staffings of about 91,000 steps (15 s)
    with within(5):
        needed = agents_needed(90_000, 1, 7 * 86400, 99.99999999)
    assert service_level(90_000, needed - 1, 1, 7 * 86400) < 0.9999999999 <= service_level(90_000, needed, 1,
                                                                                           7 * 86400)
    with within(10), pytest.raises(ValueError, match="1e\\+12 erlangs need more than 10,000 agents"):
        agents_needed(1e12, 60, 60, 90, most=10_000)


@settings(max_examples=200, deadline=None)
@given(traffic=st.floats(0.01, 300), within_seconds=st.floats(1, 7200), handling=st.floats(1, 86400),
       target=st.floats(1, 99.99))
def test_agents_needed_is_the_fewest_agents_service_level_says(traffic, within_seconds, handling, target):
    """The recursion carried from one staffing to the next gives what `service_level` says of each."""
    needed = agents_needed(traffic, within_seconds, handling, target)
    assert service_level(traffic, needed, within_seconds, handling) * 100 >= target
    assert needed == 1 or service_level(traffic, needed - 1, within_seconds, handling) * 100 < target


def test_a_simulated_staffing_of_thousands_changing_every_hour_is_quick():
    # before: each agent joined and left one by one, 5,000 per hour for 52 weeks (minutes); now a count
    always = config().calendar("24x7")
    staff = [MAX_AGENTS if h % 2 else MAX_AGENTS // 2 for h in range(WEEK_HOURS)]
    with within(20):
        arrived, in_time = simulate_queue([2.0] * WEEK_HOURS, staff, 180, 20, always, utc("2026-03-02 00:00"),
                                          weeks=52, seed=3)
    assert sum(arrived) == pytest.approx(2 * WEEK_HOURS * 52, rel=0.05)
    assert in_time == arrived  # thousands of agents at work: every ticket is answered at once


def test_an_hour_needing_more_agents_than_the_bound_names_itself():
    # 60 tickets in Monday's 10:00 hour, 7 days of handling each: 10,080 erlangs, more than 10,000 agents
    at = utc("2026-03-02 10:00")
    history = [event(at + timedelta(seconds=n), "ticket.created", status="new", created=at + timedelta(seconds=n),
                     ticket_id=f"t{n}") for n in range(60)]
    with within(30), pytest.raises(CapacityError, match=r"--target 'P3 first_response 90%': mon 10:00 needs more "
                                                        r"than 10,000 agents \(10,080.0 erlangs"):
        capacity(BUSINESS, history, [parse_goal("P3 first_response 90%", BUSINESS)], handling=7 * 86400, weeks=1)


@pytest.mark.parametrize(("option", "message"), [
    (["--aht", "8d"], "--aht: 8d is not an average handling time: give one above 0s and at most 7d"),
    (["--aht", "0s"], "--aht: 0s is not an average handling time"),
    (["--agents", "10001"], "--agents: 10001 is not a staffing: give 0 to 10,000 agents per hour"),
    (["--agents", "10000000"], "--agents: 10000000 is not a staffing"),
    (["--agents", "-1"], "--agents: -1 is not a staffing"),
    (["--weeks", "0"], "--weeks: 0 is not a simulation's length: give 1 to 52 weeks"),
    (["--weeks", "53"], "--weeks: 53 is not a simulation's length"),
    (["--shrinkage", "100%"], "--shrinkage: must be from 0% to below 100%"),
    (["--shrinkage", "nan"], "--shrinkage: must be from 0% to below 100%"),
])
def test_an_option_out_of_bounds_exits_1_naming_it(option, message):
    # before: --agents 10000000 ran for about 100 s, --aht 8d ran, --weeks and a negative --agents exited 2
    args = ["capacity", "--config", "config/example.yaml", "--events", "examples/events.jsonl",
            "--target", "P3 first_response 90%", "--policy", "standard", "--aht", "30m", *option]
    with within(30):
        result = CliRunner().invoke(main, args)
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert result.stderr.startswith(f"Error: {message}") and "Traceback" not in result.output


@pytest.mark.parametrize(("options", "message"), [
    ({"handling": math.inf}, "--aht: that is not"), ({"handling": math.nan}, "--aht: that is not"),
    ({"handling": 1800, "shrinkage_pct": -1}, "--shrinkage"), ({"handling": 1800, "agents": MAX_AGENTS + 1},
                                                               "--agents"),
])
def test_the_bounds_hold_for_the_report_itself(options, message):
    with pytest.raises(CapacityError, match=message):
        check_options(**options)
    check_options(handling=7 * 86400, shrinkage_pct=99.9, agents=MAX_AGENTS, weeks=52)  # the bounds themselves
