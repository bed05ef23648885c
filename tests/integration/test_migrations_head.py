"""Start-up: a database already at the newest migration is recognised with one query, without Alembic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from connector.store import db

ROOT = Path(__file__).resolve().parents[2]


def test_the_head_revision_written_in_the_code_is_alembics():
    assert db.HEAD_REVISION == db.head_revision()


def test_a_database_at_head_is_seen_as_such_and_one_behind_is_upgraded(store):
    assert db.at_head(store.engine) and store.migrations_current()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        conn.execute(text("DROP INDEX ix_inbox_claimed"))
    assert not db.at_head(store.engine) and not store.migrations_current()
    store.upgrade()  # through Alembic: 0006 again, its index rebuilt
    assert db.at_head(store.engine) and db.current_revision(store.engine) == "0006"


def test_an_empty_database_is_not_at_head(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert not db.at_head(engine)
    db.upgrade(engine)
    assert db.at_head(engine)
    engine.dispose()


def test_the_worker_starts_on_a_migrated_store_without_loading_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    db.upgrade(db.make_engine(url))
    probe = ("import sys, runpy\n"
             "sys.argv = ['connector', 'worker', '--once']\n"
             "try:\n    runpy.run_module('connector', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('alembic loaded' if 'alembic' in sys.modules else 'alembic not loaded', file=sys.stderr)\n")
    env = {**os.environ, "CONNECTOR_DATABASE_URL": url, "CONNECTOR_CONFIG": str(ROOT / "config" / "example.yaml"),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.stderr.strip().endswith("alembic not loaded"), done.stderr[-2000:]
