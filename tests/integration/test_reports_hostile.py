"""Reports over a store holding rows ingest refuses today (issue 11): year 0001 and 9999, impossible durations.

A store filled by an older version may hold anything. The rows here go in with a plain SQLAlchemy insert,
past every check, on SQLite and PostgreSQL; every report, in every format, on the web and on the command
line, then answers normally, leaves those rows out, says how many, and shows exactly the numbers of the
same store without them.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import insert

from connector.cli import main
from connector.config import Config, parse_config
from connector.events import event_to_dict, parse_event
from connector.reports.build import REPORTS, ReportError, ReportOptions, build_report
from connector.runtime.worker import TicketProcessor
from connector.store import Store
from connector.store.schema import clocks, events
from tests.integration.support import make_app
from tests.report_support import EXAMPLE_CONFIG, NOW, example_config, example_events, read_page

ANCIENT = datetime(1, 1, 1, tzinfo=UTC)
FAR = datetime(9999, 12, 31, tzinfo=UTC)
FORMATS = ("json", "csv", "html")


@pytest.fixture(scope="module")
def config() -> Config:
    return example_config()


@pytest.fixture
def fed(store: Store, config: Config) -> Store:
    processor = TicketProcessor(store, config, writers={}, clock=lambda: NOW)
    for event in example_events():
        processor.apply_event(event)
    return store


def _event_row(ticket_id: str, occurred_at: datetime, change: dict[str, Any]) -> dict[str, Any]:
    """An events row of a new ticket, its payload the example's first event with `change` applied."""
    payload = copy.deepcopy(event_to_dict(example_events()[0]))
    payload.update(ticket_id=ticket_id, event_id=f"old-{ticket_id}")
    for key, value in change.items():
        if key.startswith("ticket."):
            payload["ticket"][key.removeprefix("ticket.")] = value
        else:
            payload[key] = value
    return {"source": payload["source"], "account": payload["account"], "ticket_id": ticket_id[:255],
            "event_id": f"old-{ticket_id}", "occurred_at": occurred_at, "type": payload["type"], "payload": payload}


# events no report can place: each was accepted by an older version, each is refused by ingest today
BAD_EVENTS = [
    _event_row("old-1", ANCIENT, {"occurred_at": "0001-01-01T00:00:00Z"}),
    _event_row("old-2", NOW - timedelta(days=30), {"ticket.created_at": "0001-01-01T00:00:00Z"}),
    _event_row("old-3", NOW - timedelta(days=30), {"occurred_at": "0001-01-01T00:00:00+14:00"}),
    _event_row("old-4", NOW - timedelta(days=30), {"ticket.created_at": "9999-12-31T23:59:59Z"}),
    _event_row("old-5", NOW - timedelta(days=30), {"ticket_id": "x" * 300}),
    _event_row("old-6", NOW - timedelta(days=30), {"type": "ticket.exploded"}),
]
FUTURE_EVENT = _event_row("old-7", FAR, {"occurred_at": "9999-12-31T00:00:00Z"})  # after now: never read

CLOCK = {"source": "zendesk", "account": "acme", "metric": "first_response", "cycle": 1, "status": "met",
         "severity": "P1", "policy": "standard", "calendar": "business", "target_seconds": 3600.0,
         "started_at": NOW - timedelta(days=3), "due_at": NOW - timedelta(days=3) + timedelta(hours=1),
         "stopped_at": None, "elapsed_seconds": 600.0, "breached": False, "breached_at": None,
         "group_name": "support", "requester_org": "Globex", "updated_at": NOW - timedelta(days=3)}
# clock rows no report can place
BAD_CLOCKS = [
    {**CLOCK, "ticket_id": "c-1", "started_at": ANCIENT},
    # still running, due in year 1: measuring it up to now on a business calendar spans 2000 years
    {**CLOCK, "ticket_id": "c-2", "status": "running", "due_at": ANCIENT},
    {**CLOCK, "ticket_id": "c-3", "status": "running", "due_at": FAR, "target_seconds": 1e300},
    {**CLOCK, "ticket_id": "c-4", "status": "breached", "breached": True, "elapsed_seconds": 1e300},
    {**CLOCK, "ticket_id": "c-5", "elapsed_seconds": -5.0},
    {**CLOCK, "ticket_id": "c-6", "status": "breached", "breached": True, "elapsed_seconds": 5e9},
]
FUTURE_CLOCK = {**CLOCK, "ticket_id": "c-7", "started_at": FAR}   # starts after now: in no report
# SQLite stores a NaN as NULL (refused: NOT NULL); PostgreSQL keeps NaN and infinities in a float column
PG_CLOCKS = [
    {**CLOCK, "ticket_id": "c-8", "status": "breached", "breached": True, "elapsed_seconds": float("inf")},
    {**CLOCK, "ticket_id": "c-9", "elapsed_seconds": float("nan")},
    {**CLOCK, "ticket_id": "c-10", "target_seconds": float("-inf")},
]


