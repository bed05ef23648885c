"""Capacity: the agents a promise needs, hour by hour, and what a given staffing would attain (DESIGN §3.4.1).

    {"targets": [{"target", "severity", "metric", "pct", "target_seconds", "calendar", ...}],
     "hours": [{"target", "weekday", "hour", "arrivals", "agents_erlang_c", "agents_simulated",
                "expected_attainment_pct", "simulated_attainment_pct"}]}

For each target (`P1 first_response 90%`: that share answered within the policy's target for the metric):

- **arrivals** per weekday and hour: the history's tickets of that severity (as the rules classify them;
  of one channel with `channel`), counted by the hour they were created in the target calendar's zone,
  divided by the weeks the history spans;
- **Erlang C** per open hour: traffic = arrivals × handling time; the fewest agents answering `pct` % within
  the target (`connector.reports.erlang`), divided by (1 − shrinkage) for the staff to schedule. A closed
  hour needs no one: what arrives then waits for the opening;
- **simulation** (`simpy`) of the same queue with the hourly pattern, business hours and the backlog they
  leave: Poisson arrivals at each hour's rate, exponential handling, first come first served, each hour's
  agents at work only while the calendar is open; a ticket meets the target when its wait, in business time
  on the calendar, is within it. Starting from Erlang C's staffing, each hour that misses the target in the
  simulation gets one more agent, a few rounds over; `agents_simulated` is where that ends. Tickets are not
  calls — long handling, queues carried over closed hours — so where the two differ is the point of showing
  both;
- with `agents` given, the other way round: the attainment to expect with that many scheduled each open hour.

Handling time and shrinkage are given (`--aht`, `--shrinkage`): the canonical events carry no agent time.

**Bounds** (`check_options`; a value outside is a `CapacityError` naming the option): handling time above 0 and
at most 7 days (`MAX_HANDLING`), shrinkage from 0 % to below 100 %, at most 10,000 agents per hour
(`MAX_AGENTS`, given or needed: an hour whose traffic needs more is an error naming the hour), 1 to 52 weeks
simulated (`MAX_WEEKS`). They keep the work bounded: Erlang C costs one step per agent, the simulation one
event per ticket and one per staffing change (agents are counted, not made one by one).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import simpy

from connector.config import METRICS, Config, Policy, format_duration
from connector.events import Event, format_instant
from connector.reports.dataset import collect
from connector.reports.erlang import agents_needed, service_level
from connector.rules.calendar import BusinessCalendar

WEEK_HOURS = 7 * 24
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TARGET = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\d+(?:\.\d+)?)\s*%\s*$")
ROUNDS = 4  # the simulation's rounds of adding an agent to each hour that misses the target
# The largest staffing considered in one hour, given (`--agents`) or needed: more than one queue of a help desk
# staffs, and few enough that Erlang C (a step per agent, 168 hours a target) stays well under a second.
MAX_AGENTS = 10_000
MAX_HANDLING = 7 * 86400  # a week of one agent's time on one ticket is beyond any average handling time
MAX_WEEKS = 52


class CapacityError(ValueError):
    """A target or an option that makes no sense; the message names it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Goal:
    """One target: `pct` % of `severity`'s `metric` within the policy's target time."""

    text: str
    severity: str
    metric: str
    pct: float
    seconds: float
    calendar: str
    policy: str


def parse_goal(text: str, config: Config, policy: str | None = None) -> Goal:
    """Parse `P1 first_response 90%` against the config: the policy (given, or the first with that target)."""
    found = _TARGET.match(text)
    if found is None:
        raise CapacityError(f"--target {text[:60]!r}: write it as SEVERITY METRIC PERCENT, "
                            f"e.g. 'P1 first_response 90%'")
    severity, metric, pct = found.group(1), found.group(2), float(found.group(3))
    if metric not in METRICS:
        raise CapacityError(f"--target {text!r}: unknown metric {metric!r} ({', '.join(METRICS)})")
    if severity not in config.severities:
        raise CapacityError(f"--target {text!r}: unknown severity {severity!r} ({', '.join(config.severities)})")
    if not 0 < pct < 100:
        raise CapacityError(f"--target {text!r}: the share must be above 0% and below 100%")
    candidates: Iterable[Policy] = config.policies if policy is None else \
        [p for p in config.policies if p.name == policy]
    for candidate in candidates:
        targets = candidate.targets.get(severity)
        seconds = None if targets is None else targets.target(metric)
        if seconds:
            return Goal(text=text.strip(), severity=severity, metric=metric, pct=pct, seconds=float(seconds),
                        calendar=candidate.calendar_for(severity), policy=candidate.name)
    where = f"policy {policy!r}" if policy else "any policy"
    raise CapacityError(f"--target {text!r}: {where} has no {metric} target for {severity}")


