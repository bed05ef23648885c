"""The HTML reports in a real browser: headless Chromium loads each page from a file, once per report, and its DOM
holds the charts (inline `<svg>` in each chart container) and the tables with the JSON's headers and numbers.

Without Chromium these tests skip, unless the environment variable CI is set: in CI a missing browser fails.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connector.reports.build import REPORTS, build_report
from connector.reports.render import render_html
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
    else:
        confusion = tables["table-confusion"]
        assert confusion["headers"] == ["declared", "P1", "P2", "P3", "P4", "total"]
        assert confusion["rows"] == [[shown(v) for v in row.values()] for row in report["confusion"]["rows"]]
        by_org = tables["table-top_share-by_org"]
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
