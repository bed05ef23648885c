"""Freshdesk webhook authentication: a token header or Basic credentials against rotating secrets."""

from __future__ import annotations

import base64

import pytest

from adapters.freshdesk.auth import TOKEN_HEADER, verify
from connector.errors import AuthError

NEW, OLD = "n3w-s3cret-value", "0ld-s3cret-value"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("headers", [
    {TOKEN_HEADER: NEW}, {TOKEN_HEADER: OLD}, {"X-Connector-Token": f" {NEW} "},
    {"authorization": basic("freshdesk", NEW)}, {"Authorization": basic("", OLD)},
    {"authorization": basic("any user", NEW)},
    {TOKEN_HEADER: "wrong", "authorization": basic("u", OLD)},  # either credential may carry it
])
def test_a_matching_secret_passes(headers):
    verify([NEW, OLD], headers)


def test_a_password_with_a_colon_is_kept_whole():
    verify(["a:b"], {"authorization": basic("user", "a:b")})


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing credentials"),
    ({"content-type": "application/json"}, "missing credentials"),
    ({TOKEN_HEADER: "nope"}, "no valid credentials"),
    ({TOKEN_HEADER: ""}, "no valid credentials"),
    ({"authorization": basic("u", "nope")}, "no valid credentials"),
    ({"authorization": "Bearer " + NEW}, "expected HTTP Basic"),
    ({"authorization": "Basic"}, "expected HTTP Basic"),
    ({"authorization": "Basic !!!notbase64"}, "not base64"),
    ({"authorization": "Basic " + base64.b64encode(b"nocolon").decode()}, "not base64 of user:password"),
    ({"authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()}, "not base64"),
    ({TOKEN_HEADER: "x" * 2000}, "too long"),
])
def test_refusals_have_clean_reasons(headers, reason):
    with pytest.raises(AuthError, match=reason) as info:
        verify([NEW, OLD], headers)
    assert info.value.status == 401
    for secret in (NEW, OLD):
        assert secret not in info.value.reason and secret not in str(info.value)
    for value in headers.values():
        if len(value) > 8:
            assert value not in info.value.reason


def test_a_prefix_or_an_extension_of_a_secret_fails():
    for given in (NEW[:-1], NEW + "x", NEW.upper()):
        with pytest.raises(AuthError):
            verify([NEW], {TOKEN_HEADER: given})


@pytest.mark.parametrize("secrets", [[], [""], NEW])
def test_no_usable_secret_refuses_everything(secrets):
    with pytest.raises(AuthError, match="FRESHDESK_WEBHOOK_SECRET"):
        verify(secrets, {TOKEN_HEADER: NEW})
