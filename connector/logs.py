"""Structured, scrubbed logs: one line per record, no secret ever reaches a handler we installed.

`configure_logging(level, secrets)` installs on the root logger one stream handler with a one-line JSON
(or ``key=value``) formatter and the process-wide `ScrubFilter`. The filter replaces every registered
secret value (and its base64 form), and anything shaped like ``whsec_…``, ``Bearer …`` or ``Basic …``,
with ``***`` in the message, its arguments, the extra fields and the stack text. `register_secret` adds
values at runtime (the app factory registers every secret of its settings).

Log ids and reason codes through ``extra={...}``: `FIELDS` are printed when present. Never log raw
bodies, headers or vendor exception text; for exceptions the formatter prints the type and the
traceback frames, not the exception's message (which may quote a help desk's answer).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

FIELDS = ("source", "account", "delivery_id", "event_id", "ticket_id", "action", "outcome", "attempt", "reason",
          "status", "inbox_id", "duration_ms", "retry_in_s", "stack")
MASK = "***"
MIN_SECRET_CHARS = 4  # masking a 1-3 character "secret" would mangle every log line and protect nothing

# Shapes that are secrets whatever their value: webhook secrets and HTTP credentials.
_SHAPES = re.compile(
    r"whsec_[A-Za-z0-9+/=_-]+"
    r"|(?i:\b(bearer|basic)\s+)[A-Za-z0-9+/=._~-]{6,}"
)
# Attributes every LogRecord has; anything else was passed through `extra` and is scrubbed too.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


_TOKEN_MARKS = re.compile(r"[0-9+/=._~-]|.[A-Z]")


def _credential_like(token: str) -> bool:
    """Whether the word after "Basic"/"Bearer" looks like a credential rather than English ("Basic auth",
    "Bearer token", "HTTP Basic credentials"): a digit or token punctuation, an upper-case letter after
    the first, or the length of a real token. Base64 of "user:password" always has one of these."""
    return len(token) >= 24 or _TOKEN_MARKS.search(token) is not None


def _shape_mask(match: re.Match[str]) -> str:
    scheme = match.group(1)
    if not scheme:
        return MASK
    token = match.group(0)[match.end(1) - match.start(0):].lstrip()
    return f"{scheme} {MASK}" if _credential_like(token) else match.group(0)


class ScrubFilter(logging.Filter):
    """Replace registered secrets and credential-shaped text with ``***`` in every field of a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in secrets:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Register a secret value (and its base64 form); empty and very short values are ignored."""
        if not value or len(value) < MIN_SECRET_CHARS:
            return
        forms = {value, base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")}
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            # longest first, so a secret that contains another is masked whole
            alternatives = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alternatives))

    def scrub(self, text: str) -> str:
        """Return `text` with every secret masked."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _SHAPES.sub(_shape_mask, text)

    def _scrub_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.scrub(str(value))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what can be shown, scrubbed
            message = f"{record.msg} {record.args!r}"
        record.msg = self.scrub(message)
        record.args = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD:
                record.__dict__[name] = self._scrub_value(value)
        if record.exc_info and record.exc_info[1] is not None:
            # keep the type and frames as text; drop the exception object, whose message other handlers
            # (and formatters that ignore exc_text) would print
            record.exc_text = self.scrub(_exception_text(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def _exception_text(exc_info: Any) -> str:
    """The exception's type and frames, without its message (vendor text may quote secrets or data)."""
    exc_type, _exc, tb = exc_info
    frames = "".join(traceback.format_tb(tb)) if tb is not None else ""
    name = getattr(exc_type, "__qualname__", str(exc_type))
    return f"Traceback (most recent call last):\n{frames}{name}"


SCRUBBER = ScrubFilter()


def register_secret(value: str | None) -> None:
    """Mask this value in every log record from now on."""
    SCRUBBER.add(value)


def scrub(text: str) -> str:
    """Return `text` with every registered secret and credential-shaped token masked."""
    return SCRUBBER.scrub(text)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the known extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"time": _timestamp(record), "level": record.levelname, "logger": record.name,
                                "message": record.getMessage()}
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                data[name] = value
        if record.exc_info or record.exc_text:
            data["exc"] = record.exc_text or _exception_text(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """One ``key=value`` line: time level logger message, then the known extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, record.name, json.dumps(record.getMessage(),
                                                                                ensure_ascii=False)]
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                text = str(value)
                parts.append(f"{name}={json.dumps(text, ensure_ascii=False) if _needs_quotes(text) else text}")
        if record.exc_info or record.exc_text:
            parts.append("exc=" + json.dumps(record.exc_text or _exception_text(record.exc_info)))
        return " ".join(parts)


def _needs_quotes(text: str) -> bool:
    return not text or any(c.isspace() or c in '"=\\' for c in text)


QUIET_LOGGERS = ("alembic", "apscheduler")


def configure_logging(level: int | str = "INFO", secrets: Iterable[str] = (), *, fmt: str = "json",
                      stream: Any = None) -> logging.Handler:
    """Install the one-line formatter and the scrub filter on the root logger; return the handler."""
    for value in secrets:
        register_secret(value)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_connector", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._connector = True  # type: ignore[attr-defined]
    handler.setFormatter(KeyValueFormatter() if fmt == "kv" else JsonFormatter())
    handler.addFilter(SCRUBBER)
    root.addHandler(handler)
    for other in root.handlers:  # handlers installed by others (a server, a test harness) get scrubbed too
        if SCRUBBER not in other.filters:
            other.addFilter(SCRUBBER)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for chatty in QUIET_LOGGERS:  # migrations on every start and scheduler ticks are not news
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler
