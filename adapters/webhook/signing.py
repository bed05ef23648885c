"""Standard Webhooks v1 symmetric signatures (HMAC-SHA256), both directions.

    webhook-signature: v1,<base64(HMAC_SHA256(key, f"{webhook-id}.{webhook-timestamp}." + raw_body))> …

The key is the base64 decoding of the secret after its `whsec_` prefix. The header is a space-separated
list, so a sender rotating its secret can sign with both; a receiver holding several secrets (ours:
`CONNECTOR_WEBHOOK_SECRET=new,old`) accepts a match of any entry with any secret. `v1a,` (ed25519) and
unknown versions are ignored. The timestamp must be within `tolerance` seconds of now, in the past or in
the future, which bounds how long a captured request can be replayed.

Refusals raise `AuthError` whose reason names the failed check and never a secret or an expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from adapters.base import header_value
from connector.errors import AuthError

PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # the spec's lower bound; shorter keys are a configuration mistake
MAX_ID_LENGTH = 256
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_ID = re.compile(r"[\x21-\x2d\x2f-\x7e]+")  # printable ASCII without "." (the field separator) or spaces


@lru_cache(maxsize=32)  # verify runs per request; decoding the same few secrets again is waste
def decode_secret(secret: str) -> bytes:
    """Return the HMAC key of a `whsec_` secret; raise ValueError (never quoting the secret) if it is not one."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ValueError(f"a webhook secret must start with {PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret must be {PREFIX!r} followed by base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a webhook secret must encode at least {MIN_KEY_BYTES} bytes, this one has {len(key)}")
    return key


def _digest(key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the `v1,<base64>` signature of one message."""
    if not _ID.fullmatch(msg_id) or len(msg_id) > MAX_ID_LENGTH:
        raise ValueError("a webhook id must be 1-256 printable ASCII characters without '.' or spaces")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("a webhook timestamp must be a non-negative integer (Unix seconds)")
    return "v1," + base64.b64encode(_digest(decode_secret(secret), msg_id, timestamp, body)).decode("ascii")


def _tolerance_text(tolerance: int) -> str:
    return f"{tolerance // 60}-minute" if tolerance % 60 == 0 else f"{tolerance}-second"


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: float,
           tolerance: int = 300) -> str:
    """Check a request's Standard Webhooks signature; return its webhook-id or raise `AuthError`."""
    msg_id = header_value(headers, ID_HEADER)
    stamp = header_value(headers, TIMESTAMP_HEADER)
    signatures = header_value(headers, SIGNATURE_HEADER)
    for name, value in ((ID_HEADER, msg_id), (TIMESTAMP_HEADER, stamp), (SIGNATURE_HEADER, signatures)):
        if not value or not value.strip():
            raise AuthError(f"missing {name} header")
    assert msg_id is not None and stamp is not None and signatures is not None
    msg_id, stamp = msg_id.strip(), stamp.strip()
    if "." in msg_id:
        raise AuthError("webhook-id must not contain '.'")
    if len(msg_id) > MAX_ID_LENGTH or not _ID.fullmatch(msg_id):
        raise AuthError(f"webhook-id must be 1-{MAX_ID_LENGTH} printable ASCII characters")
    if not _TIMESTAMP.fullmatch(stamp):
        raise AuthError("webhook-timestamp is not an integer")
    if abs(now - int(stamp)) > tolerance:
        raise AuthError(f"timestamp outside the {_tolerance_text(tolerance)} tolerance")

    given: list[bytes] = []
    for entry in signatures.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # v1a (ed25519) and future versions: not ours to check
        try:
            given.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue  # one garbled entry must not hide a good one
    valid = False
    for secret in secrets:
        expected = _digest(decode_secret(secret), msg_id, stamp, body)
        for candidate in given:
            # no early exit: the time taken does not depend on which entry or secret matched
            valid |= hmac.compare_digest(expected, candidate)
    if not valid:
        raise AuthError("no valid signature")
    return msg_id
