"""The scrubber masks credentials, not the English around them (issue 11 §6)."""

from __future__ import annotations

import base64

import pytest

from connector.logs import scrub


@pytest.mark.parametrize("text", [
    "expected HTTP Basic credentials",
    "expected HTTP Basic auth with the API key as user name",
    "use a Bearer token in the Authorization header",
    "Basic Authentication is required",
])
def test_reasons_that_only_name_a_scheme_are_left_alone(text):
    assert scrub(text) == text


@pytest.mark.parametrize("credential", [
    "Basic " + base64.b64encode(b"agent@example.com:hunter2").decode(),
    "Basic " + base64.b64encode(b"user:pass").decode(),        # dXNlcjpwYXNz: letters only, mixed case
    "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    "bearer abcdefghijklmnopqrstuvwxyz",                        # long enough to be a token whatever it looks like
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
])
def test_credentials_are_masked(credential):
    masked = scrub(f"header was {credential}, refused")
    assert credential.split()[-1] not in masked and "***" in masked
