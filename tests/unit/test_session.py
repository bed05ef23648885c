"""Sign-in links and session cookies (connector/service/session.py): signing, expiry, one use, tampering."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from connector.service.session import (
    CLOCK_SKEW_SECONDS,
    KEEP_SPENT_SECONDS,
    LINK_TTL_SECONDS,
    REASONS,
    SESSION_TTL_SECONDS,
    Code,
    Refused,
    login_link,
    new_session,
    read_code,
    safe_next,
    same_secret,
    session_valid,
    spend,
)
from connector.store import Store
from connector.store.schema import login_codes

TOKEN = "tok_Gq3vS0cT1mQy9Zr8hXk2Lw5P"
OTHER = "tok_Gq3vS0cT1mQy9Zr8hXk2Lw5Q"   # one character apart
T0 = 1_795_000_000.0                      # 2026-11-18T11:06:40Z


def _code(link: str) -> str:
    (code,) = parse_qs(urlsplit(link).query)["code"]
    return code


def test_a_link_is_the_login_route_with_a_signed_code():
    link = login_link("http://127.0.0.1:8080", TOKEN, now=T0)
    assert link.startswith("http://127.0.0.1:8080/login?code=")
    code = _code(link)
    assert re.fullmatch(r"1795000000\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", code)
    assert TOKEN not in link
    # a trailing slash or a path prefix (a proxy serving the connector under /sla) is kept, not doubled
    assert login_link("https://sla.example.com/sla/", TOKEN, now=T0).startswith("https://sla.example.com/sla/login?")
    # each link is new: the nonce is random
    assert len({_code(login_link("http://h", TOKEN, now=T0)) for _ in range(20)}) == 20


@pytest.mark.parametrize("base", ["127.0.0.1:8080", "ftp://h", "http://", "http://h/?x=1", "http://h/#top", ""])
def test_a_link_needs_an_http_base_url(base: str):
    with pytest.raises(ValueError, match="base_url"):
        login_link(base, TOKEN, now=T0)


def test_a_link_needs_a_token():
    with pytest.raises(ValueError, match="token"):
        login_link("http://h", "", now=T0)


def test_a_code_reads_back_until_it_expires():
    code = _code(login_link("http://h", TOKEN, now=T0))
    found = read_code(code, TOKEN, T0)
    assert found == Code(digest=hashlib.sha256(code.encode()).hexdigest(), expires_at=T0 + LINK_TTL_SECONDS)
    assert read_code(code, TOKEN, T0 + LINK_TTL_SECONDS - 1) == found
    for later in (T0 + LINK_TTL_SECONDS, T0 + LINK_TTL_SECONDS + 0.5, T0 + 86400):
        with pytest.raises(Refused) as refused:
            read_code(code, TOKEN, later)
        assert refused.value.kind == "expired" and "5 minutes" in refused.value.reason


def test_a_code_from_a_clock_slightly_ahead_works_but_not_one_from_the_future():
    ahead = _code(login_link("http://h", TOKEN, now=T0 + CLOCK_SKEW_SECONDS))
    assert read_code(ahead, TOKEN, T0).expires_at == T0 + CLOCK_SKEW_SECONDS + LINK_TTL_SECONDS
    future = _code(login_link("http://h", TOKEN, now=T0 + CLOCK_SKEW_SECONDS + 1))
    with pytest.raises(Refused) as refused:
        read_code(future, TOKEN, T0)
    assert refused.value.kind == "early"


def _tampered(code: str) -> list[str]:
    issued, nonce, mac = code.split(".")
    flip = {"A": "B"}.get(mac[0], "A")
    return [
        f"{int(issued) + 1}.{nonce}.{mac}",              # a later issue: a longer life
        f"{issued}.{nonce[:-1]}{'a' if nonce[-1] != 'a' else 'b'}.{mac}",
        f"{issued}.{nonce}.{flip}{mac[1:]}",
        f"{issued}.{nonce}.{mac[:-1]}",                  # cut short
        f"{issued}.{nonce}.{mac}x",
        f"{issued}.{nonce}.{mac}.{mac}",
        f"{issued}..{mac}",
        f"0{issued}.{nonce}.{mac}",
        code.upper(),
        code.replace(".", "%2E"),
        "",
        "x" * 100_000,
    ]


def test_a_tampered_code_is_invalid():
    code = _code(login_link("http://h", TOKEN, now=T0))
    for bad in _tampered(code):
        with pytest.raises(Refused) as refused:
            read_code(bad, TOKEN, T0)
        assert refused.value.kind == "invalid", bad[:80]
        assert refused.value.reason == REASONS["invalid"]     # a fixed sentence: nothing of the code in it


def test_a_code_signed_with_another_token_is_invalid():
    code = _code(login_link("http://h", OTHER, now=T0))
    with pytest.raises(Refused) as refused:
        read_code(code, TOKEN, T0)
    assert refused.value.kind == "invalid"


def test_a_session_is_valid_until_it_expires():
    value = new_session(TOKEN, T0)
    assert re.fullmatch(r"\d+\.[A-Za-z0-9_-]{43}", value) and TOKEN not in value
    assert int(value.split(".")[0]) == T0 + SESSION_TTL_SECONDS
    assert session_valid(TOKEN, value, T0)
    assert session_valid(TOKEN, value, T0 + SESSION_TTL_SECONDS - 1)
    assert not session_valid(TOKEN, value, T0 + SESSION_TTL_SECONDS)
    assert not session_valid(OTHER, value, T0)          # a new token ends every session


def test_a_tampered_session_is_refused():
    value = new_session(TOKEN, T0)
    expires, mac = value.split(".")
    for bad in (f"{int(expires) + 3600}.{mac}", f"{expires}.{mac[:-1]}", f"{expires}.{mac}=", f"{expires}",
                f"{expires}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}", "", None, "x" * 10_000, f" {value}"):
        assert not session_valid(TOKEN, bad, T0), bad


def test_links_and_sessions_use_different_keys():
    # a code's signature cannot be passed off as a session cookie (nor the other way round)
    issued, _nonce, mac = _code(login_link("http://h", TOKEN, now=T0)).split(".")
    assert not session_valid(TOKEN, f"{issued}.{mac}", T0)
    expires, session_mac = new_session(TOKEN, T0).split(".")
    with pytest.raises(Refused):
        read_code(f"{expires}.{'n' * 22}.{session_mac}", TOKEN, T0)


def test_same_secret_compares_whole_values():
    assert same_secret(TOKEN, TOKEN)
    assert not same_secret(OTHER, TOKEN)
    assert not same_secret(TOKEN[:-1], TOKEN) and not same_secret(TOKEN + "x", TOKEN) and not same_secret("", TOKEN)


@pytest.mark.parametrize(("given", "expected"), [
    ("/reports/kpis?format=html&tz=America/New_York", "/reports/kpis?format=html&tz=America/New_York"),
    ("/tickets/zendesk/1002/explain", "/tickets/zendesk/1002/explain"),
    (None, "/reports/sla"), ("", "/reports/sla"),
    ("https://evil.example/reports/", "/reports/sla"), ("//evil.example/reports/x", "/reports/sla"),
    ("/reports//evil.example", "/reports/sla"), ("/\\evil.example", "/reports/sla"), ("/hooks/webhook", "/reports/sla"),
    ("/reports/sla\r\nSet-Cookie: x=1", "/reports/sla"), ("/reports/é", "/reports/sla"), ("/reports", "/reports/sla"),
    ("/reports/" + "a" * 600, "/reports/sla"),
])
def test_only_pages_of_the_app_are_a_place_to_go_after_signing_in(given: str | None, expected: str):
    assert safe_next(given) == expected


# --- one use, across processes: the store's login_codes table -------------------------------------------------


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_a_code_is_spent_once_whichever_process_sees_it(store: Store):
    code = read_code(_code(login_link("http://h", TOKEN, now=T0)), TOKEN, T0)
    assert spend(store, code, _at(T0)) is True
    assert spend(store, code, _at(T0 + 1)) is False
    other_process = Store(store.url)              # a second web process (or machine) on the same database
    try:
        assert spend(other_process, code, _at(T0 + 2)) is False
        fresh = read_code(_code(login_link("http://h", TOKEN, now=T0)), TOKEN, T0)
        assert spend(other_process, fresh, _at(T0 + 2)) is True
    finally:
        other_process.dispose()
    with store.read() as conn:
        rows = conn.execute(select(login_codes)).all()
    assert {r.code_sha256 for r in rows} == {code.digest, fresh.digest}   # digests only, never the code
    assert all(r.expires_at == _at(T0 + LINK_TTL_SECONDS) for r in rows)


def test_spent_codes_are_forgotten_an_hour_after_they_expire(store: Store):
    old_code = _code(login_link("http://h", TOKEN, now=T0))
    assert spend(store, read_code(old_code, TOKEN, T0), _at(T0))
    later = T0 + LINK_TTL_SECONDS + KEEP_SPENT_SECONDS
    new = read_code(_code(login_link("http://h", TOKEN, now=later)), TOKEN, later)
    assert spend(store, new, _at(later))                 # expired exactly an hour ago: still kept
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(login_codes)).scalar_one() == 2
    after = later + 1
    newest = read_code(_code(login_link("http://h", TOKEN, now=after)), TOKEN, after)
    assert spend(store, newest, _at(after))
    with store.read() as conn:
        digests = set(conn.execute(select(login_codes.c.code_sha256)).scalars())
    assert digests == {new.digest, newest.digest}
    # the forgotten code cannot come back: its signed instant says it expired long ago
    with pytest.raises(Refused) as refused:
        read_code(old_code, TOKEN, after)
    assert refused.value.kind == "expired"
