"""Small value helpers every source's mapping shares: ISO instants, words, and values shown in reasons."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connector.errors import PayloadError
from connector.events import EARLIEST_INSTANT, LATEST_INSTANT

MAX_VALUE_SHOWN = 60
NO_VALUE = frozenset({"", "-", "none", "null"})

_ISO = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
                  r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})")
_WORD_GAPS = re.compile(r"[\s\-]+")


def shown(value: Any) -> str:
    """Return a value's repr cut to a length fit for an error reason."""
    text = repr(value)
    return text if len(text) <= MAX_VALUE_SHOWN else text[:MAX_VALUE_SHOWN - 1] + "…"


def read_iso(value: Any) -> tuple[datetime | None, bool]:
    """Read an ISO 8601 timestamp with Z or an offset: (its aware UTC instant if inside the accepted range
    1970-2099, whether it *was* such a timestamp but outside the range or off the calendar). A human date or
    anything else is (None, False): the caller looks elsewhere; the second case is a value to refuse."""
    if not isinstance(value, str) or len(value) > 40:
        return None, False
    match = _ISO.fullmatch(value.strip())
    if match is None:
        return None, False
    main, fraction, zone = match.groups()
    # Event webhooks send nanoseconds; keep microseconds (Python 3.11 reads at most 6 digits reliably).
    text = main + (f".{fraction[:6].ljust(6, '0')}" if fraction else "") + ("+00:00" if zone == "Z" else zone)
    try:
        instant = datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None, False
    except OverflowError:  # 0001-01-01T00:00:00+14:00 falls off the calendar
        return None, True
    if not EARLIEST_INSTANT <= instant < LATEST_INSTANT:
        return None, True
    return instant, False


def iso_instant(value: Any) -> datetime | None:
    """Return the aware UTC instant of an ISO 8601 timestamp with Z or an offset inside 1970-2099, else None."""
    return read_iso(value)[0]


def word(value: str) -> str:
    """Normalize a label to a lower-case word with underscores ("On-hold" → "on_hold"); "" for no value."""
    text = value.strip().lower()
    return "" if text in NO_VALUE else _WORD_GAPS.sub("_", text)


def tag_tuple(value: Any, *, separator: str | None, separator_name: str,
              show: Callable[[Any], str] = shown) -> tuple[str, ...]:
    """Tags from a list, or from a string split on `separator` (None: on whitespace), in order, without
    repeats; `PayloadError` naming `tags` for anything else. `show` renders a bad value in the reason."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = [item.strip() for item in value.split(separator)]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise PayloadError(f"tags: expected a list or a {separator_name}-separated string, got {show(value)}")
    tags: dict[str, None] = {}  # in order, without repeats, in linear time (a list's `in` made it quadratic)
    for item in items:
        if not isinstance(item, str):
            raise PayloadError(f"tags: expected strings, got {show(item)}")
        if item:
            tags[item] = None
    return tuple(tags)
