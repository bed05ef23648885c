"""The HTML reports in a real browser: headless Chromium loads each page from a file, once per report, and its DOM
holds the charts (inline `<svg>` in each chart container) and the tables with the JSON's headers and numbers.
At a laptop's width (1280 and 1366 CSS pixels) no table is wider than its box. On a real server, a sign-in
link opens the SLA report and leaves a session cookie that a reload, and other reports, are opened with.

Without Chromium these tests skip, unless the environment variable CI is set: in CI a missing browser fails.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connector.reports.build import REPORTS, ReportOptions, build_report
from connector.reports.render import render_html
from connector.runtime.worker import TicketProcessor
from connector.service.session import COOKIE, login_link
from connector.store import Store
from tests.browser import Chromium
from tests.integration.support import make_app, new_token, serving
from tests.report_support import CHARTS, NOW, PageReader, example_config, example_events, read_page, shown

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        if _in_ci():
            pytest.fail(f"{CHROMIUM} is not installed, and under CI the browser tests must run")
        pytest.skip(f"{CHROMIUM} is not installed (install the chromium package; under CI=true this fails)")
    return CHROMIUM


@cache
def _report(name: str) -> dict[str, Any]:
    return build_report(name, example_config(), events=example_events(), now=NOW)


@dataclass(frozen=True)
class Loaded:
    dom: str
    page: PageReader
    png: bytes


@pytest.fixture(scope="module", params=REPORTS)
def loaded(request: pytest.FixtureRequest, chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """Chromium's DOM dump and screenshot of one report's page (one browser run per report)."""
    name = request.param
    tmp = tmp_path_factory.mktemp(f"chromium-{name}")
    page = tmp / f"report-{name}.html"
    page.write_text(render_html(_report(name)), encoding="utf-8")
    png = tmp / "shot.png"
    done = subprocess.run([str(chromium), *FLAGS, f"--user-data-dir={tmp / 'profile'}", "--window-size=1280,2000",
                           f"--screenshot={png}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return Loaded(dom=done.stdout, page=read_page(done.stdout), png=png.read_bytes())


def _name(loaded: Loaded) -> str:
    match = re.search(r'<main class="report report-(\w+)"', loaded.dom)
    assert match, "the DOM has no report"
    return match.group(1)


def test_the_dom_has_the_charts_as_svg(loaded: Loaded):
    name = _name(loaded)
    assert loaded.page.charts == dict.fromkeys(CHARTS[name], 1)
    assert loaded.page.nodata == []
    # the SVG was parsed as SVG (namespaced elements with drawn paths), not left as text
    assert re.search(r'<svg[^>]*xmlns="http://www.w3.org/2000/svg"', loaded.dom)
    assert loaded.dom.count("<path") > 10 and "&lt;svg" not in loaded.dom


def test_the_dom_has_the_tables_with_the_json_numbers(loaded: Loaded):
    name = _name(loaded)
    report = _report(name)
    tables = loaded.page.tables
    if name == "sla":
        rows = tables["table-rows"]
        assert rows["headers"] == list(report["rows"][0])
        assert rows["rows"] == [[shown(v) for v in row.values()] for row in report["rows"]]
        assert len(tables["table-breaches"]["rows"]) == len(report["breaches"])
    elif name == "credits":
        rows = tables["table-rows"]
        assert rows["headers"][:3] == ["contract", "organizations", "period"]
        ours = [r for r in rows["rows"] if r[0] == "test-globex"]
        expected = [r for r in report["rows"] if r["contract"] == "test-globex"]
        assert [(r[2], r[rows["headers"].index("attainment_pct")], r[rows["headers"].index("credit_pct")])
                for r in ours] == [(r["period"], shown(r["attainment_pct"]), shown(r["credit_pct"]))
                                   for r in expected]
    elif name == "kpis":
        backlog = tables["table-backlog"]
        assert backlog["headers"] == ["severity", "<1d", "1-3d", "3-7d", "7-30d", ">30d", "total"]
        assert backlog["rows"] == [[shown(v) for v in row.values()] for row in report["backlog"]["rows"]]
        assert tables["table-escalations"]["headers"] == ["escalation", "severity", "count"]
        assert sum(int(r[2]) for r in tables["table-escalations"]["rows"]) == report["escalations"]["total"]
        assert tables["table-trends"]["rows"][0][5] == shown(report["trends"][0]["attainment_pct"])
    elif name == "olas":
        rows = tables["table-rows"]
        assert rows["headers"] == list(report["rows"][0])
        assert rows["rows"] == [[shown(v) for v in row.values()] for row in report["rows"]]
        assert [r[:2] for r in tables["table-breaches"]["rows"]] == \
            [[b["agreement"], b["team"]] for b in report["breaches"]]
        assert tables["table-handoffs"]["rows"] == [[shown(v) for v in r.values()] for r in report["handoffs"]["rows"]]
    elif name == "attribution":
        totals = tables["table-totals"]
        assert totals["headers"] == list(report["totals"][0])
        assert totals["rows"] == [[shown(v) for v in row.values()] for row in report["totals"]]
        assert len(tables["table-worst"]["rows"]) == len(report["worst"])
    else:
        confusion = tables["table-confusion"]
        assert confusion["headers"] == ["declared", "P1", "P2", "P3", "P4", "total"]
        assert confusion["rows"] == [[shown(v) for v in row.values()] for row in report["confusion"]["rows"]]
        by_org = tables["table-top_share_by_org"]
        assert [r[0] for r in by_org["rows"]] == [r["org"] for r in report["top_share"]["by_org"]]
    assert all(t["headers"] for t in tables.values())


def test_the_screenshot_is_a_1280_by_2000_png(loaded: Loaded):
    assert loaded.png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", loaded.png[16:24])
    assert (width, height) == (1280, 2000)
    assert len(loaded.png) > 30_000          # a rendered page, not a blank one


@pytest.mark.parametrize("name", REPORTS)
def test_the_page_references_nothing_on_the_network(name: str):
    page = render_html(_report(name))
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") \
        .replace('xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    assert "https://" not in page


# --- what fits a laptop screen (issue 12) --------------------------------------------------------------------

# tables wider than their box (which then scrolls sideways): [id, table width, box width] in CSS pixels
OVERFLOWING = ("[...document.querySelectorAll('table')].map(t => [t.id, t.scrollWidth, t.parentElement.clientWidth])"
               ".filter(([, table, box]) => table > box)")


FIRST_INSTANT = "#table-breaches td.instant"
LINES_OF_FIRST_INSTANT = (f"(() => {{ const range = document.createRange(); range.selectNodeContents("
                          f"document.querySelector({FIRST_INSTANT!r})); return new Set([...range.getClientRects()]"
                          ".map(r => Math.round(r.top))).size; })()")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1366, 768)])
def test_no_table_scrolls_sideways_on_a_laptop_screen(chromium: Path, tmp_path: Path, width: int, height: int):
    pages = {}
    for name in REPORTS:
        pages[name] = tmp_path / f"report-{name}.html"
        pages[name].write_text(render_html(_report(name)), encoding="utf-8")
    credits_march = tmp_path / "report-credits-march.html"   # the window that cuts a quarter: the widest row
    credits_march.write_text(render_html(build_report("credits", example_config(), events=example_events(), now=NOW,
                                                      options=ReportOptions(start="2026-03-01", end="2026-03-31"))),
                             encoding="utf-8")
    with Chromium(chromium, tmp_path / "profile") as browser:
        tab = browser.tab(width=width, height=height)
        for page in (*pages.values(), credits_march):
            tab.open(page.as_uri())
            assert tab.evaluate("document.documentElement.clientWidth") == width
            assert tab.evaluate(OVERFLOWING) == [], page.name
        tab.open(pages["sla"].as_uri())
        # the breach table is all there, its instants whole, the time on a line under the date
        rows = tab.evaluate("document.getElementById('table-breaches').tBodies[0].rows.length")
        assert rows == len(_report("sla")["breaches"]) > 0
        assert tab.evaluate(f"document.querySelector({FIRST_INSTANT!r}).textContent") == \
            _report("sla")["breaches"][0]["started_at"]
        assert tab.evaluate(LINES_OF_FIRST_INSTANT) == 2


# --- the browser's way in: a sign-in link on a real server (issue 12) ------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real server (waitress) over a store fed with the example events; yield (base URL, API token)."""
    store = Store(f"sqlite:///{tmp_path / 'served.db'}")
    store.upgrade()
    config = example_config()
    processor = TicketProcessor(store, config, writers={}, clock=lambda: NOW)
    for event in example_events():
        processor.apply_event(event)
    token = new_token()
    try:
        with serving(make_app(store, token=token, config=config, clock=lambda: NOW)) as port:
            yield f"http://127.0.0.1:{port}", token
    finally:
        store.dispose()


