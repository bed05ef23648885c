"""R7, no secret leaks: canary secrets never appear in an HTTP answer or a log record.

The canaries are the generic webhook secret, the API token, the Zendesk API token and a mapped source's
webhook token, HMAC secret and API token (issue 15), set in the environment the way an operator sets them.
A scripted mix of good and bad requests — including
requests that carry the secrets themselves in headers, paths and bodies, a dead database whose error
quotes a secret, and an unexpected exception whose message quotes one — runs against the app, with
every log record captured at DEBUG. Each canary is searched raw, base64-encoded, hex-encoded and
URL-quoted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from adapters.webhook import WebhookAdapter
from connector import logs
from connector.mapping import with_presets
from connector.runtime.worker import TicketProcessor
from connector.service import create_app
from connector.settings import Settings
from connector.store import Store
from tests import helpers
from tests.integration.support import created_body, new_webhook_secret, signed
from tests.integration.test_mapped_source import FIXTURES, JIRA

pytestmark = pytest.mark.reliability


@dataclass(frozen=True)
class Canaries:
    webhook_secret: str
    api_token: str
    zendesk_token: str
    zendesk_email: str
    mapped_token: str = ""
    mapped_hmac: str = ""
    mapped_api: str = ""
    preset_secret: str = ""

    def all(self) -> list[str]:
        return [self.webhook_secret, self.api_token, self.zendesk_token, self.mapped_token, self.mapped_hmac,
                self.mapped_api, self.preset_secret]

    def forms(self) -> dict[str, str]:
        """Every form a leak could take: raw, base64, hex, URL-quoted, and the webhook key itself."""
        out = {}
        for value in self.all():
            raw = value.encode()
            out[value] = value
            out[f"b64({value})"] = base64.b64encode(raw).decode()
            out[f"hex({value})"] = raw.hex()
            out[f"quote({value})"] = quote(value, safe="")
        key = base64.b64decode(self.webhook_secret.removeprefix("whsec_"))
        out["webhook key (base64)"] = self.webhook_secret.removeprefix("whsec_")
        out["webhook key (hex)"] = key.hex()
        basic = f"{self.zendesk_email}/token:{self.zendesk_token}"
        out["zendesk basic"] = base64.b64encode(basic.encode()).decode()
        return out

    def find(self, text: str) -> list[str]:
        return [name for name, form in self.forms().items() if form in text]


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Canaries:
    c = Canaries(webhook_secret=new_webhook_secret(), api_token="canary-api-" + secrets.token_hex(16),
                 zendesk_token="canary-zd-" + secrets.token_hex(16), zendesk_email="ops@example.com",
                 mapped_token="canary-jira-" + secrets.token_hex(16), mapped_hmac="canary-gh-" + secrets.token_hex(16),
                 mapped_api="bot@example.com:canary-jira-api-" + secrets.token_hex(16),
                 preset_secret="canary-hubspot-" + secrets.token_hex(16))
    monkeypatch.setenv("HUBSPOT_CLIENT_SECRET", c.preset_secret)
    monkeypatch.setenv("JIRA_WEBHOOK_TOKEN", c.mapped_token)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", c.mapped_hmac)
    monkeypatch.setenv("JIRA_API_TOKEN", c.mapped_api)
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", c.webhook_secret)
    monkeypatch.setenv("CONNECTOR_API_TOKEN", c.api_token)
    monkeypatch.setenv("ZENDESK_API_TOKEN", c.zendesk_token)
    monkeypatch.setenv("ZENDESK_EMAIL", c.zendesk_email)
    monkeypatch.setenv("ZENDESK_SUBDOMAIN", "acme")
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'r7.db'}")
    monkeypatch.setenv("CONNECTOR_MAX_BODY_BYTES", "8192")
    monkeypatch.setenv("CONNECTOR_SPOOL_DIR", "")  # no spool: the database failure must be answered (503)
    return c


@pytest.fixture
def app(canaries: Canaries) -> Iterator[Flask]:
    settings = Settings.from_env()
    now = helpers.utc("2026-03-03 12:00")
    app = create_app(settings, config=_config(), clock=lambda: now)
    store: Store = app.extensions["connector"].store
    processor = TicketProcessor(store, helpers.config(), writers={}, clock=lambda: now)
    processor.apply_event(helpers.event("2026-03-02 10:00", "ticket.created", created="2026-03-02 10:00"))
    yield app
    store.dispose()


def _config():
    """Two mapped sources beside the built-in ones: jira (a token, and write-back with an API token) and
    github (an HMAC signature)."""
    github = {**JIRA, "auth": {"scheme": "hmac", "secrets_env": "GITHUB_WEBHOOK_SECRET",
                               "header": "X-Hub-Signature-256", "prefix": "sha256="}}
    return helpers.config(sources={"jira": {**JIRA, "writeback": {
        "base_url": "https://acme.atlassian.net", "auth": {"scheme": "basic", "secrets_env": "JIRA_API_TOKEN"},
        "actions": {"add_tags": {"method": "PUT", "url": "/rest/api/2/issue/{ticket_id}"}}}}, "github": github,
        **with_presets({"hubspot": {"preset": "hubspot"}})[0]})


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in root.handlers:
        if logs.SCRUBBER in handler.filters:
            handler.removeFilter(logs.SCRUBBER)
    root.setLevel(level)


def _script(app: Flask, c: Canaries, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, bytes]]:
    """Send the scripted requests; return (what, status, body) of every answer."""
    client = app.test_client()
    answers: list[tuple[str, int, bytes]] = []

    def send(what: str, method: str, path: str, **kwargs) -> int:
        response = client.open(path, method=method, **kwargs)
        answers.append((what, response.status_code, response.get_data()))
        return response.status_code

    good = created_body()
    assert send("good delivery", "POST", "/hooks/webhook", data=good, headers=signed(c.webhook_secret, good, "m1")) \
        == 202
    assert send("duplicate", "POST", "/hooks/webhook", data=good, headers=signed(c.webhook_secret, good, "m1")) == 200
    assert send("foreign signature", "POST", "/hooks/webhook", data=good,
                headers=signed(new_webhook_secret(), good)) == 401
    assert send("secret as the signature", "POST", "/hooks/webhook", data=good,
                headers={"webhook-id": "m2", "webhook-timestamp": "1", "webhook-signature": f"v1,{c.webhook_secret}",
                         "authorization": f"Bearer {c.api_token}"}) == 401
    assert send("secret as the id", "POST", "/hooks/webhook", data=good,
                headers=signed(c.webhook_secret, good, "x", **{"webhook-id": c.webhook_secret})) == 401
    for field in ("status", "occurred_at", "type"):
        body = created_body(**({"ticket": {"status": c.api_token}} if field == "status" else {field: c.api_token}))
        assert send(f"token in {field}", "POST", "/hooks/webhook", data=body,
                    headers=signed(c.webhook_secret, body)) == 400
    bad = json.dumps({"secret": c.zendesk_token}).encode()
    assert send("token in a wrong-shape body", "POST", "/hooks/webhook", data=bad,
                headers=signed(c.webhook_secret, bad)) == 400
    big = c.zendesk_token.encode() * 1000
    assert send("oversized", "POST", "/hooks/webhook", data=big, headers=signed(c.webhook_secret, big)) == 413
    assert send("secret in the path", "POST", f"/hooks/{c.webhook_secret}", data=good) == 404
    assert send("secret as a method", "GET", "/hooks/webhook", headers={"X-Token": c.api_token}) == 405

    jira = (FIXTURES / "jira_issue_created.json").read_bytes()
    assert send("mapped: good token", "POST", "/hooks/jira", data=jira,
                headers={"Authorization": f"Bearer {c.mapped_token}"}) == 202
    assert send("mapped: wrong token", "POST", "/hooks/jira", data=jira,
                headers={"Authorization": f"Bearer {c.mapped_token[:-1]}"}) == 401
    assert send("mapped: the token as the body", "POST", "/hooks/jira", data=c.mapped_token.encode(),
                headers={"Authorization": f"Bearer {c.mapped_token}"}) == 400
    quoted = jira.replace(b"SUP-5", c.mapped_hmac.encode() + b"\\u0000")
    assert send("mapped: a secret in a mapped value", "POST", "/hooks/jira", data=quoted,
                headers={"Authorization": f"Bearer {c.mapped_token}"}) == 400
    signature = "sha256=" + hmac.new(c.mapped_hmac.encode(), jira, hashlib.sha256).hexdigest()
    assert send("mapped: good HMAC", "POST", "/hooks/github", data=jira,
                headers={"X-Hub-Signature-256": signature}) == 202
    assert send("mapped: the secret as the signature", "POST", "/hooks/github", data=jira + b" ",
                headers={"X-Hub-Signature-256": f"sha256={c.mapped_hmac}"}) == 401
    batch = (FIXTURES.parent / "presets" / "hubspot" / "created_batch.json").read_bytes()
    stamp = str(int(time.time() * 1000))
    v3 = base64.b64encode(hmac.new(c.preset_secret.encode(), b"POST" + b"http://localhost/hooks/hubspot" + batch
                                   + stamp.encode(), hashlib.sha256).digest()).decode()
    assert send("preset: HubSpot v3", "POST", "/hooks/hubspot", data=batch,
                headers={"X-HubSpot-Signature-v3": v3, "X-HubSpot-Request-Timestamp": stamp}) == 202
    assert send("preset: the client secret as the signature", "POST", "/hooks/hubspot", data=batch,
                headers={"X-HubSpot-Signature-v3": c.preset_secret, "X-HubSpot-Request-Timestamp": stamp}) == 401
    assert send("mapped: the API token in the path", "POST", f"/hooks/{quote(c.mapped_api, safe='')}",
                data=jira) == 404

    auth = {"Authorization": f"Bearer {c.api_token}"}
    assert send("ticket", "GET", "/tickets/zendesk/1", headers=auth) == 200
    assert send("explain", "GET", "/tickets/zendesk/1/explain", headers=auth) == 200
    assert send("zendesk token as bearer", "GET", "/tickets/zendesk/1",
                headers={"Authorization": f"Bearer {c.zendesk_token}"}) == 401
    basic = base64.b64encode(f"{c.zendesk_email}/token:{c.zendesk_token}".encode()).decode()
    assert send("basic auth", "GET", "/tickets/zendesk/1/explain", headers={"Authorization": f"Basic {basic}"}) == 401
    assert send("token in the query", "GET", f"/tickets/zendesk/{c.api_token}?account={c.zendesk_token}",
                headers=auth) == 404
    for path in ("/healthz", "/readyz", "/metrics"):
        assert send(path, "GET", path) == 200

    # failures whose own text quotes a secret: only the type may be logged, nothing may be answered
    with monkeypatch.context() as m:
        m.setattr(Store, "insert_inbox", _raiser(OperationalError(f"INSERT {c.webhook_secret}", {"p": c.api_token},
                                                                  Exception(c.zendesk_token))))
        other = created_body(event_id="evt_2")
        assert send("database down", "POST", "/hooks/webhook", data=other,
                    headers=signed(c.webhook_secret, other)) == 503
    with monkeypatch.context() as m:
        m.setattr(WebhookAdapter, "verify", _raiser(ValueError(f"bad key {c.webhook_secret}")))
        assert send("verifier crash", "POST", "/hooks/webhook", data=good, headers=signed(c.webhook_secret, good)) \
            == 401
    with monkeypatch.context() as m:
        m.setattr(TicketProcessor, "report", _raiser(RuntimeError(f"boom {c.api_token} {c.zendesk_token}")))
        assert send("unexpected bug", "GET", "/tickets/zendesk/1", headers=auth) == 500
    return answers


def _raiser(error: Exception):
    def raise_it(*args, **kwargs):
        raise error
    return raise_it


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage(), record.exc_text or "", record.stack_info or ""]
    parts += [repr(v) for v in record.__dict__.values()]
    return "\n".join(parts)


def test_r7_no_canary_in_answers_or_raw_log_records(app: Flask, canaries: Canaries, caplog, monkeypatch, compass):
    caplog.set_level(logging.DEBUG)
    answers = _script(app, canaries, monkeypatch)
    leaks = [(what, status, canaries.find(body.decode("utf-8", "replace"))) for what, status, body in answers]
    leaks = [leak for leak in leaks if leak[2]]
    log_leaks = [(r.name, canaries.find(_record_text(r))) for r in caplog.records]
    log_leaks = [leak for leak in log_leaks if leak[1]]
    text_leaks = canaries.find(caplog.text)
    verdict = "PASS" if not (leaks or log_leaks or text_leaks) else "FAIL"
    compass(f"R7 requests={len(answers)} log_records={len(caplog.records)} answer_leaks={len(leaks)} "
            f"log_leaks={len(log_leaks) + len(text_leaks)} {verdict}")
    assert not leaks
    assert not log_leaks and not text_leaks
    logged = {(r.name, getattr(r, "outcome", None)) for r in caplog.records}
    assert {("connector.service.hooks", "accepted"), ("connector.service.hooks", "rejected"),
            ("connector.service.auth", "refused")} <= logged  # the script was logged, without secrets


def test_r7_scrubbed_output_of_configure_logging(app: Flask, canaries: Canaries, caplog, monkeypatch,
                                                 restore_logging):
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    logs.configure_logging("DEBUG", secrets=canaries.all(), stream=out)
    _script(app, canaries, monkeypatch)
    # plant secrets in every place a careless caller could put them
    log = logging.getLogger("connector.test")
    log.info("token is %s", canaries.api_token)
    log.info("dict %(t)s", {"t": canaries.zendesk_token})
    log.warning("header", extra={"reason": f"Bearer {canaries.api_token}", "outcome": canaries.webhook_secret})
    log.info("basic %s", "Basic " + base64.b64encode(b"someone:" + canaries.zendesk_token.encode()).decode())
    log.info("a whsec secret nobody registered: %s", new_webhook_secret())
    try:
        raise RuntimeError(f"vendor said: invalid token {canaries.zendesk_token}")
    except RuntimeError:
        log.exception("write failed")
    log.info("stack", stack_info=True, extra={"source": canaries.zendesk_token})

    output = out.getvalue()
    lines = output.splitlines()
    assert lines and all(json.loads(line)["logger"] for line in lines)  # one JSON object per line
    assert not canaries.find(output)
    assert "whsec_" not in output.replace("whsec_…", "")
    assert "***" in output and "Bearer ***" in output and "Basic ***" in output
    assert "RuntimeError" in output and "RuntimeError: vendor" not in output  # exception type, never its text
    assert not canaries.find(caplog.text)  # handlers installed by others are scrubbed too
    assert not [r for r in caplog.records if canaries.find(_record_text(r))]


def test_r7_reprs_hide_secrets(app: Flask, canaries: Canaries):
    ctx = app.extensions["connector"]
    for text in (repr(ctx.settings), str(ctx.settings), repr(ctx.adapters), repr(ctx)):
        assert not canaries.find(text)
    assert "***" in repr(ctx.settings)


def test_scrub_filter_masks_secrets_registered_at_runtime(restore_logging):
    out = io.StringIO()
    logs.configure_logging("INFO", stream=out, fmt="kv")
    late = "late-secret-" + secrets.token_hex(8)
    log = logging.getLogger("connector.test")
    log.info("before %s", "nothing secret", extra={"source": "webhook", "attempt": 2, "ticket_id": "a b"})
    logs.register_secret(late)
    logs.register_secret("abc")  # too short to be a secret worth masking: ignored
    log.info("after %s", late, extra={"outcome": base64.b64encode(late.encode()).decode()})
    first, second = out.getvalue().splitlines()
    assert first.split()[1:3] == ["INFO", "connector.test"] and '"before nothing secret"' in first
    assert "source=webhook" in first and "attempt=2" in first and 'ticket_id="a b"' in first
    assert late not in second and "outcome=***" in second and '"after ***"' in second
    assert logs.scrub("abc") == "abc"
    assert logs.scrub("Authorization: Bearer abc.def-ghi") == "Authorization: Bearer ***"
