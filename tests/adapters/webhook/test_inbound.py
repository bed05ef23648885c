"""The generic webhook's inbound adapter: body shapes, source rules, clear errors, fixtures, fuzz."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import Accepted, InboundAdapter, InboundRequest, ahead
from adapters.jsonbody import MAX_DEPTH
from adapters.webhook import SOURCE, WebhookAdapter, sign
from adapters.webhook.inbound import MAX_EVENTS
from connector.errors import AuthError, PayloadError
from connector.events import event_to_dict

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / SOURCE
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
NOW = 1_772_460_000  # 2026-03-02T14:00:00Z
RECEIVED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FIXTURES_RECEIVED = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # after the fixtures' latest event
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

EVENT: dict[str, Any] = {
    "schema": 1, "account": "acme", "ticket_id": "7", "event_id": "e-1", "occurred_at": "2026-03-02T14:05:00Z",
    "type": "ticket.created", "ticket": {"status": "new", "priority": "high", "subject": "Down"},
}


def adapter(**kwargs: Any) -> WebhookAdapter:
    return WebhookAdapter([SECRET, OLD_SECRET], clock=lambda: NOW, **kwargs)


def request(body: Any, *, msg_id: str = "msg_1", ts: int = NOW, secret: str = SECRET,
            extra: dict[str, str] | None = None) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts),
               "webhook-signature": sign(secret, msg_id, ts, raw), **(extra or {})}
    return InboundRequest(headers=headers, body=raw, received_at=RECEIVED)


def event(**changes: Any) -> dict[str, Any]:
    return {**EVENT, **changes}


def test_it_is_an_inbound_adapter():
    a: InboundAdapter = adapter()
    assert a.source == SOURCE == "webhook"


# --- verify --------------------------------------------------------------------------------------


def test_verify_accepts_either_secret_and_uses_the_clock():
    adapter().verify(request(EVENT))
    adapter().verify(request(EVENT, secret=OLD_SECRET))
    with pytest.raises(AuthError, match="tolerance"):
        adapter().verify(request(EVENT, ts=NOW - 301))
    with pytest.raises(AuthError, match="tolerance"):
        WebhookAdapter([SECRET], clock=lambda: NOW + 301).verify(request(EVENT))
    WebhookAdapter([SECRET], clock=lambda: NOW + 301, tolerance=600).verify(request(EVENT))


def test_verify_refuses_a_request_signed_with_another_secret():
    other = "whsec_" + base64.b64encode(b"z" * 32).decode()
    with pytest.raises(AuthError, match="no valid signature"):
        adapter().verify(request(EVENT, secret=other))


@pytest.mark.parametrize("secrets", [[], ["not-a-secret"], [SECRET, "whsec_c2hvcnQ="]])
def test_a_bad_secret_list_is_a_value_error_at_construction(secrets):
    with pytest.raises(ValueError) as info:
        WebhookAdapter(secrets)
    assert "c2hvcnQ" not in str(info.value) and "not-a-secret" not in str(info.value)


def test_a_single_string_is_not_a_list_of_secrets():
    with pytest.raises(TypeError):
        WebhookAdapter(SECRET)


def test_repr_shows_no_secret():
    assert SECRET not in repr(adapter()) and SECRET.removeprefix("whsec_") not in repr(adapter())


# --- accept: shapes ------------------------------------------------------------------------------


def test_a_single_event_object():
    accepted = adapter().accept(request(EVENT, msg_id="msg_single"))
    assert accepted == Accepted(dedupe_key="msg_single", audit_headers=accepted.audit_headers, events=1,
                                ticket="webhook/acme/7")


def test_a_list_of_events():
    body = [event(event_id=f"e-{i}") for i in range(3)]
    assert adapter().accept(request(body)).events == 3
    assert [e.event_id for e in adapter().normalize(json.dumps(body).encode(), {}, RECEIVED)] == ["e-0", "e-1", "e-2"]
    assert adapter().accept(request(body)).ticket == "webhook/acme/7"  # one ticket: workers claim it in order
    several = [event(event_id="s-1"), event(event_id="s-2", ticket_id="8")]
    assert adapter().accept(request(several)).ticket is None  # several tickets: no single one to order by


def test_an_events_envelope():
    body = {"events": [event(event_id="a"), event(event_id="b", type="ticket.updated")], "sent_by": "zapier"}
    assert adapter().accept(request(body)).events == 2


def test_the_limits_on_the_number_of_events():
    assert adapter().accept(request([event(event_id=str(i)) for i in range(MAX_EVENTS)])).events == MAX_EVENTS
    with pytest.raises(PayloadError, match=r"too many events: 1001 \(at most 1000"):
        adapter().accept(request([event(event_id=str(i)) for i in range(MAX_EVENTS + 1)]))
    for empty in ([], {"events": []}):
        with pytest.raises(PayloadError, match="no events"):
            adapter().accept(request(empty))


@pytest.mark.parametrize(("body", "message"), [
    (b"", "empty body"),
    (b"  \n", "empty body"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"\xef\xbb\xbf{}", "not valid JSON"),
    (b'{"a": 1', "not valid JSON"),
    (b'"just a string"', "got a string"),
    (b"42", "got a number"),
    (b"null", "got null"),
    (b"true", "got true or false"),
    (b'{"events": {"a": 1}}', "events: expected a list of event objects, got an object"),
    (b'{"events": "x"}', "events: expected a list"),
    (b"[1, 2]", r"events\[0\]: expected a JSON object, got int"),
    (b'{"ticket_id": NaN}', "not finite"),
    (b'{"ticket_id": Infinity}', "not finite"),
    (b'{"ticket_id": 1e999}', "not finite"),
    (b'{"ticket_id": ' + b"9" * 5000 + b"}", "longer than 100 characters"),
    (b'{"ticket_id": ' + b"9" * 101 + b"}", "longer than 100 characters"),
    (b"[" * 100_000 + b"]" * 100_000, "nested more than"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested more than 32 levels"),
    (b'{"event_id": "\\ud800"}', "unpaired UTF-16 surrogate"),
    (b'{"\\udfff": 1}', "unpaired UTF-16 surrogate"),
    (b'{"a": [{"b": ["x", "y\\uDC00"]}]}', "unpaired UTF-16 surrogate"),  # deep, upper case
    (b'[{"x": {"\\uDbFf": null}}]', "unpaired UTF-16 surrogate"),
    (b'"\\ud800"', "unpaired UTF-16 surrogate"),  # the document is the string
])
def test_malformed_bodies_are_payload_errors(body, message):
    with pytest.raises(PayloadError, match=message):
        adapter().accept(request(body))
    with pytest.raises(PayloadError, match=message):
        adapter().normalize(body, {}, RECEIVED)


def test_a_surrogate_pair_is_a_character_not_an_error():
    body = json.dumps(event(ticket={"subject": "\U0001F525 fire"})).encode()  # ascii-escaped as a pair
    assert b"\\ud83d\\udd25" in body
    assert adapter().normalize(body, {}, RECEIVED)[0].ticket.subject == "\U0001F525 fire"


def test_an_escaped_backslash_before_u_d800_is_text_not_a_surrogate():
    # the strings are searched for a surrogate only when the text has an escape that could make one; this
    # text looks like one but is a backslash and "ud800"
    body = json.dumps(event(ticket={"subject": "C:\\ud800 and \U0001F525"})).encode()
    assert b"\\\\ud800" in body
    assert adapter().normalize(body, {}, RECEIVED)[0].ticket.subject == "C:\\ud800 and \U0001F525"


def test_nesting_up_to_the_limit_is_fine():
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH - 3):  # body → event → ticket → fields → …
        deep = {"x": deep}
    assert adapter().accept(request(event(ticket={"fields": {"deep": deep}}))).events == 1


# --- accept: source ------------------------------------------------------------------------------


def test_a_missing_or_null_source_becomes_webhook():
    for body in (EVENT, event(source=None), event(source=SOURCE)):
        [parsed] = adapter().normalize(json.dumps(body).encode(), {}, RECEIVED)
        assert parsed.source == "webhook"


@pytest.mark.parametrize("source", ["zendesk", "freshdesk", "", "Webhook", 5, ["webhook"]])
def test_another_source_is_refused(source):
    with pytest.raises(PayloadError, match="^source: must be 'webhook' on this endpoint$"):
        adapter().accept(request(event(source=source)))
    with pytest.raises(PayloadError, match=r"^events\[1\]\.source: must be 'webhook' on this endpoint$"):
        adapter().accept(request([EVENT, event(source=source)]))


# --- accept: errors name the event and the key ---------------------------------------------------


@pytest.mark.parametrize(("bad", "message"), [
    ({"occurred_at": "2026-03-02T14:05:00"}, r"events\[2\]\.occurred_at: '2026-03-02T14:05:00' is a naive timestamp"),
    ({"occurred_at": "yesterday"}, r"events\[2\]\.occurred_at: 'yesterday' is not an ISO 8601 timestamp"),
    ({"event_id": None}, r"events\[2\]\.event_id: required"),
    ({"type": "ticket.deleted"}, r"events\[2\]\.type: 'ticket.deleted' is not one of"),
    ({"ticket": {"status": "waiting"}}, r"events\[2\]\.ticket\.status: 'waiting' is not one of"),
    ({"ticket": {"tags": "vip"}}, r"events\[2\]\.ticket\.tags: expected a list of strings"),
    ({"ticket": []}, r"events\[2\]\.ticket: expected an object, got list"),
    ({"type": "comment.added"}, r"events\[2\]\.comment: a comment.added event needs a comment"),
    ({"comment": {"author_role": "agent", "public": "yes"}}, r"events\[2\]\.comment\.public: expected true or"),
    ({"schema": 2}, r"events\[2\]\.schema: unsupported schema version 2"),
])
def test_errors_name_the_event_index_and_key(bad, message):
    body = [EVENT, event(event_id="e-2"), event(**{"event_id": "e-3", **bad})]
    with pytest.raises(PayloadError, match=message):
        adapter().accept(request(body))
    with pytest.raises(PayloadError, match=message):
        adapter().accept(request({"events": body}))


def test_a_single_object_error_names_the_key_only():
    with pytest.raises(PayloadError, match=r"^occurred_at: '2026-03-02T14:05:00' is a naive timestamp"):
        adapter().accept(request(event(occurred_at="2026-03-02T14:05:00")))


def test_a_huge_bad_value_is_not_echoed_in_full():
    with pytest.raises(PayloadError) as info:
        adapter().accept(request(event(occurred_at="x" * 100_000)))
    assert len(info.value.reason) <= 300 and "x" * 41 not in info.value.reason and "…" in info.value.reason


# --- accept: dedupe key and audit headers --------------------------------------------------------


def test_dedupe_key_is_the_webhook_id_and_audit_headers_never_hold_the_signature():
    req = request(EVENT, msg_id="msg_2zA", extra={"user-agent": "Svix-Webhooks/1.24", "content-type":
                                                  "application/json", "x-forwarded-for": "10.0.0.1"})
    accepted = adapter().accept(req)
    assert accepted.dedupe_key == "msg_2zA"
    assert dict(accepted.audit_headers) == {"webhook-id": "msg_2zA", "webhook-timestamp": str(NOW),
                                            "user-agent": "Svix-Webhooks/1.24", "content-type": "application/json"}
    assert req.headers["webhook-signature"] not in json.dumps(dict(accepted.audit_headers))


def test_audit_headers_leave_out_what_is_absent_and_cap_long_values():
    req = request(EVENT, extra={"user-agent": "u" * 5000})
    audit = adapter().accept(req).audit_headers
    assert set(audit) == {"webhook-id", "webhook-timestamp", "user-agent"} and len(audit["user-agent"]) == 256


@pytest.mark.parametrize(("occurred_at", "refused"), [
    ("2026-03-02T14:05:00Z", False), ("2026-03-02T14:05:01Z", True), ("2099-12-31T23:59:59Z", True),
    ("1970-01-01T00:00:00Z", False)])
def test_accept_refuses_an_event_dated_more_than_five_minutes_after_the_request(occurred_at: str, refused: bool):
    """A sender whose clock is wrong hears it at once (400), instead of its delivery failing in the worker."""
    req = request({"events": [event(event_id="e-0"), event(event_id="e-1", occurred_at=occurred_at)]})
    if not refused:
        assert adapter().accept(req).events == 2
        return
    with pytest.raises(PayloadError, match=r"^event e-1 of ticket 7 says it happened at .* after it was received "
                                           r"\(2026-03-02T14:00:00Z\); at most 5m ahead is accepted"):
        adapter().accept(req)


def test_accept_without_a_webhook_id_is_a_payload_error():
    req = InboundRequest(headers={}, body=json.dumps(EVENT).encode(), received_at=RECEIVED)
    with pytest.raises(PayloadError, match="missing webhook-id header"):
        adapter().accept(req)


# --- fixtures: every recorded body parses to the expected canonical events ------------------------


def fixture_bodies() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))


def test_there_are_fixtures():
    assert len(fixture_bodies()) >= 3


@pytest.mark.parametrize("path", fixture_bodies(), ids=lambda p: p.stem)
def test_fixture(path: Path):
    expected = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    req = replace(request(path.read_bytes(), msg_id=f"msg_{path.stem}"), received_at=FIXTURES_RECEIVED)
    a = adapter()
    a.verify(req)
    accepted = a.accept(req)
    events = a.normalize(req.body, req.headers, req.received_at)
    assert accepted.events == len(events) == len(expected)
    assert [event_to_dict(e) for e in events] == expected


# --- fuzz: whatever arrives, the only failure is PayloadError --------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
event_keys = st.sampled_from(["schema", "source", "account", "ticket_id", "event_id", "occurred_at", "type",
                              "ticket", "comment"])
ticket_keys = st.sampled_from(["status", "priority", "channel", "group", "assignee", "requester", "subject",
                               "description", "tags", "fields", "created_at"])
plausible = st.sampled_from([None, "", "webhook", "new", "open", "ticket.created", "comment.added", "agent",
                             "2026-03-02T14:05:00Z", "2026-03-02T14:05:00", "2026-13-45T99:99:99+25:00", 0, -1,
                             1.5, True, [], {}, ["a", 1], {"id": 5}])
event_like = st.builds(
    lambda base, overrides, ticket, comment: {**base, **overrides,
                                              **({"ticket": ticket} if ticket is not None else {}),
                                              **({"comment": comment} if comment is not None else {})},
    st.just(EVENT),
    st.dictionaries(event_keys, plausible | json_values, max_size=4),
    st.none() | st.dictionaries(ticket_keys, plausible | json_values, max_size=5),
    st.none() | st.dictionaries(st.sampled_from(["author_role", "public", "automated", "author_id"]),
                                plausible, max_size=4),
)
bodies = st.one_of(
    json_values,
    event_like,
    st.lists(event_like, max_size=3),
    st.builds(lambda events: {"events": events}, st.lists(event_like | json_values, max_size=3)),
)


def only_payload_errors(body: bytes) -> None:
    a = adapter()
    req = InboundRequest(headers={"webhook-id": "msg_fuzz"}, body=body, received_at=RECEIVED)
    try:
        accepted = a.accept(req)
    except PayloadError as err:
        assert err.reason
        if "ahead is accepted" in err.reason:  # the door's own check of the sender's clock (the worker's too)
            assert any(ahead(e, RECEIVED) for e in a.normalize(body, req.headers, RECEIVED))
            return
        with pytest.raises(PayloadError):
            a.normalize(body, req.headers, RECEIVED)
        return
    assert accepted.events == len(a.normalize(body, req.headers, RECEIVED)) >= 1


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(body: bytes):
    only_payload_errors(body)


@FUZZ
@given(bodies, st.booleans())
def test_fuzz_random_json(value: Any, ascii_only: bool):
    only_payload_errors(json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_fuzz_random_text_with_json_punctuation(text: str):
    only_payload_errors(("{" + text + "}").encode("utf-8"))