def check_options(*, handling: float, shrinkage_pct: float = 0.0, agents: int | None = None, weeks: int = 4
                  ) -> None:
    """Raise `CapacityError` naming the first option outside its bounds (see the module's docstring)."""
    if not 0 < handling <= MAX_HANDLING:  # NaN too
        given = format_duration(handling) if 0 <= handling < math.inf else "that"
        raise CapacityError(f"--aht: {given} is not an average handling time: give one above 0s and at most "
                            f"{format_duration(MAX_HANDLING)}")
    if not 0 <= shrinkage_pct < 100:
        raise CapacityError("--shrinkage: must be from 0% to below 100%")
    if agents is not None and not 0 <= agents <= MAX_AGENTS:
        raise CapacityError(f"--agents: {agents} is not a staffing: give 0 to {MAX_AGENTS:,} agents per hour")
    if not 1 <= weeks <= MAX_WEEKS:
        raise CapacityError(f"--weeks: {weeks} is not a simulation's length: give 1 to {MAX_WEEKS} weeks")


def hour_of_week(at: datetime, cal: BusinessCalendar) -> int:
    local = at.astimezone(cal.timezone)
    return local.weekday() * 24 + local.hour


def arrivals_per_hour(created: Sequence[datetime], cal: BusinessCalendar) -> tuple[list[float], float]:
    """Mean arrivals per hour of the week (Monday 00:00 first) over the weeks the history spans."""
    counts = [0] * WEEK_HOURS
    for at in created:
        counts[hour_of_week(at, cal)] += 1
    if not created:
        return [0.0] * WEEK_HOURS, 0.0
    weeks = max(1.0, math.ceil((max(created) - min(created)).total_seconds() / (7 * 86400)))
    return [n / weeks for n in counts], weeks


def open_share(cal: BusinessCalendar, week_start: datetime) -> list[float]:
    """The share of each hour of a reference week the calendar is open (0 closed … 1 open all hour)."""
    out = []
    for h in range(WEEK_HOURS):
        start = week_start + timedelta(hours=h)
        out.append(cal.between(start, start + timedelta(hours=1)) / 3600)
    return out