def _insert(store: Store, *, event_rows: Sequence[dict[str, Any]] = (),
            clock_rows: Sequence[dict[str, Any]] = ()) -> None:
    with store.engine.begin() as conn:
        if event_rows:
            conn.execute(insert(events), list(event_rows))
        if clock_rows:
            conn.execute(insert(clocks), list(clock_rows))


def _bad_clocks(store: Store) -> list[dict[str, Any]]:
    return BAD_CLOCKS + (PG_CLOCKS if store.dialect == "postgresql" else [])


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _app(store: Store, token: str, config: Config) -> Flask:
    app = make_app(store, token=token, config=config, clock=lambda: NOW)
    app.config["PROPAGATE_EXCEPTIONS"] = True  # a bug raises here with its traceback instead of becoming a 500
    return app


@pytest.mark.parametrize("name", REPORTS)
def test_rows_that_cannot_be_placed_are_left_out_and_counted(fed: Store, config: Config, token: str, name: str):
    options = [ReportOptions(), ReportOptions(period="quarter", timezone="Pacific/Kiritimati"),
               ReportOptions(period="month", timezone="Pacific/Pago_Pago")]
    clean = [build_report(name, config, store=fed, now=NOW, options=o) for o in options]
    _insert(fed, event_rows=[*BAD_EVENTS, FUTURE_EVENT], clock_rows=[*_bad_clocks(fed), FUTURE_CLOCK])
    expected = {"clocks": len(_bad_clocks(fed))} if name == "sla" else {"events": len(BAD_EVENTS)}
    assert clean[0]["skipped"] == {}
    client = _app(fed, token, config).test_client()
    for o, before in zip(options, clean, strict=True):
        query = f"tz={o.timezone or ''}&period={o.period or ''}"
        response = client.get(f"/reports/{name}?format=json&{query}", headers=_auth(token))
        assert response.status_code == 200, response.get_data(as_text=True)
        data = _strict_json(response.get_data(as_text=True))
        # the same numbers as the store without those rows, and a count of what was left out
        assert data == json.loads(json.dumps({**before, "skipped": expected}))
        assert data == json.loads(json.dumps(build_report(name, config, store=fed, now=NOW, options=o)))


@pytest.mark.parametrize("name", REPORTS)
def test_csv_and_html_say_what_was_left_out(fed: Store, config: Config, token: str, name: str):
    _insert(fed, event_rows=BAD_EVENTS, clock_rows=_bad_clocks(fed))
    what, count = ("clocks", len(_bad_clocks(fed))) if name == "sla" else ("events", len(BAD_EVENTS))
    client = _app(fed, token, config).test_client()
    text = client.get(f"/reports/{name}?format=csv", headers=_auth(token)).get_data(as_text=True)
    head, _, note = text.rpartition("\n# skipped\n")
    assert head, text
    (row,) = csv.DictReader(io.StringIO(note))
    assert (row["what"], int(row["count"])) == (what, count) and "1970" in row["reason"]
    response = client.get(f"/reports/{name}", headers=_auth(token))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'id="skipped">Left out of this report: {count} ' in page
    assert read_page(page).tables   # the page is whole


def test_a_clean_store_says_nothing_was_left_out(fed: Store, config: Config, token: str):
    client = _app(fed, token, config).test_client()
    for name in REPORTS:
        assert client.get(f"/reports/{name}?format=json", headers=_auth(token)).get_json()["skipped"] == {}
        csv_text = client.get(f"/reports/{name}?format=csv", headers=_auth(token)).get_data(as_text=True)
        assert "# skipped" not in csv_text
        assert 'id="skipped"' not in client.get(f"/reports/{name}", headers=_auth(token)).get_data(as_text=True)


def test_a_stop_instant_outside_the_range_shows_as_null_in_the_breach_list(fed: Store, config: Config):
    row = {**CLOCK, "ticket_id": "c-11", "status": "breached", "breached": True, "elapsed_seconds": 7200.0,
           "stopped_at": ANCIENT, "breached_at": FAR}
    _insert(fed, clock_rows=[row])
    data = build_report("sla", config, store=fed, now=NOW)
    (listed,) = [b for b in data["breaches"] if b["ticket"]["id"] == "c-11"]
    assert listed["stopped_at"] is None and listed["late_seconds"] == 3600
    assert data["skipped"] == {}   # the clock itself is placed: counted and listed


