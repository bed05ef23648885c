"""Mapped sources (issue 15): any tool's webhook through config alone — auth schemes, JMESPath mapping,
errors naming the expression, the door and the worker, and `connector mapping check`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from adapters.base import InboundRequest
from adapters.mapped import MappedAdapter, map_body
from adapters.mapped.inbound import check_body
from adapters.registry import build_inbound, inbound_sources
from adapters.webhook import signing
from connector.cli import main
from connector.config import MappedSourceConfig
from connector.errors import AuthError, ConfigError, PayloadError
from connector.runtime.worker import TicketProcessor, Worker
from connector.service import create_app
from connector.settings import Settings
from connector.store.schema import clocks, inbox
from tests.helpers import config

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mapped"
TOKEN = "jira-token-7f3b2c9d1e"

JIRA = {
    "type": "mapped",
    "auth": {"scheme": "token", "secrets_env": "JIRA_WEBHOOK_TOKEN", "header": "Authorization", "prefix": "Bearer "},
    "mapping": {
        "ticket_id": "issue.key",
        "event_id": "join(':', [issue.key, webhookEvent, to_string(timestamp)])",
        "occurred_at": "timestamp",
        "type": "webhookEvent",
        "type_map": {"jira:issue_created": "ticket.created", "comment_created": "comment.added",
                     "*": "ticket.updated"},
        "ticket": {
            "status": "issue.fields.status.name",
            "status_map": {"Waiting for support": "open", "In progress": "open", "Waiting for customer": "pending",
                           "Resolved": "solved", "Closed": "closed"},
            "priority": "issue.fields.priority.name",
            "priority_map": {"Highest": "urgent", "High": "high", "Medium": "normal", "Low": "low"},
            "subject": "issue.fields.summary", "description": "issue.fields.description",
            "tags": "issue.fields.labels", "created_at": "issue.fields.created",
            "requester": {"id": "issue.fields.reporter.accountId"},
            "fields": {"request_type": "issue.fields.customfield_10010.requestType.name"},
        },
        "comment": {"author_role": "comment.author.accountType",
                    "author_role_map": {"atlassian": "agent", "customer": "end_user", "app": "system"},
                    "public": "comment.jsdPublic", "author_id": "comment.author.accountId"},
    },
    "dedupe": {"expression": "join(':', [issue.key, webhookEvent, to_string(timestamp)])"},
}


def jira_config(**section):
    return config(sources={"jira": {**JIRA, **section}}, priority_map={"jira": {"urgent": "P1", "normal": "P3"}})


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def request(data: bytes, headers: dict[str, str], **kw) -> InboundRequest:
    return InboundRequest(headers={k.lower(): v for k, v in headers.items()}, body=data,
                          received_at=datetime.now(UTC), **kw)


def section_of(cfg, name: str = "jira") -> MappedSourceConfig:
    section = cfg.sources[name]
    assert isinstance(section, MappedSourceConfig)
    return section


# --- config -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    ({"auth": None}, "sources.jira.auth: a mapped source must authenticate its callers"),
    ({"mapping": {**JIRA["mapping"], "ticket_id": "issue.[key"}},
     "sources.jira.mapping.ticket_id: 'issue.[key' is not a JMESPath expression"),
    ({"auth": {"scheme": "token", "secrets_env": "jira_token"}}, "sources.jira.auth.token.secrets_env"),
    ({"auth": {"scheme": "hmac", "secrets_env": "X_SECRET", "header": "X-Sig", "signed": "{timestamp}.{body}"}},
     "give timestamp_header"),
    ({"auth": {"scheme": "hmac", "secrets_env": "X_SECRET", "header": "X-Sig", "signed": "{path}{body}"}},
     "unknown part {path}"),
    ({"mapping": {**JIRA["mapping"], "type_map": {"x": "ticket.closed"}}}, "is not a canonical event type"),
    ({"mapping": {**JIRA["mapping"], "ticket": {"status_map": {"Open": "opened"}}}},
     "sources.jira.mapping.ticket.status_map"),
    ({"dedupe": {"header": "X-Id", "expression": "id"}}, "give exactly one of header or expression"),
])
def test_a_bad_mapped_source_is_a_config_error_naming_the_key(change, message):
    with pytest.raises(ConfigError) as err:
        jira_config(**change)
    assert message in str(err.value)


def test_a_mapped_source_without_auth_is_refused_even_when_the_key_is_missing():
    without = {k: v for k, v in JIRA.items() if k != "auth"}
    with pytest.raises(ConfigError, match="sources.jira.auth: a mapped source must authenticate its callers"):
        config(sources={"jira": without})


@pytest.mark.parametrize("name", ["zendesk", "Jira", "a b", "x" * 41])
def test_a_mapped_source_needs_a_name_of_its_own(name):
    with pytest.raises(ConfigError, match="built-in source|cannot name a mapped source"):
        config(sources={name: JIRA})


# --- authentication ------------------------------------------------------------------------------------------


def hmac_section(**auth) -> MappedSourceConfig:
    return section_of(jira_config(auth={"scheme": "hmac", "secrets_env": "GITHUB_WEBHOOK_SECRET", **auth}))


def test_hmac_matches_githubs_published_vector():
    """docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody", payload
    "Hello, World!", X-Hub-Signature-256 "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"."""
    section = hmac_section(header="X-Hub-Signature-256", prefix="sha256=")
    adapter = MappedAdapter("jira", section, ["It's a Secret to Everybody"])
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    adapter.verify(request(b"Hello, World!", {"X-Hub-Signature-256": signature}))
    with pytest.raises(AuthError, match="matches none"):
        adapter.verify(request(b"Hello, World?", {"X-Hub-Signature-256": signature}))
    with pytest.raises(AuthError, match="expected 'sha256='"):
        adapter.verify(request(b"Hello, World!", {"X-Hub-Signature-256": signature.removeprefix("sha256=")}))
    with pytest.raises(AuthError, match="missing X-Hub-Signature-256"):
        adapter.verify(request(b"Hello, World!", {}))


def test_hmac_over_a_template_with_a_timestamp_and_base64_as_hubspot_signs_v3():
    """HubSpot's v3: base64(HMAC-SHA256(secret, method + URI + body + timestamp)), timestamp in milliseconds."""
    section = hmac_section(header="X-HubSpot-Signature-v3", encoding="base64", signed="{method}{url}{body}{timestamp}",
                           timestamp_header="X-HubSpot-Request-Timestamp", public_url="https://sla.example.com/hooks/jira")
    adapter = MappedAdapter("jira", section, ["old-secret", "hubspot-app-secret"])  # rotating: the second matches
    data = b'[{"objectId": 1}]'
    stamp = str(int(time.time() * 1000))
    message = b"POST" + b"https://sla.example.com/hooks/jira" + data + stamp.encode()
    sig = base64.b64encode(hmac.new(b"hubspot-app-secret", message, hashlib.sha256).digest()).decode()
    headers = {"X-HubSpot-Signature-v3": sig, "X-HubSpot-Request-Timestamp": stamp}
    adapter.verify(request(data, headers, method="POST", url="http://10.0.0.5:8080/hooks/jira"))
    old = str(int((time.time() - 600) * 1000))
    stale = base64.b64encode(hmac.new(b"hubspot-app-secret", message.replace(stamp.encode(), old.encode()),
                                      hashlib.sha256).digest()).decode()
    with pytest.raises(AuthError, match="more than 300 s from now"):
        adapter.verify(request(data, {"X-HubSpot-Signature-v3": stale, "X-HubSpot-Request-Timestamp": old}))


