"""The API token check of the read endpoints (`/tickets`, `/reports`): `Authorization: Bearer <CONNECTOR_API_TOKEN>`.

    403 no token configured: the endpoints are off      401 no or wrong bearer token (with WWW-Authenticate)
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from flask import Response, request

from connector.service.context import ServiceContext
from connector.service.errors import error_response

log = logging.getLogger("connector.service.auth")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def authorize(ctx: ServiceContext) -> Response | None:
    """Return an error answer unless the request carries the API token."""
    token = ctx.settings.api_token
    if token is None or not token.reveal():
        return error_response(403, "forbidden", "set CONNECTOR_API_TOKEN to enable this endpoint")
    scheme, _, given = (request.headers.get("Authorization") or "").strip().partition(" ")
    # compare digests: equal lengths, so the comparison time says nothing about the token's length either
    if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(given.strip()), _digest(token.reveal())):
        log.warning("api request refused", extra={"outcome": "refused", "reason": "unauthorized", "status": 401})
        return error_response(401, "unauthorized", "missing or wrong bearer token",
                              headers={"WWW-Authenticate": 'Bearer realm="connector"'})
    return None
