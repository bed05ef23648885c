"""render_csv / render_html: the same numbers as the JSON, every table, inline SVG charts, escaped text, no network."""

from __future__ import annotations

import csv
import io
import re
from functools import cache
from typing import Any

import pytest

from connector.reports.build import REPORTS, ReportOptions, build_report
from connector.reports.render import render_csv, render_html
from tests import helpers
from tests.helpers import AGENT, CUSTOMER
from tests.report_support import CHARTS, NOW, example_config, example_events, read_page, shown

EVIL = '<script>alert("x")</script> & $x$ Ltd'


@cache
def _report(name: str, **options: Any) -> dict[str, Any]:
    return build_report(name, example_config(), events=example_events(), now=NOW, options=ReportOptions(**options))


@cache
def _page(name: str) -> str:
    return render_html(_report(name))


def _empty(name: str) -> dict[str, Any]:
    """The report of a store with no events yet (credits: no contract, so no period to list)."""
    return build_report(name, example_config(contracts=name != "credits"), events=[], now=NOW,
                        options=ReportOptions(start="2031-01-01", end="2031-01-31"))


def _sections(text: str) -> dict[str, list[dict[str, str]]]:
    """Split a multi-table CSV into its `# section` tables, each read back as dicts."""
    out = {}
    for block in text.strip("\n").split("\n\n"):
        first, _, body = block.partition("\n")
        assert first.startswith("# ")
        out[first[2:]] = list(csv.DictReader(io.StringIO(body)))
    return out


