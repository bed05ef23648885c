"""The scheduler: its own process (APScheduler 3 runs jobs in every process that starts it).

Every `interval` seconds it re-evaluates the tickets whose next check came due (a warning threshold or a
breach, computed by the rules core when the ticket last changed) and enqueues the escalations now due.
Exactly once per clock and threshold, even with two schedulers running by mistake or one killed mid-sweep:
the outbox's unique idempotency key lives in the database, and a ticket not yet checked stays due.

A ticket whose check fails (a bug, a value the database refuses) is logged and looked at again after
`RETRY_FAILED_CHECK`, so it never holds up the others; losing the database ends the sweep (the next one,
an interval later, starts again where this one stopped).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler

from connector.errors import StoreUnavailable
from connector.runtime.worker import LoopBackoff, TicketProcessor, utc_now
from connector.store import Store

log = logging.getLogger("connector.scheduler")

RETRY_FAILED_CHECK = timedelta(minutes=5)


class Sweeper:
    """Evaluates the tickets that are due for a check."""

    def __init__(self, store: Store, processor: TicketProcessor, *, clock: Callable[[], datetime] = utc_now,
                 batch: int = 500) -> None:
        self.store = store
        self.processor = processor
        self.clock = clock
        self.batch = batch
        self._failures = LoopBackoff("scheduler")

    def sweep(self) -> int:
        """Check every ticket whose next check is due; return how many were checked."""
        checked = 0
        while True:
            keys = self.store.tickets_to_check(now=self.clock(), limit=self.batch)
            for key in keys:
                try:
                    added = self.processor.check(key)
                except StoreUnavailable:
                    raise
                except Exception as err:  # one ticket's failure must not stop the sweep, nor come first again
                    log.error("ticket check failed", extra={"source": key[0], "ticket_id": key[2],
                                                            "outcome": type(err).__name__})
                    self.store.postpone_check(key, at=self.clock() + RETRY_FAILED_CHECK)
                    continue
                checked += 1
                if added:
                    log.info("escalations due", extra={"source": key[0], "ticket_id": key[2],
                                                       "outcome": f"{len(added)} actions"})
            if len(keys) < self.batch:
                return checked

    def sweep_safely(self) -> int | None:
        """Sweep, logging (not raising) a lost database: the scheduler's next run, an interval later, tries again."""
        try:
            checked = self.sweep()
        except Exception as err:
            self._failures.failed(err)
            return None
        self._failures.succeeded()
        return checked


def schedule(scheduler: BaseScheduler, sweeper: Sweeper, *, interval_seconds: float = 60.0) -> None:
    """Add the sweep to an APScheduler scheduler: one at a time, missed runs coalesced, first run now."""
    scheduler.add_job(sweeper.sweep_safely, "interval", seconds=interval_seconds, id="sla-sweep", max_instances=1,
                      coalesce=True, next_run_time=datetime.now().astimezone(), replace_existing=True)
