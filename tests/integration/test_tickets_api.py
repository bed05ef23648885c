"""GET /tickets/<source>/<id> and …/explain: the replay JSON and the explain story of a stored ticket."""

from __future__ import annotations

import json

import pytest
from flask import Flask

from connector.explain import explain
from connector.replay import replay
from connector.store import Store
from connector.worker import TicketProcessor
from tests import helpers
from tests.helpers import AGENT, CUSTOMER
from tests.integration.support import make_app, new_token

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
    _error(client.get("/tickets/zendesk", headers=_auth(token)), 404, "not_found")

