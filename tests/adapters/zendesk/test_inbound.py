"""Zendesk's inbound adapter: both body shapes, dedupe keys, fixtures, enrichment through a fake API, fuzz."""

from __future__ import annotations

import hashlib
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
from adapters.zendesk import SOURCE, ZendeskAdapter, ZendeskApi
from adapters.zendesk.inbound import INVOCATION_HEADER
from adapters.zendesk.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from connector.errors import AuthError, PayloadError
from connector.events import event_to_dict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / SOURCE
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
STAMP = "2026-03-02T14:00:00Z"
NOW = 1_772_460_000  # 2026-03-02T14:00:00Z
RECEIVED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INVOCATION = "01HANA2B5D5W9XSJS3NE5SQA1J"


class FakeZendesk:
    """An in-memory ZendeskApi that counts its calls."""

    def __init__(self, tickets: dict[str, dict[str, Any]], comments: dict[str, list[dict[str, Any]]] | None = None,
                 roles: dict[str, str] | None = None) -> None:
        self.tickets, self.comments, self.roles = tickets, comments or {}, roles or {}
        self.calls: Counter[str] = Counter()

    def get_ticket(self, ticket_id: str) -> Mapping[str, Any]:
        self.calls["get_ticket"] += 1
        return self.tickets[ticket_id]

    def list_comments(self, ticket_id: str) -> Sequence[Mapping[str, Any]]:
        self.calls["list_comments"] += 1
        return self.comments[ticket_id]

    def get_user_role(self, user_id: str) -> str:
        self.calls["get_user_role"] += 1
        return self.roles[user_id]


def adapter(**kwargs: Any) -> ZendeskAdapter:
    return ZendeskAdapter([SECRET], account="acme", clock=lambda: NOW, **kwargs)


def request(body: Any, *, invocation: str | None = INVOCATION) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {SIGNATURE_HEADER: sign(SECRET, STAMP, raw), TIMESTAMP_HEADER: STAMP, "user-agent": "Zendesk Webhook",
               "x-zendesk-account-id": "18525119", "x-zendesk-webhook-id": "01HAN96XNH1J7DY8D7RZ22QMT9"}
    if invocation:
        headers["x-zendesk-webhook-invocation-id"] = invocation
    return InboundRequest(headers=headers, body=raw, received_at=RECEIVED)


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_it_is_an_inbound_adapter():
    a: InboundAdapter = adapter()
    assert a.source == SOURCE == "zendesk"
    assert SECRET not in repr(adapter())


def test_verify_uses_the_clock_and_the_secrets():
    req = request(load("envelope_ticket_created.json"))
    adapter().verify(req)
    with pytest.raises(AuthError, match="tolerance"):
        ZendeskAdapter([SECRET], account="acme", clock=lambda: NOW + 301).verify(req)
    with pytest.raises(AuthError, match="no valid signature"):
        ZendeskAdapter(["another"], account="acme", clock=lambda: NOW).verify(req)


@pytest.mark.parametrize("kwargs", [{"secrets": []}, {"secrets": [""]}, {"account": " "}, {"tolerance": 0},
                                    {"cache_size": 0}])
def test_bad_construction(kwargs):
    args: dict[str, Any] = {"secrets": [SECRET], "account": "acme", **kwargs}
    with pytest.raises(ValueError):
        ZendeskAdapter(args.pop("secrets"), **args)
    with pytest.raises(TypeError):
        ZendeskAdapter(SECRET, account="acme")


# --- accept --------------------------------------------------------------------------------------


def test_an_envelope_dedupes_on_its_id_and_audits_headers_without_the_signature():
    req = request(load("envelope_comment_added_agent_public.json"))
    accepted = adapter().accept(req)
    assert accepted.dedupe_key == "d4f5c389-8f4a-4c2e-a1b9-8e4f39c71d52" and accepted.events == 1
    assert dict(accepted.audit_headers) == {
        "x-zendesk-webhook-id": "01HAN96XNH1J7DY8D7RZ22QMT9", "x-zendesk-webhook-invocation-id": INVOCATION,
        "x-zendesk-account-id": "18525119", TIMESTAMP_HEADER: STAMP, "user-agent": "Zendesk Webhook"}
    assert req.headers[SIGNATURE_HEADER] not in json.dumps(dict(accepted.audit_headers))


