"""Hostile values for the fuzz tests: what an attacker, or a help desk on a bad day, puts in a field.

Out-of-range instants (years 0001 and 9999, offsets that push them off the calendar, epoch numbers),
huge and odd numbers, 10,000-character and NUL-holding identifiers, spreadsheet formulas (OWASP's CSV
injection list), control characters and markup. `hostile_event` puts some of them at random places of a
canonical event, nested keys included.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

INSTANTS = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00",
            "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "2026-13-45T25:61:61Z", "2026-03-02T14:05:00",
            "+002026-03-02T14:05:00Z", "2026-03-02T14:05:00.9999999999Z", "0000-00-00T00:00:00Z", "now", ""]
NUMBERS = [10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, -1e308, 0.1, -0.0, 99999999999999999999]
FORMULAS = ["=HYPERLINK(\"http://evil.test\",\"x\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3+cmd|' /C calc'!A0",
            "=1+1", "\t=1", "\r=1", "＝1", "=cmd|'/c calc'!A1"]
TEXTS = ["x" * 10_000, "T-\x00", "\x00", "a\nb", "\u202eevil", "<script>alert(1)</script>", "' OR 1=1 --", "\ud800",
         "é" * 300, " ", "%s%s%n"]
VALUES: list[Any] = [*INSTANTS, *NUMBERS, *FORMULAS, *TEXTS, None, True, [], {}, ["x" * 300], {"a": "\x00"}]

# where a value goes: (path within the event)
PATHS = [("ticket_id",), ("event_id",), ("account",), ("occurred_at",), ("type",), ("ticket", "created_at"),
         ("ticket", "status"), ("ticket", "priority"), ("ticket", "group"), ("ticket", "assignee"),
         ("ticket", "channel"), ("ticket", "subject"), ("ticket", "description"), ("ticket", "tags"),
         ("ticket", "requester", "org"), ("ticket", "requester", "id"), ("ticket", "requester", "tier"),
         ("ticket", "fields", "plan"), ("comment", "author_id"), ("comment", "author_role")]

hostile_values = st.sampled_from(VALUES)


@st.composite
def hostile_event(draw: st.DrawFn, base: dict[str, Any], *, changes: int = 3) -> dict[str, Any]:
    """A copy of `base` with 1..`changes` fields set to hostile values (or, for texts, hostile strings)."""
    event = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, changes))):
        path = draw(st.sampled_from(PATHS))
        target = event
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = draw(hostile_values)
        if path[0] == "comment" and event.get("type") != "comment.added":
            event["type"] = "comment.added"
            event["comment"].setdefault("author_role", "agent")
    return event


def encode(obj: Any) -> bytes:
    """JSON as a sender would send it (lone surrogates escaped, not encoded)."""
    return json.dumps(obj).encode()


def random_hostile_event(rng: Any, base: dict[str, Any], *, changes: int = 3) -> dict[str, Any]:
    """`hostile_event` driven by a `random.Random` (for tests that need many events and a real database)."""
    event = copy.deepcopy(base)
    for _ in range(rng.randint(1, changes)):
        path = rng.choice(PATHS)
        target = event
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = rng.choice(VALUES)
        if path[0] == "comment" and event.get("type") != "comment.added":
            event["type"] = "comment.added"
            event["comment"].setdefault("author_role", "agent")
    return event
