"""The what-if page in headless Chromium (issue 18): the example's "P3 first response 8h → 4h" comparison
loads with its two charts as inline SVG, its tables hold the JSON's numbers, and no table scrolls sideways
on a laptop screen. Skips without Chromium, unless CI is set (see test_reports_chromium).
"""

from __future__ import annotations

from pathlib import Path

from connector.config import load_config
from connector.events import read_jsonl
from connector.reports.render import render_html
from connector.reports.simulate import simulate
from tests.browser import Chromium
from tests.integration.test_reports_chromium import OVERFLOWING, chromium  # noqa: F401 (the fixture)
from tests.report_support import PageReader, read_page, shown

ROOT = Path(__file__).resolve().parents[2]


def _comparison() -> dict:
    with (ROOT / "examples" / "events.jsonl").open(encoding="utf-8") as fh:
        events = read_jsonl(fh)
    return simulate(load_config(ROOT / "config" / "example.yaml"),
                    load_config(ROOT / "examples" / "proposed-p3-first-response-4h.yaml"), events)


def _opened(chromium: Path, tmp_path: Path, data: dict) -> PageReader:  # noqa: F811
    """Open the page of `data` at a laptop's width; no table may scroll sideways; return what it shows."""
    page = tmp_path / f"{data['report']}.html"
    page.write_text(render_html(data), encoding="utf-8")
    with Chromium(chromium, tmp_path / "profile") as browser:
        tab = browser.tab(width=1280, height=800)
        tab.open(page.as_uri())
        assert tab.evaluate(OVERFLOWING) == []
        return read_page(tab.evaluate("document.documentElement.outerHTML"))


def test_the_what_if_page_in_a_browser(chromium: Path, tmp_path: Path):  # noqa: F811
    data = _comparison()
    reader = _opened(chromium, tmp_path, data)
    assert reader.charts == {"attainment": 1, "changed": 1}
    rows = reader.tables["table-rows"]
    assert rows["headers"][:3] == ["metric", "severity", "policy"]
    p3 = next(r for r in rows["rows"] if r[:3] == ["first_response", "P3", "standard"])
    expected = next(r for r in data["rows"] if (r["metric"], r["severity"], r["policy"]) ==
                    ("first_response", "P3", "standard"))
    assert p3[3:6] == [shown(expected["current"]["attainment_pct"]), shown(expected["proposed"]["attainment_pct"]),
                       shown(expected["difference"]["attainment_pct"])]
    assert [r[1] for r in reader.tables["table-changed"]["rows"]] == ["1005"]


def test_the_capacity_page_in_a_browser(chromium: Path, tmp_path: Path):  # noqa: F811
    from connector.reports.capacity import capacity, parse_goal

    config = load_config(ROOT / "config" / "example.yaml")
    with (ROOT / "examples" / "events.jsonl").open(encoding="utf-8") as fh:
        events = read_jsonl(fh)
    goals = [parse_goal(t, config, "standard") for t in ("P3 first_response 90%", "P1 first_response 95%")]
    data = capacity(config, events, goals, handling=1800, shrinkage_pct=25, weeks=1)
    reader = _opened(chromium, tmp_path, data)
    assert reader.charts == {"staffing-1": 1, "staffing-2": 1}
    assert [r[0] for r in reader.tables["table-targets"]["rows"]] == ["P3 first_response 90%", "P1 first_response 95%"]
