"""A circuit breaker in front of the database: after it failed to answer, fail fast for a while.

Without it, a database that accepts connections and never answers makes every request wait its whole
timeout, and a web server's few threads are soon all waiting: requests that could have been answered at
once (a 503, or a webhook spooled to disk) queue behind them. After a failure the breaker is *open* for a
cool-down that doubles with each failure in a row (1 s, 2 s, … 30 s); then one caller at a time *probes*;
the first success closes it. Callers while open get `StoreUnavailable` immediately.

Only failures to reach the database count (`is_unavailable`): a statement the database refuses (a value too
long, a constraint) proves it is up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import exc as sa_exc

from connector.errors import StoreUnavailable


def is_unavailable(err: BaseException) -> bool:
    """Return whether a database error means "cannot reach or did not answer" rather than "refused this"."""
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return True
    return isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError |
                      sa_exc.TimeoutError)


def describe(err: BaseException) -> str:
    """A short reason naming the kind of failure, never the driver's message (it may quote parameters)."""
    if isinstance(err, sa_exc.TimeoutError):
        return "no database connection became free in time"
    text = str(getattr(err, "orig", None) or err).lower()
    if "did not answer" in text or "timeout" in text or "timed out" in text:
        return "the database did not answer in time"
    if "refused" in text or "could not connect" in text or "connection failed" in text:
        return "the database refused the connection"
    if "locked" in text:
        return "the database is locked by another writer"
    return "the database connection failed"


class Breaker:
    """Open after a failure to reach the database; one probe at a time after the cool-down."""

    def __init__(self, *, base: float = 1.0, cap: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base
        self.cap = cap
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self._probing = False
        self.reason = ""

    @property
    def closed(self) -> bool:
        return self._failures == 0

    def before(self) -> bool:
        """Let a call through or raise `StoreUnavailable`; return True when this call is the probe."""
        if self._failures == 0:
            return False
        with self._lock:
            if self._failures == 0:
                return False
            now = self.clock()
            if now < self._open_until or self._probing:
                wait = max(self._open_until - now, 1.0)
                raise StoreUnavailable(f"{self.reason} (circuit open: retrying in {wait:.0f} s)", retry_after=wait)
            self._probing = True
            return True

    def success(self) -> None:
        if self._failures == 0 and not self._probing:
            return
        with self._lock:
            self._failures = 0
            self._probing = False
            self._open_until = 0.0

    def failure(self, reason: str) -> float:
        """Record a failure to reach the database; return the cool-down started."""
        with self._lock:
            self._failures += 1
            self._probing = False
            cooldown = min(self.cap, self.base * 2 ** (self._failures - 1))
            self._open_until = self.clock() + cooldown
            self.reason = reason
            return cooldown

    def release(self, probe: bool) -> None:
        """The probe ended without telling whether the database is up (an error of another kind)."""
        if probe:
            with self._lock:
                self._probing = False
