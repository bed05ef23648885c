"""A circuit breaker in front of the database, and what each database error means for the caller.

The breaker: after the database failed to answer, fail fast for a while. Without it, a database that accepts
connections and never answers makes every request wait its whole timeout, and a web server's few threads are
soon all waiting: requests that could have been answered at once (a 503, or a webhook spooled to disk) queue
behind them. After a failure the breaker is *open* for a cool-down that doubles with each failure in a row
(1 s, 2 s, … 30 s); then one caller at a time *probes*; the first success closes it. Callers while open get
`StoreUnavailable` immediately.

`classify` sorts a database error by its SQLSTATE (psycopg's ``sqlstate``) or SQLite's result code
(``sqlite_errorcode``), never by the driver's exception class alone — psycopg files a read-only transaction
(25006) and an internal error (XX000) under ``InternalError``, a missing table under ``ProgrammingError``, a
serialization failure under ``OperationalError``:

- `UNREACHABLE`: the database cannot be reached, did not answer, or ended the session (class 08, 57P01-57P05,
  53300 too many connections, 25P03, class 28 and 3D000 at connect; SQLite busy, locked, cannot open; or no
  code at all: a client-side timeout, a lost socket). Only these open the breaker.
- `SICK`: the database answered, but cannot do any work now, whatever the statement (classes 40, 53, 58, XX,
  57014 and 57000, 25006 read-only, 55P03 and 55006 locks; SQLite full, read-only, I/O error, out of memory,
  corrupt, interrupted, schema changed). Nothing to do with the row being written: raised as
  `StoreUnavailable` (the door spools, the worker gives its batch back without counting the attempt), the
  breaker stays closed (it answered, and reads may still work).
- `MISCONFIGURED`: the schema is not what the code expects (42P01 undefined table, 42703 undefined column,
  42883, 42704, 3F000, 42501 insufficient privilege; SQLite "no such table/column"): a deployment error an
  operator must fix, raised as `StoreMisconfigured` (the door answers 503 and logs at ERROR; deliveries
  are kept, never failed).
- `REFUSED`: anything else (22 data exception, 23 integrity, a statement the database cannot run): about
  this statement's values, raised as is.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

from sqlalchemy import exc as sa_exc

from connector.errors import StoreUnavailable

UNREACHABLE, SICK, MISCONFIGURED, REFUSED = "unreachable", "sick", "misconfigured", "refused"

_UNREACHABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03", "57P04", "57P05", "25P03", "3D000"})
_UNREACHABLE_CLASSES = ("08", "28")
_SICK_STATES = frozenset({"25006", "55P03", "55006", "57000", "57014"})
_SICK_CLASSES = ("40", "53", "58", "XX")
_MISCONFIGURED_STATES = frozenset({"42P01", "42703", "42883", "42704", "3F000", "42501"})
_SQLITE_UNREACHABLE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
                                 sqlite3.SQLITE_PROTOCOL})
_SQLITE_SICK = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOMEM,
                          sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_INTERRUPT,
                          sqlite3.SQLITE_PERM, sqlite3.SQLITE_SCHEMA})


def sqlstate(err: BaseException) -> str | None:
    """The SQLSTATE the server sent with a wrapped psycopg error (None for client-side errors)."""
    state = getattr(getattr(err, "orig", None), "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def sqlite_code(err: BaseException) -> int | None:
    """The primary SQLite result code of a wrapped sqlite3 error (SQLITE_FULL, SQLITE_READONLY, …)."""
    code = getattr(getattr(err, "orig", None), "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def classify(err: BaseException) -> str:
    """`UNREACHABLE`, `SICK`, `MISCONFIGURED` or `REFUSED` (see the module's docstring)."""
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return UNREACHABLE
    state = sqlstate(err)
    if state is not None:
        if state in _UNREACHABLE_STATES or state.startswith(_UNREACHABLE_CLASSES):
            return UNREACHABLE
        if state in _SICK_STATES or state.startswith(_SICK_CLASSES):
            return SICK
        return MISCONFIGURED if state in _MISCONFIGURED_STATES else REFUSED
    code = sqlite_code(err)
    if code is not None:
        if code in _SQLITE_UNREACHABLE:
            return UNREACHABLE
        if code in _SQLITE_SICK:
            return SICK
        text = str(getattr(err, "orig", "")).lower()
        return MISCONFIGURED if code == sqlite3.SQLITE_ERROR and ("no such table" in text or
                                                                  "no such column" in text) else REFUSED
    # no code: a client-side failure (a timeout, a lost socket, the pool) or an error made up by a test
    if isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError |
                  sa_exc.TimeoutError):
        return UNREACHABLE
    return REFUSED


_SICK_REASONS = {
    "53100": "the database is out of disk space", "53200": "the database is out of memory",
    "25006": "the database only allows reading (a standby after a failover?)",
    "40001": "the transaction lost a serialization conflict", "40P01": "the transaction was ended by a deadlock",
    "57014": "the database cancelled the statement (a statement timeout?)",
    "55P03": "a lock was not granted in time", "XX001": "the database reports corrupted data",
    "XX002": "the database reports a corrupted index",
}
_SQLITE_REASONS = {
    sqlite3.SQLITE_FULL: "the database or its disk is full", sqlite3.SQLITE_READONLY: "the database is read-only",
    sqlite3.SQLITE_IOERR: "the database had an I/O error", sqlite3.SQLITE_NOMEM: "the database is out of memory",
    sqlite3.SQLITE_CORRUPT: "the database file is corrupted", sqlite3.SQLITE_NOTADB: "the database file is corrupted",
    sqlite3.SQLITE_PERM: "the database file may not be written",
}


def _sick_reason(err: BaseException, state: str | None, code: int | None) -> str:
    if state is not None:
        reason = _SICK_REASONS.get(state) or {
            "40": "the transaction lost a conflict with another", "53": "the database is out of resources",
            "58": "the database had a system error", "XX": "the database reported an internal error",
        }.get(state[:2], "the database cannot do the work right now")
        return f"{reason} (SQLSTATE {state})"
    name = getattr(getattr(err, "orig", None), "sqlite_errorname", None) or f"SQLite code {code}"
    return f"{_SQLITE_REASONS.get(code or -1, 'the database cannot do the work right now')} ({name})"


def describe(err: BaseException) -> str:
    """A short reason naming the kind of failure, never the driver's message (it may quote parameters)."""
    kind = classify(err)
    state, code = sqlstate(err), sqlite_code(err)
    if kind == SICK:
        return _sick_reason(err, state, code)
    if kind == MISCONFIGURED:
        what = ("the database role lacks a privilege the connector needs" if state == "42501" else
                "a table or column the connector needs is missing: check the migrations (connector db upgrade)")
        return f"{what} ({f'SQLSTATE {state}' if state else 'SQLite: no such table or column'})"
    if isinstance(err, sa_exc.TimeoutError):
        return "no database connection became free in time"
    if state == "53300":
        return "the database has too many connections (SQLSTATE 53300)"
    if state is not None and state.startswith("57P"):
        return f"the database ended the session (an administrator or a shutdown; SQLSTATE {state})"
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