def test_a_token_and_basic_credentials_and_standard_webhooks():
    adapter = MappedAdapter("jira", section_of(jira_config()), [TOKEN])
    adapter.verify(request(b"{}", {"Authorization": f"Bearer {TOKEN}"}))
    with pytest.raises(AuthError):
        adapter.verify(request(b"{}", {"Authorization": f"Bearer {TOKEN}x"}))
    basic = MappedAdapter("jira", section_of(jira_config(auth={"scheme": "basic", "secrets_env": "JIRA_PASSWORD"})),
                          ["jira:s3cret"])
    basic.verify(request(b"{}", {"Authorization": "Basic " + base64.b64encode(b"jira:s3cret").decode()}))
    with pytest.raises(AuthError, match="matches none"):
        basic.verify(request(b"{}", {"Authorization": "Basic " + base64.b64encode(b"jira:wrong").decode()}))
    with pytest.raises(ValueError, match="user:password"):
        MappedAdapter("jira", section_of(jira_config(auth={"scheme": "basic", "secrets_env": "JIRA_PASSWORD"})),
                      ["no-colon"])
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    standard = MappedAdapter("jira", section_of(jira_config(auth={"scheme": "standard_webhooks",
                                                                   "secrets_env": "JIRA_WEBHOOK_SECRET"})), [secret])
    now = int(time.time())
    sig = signing.sign(secret, "msg_1", now, b"{}")
    standard.verify(request(b"{}", {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": sig}))
    with pytest.raises(AuthError):
        standard.verify(request(b"{ }", {"webhook-id": "msg_1", "webhook-timestamp": str(now),
                                         "webhook-signature": sig}))


# --- mapping ------------------------------------------------------------------------------------------------


def test_jira_bodies_map_to_canonical_events():
    section = section_of(jira_config())
    [created] = map_body("jira", section, body("jira_issue_created.json"))
    assert (created.source, created.account, created.ticket_id, created.type) == ("jira", "default", "SUP-5",
                                                                                  "ticket.created")
    assert created.occurred_at == datetime(2026, 3, 2, 14, 5, tzinfo=UTC)  # epoch milliseconds
    assert created.event_id == "SUP-5:jira:issue_created:1772460300000"
    t = created.ticket
    assert (t.status, t.priority, t.subject, t.tags) == ("open", "urgent", "Checkout is down", ("checkout", "vip"))
    assert t.created_at == datetime(2026, 3, 2, 14, 5, tzinfo=UTC)  # "+0000", as Jira writes offsets
    assert t.requester.id == "5b10a2844c20165700ede21g" and dict(t.fields) == {"request_type":
                                                                                "Report a system problem"}
    assert created.comment is None
    [reply] = map_body("jira", section, body("jira_comment_created.json"))
    assert reply.type == "comment.added" and reply.comment is not None
    assert (reply.comment.author_role, reply.comment.public, reply.comment.author_id) == (
        "agent", True, "5b10ac8d82e05b22cc7d4ef5")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["issue"].pop("key"), "mapping.ticket_id: `issue.key` found null; expected text or a whole number"),
    (lambda d: d.update(timestamp="yesterday"), "mapping.occurred_at: 'yesterday' is not an ISO 8601 timestamp"),
    (lambda d: d.update(timestamp=253402300800000), "mapping.occurred_at: `timestamp` found a number"),
    (lambda d: d["issue"]["fields"]["status"].update(name="Escalated"),
     "mapping.ticket.status: `issue.fields.status.name` found 'Escalated', which is not a canonical status"),
    (lambda d: d.update(webhookEvent=["x"]), "mapping.type: `webhookEvent` found a list"),
    (lambda d: d["issue"]["fields"].update(labels=[1, 2]), "mapping.ticket.tags: `issue.fields.labels` found a list"),
    (lambda d: d["issue"].update(key="SUP-\x00"), "ticket_id: holds a control character"),
    (lambda d: d["issue"].update(key="K" * 10_000), "ticket_id: 10000 characters; at most 255"),
])
def test_a_body_the_mapping_cannot_read_names_the_key_the_expression_and_what_it_found(edit, message):
    data = json.loads(body("jira_issue_created.json"))
    edit(data)
    with pytest.raises(PayloadError) as err:
        map_body("jira", section_of(jira_config()), json.dumps(data).encode())
    assert message in err.value.reason