def test_a_non_ticket_envelope_is_accepted_and_gives_no_events():
    body = (FIXTURES / "envelope_user_deleted.json").read_bytes()
    accepted = adapter().accept(request(body))
    assert accepted.dedupe_key == "b3695d61-2ef4-4e9c-97af-1f065c099564" and accepted.events == 0
    assert adapter().normalize(body, {}, RECEIVED) == []


def test_trigger_dedupe_key_invocation_then_event_id_then_hash():
    body = load("trigger_rendered_on_hold.json")
    assert adapter().accept(request(body)).dedupe_key == INVOCATION
    digest = hashlib.sha256(json.dumps(body).encode()).hexdigest()
    assert adapter().accept(request(body, invocation=None)).dedupe_key == f"35436-2026-03-02T14:05:00Z:{digest[:16]}"
    bare = {k: v for k, v in body.items() if k != "event_id"}
    key = adapter().accept(request(bare, invocation=None)).dedupe_key
    assert key.startswith("sha256:") and len(key) == 7 + 64
    [event] = adapter().normalize(json.dumps(bare).encode(), {}, RECEIVED)
    assert event.event_id == key + ":ticket.updated"


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty body"), (b"\xff", "not UTF-8"), (b"[1]", "expected a JSON object, got a list"),
    (b'{"a": 1}', "expected a Zendesk event envelope"),
    (b'{"ticket_id": "{{ticket.id}}"}', r"ticket_id: '\{\{ticket.id\}\}' is not a Zendesk ticket id \(is the "),
    (b'{"ticket_id": "7", "kind": "ticket.deleted"}', "kind: 'ticket.deleted' is not one of"),
    (b'{"type": "zen:event-type:ticket.created"}', "^id: expected an id"),
    (b'{"type": "zen:event-type:ticket.created", "id": "x", "subject": "zen:ticket:abc"}', "subject: 'abc'"),
    (b'{"type": "zen:event-type:ticket.created", "id": "x", "subject": "zen:ticket:1", "time": "Feb 3"}',
     "time: 'Feb 3' is not an ISO 8601"),
    (b'{"type": "zen:event-type:ticket.created", "id": "x", "detail": []}', "detail: expected an object"),
    (b'{"ticket_id": 1e999}', "not finite"), (b"[" * 40 + b"]" * 40, "nested more than"),
])
def test_malformed_bodies_are_payload_errors(body, message):
    with pytest.raises(PayloadError, match=message):
        adapter().accept(request(body))
    with pytest.raises(PayloadError, match=message):
        adapter().normalize(body, {}, RECEIVED)


# --- fixtures ------------------------------------------------------------------------------------


def fixture_bodies() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))


def test_there_are_fixtures():
    assert len(fixture_bodies()) >= 8


@pytest.mark.parametrize("path", fixture_bodies(), ids=lambda p: p.stem)
def test_fixture(path: Path):
    expected = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    req = request(path.read_bytes())
    a = adapter()
    a.verify(req)
    accepted = a.accept(req)
    events = a.normalize(req.body, accepted.audit_headers, req.received_at)
    assert accepted.events == len(events) == len(expected)
    assert [event_to_dict(e) for e in events] == expected
    assert all(e.source == "zendesk" and e.account == "acme" for e in events)


# --- enrichment ----------------------------------------------------------------------------------

REST_TICKET = {"id": 7, "status": "open", "priority": "normal", "via": {"channel": "web"}, "group_id": 360001,
               "assignee_id": 901, "requester_id": 555, "submitter_id": 555, "organization_id": 42,
               "subject": "Hello world", "description": "I am writing this to create a ticket.",
               "tags": ["change_address", "help", "order"], "created_at": "2025-02-03T19:59:00Z",
               "updated_at": "2025-02-03T20:30:00Z",
               "custom_fields": [{"id": 360011112222, "value": "enterprise"}]}
