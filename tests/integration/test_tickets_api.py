"""GET /tickets/<source>/<id> and …/explain: the replay JSON and the explain story of a stored ticket."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from click.testing import CliRunner
from flask import Flask

from connector.cli import main
from connector.config import load_config
from connector.events import event_to_dict, format_instant, write_jsonl
from connector.events import updated as replace
from connector.explain import explain
from connector.replay import replay
from connector.runtime.worker import TicketProcessor, Worker
from connector.store import Store
from tests import helpers
from tests.helpers import AGENT, CUSTOMER
from tests.integration.support import make_app, new_token, serving, signed
from tests.report_support import EXAMPLE_CONFIG, example_events

NOW = helpers.utc("2026-03-03 12:00")


def _events(ticket_id: str = "1", account: str = "acme", tag: str = ""):
    return [
        helpers.event("2026-03-02 10:00", "ticket.created", status="new", created="2026-03-02 10:00",
                      ticket_id=ticket_id, account=account, event_id=f"c{tag}{account}{ticket_id}"),
        helpers.event("2026-03-02 11:30", "comment.added", comment=AGENT, created="2026-03-02 10:00",
                      ticket_id=ticket_id, account=account, event_id=f"a{tag}{account}{ticket_id}"),
        helpers.event("2026-03-02 15:00", "comment.added", comment=CUSTOMER, created="2026-03-02 10:00",
                      ticket_id=ticket_id, account=account, event_id=f"u{tag}{account}{ticket_id}"),
    ]


@pytest.fixture
def fed(store: Store):
    """The store after the worker applied the events of ticket zendesk/acme/1."""
    processor = TicketProcessor(store, helpers.config(), writers={}, clock=lambda: NOW)
    events = _events()
    for event in events:
        processor.apply_event(event)
    return events


@pytest.fixture
def api(store: Store, token: str, fed) -> Flask:
    return make_app(store, token=token, clock=lambda: NOW)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    data = response.get_json()
    assert data["error"] == code and data["reason"]
    return data


def test_ticket_json_is_the_replay_json(api: Flask, token: str, fed):
    response = api.test_client().get("/tickets/zendesk/1", headers=_auth(token))
    assert response.status_code == 200
    expected = replay(helpers.config(), fed, now=NOW)["tickets"][0]
    assert response.get_json() == json.loads(json.dumps(expected))
    data = response.get_json()
    assert list(data) == ["ticket", "severity", "policy", "clocks", "actions"]
    assert data["ticket"] == {"source": "zendesk", "account": "acme", "id": "1"}
    first = next(c for c in data["clocks"] if c["metric"] == "first_response")
    assert first["status"] == "met" and first["elapsed_seconds"] == 5400


def test_ticket_needs_the_bearer_token(api: Flask, token: str):
    client = api.test_client()
    for headers in ({}, _auth("wrong"), _auth(token + "x"), {"Authorization": token},
                    {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer"}):
        for path in ("/tickets/zendesk/1", "/tickets/zendesk/1/explain"):
            response = client.get(path, headers=headers)
            data = _error(response, 401, "unauthorized")
            assert token not in json.dumps(data)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/tickets/zendesk/1", headers={"Authorization": f"bearer  {token}"}).status_code == 200


def test_ticket_api_is_off_without_a_token(store: Store, fed):
    client = make_app(store, token=None, clock=lambda: NOW).test_client()
    for path in ("/tickets/zendesk/1", "/tickets/zendesk/1/explain"):
        data = _error(client.get(path, headers=_auth("anything")), 403, "forbidden")
        assert data["reason"] == "set CONNECTOR_API_TOKEN to enable this endpoint"


def test_unknown_ticket_is_404(api: Flask, token: str):
    client = api.test_client()
    for path in ("/tickets/zendesk/2", "/tickets/freshdesk/1", "/tickets/zendesk/1?account=other",
                 "/tickets/zendesk/2/explain", "/tickets/zendesk/1/explain?account=other"):
        _error(client.get(path, headers=_auth(token)), 404, "not_found")


def test_unusable_ids_are_400(api: Flask, token: str):
    client = api.test_client()
    _error(client.get("/tickets/zendesk/a%00b", headers=_auth(token)), 400, "bad_request")
    _error(client.get("/tickets/zendesk/" + "9" * 256, headers=_auth(token)), 400, "bad_request")
    _error(client.get("/tickets/zendesk/1?account=a%0Ab", headers=_auth(token)), 400, "bad_request")


def test_same_id_in_two_accounts_asks_for_the_account(store: Store, token: str, fed):
    processor = TicketProcessor(store, helpers.config(), writers={}, clock=lambda: NOW)
    for event in _events(account="globex"):
        processor.apply_event(event)
    client = make_app(store, token=token, clock=lambda: NOW).test_client()
    data = _error(client.get("/tickets/zendesk/1", headers=_auth(token)), 409, "conflict")
    assert "?account=" in data["reason"] and "acme" in data["reason"] and "globex" in data["reason"]
    _error(client.get("/tickets/zendesk/1/explain", headers=_auth(token)), 409, "conflict")
    response = client.get("/tickets/zendesk/1?account=globex", headers=_auth(token))
    assert response.status_code == 200
    assert response.get_json()["ticket"] == {"source": "zendesk", "account": "globex", "id": "1"}
    text = client.get("/tickets/zendesk/1/explain?account=globex", headers=_auth(token)).get_data(as_text=True)
    assert text.startswith("Ticket zendesk/globex/1")


def test_explain_is_the_explain_story(api: Flask, token: str, fed):
    response = api.test_client().get("/tickets/zendesk/1/explain", headers=_auth(token))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert text == explain(helpers.config(), fed, "1", source="zendesk", now=NOW)
    assert text.startswith("Ticket zendesk/acme/1")
    assert "Policy 'standard'" in text and "first_response" in text
    assert "{'" not in text and "datetime." not in text


def test_explain_never_hides_an_event_from_a_clock_running_behind(store: Store, token: str, fed):
    early = helpers.utc("2026-03-02 12:00")  # before the last event (15:00)
    client = make_app(store, token=token, clock=lambda: early).test_client()
    text = client.get("/tickets/zendesk/1/explain", headers=_auth(token)).get_data(as_text=True)
    assert text == explain(helpers.config(), fed, "1", source="zendesk")  # as of the last event


def test_a_new_token_is_needed_per_app(store: Store, fed):
    one, two = new_token(), new_token()
    client = make_app(store, token=one, clock=lambda: NOW).test_client()
    assert client.get("/tickets/zendesk/1", headers=_auth(one)).status_code == 200
    assert client.get("/tickets/zendesk/1", headers=_auth(two)).status_code == 401


def test_tickets_routes_answer_json_for_other_methods(api: Flask, token: str):
    client = api.test_client()
    _error(client.post("/tickets/zendesk/1", headers=_auth(token)), 405, "method_not_allowed")
    data = _error(client.get("/tickets/zendesk", headers=_auth(token)), 400, "bad_request")
    assert data["reason"].startswith("id: which ticket?")
    data = _error(client.get("/tickets/zendesk/1?id=1", headers=_auth(token)), 400, "bad_request")
    assert data["reason"] == "id: the path names the ticket already; give it once"


# --- every id a source accepts can be read back (robustness pass) -------------------------------------------

# ids a sender may use: the path form reads the first group, the query form (`?id=`) every one
PATH_IDS = ["acme/42", "owner/repo#12", "50%", "100%25", "what?", "a b", " ", "été/☃", "a//b", "/lead", "trail/",
            "x/explain/", "explain/x", "a+b&c=d", "%2F", "日本/チケット"]
QUERY_ONLY_IDS = ["x/explain", "explain", "explain/explain", ".", "..", "a/../b", "./x"]


def _fed_with(store: Store, ids: list[str]) -> None:
    processor = TicketProcessor(store, helpers.config(), writers={}, clock=lambda: NOW)
    for n, ticket_id in enumerate(ids):
        for event in _events(ticket_id=ticket_id, tag=f"-{n}-"):
            processor.apply_event(event)


def test_a_webhook_ticket_id_with_a_slash_can_be_read_back(store: Store, secret: str, token: str):
    # before: accepted (202), then 404 on every read, the routes taking one path segment
    client = make_app(store, secret=secret, token=token, clock=lambda: NOW).test_client()
    body = json.dumps({"ticket_id": "acme/42", "event_id": "gh-1", "occurred_at": "2026-03-02T10:00:00Z",
                       "type": "ticket.created", "ticket": {"status": "new", "created_at": "2026-03-02T10:00:00Z",
                                                           "subject": "owner/repo#12"}}).encode()
    assert client.post("/hooks/webhook", data=body, headers=signed(secret, body)).status_code == 202
    ctx = client.application.extensions["connector"]
    Worker(store, ctx.processor, ctx.adapters, clock=lambda: NOW, name="w1").run_once()
    for path in ("/tickets/webhook/acme/42", "/tickets/webhook/acme%2F42", "/tickets/webhook?id=acme%2F42"):
        response = client.get(path, headers=_auth(token))
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        assert response.get_json()["ticket"] == {"source": "webhook", "account": "default", "id": "acme/42"}
    story = client.get("/tickets/webhook/acme/42/explain", headers=_auth(token))
    assert story.status_code == 200 and story.get_data(as_text=True).startswith("Ticket webhook/default/acme/42")


def test_every_accepted_id_is_readable_by_path_and_by_query(store: Store, token: str):
    _fed_with(store, PATH_IDS + QUERY_ONLY_IDS)
    client = make_app(store, token=token, clock=lambda: NOW).test_client()
    for ticket_id in PATH_IDS + QUERY_ONLY_IDS:
        expected = replay(helpers.config(), _events(ticket_id=ticket_id), now=NOW)["tickets"][0]
        story = explain(helpers.config(), _events(ticket_id=ticket_id), ticket_id, source="zendesk", now=NOW)
        query = urlencode({"id": ticket_id, "account": "acme"})
        paths = [(f"/tickets/zendesk?{query}", f"/tickets/zendesk/explain?{query}")]
        if ticket_id in PATH_IDS:
            path = quote(ticket_id, safe="/")
            paths.append((f"/tickets/zendesk/{path}", f"/tickets/zendesk/{path}/explain"))
            paths.append((f"/tickets/zendesk/{quote(ticket_id, safe='')}",
                          f"/tickets/zendesk/{quote(ticket_id, safe='')}/explain"))
        for as_json, as_text in paths:
            response = client.get(as_json, headers=_auth(token))
            assert response.status_code == 200, (as_json, response.get_data(as_text=True))
            assert response.get_json() == json.loads(json.dumps(expected)), as_json
            response = client.get(as_text, headers=_auth(token))
            assert response.status_code == 200, (as_text, response.get_data(as_text=True))
            assert response.get_data(as_text=True) == story, as_text


def test_a_path_ending_in_explain_is_the_story_and_explain_alone_is_the_ticket(store: Store, token: str):
    _fed_with(store, ["x", "x/explain", "explain"])
    client = make_app(store, token=token, clock=lambda: NOW).test_client()
    story = client.get("/tickets/zendesk/x/explain", headers=_auth(token))
    assert story.get_data(as_text=True).startswith("Ticket zendesk/acme/x: ")      # x's story, not x/explain
    shown = client.get("/tickets/zendesk/x/explain/explain", headers=_auth(token)).get_data(as_text=True)
    assert shown.startswith("Ticket zendesk/acme/x/explain: ")
    assert client.get("/tickets/zendesk/explain", headers=_auth(token)).get_json()["ticket"]["id"] == "explain"
    assert client.get("/tickets/zendesk/explain?id=x", headers=_auth(token)).get_data(as_text=True) == \
        story.get_data(as_text=True)
    _error(client.get("/tickets/zendesk?id=", headers=_auth(token)), 400, "bad_request")
    _error(client.get("/tickets/zendesk?id=a%00b", headers=_auth(token)), 400, "bad_request")
    _error(client.get("/tickets/zendesk?id=" + "9" * 256, headers=_auth(token)), 400, "bad_request")
    _error(client.get("/tickets/zendesk?id=nope", headers=_auth(token)), 404, "not_found")
    _error(client.get("/tickets/zendesk/x/explain?account=other", headers=_auth(token)), 404, "not_found")
    assert client.get("/tickets/zendesk?id=x", headers={}).status_code == 401
    # "//" is part of an id, never merged into a redirect to another ticket ("/x" is not "x")
    for path in ("/tickets/zendesk//x", "/tickets//zendesk/x", "/tickets/zendesk//x/explain"):
        _error(client.get(path, headers=_auth(token)), 404, "not_found")



# --- one representation of seconds: the service and `connector replay` agree (issue 12) ---------------------


class WallClock:
    """A clock that reads like the wall clock, microseconds included, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _canonical(data: Any) -> str:
    """JSON text with sorted keys: 5400 and 5400.0 differ here, as they do for a client."""
    return json.dumps(data, sort_keys=True)