def test_a_batched_body_maps_every_item_and_names_the_item_that_is_wrong():
    """HubSpot batches property changes: `events` selects the list; each item is the context of the rest."""
    section = section_of(jira_config(mapping={
        "events": "@", "ticket_id": "objectId", "event_id": "to_string(eventId)", "occurred_at": "occurredAt",
        "ticket": {"status": "propertyValue", "status_map": {"1": "new", "2": "open", "4": "closed"}}}))
    items = [{"eventId": 1, "objectId": 7, "occurredAt": 1772460300000, "propertyValue": "1"},
             {"eventId": 2, "objectId": 8, "occurredAt": 1772460301000, "propertyValue": "2"}]
    events = map_body("jira", section, json.dumps(items).encode())
    assert [(e.ticket_id, e.ticket.status) for e in events] == [("7", "new"), ("8", "open")]
    items[1]["propertyValue"] = "3"
    with pytest.raises(PayloadError, match=r"events\[1\]: mapping.ticket.status: `propertyValue` found '3'"):
        map_body("jira", section, json.dumps(items).encode())
    with pytest.raises(PayloadError, match="mapping.events: `@` found an object; expected a list"):
        map_body("jira", section, b'{"objectId": 7}')


def test_check_body_lists_every_problem_not_only_the_first():
    data = json.loads(body("jira_issue_created.json"))
    data["issue"].pop("key")
    data["timestamp"] = "yesterday"
    data["issue"]["fields"]["status"]["name"] = "Escalated"
    events, problems = check_body("jira", section_of(jira_config()), json.dumps(data).encode())
    assert events == []
    assert any(p.startswith("mapping.ticket_id") for p in problems)
    assert any(p.startswith("mapping.occurred_at") for p in problems)
    assert any(p.startswith("mapping.ticket.status") for p in problems)


