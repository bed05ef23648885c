"""A psycopg connection whose every wait for the server has a deadline.

libpq's ``connect_timeout`` bounds connecting, and PostgreSQL's ``statement_timeout`` bounds work the server
does, but neither helps when the server (or anything between us and it) accepts bytes and never answers:
a "black-holed" database. Kernel keepalives are answered by whatever proxy or load balancer holds the
socket, so they do not help either. psycopg consumes every answer through `Connection.wait`; this subclass
gives that wait the store's timeout, closes the connection when it expires (its state is unknown: it must
never go back to the pool) and raises `OperationalError`, which SQLAlchemy treats as a disconnect.

`patience(seconds)` lengthens (or, with None, removes) the deadline for the statements of one block —
migrations and reports over a large store legitimately take longer than a webhook's insert.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg import errors as pg_errors

_UNSET = -1.0
_override: ContextVar[float | None] = ContextVar("connector_db_patience", default=_UNSET)


@contextmanager
def patience(seconds: float | None) -> Iterator[None]:
    """Let the database statements of this block wait up to `seconds` for an answer (None: no bound)."""
    token = _override.set(seconds)
    try:
        yield
    finally:
        _override.reset(token)


class DeadlineConnection(psycopg.Connection[Any]):
    """`psycopg.Connection` with a bound on every wait for the server (`answer_timeout` seconds)."""

    answer_timeout: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is None:
            override = _override.get()
            timeout = self.answer_timeout if override == _UNSET else override
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except pg_errors._WaitTimeout:
            # the answer may still come, half-read: the connection can never be used again
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {timeout:g} s (connection closed)") from None


def session_bounds(answer_timeout: float) -> dict[str, int]:
    """The server-side bounds of a session, in milliseconds, for a store whose answers take `answer_timeout`.

    - ``idle_in_transaction_session_timeout``: a client that vanished inside a transaction (black-holed, its
      process killed) leaves a server session holding the transaction's locks — a ticket's advisory lock —
      until the server's TCP keepalive notices, two hours by default. The server ends such a session after
      ten answer timeouts (at least 10 s); the connector never leaves a transaction idle that long.
    - ``lock_timeout``: a lock wait ends server-side after two answer timeouts, whatever the client does.
    """
    return {"idle_in_transaction_session_timeout": int(max(10.0, 10 * answer_timeout) * 1000),
            "lock_timeout": int(2 * answer_timeout * 1000)}


def connect(answer_timeout: float, *args: Any, **kwargs: Any) -> DeadlineConnection:
    """Open a connection whose waits for an answer time out after `answer_timeout` seconds, and whose
    session the server bounds too (`session_bounds`)."""
    conn = DeadlineConnection.connect(*args, **kwargs)
    conn.answer_timeout = answer_timeout
    try:
        for name, ms in session_bounds(answer_timeout).items():
            conn.execute(f"SET {name} = {ms}")  # constants: no value of the user's reaches this text
        conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn
