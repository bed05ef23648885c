"""JSON error answers for every route: ``{"error": code, "reason": text}``, never HTML, never a traceback.

Malformed input is a 4xx whatever went wrong inside Werkzeug (404, 405, 413, a client that went away);
a database that cannot be reached, or fails a statement, is a 503 with ``Retry-After`` on every route;
an unexpected bug is a 500 whose body says nothing but "internal error" (the log has the type and frames).
Reasons are checked on the way out: no registered secret, nothing credential-shaped, no quoted excerpt of
the request body, at most `MAX_REASON` characters.
"""

from __future__ import annotations

import logging
import math
import re
import traceback

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from connector.errors import StoreUnavailable
from connector.logs import scrub
from connector.service.server import AMBIGUOUS

log = logging.getLogger("connector.service")

MAX_REASON = 300
# Python reprs of strings ('value', or "it's" when the value holds a quote): how parse errors quote input.
_QUOTED = re.compile(r"'((?:[^'\\\n]|\\.){0,2000})'|\"((?:[^\"\\\n]|\\.){0,2000}'(?:[^\"\\\n]|\\.){0,2000})\"")
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
          422: "invalid_payload", 429: "too_many_requests", 500: "internal", 503: "unavailable"}


def safe_reason(reason: str, body: bytes = b"") -> str:
    """Return a reason fit to send back: no secrets, no quoted body excerpts, bounded length."""
    if body:
        def mask(match: re.Match[str]) -> str:
            inner = match.group(1) if match.group(1) is not None else match.group(2)
            if "\\" in inner or inner.encode("utf-8", "surrogatepass") in body:
                return "<value>"
            return match.group(0)  # a literal of ours (e.g. the expected source), not the sender's text
        reason = _QUOTED.sub(mask, reason)
    reason = scrub(reason)
    reason = "".join(c if c.isprintable() else " " for c in reason)
    return reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"


def error_response(status: int, code: str, reason: str, *, headers: dict[str, str] | None = None) -> Response:
    """Build the JSON error answer."""
    response = jsonify({"error": code, "reason": safe_reason(reason)})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


RETRY_AFTER_MAX = 30  # Zendesk retries a 503 only when Retry-After is under 60 s


def retry_after_header(err: BaseException) -> dict[str, str]:
    """``Retry-After`` for a database fault: the breaker's cool-down when known, 1-30 s."""
    hint = err.retry_after if isinstance(err, StoreUnavailable) else 5.0
    return {"Retry-After": str(min(RETRY_AFTER_MAX, max(1, math.ceil(hint))))}


def _store_unavailable(err: Exception) -> Response:
    original = getattr(err, "original_exception", None) or err
    reason = str(original) if isinstance(original, StoreUnavailable) else "the database could not answer"
    log.warning("database unavailable", extra={"outcome": type(original).__name__, "status": 503})
    return error_response(503, "unavailable", f"{reason}; retry later", headers=retry_after_header(original))


def _http_error(err: HTTPException) -> Response:
    status = err.code or 500
    code = _CODES.get(status) or re.sub(r"\W+", "_", (err.name or "error").lower()).strip("_")
    reason = err.description or err.name or "error"
    if status == 413:
        reason = "request body is over the size limit"
    response = error_response(status, code, reason)
    for name, value in err.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value  # e.g. Allow on 405
    return response


def _internal_error(err: Exception) -> Response:
    original = getattr(err, "original_exception", None) or err
    # the type and the frames, not the message: it may quote a vendor's answer, SQL parameters or a secret
    log.error("unhandled error", extra={"outcome": type(original).__name__, "status": 500,
                                        "stack": "".join(traceback.format_tb(original.__traceback__))})
    return error_response(500, "internal", "internal error")


def _refuse_ambiguous_framing() -> Response | None:
    """Refuse a request framed by both Content-Length and Transfer-Encoding (server.py closes the connection)."""
    if request.environ.get(AMBIGUOUS):
        return error_response(400, "bad_request", "the request has both Content-Length and Transfer-Encoding; "
                                                  "send one")
    return None


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def register(app: Flask) -> None:
    """Answer every HTTP error as JSON."""
    from sqlalchemy.exc import SQLAlchemyError

    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StoreUnavailable, _store_unavailable)
    app.register_error_handler(SQLAlchemyError, _store_unavailable)
    app.register_error_handler(500, _internal_error)

    app.before_request(_refuse_ambiguous_framing)
    app.after_request(_security_headers)


MAX_PARAMETER = 100  # no query parameter of the read endpoints needs more


def query_args(known: tuple[str, ...]) -> tuple[dict[str, str], Response | None]:
    """Return the request's query parameters, or the 400 for an unknown one, or one over `MAX_PARAMETER`
    characters or holding a control character (shared by /reports, /board and /simulate)."""
    unknown = sorted(set(request.args) - set(known))
    if unknown:
        return {}, error_response(400, "bad_request", f"unknown parameter {unknown[0][:40]!r}; parameters are "
                                                      f"{', '.join(known)}")
    args = {key: request.args.get(key, "") for key in request.args}
    bad = next((key for key, value in args.items() if len(value) > MAX_PARAMETER or not value.isprintable()), None)
    if bad is not None:
        return {}, error_response(400, "bad_request", f"{bad}: must be at most {MAX_PARAMETER} printable characters")
    return args, None
