"""Freshdesk's inbound adapter: auth, dedupe keys, fixtures, enrichment through a fake API, fuzz."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import InboundAdapter, InboundRequest
from adapters.freshdesk import SOURCE, FreshdeskAdapter, FreshdeskApi
from adapters.freshdesk.auth import TOKEN_HEADER
from adapters.freshdesk.inbound import CACHE_SECONDS, recognise, triggered_event
from connector.errors import AuthError, PayloadError, Transient
from connector.events import event_to_dict

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / SOURCE
TEMPLATE = ROOT / "config" / "freshdesk" / "webhook-body.json"
SECRET = "s3cret-for-tests"
NOW = 1_772_460_000.0
RECEIVED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIELD_NAMES = {"cf_customer_tier": "tier"}
STATUS_MAP = {"6": "pending"}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def api_data() -> tuple[dict[str, Any], dict[str, Any]]:
    return load("api/tickets.json"), load("api/conversations.json")


class FakeFreshdesk:
    """An in-memory FreshdeskApi that counts its calls."""

    def __init__(self, tickets: dict[str, Any] | None = None, conversations: dict[str, Any] | None = None) -> None:
        default_tickets, default_conversations = api_data()
        self.tickets = default_tickets if tickets is None else tickets
        self.conversations = default_conversations if conversations is None else conversations
        self.calls: Counter[str] = Counter()

    def get_ticket(self, ticket_id: str) -> Mapping[str, Any]:
        self.calls["get_ticket"] += 1
        return self.tickets[ticket_id]

    def list_conversations(self, ticket_id: str) -> Sequence[Mapping[str, Any]]:
        self.calls["list_conversations"] += 1
        return self.conversations[ticket_id]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def adapter(**kwargs: Any) -> FreshdeskAdapter:
    args: dict[str, Any] = {"account": "acme.freshdesk.com", "field_names": FIELD_NAMES, "status_map": STATUS_MAP,
                            "clock": lambda: NOW, **kwargs}
    return FreshdeskAdapter([SECRET], **args)


def request(body: Any, headers: dict[str, str] | None = None) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    given = {TOKEN_HEADER: SECRET, "user-agent": "Freshdesk", "content-type": "application/json"}
    return InboundRequest(headers=given if headers is None else headers, body=raw, received_at=RECEIVED)


def body_of(name: str, **changes: Any) -> bytes:
    return json.dumps({**load(name), **changes}).encode()


def test_it_is_an_inbound_adapter():
    a: InboundAdapter = adapter()
    assert a.source == SOURCE == "freshdesk"
    assert SECRET not in repr(adapter(api=FakeFreshdesk())) and "api='yes'" not in repr(adapter())


@pytest.mark.parametrize(("domain", "account"), [("acme", "acme"), ("acme.freshdesk.com", "acme"),
                                                 ("https://ACME.freshdesk.com/", "acme")])
def test_the_account_is_the_domain_without_freshdesk_com(domain, account):
    assert FreshdeskAdapter([SECRET], account=domain).account == account


@pytest.mark.parametrize("kwargs", [{"secrets": []}, {"secrets": [""]}, {"account": " "}, {"cache_size": 0}])
def test_bad_construction(kwargs):
    args: dict[str, Any] = {"secrets": [SECRET], "account": "acme", **kwargs}
    with pytest.raises(ValueError):
        FreshdeskAdapter(args.pop("secrets"), **args)
    with pytest.raises(TypeError):
        FreshdeskAdapter(SECRET, account="acme")


def test_verify_takes_every_secret():
    req = request(load("template_ticket_updated_status.json"))
    FreshdeskAdapter(["old", SECRET], account="acme").verify(req)
    with pytest.raises(AuthError, match="no valid credentials"):
        FreshdeskAdapter(["another"], account="acme").verify(req)
    with pytest.raises(AuthError, match="missing credentials"):
        adapter().verify(request(load("template_ticket_updated_status.json"), headers={}))


# --- accept --------------------------------------------------------------------------------------


def test_accept_dedupes_on_the_body_hash_and_ticket_and_audits_no_credentials():
    req = request(body_of("template_ticket_updated_status.json"),
                  headers={TOKEN_HEADER: SECRET, "authorization": "Basic eDpz", "user-agent": "Freshdesk"})
    accepted = adapter().accept(req)
    assert accepted.dedupe_key.startswith("fd:1:sha256:") and len(accepted.dedupe_key) == len("fd:1:sha256:") + 64
    assert accepted.events == 1 and dict(accepted.audit_headers) == {"user-agent": "Freshdesk"}
    assert adapter().accept(request(req.body)).dedupe_key == accepted.dedupe_key  # a repeat is the same delivery
    other = adapter().accept(request(body_of("template_ticket_updated_status.json", status="Pending")))
    assert other.dedupe_key != accepted.dedupe_key


def test_the_zulip_wrapper_and_our_template_are_both_read():
    wrapped = recognise(body_of("zulip_private_note_added.json"))
    assert (wrapped.ticket_id, wrapped.type, wrapped.private_note) == ("11", "comment.added", True)
    flat = recognise(json.dumps(load("zulip_priority_changed.json")["freshdesk_webhook"]).encode())
    assert (flat.ticket_id, flat.type, flat.data["ticket_status"]) == ("11", "ticket.updated", "Resolved")


@pytest.mark.parametrize(("event", "kind"), [
    ("{ticket_action:created}", "ticket.created"), ("{note_type:private}", "comment.added"),
    ("{note_type:public}", "comment.added"), ("{status:{from:4,to:6}}", "ticket.updated"),
    ("{priority:{from:3,to:1}}", "ticket.updated"), ("", "ticket.updated"), ("{{triggered_event}}", "ticket.updated"),
])
def test_without_kind_the_triggered_event_decides(event, kind):
    assert recognise(json.dumps({"ticket_id": "5", "triggered_event": event}).encode()).type == kind
    # an explicit kind always wins
    assert recognise(json.dumps({"ticket_id": "5", "kind": "ticket.updated",
                                 "triggered_event": event}).encode()).type == "ticket.updated"


def test_triggered_event_is_not_json():
    assert triggered_event("{status:{from:4,to:6}}") == ("status", "")
    assert triggered_event("{note_type:private}") == ("note_type", "private")
    assert triggered_event(" {ticket_action:created} ") == ("ticket_action", "created")
    assert triggered_event("status changed") is None and triggered_event(None) is None


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty body"), (b"  ", "empty body"), (b"\xff", "not UTF-8"), (b"[1]", "expected a JSON object, got a list"),
    (b'{"a": 1}', "expected a Freshdesk webhook body with ticket_id"),
    (b'{"freshdesk_webhook": []}', "expected a Freshdesk webhook body with ticket_id"),
    (b'{"ticket_id": "{{ticket.id}}"}', r"ticket_id: an unrendered placeholder is not a Freshdesk ticket id .*"
                                        r"\(is the placeholder rendered\?\)"),
    (b'{"ticket_id": "abc"}', "ticket_id: a text of 3 characters is not a Freshdesk ticket id"),
    (b'{"ticket_id": true}', "ticket_id: true is not"),
    (b'{"ticket_id": "7", "kind": "ticket.deleted"}', "kind: a text of 14 characters is not one of"),
    (b'{"ticket_id": "7", "subject": "say "hi""}', "not valid JSON"),
    (b'{"ticket_id": 1e999}', "not finite"), (b"[" * 40 + b"]" * 40, "nested more than"),
    (b'{"ticket_id": "7", "x": "\\ud800"}', "unpaired UTF-16 surrogate"),
])
def test_malformed_bodies_are_payload_errors(body, message):
    with pytest.raises(PayloadError, match=message):
        adapter().accept(request(body))
    with pytest.raises(PayloadError, match=message):
        adapter(api=FakeFreshdesk()).normalize(body, {}, RECEIVED)


# --- values no ticket can have: refused at the door, naming the key (issue 11, item 2) -------------

OUT_OF_RANGE = ["9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00"]
UNPARSABLE = ["March 2, 2026", "2026-13-45T25:61:00Z", "2026-03-02T10:00:00", "2026-03-02", 1772460000, True,
              ["2026-03-02T10:00:00Z"], {"at": "2026-03-02T10:00:00Z"}]


@pytest.mark.parametrize("key", ["updated_at", "created_at"])
@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_accept_refuses_instants_outside_the_range(key: str, value: str):
    body = {"ticket_id": "5", "kind": "ticket.updated", key: value}
    with pytest.raises(PayloadError) as info:
        adapter().accept(request(body))
    assert info.value.reason == f"{key}: the instant is outside 1970-01-01T00:00:00Z to 2099-12-31T23:59:59Z"
    assert info.value.status == 400


@pytest.mark.parametrize("key", ["updated_at", "created_at"])
@pytest.mark.parametrize("value", UNPARSABLE)
def test_accept_refuses_instants_it_cannot_read(key: str, value: Any):
    with pytest.raises(PayloadError, match=f"^{key}: expected an ISO 8601 instant with Z or an offset, got "):
        adapter().accept(request({"ticket_id": "5", key: value}))


@pytest.mark.parametrize("value", [None, "", "-", "{{ticket.updated_at}}"])
def test_an_instant_left_empty_or_unrendered_is_no_instant(value: Any):
    assert recognise(json.dumps({"ticket_id": "5", "updated_at": value}).encode()).stamp is None


@pytest.mark.parametrize(("body", "reason"), [
    ({"ticket_id": "1" * 21}, "ticket_id: a text of 21 characters is not a Freshdesk ticket id (1-20 digits)"),
    ({"ticket_id": 10 ** 25}, "ticket_id: a number of 26 digits is not a Freshdesk ticket id (1-20 digits)"),
    ({"ticket_id": "12\x00"}, "ticket_id: a text of 3 characters is not a Freshdesk ticket id (1-20 digits)"),
    ({"ticket_id": "1\n2"}, "ticket_id: a text of 3 characters is not a Freshdesk ticket id (1-20 digits)"),
    ({"ticket_id": "7", "requester_id": "r" * 256}, "requester_id: an id of 256 characters; at most 255"),
    ({"ticket_id": "7", "group_id": "a\x00b"}, "group_id: the id holds a control character (NUL, newline, …)"),
    ({"ticket_id": "7", "responder_id": "line\nbreak"},
     "responder_id: the id holds a control character (NUL, newline, …)"),
    ({"ticket_id": "7", "company_id": "9" * 256}, "company_id: an id of 256 characters; at most 255"),
])
def test_accept_refuses_identifiers_no_ticket_can_have(body: dict[str, Any], reason: str):
    with pytest.raises(PayloadError) as info:
        adapter().accept(request(body))
    assert info.value.reason == reason


@pytest.mark.parametrize("domain", ["a" * 256, "ac\x00me", "ac\nme"])
def test_the_account_must_be_an_identifier(domain: str):
    with pytest.raises(ValueError, match="the Freshdesk account"):
        FreshdeskAdapter([SECRET], account=domain)


@pytest.mark.parametrize(("fetched", "reason"), [
    ({"updated_at": "9999-12-31T23:59:59Z"},
     "the fetched ticket's updated_at: the instant is outside 1970-01-01T00:00:00Z to 2099-12-31T23:59:59Z"),
    ({"updated_at": "0001-01-01T00:00:00+14:00"},
     "the fetched ticket's updated_at: the instant is outside 1970-01-01T00:00:00Z to 2099-12-31T23:59:59Z"),
    ({"updated_at": "yesterday"},
     "the fetched ticket's updated_at: expected an ISO 8601 instant with Z or an offset, got a text of 9 characters"),
    ({"created_at": "1900-01-01T00:00:00Z"}, "created_at: the instant is outside"),
    ({"requester_id": "9" * 300}, "requester_id: an id of 300 characters; at most 255"),
    ({"responder_id": "a\x00"}, "responder_id: the id holds a control character"),
    ({"custom_fields": {"cf_customer_tier": "t" * 300}}, "ticket.requester.tier: 300 characters; at most 255"),
    ({"source": "Carrier\x00Pigeon"}, "ticket.channel: holds a control character"),
])
def test_normalize_refuses_api_values_no_ticket_can_have(fetched: dict[str, Any], reason: str):
    tickets, conversations = api_data()
    tickets["1"] = {**tickets["1"], **fetched}
    with pytest.raises(PayloadError) as info:
        adapter(api=FakeFreshdesk(tickets, conversations)).normalize(
            body_of("template_ticket_updated_status.json"), {}, RECEIVED)
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize(("conversation", "reason"), [
    ({"created_at": "0001-01-01T00:00:00+14:00"}, "ticket 1: conversation.created_at: the instant is outside"),
    ({"id": "1" * 30}, "conversation.id: expected a Freshdesk id (1-20 digits), got a text of 30 characters"),
    ({"id": "7\x00"}, "conversation.id: expected a Freshdesk id (1-20 digits), got a text of 2 characters"),
    ({"user_id": "u" * 256}, "conversation.user_id: an id of 256 characters; at most 255"),
])
def test_normalize_refuses_conversations_no_ticket_can_have(conversation: dict[str, Any], reason: str):
    tickets, _ = api_data()
    api = FakeFreshdesk(tickets, {"1": [{**CONVERSATION, **conversation}]})
    with pytest.raises(PayloadError) as info:
        adapter(api=api).normalize(comment_body(), {}, RECEIVED)
    assert info.value.reason.startswith(reason)


# --- reasons never repeat the body (issue 11, item 6) ---------------------------------------------

MARKER = "QZX7-MARKER-fd"
MARKED: list[tuple[str, Any]] = [  # (key, value) put into an otherwise valid body: each makes an error
    ("ticket_id", MARKER), ("ticket_id", MARKER * 10), ("ticket_id", "{{" + MARKER + "}}"), ("ticket_id", [MARKER]),
    ("kind", MARKER), ("kind", {"x": MARKER}),
    ("updated_at", MARKER), ("updated_at", f"2026-03-02T10:00:00Z {MARKER}"), ("created_at", [MARKER]),
    ("requester_id", MARKER * 20), ("requester_id", f"{MARKER}\x00"), ("group_id", [MARKER]),
    ("responder_id", {"id": MARKER}), ("company_id", f"{MARKER}\x00x"),
    ("status", MARKER), ("ticket_status", MARKER), ("status", [MARKER]), ("priority", MARKER),
    ("ticket_priority", {"p": MARKER}), ("source", [MARKER]), ("tags", {"t": MARKER}), ("tags", ["ok", [MARKER]]),
    ("custom_fields", [MARKER]), ("subject", [MARKER]), ("description", {"d": MARKER}),
    ("ticket_subject", 5.5), ("ticket_description", [MARKER]),
]
MARKED_API: list[tuple[str, Any]] = [  # (key, value) in the fetched ticket
    ("status", MARKER), ("priority", MARKER), ("updated_at", MARKER), ("created_at", MARKER),
    ("requester_id", MARKER * 20), ("custom_fields", [MARKER]), ("tags", [{"x": MARKER}]), ("subject", [MARKER]),
    ("description_text", {"x": MARKER}), ("source", {"s": MARKER}),
]
MARKED_CONVERSATION: list[tuple[str, Any]] = [
    ("incoming", MARKER), ("private", [MARKER]), ("user_id", [MARKER]), ("created_at", MARKER), ("id", MARKER),
]
MARKED_RAW = [
    b'{"ticket_id": "1", "kind": "' + MARKER.encode() + b'"',                      # cut short
    b'{"ticket_id": "1", "note": "' + MARKER.encode() + b'" "x"}',                 # a quote breaks the JSON
    b'{"ticket_id": "1", "x": "' + MARKER.encode() + b'\xff"}',                    # not UTF-8
    b'{"x": "' + MARKER.encode() + b'"}',                                          # no ticket_id
    b'[{"ticket_id": "' + MARKER.encode() + b'"}]',                                # not an object
    b'{"ticket_id": "1", "n": 1' + b"0" * 200 + b', "m": "' + MARKER.encode() + b'"}',  # a number too long
    b'{"ticket_id": "1", "d": ' + b"[" * 40 + MARKER.encode() + b"]" * 40 + b"}",   # nested too deep
]
MARKED_HEADERS = [
    {}, {TOKEN_HEADER: MARKER}, {TOKEN_HEADER: MARKER * 200}, {"authorization": MARKER},
    {"authorization": "Basic " + base64.b64encode(f"{MARKER}:{MARKER}".encode()).decode()},
    {"authorization": "Basic " + MARKER}, {"authorization": f"Bearer {MARKER}"},
]


def reasons_for(body: bytes, headers: dict[str, str], api: FreshdeskApi | None) -> list[str]:
    """Run a delivery through verify, accept and normalize; return the reason of every error it met."""
    a = adapter(api=api)
    req = InboundRequest(headers=headers, body=body, received_at=RECEIVED)
    found: list[str] = []
    for step in (lambda: a.verify(req), lambda: a.accept(req), lambda: a.normalize(body, headers, RECEIVED)):
        try:
            step()
        except (AuthError, PayloadError) as err:
            found.extend([err.reason, str(err)])
    return found


def test_no_error_reason_repeats_the_body():
    base = {**load("template_ticket_updated_status.json"), "updated_at": "2026-03-02T13:45:00Z"}  # the body wins
    tickets, conversations = api_data()
    token = {TOKEN_HEADER: SECRET}

    def marked(key: str, value: Any) -> bytes:  # a zulip-style name stands in for ours: leave ours out
        return json.dumps({**{k: v for k, v in base.items() if f"ticket_{k}" != key}, key: value}).encode()

    for key, value in MARKED:  # with and without the API: one of the two meets an error
        reasons = reasons_for(marked(key, value), token, FakeFreshdesk()) + reasons_for(marked(key, value), token, None)
        assert reasons, f"no error path taken for {key}={value!r}"
        assert not [r for r in reasons if MARKER in r or MARKER[:12] in r], (key, reasons)
    cases: list[tuple[bytes, dict[str, str], FreshdeskApi | None]] = []
    cases += [(body_of("template_ticket_updated_status.json"), token,
               FakeFreshdesk({**tickets, "1": {**tickets["1"], key: value}}, conversations))
              for key, value in MARKED_API]
    cases += [(comment_body(), token, FakeFreshdesk(tickets, {"1": [{**CONVERSATION, key: value}]}))
              for key, value in MARKED_CONVERSATION]
    cases += [(raw, token, FakeFreshdesk()) for raw in MARKED_RAW]
    cases += [(body_of("template_ticket_updated_status.json", note=MARKER), headers, FakeFreshdesk())
              for headers in MARKED_HEADERS]
    for body, headers, api in cases:
        reasons = reasons_for(body, headers, api)
        assert reasons, f"no error path taken for {body[:80]!r} {headers}"
        assert not [r for r in reasons if MARKER in r or MARKER[:12] in r], (body[:80], reasons)
    assert len(cases) == len(MARKED_API) + len(MARKED_CONVERSATION) + len(MARKED_RAW) + len(MARKED_HEADERS)


# --- whose reply it is (issue 11, item 12) ---------------------------------------------------------


def test_a_reply_by_the_requester_is_theirs_whatever_incoming_says():
    # a portal reply: Freshdesk sets `incoming` only for what comes from outside ("not through web portal")
    tickets, _ = api_data()
    requester = tickets["1"]["requester_id"]
    portal = {**CONVERSATION, "id": 5, "incoming": False, "private": False, "user_id": requester}
    [event] = adapter(api=FakeFreshdesk(tickets, {"1": [portal]})).normalize(comment_body(), {}, RECEIVED)
    assert event.comment is not None
    assert (event.comment.author_role, event.comment.public, event.comment.author_id) == (
        "end_user", True, str(requester))
    assert not event.comment.is_agent_reply and event.comment.is_customer_message


# --- fixtures ------------------------------------------------------------------------------------


def fixture_bodies() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))


def test_there_are_fixtures_each_with_its_expected_events():
    bodies = fixture_bodies()
    assert len(bodies) >= 8
    assert all(p.with_name(f"{p.stem}.expected.json").is_file() for p in bodies)


@pytest.mark.parametrize("path", fixture_bodies(), ids=lambda p: p.stem)
def test_fixture(path: Path):
    expected = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    req = request(path.read_bytes())
    a = adapter(api=FakeFreshdesk())
    a.verify(req)
    accepted = a.accept(req)
    events = a.normalize(req.body, accepted.audit_headers, req.received_at)
    assert accepted.events == len(events) == len(expected)
    assert [event_to_dict(e) for e in events] == expected
    assert all(e.source == "freshdesk" and e.account == "acme" for e in events)
    assert a.normalize(req.body, {}, RECEIVED) == events  # normalizing again gives the same events


def test_the_shipped_template_renders_into_an_accepted_body():
    template = json.loads(TEMPLATE.read_text())
    assert template["ticket_id"] == "{{ticket.id}}" and template["kind"] == "ticket.updated"
    assert template["triggered_event"] == "{{triggered_event}}"
    assert all(isinstance(v, str) for v in template.values())
    rendered = {**template, "ticket_id": "1", "status": "Open", "priority": "Low", "source": "Portal",
                "tags": "foo, bar", "triggered_event": "{status:{from:3,to:2}}"}
    assert rendered == {**load("template_ticket_updated_status.json"), "group": "{{ticket.group.name}}",
                        "agent_email": "{{ticket.agent.email}}", "requester_email": "{{ticket.requester.email}}",
                        "company": "{{ticket.company.name}}"}
    [event] = adapter(api=FakeFreshdesk()).normalize(json.dumps(rendered).encode(), {}, RECEIVED)
    assert event.type == "ticket.updated"
    readme = (TEMPLATE.parent / "README.md").read_text()
    for word in ("FRESHDESK_WEBHOOK_SECRET", "FRESHDESK_DOMAIN", "FRESHDESK_API_KEY", TOKEN_HEADER, "/hooks/freshdesk",
                 "ticket.created", "ticket.updated", "comment.added"):
        assert word in readme


# --- enrichment ----------------------------------------------------------------------------------


def test_without_an_api_enrichment_is_a_payload_error_naming_the_variables():
    with pytest.raises(PayloadError, match="FRESHDESK_DOMAIN and FRESHDESK_API_KEY") as info:
        adapter().normalize(body_of("template_ticket_updated_status.json"), {}, RECEIVED)
    assert "created_at" in info.value.reason and "requester_id" in info.value.reason
    with pytest.raises(PayloadError, match="the conversation; reading it needs the Freshdesk API"):
        adapter().normalize(json.dumps({"ticket_id": "1", "kind": "comment.added", "status": "Open", "priority": "Low",
                                        "tags": "", "requester_id": "5", "created_at": "2026-03-02T09:00:00Z",
                                        "updated_at": "2026-03-02T10:00:00Z"}).encode(), {}, RECEIVED)


def test_a_complete_dated_body_needs_no_api():
    body = {"ticket_id": "9", "kind": "ticket.updated", "status": "Pending", "priority": "Urgent", "tags": "a,b",
            "requester_id": "5", "created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T10:00:00+01:00"}
    [event] = adapter().normalize(json.dumps(body).encode(), {}, RECEIVED)
    assert event.event_id == "fd:9:2026-03-02T09:00:00Z:ticket.updated"
    assert (event.ticket.status, event.ticket.priority, event.ticket.tags) == ("pending", "4", ("a", "b"))


def test_an_undated_body_takes_the_fetched_ticket_and_its_instant():
    api = FakeFreshdesk()
    [event] = adapter(api=api).normalize(body_of("zulip_priority_changed.json"), {}, RECEIVED)
    assert event.ticket.status == "pending"  # fetched status 6, not the rendered "Resolved"
    assert event.occurred_at == datetime(2026, 3, 2, 13, 58, 41, tzinfo=UTC)
    assert api.calls == Counter(get_ticket=1)


def test_deliveries_that_see_the_same_state_give_the_same_event():
    a = adapter(api=FakeFreshdesk())
    [one] = a.normalize(body_of("zulip_priority_changed.json"), {}, RECEIVED)
    [two] = a.normalize(body_of("zulip_status_changed_custom_status.json"), {}, RECEIVED)
    assert one.event_id == two.event_id == "fd:11:2026-03-02T13:58:41Z:ticket.updated"


def test_a_dated_body_wins_over_the_fetched_ticket():
    [event] = adapter(api=FakeFreshdesk()).normalize(body_of("dated_ticket_updated_resolved.json"), {}, RECEIVED)
    assert event.ticket.status == "solved" and event.ticket.tags == ("hardware", "fixed")
    assert event.ticket.requester.id == "6012691600"  # what the body cannot say still comes from the API


def test_ticket_created_keeps_the_labels_rendered_at_creation():
    tickets, conversations = api_data()
    tickets["1"] = {**tickets["1"], "status": 4, "priority": 4}  # resolved and escalated since
    [event] = adapter(api=FakeFreshdesk(tickets, conversations)).normalize(
        body_of("template_ticket_created.json"), {}, RECEIVED)
    assert (event.ticket.status, event.ticket.priority) == ("open", "1")
    assert event.occurred_at == event.ticket.created_at
    assert event.comment is not None and event.comment.author_role == "end_user" and not event.comment.is_agent_reply


def test_a_private_note_event_lists_no_conversations():
    api = FakeFreshdesk()
    [event] = adapter(api=api).normalize(body_of("zulip_private_note_added.json"), {}, RECEIVED)
    assert event.comment is not None and event.comment.author_role == "agent" and not event.comment.public
    assert api.calls == Counter(get_ticket=1)


def comment_body(ticket_id: str = "1", **changes: Any) -> bytes:
    return body_of("template_comment_agent_reply.json", ticket_id=ticket_id, **changes)


CONVERSATION = {"id": 1, "incoming": False, "private": False, "user_id": 9, "source": 0,
                "created_at": "2026-03-02T12:00:00Z"}


@pytest.mark.parametrize(("newest", "role", "public", "reply", "customer"), [
    ({}, "agent", True, True, False),
    ({"private": True}, "agent", False, False, False),
    ({"incoming": True, "user_id": 5}, "end_user", True, False, True),
    ({"incoming": True, "private": True, "user_id": 77}, "end_user", False, False, False),  # a third party
    ({"source": 8}, "agent", False, False, False),  # a forward goes to a third party, not the requester
])
def test_the_newest_conversation_decides(newest, role, public, reply, customer):
    older = {**CONVERSATION, "id": 2, "incoming": True, "created_at": "2026-03-02T11:00:00Z"}
    later = {**CONVERSATION, "id": 3, **newest, "created_at": "2026-03-02T13:00:00Z"}
    tickets, _ = api_data()
    api = FakeFreshdesk(tickets, {"1": [later, older]})  # listed out of order on purpose
    [event] = adapter(api=api).normalize(comment_body(), {}, RECEIVED)
    assert event.comment is not None
    assert (event.comment.author_role, event.comment.public) == (role, public)
    assert (event.comment.is_agent_reply, event.comment.is_customer_message) == (reply, customer)
    assert event.event_id == "fd:1:conversation:3"
    assert event.occurred_at == datetime(2026, 3, 2, 13, tzinfo=UTC)


def test_a_dated_comment_body_takes_the_newest_conversation_by_its_instant():
    tickets, conversations = api_data()
    [event] = adapter(api=FakeFreshdesk(tickets, conversations)).normalize(
        comment_body(updated_at="2016-05-19T05:36:13Z"), {}, RECEIVED)
    assert event.event_id == "fd:1:conversation:1"
    assert event.comment is not None and not event.comment.public


def test_comments_by_the_connectors_own_user_are_automated():
    [event] = adapter(api=FakeFreshdesk(), own_user_ids=["1"]).normalize(comment_body(), {}, RECEIVED)
    assert event.comment is not None and event.comment.automated and not event.comment.is_agent_reply


@pytest.mark.parametrize(("conversations", "message"), [
    ([], "no dated conversation found"),
    ([{**CONVERSATION, "created_at": None}], "no dated conversation found"),
    ([{**CONVERSATION, "created_at": "yesterday"}], "conversation.created_at: expected an ISO 8601 instant"),
    ([{**CONVERSATION, "created_at": "9999-01-01T00:00:00Z"}], "conversation.created_at: the instant is outside"),
    ([{**CONVERSATION, "incoming": None}], "incoming/private must be true or false"),
    ("nope", "no list of conversations"),
    ([1, 2], "no list of conversations"),
])
def test_bad_conversations_are_payload_errors(conversations, message):
    tickets, _ = api_data()
    with pytest.raises(PayloadError, match=message):
        adapter(api=FakeFreshdesk(tickets, {"1": conversations})).normalize(comment_body(), {}, RECEIVED)


@pytest.mark.parametrize(("fetched", "message"), [
    ("nope", "the API returned no ticket object"),
    ({"status": 2, "priority": 1, "created_at": "2026-03-02T09:00:00Z"}, "no ISO 8601 updated_at"),
    ({"status": 42, "updated_at": "2026-03-02T09:00:00Z"}, "42 is a custom Freshdesk status"),
])
def test_bad_fetched_tickets_are_payload_errors(fetched, message):
    with pytest.raises(PayloadError, match=message):
        adapter(api=FakeFreshdesk({"1": fetched}, {})).normalize(
            body_of("template_ticket_updated_status.json"), {}, RECEIVED)


def test_a_wrapped_api_ticket_is_unwrapped():
    tickets, conversations = api_data()
    api = FakeFreshdesk({"1": {"ticket": tickets["1"]}}, conversations)
    [event] = adapter(api=api).normalize(body_of("template_ticket_updated_status.json"), {}, RECEIVED)
    assert event.ticket.requester.id == "6012691534"


def test_an_outbound_email_ticket_is_opened_by_an_agent():
    [event] = adapter(api=FakeFreshdesk()).normalize(body_of("template_ticket_created_outbound.json"), {}, RECEIVED)
    assert event.comment is not None and event.comment.author_role == "agent" and event.comment.public
    assert event.comment.author_id == "6010396333"


def test_a_worker_retry_of_one_delivery_reuses_what_was_fetched():
    tickets, conversations = api_data()

    class Flaky(FakeFreshdesk):
        def list_conversations(self, ticket_id: str) -> Sequence[Mapping[str, Any]]:
            if not self.calls["list_conversations"]:
                self.calls["list_conversations"] += 1
                raise Transient("freshdesk 503", retry_after=30)
            return super().list_conversations(ticket_id)

    api: FreshdeskApi = Flaky(tickets, conversations)
    a = adapter(api=api)
    with pytest.raises(Transient):  # the API's own errors pass through untouched
        a.normalize(comment_body(), {}, RECEIVED)
    [event] = a.normalize(comment_body(), {}, RECEIVED)
    assert event.event_id == "fd:1:conversation:2"
    assert isinstance(api, Flaky) and api.calls == Counter(get_ticket=1, list_conversations=2)


def test_the_cache_is_per_delivery_bounded_and_expires():
    clock = Clock()
    api = FakeFreshdesk()
    a = adapter(api=api, clock=clock, cache_size=2)
    one, two, three = (body_of("template_ticket_updated_status.json", status=s) for s in ("Open", "Pending", "Closed"))
    a.normalize(one, {}, RECEIVED)
    a.normalize(two, {}, RECEIVED)  # another delivery for the same ticket: fetched again (it may be later)
    assert api.calls["get_ticket"] == 2
    a.normalize(one, {}, RECEIVED)
    assert api.calls["get_ticket"] == 2
    a.normalize(three, {}, RECEIVED)  # evicts `two`, the least recently used
    a.normalize(two, {}, RECEIVED)
    assert api.calls["get_ticket"] == 4
    clock.now += CACHE_SECONDS + 1
    a.normalize(two, {}, RECEIVED)
    assert api.calls["get_ticket"] == 5


# --- fuzz: whatever arrives, the only failure is PayloadError --------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
plausible: st.SearchStrategy[Any] = st.sampled_from([
    None, "", "-", "0", "1", 1, 6, "11", "Open", "Resolved", "Waiting on Customer", "Urgent", "Medium", "weird",
    "a, b", "2026-03-02T14:00:00Z", "March 2, 2026", "{{ticket.id}}", "{note_type:private}",
    "{ticket_action:created}", True, [], {}, ["a", 1], -1, 1.5, "ticket.created", "comment.added", "Outbound Email",
    10, "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "1969-12-31T23:59:59Z", "2026-13-45T25:61:00Z",
    "x" * 300, "a\x00b", "line\nbreak", 10 ** 30, "1" * 25])
values = plausible | json_values
BODY_KEYS = ["kind", "ticket_id", "updated_at", "created_at", "status", "priority", "source", "tags", "group_id",
             "requester_id", "company_id", "custom_fields", "subject", "description", "triggered_event",
             "ticket_status", "ticket_priority"]
bodies = st.builds(lambda base, over: {**base, **over},
                   st.sampled_from([load(p.name) for p in fixture_bodies()]),
                   st.dictionaries(st.sampled_from(BODY_KEYS), values, max_size=4))
api_tickets = st.builds(lambda base, over: {**base, **over}, st.sampled_from(list(api_data()[0].values())[1:]),
                        st.dictionaries(st.sampled_from(["status", "priority", "source", "tags", "created_at",
                                                         "updated_at", "requester_id", "custom_fields",
                                                         "description_text", "requester"]), values, max_size=3))
api_conversations = st.lists(st.builds(lambda over: {**CONVERSATION, **over}, st.dictionaries(
    st.sampled_from(["id", "incoming", "private", "user_id", "source", "created_at"]), values, max_size=3)),
    max_size=3)


def only_payload_errors(body: bytes, api: FreshdeskApi | None = None) -> None:
    a = adapter(api=api)
    req = InboundRequest(headers={TOKEN_HEADER: SECRET}, body=body, received_at=RECEIVED)
    try:
        accepted = a.accept(req)
    except PayloadError as err:
        assert err.reason and len(err.reason) <= 400
        with pytest.raises(PayloadError):
            a.normalize(body, req.headers, RECEIVED)
        return
    assert accepted.dedupe_key
    try:
        events = a.normalize(body, req.headers, RECEIVED)
    except PayloadError as err:
        assert err.reason and len(err.reason) <= 400
        return
    assert len(events) <= accepted.events


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(body: bytes):
    only_payload_errors(body)


@FUZZ
@given(st.one_of(bodies, json_values))
def test_fuzz_freshdesk_shaped_json(value: Any):
    only_payload_errors(json.dumps(value).encode())


@FUZZ
@given(bodies, api_tickets, api_conversations)
def test_fuzz_with_odd_api_answers(value: Any, ticket: dict[str, Any], conversations: list[dict[str, Any]]):
    class Any_(FakeFreshdesk):
        def get_ticket(self, ticket_id: str) -> Mapping[str, Any]:
            return ticket

        def list_conversations(self, ticket_id: str) -> Sequence[Mapping[str, Any]]:
            return conversations

    only_payload_errors(json.dumps(value).encode(), Any_({}, {}))