COMMENTS = [
    {"id": 1, "author_id": 555, "public": True, "created_at": "2025-02-03T19:59:00Z", "via": {"channel": "web"}},
    {"id": 2, "author_id": 901, "public": False, "created_at": "2025-02-03T20:10:00Z", "via": {"channel": "web"}},
    {"id": 3, "author_id": 1, "public": True, "created_at": "2025-02-03T20:15:00Z",
     "via": {"channel": "rule", "source": {"rel": "trigger"}}},
    {"id": 4, "author_id": 901, "public": True, "created_at": "2025-02-03T20:30:00Z",
     "metadata": {"system": {"client": "Mozilla/5.0", "ip_address": "1.1.1.1"}, "via": {"channel": "web"}}},
]
ROLES = {"555": "end-user", "901": "agent", "1": "admin"}


def fake() -> FakeZendesk:
    return FakeZendesk({"7": dict(REST_TICKET)}, {"7": [dict(c) for c in COMMENTS]}, dict(ROLES))


def zulip_body() -> bytes:
    """The rendered body of a hand-written trigger: display labels, human dates, no ISO time at all."""
    sample = {"ticket_id": "7", "ticket_title": "Hello world", "ticket_status": "Open", "ticket_priority": "Normal",
              "created_at": "February 3, 2025", "updated_at": "February 3, 2025",
              "tags": "change_address help order"}
    return json.dumps(sample).encode()


def test_a_human_date_is_never_used_it_is_enriched():
    api = fake()
    [event] = adapter(api=api, field_names={"360011112222": "tier"}).normalize(zulip_body(), {}, RECEIVED)
    assert event.occurred_at == datetime(2025, 2, 3, 20, 30, tzinfo=UTC)  # the REST updated_at
    assert event.ticket.created_at == datetime(2025, 2, 3, 19, 59, tzinfo=UTC)
    assert event.ticket.requester.tier == "enterprise" and event.ticket.requester.org == "42"
    assert event.ticket.subject == "Hello world" and api.calls == Counter(get_ticket=1)


def test_enrichment_without_an_api_is_a_payload_error_naming_the_variables():
    with pytest.raises(PayloadError, match="ZENDESK_SUBDOMAIN, ZENDESK_EMAIL, ZENDESK_API_TOKEN") as info:
        adapter().normalize(zulip_body(), {}, RECEIVED)
    assert "created_at" in info.value.reason and "requester_id" in info.value.reason
    partial = load("envelope_status_changed_pending.json")
    del partial["detail"]["priority"]
    with pytest.raises(PayloadError, match="lacks priority; reading it needs the Zendesk API"):
        adapter().normalize(json.dumps(partial).encode(), {}, RECEIVED)
    comment = load("envelope_comment_added_agent_public.json")
    del comment["event"]["comment"]["author"]["is_staff"]
    with pytest.raises(PayloadError, match="public agent reply needs the Zendesk API"):
        adapter().normalize(json.dumps(comment).encode(), {}, RECEIVED)


def test_an_envelope_keeps_what_it_says_over_a_later_fetch():
    partial = load("envelope_status_changed_pending.json")
    del partial["detail"]["tags"]
    api = FakeZendesk({"5158": {**REST_TICKET, "id": 5158, "status": "solved", "tags": ["later"]}})
    [event] = adapter(api=api).normalize(json.dumps(partial).encode(), {}, RECEIVED)
    assert event.ticket.status == "pending" and event.ticket.tags == ("later",)


def comment_event_id(body: bytes, comment_id: str) -> str:
    """The event id of a trigger comment delivered without an invocation header: event_id, body hash, comment."""
    own = json.loads(body)["event_id"]
    return f"{own}:{hashlib.sha256(body).hexdigest()[:16]}:comment:{comment_id}"


