"""Erlang C (the M/M/c queue): the probability of waiting, service level, speed of answer, agents needed.

    A = arrivals per unit of time × average handling time (offered traffic, in erlangs), N agents (N > A)

    P_wait(A, N) = Erlang C, computed from the Erlang B recursion B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1)),
                   C = N·B / (N − A·(1 − B)): the textbook formula without A^N/N!, which overflows a float
                   long before call-centre sizes (A = 12,345 needs N = 12,421)
    SL(t)        = 1 − P_wait · e^(−(N − A)·t / AHT)        share answered within t
    ASA          = P_wait · AHT / (N − A)                   average wait

No maintained package fitted: pyworkforce brings pandas and scikit-learn for these few lines. The values are
checked against published ones in tests/unit/test_capacity.py (sources in docs/erlang-c-sources.md).
"""

from __future__ import annotations

import math


def erlang_c(traffic: float, agents: int) -> float:
    """Return the probability that an arrival waits (1.0 when the agents cannot keep up: N ≤ A)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return agents * blocking / (agents - traffic * (1 - blocking))


def service_level(traffic: float, agents: int, answer_within: float, handling: float) -> float:
    """Return the share of arrivals answered within `answer_within` (same time unit as `handling`)."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return 1 - erlang_c(traffic, agents) * math.exp(-(agents - traffic) * answer_within / handling)


def average_speed_of_answer(traffic: float, agents: int, handling: float) -> float:
    """Return the mean wait (same unit as `handling`); infinite when the agents cannot keep up."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * handling / (agents - traffic)


def agents_needed(traffic: float, answer_within: float, handling: float, target_pct: float,
                  most: int = 100_000) -> int:
    """Return the fewest agents whose service level reaches `target_pct` (0 when nothing arrives)."""
    if traffic <= 0:
        return 0
    agents = max(1, math.floor(traffic) + 1)
    while service_level(traffic, agents, answer_within, handling) * 100 < target_pct:
        agents += 1
        if agents > most:
            raise ValueError(f"no staffing up to {most} agents reaches {target_pct}%")
    return agents
