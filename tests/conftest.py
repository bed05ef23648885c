"""Shared fixtures: a fresh store on SQLite and, when CONNECTOR_TEST_POSTGRES_URL is set, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from connector.store import Store
from tests.pg import fresh_schema

POSTGRES_URL = os.environ.get("CONNECTOR_TEST_POSTGRES_URL")


@pytest.fixture(autouse=True)
def _spool_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Deliveries spooled while a test's database is down go to a directory of the test's own, never to
    `.connector/spool` in the checkout (where the next test's worker would drain them)."""
    monkeypatch.setenv("CONNECTOR_SPOOL_DIR", str(tmp_path_factory.mktemp("spool")))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh, empty schema (dropped afterwards)."""
    if not POSTGRES_URL:
        pytest.skip("set CONNECTOR_TEST_POSTGRES_URL to run the PostgreSQL tests")
    with fresh_schema(POSTGRES_URL) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'connector.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on each database."""
    s = Store(database_url)
    s.upgrade()
    yield s
    s.dispose()
