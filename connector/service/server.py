"""The built-in HTTP server of `connector run` and `connector serve`: waitress, made strict at two edges.

- A request with both ``Content-Length`` and ``Transfer-Encoding`` is ambiguous (the classic request
  smuggling set-up: a proxy in front may frame it by one header and we by the other). RFC 9112 §6.1 lets
  a server reject it and requires closing the connection after answering; waitress silently reads it as
  chunked. Here it is answered ``400 {"error": "bad_request", ...}`` and the connection closed.
- A body that stops before its ``Content-Length`` (or a request that stalls half-sent) holds a
  connection until waitress's idle timeout, 120 s by default, and then is closed without a word. Here a
  request silent for `read_timeout` seconds (``CONNECTOR_HTTP_READ_TIMEOUT_SECONDS``, default 10) is
  answered ``408 {"error": "request_timeout", ...}`` and closed; nothing of it reached the application.

In production behind gunicorn (``gunicorn 'connector.service:create_app()'``) gunicorn's own parser refuses
the ambiguous framing and its ``--timeout`` bounds a stalled body.
"""

from __future__ import annotations

import errno
import json
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from connector.errors import ConnectorError

AMBIGUOUS = "HTTP_X_CONNECTOR_AMBIGUOUS_FRAMING"  # what the parser leaves in the environ for the app


class StrictParser(HTTPRequestParser):
    """waitress's parser, noting a request framed by both Content-Length and Transfer-Encoding."""

    def parse_header(self, header_plus: bytes) -> None:
        lowered = header_plus.lower()
        ambiguous = b"\ncontent-length:" in lowered and b"\ntransfer-encoding:" in lowered
        super().parse_header(header_plus)
        if ambiguous:
            self.headers[AMBIGUOUS[len("HTTP_"):]] = "1"
            self.headers["CONNECTION"] = "close"  # waitress then closes after the answer, dropping what follows
            self.connection_close = True


class StrictChannel(HTTPChannel):
    parser_class = StrictParser


def _timeout_answer() -> bytes:
    body = json.dumps({"error": "request_timeout",
                       "reason": "the request stopped before its end (a body shorter than its Content-Length?)"}
                      ).encode()
    head = (f"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    return head + body


class ConnectorServer(TcpWSGIServer):
    """One listening socket, strict channels, and a 408 for requests that stall half-way."""

    channel_class = StrictChannel

    def maintenance(self, now: float) -> None:
        cutoff = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            if channel.requests or channel.request is None or channel.last_activity >= cutoff:
                continue
            # a request begun and never finished: say so before closing (the app never saw it)
            channel.request = None
            try:
                channel.write_soon(_timeout_answer())
            except Exception:  # the client went away meanwhile: just close
                channel.will_close = True
            else:
                channel.close_when_flushed = True
        super().maintenance(now)


def make_server(app: Any, *, host: str, port: int, threads: int = 8, read_timeout: float = 10.0) -> ConnectorServer:
    """Build the server (not started: call `run()`); port 0 picks a free one (`effective_port`)."""
    adj = Adjustments(host=host, port=port, threads=threads, channel_timeout=read_timeout,
                      cleanup_interval=max(1, min(30, int(read_timeout // 4) or 1)))
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    try:
        return ConnectorServer(app, {}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])
    except OSError as err:
        dispatcher.shutdown()
        if err.errno == errno.EADDRINUSE:
            raise PortInUse(f"port {port} on {host} is in use (another connector, or another program): "
                            f"give --port another one") from None
        if err.errno in (errno.EACCES, errno.EADDRNOTAVAIL):
            raise PortInUse(f"cannot listen on {host}:{port}: {err.strerror}; give --host or --port") from None
        raise


class PortInUse(ConnectorError):
    """The address to listen on cannot be taken; the message names it and says what to do."""
