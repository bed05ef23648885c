"""The credential check of the read endpoints (`/tickets`, `/reports`): the API token, or a browser session.

    Authorization: Bearer <CONNECTOR_API_TOKEN>     scripts and API clients
    Cookie: connector_session=…                     a browser signed in at /login (session.py)

    403 no token configured: the endpoints are off
    401 no credential, a wrong bearer token, or a session that expired (with WWW-Authenticate); a browser
        without an Authorization header gets the sign-in page instead of the JSON error

An Authorization header decides alone: a wrong bearer token is refused whatever cookie comes with it.
"""

from __future__ import annotations

import logging

from flask import Response, request

from connector.service import session
from connector.service.context import ServiceContext
from connector.service.errors import error_response

log = logging.getLogger("connector.service.auth")


def _here() -> str:
    """The path and query of this request, for the sign-in form to come back to."""
    query = request.query_string.decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def authorize(ctx: ServiceContext) -> Response | None:
    """Return an error answer unless the request carries the API token or a valid session cookie."""
    token = ctx.settings.api_token
    if token is None or not token.reveal():
        return error_response(403, "forbidden", "set CONNECTOR_API_TOKEN to enable this endpoint")
    header = request.headers.get("Authorization")
    if header is None:
        cookie = request.cookies.get(session.COOKIE)
        if session.session_valid(token.reveal(), cookie, ctx.clock().timestamp()):
            return None
        reason = "session_expired" if cookie else "no_session"
        log.warning("api request refused", extra={"outcome": "refused", "reason": reason, "status": 401})
        if session.wants_html():
            return session.refusal(401, session.REASONS[reason], next_path=_here())
        return error_response(401, "unauthorized", "missing or wrong bearer token" if not cookie else
                              f"{session.REASONS[reason]}, or send the bearer token",
                              headers={"WWW-Authenticate": 'Bearer realm="connector"'})
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not session.same_secret(given.strip(), token.reveal()):
        log.warning("api request refused", extra={"outcome": "refused", "reason": "unauthorized", "status": 401})
        return error_response(401, "unauthorized", "missing or wrong bearer token",
                              headers={"WWW-Authenticate": 'Bearer realm="connector"'})
    return None
