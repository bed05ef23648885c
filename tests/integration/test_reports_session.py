"""The browser's way in (issue 12): a sign-in link → a session cookie → /reports and /tickets, on the Flask client.

Cookie flags, the redirect that drops the code, reports and tickets opened with the cookie, the bearer token
still accepted, wrong, reused and expired codes refused (JSON, or a page for a browser), one use across two
apps on one database, and no code, token or cookie value in any log record.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.config import Config
from connector.runtime.worker import TicketProcessor
from connector.service.session import COOKIE, LINK_TTL_SECONDS, SESSION_TTL_SECONDS, login_link
from connector.store import Store
from tests.integration.support import make_app
from tests.report_support import NOW, example_config, example_events

BASE = "http://localhost"


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
def config() -> Config:
    return example_config()


def _feed(store: Store, config: Config) -> None:
    """Apply the example events, for the tests that look at a report's or a ticket's content."""
    processor = TicketProcessor(store, config, writers={}, clock=lambda: NOW)
    for event in example_events():
        processor.apply_event(event)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def api(store: Store, token: str, config: Config, clock: Clock) -> Flask:
    return make_app(store, token=token, config=config, clock=clock)


@pytest.fixture
def browser(api: Flask) -> FlaskClient:
    return api.test_client()


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _link(token: str, at: datetime = NOW) -> str:
    return login_link(BASE, token, now=at.timestamp())


def _cookies(response) -> dict[str, dict[str, str]]:
    """The Set-Cookie headers of a response, by Path: each cookie's value and attributes (lower-case names)."""
    out = {}
    for header in response.headers.getlist("Set-Cookie"):
        first, *attributes = header.split("; ")
        name, _, value = first.partition("=")
        flags = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attributes}
        out[flags["path"]] = {"name": name, "value": value, **flags}
    return out


HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}   # what Chromium sends


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert data["error"] == code
    return str(data["reason"])


def test_the_link_sets_the_session_cookie_and_redirects_to_the_report(browser: FlaskClient, token: str,
                                                                      store: Store, config: Config):
    _feed(store, config)
    link = _link(token)
    response = browser.get(_path(link))
    assert response.status_code == 303
    assert response.headers["Location"] == "/reports/sla"          # the code stays behind: not in the next URL
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    cookies = _cookies(response)
    assert set(cookies) == {"/reports", "/tickets", "/board", "/board.json"}                 # only where it is needed
    for cookie in cookies.values():
        assert cookie["name"] == COOKIE
        assert "httponly" in cookie and cookie["samesite"] == "Strict" and "secure" not in cookie   # plain http
        assert cookie["max-age"] == str(SESSION_TTL_SECONDS)
        assert token not in cookie["value"] and urlsplit(link).query not in cookie["value"]
    assert cookies["/reports"]["value"] == cookies["/tickets"]["value"]

    page = browser.get("/reports/sla", headers=HTML)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<main class="report report-sla">' in page.get_data(as_text=True)
    assert 'id="table-breaches"' in page.get_data(as_text=True)
    assert f"{COOKIE}=" in page.request.headers["Cookie"]
    findings = browser.get("/reports/audit?table=findings")
    assert findings.status_code == 200 and findings.mimetype == "text/csv"
    ticket = browser.get("/tickets/zendesk/1002")
    assert ticket.status_code == 200 and ticket.get_json()["ticket"]["id"] == "1002"
    for elsewhere in ("/healthz", "/metrics", "/login"):             # the cookie goes nowhere else
        assert "Cookie" not in browser.get(elsewhere).request.headers, elsewhere


def test_over_https_the_cookie_is_secure(browser: FlaskClient, token: str):
    response = browser.get(_path(_link(token)), base_url="https://localhost")
    assert response.status_code == 303
    assert all("secure" in c for c in _cookies(response).values())
    assert browser.get("/reports/sla", base_url="https://localhost").status_code == 200


