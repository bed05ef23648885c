"""POST /hooks/<source>: persist before acknowledge, dedupe, refuse bad input with JSON 4xx, 503 on a dead store."""

from __future__ import annotations

import io
import json
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from adapters.base import Accepted, InboundRequest
from connector.store import Store
from tests.integration.support import (
    LIMIT,
    created_body,
    inbox_bodies,
    inbox_count,
    make_app,
    new_webhook_secret,
    signed,
)


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert isinstance(data["error"], str) and isinstance(data["reason"], str) and data["reason"]
    if code is not None:
        assert data["error"] == code
    return data


def _padded(size: int) -> bytes:
    """A valid delivery of exactly `size` bytes (JSON with trailing spaces)."""
    body = created_body()
    assert len(body) <= size
    return body + b" " * (size - len(body))


class Trickle:
    """A WSGI input (only `read`, like gunicorn's) that hands out a body a few bytes at a time."""

    def __init__(self, data: bytes, step: int = 1000) -> None:
        self.data, self.pos, self.step, self.reads = data, 0, step, 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        n = self.step if size is None or size < 0 else min(size, self.step)
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out


def _chunked(stream: Trickle) -> dict:
    """The environ of a chunked upload: no Content-Length; the server de-chunks and marks the stream
    terminated (gunicorn, waitress and Werkzeug's server all do)."""
    return {"wsgi.input": stream, "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}


def test_signed_delivery_is_stored_then_acknowledged(client: FlaskClient, store: Store, secret: str):
    body = created_body()
    response = client.post("/hooks/webhook", data=body, headers=signed(secret, body, "msg_1"))
    assert response.status_code == 202
    assert response.get_json() == {"status": "accepted", "id": response.get_json()["id"]}
    assert inbox_bodies(store) == [body]


def test_same_webhook_id_again_is_a_duplicate_stored_once(client: FlaskClient, store: Store, secret: str):
    body = created_body()
    first = client.post("/hooks/webhook", data=body, headers=signed(secret, body, "msg_1"))
    # a retry: same id, re-signed later with a fresh timestamp
    again = client.post("/hooks/webhook", data=body, headers=signed(secret, body, "msg_1",
                                                                     timestamp=int(time.time()) + 1))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "id": first.get_json()["id"]}
    assert inbox_count(store) == 1


def test_same_id_with_another_body_is_still_a_duplicate(client: FlaskClient, store: Store, secret: str):
    one, two = created_body(), created_body(event_id="evt_other")
    assert client.post("/hooks/webhook", data=one, headers=signed(secret, one, "msg_1")).status_code == 202
    assert client.post("/hooks/webhook", data=two, headers=signed(secret, two, "msg_1")).status_code == 200
    assert inbox_bodies(store) == [one]


def test_same_body_under_a_new_id_inside_the_window_is_a_duplicate(client: FlaskClient, store: Store, secret: str):
    body = created_body()
    first = client.post("/hooks/webhook", data=body, headers=signed(secret, body, "msg_1"))
    second = client.post("/hooks/webhook", data=body, headers=signed(secret, body, "msg_2"))
    assert second.status_code == 200
    assert second.get_json() == {"status": "duplicate", "id": first.get_json()["id"]}
    assert inbox_count(store) == 1


def test_different_deliveries_are_each_stored(client: FlaskClient, store: Store, secret: str):
    ids = set()
    for n in range(3):
        body = created_body(event_id=f"evt_{n}")
        response = client.post("/hooks/webhook", data=body, headers=signed(secret, body))
        assert response.status_code == 202
        ids.add(response.get_json()["id"])
    assert len(ids) == 3 and inbox_count(store) == 3


def test_bad_signature_is_401(client: FlaskClient, store: Store, secret: str):
    body = created_body()
    headers = signed(new_webhook_secret(), body, "msg_1")  # signed with someone else's secret
    data = _error(client.post("/hooks/webhook", data=body, headers=headers), 401, "unauthorized")
    assert headers["webhook-signature"].split(",", 1)[1] not in data["reason"]
    assert secret not in json.dumps(data)
    assert inbox_count(store) == 0


