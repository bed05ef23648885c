"""Standard Webhooks v1 signatures: the published vector, rotation, tolerance, refusals that leak nothing."""

from __future__ import annotations

import base64

import pytest

from adapters.webhook import sign, verify
from adapters.webhook.signing import decode_secret
from connector.errors import AuthError

# The Standard Webhooks docs' vector (also in reference/samples/signature_test_vectors.json).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

NEW = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()


def headers(signature: str = EXPECTED, *, msg_id: str = MSG_ID, ts: int | str = TS) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_the_published_vector_signs_to_the_expected_value():
    assert sign(SECRET, MSG_ID, TS, BODY) == EXPECTED


def test_the_published_vector_verifies_with_the_clock_frozen_near_it():
    assert verify([SECRET], headers(), BODY, now=TS + 12.5) == MSG_ID


def test_header_names_match_in_any_case():
    mixed = {"Webhook-Id": MSG_ID, "WEBHOOK-TIMESTAMP": str(TS), "webhook-Signature": EXPECTED}
    assert verify([SECRET], mixed, BODY, now=TS) == MSG_ID


def test_one_changed_byte_of_body_id_or_timestamp_fails():
    with pytest.raises(AuthError, match="no valid signature"):
        verify([SECRET], headers(), BODY.replace(b"2", b"3", 1), now=TS)
    with pytest.raises(AuthError, match="no valid signature"):
        verify([SECRET], headers(msg_id=MSG_ID + "x"), BODY, now=TS)
    with pytest.raises(AuthError, match="no valid signature"):
        verify([SECRET], headers(ts=TS + 1), BODY, now=TS)


# --- rotation and several signatures -------------------------------------------------------------


def test_rotation_accepts_the_new_and_the_old_secret():
    body = b'{"ticket_id": "1"}'
    by_new = sign(NEW, "msg_a", 1_700_000_000, body)
    by_old = sign(OLD, "msg_a", 1_700_000_000, body)
    for signature in (by_new, by_old):
        assert verify([NEW, OLD], headers(signature, msg_id="msg_a", ts=1_700_000_000), body,
                      now=1_700_000_000) == "msg_a"
    with pytest.raises(AuthError):
        verify([NEW], headers(by_old, msg_id="msg_a", ts=1_700_000_000), body, now=1_700_000_000)


def test_any_entry_of_a_multi_signature_header_may_match():
    good = sign(SECRET, MSG_ID, TS, BODY)
    forged = "v1," + base64.b64encode(b"\0" * 32).decode()
    ed25519 = "v1a," + base64.b64encode(b"\1" * 64).decode()
    for header in (f"{forged} {good}", f"{good} {forged}", f"{ed25519}  {good}", f"v2,abc v1,!!notbase64!! {good}"):
        assert verify([SECRET], headers(header), BODY, now=TS) == MSG_ID


def test_v1a_and_unknown_versions_alone_are_not_enough():
    digest = EXPECTED.split(",", 1)[1]
    for header in (f"v1a,{digest}", f"v2,{digest}", digest, f"V1,{digest}"):
        with pytest.raises(AuthError, match="no valid signature"):
            verify([SECRET], headers(header), BODY, now=TS)


def test_no_secrets_fails_closed():
    with pytest.raises(AuthError, match="no valid signature"):
        verify([], headers(), BODY, now=TS)


# --- tolerance -----------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_timestamps_inside_the_tolerance_pass(offset):
    assert verify([SECRET], headers(), BODY, now=TS + offset) == MSG_ID


@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**9])
def test_timestamps_too_old_or_too_new_fail(offset):
    # now = TS + offset: a positive offset means the message is too old, a negative one too new
    with pytest.raises(AuthError, match="timestamp outside the 5-minute tolerance"):
        verify([SECRET], headers(), BODY, now=TS + offset)


def test_tolerance_is_a_parameter():
    assert verify([SECRET], headers(), BODY, now=TS + 3000, tolerance=3600) == MSG_ID
    with pytest.raises(AuthError, match="outside the 30-second tolerance"):
        verify([SECRET], headers(), BODY, now=TS + 31, tolerance=30)


# --- missing and garbled headers -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_or_blank_header_is_named(name):
    without = {k: v for k, v in headers().items() if k != name}
    with pytest.raises(AuthError, match=f"^missing {name} header$"):
        verify([SECRET], without, BODY, now=TS)
    blank = {**headers(), name: "  "}
    with pytest.raises(AuthError, match=f"^missing {name} header$"):
        verify([SECRET], blank, BODY, now=TS)


@pytest.mark.parametrize("ts", ["1614265330.5", "-1614265330", "1e9", "abc", "１６１４２６５３３０", "9" * 40])
def test_a_timestamp_that_is_not_an_integer_fails(ts):
    with pytest.raises(AuthError, match="webhook-timestamp is not an integer"):
        verify([SECRET], headers(ts=ts), BODY, now=TS)


@pytest.mark.parametrize("msg_id", ["msg.1", "."])
def test_an_id_with_a_dot_fails(msg_id):
    with pytest.raises(AuthError, match="webhook-id must not contain '.'"):
        verify([SECRET], headers(msg_id=msg_id), BODY, now=TS)


@pytest.mark.parametrize("msg_id", ["msg 1", "msg_é", "x" * 257, "msg\x00"])
def test_an_id_that_is_not_a_short_printable_token_fails(msg_id):
    with pytest.raises(AuthError, match="webhook-id must be"):
        verify([SECRET], headers(msg_id=msg_id), BODY, now=TS)


def test_sign_refuses_what_verify_would_refuse():
    with pytest.raises(ValueError):
        sign(SECRET, "msg.1", TS, BODY)
    with pytest.raises(ValueError):
        sign(SECRET, MSG_ID, -1, BODY)


# --- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",        # no prefix
    "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",   # an ed25519 private key prefix
    "whsec_not base64!",
    "whsec_",
    "whsec_c2hvcnQ=",                          # "short": fewer than 24 bytes
])
def test_a_secret_that_is_not_whsec_base64_is_a_value_error_that_does_not_quote_it(secret):
    with pytest.raises(ValueError) as info:
        decode_secret(secret)
    assert secret.removeprefix("whsec_") not in str(info.value) or secret == "whsec_"
    with pytest.raises(ValueError):
        sign(secret, MSG_ID, TS, BODY)


def test_refusals_never_contain_a_secret_or_the_expected_signature():
    key_text = SECRET.removeprefix("whsec_")
    expected_digest = EXPECTED.split(",", 1)[1]
    cases = [
        (headers("v1," + base64.b64encode(b"x" * 32).decode()), BODY, TS),
        (headers(), BODY + b" ", TS),
        (headers(), BODY, TS + 10_000),
        (headers(ts="soon"), BODY, TS),
        ({}, BODY, TS),
    ]
    for hdrs, body, now in cases:
        with pytest.raises(AuthError) as info:
            verify([SECRET, NEW], hdrs, body, now=now)
        text = f"{info.value} {info.value.reason!r} {info.value.args!r}"
        for needle in (SECRET, key_text, NEW, expected_digest):
            assert needle not in text
        assert info.value.__cause__ is None