def test_a_link_works_once(browser: FlaskClient, token: str):
    path = _path(_link(token))
    assert browser.get(path).status_code == 303
    again = browser.get(path)
    assert _error(again, 401, "unauthorized") == "this sign-in link was already used: a link works once"
    assert again.headers["WWW-Authenticate"].startswith("Bearer") and "Set-Cookie" not in again.headers
    # a browser gets a page that says so, with the form for the token
    page = browser.get(path, headers=HTML)
    assert page.status_code == 401 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "This sign-in link was already used: a link works once." in text
    assert '<form method="post" action="/login">' in text and 'name="token"' in text
    assert urlsplit(path).query not in text                          # the code is not repeated
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_an_expired_link_is_refused(browser: FlaskClient, token: str):
    old = _link(token, NOW - timedelta(seconds=LINK_TTL_SECONDS))
    assert "expired" in _error(browser.get(_path(old)), 401, "unauthorized")
    assert browser.get("/reports/sla?format=json").status_code == 401          # no session came of it
    last_second = _link(token, NOW - timedelta(seconds=LINK_TTL_SECONDS - 1))
    assert browser.get(_path(last_second)).status_code == 303


def test_a_tampered_link_or_another_token_is_refused(browser: FlaskClient, token: str):
    path = _path(_link(token))
    issued, nonce, mac = path.split("code=")[1].split(".")
    for bad in (f"/login?code={int(issued) + 60}.{nonce}.{mac}", f"/login?code={issued}.{nonce}.{mac[:-2]}",
                f"/login?code={issued}.{nonce[::-1]}.{mac}", "/login?code=", "/login?code=" + "9" * 5000,
                _path(_link(token + "x"))):
        reason = _error(browser.get(bad), 401, "unauthorized")
        assert reason == "this sign-in link is not valid (cut short, mistyped, or made for another API token)"
    assert browser.get(path).status_code == 303                      # the real one still works


def test_a_link_spent_on_one_web_process_is_refused_by_another(store: Store, token: str, config: Config,
                                                                browser: FlaskClient):
    other_store = Store(store.url)                 # another process (or machine): its own engine, the same database
    try:
        other = make_app(other_store, token=token, config=config, clock=lambda: NOW).test_client()
        path = _path(_link(token))
        assert browser.get(path).status_code == 303
        assert "already used" in _error(other.get(path), 401, "unauthorized")
        # and a session made by one process is good on the other: nothing of it is kept in memory
        fresh = other.get(_path(_link(token)))
        assert fresh.status_code == 303
        value = _cookies(fresh)["/reports"]["value"]
        stranger = make_app(store, token=token, config=config, clock=lambda: NOW).test_client()
        stranger.set_cookie(COOKIE, value, path="/reports")
        assert stranger.get("/reports/sla?format=json").status_code == 200
    finally:
        other_store.dispose()


def test_the_bearer_token_still_works_and_decides_alone(browser: FlaskClient, token: str):
    assert browser.get("/reports/sla?format=json", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert browser.get(_path(_link(token))).status_code == 303
    assert browser.get("/reports/sla?format=json").status_code == 200
    # a wrong bearer token is refused whatever cookie comes with it
    wrong = browser.get("/reports/sla?format=json", headers={"Authorization": "Bearer nope-nope-nope"})
    assert _error(wrong, 401, "unauthorized") == "missing or wrong bearer token"


def test_the_session_expires(browser: FlaskClient, token: str, clock: Clock):
    assert browser.get(_path(_link(token))).status_code == 303
    clock.at = NOW + timedelta(seconds=SESSION_TTL_SECONDS - 1)
    assert browser.get("/reports/sla?format=json").status_code == 200
    clock.at = NOW + timedelta(seconds=SESSION_TTL_SECONDS)
    reason = _error(browser.get("/reports/sla?format=json"), 401, "unauthorized")
    assert reason == "the session cookie has expired or is not valid: sign in again, or send the bearer token"
    page = browser.get("/tickets/zendesk/1002", headers=HTML)
    assert page.status_code == 401 and "The session cookie has expired" in page.get_data(as_text=True)


def test_a_forged_cookie_is_refused(browser: FlaskClient, token: str):
    browser.set_cookie(COOKIE, "4102444800.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", path="/reports")
    assert "session cookie" in _error(browser.get("/reports/sla?format=json"), 401, "unauthorized")


def test_a_browser_without_a_session_gets_the_form_and_comes_back(browser: FlaskClient, token: str):
    wanted = "/reports/kpis?format=html&tz=America/New_York"
    page = browser.get(wanted, headers=HTML)
    assert page.status_code == 401 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert f'name="next" value="{html.escape(wanted, quote=True)}"' in text
    assert page.headers["WWW-Authenticate"].startswith("Bearer") and page.headers["Vary"] == "Accept"
    # API clients keep their JSON
    assert _error(browser.get(wanted), 401, "unauthorized") == "missing or wrong bearer token"

    signed_in = browser.post("/login", data={"token": token, "next": wanted})
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == wanted
    assert set(_cookies(signed_in)) == {"/reports", "/tickets", "/board", "/board.json"}
    assert browser.get(wanted).status_code == 200


def test_a_wrong_token_in_the_form_is_refused(browser: FlaskClient, token: str):
    for given in ("", token[:-1], token + " x", "x" * 5000):
        response = browser.post("/login", data={"token": given}, headers=HTML)
        assert response.status_code == 401 and "Wrong API token." in response.get_data(as_text=True)
        assert "Set-Cookie" not in response.headers
    assert _error(browser.post("/login", data={"token": "nope"}), 401, "unauthorized") == "wrong API token"
    # surrounding blanks from a paste are forgiven
    assert browser.post("/login", data={"token": f" {token}\n"}).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/reports/sla", "/hooks/webhook",
                                    "/reports/../healthz\r\n"])
