"""Erlang C (the M/M/c queue): the probability of waiting, service level, speed of answer, agents needed.

    A = arrivals per unit of time × average handling time (offered traffic, in erlangs), N agents (N > A)

    P_wait(A, N) = Erlang C, computed from the Erlang B recursion B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1)),
                   C = N·B / (N − A·(1 − B)): the textbook formula without A^N/N!, which overflows a float
                   long before call-centre sizes (A = 12,345 needs N = 12,421)
    SL(t)        = 1 − P_wait · e^(−(N − A)·t / AHT)        share answered within t
    ASA          = P_wait · AHT / (N − A)                   average wait

No maintained package fitted: pyworkforce brings pandas and scikit-learn for these few lines. The values are
checked against published ones in tests/unit/test_capacity.py (sources in docs/erlang-c-sources.md).

Cost: one step of the recursion per agent, and no more than the queue needs. Past N = A, B(k) shrinks by
A/k a step and underflows to exactly 0.0 by N ≈ 2A (10 erlangs: N = 304; 10,000: N = 20,000); from there it
stays 0 (so does C), and the recursion stops. A billion agents for ten erlangs is therefore as quick as 304;
what costs is the traffic itself, refused above `MOST_ERLANGS` erlangs. `agents_needed` carries the recursion from
one staffing to the next (one step per agent tried, not a recursion from 1 for each) and stops at `most`.
"""

from __future__ import annotations

import math

MOST_ERLANGS = 1_000_000  # the largest traffic computed: at most about 2 million steps, a fraction of a second


def _check(traffic: float) -> None:
    if not traffic <= MOST_ERLANGS:  # NaN too
        raise ValueError(f"{traffic:g} erlangs: beyond the {MOST_ERLANGS:,} erlangs computed here")


def _blocking(traffic: float, agents: int) -> float:
    """Return Erlang B for `agents`, by the recursion; once it underflows to 0 it stays 0, and the loop stops."""
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
        if blocking == 0.0:
            break
    return blocking


def _waiting(traffic: float, agents: int, blocking: float) -> float:
    """Return Erlang C from Erlang B for the same agents (N > A)."""
    return agents * blocking / (agents - traffic * (1 - blocking))


def _level(traffic: float, agents: int, wait: float, answer_within: float, handling: float) -> float:
    return 1 - wait * math.exp(-(agents - traffic) * answer_within / handling)


def erlang_c(traffic: float, agents: int) -> float:
    """Return the probability that an arrival waits (1.0 when the agents cannot keep up: N ≤ A)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    _check(traffic)
    return _waiting(traffic, agents, _blocking(traffic, agents))


def service_level(traffic: float, agents: int, answer_within: float, handling: float) -> float:
    """Return the share of arrivals answered within `answer_within` (same time unit as `handling`)."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return _level(traffic, agents, erlang_c(traffic, agents), answer_within, handling)


def average_speed_of_answer(traffic: float, agents: int, handling: float) -> float:
    """Return the mean wait (same unit as `handling`); infinite when the agents cannot keep up."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * handling / (agents - traffic)


def agents_needed(traffic: float, answer_within: float, handling: float, target_pct: float,
                  most: int = 100_000) -> int:
    """Return the fewest agents whose service level reaches `target_pct` (0 when nothing arrives); raise
    ValueError when more than `most` would be needed."""
    if traffic <= 0:
        return 0
    if not traffic < most:  # N > A: the first staffing that keeps up is already too many (NaN too)
        raise ValueError(f"{traffic:g} erlangs need more than {most:,} agents")
    _check(traffic)
    first = math.floor(traffic) + 1
    blocking = _blocking(traffic, first - 1)
    for agents in range(first, most + 1):  # the recursion carried on: one step per staffing tried
        blocking = traffic * blocking / (agents + traffic * blocking)
        level = _level(traffic, agents, _waiting(traffic, agents, blocking), answer_within, handling)
        if level * 100 >= target_pct:
            return agents
    raise ValueError(f"no staffing up to {most:,} agents reaches {target_pct}%")
