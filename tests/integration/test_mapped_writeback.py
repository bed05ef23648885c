"""Mapped sources' write-back over HTTP (issue 15): request templates per action, through the outbox with
the same guarantees as Zendesk's and Freshdesk's (idempotency keys, Retry-After, error taxonomy, exactly
once). The tool's API is `responses`; the requests follow Jira Cloud's REST API v2 (`PUT
/rest/api/2/issue/{key}` with `update.labels[].add`, `POST /rest/api/2/issue/{key}/comment` with the
`sd.public.comment` property that makes a Service Management comment internal)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from sqlalchemy import select

from adapters.base import WriteAction
from adapters.mapped.writeback import MappedWriter
from adapters.registry import build_inbound, build_writer
from connector.config import MappedSourceConfig
from connector.errors import ConfigError, Conflict, Permanent, Transient
from connector.runtime.outbox import Executor
from connector.runtime.worker import TicketProcessor, Worker
from connector.settings import Settings
from connector.store.schema import outbox
from tests.helpers import config
from tests.integration.test_mapped_source import JIRA, TOKEN, body

BASE = "https://acme.atlassian.net"
WRITEBACK = {
    "base_url": BASE,
    "auth": {"scheme": "basic", "secrets_env": "JIRA_API_TOKEN"},
    "actions": {
        "add_tags": {"method": "PUT", "url": "/rest/api/2/issue/{ticket_id}",
                     "body": {"update": {"labels": [{"$each": "tags", "add": "{item}"}]}}},
        "remove_tags": {"method": "PUT", "url": "/rest/api/2/issue/{ticket_id}",
                        "body": {"update": {"labels": [{"$each": "tags", "remove": "{item}"}]}}},
        "add_note": {"url": "/rest/api/2/issue/{ticket_id}/comment",
                     "body": {"body": "{body}", "properties": [{"key": "sd.public.comment",
                                                                "value": {"internal": True}}]}},
        "set_due_date": {"method": "PUT", "url": "/rest/api/2/issue/{ticket_id}",
                         "headers": {"X-Metric": "{metric}"},
                         "body": {"fields": {"customfield_10050": "{due_at}", "customfield_10051": "{due_at_ms}"}}},
    },
}
ESCALATIONS = [{"name": "breach", "when": {"metric": "first_response", "breached": True},
                "actions": [{"add_tags": ["sla_breached"]}, {"add_note": "First response was due {due_at}"}]}]


def jira_config(**writeback):
    return config(sources={"jira": {**JIRA, "writeback": {**WRITEBACK, **writeback}}}, escalations=ESCALATIONS,
                  priority_map={"jira": {"urgent": "P1", "normal": "P3"}})


def writer(**writeback) -> MappedWriter:
    section = jira_config(**writeback).sources["jira"]
    assert isinstance(section, MappedSourceConfig)
    return MappedWriter("jira", section, "bot@acme.test:api-token-1")


def action(kind: str, **params) -> WriteAction:
    return WriteAction(key=f"jira:default:SUP-5:{kind}:1", action=kind, source="jira", account="default",
                       ticket_id="SUP 5/x", params=params)


@responses.activate
def test_each_action_is_the_request_its_template_describes():
    responses.put(f"{BASE}/rest/api/2/issue/SUP%205%2Fx", status=204)
    responses.post(f"{BASE}/rest/api/2/issue/SUP%205%2Fx/comment", status=201)
    w = writer()
    assert w.configured
    assert w.write(action("add_tags", tags=["sla_breached", "vip"])).outcome == "sent"
    assert w.write(action("add_note", body="Due 14:05 \"soon\"", public=False)).outcome == "sent"
    assert w.write(action("set_due_date", metric="first_response", cycle=1,
                          due_at=datetime(2026, 3, 2, 15, 5, tzinfo=UTC))).outcome == "sent"
    tags, note, due = responses.calls
    assert json.loads(tags.request.body) == {"update": {"labels": [{"add": "sla_breached"}, {"add": "vip"}]}}
    assert tags.request.method == "PUT"  # the ticket id is one path segment, escaped
    assert tags.request.headers["Authorization"] == "Basic " + base64.b64encode(b"bot@acme.test:api-token-1").decode()
    assert tags.request.headers["Idempotency-Key"] == "jira:default:SUP-5:add_tags:1"
    assert json.loads(note.request.body)["body"] == 'Due 14:05 "soon"'
    assert json.loads(due.request.body) == {"fields": {"customfield_10050": "2026-03-02T15:05:00Z",
                                                       "customfield_10051": 1772463900000}}
    assert due.request.headers["X-Metric"] == "first_response"


@responses.activate
def test_a_due_date_past_2099_is_sent():
    """A clock started late in 2099 is due in 2100: the connector's own instant (it failed the input range)."""
    responses.put(f"{BASE}/rest/api/2/issue/SUP%205%2Fx", status=204)
    assert writer().write(action("set_due_date", metric="first_response", cycle=1,
                                 due_at=datetime(2100, 1, 4, 17, tzinfo=UTC))).outcome == "sent"
    assert json.loads(responses.calls[0].request.body) == {"fields": {"customfield_10050": "2100-01-04T17:00:00Z",
                                                                      "customfield_10051": 4102765200000}}


