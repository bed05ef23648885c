"""The shipped presets (issue 15): each one's fixture deliveries, signed as the tool signs them, through the
door and the worker to clocks, and the escalations' write-backs received by `responses` exactly once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses
import yaml
from sqlalchemy import select

from adapters.base import InboundRequest
from adapters.mapped import MappedAdapter
from adapters.registry import build_inbound, build_writer
from connector.config import MappedSourceConfig, load_config
from connector.errors import ConfigError
from connector.runtime.outbox import Executor
from connector.runtime.worker import TicketProcessor, Worker
from connector.service import create_app
from connector.settings import Settings
from connector.store.schema import clocks, inbox, tickets

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "presets"
SECRET = "preset-webhook-secret-4b1d"
ESCALATIONS = [{"name": "breach", "when": {"metric": "first_response", "breached": True},
                "actions": [{"add_tags": ["sla_breached"]}, {"add_note": "First response was due {due_at}"}]}]


def write_config(tmp_path: Path, name: str, section: dict) -> Path:
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["sources"][name] = section
    data["escalations"] = ESCALATIONS
    data["priority_map"][name] = {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def sign(data: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()


def run(store, cfg, settings, name: str, deliveries: list[tuple[bytes, dict[str, str]]], now: datetime):
    """Post the deliveries, let the worker and the outbox run at `now`; return the app's answers."""
    adapter = build_inbound(name, settings, cfg)
    assert isinstance(adapter, MappedAdapter)
    app = create_app(settings, store=store, config=cfg, adapters={name: adapter}, clock=lambda: now)
    client = app.test_client()
    answers = [client.post(f"/hooks/{name}", data=data, headers=headers).status_code for data, headers in deliveries]
    writers = {name: build_writer(name, settings, cfg)}
    worker = Worker(store, TicketProcessor(store, cfg, writers, clock=lambda: now), {name: adapter},
                    clock=lambda: now)
    while worker.run_once():
        pass
    executor = Executor(store, writers, clock=lambda: now)
    while executor.run_once():
        pass
    return answers


def clock_rows(store, source: str) -> dict[str, object]:
    with store.read() as conn:
        assert all(s == "done" for s in conn.execute(select(inbox.c.state)).scalars())
        return {r.metric: r for r in conn.execute(select(clocks).where(clocks.c.source == source))}


def test_presets_load_and_a_users_keys_win(tmp_path):
    path = write_config(tmp_path, "jira", {"preset": "jira-service-management",
                                           "writeback": {"base_url": "https://acme.atlassian.net"},
                                           "mapping": {"ticket": {"status_map": {"Triage": "new"}}}})
    section = load_config(path).sources["jira"]
    assert isinstance(section, MappedSourceConfig) and section.auth is not None
    assert section.auth.scheme == "hmac" and section.writeback is not None
    assert section.writeback.base_url == "https://acme.atlassian.net"
    assert section.mapping.ticket.status_map["Triage"] == "new"            # added by the user
    assert section.mapping.ticket.status_map["Resolved"] == "solved"       # kept from the preset
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "in-house.yaml").write_text(yaml.safe_dump(
        {"type": "mapped", "auth": {"scheme": "token", "secrets_env": "HOUSE_TOKEN"},
         "mapping": {"ticket_id": "id", "event_id": "eid", "occurred_at": "at"}}))
    assert isinstance(load_config(write_config(tmp_path, "house", {"preset": "in-house"})).sources["house"],
                      MappedSourceConfig)  # a preset beside the config file
    with pytest.raises(ConfigError, match=r"sources.house.preset: no preset 'nope' \(the presets: .*github-issues"):
        load_config(write_config(tmp_path, "house", {"preset": "nope"}))