def test_the_command_line_reports_from_such_a_store(fed: Store, config: Config, monkeypatch: pytest.MonkeyPatch):
    _insert(fed, event_rows=BAD_EVENTS, clock_rows=_bad_clocks(fed))
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", fed.url)
    runner = CliRunner()
    for name in REPORTS:
        for fmt in FORMATS:
            result = runner.invoke(main, ["report", name, "--config", str(EXAMPLE_CONFIG), "--now",
                                          "2026-12-01T15:00:00Z", "--period", "quarter", "--format", fmt])
            assert result.exit_code == 0, result.output
            assert result.exception is None
            if fmt == "json":
                skipped = _strict_json(result.stdout)["skipped"]
                assert skipped == ({"clocks": len(_bad_clocks(fed))} if name == "sla"
                                   else {"events": len(BAD_EVENTS)})


# --- valid data, absurd splits ---------------------------------------------------------------------------


def test_a_split_into_too_many_periods_is_refused_naming_the_parameter(fed: Store, config: Config, token: str):
    # a clock of 1970 is valid (ingest accepts 1970-2099); by day, 1970 to 2026 is 20,000 periods
    _insert(fed, clock_rows=[{**CLOCK, "ticket_id": "c-12", "started_at": datetime(1970, 1, 2, tzinfo=UTC),
                              "due_at": datetime(1970, 1, 2, 1, tzinfo=UTC)}])
    client = _app(fed, token, config).test_client()
    response = client.get("/reports/sla?format=json&period=day", headers=_auth(token))
    assert response.status_code == 400
    assert response.get_json()["reason"].startswith("period: ") and "at most 2000" in response.get_json()["reason"]
    narrowed = client.get("/reports/sla?format=json&period=day&from=2026-01-01", headers=_auth(token))
    assert narrowed.status_code == 200 and narrowed.get_json()["rows"]
    assert client.get("/reports/sla?format=json&period=month", headers=_auth(token)).status_code == 200
    # offline, a history from 1970 gets the same answer (no SQL branches there, but one rule for both)
    history = example_events()
    first = copy.deepcopy(event_to_dict(history[0]))
    first.update(ticket_id="1970", event_id="1970", occurred_at="1970-01-02T00:00:00Z")
    first["ticket"]["created_at"] = "1970-01-02T00:00:00Z"
    with pytest.raises(ReportError, match="^period: .*at most 2000 periods"):
        build_report("sla", config, events=[parse_event(first), *history], now=NOW,
                     options=ReportOptions(period="day"))


def test_credits_over_a_window_of_more_periods_than_a_report_lists_are_refused(fed: Store, config: Config):
    weekly = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    weekly["contracts"] = [{**weekly["contracts"][0], "period": "week"}]
    cfg = parse_config(weekly)
    weeks = (date(2099, 12, 28) - date(1969, 12, 29)).days // 7 + 1   # ISO weeks from Monday to Monday
    with pytest.raises(ReportError, match=f"^from: {weeks} weeks: at most 2000 periods"):
        build_report("credits", cfg, store=fed, now=NOW, options=ReportOptions(start="1970-01-01", end="2099-12-31"))
    # the same window by month is 1560 periods: listed
    data = build_report("credits", config, store=fed, now=NOW, options=ReportOptions(start="1970-01-01",
                                                                                      end="2099-12-31"))
    assert len({r["period"] for r in data["rows"] if r["contract"] == "test-globex"}) == 130 * 12


@pytest.mark.parametrize("period", [None, "month"])
def test_a_clean_store_is_not_filtered_and_a_dirty_one_is(fed: Store, config: Config, period: str | None):
    from connector.reports.store_sla import attainment_query, counts, placeable_groups

    # a clean store pays no filter: the min and max the first query takes already say all rows are placeable
    q = attainment_query(fed, config, now=NOW, period=period)
    with fed.read() as conn:
        assert placeable_groups(q, counts(conn, q)) and not q.filters
    _insert(fed, clock_rows=[BAD_CLOCKS[1]])   # one row, due in year 1
    q = attainment_query(fed, config, now=NOW, period=period)
    with fed.read() as conn:
        assert q.filters if period else not placeable_groups(q, counts(conn, q))


def test_a_stored_name_with_control_characters_renders(fed: Store, config: Config, token: str):
    # ingest refuses them today; matplotlib has no glyph for them and warned (an error under pytest)
    _insert(fed, clock_rows=[{**CLOCK, "ticket_id": "c-13", "group_name": "\x1b[31mops\x07"}])
    client = _app(fed, token, config).test_client()
    response = client.get("/reports/sla?by=group", headers=_auth(token))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "\N{REPLACEMENT CHARACTER}[31mops\N{REPLACEMENT CHARACTER}" in page   # the chart's label