def test_the_form_goes_only_to_pages_of_the_app(browser: FlaskClient, token: str, target: str):
    response = browser.post("/login", data={"token": token, "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/reports/sla"


def test_a_link_opened_from_another_site_moves_on_by_itself(browser: FlaskClient, token: str):
    # a redirect would not carry the Strict cookie after a cross-site navigation: a page that refreshes does
    response = browser.get(_path(_link(token)), headers={**HTML, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="0; url=/reports/sla">' in response.get_data(as_text=True)
    assert set(_cookies(response)) == {"/reports", "/tickets", "/board", "/board.json"}
    assert browser.get("/reports/sla?format=json").status_code == 200


def test_a_link_checker_does_not_spend_the_link(browser: FlaskClient, token: str):
    path = _path(_link(token))
    checked = browser.head(path)
    assert checked.status_code == 200 and "Set-Cookie" not in checked.headers
    assert browser.get(path).status_code == 303


def test_the_sign_in_form_page(browser: FlaskClient):
    page = browser.get("/login?next=/reports/audit")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert 'type="password"' in text and 'name="next" value="/reports/audit"' in text
    assert not re.search(r"<(?:script|img|link|iframe)\b", text)


def test_sign_in_is_off_without_a_token(store: Store, config: Config):
    client = make_app(store, token=None, config=config, clock=lambda: NOW).test_client()
    link = login_link(BASE, "tok_whatever_123456", now=NOW.timestamp())
    assert _error(client.get(_path(link)), 403, "forbidden") == "set CONNECTOR_API_TOKEN to enable sign-in"
    assert _error(client.post("/login", data={"token": "x"}), 403, "forbidden")


def test_no_code_token_or_cookie_in_any_log_record(browser: FlaskClient, token: str, clock: Clock,
                                                   caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [token]
    steps: list[Callable[[], object]] = []
    good, used, old = _link(token), _link(token), _link(token, NOW - timedelta(hours=1))
    for link in (good, used, old):
        code = urlsplit(link).query.removeprefix("code=")
        secrets += [code, *code.split(".")[1:]]                   # the code, its nonce and its signature
    steps += [lambda: browser.get(_path(good)), lambda: browser.get(_path(used)), lambda: browser.get(_path(used)),
              lambda: browser.get(_path(used), headers=HTML), lambda: browser.get(_path(old)),
              lambda: browser.get(_path(good).replace("code=", "code=x")),
              lambda: browser.post("/login", data={"token": token[::-1]}),
              lambda: browser.post("/login", data={"token": token}),
              lambda: browser.get("/reports/sla?format=json"),
              lambda: browser.get("/reports/sla", headers={"Authorization": f"Bearer {token}x"})]
    for step in steps:
        response = step()
        secrets += [c["value"] for c in _cookies(response).values()]
    clock.at = NOW + timedelta(seconds=SESSION_TTL_SECONDS + 1)
    assert browser.get("/reports/sla", headers=HTML).status_code == 401   # an expired session, logged as such
    kinds = {getattr(r, "reason", None) for r in caplog.records}
    assert {"spent", "expired", "invalid", "wrong_token", "session_expired", "unauthorized"} <= kinds
    assert len(secrets) > 12
    for record in caplog.records:
        text = " ".join([record.getMessage(), repr(record.args), *(str(v) for v in record.__dict__.values())])
        for secret in secrets:
            assert secret not in text, (record.name, record.getMessage())