def trigger_comment(comment_id: str | None = None, updated_at: str = "2025-02-03T20:30:00Z") -> bytes:
    body = {"kind": "comment.added", "event_id": f"7-{updated_at}", "ticket_id": "7", "updated_at": updated_at,
            "created_at": "2025-02-03T19:59:00Z", "status": "open", "priority": "normal", "requester_id": "555",
            "tags": "help", "subject": "Hello world", "description": "x"}
    if comment_id is not None:
        body["comment_id"] = comment_id
    return json.dumps(body).encode()


def test_a_trigger_comment_is_read_from_the_api_and_its_author_role_cached():
    api = fake()
    a = adapter(api=api)
    [reply] = a.normalize(trigger_comment(), {}, RECEIVED)  # the latest comment by updated_at: id 4
    assert reply.type == "comment.added" and reply.event_id == comment_event_id(trigger_comment(), "4")
    assert reply.comment is not None and reply.comment.is_agent_reply  # metadata.system alone is not automation
    assert reply.occurred_at == datetime(2025, 2, 3, 20, 30, tzinfo=UTC)
    [again] = a.normalize(trigger_comment(), {}, RECEIVED)  # a redelivery: nothing fetched again
    assert again == reply and api.calls == Counter(list_comments=1, get_user_role=1)
    [note] = a.normalize(trigger_comment("2"), {}, RECEIVED)
    assert note.comment is not None and not note.comment.public and note.comment.author_role == "agent"
    assert api.calls == Counter(list_comments=1, get_user_role=1)  # same ticket stamp, same author: cache hits
    [rule] = a.normalize(trigger_comment("3"), {}, RECEIVED)
    assert rule.comment is not None and rule.comment.automated and not rule.comment.is_agent_reply


def test_a_newer_event_for_the_ticket_invalidates_its_cache():
    api = fake()
    a = adapter(api=api)
    a.normalize(trigger_comment("4"), {}, RECEIVED)
    a.normalize(trigger_comment("4", updated_at="2025-02-03T20:31:00Z"), {}, RECEIVED)
    assert api.calls["list_comments"] == 2 and api.calls["get_user_role"] == 1  # roles are per user


def test_the_cache_is_bounded():
    api = FakeZendesk({str(i): {**REST_TICKET, "id": i} for i in range(1, 4)})
    a = adapter(api=api, cache_size=2)
    bodies = [zulip_body().replace(b'"7"', f'"{i}"'.encode()) for i in (1, 2, 3, 1)]
    for body in bodies:
        a.normalize(body, {}, RECEIVED)
    assert api.calls["get_ticket"] == 4  # ticket 1 was evicted by 3; undatable bodies never reuse anyway


def test_envelope_events_of_one_action_share_one_fetch():
    api = FakeZendesk({"5158": dict(REST_TICKET, id=5158)})
    a = adapter(api=api, field_names={"360011112222": "tier"})
    for name in ("envelope_status_changed_pending.json", "envelope_priority_changed.json"):
        body = load(name)
        body["detail"]["updated_at"] = "2025-01-08T15:30:00Z"
        [event] = a.normalize(json.dumps(body).encode(), {}, RECEIVED)
        assert event.ticket.requester.tier == "enterprise"
    assert api.calls == Counter(get_ticket=1)


def test_the_creating_comment_never_becomes_a_comment_added_event():
    created = load("envelope_comment_added_agent_public.json")
    created["detail"]["updated_at"] = created["detail"]["created_at"]
    assert adapter().normalize(json.dumps(created).encode(), {}, RECEIVED) == []
    assert adapter(api=fake()).normalize(trigger_comment("1"), {}, RECEIVED) == []


def test_an_agent_created_ticket_puts_its_comment_on_ticket_created():
    body = load("envelope_ticket_created.json")
    body["detail"]["submitter_id"] = "901"
    [event] = adapter(api=fake()).normalize(json.dumps(body).encode(), {}, RECEIVED)
    assert event.type == "ticket.created" and event.comment is not None and event.comment.author_role == "agent"


def test_comments_by_the_connectors_own_user_are_automated():
    [event] = adapter(own_user_ids=["8447388090495"]).normalize(
        (FIXTURES / "envelope_comment_added_agent_public.json").read_bytes(), {}, RECEIVED)
    assert event.comment is not None and event.comment.automated and not event.comment.is_agent_reply


