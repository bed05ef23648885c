"""Authenticate Freshdesk automation webhooks: a shared secret, since Freshdesk signs nothing.

Freshdesk's "Trigger webhook" action sends no signature and no timestamp, so a request proves itself with a
secret we issue, sent either as the custom header `x-connector-token: <secret>` or as HTTP Basic
credentials whose password is the secret (any user name: the rule's "Requires authentication" fields).
Every configured secret is compared (rotation: `FRESHDESK_WEBHOOK_SECRET=new,old`) with
`hmac.compare_digest`, and all of them are always tried so the timing does not say which one matched.
Reasons never contain a secret, a header value or a user name. There is no replay protection: the
connector dedupes deliveries and reads the ticket's current state instead.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence

from adapters.base import header_value
from connector.errors import AuthError

TOKEN_HEADER = "x-connector-token"
AUTHORIZATION_HEADER = "authorization"
MAX_CREDENTIAL_CHARS = 1024


def _matches(secrets: Sequence[str], given: str) -> bool:
    candidate = given.encode("utf-8", "surrogatepass")
    matched = False
    for secret in secrets:
        # No early exit: every secret costs the same whether or not an earlier one matched.
        matched |= hmac.compare_digest(secret.encode("utf-8"), candidate)
    return matched


def _basic_password(value: str) -> str:
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise AuthError("authorization: expected HTTP Basic credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthError("authorization: the Basic credentials are not base64 of user:password") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise AuthError("authorization: the Basic credentials are not base64 of user:password")
    return password


def verify(secrets: Sequence[str], headers: Mapping[str, str]) -> None:
    """Raise `AuthError` unless the token header or the Basic password equals one of the secrets."""
    if isinstance(secrets, str) or not secrets or not all(isinstance(s, str) and s for s in secrets):
        raise AuthError("no webhook secret is configured: set FRESHDESK_WEBHOOK_SECRET")
    token = header_value(headers, TOKEN_HEADER)
    authorization = header_value(headers, AUTHORIZATION_HEADER)
    if token is None and authorization is None:
        raise AuthError(f"missing credentials: send the {TOKEN_HEADER} header or HTTP Basic auth")
    if (token is not None and len(token) > MAX_CREDENTIAL_CHARS) or (
            authorization is not None and len(authorization) > MAX_CREDENTIAL_CHARS):
        raise AuthError("credentials are too long")
    if token is not None and _matches(secrets, token.strip()):
        return
    if authorization is not None and _matches(secrets, _basic_password(authorization)):
        return
    raise AuthError("no valid credentials: the token or Basic password matches no configured secret")
