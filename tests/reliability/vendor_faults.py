"""What the R9/R10 tests of both help desks share: simulated time, the R10 fault plan, a session that notes
every request's timeout, and the outbox's keys."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select

from connector.store import Store
from connector.store.schema import dead_letters, outbox

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC: inside business hours


class SimClock:
    """Simulated time for everything a test drives: seconds from T0 (small floats stay exact) and datetimes."""

    def __init__(self) -> None:
        self.offset = 0.0

    def seconds(self) -> float:
        return self.offset

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.offset)

    def at(self, when: datetime) -> None:
        self.offset = max(self.offset, (when - T0).total_seconds())


class TimedSession(requests.Session):
    """A real session that notes the timeout every request goes out with."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.timeouts.append(kwargs.get("timeout"))
        return super().request(method, url, *args, **kwargs)


def fault_plan(rng: random.Random, calls: int) -> list[str | None]:
    """Exactly 20 % 429 (Retry-After 1-3 s), 10 % 503, 5 % 409, 2 % hangs and 3 % lost answers (the write
    applied, then a gateway's 502) among `calls` write calls."""
    plan: list[str | None] = [f"429:{rng.randint(1, 3)}" for _ in range(calls * 20 // 100)]
    plan += ["503"] * (calls * 10 // 100) + ["409"] * (calls * 5 // 100) + ["hang"] * (calls * 2 // 100)
    plan += ["lost"] * (calls * 3 // 100)
    plan += [None] * (calls - len(plan))
    rng.shuffle(plan)
    return plan


def outbox_keys(store: Store) -> set[str]:
    with store.read() as conn:
        return {row[0] for row in conn.execute(select(outbox.c.key))}


def drain_outbox(store: Store, executor: Any, clock: SimClock, writer: Any,
                 rounds: int = 2000) -> tuple[dict[str, Any], dict[int, str]]:
    """Run the executor until no action is pending, moving simulated time as waiting would: to the next
    action due and past any rate-limit hold. Return every outbox row by key and the dead letters' reasons."""
    for _ in range(rounds):
        pending = store.outbox_rows(states=["pending"], limit=1000)
        if not pending:
            break
        clock.at(max(min(row.next_try_at for row in pending), clock.now() + timedelta(seconds=writer.held_for())))
        executor.run_once(limit=100)
    rows = {row.key: row for row in store.outbox_rows(limit=1000)}
    with store.read() as conn:
        dead = {row.outbox_id: row.reason for row in conn.execute(select(dead_letters))}
    return rows, dead


def untimed_requests(session: TimedSession) -> list[Any]:
    """The requests that went out without a (connect, read) timeout."""
    return [t for t in session.timeouts
            if not (isinstance(t, tuple) and len(t) == 2 and all(isinstance(x, float) and x > 0 for x in t))]
