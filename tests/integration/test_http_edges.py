"""The built-in server at the edges of HTTP framing (issue 11 §6), against the real waitress server.

- Content-Length and Transfer-Encoding together (request smuggling's set-up): 400 JSON, connection closed,
  nothing pipelined behind it served.
- A body shorter than its Content-Length, the client waiting: 408 JSON after the read timeout, not silence
  until waitress's 120 s idle timeout.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from connector.store import Store
from tests.integration.support import make_app, serving

READ_TIMEOUT = 1.0


@pytest.fixture
def server_port(tmp_path, secret) -> Iterator[int]:
    store = Store(f"sqlite:///{tmp_path / 'edges.db'}")  # framing does not depend on the database
    store.upgrade()
    app = make_app(store, secret=secret)
    with serving(app, threads=2, read_timeout=READ_TIMEOUT) as port:
        yield port
    store.dispose()


def exchange(port: int, raw: bytes, *, wait: float = 20.0) -> tuple[bytes, float]:
    """Send raw bytes, read until the server closes; return (answer, seconds)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(raw)
        began, answer = time.monotonic(), b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer, time.monotonic() - began


def test_content_length_with_chunked_encoding_is_refused_and_the_connection_closed(server_port):
    body = b'{"a":1}'
    answer, _ = exchange(server_port, b"POST /hooks/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n7\r\n" + body + b"\r\n0\r\n\r\n"
                                      b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b'"error":"bad_request"' in answer and b"Content-Length and Transfer-Encoding" in answer
    assert answer.count(b"HTTP/1.1 ") == 1  # the request smuggled behind it was never served


def test_a_body_shorter_than_its_content_length_gets_a_408_after_the_read_timeout(server_port):
    answer, took = exchange(server_port, b"POST /hooks/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                                         b'{"a":1}')
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"error": "request_timeout"' in answer
    assert took < 20  # bounded by the read timeout (1 s here), not waitress's 120 s idle timeout


def test_ordinary_requests_still_work_with_keep_alive(server_port):
    answer, _ = exchange(server_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n"
                                      b"Connection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 2
