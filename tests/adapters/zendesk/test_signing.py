"""Zendesk signatures: the published construction, rotation, tolerance, bad headers, no secret in errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.zendesk.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from connector.errors import AuthError

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "reference" / "samples"  # beside the project
VECTORS = json.loads((SAMPLES / "signature_test_vectors.json").read_text())["zendesk"]["vectors"] \
    if (SAMPLES / "signature_test_vectors.json").exists() else []
# The three vectors, inline too, so the test does not depend on the reference folder.
TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
STAMP = "2021-03-25T05:09:27Z"
NOW = 1616648967.0  # 2021-03-25T05:09:27Z
INLINE = [
    (b'{"event":"ticket.updated","id":123}', "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM="),
    (b'{"ticket_id":"35436","priority":"urgent"}', "QY9Poz7d1b1zpUCVjL0pAgj5lum1CAqdPHATKmuPsw8="),
    (b"", "wCdBvXaHttn0wRVIYctzZ9O6O0bnqWakJMEKZ9VoRWw="),
]


def headers(signature: str, stamp: str = STAMP) -> dict[str, str]:
    return {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp}


@pytest.mark.parametrize(("body", "expected"), INLINE)
def test_the_three_zendesk_vectors(body: bytes, expected: str):
    assert sign(TEST_SECRET, STAMP, body) == expected
    verify([TEST_SECRET], headers(expected), body, now=NOW)


def test_the_reference_file_agrees():
    if not VECTORS:
        pytest.skip("reference samples not present")
    assert [(v["raw_body"].encode(), v["expected_signature_header"]) for v in VECTORS] == INLINE
    for v in VECTORS:
        verify([v["secret_used_verbatim_as_utf8_key"]], headers(v["expected_signature_header"], v["timestamp_header"]),
               v["raw_body"].encode(), now=NOW)


def test_header_names_are_case_insensitive():
    body, signature = INLINE[0]
    verify([TEST_SECRET], {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": STAMP},
           body, now=NOW)


def test_rotation_any_secret_verifies():
    body = b'{"a":1}'
    verify(["new-secret", TEST_SECRET], headers(sign(TEST_SECRET, STAMP, body)), body, now=NOW)
    verify([TEST_SECRET, "new-secret"], headers(sign("new-secret", STAMP, body)), body, now=NOW)


def test_tolerance_both_ways():
    body, signature = INLINE[0]
    verify([TEST_SECRET], headers(signature), body, now=NOW + 300)
    verify([TEST_SECRET], headers(signature), body, now=NOW - 300)
    for now in (NOW + 301, NOW - 301):
        with pytest.raises(AuthError, match="outside the 5-minute tolerance"):
            verify([TEST_SECRET], headers(signature), body, now=now)
    verify([TEST_SECRET], headers(signature), body, now=NOW + 900, tolerance=900)
    with pytest.raises(AuthError, match="90-second"):
        verify([TEST_SECRET], headers(signature), body, now=NOW + 91, tolerance=90)


def test_the_body_timestamp_order_and_the_exact_bytes_matter():
    body, signature = INLINE[0]
    with pytest.raises(AuthError, match="^no valid signature$"):
        verify([TEST_SECRET], headers(signature), body + b" ", now=NOW)
    legacy = sign(TEST_SECRET, "", body + STAMP.encode())  # body + timestamp: the old docs' order
    with pytest.raises(AuthError, match="^no valid signature$"):
        verify([TEST_SECRET], headers(legacy), body, now=NOW)


@pytest.mark.parametrize(("given", "message"), [
    ({}, f"missing {SIGNATURE_HEADER} header"),
    ({SIGNATURE_HEADER: INLINE[0][1]}, f"missing {TIMESTAMP_HEADER} header"),
    ({SIGNATURE_HEADER: " ", TIMESTAMP_HEADER: STAMP}, f"missing {SIGNATURE_HEADER} header"),
    (headers(INLINE[0][1], "1616648967"), "is not an ISO 8601 timestamp"),
    (headers(INLINE[0][1], "2021-03-25T05:09:27"), "is not an ISO 8601 timestamp"),
    (headers(INLINE[0][1], "2021-02-30T05:09:27Z"), "is not an ISO 8601 timestamp"),
    (headers(INLINE[0][1], "x" * 5000), "is not an ISO 8601 timestamp"),
    (headers("not base64!"), "is not base64"),
    (headers("ünïcode"), "is not base64"),
    (headers("AAAA"), "^no valid signature$"),
])
def test_bad_headers_are_auth_errors(given: dict[str, str], message: str):
    with pytest.raises(AuthError, match=message):
        verify([TEST_SECRET], given, INLINE[0][0], now=NOW)


def test_a_fractional_or_offset_timestamp_is_read():
    body = b"{}"
    for stamp in ("2021-03-25T05:09:27.123456789Z", "2021-03-25T07:09:27+02:00"):
        verify([TEST_SECRET], headers(sign(TEST_SECRET, stamp, body), stamp), body, now=NOW)


def test_no_secret_or_expected_signature_in_any_reason():
    body = b'{"a":1}'
    expected = sign(TEST_SECRET, STAMP, body)
    reasons = []
    for given, now in ((headers("AAAA"), NOW), (headers(expected), NOW + 999), (headers("??"), NOW), ({}, NOW)):
        with pytest.raises(AuthError) as info:
            verify([TEST_SECRET, "other-secret"], given, body, now=now)
        reasons.append(info.value.reason)
    text = " ".join(reasons)
    assert TEST_SECRET not in text and "other-secret" not in text and expected not in text


def test_an_empty_secret_cannot_sign():
    with pytest.raises(ValueError):
        sign("", STAMP, b"")
