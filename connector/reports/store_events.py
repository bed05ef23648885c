"""The store's events for the reports that replay them (credits, KPIs, audit), leaving out what is not an event.

Ingest accepts only valid canonical events, but a store filled by an older version may hold rows that are
not valid today: an instant in year 0001 or 9999 (`connector.events` accepts 1970-2100), an identifier
with a control character, a payload of the wrong shape. Such a row cannot be placed in any report; it is
left out and counted, and the report says how many (`"skipped": {"events": n}`), instead of failing for
everyone. The rows are read in the order `Store.all_events` reads them (by `occurred_at`, then id).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from connector.errors import EventError
from connector.events import Event, parse_event
from connector.store import Store
from connector.store.schema import events as T

log = logging.getLogger("connector.reports")


def stored_events(store: Store, *, until: datetime) -> tuple[list[Event], int]:
    """Return the stored events up to `until` that are valid canonical events, and how many rows were not."""
    query = select(T.c.payload).where(T.c.occurred_at <= until).order_by(T.c.occurred_at, T.c.id)
    out: list[Event] = []
    skipped = 0
    with store.read() as conn:
        for row in conn.execute(query):
            try:
                out.append(parse_event(row.payload))
            except EventError:
                skipped += 1
    if skipped:
        # the count only: a payload may hold anything a help desk sent
        log.warning("report: %d stored events left out (not valid events)", skipped,
                    extra={"action": "report", "outcome": "skipped"})
    return out, skipped