@responses.activate
def test_jira_service_management_end_to_end(store, tmp_path):
    cfg = load_config(write_config(tmp_path, "jira", {"preset": "jira-service-management",
                                                      "writeback": {"base_url": "https://acme.atlassian.net"}}))
    settings = Settings.from_env({"JIRA_WEBHOOK_SECRET": SECRET, "JIRA_API_TOKEN": "bot@acme.test:t0k"},
                                 database_url=store.url)
    responses.put("https://acme.atlassian.net/rest/api/2/issue/SUP-5", status=204)
    responses.post("https://acme.atlassian.net/rest/api/2/issue/SUP-5/comment", status=201)
    created = (FIXTURES / "jira-service-management" / "issue_created.json").read_bytes()
    headers = {"X-Hub-Signature": sign(created), "X-Atlassian-Webhook-Identifier": "1001"}
    late = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # urgent → P1: first response due 15:05 (1 h, 24x7 in example)
    answers = run(store, cfg, settings, "jira", [(created, headers), (created, headers),
                                                 (created, {**headers, "X-Hub-Signature": sign(b"x")})], late)
    assert answers == [202, 200, 401]  # accepted, Jira's retry deduplicated, a forged one refused
    first = clock_rows(store, "jira")["first_response"]
    assert (first.severity, first.status, first.due_at.replace(tzinfo=UTC)) == (
        "P1", "breached", datetime(2026, 3, 2, 15, 5, tzinfo=UTC))
    labels = [json.loads(c.request.body) for c in responses.calls if c.request.method == "PUT"
              and b"labels" in c.request.body]
    notes = [json.loads(c.request.body) for c in responses.calls if c.request.url.endswith("/comment")]
    assert labels == [{"update": {"labels": [{"add": "sla_breached"}]}}]
    assert len(notes) == 1 and notes[0]["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    calls = len(responses.calls)
    Executor(store, {"jira": build_writer("jira", settings, cfg)}, clock=lambda: late).run_once()
    assert len(responses.calls) == calls  # exactly once


def github_setup(store, tmp_path):
    """The github-issues preset with both secrets, and GitHub's labels and comments endpoints (responses)."""
    cfg = load_config(write_config(tmp_path, "github", {"preset": "github-issues"}))
    settings = Settings.from_env({"GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_TOKEN": "github_pat_x"},
                                 database_url=store.url)
    responses.post("https://api.github.com/repos/orbital-labs/atlas/issues/42/labels", status=200, json=[])
    responses.post("https://api.github.com/repos/orbital-labs/atlas/issues/42/comments", status=201, json={})
    return cfg, settings


@responses.activate
def test_github_issues_end_to_end_the_connectors_own_note_stops_no_clock(store, tmp_path):
    cfg, settings = github_setup(store, tmp_path)
    files = ["issues_opened.json", "issue_comment_created_connector_note.json", "issue_comment_created_member.json"]
    deliveries = []
    for n, name in enumerate(files):
        data = (FIXTURES / "github-issues" / name).read_bytes()
        deliveries.append((data, {"X-Hub-Signature-256": sign(data), "X-GitHub-Delivery": f"guid-{n}"}))
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert run(store, cfg, settings, "github", deliveries, now) == [202, 202, 202]
    first = clock_rows(store, "github")["first_response"]
    # priority:high → high → P2; the connector's own note (MEMBER, with the marker) is automated and stopped
    # nothing; the maintainer's reply at 14:50 did: 45 minutes
    assert (first.severity, first.status, first.elapsed_seconds, first.ticket_id) == ("P2", "met", 45 * 60, "42")
    with store.read() as conn:
        account = conn.execute(select(clocks.c.account).where(clocks.c.source == "github")).scalars().first()
    assert account == "orbital-labs/atlas"


@responses.activate
def test_github_issues_write_back_reaches_the_repository_once(store, tmp_path):
    cfg, settings = github_setup(store, tmp_path)
    data = (FIXTURES / "github-issues" / "issues_opened.json").read_bytes()
    late = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)  # past the P2 first response
    run(store, cfg, settings, "github", [(data, {"X-Hub-Signature-256": sign(data), "X-GitHub-Delivery": "g1"})],
        late)
    labels = [c for c in responses.calls if c.request.url.endswith("/labels")]
    comments = [c for c in responses.calls if c.request.url.endswith("/comments")]
    assert [json.loads(c.request.body) for c in labels] == [{"labels": ["sla_breached"]}]
    assert labels[0].request.headers["Authorization"] == "Bearer github_pat_x"
    assert labels[0].request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    [note] = comments
    assert json.loads(note.request.body)["body"].endswith("<!-- sla-connector -->")