def test_the_api_shows_each_ticket_as_replay_does_at_the_services_second(store: Store, token: str, secret: str,
                                                                         tmp_path: Path):
    """The example history, posted as signed webhooks and applied by the worker with a clock that has
    microseconds, answers `GET /tickets/...` with exactly the JSON `connector replay --now <that second>`
    prints for the ticket, and `…/explain` with `connector explain`'s story."""
    cfg = load_config(EXAMPLE_CONFIG)
    events = [replace(e, source="webhook") for e in example_events()]
    clock = WallClock(datetime(2026, 3, 1, tzinfo=UTC))
    app = make_app(store, secret=secret, token=token, config=cfg, clock=clock)
    ctx = app.extensions["connector"]
    worker = Worker(store, ctx.processor, ctx.adapters, clock=clock, name="w1")
    client = app.test_client()
    for e in events:  # each delivered and applied 2.53447 s after it happened, in the file's order
        clock.at = e.occurred_at + timedelta(seconds=2, microseconds=534470)
        body = json.dumps(event_to_dict(e)).encode()
        answer = client.post("/hooks/webhook", data=body, headers=signed(secret, body))
        assert answer.status_code in (200, 202)  # the history repeats one delivery on purpose: 200, stored once
        worker.run_once()
    clock.at = datetime(2026, 12, 1, 15, 0, 7, 534470, tzinfo=UTC)  # read later, mid-second
    second = format_instant(clock.at.replace(microsecond=0))
    history = tmp_path / "events.jsonl"
    with history.open("w", encoding="utf-8") as fh:
        write_jsonl(events, fh)

    offline = json.loads(_cli("replay", "--config", str(EXAMPLE_CONFIG), "--events", str(history), "--now", second))
    assert offline["now"] == "2026-12-01T15:00:07Z" and len(offline["tickets"]) == 12
    for expected in offline["tickets"]:
        ref = expected["ticket"]
        path = f"/tickets/webhook/{ref['id']}?account={ref['account']}"
        response = client.get(path, headers=_auth(token))
        assert response.status_code == 200
        assert _canonical(response.get_json()) == _canonical(expected), ref
        story = client.get(f"/tickets/webhook/{ref['id']}/explain?account={ref['account']}", headers=_auth(token))
        assert story.get_data(as_text=True) == _cli("explain", "--config", str(EXAMPLE_CONFIG), "--events",
                                                    str(history), "--ticket", ref["id"], "--source", "webhook",
                                                    "--now", second)
    assert any(c["status"] == "running" for t in offline["tickets"] for c in t["clocks"])  # measured at that second

    # the SLA report from the store: durations are whole seconds, stale clocks measured at now included
    data = client.get("/reports/sla?format=json", headers=_auth(token)).get_json()
    assert data["now"] == second  # the same second as the tickets
    durations = [v for row in [*data["rows"], *data["breaches"]] for k, v in row.items()
                 if k.endswith("_seconds") and v is not None]
    assert durations and all(type(v) is int for v in durations), durations


def test_ids_read_back_through_the_real_server_and_an_http_client(store: Store, token: str):
    """waitress decodes the path (a `%2F` is a slash by then) and `requests` sends what a script would; a client
    that rewrites `..` segments gets the query form."""
    import requests

    ids = ["acme/42", "owner/repo#12", "50%", "été/☃", "a//b", "/lead", "x/explain", "a/../b"]
    _fed_with(store, ids)
    with serving(make_app(store, token=token, clock=lambda: NOW), threads=2) as port:
        base = f"http://127.0.0.1:{port}"
        for ticket_id in ids:
            urls = [f"{base}/tickets/zendesk?{urlencode({'id': ticket_id})}"]
            if ticket_id not in ("x/explain", "a/../b"):
                urls.append(f"{base}/tickets/zendesk/{quote(ticket_id, safe='/')}")
            for url in urls:
                response = requests.get(url, headers={**_auth(token), "Connection": "close"}, timeout=10)
                assert response.status_code == 200, (url, response.text)
                assert response.json()["ticket"]["id"] == ticket_id