def test_api_errors_pass_through():
    from connector.errors import Transient

    class Down(FakeZendesk):
        def get_ticket(self, ticket_id: str) -> Mapping[str, Any]:
            raise Transient("zendesk 503", retry_after=30)

    api: ZendeskApi = Down({})
    with pytest.raises(Transient):
        adapter(api=api).normalize(zulip_body(), {}, RECEIVED)


# --- issue 11 item 2: bad instants and identifiers are refused at the door, naming the key ----------------

OUT_OF_RANGE = ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
                "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z"]
UNPARSABLE = ["2025-02-30T10:00:00Z", "2025-01-08T25:00:00Z", "2025-01-08T10:00:00", "2025-01-08"]


def envelope_with(path: str, value: Any) -> dict[str, Any]:
    body = load("envelope_status_changed_pending.json")
    node = body
    *parents, last = path.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    return body


def refused(body: Any, key: str, *, invocation: str | None = INVOCATION) -> str:
    """Assert both accept and normalize refuse the body with a PayloadError naming `key`; return the reason."""
    req = request(body, invocation=invocation)
    with pytest.raises(PayloadError) as at_the_door:
        adapter().accept(req)
    with pytest.raises(PayloadError) as in_the_worker:
        adapter().normalize(req.body, req.headers, RECEIVED)
    assert at_the_door.value.reason.startswith(f"{key}: "), at_the_door.value.reason
    assert in_the_worker.value.reason == at_the_door.value.reason
    assert len(at_the_door.value.reason) <= 300
    return at_the_door.value.reason


@pytest.mark.parametrize("value", OUT_OF_RANGE + UNPARSABLE)
@pytest.mark.parametrize("path", ["time", "detail.updated_at", "detail.created_at"])
def test_an_envelope_instant_out_of_range_or_unparsable_is_refused_naming_it(path: str, value: str):
    reason = refused(envelope_with(path, value), path)
    if value in OUT_OF_RANGE:
        assert "outside 1970-01-01T00:00:00Z to 2099-12-31T23:59:59Z" in reason


@pytest.mark.parametrize("value", OUT_OF_RANGE + UNPARSABLE)
@pytest.mark.parametrize("key", ["updated_at", "created_at"])
def test_a_trigger_instant_out_of_range_or_unparsable_is_refused_naming_it(key: str, value: str):
    body = {**load("trigger_rendered_on_hold.json"), key: value}
    refused(body, key)


def test_a_human_date_in_a_trigger_body_is_no_instant_and_is_not_refused():
    body = {**load("trigger_rendered_on_hold.json"), "created_at": "February 3, 2025"}
    assert adapter().accept(request(body)).events == 1


LONG = "9" * 256


@pytest.mark.parametrize(("path", "value", "key"), [
    ("id", "e" * 256, "id"), ("id", "abc\x00def", "id"), ("id", "abc\ndef", "id"), ("id", "", "id"),
    ("account_id", "1" * 256, "account_id"), ("account_id", "22129848\x00", "account_id"),
    ("detail.requester_id", LONG, "detail.requester_id"), ("detail.group_id", "42\x00", "detail.group_id"),
    ("detail.assignee_id", LONG, "detail.assignee_id"), ("detail.organization_id", "7\r8", "detail.organization_id"),
    ("detail.submitter_id", LONG, "detail.submitter_id"),
    ("subject", "zen:ticket:" + "1" * 21, "subject"), ("subject", "zen:ticket:12\x00", "subject"),
])
def test_an_envelope_identifier_too_long_or_unprintable_is_refused_naming_it(path: str, value: str, key: str):
    refused(envelope_with(path, value), key)


def test_a_comment_envelope_with_a_bad_comment_or_author_id_is_refused():
    for path, key in (("event.comment.id", "event.comment.id"), ("event.comment.author.id", "event.comment.author.id")):
        body = load("envelope_comment_added_agent_public.json")
        node = body
        *parents, last = path.split(".")
        for name in parents:
            node = node[name]
        node[last] = LONG
        refused(body, key)