def test_the_github_preset_verifies_githubs_published_signature_vector(tmp_path):
    """docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody", body
    "Hello, World!" → sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17."""
    section = load_config(write_config(tmp_path, "github", {"preset": "github-issues"})).sources["github"]
    assert isinstance(section, MappedSourceConfig)
    adapter = MappedAdapter("github", section, ["It's a Secret to Everybody"])
    adapter.verify(InboundRequest(headers={"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d"
                                                                  "7586c22c46f4379c8b043e17"},
                                  body=b"Hello, World!", received_at=datetime.now(UTC)))


def sign_sha1(data: bytes) -> str:
    return "sha1=" + hmac.new(SECRET.encode(), data, hashlib.sha1).hexdigest()


@responses.activate
def test_intercom_end_to_end_notes_stop_nothing_a_reply_stops_first_response(store, tmp_path):
    cfg = load_config(write_config(tmp_path, "intercom", {"preset": "intercom",
                                                          "writeback": {"constants": {"admin_id": "814860"}}}))
    settings = Settings.from_env({"INTERCOM_WEBHOOK_SECRET": SECRET, "INTERCOM_API_TOKEN": "dG9rOmFiYw=="},
                                 database_url=store.url)
    files = ["conversation_user_created.json", "conversation_admin_noted.json", "conversation_admin_replied.json"]
    deliveries = []
    for name in files:
        data = (FIXTURES / "intercom" / name).read_bytes()
        deliveries.append((data, {"X-Hub-Signature": sign_sha1(data)}))
    deliveries.append((deliveries[0][0], {"X-Hub-Signature": sign_sha1(deliveries[0][0])}))  # Intercom's retry
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert run(store, cfg, settings, "intercom", deliveries, now) == [202, 202, 202, 200]
    rows = clock_rows(store, "intercom")
    first = rows["first_response"]
    # the note at 14:10 is private: nothing stopped; the teammate's reply at 14:25 did (20 minutes)
    assert (first.severity, first.status, first.elapsed_seconds, first.group_name) == ("P2", "met", 20 * 60,
                                                                                      "5017691")


@responses.activate
def test_intercom_writes_an_internal_note_once_and_needs_its_admin_id(store, tmp_path):
    responses.post("https://api.intercom.io/conversations/215472861/reply", status=200, json={})
    data = (FIXTURES / "intercom" / "conversation_user_created.json").read_bytes()
    late = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)
    settings = Settings.from_env({"INTERCOM_WEBHOOK_SECRET": SECRET, "INTERCOM_API_TOKEN": "dG9rOmFiYw=="},
                                 database_url=store.url)
    unset = load_config(write_config(tmp_path, "intercom", {"preset": "intercom"}))
    assert not build_writer("intercom", settings, unset).configured  # type: ignore[union-attr]
    cfg = load_config(write_config(tmp_path, "intercom", {"preset": "intercom",
                                                          "writeback": {"constants": {"admin_id": "814860"}}}))
    run(store, cfg, settings, "intercom", [(data, {"X-Hub-Signature": sign_sha1(data)})], late)
    [call] = responses.calls
    assert json.loads(call.request.body) == {"message_type": "note", "type": "admin", "admin_id": "814860",
                                             "body": "First response was due 2026-03-02T18:05:00Z"}  # P2: 4 h
    assert call.request.headers["Authorization"] == "Bearer dG9rOmFiYw=="
    assert call.request.headers["Intercom-Version"] == "2.11"


def hubspot_headers(data: bytes, url: str = "http://localhost/hooks/hubspot") -> dict[str, str]:
    stamp = str(int(datetime.now(UTC).timestamp() * 1000))
    message = b"POST" + url.encode() + data + stamp.encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json"}