def _same(cell: str, value: Any) -> bool:
    """A CSV cell holds the JSON value: empty for None, the same number, or the same text."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == str(value)
    if isinstance(value, int | float):
        return float(cell) == float(value)
    return cell == str(value)


def _assert_rows(parsed: list[dict[str, str]], rows: list[dict[str, Any]]) -> None:
    assert len(parsed) == len(rows)
    for got, want in zip(parsed, rows, strict=True):
        for key, value in want.items():
            if isinstance(value, dict | list):
                continue
            assert _same(got[key], value), (key, got[key], value)


# --- CSV ------------------------------------------------------------------------------------------------


def test_sla_csv_is_the_rows_table_with_the_same_numbers():
    report = _report("sla")
    text = render_csv(report)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0].split(",") == list(report["rows"][0])   # the JSON's column order
    _assert_rows(parsed, report["rows"])
    assert len(text.splitlines()) == len(report["rows"]) + 1           # the breach list is not in the CSV
    assert report["breaches"] and "late_seconds" not in text
    row = next(r for r in parsed if r["metric"] == "first_response" and r["severity"] == "P1"
               and r["policy"] == "standard")
    assert (row["met"], row["breached"], row["attainment_pct"]) == ("2", "1", "66.67")


def test_sla_csv_follows_period_and_grouping():
    report = _report("sla", period="month", by=("group", "metric"))
    parsed = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert list(parsed[0])[:3] == ["period", "metric", "group"]
    _assert_rows(parsed, report["rows"])
    assert {r["period"] for r in parsed} >= {"2026-03", "2026-11"}


def test_credits_csv_has_counts_instead_of_the_nested_lists():
    report = _report("credits")
    rows = [r for r in report["rows"] if r["contract"] == "test-globex"]
    assert rows and any(r["breaches"] for r in rows)
    parsed = [r for r in csv.DictReader(io.StringIO(render_csv(report))) if r["contract"] == "test-globex"]
    _assert_rows(parsed, rows)
    for got, want in zip(parsed, rows, strict=True):
        assert int(got["breaches_count"]) == len(want["breaches"]) == want["breached"]
        assert int(got["exclusions_count"]) == len(want["exclusions"])
        assert got["organizations"] == "Globex"
    assert "breaches" not in parsed[0] and "exclusions" not in parsed[0]
    march = next(r for r in parsed if r["period"] == "2026-03")
    assert float(march["attainment_pct"]) < 70 and float(march["credit_pct"]) == 25
    assert float(march["credit_amount"]) == 250


def test_kpis_csv_has_one_table_per_section():
    report = _report("kpis")
    text = render_csv(report)
    tables = _sections(text)
    assert list(tables) == ["backlog", "trends", "reopens", "paused", "escalations", "groups"]
    assert text.startswith("# backlog\nseverity,<1d,1-3d,3-7d,7-30d,>30d,total\n")
    _assert_rows(tables["backlog"], report["backlog"]["rows"])
    _assert_rows(tables["trends"], report["trends"])
    _assert_rows(tables["reopens"], [report["reopens"]])
    _assert_rows(tables["paused"][:-1], report["paused"]["rows"])
    total = tables["paused"][-1]
    assert total["severity"] == "(all)" and float(total["paused_pct"]) == report["paused"]["paused_pct"]
    _assert_rows(tables["escalations"], report["escalations"]["rows"])
    assert sum(int(r["count"]) for r in tables["escalations"]) == report["escalations"]["total"]
    _assert_rows(tables["groups"], report["groups"])


def test_audit_csv_has_one_table_per_section():
    report = _report("audit")
    tables = _sections(render_csv(report))
    assert list(tables) == ["confusion", "top_share by_period", "top_share by_org", "top_share by_group",
                            "top_share by_agent", "rules", "findings"]
    _assert_rows(tables["confusion"], report["confusion"]["rows"])
    assert list(tables["confusion"][0]) == ["declared", "P1", "P2", "P3", "P4", "total"]
    _assert_rows(tables["top_share by_period"], report["top_share"]["by_period"])
    _assert_rows(tables["top_share by_org"], report["top_share"]["by_org"])
    _assert_rows(tables["top_share by_group"], report["top_share"]["by_group"])
    _assert_rows(tables["top_share by_agent"], report["top_share"]["by_agent"])
    _assert_rows(tables["rules"], report["rules"])
    # the example's tickets 1006 (P1 lowered 10 minutes before its first reply was due) and 1007 (pending
    # 4 minutes after the customer wrote)
    assert [(f["kind"], f["ticket_id"]) for f in tables["findings"]] == [
        ("severity_lowered_before_breach", "1006"), ("pause_after_customer_reply", "1007")]


def test_findings_flatten_the_ticket_into_columns():
    report = dict(_report("audit"))
    finding = {"kind": "pause_after_customer_reply", "ticket": {"source": "zendesk", "account": "acme", "id": "7"},
               "at": "2026-03-02T10:00:00Z", "detail": "status pending 2 min after a customer reply", "group": None,
               "org": "Globex"}
    report["findings"] = {"counts": {"pause_after_customer_reply": 1}, "items": [finding]}
    (row,) = _sections(render_csv(report))["findings"]
    assert row == {"kind": "pause_after_customer_reply", "ticket_source": "zendesk", "ticket_account": "acme",
                   "ticket_id": "7", "at": "2026-03-02T10:00:00Z",
                   "detail": "status pending 2 min after a customer reply", "group": "", "org": "Globex"}
    cells = read_page(render_html(report)).tables["table-findings"]
    assert cells["rows"] == [["pause_after_customer_reply", "zendesk", "acme", "7", "2026-03-02T10:00:00Z",
                              "status pending 2 min after a customer reply", "–", "Globex"]]


@pytest.mark.parametrize("name", REPORTS)
def test_an_empty_report_has_headers_and_no_rows(name: str):
    report = _empty(name)
    text = render_csv(report)
    if name in ("sla", "credits"):
        header, *rows = text.splitlines()
        assert rows == [] and header.split(",")[:2] == (["metric", "severity"] if name == "sla"
                                                         else ["contract", "organizations"])
    else:
        tables = _sections(text)
        sections = 6 if name == "kpis" else 7   # kpis: backlog … groups; audit: confusion … findings
        assert len(tables) == sections and text.count("# ") == sections


# --- HTML -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REPORTS)
def test_html_has_a_chart_per_figure_as_inline_svg(name: str):
    page = _page(name)
    reader = read_page(page)
    assert reader.charts == dict.fromkeys(CHARTS[name], 1)
    assert reader.nodata == []
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == len(CHARTS[name])
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata>" not in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))                 # each chart's ids are prefixed: no clash on the page
    refs = set(re.findall(r"url\(#([^)]+)\)", page))
    assert refs <= set(ids)
    assert f"{_report(name)['now']}" in page and "Time zone" in page


@pytest.mark.parametrize("name", REPORTS)
def test_html_makes_no_network_request(name: str):
    page = _page(name)
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<(?:script|link|iframe|img|object|embed)\b", page, re.I)
    assert "@import" not in page and not re.search(r"url\(\s*['\"]?(?:https?:)?//", page)
    assert "default-src 'none'" in page              # the page's CSP forbids fetching anything


def test_html_tables_show_the_json_numbers():
    report = _report("sla")
    tables = read_page(_page("sla")).tables
    rows = tables["table-rows"]
    assert [h for h in rows["headers"]] == list(report["rows"][0])
    for cells, row in zip(rows["rows"], report["rows"], strict=True):
        assert cells == [shown(v) for v in row.values()]
    breaches = tables["table-breaches"]
    assert breaches["headers"][:3] == ["ticket_source", "ticket_account", "ticket_id"]
    assert len(breaches["rows"]) == len(report["breaches"]) == report["breaches_total"]
    assert breaches["rows"][0][2] == report["breaches"][0]["ticket"]["id"]


def test_html_tables_of_kpis_audit_and_credits():
    kpis = read_page(_page("kpis")).tables
    assert set(kpis) == {"table-backlog", "table-trends", "table-reopens", "table-paused", "table-escalations",
                         "table-groups"}
    assert kpis["table-backlog"]["headers"] == ["severity", "<1d", "1-3d", "3-7d", "7-30d", ">30d", "total"]
    assert kpis["table-reopens"]["rows"] == [[shown(v) for v in _report("kpis")["reopens"].values()]]
    audit = read_page(_page("audit")).tables
    assert audit["table-confusion"]["headers"] == ["declared", "P1", "P2", "P3", "P4", "total"]
    assert [r[0] for r in audit["table-top_share-by_org"]["rows"]] == \
        [r["org"] for r in _report("audit")["top_share"]["by_org"]]
    credits = read_page(_page("credits")).tables
    assert {"table-rows", "table-credit-breaches", "table-credit-exclusions"} <= set(credits)
    assert "breaches_count" in credits["table-rows"]["headers"]
    breached = sum(r["breached"] for r in _report("credits")["rows"])
    assert len(credits["table-credit-breaches"]["rows"]) == breached


def _evil_events() -> list:
    created = "2026-03-02 10:00"
    out = []
    for n, org in enumerate((EVIL, "Initech"), start=1):
        tid = str(n)
        out += [helpers.event(created, "ticket.created", status="new", created=created, ticket_id=tid, org=org,
                              group="<b>ops</b>", subject="<img src=x onerror=alert(1)>", event_id=f"c{tid}"),
                helpers.event("2026-03-02 11:30", "comment.added", comment=AGENT, created=created, ticket_id=tid,
                              org=org, group="<b>ops</b>", event_id=f"a{tid}"),
                helpers.event("2026-03-02 15:00", "comment.added", comment=CUSTOMER, created=created, ticket_id=tid,
                              org=org, group="<b>ops</b>", event_id=f"u{tid}")]
    return out


@pytest.mark.parametrize("name", REPORTS)
def test_html_escapes_text_from_customers(name: str):
    contract = {"name": "<i>evil</i>", "organizations": [EVIL], "credits": [{"below": "99%", "credit": "5%"}]}
    config = helpers.config(contracts=[contract])
    options = ReportOptions(by=("org", "group", "metric")) if name == "sla" else ReportOptions()
    report = build_report(name, config, events=_evil_events(), now=helpers.utc("2026-03-04 12:00"), options=options)
    page = render_html(report)
    for raw in ("<script", "<img", "<b>ops", "<i>evil"):
        assert raw not in page
    assert ("&lt;i&gt;evil&lt;/i&gt;" if name == "credits" else "&lt;b&gt;ops&lt;/b&gt;") in page
    if name in ("sla", "audit", "credits"):
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $x$ Ltd" in page   # tables (the $ stays)
    if name == "sla":
        # chart labels: matplotlib writes the name into the SVG escaped, without reading `$…$` as maths
        svg = page[page.index("<svg"):page.rindex("</svg>")]
        assert "&lt;script&gt;" in svg and "$x$" in svg
    assert render_csv(report).count(EVIL.replace('"', '""')) >= (1 if name in ("sla", "audit", "credits") else 0)


@pytest.mark.parametrize("name", REPORTS)
def test_an_empty_report_renders_with_a_no_data_note(name: str):
    page = render_html(_empty(name))
    reader = read_page(page)
    assert "<svg" not in page
    assert sorted(reader.nodata) == sorted(CHARTS[name]) and set(reader.charts) == set(CHARTS[name])
    assert "2031-01-01" in page                       # the window is shown
    empty_tables = [t for t in reader.tables.values() if t["rows"] == [["no rows"]]]
    assert empty_tables and all(t["headers"] for t in reader.tables.values())


@pytest.mark.parametrize("name", REPORTS)
def test_html_is_deterministic(name: str):
    assert render_html(_report(name)) == _page(name)


def test_an_unknown_report_is_refused():
    with pytest.raises(ValueError, match="unknown report"):
        render_html({"report": "nope"})
    with pytest.raises(ValueError, match="unknown report"):
        render_csv({"report": "nope"})