# --- the door and the worker ---------------------------------------------------------------------------------


@pytest.fixture(name="jira_app")
def jira_app_fixture(store):
    cfg = jira_config()
    settings = Settings.from_env({"JIRA_WEBHOOK_TOKEN": TOKEN}, database_url=store.url)
    adapter = build_inbound("jira", settings, cfg)
    assert isinstance(adapter, MappedAdapter)
    app = create_app(settings, store=store, config=cfg, adapters={"jira": adapter})
    return app, cfg, adapter


def test_a_mapped_source_is_served_at_its_name_and_its_events_run_the_clocks(store, jira_app):
    app, cfg, adapter = jira_app
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert client.post("/hooks/jira", data=body("jira_issue_created.json"), headers=auth).status_code == 202
    repeat = client.post("/hooks/jira", data=body("jira_issue_created.json"), headers=auth)
    assert repeat.status_code == 200 and repeat.get_json()["status"] == "duplicate"  # dedupe.expression
    assert client.post("/hooks/jira", data=body("jira_issue_created.json"),
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    bad = json.loads(body("jira_issue_created.json"))
    bad["issue"].pop("key")
    refused = client.post("/hooks/jira", data=json.dumps(bad), headers=auth)
    assert refused.status_code == 400 and "mapping.ticket_id: `issue.key` found null" in refused.get_json()["reason"]
    odd = json.loads(body("jira_issue_created.json"))
    odd["issue"]["fields"]["status"]["name"] = "Escalated to =cmd|' /C calc'!A0"
    masked = client.post("/hooks/jira", data=json.dumps(odd), headers=auth).get_json()["reason"]
    assert masked.startswith("mapping.ticket.status: `issue.fields.status.name` found <value>")  # never echoed
    assert "jira" in client.post("/hooks/nope", data=b"{}").get_json()["reason"]
    processor = TicketProcessor(store, cfg, {}, clock=lambda: datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    worker = Worker(store, processor, {"jira": adapter}, clock=lambda: datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    worker.run_once()
    assert client.post("/hooks/jira", data=body("jira_comment_created.json"), headers=auth).status_code == 202
    worker.run_once()
    with store.read() as conn:
        states = conn.execute(select(inbox.c.state)).scalars().all()
        rows = {r.metric: r for r in conn.execute(select(clocks).where(clocks.c.source == "jira"))}
    assert states == ["done", "done"]
    first = rows["first_response"]
    assert (first.status, first.severity, first.elapsed_seconds) == ("met", "P1", 30 * 60)


def test_mapped_sources_are_listed_and_built_from_their_own_variable():
    cfg = jira_config()
    assert inbound_sources(cfg)[-1] == "jira"
    assert build_inbound("jira", Settings.from_env({}), cfg) is None  # no secret: the endpoint is off (503)
    with pytest.raises(ConfigError, match="JIRA_WEBHOOK_SECRET"):
        build_inbound("jira", Settings.from_env({"JIRA_WEBHOOK_SECRET": "not-whsec"}),
                      jira_config(auth={"scheme": "standard_webhooks", "secrets_env": "JIRA_WEBHOOK_SECRET"}))
    assert TOKEN in Settings.from_env({"JIRA_WEBHOOK_TOKEN": TOKEN}).secret_values()  # scrubbed from logs


# --- connector mapping check ---------------------------------------------------------------------------------


@pytest.fixture(name="config_file")
def config_file_fixture(tmp_path):
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["sources"]["jira"] = JIRA
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_mapping_check_prints_the_events_of_a_sample(config_file):
    result = CliRunner().invoke(main, ["mapping", "check", "--config", str(config_file), "--source", "jira",
                                       "--sample", str(FIXTURES / "jira_comment_created.json")])
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.stdout)["events"]
    assert event["type"] == "comment.added" and event["comment"]["author_role"] == "agent"


def test_mapping_check_prints_what_a_terminal_would_obey_as_json_escapes(config_file, tmp_path):
    """JSON escapes C0 itself but leaves C1 (U+009B is the 8-bit CSI), the line separators and the bidi
    controls raw: printed, a sample's subject could steer the terminal. Escaped, the JSON means the same."""
    data = json.loads(body("jira_issue_created.json"))
    subject = "Down \x9b2J \u202egnp.exe \u2028 \x7f é ☃"
    data["issue"]["fields"]["summary"] = subject
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["mapping", "check", "--config", str(config_file), "--source", "jira",
                                       "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert not any(c in result.stdout for c in "\x9b\u202e\u2028\x7f")
    assert "\\u009b2J \\u202egnp.exe \\u2028 \\u007f é ☃" in result.stdout
    assert json.loads(result.stdout)["events"][0]["ticket"]["subject"] == subject


def test_mapping_check_lists_every_problem_and_exits_1(config_file, tmp_path):
    data = json.loads(body("jira_issue_created.json"))
    data["issue"].pop("key")
    data["issue"]["fields"]["priority"] = {"name": {"nested": True}}
    sample = tmp_path / "bad.json"
    sample.write_text(json.dumps(data))
    result = CliRunner().invoke(main, ["mapping", "check", "--config", str(config_file), "--source", "jira",
                                       "--sample", str(sample)])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert any("mapping.ticket_id" in p for p in problems) and any("mapping.ticket.priority" in p for p in problems)


def test_mapping_check_checks_the_signature_when_given_headers(config_file, tmp_path, monkeypatch):
    headers = tmp_path / "headers.json"
    headers.write_text(json.dumps({"Authorization": "Bearer wrong"}))
    monkeypatch.setenv("JIRA_WEBHOOK_TOKEN", TOKEN)
    args = ["mapping", "check", "--config", str(config_file), "--source", "jira",
            "--sample", str(FIXTURES / "jira_issue_created.json"), "--headers", str(headers)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and "signature: the token matches none" in result.stderr
    headers.write_text(json.dumps({"Authorization": f"Bearer {TOKEN}"}))
    assert CliRunner().invoke(main, args).exit_code == 0
    unknown = CliRunner().invoke(main, [*args[:4], "--source", "github", *args[6:]])
    assert unknown.exit_code == 1 and "no mapped source 'github'" in unknown.stderr and "jira" in unknown.stderr


def test_the_door_dedupes_on_what_dedupe_names_and_records_the_ticket():
    """A token source has no timestamp: the door's dedupe on `dedupe.expression` is what stops a replay."""
    section = section_of(jira_config())
    adapter = MappedAdapter("jira", section, [TOKEN])
    accepted = adapter.accept(request(body("jira_issue_created.json"), {}))
    assert accepted.dedupe_key == "SUP-5:jira:issue_created:1772460300000"
    assert accepted.ticket == "jira/default/SUP-5" and accepted.events == 1
    digest = MappedAdapter("jira", section_of(jira_config(dedupe=None)), [TOKEN]).accept(
        request(body("jira_issue_created.json"), {})).dedupe_key
    assert digest == "sha256:" + hashlib.sha256(body("jira_issue_created.json")).hexdigest()


def test_standard_webhooks_agree_with_the_maintained_package_both_ways():
    """The `standard_webhooks` scheme reuses the generic webhook's verification; the maintained
    `standardwebhooks` package signs what it accepts and accepts what it signs (issue 15)."""
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(b"standard-webhooks-key-32-bytes!!").decode()
    section = section_of(jira_config(auth={"scheme": "standard_webhooks", "secrets_env": "JIRA_WEBHOOK_SECRET"}))
    adapter = MappedAdapter("jira", section, [secret])
    data = body("jira_issue_created.json")
    now = datetime.now(UTC).replace(microsecond=0)
    theirs = Webhook(secret).sign("msg_2Lf0", now, data)
    adapter.verify(request(data, {"webhook-id": "msg_2Lf0", "webhook-timestamp": str(int(now.timestamp())),
                                  "webhook-signature": theirs}))
    ours = signing.sign(secret, "msg_2Lf1", int(now.timestamp()), data)
    Webhook(secret).verify(data, {"webhook-id": "msg_2Lf1", "webhook-timestamp": str(int(now.timestamp())),
                                  "webhook-signature": ours})


def test_the_door_gives_a_signature_over_the_url_the_url_it_was_called_at(store):
    """The door rebuilds the request's URL only for an adapter that reads it (`reads_url`): a mapped source
    signing `{url}` without `public_url` verifies against the URL the server saw; the built-in sources,
    whose signatures never cover it, are not given it."""
    cfg = jira_config(auth={"scheme": "hmac", "secrets_env": "JIRA_WEBHOOK_SECRET", "header": "X-Sig",
                            "signed": "{method} {url} {body}"})
    settings = Settings.from_env({"JIRA_WEBHOOK_SECRET": "url-secret"}, database_url=store.url)
    adapter = build_inbound("jira", settings, cfg)
    assert isinstance(adapter, MappedAdapter) and adapter.reads_url
    client = create_app(settings, store=store, config=cfg, adapters={"jira": adapter}).test_client()
    data = body("jira_issue_created.json")

    def signed(url: str) -> dict[str, str]:
        message = b"POST " + url.encode() + b" " + data
        return {"X-Sig": hmac.new(b"url-secret", message, hashlib.sha256).hexdigest()}

    assert client.post("/hooks/jira", data=data, headers=signed("http://localhost/hooks/jira")).status_code == 202
    assert client.post("/hooks/jira", data=data, headers=signed("http://elsewhere/hooks/jira")).status_code == 401
    from adapters.freshdesk.inbound import FreshdeskAdapter
    from adapters.webhook.inbound import WebhookAdapter
    from adapters.zendesk.inbound import ZendeskAdapter

    assert not any(cls.reads_url for cls in (WebhookAdapter, ZendeskAdapter, FreshdeskAdapter))