@pytest.mark.parametrize(("over", "key"), [
    ({"event_id": "e" * 191}, "event_id"), ({"event_id": "35436\x00"}, "event_id"), ({"event_id": ["x"]}, "event_id"),
    ({"ticket_id": "1" * 21}, "ticket_id"), ({"ticket_id": "12\x00"}, "ticket_id"),
    ({"requester_id": LONG}, "requester_id"), ({"group_id": "1\n2"}, "group_id"),
    ({"comment_id": "1" * 25}, "comment_id"), ({"comment_id": "7\x00"}, "comment_id"),
])
def test_a_trigger_identifier_too_long_or_unprintable_is_refused_naming_it(over: dict[str, Any], key: str):
    refused({**load("trigger_rendered_on_hold.json"), **over}, key)


@pytest.mark.parametrize("invocation", ["i" * 191, "01HANA2B5D5W9XSJS3NE5SQA1J\x00", "01HANA\n2B5D"])
def test_a_bad_invocation_header_is_refused_naming_it(invocation: str):
    refused(load("trigger_rendered_on_hold.json"), INVOCATION_HEADER, invocation=invocation)


def test_the_longest_accepted_ids_still_make_valid_event_ids():
    body = {**load("trigger_rendered_on_hold.json"), "kind": "comment.added", "event_id": "e" * 190,
            "comment_id": "9" * 24}
    api = FakeZendesk({"35436": dict(REST_TICKET, id=35436)},
                      {"35436": [dict(COMMENTS[0]), {**COMMENTS[3], "id": int("9" * 24)}]}, dict(ROLES))
    for invocation in ("i" * 190, None):
        req = request(body, invocation=invocation)
        adapter(api=api).accept(req)
        [event] = adapter(api=api).normalize(req.body, req.headers, RECEIVED)
        assert event.event_id.endswith(":comment:" + "9" * 24) and len(event.event_id) <= 255


class Hostile(FakeZendesk):
    """An API that answers values no canonical event can hold."""

    def __init__(self, **over: Any) -> None:
        super().__init__({"7": {**REST_TICKET, **over}}, {"7": [dict(c) for c in COMMENTS]}, dict(ROLES))


@pytest.mark.parametrize(("over", "key"), [
    ({"created_at": "0001-01-01T00:00:00+14:00"}, "created_at"), ({"created_at": "9999-12-31T23:59:59Z"}, "created_at"),
    ({"updated_at": "0001-01-01T00:00:00Z"}, "ticket.updated_at"), ({"group_id": LONG}, "group_id"),
    ({"requester_id": "5\x005"}, "requester_id"), ({"via": {"channel": ["x"]}}, "via.channel"),
    ({"custom_fields": [{"id": 360011112222, "value": "t" * 300}]}, "tier"),
])
def test_values_the_api_answers_become_payload_errors_in_normalize(over: dict[str, Any], key: str):
    """Never a ValueError or OverflowError: the worker keeps the delivery as failed with a reason."""
    with pytest.raises(PayloadError, match=f"^(ticket 7: )?{key}: "):
        adapter(api=Hostile(**over), field_names={"360011112222": "tier"}).normalize(zulip_body(), {}, RECEIVED)


def test_comments_the_api_answers_with_bad_values_become_payload_errors():
    for comment, key in (({**COMMENTS[3], "created_at": "9999-12-31T23:59:59Z"}, "comment.created_at"),
                         ({**COMMENTS[3], "author_id": LONG}, "comment.author_id")):
        api = FakeZendesk({"7": dict(REST_TICKET)}, {"7": [dict(COMMENTS[0]), comment]}, dict(ROLES))
        with pytest.raises(PayloadError, match=f"^{key}: "):
            adapter(api=api).normalize(trigger_comment("4"), {}, RECEIVED)


# --- issue 11 item 8: trigger timestamps are to the minute; one event per delivery ------------------------


