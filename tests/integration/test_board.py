"""The live board (issue 17): `board` rows kept by the worker, `board_data`, `/board.json`, `/board`, the gauges.

Hand-computed queue, on SQLite and PostgreSQL. 2026-03-02 is a Monday; the helpers' config: `business` is
UTC Mon–Fri 09–17; P3 first response 4h and resolution 2d on it, P1 first response 1h and resolution 8h on
24x7. At Monday 11:00:

    ticket  created        clock                due              remaining (business)
    2 (P1)  Mon 09:00      first_response       Mon 10:00 24x7   -1h   (breached)
    3 (P3)  Mon 08:00      first_response       Mon 13:00        2h    (business starts at 09:00)
    1 (P3)  Mon 10:00      first_response       Mon 14:00        3h
    2 (P1)                 resolution           Mon 17:00 24x7   6h
    3 (P3)                 resolution           next Mon 17:00   46h   (2d = 48 business hours from 09:00)
    1 (P3)                 resolution           next Tue 10:00   47h
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from click.testing import CliRunner
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.cli import main
from connector.reports.board import BoardQuery, board_data, next_opening, ticket_link
from connector.runtime.worker import TicketProcessor
from connector.store import Store
from tests import helpers
from tests.helpers import AGENT, event, utc
from tests.integration.support import make_app, new_token

NOW = utc("2026-03-02 11:00")
H = 3600


def _queue() -> list:
    return [event("2026-03-02 10:00", "ticket.created", status="new", created="2026-03-02 10:00", ticket_id="1",
                  group="support"),
            event("2026-03-02 09:00", "ticket.created", status="new", created="2026-03-02 09:00", ticket_id="2",
                  priority="urgent", group="ops", subject="<script>alert(1)</script>"),
            event("2026-03-02 08:00", "ticket.created", status="new", created="2026-03-02 08:00", ticket_id="3",
                  group="support")]


def fill(store: Store, events, cfg=None) -> TicketProcessor:
    processor = TicketProcessor(store, cfg or helpers.config(), {}, clock=lambda: utc("2026-01-01 00:00"))
    for e in sorted(events, key=lambda e: e.occurred_at):
        processor.apply_event(e)
    return processor


def test_the_board_lists_running_clocks_by_business_time_remaining(store: Store):
    fill(store, _queue())
    data = board_data(store, helpers.config(), NOW)
    got = [(r["ticket_id"], r["metric"], r["remaining_seconds"]) for r in data["rows"]]
    assert got == [("2", "first_response", -H), ("3", "first_response", 2 * H), ("1", "first_response", 3 * H),
                   ("2", "resolution", 6 * H), ("3", "resolution", 46 * H), ("1", "resolution", 47 * H)]
    assert data["counts"] == {"breached": 1, "within_1h": 0, "within_4h": 2, "within_24h": 3}
    assert data["total"] == data["shown"] == 6 and data["as_of"] == "2026-03-02T11:00:00Z"
    first = data["rows"][0]
    assert (first["severity"], first["declared"], first["group"], first["internal"], first["breached"]) == \
        ("P1", "P1", "ops", False, True)
    assert first["due_at"] == "2026-03-02T10:00:00Z" and first["calendar"] == "24x7"
    assert first["link"] == "https://acme.zendesk.com/agent/tickets/2"


def test_filters_apply_to_rows_and_counts_and_limit_keeps_the_first(store: Store):
    fill(store, _queue())
    p1 = board_data(store, helpers.config(), NOW, BoardQuery(filters={"severity": "P1"}))
    assert [(r["ticket_id"], r["metric"]) for r in p1["rows"]] == [("2", "first_response"), ("2", "resolution")]
    assert p1["counts"] == {"breached": 1, "within_1h": 0, "within_4h": 0, "within_24h": 1}
    group = board_data(store, helpers.config(), NOW, BoardQuery(filters={"group": "support", "metric": "resolution"}))
    assert [r["ticket_id"] for r in group["rows"]] == ["3", "1"]
    first_two = board_data(store, helpers.config(), NOW, BoardQuery(limit=2))
    assert [r["remaining_seconds"] for r in first_two["rows"]] == [-H, 2 * H] and first_two["total"] == 6


def test_a_stopped_clock_leaves_the_board_and_internal_clocks_join_it(store: Store):
    from tests.unit.test_internal import OLA_CONFIG
    cfg = helpers.config(**OLA_CONFIG)
    events = [*_queue(), event("2026-03-02 10:30", "comment.added", comment=AGENT, ticket_id="1", group="support",
                               created="2026-03-02 10:00")]
    fill(store, events, cfg)
    data = board_data(store, cfg, NOW)
    mine = {(r["ticket_id"], r["metric"], r["agreement"]) for r in data["rows"]}
    assert ("1", "first_response", None) not in mine          # replied at 10:30
    assert ("1", "periodic_update", None) in mine or ("1", "resolution", None) in mine
    internal = [r for r in data["rows"] if r["internal"]]
    # support-first-line binds group support: tickets 1 and 3; ticket 1's first touch was the 10:30 reply
    assert {(r["ticket_id"], r["metric"], r["team"]) for r in internal} == {
        ("1", "ownership", "support"), ("3", "ownership", "support"), ("3", "first_touch", "support")}


def test_a_closed_calendar_says_when_it_opens(store: Store):
    fill(store, _queue())
    saturday = utc("2026-03-07 12:00")
    rows = board_data(store, helpers.config(), saturday)["rows"]
    business = [r for r in rows if r["calendar"] == "business"]
    assert business and {r["calendar_opens_at"] for r in business} == {"2026-03-09T09:00:00Z"}
    assert {r["calendar_opens_at"] for r in rows if r["calendar"] == "24x7"} == {None}
    assert next_opening(helpers.config().calendar("business"), utc("2026-03-02 10:00")) is None


def test_ticket_links():
    assert ticket_link("zendesk", "acme", "12") == "https://acme.zendesk.com/agent/tickets/12"
    assert ticket_link("freshdesk", "acme", "7") == "https://acme.freshdesk.com/a/tickets/7"
    assert ticket_link("freshdesk", "help.acme.com", "7") == "https://help.acme.com/a/tickets/7"
    assert ticket_link("zendesk", "acme", "1/../x?y") == "https://acme.zendesk.com/agent/tickets/1%2F..%2Fx%3Fy"
    assert ticket_link("webhook", "acme", "1") is None


# --- the service ------------------------------------------------------------------------------------------


@pytest.fixture
def board_client(store: Store, token: str) -> FlaskClient:
    fill(store, _queue())
    app = make_app(store, token=token, clock=lambda: NOW)
    return app.test_client()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_board_json_is_the_board_with_an_etag(board_client: FlaskClient, token: str, store: Store):
    response = board_client.get("/board.json?severity=P1", headers=_auth(token))
    assert response.status_code == 200
    data = response.get_json()
    assert data == board_data(store, helpers.config(), NOW, BoardQuery(filters={"severity": "P1"}), forecast_days=7)
    assert {r["severity"] for r in data["forecast"]["rows"]} == {"P1"}
    etag = response.headers["ETag"]
    again = board_client.get("/board.json?severity=P1", headers={**_auth(token), "If-None-Match": etag})
    assert again.status_code == 304 and not again.data


@pytest.mark.parametrize(("query", "reason"), [
    ("?colour=red", "unknown parameter 'colour'"),
    ("?limit=0", "limit: must be a whole number from 1 to 5000"),
    ("?limit=１", "limit: must be a whole number"),
    ("?group=" + "g" * 101, "group: must be at most 100 printable characters"),
    ("?group=a%00b", "group: must be at most 100 printable characters"),
])
def test_board_json_refuses_bad_parameters(board_client: FlaskClient, token: str, query: str, reason: str):
    response = board_client.get("/board.json" + query, headers=_auth(token))
    assert response.status_code == 400 and response.get_json()["reason"].startswith(reason)


def test_the_board_needs_a_credential_and_a_wall_token_opens_it_alone(store: Store, token: str):
    from connector.service import create_app
    from connector.settings import Secret, Settings

    fill(store, _queue())
    wall = new_token()
    settings = Settings(database_url=store.url, api_token=Secret(token), board_token=Secret(wall))
    client = create_app(settings, store=store, config=helpers.config(), clock=lambda: NOW).test_client()
    assert client.get("/board.json").status_code == 401
    assert client.get(f"/board.json?token={wall}x").status_code == 401
    assert client.get(f"/board.json?token={wall}").status_code == 200
    page = client.get(f"/board?token={wall}")
    assert page.status_code == 200 and b"What breaches next" in page.data
    assert client.get(f"/reports/sla?format=json&token={wall}").status_code == 401  # the board alone
    assert wall in settings.secret_values()  # scrubbed from the logs like the API token


def test_the_page_is_self_contained_with_its_script_allowed_by_hash(board_client: FlaskClient, token: str):
    response = board_client.get("/board", headers=_auth(token))
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    page = response.get_data(as_text=True)
    assert page.count("<script>") == 1 and "http://" not in page and "https://" not in page
    assert "innerHTML" not in page  # ticket text is written with textContent only


def test_a_database_failure_is_503_for_the_board(board_client: FlaskClient, token: str,
                                                 monkeypatch: pytest.MonkeyPatch):
    from sqlalchemy.exc import OperationalError

    def broken(self):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(Store, "read", broken)
    response = board_client.get("/board.json", headers=_auth(token))
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_the_gauges_count_what_breaches_next(board_client: FlaskClient):
    text = board_client.get("/metrics").get_data(as_text=True)
    assert 'connector_clocks_breached_running{group="ops",severity="P1"} 1.0' in text
    assert 'connector_clocks_due_within_seconds{group="support",severity="P3",window="14400"} 2.0' in text
    assert 'connector_clocks_due_within_seconds{group="support",severity="P3",window="86400"} 2.0' in text
    assert 'connector_clocks_due_within_seconds{group="ops",severity="P1",window="86400"} 1.0' in text


def test_connector_board_prints_the_rows(store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path):
    fill(store, _queue())
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store.url)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(helpers.config_data()))
    monkeypatch.setenv("CONNECTOR_CONFIG", str(cfg))
    runner = CliRunner()
    result = runner.invoke(main, ["board", "--once", "--now", "2026-03-02T11:00:00Z", "--group", "support"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "4 running · breached 0 · within 1h 0 · within 4h 2 · within 24h 2" in result.output
    assert [line.split()[0] for line in lines if line.startswith(("1 ", "3 "))] == ["3", "1", "3", "1"]
    as_json = runner.invoke(main, ["board", "--once", "--now", "2026-03-02T11:00:00Z", "--format", "json"])
    assert as_json.exit_code == 0
    import json
    assert json.loads(as_json.output) == board_data(store, helpers.config(), NOW, forecast_days=7)
    late = runner.invoke(main, ["board", "--once", "--limit", "0"])
    assert late.exit_code != 0 and "limit" in late.output


# --- forecast (hand-computed queue) -------------------------------------------------------------------------

TUESDAY = utc("2026-03-03 09:00")   # the last day: Monday 09–17 is 8 business hours on `business`, 24 on 24x7


def _clock_row(group: str, calendar: str, stopped: str, n: int) -> dict:
    at = utc(stopped)
    return {"source": "zendesk", "account": "acme", "ticket_id": f"{group}-{n}", "metric": "first_response",
            "cycle": 1, "status": "met", "severity": "P3", "policy": "standard", "calendar": calendar,
            "target_seconds": 14400.0, "started_at": at - timedelta(hours=1), "due_at": at + timedelta(hours=3),
            "stopped_at": at, "elapsed_seconds": 3600.0, "breached": False, "breached_at": None,
            "group_name": group, "requester_org": None, "updated_at": at}


def _board_row(ticket: str, group: str, severity: str, metric: str, calendar: str, due: str) -> dict:
    at = utc(due)
    return {"source": "zendesk", "account": "acme", "ticket_id": ticket, "agreement": "", "metric": metric,
            "cycle": 1, "team": None, "severity": severity, "declared": severity, "policy": "standard",
            "calendar": calendar, "target_seconds": 14400.0, "started_at": at - timedelta(hours=4), "due_at": at,
            "group_name": group, "assignee": None, "updated_at": TUESDAY}


def test_the_forecast_counts_what_breaches_if_nothing_changes_and_at_the_groups_pace(store: Store):
    from connector.reports.board import forecast
    from connector.store.schema import board, clocks

    with store.write() as conn:
        # support answered 8 in the last day (8 business hours): 1 per hour; billing 2 on 24x7: 1 per 12 h
        conn.execute(clocks.insert(), [_clock_row("support", "business", f"2026-03-02 {9 + n:02d}:30", n)
                                       for n in range(8)]
                     + [_clock_row("billing", "24x7", f"2026-03-02 1{n}:00", 10 + n) for n in range(2)])
        conn.execute(board.insert(), [
            _board_row("a", "support", "P2", "first_response", "business", "2026-03-03 10:30"),   # 1h30m left
            _board_row("b", "support", "P2", "next_response", "business", "2026-03-03 11:30"),    # 2h30m
            _board_row("c", "support", "P3", "first_response", "business", "2026-03-03 11:45"),   # 2h45m
            _board_row("c", "support", "P3", "resolution", "business", "2026-03-03 12:00"),       # not a reply
            _board_row("d", "billing", "P2", "first_response", "24x7", "2026-03-03 14:00"),       # 5h
            _board_row("e", "tier2", "P1", "first_response", "24x7", "2026-03-03 20:00"),         # 11h, no pace
        ])
    ahead = forecast(store, helpers.config(), TUESDAY, days=1)
    rows = {(r["group"], r["severity"]): r for r in ahead["rows"]}
    # support answers one an hour in order of time left: a at 1h (of 1h30m), b at 2h (of 2h30m), c at 3h: late
    assert (rows[("support", "P2")]["replies_due_24h"], rows[("support", "P2")]["replies_breaching_at_pace"]) == (2, 0)
    assert (rows[("support", "P3")]["replies_due_24h"], rows[("support", "P3")]["replies_breaching_at_pace"]) == (1, 1)
    assert rows[("support", "P2")]["pace_per_hour"] == 1.0
    # billing's first answer comes after 12 h: d (5 h left) breaches; tier2 sent nothing: no pace, all breach
    assert (rows[("billing", "P2")]["pace_per_hour"], rows[("billing", "P2")]["replies_breaching_at_pace"]) == \
        (round(2 / 24, 2), 1)
    assert (rows[("tier2", "P1")]["pace_per_hour"], rows[("tier2", "P1")]["replies_breaching_at_pace"]) == (None, 1)
    # if nothing changes: due within 1/4/24 business hours, every metric
    assert [rows[("support", "P3")][k] for k in ("breach_within_1h", "breach_within_4h", "breach_within_24h")] == \
        [0, 2, 2]
    assert rows[("support", "P3")]["summary"] == ("support: at the current pace (1.0 replies per business hour), "
                                                  "1 of the 1 P3 replies due within 24 business hours will breach")
    assert "one every 1/pace business hours" in ahead["method"]


def test_upgrading_a_store_schedules_its_tickets_so_the_board_fills(store: Store):
    """A store from before the board (migration 0004): its running clocks reach the board at the next sweep."""
    from sqlalchemy import select, update

    from connector.runtime.scheduler import Sweeper
    from connector.store import db
    from connector.store.schema import tickets

    fill(store, _queue())
    with store.write() as conn:  # as the store stood at 0004: no board, every check days ahead
        conn.execute(update(tickets).values(next_check_at=utc("2026-03-09 09:00")))
        conn.exec_driver_sql("DROP TABLE board")
        conn.exec_driver_sql("DROP INDEX ix_clocks_metric_stopped_at")
        conn.exec_driver_sql("DROP INDEX ix_inbox_claimed")  # migration 0006's
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
    db.upgrade(store.engine)
    with store.read() as conn:
        checks = dict(conn.execute(select(tickets.c.ticket_id, tickets.c.next_check_at)).all())
    assert checks == {"1": utc("2026-03-02 10:00"), "2": utc("2026-03-02 09:00"), "3": utc("2026-03-02 08:00")}
    assert board_data(store, helpers.config(), NOW)["total"] == 0
    processor = TicketProcessor(store, helpers.config(), {}, clock=lambda: NOW)
    Sweeper(store, processor, clock=lambda: NOW).sweep()
    assert board_data(store, helpers.config(), NOW)["total"] == 6


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["source", "group", "assignee", "severity", "metric", "limit", "token",
                                        "every", "x"]),
                       st.one_of(st.text(max_size=30), st.sampled_from(["=1+2", "0", "5001", "-1", "9" * 200,
                                                                        "\x00", "' OR 1=1 --"])), max_size=4))
def test_any_query_is_an_answer_never_a_500(board_client: FlaskClient, token: str, query: dict):
    from urllib.parse import urlencode

    response = board_client.get("/board.json?" + urlencode(query), headers=_auth(token))
    assert response.status_code in (200, 400), (response.status_code, query)
    data = response.get_json()
    assert ("rows" in data) if response.status_code == 200 else data["error"] == "bad_request"
