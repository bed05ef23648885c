"""The live board in a real browser (issue 17): headless Chromium opens `/board` on a real server with the
wall token; the page fills its table from board.json, updates itself when the worker applies a new event
(no reload), filters, keeps customer text as text, fetches nothing but its own origin, and says so when the
database stops answering. Skips without Chromium, unless CI is set (tests/integration/test_reports_chromium).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.runtime.worker import TicketProcessor
from connector.service import create_app
from connector.settings import Secret, Settings
from connector.store import Store
from tests import helpers
from tests.browser import Chromium, Tab
from tests.helpers import event, utc
from tests.integration.support import new_token, serving
from tests.integration.test_board import NOW, _queue
from tests.integration.test_reports_chromium import chromium  # noqa: F401 (the fixture)

EVIL = '<img src=x onerror="document.title=\'pwned\'">'


@dataclass
class Served:
    base: str
    wall: str
    store: Store
    processor: TicketProcessor


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    store = Store(f"sqlite:///{tmp_path / 'board.db'}")
    store.upgrade()
    config = helpers.config()
    processor = TicketProcessor(store, config, {}, clock=lambda: utc("2026-01-01 00:00"))
    queue = [*_queue(), event("2026-03-02 10:15", "ticket.created", status="new", created="2026-03-02 10:15",
                              ticket_id="4", group=EVIL, priority="high")]
    for e in sorted(queue, key=lambda e: e.occurred_at):
        processor.apply_event(e)
    wall = new_token()
    settings = Settings(database_url=store.url, api_token=Secret(new_token()), board_token=Secret(wall))
    app = create_app(settings, store=store, config=config, clock=lambda: NOW)
    try:
        with serving(app) as port:
            yield Served(f"http://127.0.0.1:{port}", wall, store, processor)
    finally:
        store.dispose()


def until(tab: Tab, expression: str, check: Callable[[Any], bool], timeout: float = 15.0) -> Any:
    """Evaluate `expression` until `check` holds for its value (the page polls on its own)."""
    deadline = time.monotonic() + timeout
    while True:
        value = tab.evaluate(expression)
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression} stayed {value!r}")
        time.sleep(0.2)


ROWS = "[...document.querySelectorAll('#board tbody tr')].map(tr => tr.dataset.ticket + ' ' + tr.cells[3].textContent)"
COUNT = "document.getElementById('c-{}').textContent"


def test_the_board_page_fills_updates_filters_and_degrades(chromium: Path, tmp_path: Path, served: Served,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch):
    with Chromium(chromium, tmp_path / "profile") as browser:
        tab = browser.tab(width=1366, height=900)
        tab.open(f"{served.base}/board?token={served.wall}&every=2")
        rows = until(tab, ROWS, lambda v: len(v) == 8)
        # by business time remaining: ticket 2's breached first response first (see test_board), then ticket
        # 4's (P2, 2h from 10:15: 1h15m left), 3's and 1's
        assert rows[:4] == ["zendesk/acme/2 first_response", "zendesk/acme/4 first_response",
                            "zendesk/acme/3 first_response", "zendesk/acme/1 first_response"]
        assert tab.evaluate(COUNT.format("breached")) == "1"
        assert tab.evaluate("document.querySelector('#board a').href") == "https://acme.zendesk.com/agent/tickets/2"
        # customer text stays text: the group cell holds the markup as characters, and no element came of it
        assert tab.evaluate("document.querySelectorAll('#board img').length") == 0
        assert EVIL in tab.evaluate("document.getElementById('board').innerText")
        assert tab.evaluate("document.title") == "SLA board"
        assert "updated" in tab.evaluate("document.getElementById('updated').textContent")

        # a new ticket processed by the worker appears without a reload
        served.processor.apply_event(event("2026-03-02 10:50", "ticket.created", status="new",
                                           created="2026-03-02 10:50", ticket_id="5", priority="urgent",
                                           group="ops"))
        rows = until(tab, ROWS, lambda v: len(v) == 10)
        assert "zendesk/acme/5 first_response" in rows

        # a filter asks the server again: only that group's clocks, and its counts
        tab.evaluate("(() => { const f = document.getElementById('f-group'); f.value = 'support';"
                     " f.dispatchEvent(new Event('change')); })()")
        rows = until(tab, ROWS, lambda v: len(v) == 4)
        assert {r.split()[0] for r in rows} == {"zendesk/acme/1", "zendesk/acme/3"}
        assert tab.evaluate(COUNT.format("breached")) == "0"

        # nothing left the page but its own origin
        urls = tab.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert urls and all(u.startswith(served.base + "/board.json?") for u in urls)

        # the database stops answering: the last board stays, under a banner saying so
        from sqlalchemy.exc import OperationalError

        def broken(self: Store) -> Any:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))

        monkeypatch.setattr(Store, "read", broken)
        banner = until(tab, "document.getElementById('banner').className + '|' + "
                            "document.getElementById('banner').textContent", lambda v: v.startswith("banner on"))
        assert "cannot answer" in banner and "the board below is as of" in banner
        assert len(tab.evaluate(ROWS)) == 4
        monkeypatch.undo()
        until(tab, "document.getElementById('banner').className", lambda v: v == "banner")