@responses.activate
def test_hubspot_end_to_end_partial_changes_keep_the_rest_of_the_ticket(store, tmp_path):
    """A batch (creation, priority, subject), then stage changes, each one property: the priority set first
    still holds when the stage changes (P1 stays P1), and closing the ticket meets resolution."""
    cfg = load_config(write_config(tmp_path, "hubspot", {"preset": "hubspot"}))
    settings = Settings.from_env({"HUBSPOT_CLIENT_SECRET": SECRET}, database_url=store.url)
    deliveries = []
    for name in ("created_batch.json", "stage_waiting_on_us.json", "stage_closed.json"):
        data = (FIXTURES / "hubspot" / name).read_bytes()
        deliveries.append((data, hubspot_headers(data)))
    forged = deliveries[0][0].replace(b"URGENT", b"LOW")
    deliveries.append((forged, {**deliveries[0][1]}))  # signed for another body
    now = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    assert run(store, cfg, settings, "hubspot", deliveries, now) == [202, 202, 202, 401]
    rows = clock_rows(store, "hubspot")
    resolution = rows["resolution"]
    assert (resolution.severity, resolution.status, resolution.account) == ("P1", "met", "62515")
    assert resolution.elapsed_seconds == (16 * 60 - (14 * 60 + 5)) * 60  # 14:05 → 16:00, 24x7 for P1
    with store.read() as conn:
        state = conn.execute(select(tickets.c.state).where(tickets.c.source == "hubspot")).scalar_one()
    assert state["snapshot"]["subject"] == "Payments fail at checkout" and state["snapshot"]["priority"] == "urgent"
    assert state["snapshot"]["status"] == "closed"


@responses.activate
def test_hubspot_notes_go_to_the_tickets_timeline_once(store, tmp_path):
    responses.post("https://api.hubapi.com/crm/v3/objects/notes", status=201, json={"id": "1"})
    responses.patch("https://api.hubapi.com/crm/v3/objects/tickets/1804275", status=200, json={})
    cfg = load_config(write_config(tmp_path, "hubspot", {"preset": "hubspot"}))
    settings = Settings.from_env({"HUBSPOT_CLIENT_SECRET": SECRET, "HUBSPOT_API_TOKEN": "pat-na1-x"},
                                 database_url=store.url)
    data = (FIXTURES / "hubspot" / "created_batch.json").read_bytes()
    late = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # P1 first response (1 h) breached
    run(store, cfg, settings, "hubspot", [(data, hubspot_headers(data))], late)
    notes = [json.loads(c.request.body) for c in responses.calls if c.request.url.endswith("/notes")]
    dues = [json.loads(c.request.body) for c in responses.calls if c.request.method == "PATCH"]
    assert dues == [{"properties": {"sla_due_at": 1772463900000}},   # first response, 15:05
                    {"properties": {"sla_due_at": 1772489100000}}]   # resolution, 22:05 (8 h)
    assert len(notes) == 1
    assert notes[0]["properties"]["hs_note_body"] == "First response was due 2026-03-02T15:05:00Z"
    assert isinstance(notes[0]["properties"]["hs_timestamp"], int)
    assert notes[0]["associations"] == [{"to": {"id": "1804275"}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]}]


@pytest.mark.parametrize(("preset", "fixture", "drop", "message"), [
    ("github-issues", "github-issues/issues_opened.json", ("issue", "number"),
     "mapping.ticket_id: `issue.number` found null"),
    ("hubspot", "hubspot/stage_closed.json", (0, "objectId"), "events[0]: mapping.ticket_id: `objectId` found null"),
])
def test_a_delivery_without_its_ticket_number_is_refused_not_filed_under_null(tmp_path, preset, fixture, drop,
                                                                              message):
    """`to_string(null)` is the text "null": a preset that wrapped the id in it filed such deliveries under a
    ticket named "null". The ids are numbers, which the mapping reads as text by itself."""
    from adapters.mapped import map_body
    from connector.errors import PayloadError

    section = load_config(write_config(tmp_path, "src", {"preset": preset})).sources["src"]
    assert isinstance(section, MappedSourceConfig)
    data = json.loads((FIXTURES / fixture).read_text())
    [event] = map_body("src", section, json.dumps(data).encode())
    assert event.ticket_id in ("42", "1804275")
    parent = data
    for key in drop[:-1]:
        parent = parent[key]
    del parent[drop[-1]]
    with pytest.raises(PayloadError) as err:
        map_body("src", section, json.dumps(data).encode())
    assert message in err.value.reason
