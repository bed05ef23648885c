"""SQLite's write lock: a writer waiting behind another takes it within about a millisecond of its release
(`connector.store.db.begin_immediate`), not after SQLite's own busy handler's growing sleeps (up to 100 ms),
and gives up with "database is locked" once its patience is spent, as the busy timeout did."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.store import Store
from connector.store.db import LOCK_POLL_CAP, SQLITE_BUSY_MS, begin_immediate


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    return conn


def test_a_waiting_writer_polls_briefly_and_takes_the_lock_once_released(tmp_path: Path):
    holder, waiter = _connect(tmp_path / "lock.db"), _connect(tmp_path / "lock.db")
    holder.execute("BEGIN IMMEDIATE")
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 30:  # the other writer commits while this one waits
            holder.execute("COMMIT")

    begin_immediate(waiter, sleep=nap)
    assert waiter.in_transaction and len(naps) == 30
    assert max(naps) <= LOCK_POLL_CAP  # never SQLite's own 100 ms naps
    waiter.execute("COMMIT")
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (SQLITE_BUSY_MS,)  # the handler is back


def test_a_writer_gives_up_as_locked_once_its_patience_is_spent(tmp_path: Path):
    holder, waiter = _connect(tmp_path / "lock.db"), _connect(tmp_path / "lock.db")
    holder.execute("BEGIN IMMEDIATE")
    now = [0.0]

    def nap(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(waiter, patience_ms=200, sleep=nap, clock=lambda: now[0])
    assert 0.2 <= now[0] < 0.2 + LOCK_POLL_CAP * 2 and not waiter.in_transaction
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (200,)


def test_an_error_that_is_not_the_lock_is_raised_at_once(tmp_path: Path):
    conn = _connect(tmp_path / "lock.db")
    conn.execute("BEGIN")
    naps: list[float] = []
    with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
        begin_immediate(conn, sleep=naps.append)
    assert naps == []


def test_the_door_stores_a_delivery_as_soon_as_a_long_write_ends(tmp_path: Path):
    """Through the store: a delivery arriving while another writer holds the lock waits, then is stored."""
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    store.upgrade()
    holding, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with store.write():
            holding.set()
            release.wait(10)

    other = threading.Thread(target=long_write)
    other.start()
    holding.wait(10)
    stored: list[int] = []
    door = threading.Thread(target=lambda: stored.append(store.insert_inbox(
        source="webhook", dedupe_key="d1", body=b"{}", headers={}, received_at=datetime.now(UTC),
        dedupe_window=timedelta(0))[0]))
    door.start()
    door.join(0.2)
    assert door.is_alive() and not stored  # waiting for the lock
    release.set()
    other.join(10)
    door.join(10)
    assert stored == [1]
    store.dispose()
