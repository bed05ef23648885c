"""Zendesk webhook signatures (HMAC-SHA256), checked over the raw body before anything parses it.

    X-Zendesk-Webhook-Signature: base64(HMAC_SHA256(key=secret.encode("utf-8"), msg=timestamp + raw_body))
    X-Zendesk-Webhook-Signature-Timestamp: 2021-03-25T05:09:27Z

The key is the signing secret's UTF-8 bytes as they are: it looks like base64 but is not decoded. The
timestamp header string is prepended to the body with no separator; an empty body signs the timestamp
alone. Zendesk re-signs every retry, so the timestamp must be within `tolerance` seconds of now, in the past
or in the future. Several secrets may be configured (rotation); any one verifies, and every one is tried
so the time taken does not say which matched.

Which published example this follows: the current docs (`base64(HMACSHA256(TIMESTAMP + BODY))`), which the
public vectors made with Zendesk's test secret agree with (zendesk-go's signed `group_membership_created`
request, a Rust suite's `ticket.updated` vector; see tests/adapters/zendesk/test_signing.py). An older docs
page printed a numeric example (secret `HRkRd4…`, body `{"say": "hello"}`, timestamp `2021-07-25T10:00:00Z`)
that only verifies as BODY + TIMESTAMP; no current source says Zendesk signs that way, so that order is never
accepted. A request signed in that order is refused with a reason that says so, to spare whoever hand-signed
a test request an afternoon.

Refusals raise `AuthError` whose reason names the failed check and never a secret or an expected signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from adapters.base import header_value
from adapters.zendesk.mapping import read_instant
from connector.errors import AuthError, PayloadError
from connector.events import INSTANT_RANGE

SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
LEGACY_ORDER = ("no valid signature (it matches body + timestamp, the order of an old Zendesk docs example; "
                "Zendesk signs timestamp + body)")


def _digest(secret: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()


def sign(secret: str, timestamp_header: str, body: bytes) -> str:
    """Return the X-Zendesk-Webhook-Signature value for a body signed at `timestamp_header`."""
    if not secret:
        raise ValueError("a Zendesk signing secret must not be empty")
    return base64.b64encode(_digest(secret, timestamp_header, body)).decode("ascii")


def parse_timestamp(value: str) -> float:
    """Return the Unix time of a signature timestamp header; raise `AuthError` if it is not ISO 8601."""
    try:
        instant = read_instant(value, TIMESTAMP_HEADER)
    except PayloadError:  # not a valid date and time, or outside 1970-2099: either way no signature time
        instant = None
    if instant is None:
        raise AuthError(f"{TIMESTAMP_HEADER} is not an ISO 8601 timestamp like 2021-03-25T05:09:27Z "
                        f"within {INSTANT_RANGE}")
    return instant.at.timestamp()


def _tolerance_text(tolerance: int) -> str:
    return f"{tolerance // 60}-minute" if tolerance % 60 == 0 else f"{tolerance}-second"


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, *, now: float,
           tolerance: int = 300) -> None:
    """Check a request's Zendesk signature against every secret; raise `AuthError` unless one matches in time."""
    signature = header_value(headers, SIGNATURE_HEADER)
    stamp = header_value(headers, TIMESTAMP_HEADER)
    for name, value in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, stamp)):
        if not value or not value.strip():
            raise AuthError(f"missing {name} header")
    assert signature is not None and stamp is not None
    if abs(now - parse_timestamp(stamp)) > tolerance:
        raise AuthError(f"timestamp outside the {_tolerance_text(tolerance)} tolerance")
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise AuthError(f"{SIGNATURE_HEADER} is not base64") from None
    valid = False
    for secret in secrets:
        # the raw header string is what Zendesk signed: never a re-formatted timestamp
        valid |= hmac.compare_digest(_digest(secret, stamp, body), given)  # no early exit
    if not valid:
        # diagnosis only, on the refusal path: the legacy order is never accepted
        legacy = any(hmac.compare_digest(_legacy_digest(secret, stamp, body), given) for secret in secrets)
        raise AuthError(LEGACY_ORDER if legacy else "no valid signature")


def _legacy_digest(secret: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), body + timestamp.encode("utf-8"), hashlib.sha256).digest()
