"""The connector's error tree, sorted by what the caller does about it.

    ConnectorError
    ├── ConfigError          the configuration is invalid: fix the file (lists every problem by key path)
    ├── EventError           a canonical event is malformed: reject it, keep the others
    ├── InboundError         a webhook request is refused; the HTTP status says why
    │   ├── AuthError        401: signature or credentials missing or wrong
    │   ├── PayloadError     400/422: the body cannot be understood
    │   └── TooLarge         413: the body is over the size limit
    ├── WriteError           a write-back to a help desk failed
    │   ├── Transient        retry later (``retry_after`` seconds when the help desk said so)
    │   ├── Conflict         re-fetch the ticket, recompute, try again
    │   └── Permanent        give up: dead-letter the action with its reason
    └── StoreUnavailable     the database cannot be reached, did not answer in time, or answered that it
        │                    cannot work now (disk full, read-only, a conflict, an internal error): answer
        │                    503 with Retry-After (or spool), back off, try again (nothing was written)
        └── StoreMisconfigured  the database lacks a table, column or privilege the code needs (a migration
                             not applied): the same, and an operator must act (logged at ERROR)

Vendor exceptions are translated into these at the adapter boundary (``raise … from err``).
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class of every error the connector raises on purpose."""


class ConfigError(ConnectorError):
    """The configuration is invalid; ``problems`` lists every problem as ``key.path: message``."""

    def __init__(self, problems: list[str] | str, *, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        head = f"invalid configuration{f' in {source}' if source else ''}"
        body = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):\n{body}")


class EventError(ConnectorError):
    """A canonical event is malformed; ``line`` is its 1-based line number when read from JSONL."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.message = message
        self.line = line
        self.bad_lines: list = []
        super().__init__(f"line {line}: {message}" if line is not None else message)


class InboundError(ConnectorError):
    """A webhook request is refused; subclasses carry the HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AuthError(InboundError):
    status = 401
    code = "unauthorized"


class PayloadError(InboundError):
    status = 400
    code = "invalid_payload"


class TooLarge(InboundError):
    status = 413
    code = "too_large"


class WriteError(ConnectorError):
    """A write-back failed; subclasses say whether to retry, recompute or give up."""


class Transient(WriteError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Conflict(WriteError):
    pass


class Permanent(WriteError):
    pass


class StoreUnavailable(ConnectorError):
    """The database cannot be reached or did not answer within its timeout; `retry_after` is a hint (s)."""

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StoreMisconfigured(StoreUnavailable):
    """The database answers but lacks what the code needs (a table, a column, a privilege): a deployment error.

    Nothing about the delivery or ticket at hand: callers keep their work for later as for any
    `StoreUnavailable`, and say it at ERROR, since it will not heal by itself."""

    def __init__(self, message: str, *, retry_after: float = 30.0) -> None:
        super().__init__(message, retry_after=retry_after)