@pytest.mark.parametrize("headers", [{}, {"webhook-id": "m", "webhook-timestamp": "1"},
                                     {"webhook-signature": "garbage"}, {"webhook-signature": "v1,a,b"}])
def test_missing_or_garbled_signature_headers_are_401(client: FlaskClient, store: Store, headers):
    _error(client.post("/hooks/webhook", data=created_body(), headers=headers), 401, "unauthorized")
    assert inbox_count(store) == 0


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_stale_or_future_timestamp_is_401(client: FlaskClient, store: Store, secret: str, offset: int):
    body = created_body()
    headers = signed(secret, body, "msg_1", timestamp=int(time.time()) + offset)
    data = _error(client.post("/hooks/webhook", data=body, headers=headers), 401, "unauthorized")
    assert "tolerance" in data["reason"]
    assert inbox_count(store) == 0


@pytest.mark.parametrize("body", [b"not json", b"{", b"[]", b"42", b'{"schema": 1}', b"\xff\xfe",
                                  created_body(type="ticket.exploded"), created_body(source="zendesk")])
def test_signed_body_that_is_not_a_valid_event_is_400(client: FlaskClient, store: Store, secret: str, body):
    response = client.post("/hooks/webhook", data=body, headers=signed(secret, body))
    assert response.status_code in (400, 422)
    _error(response, response.status_code)
    assert inbox_count(store) == 0


def test_reason_does_not_quote_the_body(client: FlaskClient, secret: str):
    body = created_body(occurred_at="CANARY-not-a-time")
    data = _error(client.post("/hooks/webhook", data=body, headers=signed(secret, body)), 400)
    assert "occurred_at" in data["reason"]
    assert "CANARY" not in data["reason"]


def test_unknown_source_is_404_json(client: FlaskClient, store: Store, secret: str):
    body = created_body()
    _error(client.post("/hooks/nosuchdesk", data=body, headers=signed(secret, body)), 404, "not_found")
    assert inbox_count(store) == 0


def test_other_methods_and_paths_are_json(client: FlaskClient):
    response = client.get("/hooks/webhook")
    _error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    _error(client.get("/nowhere"), 404, "not_found")
    _error(client.post("/hooks"), 404)


def test_source_without_a_secret_answers_503_not_configured(store: Store):
    client = make_app(store, secret=None).test_client()
    body = created_body()
    _error(client.post("/hooks/webhook", data=body, headers=signed(new_webhook_secret(), body)), 503,
           "not_configured")
    assert inbox_count(store) == 0


def test_content_length_over_the_limit_is_413_without_reading(client: FlaskClient, store: Store, secret: str):
    class Untouchable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body was read")

    response = client.post("/hooks/webhook", headers=signed(secret, b"x"),
                           environ_overrides={"wsgi.input": Untouchable(), "CONTENT_LENGTH": str(LIMIT + 1)})
    _error(response, 413, "too_large")
    body = b"x" * (20 * LIMIT)
    _error(client.post("/hooks/webhook", data=body, headers=signed(secret, body)), 413, "too_large")
    assert inbox_count(store) == 0


def test_body_of_exactly_the_limit_is_accepted(client: FlaskClient, store: Store, secret: str):
    body = _padded(LIMIT)
    assert client.post("/hooks/webhook", data=body, headers=signed(secret, body)).status_code == 202
    assert inbox_bodies(store) == [body]


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT, 20 * LIMIT])
def test_chunked_body_over_the_limit_is_413_and_not_stored(client: FlaskClient, store: Store, secret: str,
                                                          size: int):
    body = _padded(size)
    stream = Trickle(body)
    response = client.post("/hooks/webhook", headers=signed(secret, body), environ_overrides=_chunked(stream))
    _error(response, 413, "too_large")
    assert stream.pos <= LIMIT + 1  # read at most one byte past the limit
    assert inbox_count(store) == 0


