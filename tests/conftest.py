"""Shared fixtures: a fresh store on SQLite and, when CONNECTOR_TEST_POSTGRES_URL is set, on PostgreSQL; the
compass lines of the reliability tests; the slow tests first.

The README runs the suite in several processes (pytest-xdist, `-n auto`): each test must keep to its own
temporary directory, PostgreSQL schema, ports and environment, as every fixture here does. A figure a test
reports goes through `compass`, not to the terminal directly: a worker process's output is not shown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

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


COMPASS = "compass"


@pytest.fixture
def compass(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Report one figure line of a reliability test (style-and-reliability.md: ``R3 … PASS``). The lines are
    printed together at the end of the run, from every process of it: they travel with the test's report."""
    def show(line: str) -> None:
        request.node.user_properties.append((COMPASS, line))
    return show


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = [value for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", None) == "call"
             for name, value in getattr(report, "user_properties", ()) if name == COMPASS]
    if lines:
        terminalreporter.section(COMPASS)
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The reliability tests (fuzzing, killed processes: up to half a minute each) run first, so that in a run
    over several processes the last ones to finish are short and the processes end together. The order is
    the same in every process, as pytest-xdist requires."""
    items.sort(key=lambda item: item.get_closest_marker("reliability") is None)
