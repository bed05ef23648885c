"""Backfill dedupe read by ids (issue 14): the stored history events are compared by id only, so a page
reads their ids and only the stored webhook events in full. `unseen_events` must answer the same either way."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.events import Comment
from connector.runtime.history import unseen_events
from tests.helpers import event, utc

START = utc("2026-03-02 10:00")
KINDS = ("ticket.created", "ticket.updated", "comment.added")


def is_history(event_id: str) -> bool:
    return event_id.startswith("h-")


an_event = st.builds(
    lambda history, n, kind, minute, public: event(
        START + timedelta(minutes=minute), KINDS[kind], event_id=f"{'h' if history else 'w'}-{n}",
        comment=Comment(author_role="agent", public=public) if KINDS[kind] == "comment.added" else None),
    st.booleans(), st.integers(0, 12), st.integers(0, 2), st.integers(0, 4), st.booleans())


@settings(max_examples=300, deadline=None)
@given(stored=st.lists(an_event, max_size=8, unique_by=lambda e: e.event_id), new=st.lists(an_event, max_size=8),
       stand_alone=st.booleans())
def test_the_stored_history_events_given_by_id_only_change_nothing(stored, new, stand_alone):
    whole = unseen_events(new, stored, is_history=is_history, batch_ids_stand_alone=stand_alone)
    by_id = unseen_events(new, [e for e in stored if not is_history(e.event_id)], is_history=is_history,
                          batch_ids_stand_alone=stand_alone,
                          stored_ids=[e.event_id for e in stored if is_history(e.event_id)])
    assert by_id == whole
