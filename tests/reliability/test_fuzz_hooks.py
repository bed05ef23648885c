"""R3, malformed input: thousands of generated requests per endpoint, never a 5xx, every 4xx JSON.

Each endpoint gets `EXAMPLES` Hypothesis cases against the Flask test client on SQLite: random methods,
headers (garbled or missing signature, id and timestamp headers, half the deliveries correctly signed),
bodies (random bytes up to past the limit, invalid UTF-8, JSON of the wrong shape, canonical events with
one field replaced) and paths. The app runs with TESTING on, so an uncaught exception fails the test with
its traceback instead of turning into a 500. A case the test client itself cannot build (it refuses some
header values) is counted and left out, as in style-and-reliability.md B.2.1.

Reports one compass line per endpoint, printed in the run's summary, e.g.
``R3 /hooks/webhook cases=3000 5xx=0 … PASS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import EnvironBuilder, FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.webhook import sign
from connector.mapping import with_presets
from connector.runtime.worker import TicketProcessor
from connector.store import Store
from tests import helpers
from tests.hostile import FORMULAS, TEXTS, hostile_event, hostile_values
from tests.integration.support import created_body, make_app, new_token, new_webhook_secret
from tests.integration.test_mapped_source import FIXTURES, JIRA

pytestmark = pytest.mark.reliability

EXAMPLES = 3000
LIMIT = 16 * 1024
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example, HealthCheck.filter_too_much])

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND", "X"]
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# header values: anything a WSGI server could hand over (Latin-1), except the line breaks and NUL
# that no server passes through and the test client refuses to build
header_text = st.text(st.characters(min_codepoint=0x09, max_codepoint=0xFF, exclude_characters="\r\n\x00\x0b\x0c"),
                      max_size=80)
header_names = st.one_of(
    st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "authorization",
                     "user-agent", "accept", "transfer-encoding", "content-encoding", "x-forwarded-for",
                     "Webhook-Signature", "WEBHOOK-ID"]),
    st.text(st.sampled_from(TOKEN_CHARS), min_size=1, max_size=20),
)
random_headers = st.dictionaries(header_names, header_text, max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)
EVENT = json.loads(created_body())


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Bytes a sender might post: noise, broken UTF-8, JSON of any shape, an event with one field wrong."""
    kind = draw(st.sampled_from(["bytes", "utf8", "json", "event", "events", "hostile", "hostile", "big", "empty"]))
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    if kind == "utf8":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "hostile":  # out-of-range instants, huge numbers, long and NUL ids, formulas, at any depth
        return json.dumps(draw(hostile_event({**EVENT, "comment": {"author_role": "agent"}}))).encode()
    if kind in ("event", "events"):
        event = dict(EVENT)
        key = draw(st.sampled_from([*EVENT, "comment", "schema", "source"]))
        if draw(st.booleans()):
            event[key] = draw(st.one_of(json_values, hostile_values))
        else:
            event.pop(key, None)
        if kind == "events":
            return json.dumps({"events": [event] * draw(st.integers(0, 3))}).encode()
        return json.dumps(event).encode()
    if kind == "big":  # around the limit: under, exactly, over and far over
        seed = draw(st.binary(min_size=1, max_size=16))
        size = draw(st.sampled_from([LIMIT - 1, LIMIT, LIMIT + 1, 2 * LIMIT, 4 * LIMIT + 3]))
        return (seed * (size // len(seed) + 1))[:size]
    return b""


@st.composite
def webhook_requests(draw: st.DrawFn, secret: str) -> dict[str, Any]:
    body = draw(bodies())
    good_id = f"msg_{draw(st.integers(0, 10**9))}"
    msg_id = draw(st.one_of(st.just(good_id), st.just(good_id), st.just(good_id), header_text))
    now = int(time.time())
    stamp: Any = draw(st.one_of(st.just(now), st.just(now), st.just(now), st.integers(-(2**70), 2**70),
                                st.sampled_from([now - 301, now + 301, 0, -1]), header_text))
    headers = draw(random_headers)
    if draw(st.booleans()):  # half are signed with the right secret (over the id and stamp actually sent)
        try:
            signature = sign(secret, msg_id, stamp, body)
        except (ValueError, TypeError):
            signature = "v1," + draw(header_text)
        extra = draw(st.sampled_from(["", " v1,Zm9v", " v1a,xyz", " garbage"]))
        headers.update({"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature + extra})
    else:
        for name in draw(st.sets(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]))):
            headers[name] = draw(st.one_of(header_text, st.just(str(stamp)), st.just("v1," + "A" * 44)))
    method = draw(st.sampled_from(["POST"] * 40 + METHODS))
    spec = {"path": "/hooks/webhook", "method": method, "headers": headers, "data": body}
    if draw(st.integers(0, 9)) == 0:  # a Content-Length that lies, or is not a number
        lengths = st.one_of(header_text, st.integers(-5, 10 * LIMIT).map(str), st.just(str(len(body) + 1)))
        spec["environ_overrides"] = {"CONTENT_LENGTH": draw(lengths)}
    return spec


def _segment(draw: st.DrawFn) -> str:
    # "/" kept or escaped; a raw "?" or a leading "//" would be read by the client as a query or a host
    return quote(draw(st.text(max_size=40)), safe=draw(st.sampled_from(["", "/", "/%"]))).lstrip("/")


JIRA_BODY = json.loads((FIXTURES / "jira_issue_created.json").read_text())
JIRA_PATHS = [("issue", "key"), ("timestamp",), ("webhookEvent",), ("issue",), ("issue", "fields"),
              ("issue", "fields", "status", "name"), ("issue", "fields", "status"), ("issue", "fields", "labels"),
              ("issue", "fields", "created"), ("issue", "fields", "priority", "name"), ("issue", "fields", "summary"),
              ("issue", "fields", "reporter", "accountId"), ("comment",), ("issue", "fields", "customfield_10010")]


@st.composite
def mapped_requests(draw: st.DrawFn, token: str, hmac_secret: str) -> dict[str, Any]:
    """Requests to two mapped sources (jira: a bearer token; github: an HMAC signature), half authenticated,
    with noise or a Jira-shaped body with one value replaced (any JSON, hostile values) or removed."""
    source = draw(st.sampled_from(["jira", "github"]))
    if draw(st.integers(0, 3)) == 0:
        body = draw(bodies())
    else:
        data = json.loads(json.dumps(JIRA_BODY))
        path = draw(st.sampled_from(JIRA_PATHS))
        parent = data
        for key in path[:-1]:
            parent = parent.setdefault(key, {}) if isinstance(parent, dict) else {}
        if isinstance(parent, dict):
            if draw(st.booleans()):
                parent[path[-1]] = draw(st.one_of(json_values, hostile_values))
            else:
                parent.pop(path[-1], None)
        if draw(st.booleans()):
            data["webhookEvent"] = draw(st.sampled_from(["comment_created", "jira:issue_updated", "x"]))
            data["comment"] = {"id": "1", "author": {"accountType": draw(st.sampled_from(["atlassian", "customer",
                                                                                        "bot"]))},
                               "jsdPublic": draw(st.one_of(st.booleans(), json_values))}
        body = json.dumps(data).encode()
    headers = draw(random_headers)
    if draw(st.booleans()):
        if source == "jira":
            headers["Authorization"] = f"Bearer {token}"
        else:
            digest = hmac.new(hmac_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = "sha256=" + digest
    elif draw(st.booleans()):
        headers["Authorization" if source == "jira" else "X-Hub-Signature-256"] = draw(header_text)
    return {"path": f"/hooks/{source}", "method": draw(st.sampled_from(["POST"] * 20 + METHODS)),
            "headers": headers, "data": body}


PRESETS = {"jira-service-management": "jsm", "github-issues": "gh", "intercom": "ic", "hubspot": "hs"}
PRESET_BODIES = {preset: [json.loads(p.read_text())
                          for p in sorted((FIXTURES.parent / "presets" / preset).glob("*.json"))]
                 for preset in PRESETS}
PRESET_EXAMPLES = 750


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and list indexes), for replacing or removing one."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


def preset_signature(preset: str, secret: str, body: bytes, path: str, delivery: str) -> dict[str, str]:
    if preset == "hubspot":
        stamp = str(int(time.time() * 1000))
        message = b"POST" + f"http://localhost{path}".encode() + body + stamp.encode()
        digest = base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()
        return {"X-HubSpot-Signature-v3": digest, "X-HubSpot-Request-Timestamp": stamp}
    if preset == "intercom":
        return {"X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}
    digest = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256" if preset == "github-issues" else "X-Hub-Signature": digest,
            "X-GitHub-Delivery": delivery, "X-Atlassian-Webhook-Identifier": delivery}


@st.composite
def preset_requests(draw: st.DrawFn, preset: str, secret: str) -> dict[str, Any]:
    """Requests to a preset's source: its fixtures with one value replaced (any JSON, hostile values) or removed,
    or noise; half signed as the tool signs."""
    path = f"/hooks/{PRESETS[preset]}"
    if draw(st.integers(0, 4)) == 0:
        body = draw(bodies())
    else:
        data = json.loads(json.dumps(draw(st.sampled_from(PRESET_BODIES[preset]))))
        where = draw(st.sampled_from(_paths(data)))
        parent: Any = data
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            parent[where[-1]] = draw(st.one_of(json_values, hostile_values))
        elif isinstance(parent, dict):
            parent.pop(where[-1], None)
        body = json.dumps(data).encode()
    headers = draw(random_headers)
    if draw(st.booleans()):
        headers.update(preset_signature(preset, secret, body, path, str(draw(st.integers(0, 10**9)))))
    return {"path": path, "method": draw(st.sampled_from(["POST"] * 20 + METHODS)), "headers": headers,
            "data": body}


@st.composite
def source_requests(draw: st.DrawFn) -> dict[str, Any]:
    return {"path": "/hooks/" + _segment(draw), "method": draw(st.sampled_from(["POST"] * 5 + METHODS)),
            "headers": draw(random_headers), "data": draw(bodies())}


@st.composite
def ticket_requests(draw: st.DrawFn, token: str) -> dict[str, Any]:
    source = draw(st.one_of(st.just("zendesk"), st.just("webhook"), st.just(""))) or _segment(draw)
    ticket = draw(st.one_of(st.just("1"), st.just("2"))) if draw(st.booleans()) else _segment(draw)
    path = f"/tickets/{source}/{ticket}" + draw(st.sampled_from(["", "", "/explain", "/explain/", "/x"]))
    query = draw(st.one_of(st.just(""), st.just("account=acme"), st.just("account=globex"),
                           st.builds(lambda v: "account=" + quote(v, safe=""), st.text(max_size=30)),
                           st.text(max_size=30).map(lambda v: quote(v, safe="=&%"))))
    if draw(st.integers(0, 3)) == 0:  # the query form, which reads any id: hostile ones, over-long, NUL, formulas
        path = f"/tickets/{source}" + draw(st.sampled_from(["", "/explain", "/explain/"]))
        given = draw(st.one_of(st.sampled_from([*TEXTS, *FORMULAS]), st.text(max_size=300)))
        query = "id=" + quote(given, safe="", errors="surrogatepass") + draw(
            st.sampled_from(["", "&account=acme", "&id=2", "&account=" + quote("=1+1")]))
    headers = draw(random_headers)
    auth = draw(st.sampled_from(["right", "right", "none", "wrong", "basic", "garbage"]))
    if auth == "right":
        headers["Authorization"] = f"Bearer {token}"
    elif auth == "wrong":
        headers["Authorization"] = f"Bearer {draw(header_text)}"
    elif auth == "basic":
        headers["Authorization"] = f"Basic {draw(header_text)}"
    elif auth == "garbage":
        headers["Authorization"] = draw(header_text)
    method = draw(st.sampled_from(["GET"] * 9 + METHODS))
    return {"path": path, "method": method, "headers": headers, "query_string": query,
            "data": draw(st.one_of(st.just(b""), bodies()))}


@st.composite
def probe_requests(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(st.sampled_from(["/metrics", "/healthz", "/readyz", "/metrics/", "/", "/hooks", "/tickets"]))
    if draw(st.integers(0, 4)) == 0:
        path = "/" + _segment(draw)
    return {"path": path, "method": draw(st.sampled_from(["GET"] * 6 + METHODS)), "headers": draw(random_headers),
            "query_string": quote(draw(st.text(max_size=30)), safe="=&"), "data": draw(st.one_of(st.just(b""),
                                                                                                  bodies()))}


@dataclass
class Stats:
    name: str
    examples: int = EXAMPLES
    statuses: Counter[int] = field(default_factory=Counter)
    refused_by_client: int = 0
    server_errors: int = 0
    not_json: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    def send(self, app: Flask, client: FlaskClient, spec: dict[str, Any]) -> None:
        try:
            request = EnvironBuilder(app, **spec).get_request()
        except (ValueError, TypeError, UnicodeError):
            self.refused_by_client += 1  # the test client cannot build it; no server would deliver it either
            return
        response = client.open(request)
        status = response.status_code
        self.statuses[status] += 1
        if status >= 500:
            self.server_errors += 1
        if 400 <= status < 500 and spec.get("method") != "HEAD":
            try:
                data = json.loads(response.get_data())
                ok = isinstance(data.get("error"), str) and isinstance(data.get("reason"), str) and data["reason"]
            except (ValueError, AttributeError):
                ok = False
            if not ok:
                self.not_json.append(f"{spec['method']} {spec['path']} -> {status} {response.get_data()[:100]!r}")
        response.close()

    def line(self, wall: float) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        shown = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        return (f"R3 {self.name} cases={self.cases} 5xx={self.server_errors} non_json_4xx={len(self.not_json)} "
                f"refused_by_client={self.refused_by_client} statuses=[{shown}] wall={wall:.1f}s {verdict}")

    @property
    def passed(self) -> bool:
        return (self.server_errors == 0 and not self.not_json and self.cases + self.refused_by_client >= self.examples
                and self.refused_by_client <= self.examples // 50)


@dataclass
class Target:
    app: Flask
    client: FlaskClient
    secret: str
    token: str
    store: Store
    mapped_token: str = ""
    mapped_hmac: str = ""
    preset_secret: str = ""


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One cheap SQLite-backed app for every case, with a ticket to find (zendesk/acme/1)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    store.upgrade()
    now = helpers.utc("2026-03-03 12:00")
    processor = TicketProcessor(store, helpers.config(), writers={}, clock=lambda: now)
    processor.apply_event(helpers.event("2026-03-02 10:00", "ticket.created", created="2026-03-02 10:00"))
    secret, token = new_webhook_secret(), new_token()
    # every source is configured, so a random request to any of them is judged on its input alone
    mapped_token, mapped_hmac = new_token(), new_token()
    help_desks = {"ZENDESK_WEBHOOK_SECRET": new_token(), "ZENDESK_SUBDOMAIN": "acme",
                  "FRESHDESK_WEBHOOK_SECRET": new_token(), "FRESHDESK_DOMAIN": "acme",
                  "JIRA_WEBHOOK_TOKEN": mapped_token, "GITHUB_WEBHOOK_SECRET": mapped_hmac}
    github = {**JIRA, "auth": {"scheme": "hmac", "secrets_env": "GITHUB_WEBHOOK_SECRET",
                               "header": "X-Hub-Signature-256", "prefix": "sha256="}}
    preset_secret = new_token()
    presets = {short: {"preset": preset, "auth": {"secrets_env": "PRESET_WEBHOOK_SECRET"}}
               for preset, short in PRESETS.items()}
    help_desks["PRESET_WEBHOOK_SECRET"] = preset_secret
    sources, problems = with_presets(presets)
    assert not problems
    cfg = helpers.config(sources={"jira": JIRA, "github": github, **sources},
                         priority_map={"jira": {"urgent": "P1"}})
    app = make_app(store, secret=secret, token=token, clock=lambda: now, limit=LIMIT, env=help_desks, config=cfg)
    app.testing = True  # an uncaught exception propagates into the test instead of becoming a 500
    yield Target(app=app, client=app.test_client(), secret=secret, token=token, store=store,
                 mapped_token=mapped_token, mapped_hmac=mapped_hmac, preset_secret=preset_secret)
    store.dispose()


def _run(name: str, strategy: st.SearchStrategy[dict[str, Any]], target: Target,
         compass: Callable[[str], None], examples: int = EXAMPLES) -> None:
    stats = Stats(name, examples=examples)

    @settings(FUZZ, max_examples=examples)
    @given(strategy)
    def case(spec: dict[str, Any]) -> None:
        stats.send(target.app, target.client, spec)
        assert stats.server_errors == 0, f"{spec['method']} {spec['path']} answered {stats.statuses}"

    started = time.perf_counter()
    case()
    compass(stats.line(time.perf_counter() - started))
    assert not stats.not_json, stats.not_json[:5]
    assert stats.passed, stats.line(0)


def test_r3_webhook_endpoint(target: Target, compass: Callable[[str], None]):
    _run("/hooks/webhook", webhook_requests(target.secret), target, compass)


def test_r3_mapped_sources(target: Target, compass: Callable[[str], None]):
    _run("/hooks/jira,/hooks/github (mapped)", mapped_requests(target.mapped_token, target.mapped_hmac), target,
         compass)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_r3_every_preset(target: Target, compass: Callable[[str], None], preset: str):
    _run(f"/hooks/{PRESETS[preset]} ({preset} preset)", preset_requests(preset, target.preset_secret), target,
         compass, examples=PRESET_EXAMPLES)


def test_r3_any_source(target: Target, compass: Callable[[str], None]):
    _run("/hooks/<source>", source_requests(), target, compass)


def test_r3_tickets(target: Target, compass: Callable[[str], None]):
    _run("/tickets/...", ticket_requests(target.token), target, compass)


def test_r3_probes_and_other_paths(target: Target, compass: Callable[[str], None]):
    _run("/metrics,/healthz,/readyz,/*", probe_requests(), target, compass)