def simulate_queue(rates: Sequence[float], staff: Sequence[int], handling: float, within: float,
                   cal: BusinessCalendar, week_start: datetime, *, weeks: int = 4, seed: int = 7
                   ) -> tuple[list[int], list[int]]:
    """Simulate the queue over `weeks` weeks; return, per hour of the week, (arrivals, answered within)."""
    rng = random.Random(seed)
    env = simpy.Environment()
    agents = simpy.Container(env, capacity=math.inf)  # the idle agents: a count, so a shift of thousands is one step
    state = {"working": 0, "retiring": 0}
    arrived = [0] * WEEK_HOURS
    in_time = [0] * WEEK_HOURS
    horizon = weeks * WEEK_HOURS * 3600.0

    def instant(t: float) -> datetime:
        return week_start + timedelta(seconds=t)

    def shifts() -> Any:
        while True:
            hour = int(env.now // 3600) % WEEK_HOURS
            want = staff[hour]
            have = state["working"] - state["retiring"]
            if want > have:
                back = min(state["retiring"], want - have)  # agents about to leave stay
                state["retiring"] -= back
                if want - have - back:
                    state["working"] += want - have - back
                    agents.put(want - have - back)
            elif want < have:
                leave = have - want
                idle = min(leave, int(agents.level))  # idle agents leave at once, busy ones when they finish
                if idle:
                    agents.get(idle)  # none waits while agents are idle: taken at once
                    state["working"] -= idle
                state["retiring"] += leave - idle
            yield env.timeout(3600 - env.now % 3600)

    def ticket(hour: int) -> Any:
        came = env.now
        yield agents.get(1)
        if cal.between(instant(came), instant(env.now)) <= within:
            in_time[hour] += 1
        yield env.timeout(rng.expovariate(1 / handling))
        if state["retiring"]:
            state["retiring"] -= 1
            state["working"] -= 1
        else:
            agents.put(1)

    def arrivals() -> Any:
        while env.now < horizon:
            hour = int(env.now // 3600) % WEEK_HOURS
            rate = rates[hour] / 3600
            end = (env.now // 3600 + 1) * 3600
            if rate <= 0:
                yield env.timeout(end - env.now)
                continue
            gap = rng.expovariate(rate)
            if env.now + gap >= end:  # no more arrivals this hour: the next hour's rate from its start
                yield env.timeout(end - env.now)
                continue
            yield env.timeout(gap)
            arrived[hour] += 1
            env.process(ticket(hour))

    env.process(shifts())
    env.process(arrivals())
    env.run(until=horizon + 7 * 86400)  # a week more to answer what is still waiting
    return arrived, in_time


def _needed(goal: Goal, hour: int, traffic: float, handling: float) -> int:
    """Return the agents Erlang C needs in one hour of the week, at most `MAX_AGENTS`."""
    try:
        return agents_needed(traffic, goal.seconds, handling, goal.pct, most=MAX_AGENTS)
    except ValueError:
        raise CapacityError(f"--target {goal.text!r}: {WEEKDAYS[hour // 24]} {hour % 24:02d}:00 needs more than "
                            f"{MAX_AGENTS:,} agents ({traffic:,.1f} erlangs: its arrivals times the handling time "
                            f"{format_duration(handling)})") from None


def _pct(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(100 * part / whole, 2)


def capacity(config: Config, events: Iterable[Event], goals: Sequence[Goal], *, handling: float,
             shrinkage_pct: float = 0.0, agents: int | None = None, weeks: int = 4, seed: int = 7,
             channel: str | None = None) -> dict[str, Any]:
    """Return the staffing each goal needs per weekday and hour (Erlang C and simulated), or with `agents`
    scheduled, the attainment to expect."""
    check_options(handling=handling, shrinkage_pct=shrinkage_pct, agents=agents, weeks=weeks)
    present = 1 - shrinkage_pct / 100  # the share of scheduled agents actually answering
    data = collect(config, events, walk=False)  # the tickets' creation, severity and channel are enough
    targets: list[dict[str, Any]] = []
    hours: list[dict[str, Any]] = []
    for goal in goals:
        cal = config.calendar(goal.calendar)
        created = [t.created_at for t in data.tickets if t.classified == goal.severity
                   and (channel is None or t.snapshot.channel == channel)]
        rates, span = arrivals_per_hour(created, cal)
        week_start = _monday(data.now, cal)
        share = open_share(cal, week_start)
        erlang: list[int] = []
        staff: list[int] = []  # agents at work each hour (scheduled, less shrinkage)
        expected: list[float | None] = []
        for h in range(WEEK_HOURS):
            # Erlang C staffs each open hour for its own arrivals; what arrives while closed waits for the
            # opening (the simulation carries that backlog)
            load = rates[h] if share[h] > 0 else 0.0
            traffic = load * handling / 3600
            need = _needed(goal, h, traffic, handling) if share[h] > 0 and traffic else 0
            erlang.append(math.ceil(need / present) if need else 0)
            scheduled = erlang[-1] if agents is None else (agents if share[h] > 0 else 0)
            staff.append(math.floor(scheduled * present))
            expected.append(None if not traffic else round(100 * service_level(traffic, staff[-1], goal.seconds,
                                                                                  handling), 2))
        arrived, in_time = simulate_queue(rates, staff, handling, goal.seconds, cal, week_start, weeks=weeks, seed=seed)
        simulated = list(erlang)
        if agents is None:
            tuned = list(staff)
            for _ in range(ROUNDS):
                short = [h for h in range(WEEK_HOURS) if arrived[h] and 100 * in_time[h] / arrived[h] < goal.pct
                         and share[h] > 0]
                if not short:
                    break
                for h in short:
                    tuned[h] += 1
                arrived, in_time = simulate_queue(rates, tuned, handling, goal.seconds, cal, week_start, weeks=weeks,
                                                  seed=seed)
            simulated = [math.ceil(n / present) if n else 0 for n in tuned]
        total_in, total = sum(in_time), sum(arrived)
        weighted = sum(rates[h] * (expected[h] or 0) for h in range(WEEK_HOURS) if expected[h] is not None)
        weight = sum(rates[h] for h in range(WEEK_HOURS) if expected[h] is not None)
        targets.append({
            "target": goal.text, "severity": goal.severity, "metric": goal.metric, "pct": goal.pct,
            "target_seconds": round(goal.seconds), "calendar": goal.calendar, "policy": goal.policy,
            "aht_seconds": round(handling), "shrinkage_pct": shrinkage_pct, "agents": agents, "channel": channel,
            "weeks_of_history": span, "arrivals_per_week": round(sum(rates), 2),
            "expected_attainment_pct": None if not weight else round(weighted / weight, 2),
            "simulated_attainment_pct": _pct(total_in, total), "simulated_weeks": weeks,
            "peak_agents_erlang_c": max(erlang, default=0), "peak_agents_simulated": max(simulated, default=0),
            # where the simulation (business hours, backlog, long handling) asks for more than Erlang C
            "hours_differing": [f"{WEEKDAYS[h // 24]} {h % 24:02d}:00" for h in range(WEEK_HOURS)
                                if simulated[h] != erlang[h]],
        })
        for h in range(WEEK_HOURS):
            hours.append({
                "target": goal.text, "weekday": WEEKDAYS[h // 24], "hour": h % 24, "open": round(share[h], 3),
                "arrivals": round(rates[h], 3), "agents_erlang_c": erlang[h], "agents_simulated": simulated[h],
                "expected_attainment_pct": expected[h], "simulated_attainment_pct": _pct(in_time[h], arrived[h]),
                "differs": simulated[h] != erlang[h],
            })
    zones = sorted({config.calendar(goal.calendar).timezone.key for goal in goals})
    return {"report": "capacity", "now": format_instant(data.now), "timezone": ", ".join(zones), "targets": targets,
            "hours": hours}


def _monday(at: datetime, cal: BusinessCalendar) -> datetime:
    """The Monday 00:00 (in the calendar's zone) of the week after `at`: a reference week ahead of the history."""
    local = at.astimezone(cal.timezone)
    monday = (local + timedelta(days=7 - local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday
