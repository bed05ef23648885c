"""`POST /simulate` (and `GET` with a body): the store's history under the app's config and a proposed one."""

from __future__ import annotations

import json

import pytest
import yaml
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.reports.simulate import simulate
from connector.runtime.worker import TicketProcessor
from connector.store import Store
from tests.helpers import config_data, utc
from tests.integration.support import make_app
from tests.unit.test_simulate import CURRENT, EVENTS, PROPOSED, _policy

NOW = utc("2026-03-03 12:00")


@pytest.fixture
def api(store: Store, token: str) -> FlaskClient:
    processor = TicketProcessor(store, CURRENT, {}, clock=lambda: utc("2026-01-01 00:00"))
    for e in sorted(EVENTS, key=lambda e: e.occurred_at):
        processor.apply_event(e)
    return make_app(store, token=token, config=CURRENT, clock=lambda: NOW).test_client()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


PROPOSED_YAML = yaml.safe_dump(config_data(policies=_policy("4h")))


@pytest.mark.parametrize("method", ["post", "get"])
def test_the_store_history_under_the_proposed_config(api: FlaskClient, token: str, method: str):
    response = getattr(api, method)("/simulate", data=PROPOSED_YAML, headers=_auth(token))
    assert response.status_code == 200, response.get_json()
    expected = json.loads(json.dumps(simulate(CURRENT, PROPOSED, EVENTS, now=NOW)))
    assert response.get_json() == expected
    assert [c["ticket"]["id"] for c in response.get_json()["changed"]] == ["2"]


def test_json_bodies_pages_and_tables(api: FlaskClient, token: str):
    as_json = api.post("/simulate?format=csv&table=changed", data=json.dumps(config_data(policies=_policy("4h"))),
                       headers=_auth(token))
    assert as_json.status_code == 200 and as_json.content_type.startswith("text/csv")
    assert '"met_to_breached"' in as_json.get_data(as_text=True)
    page = api.post("/simulate?format=html", data=PROPOSED_YAML, headers=_auth(token))
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_an_invalid_proposed_config_lists_every_problem_by_key(api: FlaskClient, token: str):
    bad = config_data(policies=[{"name": "x", "calendar": "nope", "targets": {"P9": {"first_response": "soon"}}}])
    response = api.post("/simulate", data=yaml.safe_dump(bad), headers=_auth(token))
    data = response.get_json()
    assert response.status_code == 400 and data["error"] == "invalid_config"
    assert any(p.startswith("policies[0].targets.P9.first_response:") for p in data["problems"])


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"", 400, "send the proposed config"),
    (b"\xff\xfe", 400, "must be UTF-8"),
    (b"a: [1, 2", 400, "not valid YAML"),
    (b"a: &x [1, 2]\nb: *x\n", 400, "aliases"),
    (b"x" * (1024 * 1024 + 10), 413, ""),
])
def test_a_bad_body_is_a_clear_4xx(api: FlaskClient, token: str, body: bytes, status: int, reason: str):
    response = api.post("/simulate", data=body, headers=_auth(token))
    assert response.status_code == status and reason in response.get_json()["reason"]


@pytest.mark.parametrize(("query", "reason"), [
    ("?colour=red", "unknown parameter 'colour'"), ("?format=pdf", "format: must be one of"),
    ("?by=colour", "by: unknown grouping"), ("?table=rows&format=json", "table: one table alone is CSV"),
    ("?from=2026-13-01", "from:"),
])
def test_bad_parameters_are_400(api: FlaskClient, token: str, query: str, reason: str):
    response = api.post("/simulate" + query, data=PROPOSED_YAML, headers=_auth(token))
    assert response.status_code == 400 and response.get_json()["reason"].startswith(reason)


def test_the_endpoint_needs_the_token(api: FlaskClient):
    assert api.post("/simulate", data=PROPOSED_YAML).status_code == 401


JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
                    | st.text(max_size=12) | st.sampled_from(["=1+2", "\x00", "9" * 400, "0001-01-01"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["version", "severities", "classification", "policies", "calendars",
                                         "olas", "teams", "targets", "P2", "first_response", "default", "x"]),
                        inner, max_size=4), max_leaves=15)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(JUNK.map(lambda v: yaml.safe_dump(v)), JUNK.map(lambda v: json.dumps(v, default=str)),
                      st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_body_is_an_answer_never_a_500(api: FlaskClient, token: str, body: str):
    response = api.post("/simulate", data=body.encode("utf-8", "surrogatepass"), headers=_auth(token))
    assert response.status_code in (200, 400), (response.status_code, body[:200])
    assert response.is_json and ("error" in response.get_json()) == (response.status_code == 400)


def test_a_proposal_goes_through_the_configs_bounds(api: FlaskClient, token: str):
    """A proposal the core could not use (a format spec in a note, a target no calendar holds, an infinite fee)
    is a 400 listing each by key, as `check-config` does, never a 500 from the replay."""
    bad = config_data(policies=_policy("100000d"), contracts=[
        {"name": "c", "organizations": ["o"], "fee": float("inf"), "credits": [{"below": "95%", "credit": "5%"}]}],
        escalations=[{"name": "w", "when": {"metric": "first_response", "at": "50%"},
                      "actions": [{"add_note": "due {due_at:>99999999999}"}]}])
    response = api.post("/simulate", data=yaml.safe_dump(bad), headers=_auth(token))
    data = response.get_json()
    assert response.status_code == 400 and data["error"] == "invalid_config", data
    assert [p.split(":")[0] for p in data["problems"]] == [
        "policies[0].targets.P2.first_response", "escalations[0].actions[0].add_note", "contracts[0].fee"]


@pytest.mark.parametrize(("body", "where"), [("a: 2026-02-30\n", "line 1, column 4"),
                                             ("policies:\n  - n: " + "9" * 5000 + "\n", "line 2, column 8")])
def test_a_proposal_with_a_scalar_yaml_cannot_build_is_a_400_at_its_line(api: FlaskClient, token: str, body: str,
                                                                         where: str):
    response = api.post("/simulate", data=body, headers=_auth(token))
    data = response.get_json()
    assert response.status_code == 400 and data["error"] == "bad_request", data
    assert f"not valid YAML at {where}" in data["reason"] and len(data["reason"]) < 300
