"""The service evaluates tickets at whole seconds (issue 12): its clock is truncated, its checks rounded up.

Every test runs on SQLite and on PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from connector.runtime.scheduler import Sweeper
from connector.runtime.worker import TicketProcessor, next_whole_second, whole_second
from connector.store import Store
from connector.store.schema import clocks, outbox, tickets
from tests.helpers import config, event

ESCALATIONS = [{"name": "warn", "when": {"metric": "first_response", "at": "75%"},
                "actions": [{"add_tags": ["sla_warning"]}]}]
CREATED = datetime(2026, 3, 2, 10, 0, 0, 400000, tzinfo=UTC)  # a help desk that sends milliseconds


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_whole_seconds() -> None:
    at = datetime(2026, 3, 2, 10, 0, 0, 999999, tzinfo=UTC)
    assert whole_second(at) == datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
    assert next_whole_second(at) == datetime(2026, 3, 2, 10, 0, 1, tzinfo=UTC)
    assert next_whole_second(whole_second(at)) == whole_second(at)


def test_the_worker_evaluates_at_the_clocks_second_and_a_fractional_threshold_fires_at_its_sweep(store: Store):
    clock = Clock(CREATED + timedelta(minutes=5, microseconds=534470))
    processor = TicketProcessor(store, config(escalations=ESCALATIONS), {}, clock=clock)
    processor.apply_event(event(CREATED, "ticket.created", status="new", priority="urgent", created=CREATED))
    assert processor.now() == datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC)
    with store.read() as conn:
        elapsed = dict(conn.execute(select(clocks.c.metric, clocks.c.elapsed_seconds)).all())
        check = conn.execute(select(tickets.c.next_check_at)).scalar_one()
    # evaluated at 10:05:00, not 10:05:00.93447: 299.6 s since creation (the core keeps the event's precision)
    assert elapsed == {"first_response": pytest.approx(299.6), "resolution": pytest.approx(299.6)}
    # the 75 % warning is crossed at 10:45:00.4; the service looks at whole seconds, so it checks at 10:45:01
    assert check == datetime(2026, 3, 2, 10, 45, 1, tzinfo=UTC)
    clock.at = check + timedelta(microseconds=300000)
    assert Sweeper(store, processor, clock=clock).sweep() == 1
    with store.read() as conn:
        causes = list(conn.execute(select(outbox.c.cause).where(outbox.c.cause != "due_date")).scalars())
    assert causes == ["warn"]
