"""The ingress spool on its own: durable files, per-database directories, damaged files kept aside, a bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.store import Store
from connector.store.spool import Spool, Spooled, SpoolError, for_database
from tests.integration.support import inbox_bodies

AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def delivery(n: int) -> Spooled:
    return Spooled(source="webhook", dedupe_key=f"msg-{n}", body=b'{"n": %d}' % n, headers={"webhook-id": f"msg-{n}"},
                   received_at=AT + timedelta(seconds=n))


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'a.db'}")
    store.upgrade()
    yield store
    store.dispose()


def test_drain_moves_deliveries_in_order_through_the_inbox_dedupe(tmp_path, sqlite_store):
    spool = for_database(tmp_path / "spool", sqlite_store.url)
    for n in (1, 2, 3):
        spool.put(delivery(n))
    spool.put(delivery(2))  # the sender retried while the database was away
    assert spool.depth() == 4
    assert spool.drain(sqlite_store, dedupe_window=timedelta(days=3)) == 4
    assert inbox_bodies(sqlite_store) == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']  # the repeat is a duplicate
    assert spool.depth() == 0


def test_two_databases_never_share_a_spool(tmp_path, sqlite_store):
    other = Store(f"sqlite:///{tmp_path / 'b.db'}")
    other.upgrade()
    try:
        mine, theirs = for_database(tmp_path / "spool", sqlite_store.url), for_database(tmp_path / "spool", other.url)
        assert mine.directory != theirs.directory
        mine.put(delivery(1))
        assert theirs.drain(other, dedupe_window=timedelta(days=3)) == 0
        assert inbox_bodies(other) == []
    finally:
        other.dispose()


def test_a_damaged_file_is_kept_aside_and_the_rest_drains(tmp_path, sqlite_store):
    spool = Spool(tmp_path / "spool")
    spool.put(delivery(1))
    damaged = spool.put(delivery(2))
    (spool.directory / damaged).write_bytes(b'{"v": 1, "source": "webhook", "body": "not base64!"')
    spool.put(delivery(3))
    assert spool.drain(sqlite_store, dedupe_window=timedelta(days=3)) == 2
    assert (spool.directory / "rejected" / damaged).exists()
    assert inbox_bodies(sqlite_store) == [b'{"n": 1}', b'{"n": 3}']


def test_a_full_spool_refuses(tmp_path):
    spool = Spool(tmp_path / "spool", max_files=2)
    spool.put(delivery(1))
    spool.put(delivery(2))
    with pytest.raises(SpoolError, match="holds 2 deliveries"):
        spool.put(delivery(3))


def test_a_delivery_whose_values_the_database_refuses_is_set_aside_and_the_rest_drains(tmp_path, postgres_url):
    """Spooled while the database was away, a delivery the door would have answered 400 (a NUL in its id:
    PostgreSQL text holds none) reaches the database only at the drain. It used to raise out of the drain
    at every turn, and every file behind it waited; now it is kept aside, and the rest go on."""
    store = Store(postgres_url)
    store.upgrade()
    try:
        spool = for_database(tmp_path / "spool", store.url)
        spool.put(delivery(1))
        bad = spool.put(Spooled(source="webhook", dedupe_key="msg-\x00", body=b'{"n": 2}', headers={},
                                received_at=AT))
        spool.put(delivery(3))
        assert spool.drain(store, dedupe_window=timedelta(days=3)) == 2
        assert inbox_bodies(store) == [b'{"n": 1}', b'{"n": 3}']
        assert (spool.directory / "rejected" / bad).exists() and spool.depth() == 0
    finally:
        store.dispose()


def test_a_delivery_the_inbox_refuses_for_now_waits_and_the_rest_drain(tmp_path, store):
    """A refusal the database's state makes (here a constraint an operator added) may heal: the delivery stays
    in the spool for the next drain, and the files behind it are moved meanwhile."""
    from sqlalchemy import text

    if store.dialect == "postgresql":
        ddl, heal = ("ALTER TABLE inbox ADD CONSTRAINT not_two CHECK (dedupe_key <> 'msg-2')",
                     "ALTER TABLE inbox DROP CONSTRAINT not_two")
    else:
        ddl, heal = ("CREATE TRIGGER not_two BEFORE INSERT ON inbox WHEN NEW.dedupe_key = 'msg-2' "
                     "BEGIN SELECT RAISE(ABORT, 'not two'); END", "DROP TRIGGER not_two")
    with store.engine.begin() as conn:
        conn.execute(text(ddl))
    spool = for_database(tmp_path / "spool", store.url)
    for n in (1, 2, 3):
        spool.put(delivery(n))
    assert spool.drain(store, dedupe_window=timedelta(days=3)) == 2
    assert inbox_bodies(store) == [b'{"n": 1}', b'{"n": 3}'] and spool.depth() == 1
    with store.engine.begin() as conn:
        conn.execute(text(heal))
    assert spool.drain(store, dedupe_window=timedelta(days=3)) == 1
    assert inbox_bodies(store) == [b'{"n": 1}', b'{"n": 3}', b'{"n": 2}'] and spool.depth() == 0
