"""The outbox executor: carries out write-back actions through the source's adapter, reliably.

- Each action is claimed with a lease (a crash mid-send retries it after the lease: at-least-once; the
  idempotency key and the help desks' idempotent endpoints make a repeat harmless).
- `Transient` (429/503 with `Retry-After`, other 5xx, timeouts): retried after `Retry-After` when the help
  desk gave one, else after an exponential backoff with full jitter.
- `Conflict` (409, a stale ticket): retried soon; the adapter re-fetches and re-applies on the next try.
- `Permanent`, or too many tries: the action moves to dead letters with its reason
  (`connector outbox list|retry|drop`).
- A due date superseded by a newer one for the same clock is skipped, not sent.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from adapters.base import WriteAction, Writer
from connector.errors import Conflict, Permanent, Transient
from connector.runtime.worker import LoopBackoff, utc_now
from connector.store import OutboxRow, Store

log = logging.getLogger("connector.actions")


class Backoff:
    """Exponential backoff with full jitter: base × 2^(attempt−1), capped, times a random factor in [0.5, 1]."""

    def __init__(self, *, base: float = 5.0, cap: float = 3600.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        raw = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        return raw * self.rng.uniform(0.5, 1.0)


def _held(writer: Writer) -> bool:
    """True while a writer says its help desk may not be called yet (the optional `held_for()`, seconds)."""
    held_for = getattr(writer, "held_for", None)
    return held_for is not None and held_for() > 0


class Executor:
    """Sends pending outbox actions through each source's writer."""

    def __init__(self, store: Store, writers: Mapping[str, Writer | None], *, max_attempts: int = 8,
                 backoff: Backoff | None = None, clock: Callable[[], datetime] = utc_now,
                 max_retry_after: float = 6 * 3600, lease: timedelta = timedelta(minutes=2)) -> None:
        self.store = store
        self.lease = lease
        self.writers = writers
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.max_retry_after = max_retry_after

    def run_once(self, limit: int = 20) -> int:
        """Send up to `limit` due actions, claiming each just before it is sent; return how many were claimed.

        A writer waiting out its help desk's rate limit (`held_for()` > 0) is not claimed from: a claim is a
        try, and waiting for a Retry-After must not use up an action's tries.
        """
        claimed = 0
        while claimed < limit:
            sources = [s for s, w in self.writers.items() if w is not None and w.configured and not _held(w)]
            rows = self.store.claim_outbox(now=self.clock(), limit=1, sources=sources, lease=self.lease) \
                if sources else []
            if not rows:
                return claimed
            self.send(rows[0])
            claimed += 1
        return claimed

    def send(self, row: OutboxRow) -> str:
        """Carry out one claimed action; return its outcome (done, skipped, retry or dead)."""
        now = self.clock()
        writer = self.writers.get(row.source)
        if writer is None or not writer.configured:
            self.store.outbox_retry(row.id, now=now, at=now + timedelta(minutes=5), error="no writer configured")
            return self._log(row, "retry")
        if self.store.superseded(row):
            self.store.outbox_done(row.id, now=now, state="skipped", detail="superseded by a newer due date")
            return self._log(row, "skipped")
        action = WriteAction(key=row.key, action=row.action, source=row.source, account=row.account,
                             ticket_id=row.ticket_id, params=row.params, attempt=row.attempts,
                             queued_at=row.created_at)
        try:
            result = writer.write(action)
        except Transient as err:
            wait = err.retry_after if err.retry_after is not None else self.backoff.delay(row.attempts)
            return self._retry(row, now, min(max(wait, 0.0), self.max_retry_after), f"transient: {err}")
        except Conflict as err:
            return self._retry(row, now, self.backoff.rng.uniform(0.5, 2.0), f"conflict: {err}")
        except Permanent as err:
            self.store.outbox_dead(row, now=now, reason=f"permanent: {err}")
            return self._log(row, "dead")
        except Exception as err:  # an adapter bug must not lose the action: retry, then dead-letter
            return self._retry(row, now, self.backoff.delay(row.attempts), f"unexpected {type(err).__name__}")
        state = "done" if result.outcome == "sent" else "skipped"
        self.store.outbox_done(row.id, now=now, state=state, detail=result.detail or None)
        return self._log(row, state)

    def _retry(self, row: OutboxRow, now: datetime, wait: float, error: str) -> str:
        if row.attempts >= self.max_attempts:
            self.store.outbox_dead(row, now=now, reason=f"gave up after {row.attempts} tries; last: {error}")
            return self._log(row, "dead")
        self.store.outbox_retry(row.id, now=now, at=now + timedelta(seconds=wait), error=error)
        return self._log(row, "retry")

    def _log(self, row: OutboxRow, outcome: str) -> str:
        log.info("write-back", extra={"source": row.source, "ticket_id": row.ticket_id, "action": row.action,
                                      "outcome": outcome, "attempt": row.attempts})
        return outcome

    def run_forever(self, stop: threading.Event, *, idle_sleep: float = 1.0) -> None:
        """Send actions until `stop` is set; back off while the database cannot be reached."""
        backoff = LoopBackoff("write-back")
        while not stop.is_set():
            try:
                claimed = self.run_once()
            except Exception as err:  # the database may be unreachable: keep going, back off
                stop.wait(backoff.failed(err))
                continue
            backoff.succeeded()
            if not claimed:
                stop.wait(idle_sleep)
