"""Issue 14: a batch's rows written in bulk (`connector/store/bulk.py`) are the rows the row-at-a-time
statements write, on SQLite and PostgreSQL: the same values read back, the same upserts and conflicts.

The edges are the ones a hostile or unusual delivery brings: instants in years 0001 and 9999 with
microseconds and any offset, an integer beyond 64 bits inside a JSON column (orjson refuses it: the standard
library takes the batch), text with quotes, backslashes, formula-leading and non-BMP characters, NULLs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.dialects import sqlite

from connector.store import Store
from connector.store.bulk import rows_document, sqlite_instant
from connector.store.schema import Instant, board, clocks, decisions, events, outbox, tickets
from connector.store.store import _actions_once, _upsert_clocks, _upsert_ticket

T0 = datetime(2026, 3, 2, 9, 0, 0, 250_000, tzinfo=UTC)
EDGE_INSTANTS = [datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
                 datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30)))]
ODD_TEXT = ["=HYPERLINK(\"http://x\")", "O'Brien \\ \"quoted\"", "emoji \U0001F600 and ü", "+1-2", "@SUM(A1)"]


def clock_row(ticket: str, metric: str, cycle: int, *, status: str = "running", due: datetime | None = T0,
              updated: datetime = T0, elapsed: float = 0.0) -> dict[str, Any]:
    return {"source": "zendesk", "account": "acme", "ticket_id": ticket, "metric": metric, "cycle": cycle,
            "status": status, "severity": "P1", "policy": "gold", "calendar": "support-hours",
            "target_seconds": 3600, "started_at": T0, "due_at": due, "stopped_at": None,
            "elapsed_seconds": elapsed, "breached": False, "breached_at": None, "group_name": None,
            "requester_org": "Acme 'Ltd'", "updated_at": updated}


def ticket_row(ticket: str, state: dict[str, Any], *, at: datetime = T0) -> dict[str, Any]:
    return {"source": "zendesk", "account": "acme", "ticket_id": ticket, "version": 1, "state": state,
            "last_event_at": at, "next_check_at": None, "severity": "P2", "policy": None, "updated_at": at}


def read(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table))]
    for row in rows:
        row.pop("id", None)  # a serial: differs between the two writes by construction
    return sorted(rows, key=repr)


def clear(store: Store, *tables: Any) -> None:
    with store.write() as conn:
        for table in tables:
            conn.execute(delete(table))


def test_sqlite_instants_are_the_text_sqlalchemy_writes():
    process = Instant.dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    for at in EDGE_INSTANTS + [T0, T0.replace(microsecond=0)]:
        assert sqlite_instant(at) == process(at)
    assert sqlite_instant(None) is None
    with pytest.raises(ValueError, match="aware"):
        sqlite_instant(datetime(2026, 1, 1))  # noqa: DTZ001 - a naive instant is refused, as UTCDateTime does
    with pytest.raises(ValueError, match="aware"):
        sqlite_instant("2026-01-01 00:00:00")  # type: ignore[arg-type] - not an instant at all


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])))
def test_any_aware_instant_is_stored_as_sqlalchemy_stores_it(at):
    process = Instant.dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    assert sqlite_instant(at) == process(at)


def test_rows_document_falls_back_for_an_integer_beyond_64_bits():
    doc = rows_document([{"n": 2 ** 70, "at": T0}])
    assert str(2 ** 70).encode() in doc and b"2026-03-02T09:00:00.250000+00:00" in doc


@pytest.mark.parametrize("instant", EDGE_INSTANTS)
def test_bulk_rows_read_back_as_the_row_at_a_time_statements_write_them(store, instant):
    statements = store.ticket_statements
    state = {"big": 2 ** 70, "text": ODD_TEXT, "nested": {"at": "2026-03-02T09:00:00Z", "none": None}}
    ticket_rows = [ticket_row(f"T{n}", {**state, "n": n}, at=instant) for n in range(3)]
    clock_rows = [clock_row(f"T{n}", metric, 1, due=None if n == 2 else instant, updated=instant, elapsed=0.5 + n)
                  for n in range(3) for metric in ("first_response", "resolution")]
    event_rows = [{"source": "zendesk", "account": "acme", "ticket_id": "T1", "event_id": text, "occurred_at": instant,
                   "type": "comment.added", "payload": {"text": text, "big": 2 ** 65}, "inbox_id": None}
                  for text in ODD_TEXT]
    decision_rows = [{"source": "zendesk", "account": "acme", "ticket_id": "T1", "event_id": None,
                      "decided_at": instant, "severity": "P1", "declared": None, "rule": text, "policy": "gold",
                      "summary": {"clocks": [], "added": [text]}} for text in ODD_TEXT]
    action_rows = [{"key": f"k-{text}", "source": "zendesk", "account": "acme", "ticket_id": "T1",
                    "action": "add_tag", "params": {"tag": text}, "cause": "rule", "state": "dry_run", "attempts": 0,
                    "next_try_at": instant, "created_at": instant, "updated_at": instant} for text in ODD_TEXT]
    board_rows = [{"source": "zendesk", "account": "acme", "ticket_id": f"T{n}", "agreement": "",
                   "metric": "first_response", "cycle": 1, "team": None, "severity": "P1", "declared": "urgent",
                   "policy": "gold",
                   "calendar": "support-hours", "target_seconds": 3600.0, "started_at": instant, "due_at": instant,
                   "group_name": ODD_TEXT[n], "assignee": None, "updated_at": instant} for n in range(3)]
    tables = [(tickets, ticket_rows, statements.save, _upsert_ticket),
              (clocks, clock_rows, statements.save_clocks, _upsert_clocks),
              (events, event_rows, events.insert(), None),
              (decisions, decision_rows, statements.add_decision, None),
              (outbox, action_rows, _actions_once(store._insert(outbox)), _actions_once),
              (board, board_rows, statements.board_add, None)]
    for table, rows, one_at_a_time, shape in tables:
        with store.write() as conn:
            conn.execute(one_at_a_time, rows)
        expected = read(store, table)
        clear(store, table)
        with store.write() as conn:
            if shape is None:
                store.bulk.insert(conn, table.name, table, rows)
            else:
                store.bulk.insert(conn, table.name, table, rows, shape)
        assert read(store, table) == expected, table.name
        assert len(expected) == len(rows)


def test_bulk_upserts_conflicts_and_deletes_behave_as_the_statements_do(store):
    with store.write() as conn:
        store.bulk.insert(conn, "tickets", tickets, [ticket_row("T1", {"v": 1}), ticket_row("T2", {"v": 1})],
                          _upsert_ticket)
        store.bulk.insert(conn, "clocks", clocks, [clock_row("T1", "resolution", 1)], _upsert_clocks)
        store.bulk.insert(conn, "outbox", outbox, [{
            "key": "k1", "source": "zendesk", "account": "acme", "ticket_id": "T1", "action": "add_tag",
            "params": {"tag": "first"}, "cause": "rule", "state": "pending", "attempts": 0, "next_try_at": T0,
            "created_at": T0, "updated_at": T0}], _actions_once)
    later = T0 + timedelta(hours=1)
    with store.write() as conn:  # the second write of each: an update, a version bump, a key already there
        store.bulk.insert(conn, "tickets", tickets, [ticket_row("T1", {"v": 2}, at=later)], _upsert_ticket)
        store.bulk.insert(conn, "clocks", clocks, [clock_row("T1", "resolution", 1, status="stopped", elapsed=99.5,
                                                             updated=later)], _upsert_clocks)
        store.bulk.insert(conn, "outbox", outbox, [{
            "key": "k1", "source": "zendesk", "account": "acme", "ticket_id": "T1", "action": "add_tag",
            "params": {"tag": "second"}, "cause": "rule", "state": "pending", "attempts": 0, "next_try_at": later,
            "created_at": later, "updated_at": later}], _actions_once)
    by_ticket = {r["ticket_id"]: r for r in read(store, tickets)}
    assert by_ticket["T1"]["version"] == 2 and by_ticket["T1"]["state"] == {"v": 2}
    assert by_ticket["T1"]["last_event_at"] == later and by_ticket["T2"]["version"] == 1
    (clock,) = read(store, clocks)
    assert (clock["status"], clock["elapsed_seconds"], clock["updated_at"]) == ("stopped", 99.5, later)
    (action,) = read(store, outbox)
    assert action["params"] == {"tag": "first"}  # the first action with a key stays, as ON CONFLICT DO NOTHING
    running = [{"source": "zendesk", "account": "acme", "ticket_id": t, "agreement": "", "metric": "resolution",
                "cycle": 1, "team": None, "severity": "P1", "declared": None, "policy": "gold",
                "calendar": "support-hours", "target_seconds": 60.0, "started_at": T0, "due_at": T0,
                "group_name": None, "assignee": None, "updated_at": T0} for t in ("T1", "T2", "T3")]
    with store.write() as conn:
        store.bulk.insert(conn, "board", board, running)
        store.bulk.delete(conn, "board", board, [{"source": "zendesk", "account": "acme", "ticket_id": "T1"},
                                                 {"source": "zendesk", "account": "acme", "ticket_id": "T3"},
                                                 {"source": "zendesk", "account": "other", "ticket_id": "T2"}])
    assert [r["ticket_id"] for r in read(store, board)] == ["T2"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40),
                      min_size=1, max_size=5, unique=True),
       number=st.one_of(st.integers(min_value=-(2 ** 80), max_value=2 ** 80),
                        st.floats(allow_nan=False, allow_infinity=False)))
def test_any_text_and_number_in_a_json_column_round_trip_in_bulk(store, texts, number):
    rows = [{"source": "webhook", "account": "acme", "ticket_id": f"T{n}", "event_id": None, "decided_at": T0,
             "severity": "P3", "declared": text[:32] or None, "rule": text or "r", "policy": None,
             "summary": {"text": text, "number": number, "list": texts}} for n, text in enumerate(texts)]
    clear(store, decisions)
    with store.write() as conn:
        store.bulk.insert(conn, "decisions", decisions, rows)
    stored = {r["ticket_id"]: r for r in read(store, decisions)}
    for row in rows:
        got = stored[row["ticket_id"]]
        assert got["summary"] == row["summary"] and got["rule"] == row["rule"] and got["declared"] == row["declared"]


def test_a_page_of_historys_tickets_are_read_in_one_go_as_one_at_a_time(store):
    from connector.events import event_to_dict, parse_event
    from tests.reliability.procs import canonical

    evs = [parse_event(canonical(f"T{n % 3}", f"e{n}", f"2026-03-02T09:{n:02d}:00Z")) for n in range(9)]
    with store.write() as conn:
        conn.execute(events.insert(), [{"source": e.source, "account": e.account, "ticket_id": e.ticket_id,
                                        "event_id": e.event_id, "occurred_at": e.occurred_at, "type": e.type,
                                        "payload": event_to_dict(e),
                                        "inbox_id": None} for e in reversed(evs)])
    keys = [evs[0].key, evs[1].key, ("webhook", evs[0].account, "never-seen"), ("zendesk", "other", "T0")]
    together = store.events_of(keys)
    assert together == {key: store.ticket_events(key) for key in keys}
    assert [e.event_id for e in together[evs[0].key]] == ["e0", "e3", "e6"] and not together[keys[2]]
    # the ids alone, and only the events asked for (a page compares its stored history events by id only)
    assert {key: sorted(ids) for key, ids in store.event_ids_of(keys).items()} == {
        key: sorted(e.event_id for e in together[key]) for key in keys}
    some = store.events_of(keys, only={"e3", "e4", "e7"})
    assert {key: [e.event_id for e in found] for key, found in some.items()} == {
        evs[0].key: ["e3"], evs[1].key: ["e4", "e7"], keys[2]: [], keys[3]: []}
    assert some[evs[1].key] == [e for e in together[evs[1].key] if e.event_id in {"e4", "e7"}]