def test_a_sign_in_link_opens_the_sla_report_and_a_reload_keeps_it_open(chromium: Path, tmp_path: Path,
                                                                        served: tuple[str, str]):
    base, token = served
    link = login_link(base, token, now=NOW.timestamp())
    with Chromium(chromium, tmp_path / "profile") as browser:
        tab = browser.tab(width=1280, height=800)
        tab.open(link)
        assert tab.evaluate("location.href") == f"{base}/reports/sla"       # the code is not in the address bar
        page = read_page(tab.evaluate("document.documentElement.outerHTML"))
        assert page.charts == dict.fromkeys(CHARTS["sla"], 1)
        assert len(page.tables["table-breaches"]["rows"]) == len(_report("sla")["breaches"])
        assert all("code=" not in url for url in tab.history())            # nor in the tab's history
        assert tab.evaluate("document.cookie") == ""                       # HttpOnly: no script can read it
        cookies = {c["path"]: c for c in browser.cookies() if c["name"] == COOKIE}
        assert set(cookies) == {"/reports", "/tickets", "/board", "/board.json"}
        assert all(c["httpOnly"] and c["sameSite"] == "Strict" and not c["secure"] for c in cookies.values())

        tab.reload()                                                        # without the link: the cookie is enough
        assert tab.evaluate("location.href") == f"{base}/reports/sla"
        assert tab.evaluate("document.querySelector('main.report-sla h1').textContent") == "SLA attainment"
        tab.open(f"{base}/reports/audit")
        assert tab.evaluate("document.querySelector('main').className") == "report report-audit"

        tab.open(link)                                                      # the same link a second time
        assert tab.evaluate("location.href") == link
        assert "This sign-in link was already used" in tab.evaluate("document.body.innerText")
        assert tab.evaluate("document.forms.length") == 1


def test_a_browser_without_a_session_signs_in_with_the_token_form(chromium: Path, tmp_path: Path,
                                                                   served: tuple[str, str]):
    base, token = served
    with Chromium(chromium, tmp_path / "profile") as browser:
        tab = browser.tab(width=1280, height=800)
        tab.open(f"{base}/reports/kpis?tz=America/New_York")
        assert tab.evaluate("document.querySelector('h1').textContent") == "Sign in"
        tab.evaluate(f"document.getElementById('token').value = {json.dumps(token)}")
        tab.browser.send("Runtime.evaluate", {"expression": "document.forms[0].submit()"}, session=tab.session)
        tab.browser.wait("Page.loadEventFired", session=tab.session)
        assert tab.evaluate("location.href") == f"{base}/reports/kpis?tz=America/New_York"
        assert tab.evaluate("document.querySelector('main').className") == "report report-kpis"