def test_chunked_body_under_the_limit_is_read_whole(client: FlaskClient, store: Store, secret: str):
    body = _padded(LIMIT)
    response = client.post("/hooks/webhook", headers=signed(secret, body),
                           environ_overrides=_chunked(Trickle(body, step=777)))
    assert response.status_code == 202
    assert inbox_bodies(store) == [body]  # not truncated


def test_headers_reach_the_adapter_lower_cased(store: Store):
    seen: list[InboundRequest] = []

    class Recording:
        source = "webhook"

        def verify(self, request: InboundRequest) -> None:
            seen.append(request)

        def accept(self, request: InboundRequest) -> Accepted:
            return Accepted(dedupe_key=request.headers["x-delivery"])

        def normalize(self, body, headers, received_at):  # pragma: no cover - the worker's side
            return []

    client = make_app(store, adapters={"webhook": Recording()}).test_client()
    response = client.post("/hooks/webhook", data=b"{}", headers={"X-Delivery": "d1", "Webhook-ID": "W"})
    assert response.status_code == 202
    assert {"x-delivery", "webhook-id", "content-length"} <= set(seen[0].headers)
    assert all(name == name.lower() for name in seen[0].headers)
    assert seen[0].body == b"{}"


def test_an_adapter_crash_on_bad_input_is_still_a_4xx(store: Store):
    class Fragile:
        source = "webhook"

        def verify(self, request: InboundRequest) -> None:
            if request.headers.get("x-mode") == "verify":
                raise ValueError("not enough values to unpack")

        def accept(self, request: InboundRequest) -> Accepted:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

        def normalize(self, body, headers, received_at):  # pragma: no cover
            return []

    client = make_app(store, adapters={"webhook": Fragile()}).test_client()
    _error(client.post("/hooks/webhook", data=b"x", headers={"x-mode": "verify"}), 401, "unauthorized")
    _error(client.post("/hooks/webhook", data=b"x"), 400, "invalid_payload")
    assert inbox_count(store) == 0


def test_database_failure_is_503_and_loses_nothing_accepted(client: FlaskClient, store: Store, secret: str,
                                                            monkeypatch: pytest.MonkeyPatch):
    first = created_body(event_id="evt_first")
    assert client.post("/hooks/webhook", data=first, headers=signed(secret, first)).status_code == 202

    def broken(self, **kwargs):
        raise OperationalError("INSERT INTO inbox", {}, Exception("connection refused"))

    monkeypatch.setattr(Store, "insert_inbox", broken)
    second = created_body(event_id="evt_second")
    headers = signed(secret, second, "msg_second")
    response = client.post("/hooks/webhook", data=second, headers=headers)
    data = _error(response, 503, "unavailable")
    assert 1 <= int(response.headers["Retry-After"]) < 60  # Zendesk retries a 503 only under 60 s
    assert "connection refused" not in data["reason"] and "INSERT" not in data["reason"]

    monkeypatch.undo()  # the database is back: the sender's retry is stored, the first delivery is still there
    assert client.post("/hooks/webhook", data=second, headers=headers).status_code == 202
    assert inbox_bodies(store) == [first, second]


def test_unreachable_database_is_503(client: FlaskClient, store: Store, secret: str):
    store.dispose()
    good_engine = store.engine
    store.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    try:
        body = created_body()
        response = client.post("/hooks/webhook", data=body, headers=signed(secret, body))
        _error(response, 503, "unavailable")
        assert 1 <= int(response.headers["Retry-After"]) < 60  # Zendesk retries a 503 only under 60 s
    finally:
        store.engine.dispose()
        store.engine = good_engine
    store.breaker.success()  # the database is back (the breaker would otherwise wait out its cool-down)
    assert inbox_count(store) == 0
