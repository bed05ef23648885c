"""The authentication schemes of mapped sources; every comparison is constant-time.

- `standard_webhooks`: the generic webhook's own verification (`adapters/webhook/signing.py`).
- `hmac`: HMAC-SHA1/SHA-256 over the body or a template of the request's parts (`{timestamp}.{body}`,
  HubSpot's `{method}{url}{body}{timestamp}`), hex or base64, in a named header after an optional prefix
  (`sha256=`), with an optional timestamp header checked against a tolerance.
- `token`: a shared token in a header; `basic`: HTTP Basic against `user:password` pairs.

Several secrets may be given (comma-separated in the variable) while one is being rotated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import string
from collections.abc import Sequence

from adapters.base import InboundRequest, header_value
from adapters.webhook import signing
from connector.errors import AuthError
from connector.mapping import BasicAuth, HmacAuth, StandardWebhooksAuth, TokenAuth

AnyAuth = StandardWebhooksAuth | HmacAuth | TokenAuth | BasicAuth
MAX_SIGNATURE = 512


def check_secrets(auth: AnyAuth, secrets: Sequence[str]) -> None:
    """Raise ValueError (the caller names the variable) for a secret this scheme cannot use."""
    for number, secret in enumerate(secrets, start=1):
        if isinstance(auth, StandardWebhooksAuth):
            try:
                signing.decode_secret(secret)
            except ValueError as err:
                raise ValueError(f"secret {number} of {len(secrets)}: {err}") from None
        elif isinstance(auth, BasicAuth) and ":" not in secret:
            raise ValueError(f"secret {number} of {len(secrets)}: HTTP Basic needs user:password")


def verify(auth: AnyAuth, secrets: Sequence[str], request: InboundRequest, *, now: float) -> None:
    """Raise `AuthError` unless the request carries a valid credential for one of `secrets`."""
    if isinstance(auth, StandardWebhooksAuth):
        signing.verify(secrets, request.headers, request.body, now=now, tolerance=auth.tolerance_seconds)
    elif isinstance(auth, HmacAuth):
        _verify_hmac(auth, secrets, request, now)
    elif isinstance(auth, TokenAuth):
        given = _header(request, auth.header)
        if not given.startswith(auth.prefix):
            raise AuthError(f"{auth.header}: expected {auth.prefix!r} and the token")
        _match(given[len(auth.prefix):].strip().encode(), [s.encode() for s in secrets], "token")
    else:
        given = _header(request, "Authorization")
        scheme, _, encoded = given.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise AuthError("Authorization: expected Basic credentials")
        try:
            pair = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("Authorization: the Basic credentials are not base64") from None
        _match(pair, [s.encode() for s in secrets], "credentials")


def _header(request: InboundRequest, name: str) -> str:
    value = header_value(request.headers, name.lower())
    if value is None or not value.strip():
        raise AuthError(f"missing {name} header")
    if len(value) > MAX_SIGNATURE:
        raise AuthError(f"{name}: longer than any credential ({len(value)} characters)")
    return value.strip()


def _match(given: bytes, expected: Sequence[bytes], what: str) -> None:
    found = False
    for candidate in expected:  # every candidate is compared, matched or not: no early exit to time
        found |= hmac.compare_digest(given, candidate)
    if not found:
        raise AuthError(f"the {what} matches none of the configured secrets")


def _verify_hmac(auth: HmacAuth, secrets: Sequence[str], request: InboundRequest, now: float) -> None:
    sent = _header(request, auth.header)
    if not sent.startswith(auth.prefix):
        raise AuthError(f"{auth.header}: expected {auth.prefix!r} and the signature")
    sent = sent[len(auth.prefix):].strip()
    timestamp = ""
    if auth.timestamp_header:
        timestamp = _header(request, auth.timestamp_header)
        if not timestamp.isdigit() or len(timestamp) > 15:
            raise AuthError(f"{auth.timestamp_header}: expected whole seconds or milliseconds since 1970")
        seconds = int(timestamp) / (1000 if len(timestamp) > 11 else 1)
        if abs(now - seconds) > auth.tolerance_seconds:
            raise AuthError(f"{auth.timestamp_header}: more than {auth.tolerance_seconds} s from now (a replay, "
                            f"or a clock that is off)")
    parts = {"body": request.body, "timestamp": timestamp.encode(), "method": request.method.upper().encode(),
             "url": (auth.public_url or request.url).encode()}
    message = b"".join(literal.encode() + (parts[name] if name else b"")
                       for literal, name, _, _ in string.Formatter().parse(auth.signed))
    algorithm = hashlib.sha256 if auth.algorithm == "sha256" else hashlib.sha1
    given = sent.lower().encode() if auth.encoding == "hex" else sent.encode()
    expected = []
    for secret in secrets:
        digest = hmac.new(secret.encode(), message, algorithm).digest()
        expected.append(digest.hex().encode() if auth.encoding == "hex" else base64.b64encode(digest))
    _match(given, expected, "signature")
