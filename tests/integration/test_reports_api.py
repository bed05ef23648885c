"""GET /reports/<name>: the four reports over a real store fed by the worker, as HTML, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from flask import Flask

from connector.config import Config
from connector.reports.build import REPORTS, ReportOptions, build_report
from connector.reports.render import render_csv
from connector.runtime.worker import TicketProcessor
from connector.store import Store
from tests.integration.support import make_app
from tests.report_support import CHARTS, NOW, example_config, example_events, read_page


@pytest.fixture(scope="module")
def config() -> Config:
    return example_config()


@pytest.fixture
def fed(store: Store, config: Config) -> Store:
    """The store after the worker applied the example events."""
    processor = TicketProcessor(store, config, writers={}, clock=lambda: NOW)
    for event in example_events():
        processor.apply_event(event)
    return store


@pytest.fixture
def api(fed: Store, token: str, config: Config) -> Flask:
    return make_app(fed, token=token, config=config, clock=lambda: NOW)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert data["error"] == code and data["reason"]
    return data


@pytest.mark.parametrize("name", REPORTS)
def test_json_is_the_report_of_the_store_and_of_the_history(api: Flask, token: str, fed: Store, config: Config,
                                                            name: str):
    response = api.test_client().get(f"/reports/{name}?format=json", headers=_auth(token))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert data == json.loads(json.dumps(build_report(name, config, store=fed, now=NOW)))
    # the live report shows the numbers the CLI computes offline from the same events
    assert data == json.loads(json.dumps(build_report(name, config, events=example_events(), now=NOW)))
    assert data["report"] == name and data["now"] == "2026-12-01T15:00:00Z"


def test_sla_json_numbers(api: Flask, token: str):
    data = api.test_client().get("/reports/sla?format=json", headers=_auth(token)).get_json()
    assert list(data["rows"][0])[:3] == ["metric", "severity", "policy"]
    row = next(r for r in data["rows"] if (r["metric"], r["severity"], r["policy"]) ==
               ("first_response", "P1", "standard"))
    assert (row["met"], row["breached"], row["attainment_pct"]) == (3, 1, 75.0)
    assert data["breaches_total"] == len(data["breaches"]) > 0


@pytest.mark.parametrize("name", REPORTS)
def test_html_is_the_default_and_a_whole_page(api: Flask, token: str, name: str):
    client = api.test_client()
    response = client.get(f"/reports/{name}", headers=_auth(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    reader = read_page(page)
    assert reader.charts == dict.fromkeys(CHARTS[name], 1)
    assert reader.tables
    assert client.get(f"/reports/{name}?format=html", headers=_auth(token)).get_data(as_text=True) == page


@pytest.mark.parametrize("name", REPORTS)
def test_csv(api: Flask, token: str, fed: Store, config: Config, name: str):
    response = api.test_client().get(f"/reports/{name}?format=csv", headers=_auth(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="report-{name}.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text == render_csv(build_report(name, config, store=fed, now=NOW))
    if name == "sla":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == len(build_report(name, config, store=fed, now=NOW)["rows"])
    elif name in ("kpis", "audit"):
        assert text.startswith("# backlog\n" if name == "kpis" else "# confusion\n")


def test_parameters_reach_the_report(api: Flask, token: str, fed: Store, config: Config):
    query = ("format=json&from=2026-03-01&to=2026-03-31&period=week&by=metric,%20group&tz=America/New_York"
             "&breach_limit=2")
    data = api.test_client().get(f"/reports/sla?{query}", headers=_auth(token)).get_json()
    expected = build_report("sla", config, store=fed, now=NOW, options=ReportOptions(
        start="2026-03-01", end="2026-03-31", period="week", by=("metric", "group"), timezone="America/New_York",
        breach_limit=2))
    assert data == json.loads(json.dumps(expected))
    assert data["from"] == "2026-03-01T05:00:00Z" and data["to"] == "2026-04-01T04:00:00Z"
    assert data["by"] == ["metric", "group"] and data["period"] == "week" and data["timezone"] == "America/New_York"
    assert len(data["breaches"]) == 2 < data["breaches_total"]
    assert "2026-W10" in {r["period"] for r in data["rows"]}
    assert {r["period"] for r in data["rows"]} <= {"2026-W10", "2026-W11", "2026-W12", "2026-W13", "2026-W14"}
    kpis = api.test_client().get("/reports/kpis?format=json&period=month", headers=_auth(token)).get_json()
    assert {r["period"] for r in kpis["trends"]} == {"2026-03", "2026-11"}
    zero = api.test_client().get("/reports/sla?format=json&breach_limit=0", headers=_auth(token)).get_json()
    assert zero["breaches"] == [] and zero["breaches_total"] > 0


@pytest.mark.parametrize("name", REPORTS)
def test_reports_need_the_bearer_token(api: Flask, token: str, name: str):
    client = api.test_client()
    for headers in ({}, _auth("wrong"), _auth(token + "x"), {"Authorization": token},
                    {"Authorization": f"Basic {token}"}):
        for fmt in ("html", "json", "csv"):
            response = client.get(f"/reports/{name}?format={fmt}", headers=headers)
            data = _error(response, 401, "unauthorized")
            assert token not in json.dumps(data)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # the token is checked before anything else: an unknown report or a bad parameter says nothing
    _error(client.get("/reports/nope"), 401, "unauthorized")
    _error(client.get(f"/reports/{name}?from=garbage"), 401, "unauthorized")


def test_reports_are_off_without_a_token(fed: Store, config: Config):
    client = make_app(fed, token=None, config=config, clock=lambda: NOW).test_client()
    for name in REPORTS:
        data = _error(client.get(f"/reports/{name}", headers=_auth("anything")), 403, "forbidden")
        assert data["reason"] == "set CONNECTOR_API_TOKEN to enable this endpoint"


def test_an_unknown_report_is_404(api: Flask, token: str):
    client = api.test_client()
    for path in ("/reports/nope", "/reports/SLA", "/reports/sla.csv", "/reports/"):
        _error(client.get(path, headers=_auth(token)), 404, "not_found")


@pytest.mark.parametrize("query, words", [
    ("from=garbage", "from: "),
    ("from=2026-13-01", "from: "),
    ("to=2026-03-01T10:00", "naive"),
    ("from=2026-03-05&to=2026-03-01", "after"),
    ("period=fortnight", "period"),
    ("tz=Mars/Olympus", "time zone"),
    ("tz=../../etc/passwd", "time zone"),
    ("tz=" + "a" * 300, "at most"),
    ("breach_limit=abc", "breach_limit"),
    ("breach_limit=-1", "breach_limit"),
    ("breach_limit=1.5", "breach_limit"),
    ("breach_limit=%D9%A3", "breach_limit"),      # an Arabic-Indic digit: isdigit, not a number we take
    ("by=colour", "grouping"),
    ("format=pdf", "format"),
    ("form=2026-03-01", "unknown parameter"),
    ("from=2026-03-01%00", "printable"),
])
def test_bad_parameters_are_400(api: Flask, token: str, query: str, words: str):
    data = _error(api.test_client().get(f"/reports/sla?{query}", headers=_auth(token)), 400, "bad_request")
    assert words in data["reason"]


def test_grouping_applies_to_the_sla_report_only(api: Flask, token: str):
    client = api.test_client()
    for name in ("credits", "kpis", "audit"):
        data = _error(client.get(f"/reports/{name}?by=group", headers=_auth(token)), 400, "bad_request")
        assert "sla report only" in data["reason"]


def test_an_empty_store_reports_no_rows(store: Store, token: str, config: Config):
    client = make_app(store, token=token, config=config, clock=lambda: NOW).test_client()
    for name in REPORTS:
        for fmt in ("html", "json", "csv"):
            assert client.get(f"/reports/{name}?format={fmt}", headers=_auth(token)).status_code == 200
    data = client.get("/reports/sla?format=json", headers=_auth(token)).get_json()
    assert data["rows"] == [] and data["breaches_total"] == 0
    page = client.get("/reports/kpis", headers=_auth(token)).get_data(as_text=True)
    assert "<svg" not in page and "No data" in page


def test_reports_answer_json_for_other_methods(api: Flask, token: str):
    _error(api.test_client().post("/reports/sla", headers=_auth(token)), 405, "method_not_allowed")


@pytest.mark.parametrize("name", REPORTS)
def test_a_database_failure_is_503_not_500(api: Flask, token: str, monkeypatch: pytest.MonkeyPatch, name: str):
    from sqlalchemy.exc import OperationalError

    def broken(self):
        raise OperationalError("SELECT payload FROM events", {}, Exception("connection refused"))

    monkeypatch.setattr(Store, "read", broken)
    response = api.test_client().get(f"/reports/{name}?format=json", headers=_auth(token))
    data = _error(response, 503, "unavailable")
    assert response.headers["Retry-After"] and "connection refused" not in data["reason"]


@pytest.mark.parametrize("name", REPORTS)
def test_html_sends_its_content_security_policy_as_a_header_too(api: Flask, token: str, name: str):
    response = api.test_client().get(f"/reports/{name}", headers=_auth(token))
    assert response.status_code == 200
    header = response.headers["Content-Security-Policy"]
    directives = {d.strip() for d in header.split(";")}
    # frame-ancestors works only in a header (a browser ignores it in <meta>): no other site may frame a report
    assert "frame-ancestors 'none'" in directives and "default-src 'none'" in directives
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">',
                     response.get_data(as_text=True))
    assert meta is not None   # kept for a page saved to a file
    assert {d.strip() for d in meta.group(1).split(";")} == directives - {"frame-ancestors 'none'"}


# --- one table alone (issue 12) -----------------------------------------------------------------------------


def test_one_table_alone_as_csv(api: Flask, token: str, fed: Store, config: Config):
    client = api.test_client()
    response = client.get("/reports/audit?table=findings", headers=_auth(token))   # a table without a format: CSV
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="report-audit-findings.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text == render_csv(build_report("audit", config, store=fed, now=NOW), table="findings")
    assert [r["ticket_id"] for r in csv.DictReader(io.StringIO(text))] == ["1006", "1007"]
    agents = client.get("/reports/audit?format=csv&table=top_share_by_agent", headers=_auth(token))
    assert list(csv.DictReader(io.StringIO(agents.get_data(as_text=True))))[0]["agent"] == "(unassigned)"
    breaches = client.get("/reports/sla?format=csv&table=breaches&breach_limit=3", headers=_auth(token))
    assert len(list(csv.DictReader(io.StringIO(breaches.get_data(as_text=True))))) == 3


@pytest.mark.parametrize("query, reason", [
    ("audit?format=csv&table=agents", "table: the audit report has no table 'agents'; its tables are confusion, "
                                      "top_share_by_period, top_share_by_org, top_share_by_group, top_share_by_agent, "
                                      "rules, findings, bounced, skipped"),
    ("kpis?table=top_share_by_agent", "table: the kpis report has no table 'top_share_by_agent'; its tables are "
                                      "backlog, trends, reopens, paused, escalations, groups, skipped"),
    ("audit?format=json&table=rules", "table: one table alone is CSV"),
    ("audit?format=html&table=rules", "table: one table alone is CSV"),
])
def test_a_table_that_is_not_there_is_400_listing_the_tables(api: Flask, token: str, query: str, reason: str):
    data = _error(api.test_client().get(f"/reports/{query}", headers=_auth(token)), 400, "bad_request")
    assert data["reason"].startswith(reason)
