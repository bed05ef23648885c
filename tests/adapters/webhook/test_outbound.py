"""The generic webhook's write-back: signed Standard Webhooks POSTs and every response mapped to an outcome."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
import responses

from adapters.base import WriteAction, Writer, WriteResult
from adapters.webhook import SOURCE, WebhookWriter, verify
from adapters.webhook.outbound import parse_retry_after, webhook_id
from connector.errors import Conflict, Permanent, Transient

URL = "https://hooks.example.com/sla"
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
NOW = 1_772_460_000  # 2026-03-02T14:00:00Z
ACTION = WriteAction(key="webhook:acme:7:p1-warning:first_response:1", action="add_tags", source="webhook",
                     account="acme", ticket_id="7",
                     params={"tags": ("sla_warning", "p1"), "due_at": datetime(2026, 3, 2, 15, 0, tzinfo=UTC)})


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def writer(clock: Clock | None = None, **kwargs) -> WebhookWriter:
    return WebhookWriter(URL, SECRET, clock=clock or Clock(), **kwargs)


def test_it_is_a_writer():
    w: Writer = writer()
    assert w.source == SOURCE and w.configured


@pytest.mark.parametrize(("url", "secret"), [(None, SECRET), (URL, None), (None, None), ("", SECRET), (URL, "")])
def test_not_configured_without_url_or_secret(url, secret, mocked):
    w = WebhookWriter(url, secret)
    assert not w.configured
    assert w.write(ACTION) == WriteResult(outcome="skipped", detail="webhook callback_url or secret not configured")
    assert len(mocked.calls) == 0


@pytest.mark.parametrize(("url", "secret"), [("ftp://example.com/x", SECRET), ("hooks.example.com", SECRET),
                                             (URL, "not-a-whsec-secret"), (URL, "whsec_c2hvcnQ=")])
def test_a_bad_url_or_secret_is_a_value_error_at_construction(url, secret):
    with pytest.raises(ValueError) as info:
        WebhookWriter(url, secret)
    assert "not-a-whsec" not in str(info.value) and "c2hvcnQ" not in str(info.value)


def test_repr_shows_no_secret_or_url():
    assert SECRET not in repr(writer()) and URL not in repr(writer())


# --- the request ---------------------------------------------------------------------------------


def test_body_shape(mocked):
    mocked.post(URL, status=204)
    assert writer().write(ACTION) == WriteResult(outcome="sent", detail="204 No Content")
    sent = json.loads(mocked.calls[0].request.body)
    assert sent == {
        "type": "sla.add_tags",
        "timestamp": "2026-03-02T14:00:00Z",
        "data": {"key": ACTION.key, "action": "add_tags", "source": "webhook", "account": "acme", "ticket_id": "7",
                 "params": {"tags": ["sla_warning", "p1"], "due_at": "2026-03-02T15:00:00Z"}},
    }


def test_headers_and_a_signature_that_verifies(mocked):
    mocked.post(URL, status=200)
    writer().write(ACTION)
    request = mocked.calls[0].request
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "sla-connector"
    assert headers["webhook-id"] == webhook_id(ACTION.key)
    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["webhook-signature"].startswith("v1,")
    assert verify([SECRET], headers, request.body, now=NOW) == headers["webhook-id"]


def test_explicit_timeouts(mocked):
    mocked.post(URL, status=200)
    writer(timeout=4.5).write(ACTION)
    kwargs = mocked.calls[0].request.req_kwargs
    assert kwargs["timeout"] == (3.05, 4.5)
    assert kwargs["stream"] is True  # the response body is never downloaded


def test_the_webhook_id_is_stable_across_attempts_and_the_timestamp_is_not(mocked):
    mocked.post(URL, status=503)
    mocked.post(URL, status=200)
    clock = Clock()
    w = writer(clock)
    with pytest.raises(Transient):
        w.write(ACTION)
    clock.now += 65
    w.write(dataclasses.replace(ACTION, attempt=2))
    first, second = (call.request.headers for call in mocked.calls)
    assert first["webhook-id"] == second["webhook-id"] == "msg_" + hashlib.sha256(ACTION.key.encode()).hexdigest()[:32]
    assert (first["webhook-timestamp"], second["webhook-timestamp"]) == (str(NOW), str(NOW + 65))
    assert verify([SECRET], dict(second), mocked.calls[1].request.body, now=NOW + 65)
    other = dataclasses.replace(ACTION, key=ACTION.key + "x")
    assert webhook_id(other.key) != first["webhook-id"]


def test_params_that_cannot_be_json_are_permanent(mocked):
    for params in ({"at": datetime(2026, 3, 2, 15, 0)}, {"x": float("nan")}, {"x": object()}):
        with pytest.raises(Permanent, match="params"):
            writer().write(dataclasses.replace(ACTION, params=params))
    assert len(mocked.calls) == 0


def test_nested_params_and_dates_become_json(mocked):
    mocked.post(URL, status=200)
    params = {"note": {"lines": ("a", "b"), "tags": frozenset({"y", "x"})}, "due": datetime(2026, 3, 2, tzinfo=UTC)}
    writer().write(dataclasses.replace(ACTION, action="add_note", params=params))
    sent = json.loads(mocked.calls[0].request.body)
    assert sent["type"] == "sla.add_note"
    assert sent["data"]["params"] == {"note": {"lines": ["a", "b"], "tags": ["x", "y"]}, "due": "2026-03-02T00:00:00Z"}


# --- responses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_sent(status, mocked):
    mocked.post(URL, status=status)
    assert writer().write(ACTION).outcome == "sent"


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_honour_retry_after_in_seconds(status, mocked):
    mocked.post(URL, status=status, headers={"Retry-After": "37"})
    with pytest.raises(Transient) as info:
        writer().write(ACTION)
    assert info.value.retry_after == 37


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_honour_retry_after_as_an_http_date(status, mocked):
    when = format_datetime(datetime.fromtimestamp(NOW + 120, UTC), usegmt=True)
    mocked.post(URL, status=status, headers={"Retry-After": when})
    with pytest.raises(Transient) as info:
        writer().write(ACTION)
    assert info.value.retry_after == 120


@pytest.mark.parametrize("header", [None, "soon", "-5", "1.5"])
def test_429_without_a_usable_retry_after(header, mocked):
    mocked.post(URL, status=429, headers={"Retry-After": header} if header else {})
    with pytest.raises(Transient, match="429 Too Many Requests") as info:
        writer().write(ACTION)
    assert info.value.retry_after is None


def test_parse_retry_after():
    assert parse_retry_after("0", NOW) == 0
    assert parse_retry_after(" 120 ", NOW) == 120
    assert parse_retry_after("Mon, 02 Mar 2026 14:02:00 GMT", NOW) == 120
    assert parse_retry_after("Mon, 02 Mar 2026 13:00:00 GMT", NOW) == 0  # in the past: retry now
    assert parse_retry_after("", NOW) is None and parse_retry_after(None, NOW) is None


@pytest.mark.parametrize("status", [500, 502, 504, 599])
def test_other_5xx_are_transient_without_retry_after(status, mocked):
    mocked.post(URL, status=status, headers={"Retry-After": "30"})
    with pytest.raises(Transient) as info:
        writer().write(ACTION)
    assert info.value.retry_after is None


def test_409_is_a_conflict(mocked):
    mocked.post(URL, status=409)
    with pytest.raises(Conflict, match="409"):
        writer().write(ACTION)


def test_410_means_the_endpoint_is_gone(mocked):
    mocked.post(URL, status=410)
    with pytest.raises(Permanent, match=r"^callback endpoint is gone \(410\)$"):
        writer().write(ACTION)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422, 451])
def test_other_4xx_are_permanent_with_the_status(status, mocked):
    mocked.post(URL, status=status)
    with pytest.raises(Permanent, match=f"callback answered {status}"):
        writer().write(ACTION)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_permanent_and_not_followed(status, mocked):
    elsewhere = "https://elsewhere.example.com/steal"
    mocked.post(URL, status=status, headers={"Location": elsewhere})
    mocked.post(elsewhere, status=200)
    with pytest.raises(Permanent, match=f"{status}.*redirects are not followed"):
        writer().write(ACTION)
    assert [call.request.url for call in mocked.calls] == [URL]


def test_timeouts_and_connection_errors_are_transient(mocked):
    for error in (requests.ConnectTimeout(), requests.ReadTimeout(), requests.ConnectionError("refused"),
                  requests.exceptions.SSLError("bad handshake")):
        mocked.upsert(responses.POST, URL, body=error)
        with pytest.raises(Transient) as info:
            writer().write(ACTION)
        assert info.value.retry_after is None
        assert info.value.__cause__ is error


def test_a_request_that_cannot_be_made_is_permanent(mocked):
    mocked.post(URL, body=requests.exceptions.InvalidHeader("bad"))
    with pytest.raises(Permanent) as info:
        writer().write(ACTION)
    assert isinstance(info.value.__cause__, requests.exceptions.InvalidHeader)


def test_errors_never_carry_the_secret_the_signature_or_the_response_body(mocked):
    leaky = "internal stack trace: password=hunter2"
    for status in (400, 409, 410, 429, 500, 302):
        mocked.upsert(responses.POST, URL, status=status, body=leaky)
        with pytest.raises((Transient, Conflict, Permanent)) as info:
            writer().write(ACTION)
        signature = mocked.calls[-1].request.headers["webhook-signature"]
        text = str(info.value)
        for needle in (SECRET, SECRET.removeprefix("whsec_"), signature, signature[3:], "hunter2", URL):
            assert needle not in text, (status, text)


def test_the_status_line_is_the_standard_phrase_not_the_servers(mocked):
    mocked.post(URL, status=400, headers={})
    with pytest.raises(Permanent, match=r"^callback answered 400 Bad Request$"):
        writer().write(ACTION)