def minute_body(**over: Any) -> dict[str, Any]:
    return {**load("trigger_minute_precision.json"), **over}


def test_a_minute_precision_trigger_needs_no_api_and_keeps_the_minute():
    [event] = adapter().normalize(json.dumps(minute_body()).encode(), {INVOCATION_HEADER: INVOCATION}, RECEIVED)
    assert event.occurred_at == datetime(2013, 12, 12, 5, 35, tzinfo=UTC)
    assert event.ticket.created_at == datetime(2013, 12, 12, 5, 21, tzinfo=UTC)


def test_two_updates_in_the_same_minute_are_two_events():
    """The recommended event_id is the same for both; the invocation id (or, without it, the body) tells them apart."""
    first = json.dumps(minute_body(status="Open")).encode()
    second = json.dumps(minute_body(status="Pending")).encode()
    a = adapter()
    pairs = ((first, "01HQ0000000000000000000001"), (second, "01HQ0000000000000000000002"))
    with_header = [a.normalize(body, {INVOCATION_HEADER: invocation}, RECEIVED)[0] for body, invocation in pairs]
    assert len({e.event_id for e in with_header}) == 2
    keys = {a.accept(request(json.loads(body), invocation=None)).dedupe_key for body in (first, second)}
    without = {a.normalize(body, {}, RECEIVED)[0].event_id for body in (first, second)}
    assert len(keys) == 2 and len(without) == 2
    # a retry of one delivery keeps its key and its event id
    assert a.normalize(first, {}, RECEIVED)[0].event_id in without


def test_a_minute_is_refined_by_the_fetched_updated_at_in_that_minute():
    ticket = {**REST_TICKET, "id": 35437, "updated_at": "2013-12-12T05:35:41Z"}
    api = FakeZendesk({"35437": ticket})
    [event] = adapter(api=api).normalize(json.dumps(minute_body()).encode(), {}, RECEIVED)
    assert event.occurred_at == datetime(2013, 12, 12, 5, 35, 41, tzinfo=UTC)
    assert api.calls == Counter(get_ticket=1)
    assert event.ticket.created_at == datetime(2013, 12, 12, 5, 21, tzinfo=UTC)  # REST_TICKET's is another day
    created = FakeZendesk({"35437": {**ticket, "created_at": "2013-12-12T05:21:37Z"}})
    [event] = adapter(api=created).normalize(json.dumps(minute_body()).encode(), {}, RECEIVED)
    assert event.ticket.created_at == datetime(2013, 12, 12, 5, 21, 37, tzinfo=UTC)
    later = FakeZendesk({"35437": {**ticket, "updated_at": "2013-12-12T05:36:02Z"}})  # changed again since
    [event] = adapter(api=later).normalize(json.dumps(minute_body()).encode(), {}, RECEIVED)
    assert event.occurred_at == datetime(2013, 12, 12, 5, 35, tzinfo=UTC)


def test_a_minute_precision_comment_is_found_within_its_minute_and_never_served_stale():
    comments = [dict(COMMENTS[0]),
                {**COMMENTS[3], "id": 41, "created_at": "2025-02-03T20:30:12Z"},
                {**COMMENTS[1], "id": 42, "created_at": "2025-02-03T20:30:48Z"}]
    api = FakeZendesk({"7": dict(REST_TICKET)}, {"7": comments}, dict(ROLES))
    a = adapter(api=api)
    body = {"kind": "comment.added", "event_id": "7-2025-02-03T20:30Z", "ticket_id": "7",
            "updated_at": "2025-02-03T20:30Z", "created_at": "2025-02-03T19:59Z", "status": "open",
            "priority": "normal", "requester_id": "555", "tags": "help"}
    [latest] = a.normalize(json.dumps(body).encode(), {INVOCATION_HEADER: "01HQ1"}, RECEIVED)
    assert latest.event_id == "01HQ1:comment:42" and latest.occurred_at == datetime(2025, 2, 3, 20, 30, 48, tzinfo=UTC)
    [first] = a.normalize(json.dumps({**body, "comment_id": "41"}).encode(), {INVOCATION_HEADER: "01HQ2"}, RECEIVED)
    assert first.event_id == "01HQ2:comment:41" and first.comment is not None and first.comment.is_agent_reply
    assert api.calls["list_comments"] == 2  # a minute cannot tell two updates apart: no cache reuse