@responses.activate
@pytest.mark.parametrize(("status", "headers", "error", "check"), [
    (429, {"Retry-After": "30"}, Transient, lambda e: e.retry_after == 30.0),
    (503, {}, Transient, lambda e: e.retry_after is None),
    (500, {}, Transient, lambda e: "500 Internal Server Error" in str(e)),
    (409, {}, Conflict, lambda e: True),
    (404, {}, Permanent, lambda e: "404 Not Found" in str(e) and BASE not in str(e)),
    (301, {"Location": "https://elsewhere.example"}, Permanent, lambda e: "redirects are not followed" in str(e)),
])
def test_answers_are_sorted_as_the_outbox_needs(status, headers, error, check):
    responses.put(f"{BASE}/rest/api/2/issue/SUP%205%2Fx", status=status, headers=headers)
    with pytest.raises(error) as err:
        writer().write(action("add_tags", tags=["x"]))
    assert check(err.value)


@responses.activate
def test_a_connection_error_is_transient_and_an_action_without_a_template_is_skipped():
    responses.put(f"{BASE}/rest/api/2/issue/SUP%205%2Fx", body=requests.ConnectionError("refused"))
    with pytest.raises(Transient, match="could not reach jira"):
        writer().write(action("add_tags", tags=["x"]))
    skipped = writer().write(action("set_priority", priority="high"))
    assert (skipped.outcome, skipped.detail) == ("skipped", "no template for set_priority in "
                                                            "sources.jira.writeback.actions")


@pytest.mark.parametrize(("change", "message"), [
    ({"actions": {"add_tags": {"url": "/x/{priority}"}}}, "actions.add_tags: unknown value {priority}"),
    ({"actions": {"reopen": {"url": "/x"}}}, "reopen: not an action the connector writes back"),
    ({"base_url": "ftp://acme"}, "must be an http:// or https:// URL"),
    ({"auth": {"scheme": "bearer", "secrets_env": "jira"}}, "must name an environment variable"),
    # a spec is applied at every write: this one built a gigabyte each time; a conversion or a private
    # attribute reaches past the value
    ({"actions": {"add_tags": {"url": "/x/{ticket_id:>999999999}"}}},
     "placeholder {ticket_id:>999999999}: a placeholder is a value's name"),
    ({"actions": {"add_tags": {"url": "/x", "body": {"t": "{tags!r}"}}}}, "placeholder {tags!r}: "),
    ({"actions": {"add_tags": {"url": "/x", "headers": {"x": "{key.__class__}"}}}}, "placeholder {key.__class__}: "),
    ({"actions": {"add_tags": {"url": "/x/{tags[_x]}"}}}, "placeholder {tags[_x]}: "),
])
def test_a_bad_writeback_is_a_config_error_naming_the_key(change, message):
    with pytest.raises(ConfigError) as err:
        jira_config(**change)
    assert "sources.jira.writeback" in str(err.value) and message in str(err.value)


def test_without_a_base_url_the_writer_says_so_and_sends_nothing():
    w = writer(base_url=None)
    assert not w.configured
    result = w.write(action("add_tags", tags=["x"]))
    assert (result.outcome, result.detail) == ("skipped", "sources.jira.writeback.base_url is not set (add_tags's "
                                                          "URL is relative)")


def test_without_its_secret_the_writer_is_not_configured_and_actions_are_dry_run():
    cfg = jira_config()
    assert not build_writer("jira", Settings.from_env({}), cfg).configured  # type: ignore[union-attr]
    assert build_writer("jira", Settings.from_env({"JIRA_API_TOKEN": "bot:t"}), cfg).configured  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="JIRA_API_TOKEN"):
        build_writer("jira", Settings.from_env({"JIRA_API_TOKEN": "no-colon"}), cfg)


@responses.activate
def test_fixture_deliveries_to_clocks_to_writes_received_exactly_once(store):
    """Issue 15's end-to-end: a Jira delivery → the worker's clocks → a breach's tag and note → the outbox
    sends each once (a second executor run sends nothing); the due date goes to the custom field."""
    responses.put(f"{BASE}/rest/api/2/issue/SUP-5", status=204)
    responses.post(f"{BASE}/rest/api/2/issue/SUP-5/comment", status=201)
    cfg = jira_config()
    settings = Settings.from_env({"JIRA_WEBHOOK_TOKEN": TOKEN, "JIRA_API_TOKEN": "bot@acme.test:t"},
                                 database_url=store.url)
    late = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # P1 first response (1 h, 24x7) breached at 15:05
    writers = {"jira": build_writer("jira", settings, cfg)}
    processor = TicketProcessor(store, cfg, writers, clock=lambda: late)
    worker = Worker(store, processor, {"jira": build_inbound("jira", settings, cfg)}, clock=lambda: late)  # type: ignore[dict-item]
    store.insert_inbox(source="jira", dedupe_key="d1", body=body("jira_issue_created.json"), headers={},
                       received_at=late, dedupe_window=timedelta(0))
    worker.run_once()
    executor = Executor(store, writers, clock=lambda: late)
    while executor.run_once():
        pass
    sent = [(c.request.method, c.request.url, json.loads(c.request.body)) for c in responses.calls]
    assert ("PUT", f"{BASE}/rest/api/2/issue/SUP-5", {"update": {"labels": [{"add": "sla_breached"}]}}) in sent
    notes = [b for m, u, b in sent if u.endswith("/comment")]
    assert notes == [{"body": "First response was due 2026-03-02T15:05:00Z",
                      "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}]
    due = [b for m, u, b in sent if "fields" in b]
    assert {"customfield_10050": "2026-03-02T15:05:00Z", "customfield_10051": 1772463900000} in \
        [d["fields"] for d in due]
    calls = len(responses.calls)
    executor.run_once()
    assert len(responses.calls) == calls  # exactly once
    with store.read() as conn:
        states = conn.execute(select(outbox.c.action, outbox.c.state)).all()
    assert states and all(state == "done" for _, state in states)
