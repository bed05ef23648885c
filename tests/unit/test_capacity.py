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

import math

import pytest

from connector.reports.erlang import agents_needed, average_speed_of_answer, erlang_c, service_level


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