# --- issue 11 item 9: deleted, restored and scrubbed tickets; every via channel ----------------------------


def test_deletion_envelopes_say_deleted_whatever_the_detail_says():
    for name in ("soft_deleted", "permanently_deleted", "marked_as_spam"):
        body = load("envelope_status_changed_pending.json")
        body["type"] = f"zen:event-type:ticket.{name}"
        body["event"] = {}
        [event] = adapter().normalize(json.dumps(body).encode(), {}, RECEIVED)  # detail still says PENDING
        assert (event.type, event.ticket.status) == ("ticket.updated", "deleted"), name


def test_a_restore_whose_detail_still_says_deleted_reads_the_status_from_the_api():
    body = load("envelope_undeleted.json")
    body["detail"]["status"] = "DELETED"
    with pytest.raises(PayloadError, match="lacks status; reading it needs the Zendesk API"):
        adapter().normalize(json.dumps(body).encode(), {}, RECEIVED)
    api = FakeZendesk({"5158": {**REST_TICKET, "id": 5158, "status": "pending"}})
    [event] = adapter(api=api).normalize(json.dumps(body).encode(), {}, RECEIVED)
    assert event.ticket.status == "pending"


def test_unknown_ticket_event_types_still_give_no_events():
    body = load("envelope_status_changed_pending.json")
    body["type"] = "zen:event-type:ticket.csat_received"
    req = request(body)
    assert adapter().accept(req).events == 0 and adapter().normalize(req.body, req.headers, RECEIVED) == []


# --- fuzz: whatever arrives, the only failure is PayloadError --------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
plausible = st.sampled_from([None, "", "-", "0", "7", 7, "OPEN", "On-hold", "HOLD", "weird", "HIGH", "x y",
                             "2025-01-08T16:45:20.987654321Z", "February 3, 2025", "{{ticket.id}}", True, [],
                             {}, ["a", 1], {"channel": 5}, {"id": 1}, "zen:ticket:7", -1, 1.5])
values = plausible | json_values
envelopes = st.builds(
    lambda base, detail, event, over: {**base, "detail": {**base["detail"], **detail}, "event": event, **over},
    st.sampled_from([load(p.name) for p in fixture_bodies() if p.name.startswith("envelope_")]),
    st.dictionaries(st.sampled_from(["status", "priority", "tags", "via", "created_at", "updated_at", "group_id",
                                     "requester_id", "organization_id", "subject", "is_public", "submitter_id",
                                     "id"]), values, max_size=4),
    st.one_of(json_values, st.fixed_dictionaries({"comment": st.dictionaries(
        st.sampled_from(["id", "is_public", "author"]), values | st.fixed_dictionaries(
            {"id": values, "is_staff": values}), max_size=3)})),
    st.dictionaries(st.sampled_from(["type", "id", "time", "subject"]), values, max_size=2),
)
triggers = st.builds(
    lambda base, over: {**base, **over},
    st.just(load("trigger_rendered_on_hold.json")),
    st.dictionaries(st.sampled_from(["kind", "event_id", "ticket_id", "updated_at", "created_at", "status",
                                     "priority", "via", "tags", "requester_id", "comment_id"]),
                    values | st.sampled_from(["ticket.created", "comment.added"]), max_size=4),
)


def only_payload_errors(body: bytes) -> None:
    a = adapter()
    req = InboundRequest(headers={"x-zendesk-webhook-invocation-id": "inv"}, body=body, received_at=RECEIVED)
    try:
        accepted = a.accept(req)
    except PayloadError as err:
        assert err.reason
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
@given(st.one_of(envelopes, triggers, json_values))
def test_fuzz_zendesk_shaped_json(value: Any):
    only_payload_errors(json.dumps(value).encode())
