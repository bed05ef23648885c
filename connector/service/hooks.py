"""`POST /hooks/<source>`: persist a help desk's delivery, then acknowledge it (DESIGN §2, STYLE §5).

Always in this order: known source → size limit → read the raw bytes → verify → accept (parse just enough
to dedupe and validate) → one inbox transaction → answer.

    202 {"status": "accepted", "id": n}     stored; the worker takes it from here
    200 {"status": "duplicate", "id": n}    same delivery id, or same body inside the dedupe window
    202 {"status": "accepted", "id": null, "spooled": true}
                                            the database cannot be written right now: kept in the spool
                                            on disk (`store/spool.py`), moved to the inbox when it answers
    401 / 400 / 422 / 413                   refused: {"error": code, "reason": text}; the sender should not retry
                                            (400 too when the database refuses a value of the delivery: class 22)
    404                                     no such source
    503 not_configured                      the source exists but has no secret configured
    503 unavailable (Retry-After)           neither the store nor the spool can take it, or the database lacks
                                            the inbox (a deployment error) or breaks a constraint (class 23), both
                                            logged at ERROR and never spooled; nothing was acknowledged

A database that does not answer costs at most its timeout (CONNECTOR_DB_TIMEOUT_SECONDS), and then, while
the store's circuit breaker is open, nothing: later deliveries go to the spool at once.

The body is read from the stream up to limit+1 bytes, so a chunked body over the limit is refused, never
truncated and accepted (Werkzeug's own limit truncates chunked bodies: style-and-reliability.md B.2.7).
Nothing here loads config, builds adapters or compiles patterns: that happened once in `create_app`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import IO

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from adapters.base import Accepted, InboundRequest
from connector.errors import AuthError, InboundError, PayloadError, StoreMisconfigured, StoreUnavailable, TooLarge
from connector.service.context import ServiceContext, context
from connector.service.errors import error_response, retry_after_header, safe_reason
from connector.service.metrics import UNKNOWN_SOURCE
from connector.store.spool import Spooled, SpoolError

log = logging.getLogger("connector.service.hooks")

bp = Blueprint("hooks", __name__)

READ_CHUNK = 64 * 1024
DRAIN_PER_REQUEST = 50  # spooled deliveries moved to the inbox after a successful insert, at most


def read_body(stream: IO[bytes], limit: int) -> bytes:
    """Read at most limit+1 bytes; raise `TooLarge` if the body is over `limit` (never truncate)."""
    buf = bytearray()
    while len(buf) <= limit:
        chunk = stream.read(min(READ_CHUNK, limit + 1 - len(buf)))
        if not chunk:
            break
        buf += chunk
    if len(buf) > limit:
        raise TooLarge(f"request body is over the {limit}-byte limit")
    return bytes(buf)


def _rejected(ctx: ServiceContext, source: str, err: InboundError, body: bytes, started: float) -> Response:
    ctx.metrics.rejected.labels(source, err.code).inc()
    log.info("delivery rejected", extra={"source": source, "outcome": "rejected", "reason": err.code,
                                         "status": err.status, "duration_ms": _ms(started)})
    response = jsonify({"error": err.code, "reason": safe_reason(err.reason, body)})
    response.status_code = err.status
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Signature realm="webhook"'
    return response


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@bp.post("/hooks/<source>")
def receive(source: str) -> Response | tuple[Response, int]:
    """Persist one delivery, then acknowledge it."""
    started = time.perf_counter()
    ctx = context()
    if source not in ctx.sources:
        ctx.metrics.rejected.labels(UNKNOWN_SOURCE, "unknown_source").inc()
        known = ", ".join(sorted(ctx.sources)) or "none"
        return error_response(404, "not_found", f"unknown source; the sources are: {known}")
    ctx.metrics.received.labels(source).inc()
    adapter = ctx.adapters.get(source)
    if adapter is None:
        ctx.metrics.rejected.labels(source, "not_configured").inc()
        return error_response(503, "not_configured", "source not configured")

    body = b""
    try:
        length = request.content_length
        if length is not None and length > ctx.max_body_bytes:
            raise TooLarge(f"request body is over the {ctx.max_body_bytes}-byte limit")
        body = _read(ctx.max_body_bytes)
        inbound = InboundRequest(headers={k.lower(): v for k, v in request.headers.items()}, body=body,
                                 received_at=ctx.clock(), remote_addr=request.remote_addr, method=request.method,
                                 # the URL as the server saw it costs ~40 µs to rebuild: only for a signature over it
                                 url=request.url if getattr(adapter, "reads_url", True) else "")
        _verify(adapter.verify, inbound, source)
        accepted = _accept(adapter.accept, inbound, source)
    except InboundError as err:
        return _rejected(ctx, source, err, body, started)

    try:
        inbox_id, duplicate = ctx.store.insert_inbox(
            source=source, dedupe_key=accepted.dedupe_key, body=body, headers=accepted.audit_headers,
            received_at=inbound.received_at, dedupe_window=ctx.dedupe_window, ticket=accepted.ticket)
    except DataError as err:  # the database refuses a value (e.g. a NUL in an id): retrying cannot help
        log.warning("delivery cannot be stored", extra={"source": source, "outcome": type(err).__name__})
        return _rejected(ctx, source, PayloadError("the delivery holds a value the store cannot keep"), body,
                         started)
    except StoreMisconfigured as err:  # a deployment error (a missing table): say so loudly, acknowledge nothing
        return _not_stored(ctx, source, err, str(err), started)
    except IntegrityError as err:  # a constraint the delivery's own values cannot break (its one unique key is
        # answered as a duplicate): the database's state (a primary-key sequence behind after a restore) or a
        # constraint an operator added. Not acknowledged: spooled, it would be refused again at every drain
        return _not_stored(ctx, source, err, "the database refused to store the delivery", started)
    except (StoreUnavailable, SQLAlchemyError, OSError) as err:
        return _spool(ctx, source, accepted, inbound, err, started)

    if ctx.spool is not None and ctx.spool.depth():
        _drain(ctx)
    outcome = "duplicate" if duplicate else "accepted"
    (ctx.metrics.deduplicated if duplicate else ctx.metrics.accepted).labels(source).inc()
    log.info("delivery %s", outcome, extra={"source": source, "delivery_id": accepted.dedupe_key, "inbox_id": inbox_id,
                                            "outcome": outcome, "duration_ms": _ms(started)})
    # the answer every delivery gets, written directly (jsonify's provider and response cost ~50 µs more)
    return Response(b'{"id":%d,"status":"%s"}\n' % (inbox_id, outcome.encode()), status=200 if duplicate else 202,
                    mimetype="application/json")


def _spool(ctx: ServiceContext, source: str, accepted: Accepted, inbound: InboundRequest, err: Exception,
           started: float) -> Response | tuple[Response, int]:
    """The inbox cannot be written: keep the delivery in the spool and acknowledge it, or answer 503."""
    if ctx.spool is not None:
        try:
            ctx.spool.put(Spooled(source=source, dedupe_key=accepted.dedupe_key, body=inbound.body,
                                  headers=accepted.audit_headers, received_at=inbound.received_at))
        except SpoolError as spool_err:
            log.error("spool unavailable", extra={"source": source, "outcome": type(spool_err).__name__})
        else:
            ctx.metrics.accepted.labels(source).inc()
            ctx.metrics.spooled.labels(source).inc()
            log.warning("delivery spooled: the inbox cannot be written", extra={
                "source": source, "delivery_id": accepted.dedupe_key, "outcome": "spooled",
                "reason": type(err).__name__, "duration_ms": _ms(started)})
            return jsonify({"status": "accepted", "id": None, "spooled": True}), 202
    ctx.metrics.rejected.labels(source, "unavailable").inc()
    log.error("inbox unavailable", extra={"source": source, "outcome": type(err).__name__, "status": 503,
                                          "duration_ms": _ms(started)})
    return error_response(503, "unavailable", "the inbox cannot be written right now; retry later",
                          headers=retry_after_header(err))


def _not_stored(ctx: ServiceContext, source: str, err: Exception, reason: str, started: float) -> Response:
    """The inbox cannot take this delivery until someone acts: 503, nothing acknowledged, said at ERROR."""
    ctx.metrics.rejected.labels(source, "unavailable").inc()
    log.error("inbox cannot be written; the delivery was not acknowledged", extra={
        "source": source, "outcome": type(err).__name__, "reason": reason, "status": 503, "duration_ms": _ms(started)})
    return error_response(503, "unavailable", f"{reason}; retry later", headers=retry_after_header(err))


def _drain(ctx: ServiceContext) -> None:
    """The database answers again: move a few spooled deliveries into the inbox (never fail the request)."""
    assert ctx.spool is not None
    try:
        ctx.spool.drain(ctx.store, dedupe_window=ctx.dedupe_window, limit=DRAIN_PER_REQUEST)
    except Exception as err:
        log.error("spool drain failed", extra={"outcome": type(err).__name__})


def _read(limit: int) -> bytes:
    try:
        return read_body(request.stream, limit)
    except RequestEntityTooLarge:
        raise TooLarge(f"request body is over the {limit}-byte limit") from None
    except ClientDisconnected:
        raise PayloadError("the request body ended before its Content-Length") from None


def _verify(verify: Callable[[InboundRequest], None], inbound: InboundRequest, source: str) -> None:
    try:
        verify(inbound)
    except InboundError:
        raise
    except Exception as err:  # an adapter bug must not turn a forged request into a 500
        log.error("verify failed unexpectedly", extra={"source": source, "outcome": type(err).__name__})
        raise AuthError("the signature could not be verified") from None


def _accept(accept: Callable[[InboundRequest], Accepted], inbound: InboundRequest, source: str) -> Accepted:
    try:
        accepted = accept(inbound)
    except InboundError:
        raise
    except Exception as err:  # likewise: malformed input is a 4xx even when the parser trips over it
        log.error("accept failed unexpectedly", extra={"source": source, "outcome": type(err).__name__})
        raise PayloadError("the body could not be parsed") from None
    if not accepted.dedupe_key or "\x00" in accepted.dedupe_key:
        raise PayloadError("the delivery has no usable id")
    return accepted
