"""A sick database, for real: PostgreSQL behind a TCP proxy that the test cuts and black-holes.

What must hold (issue 11 §3): every request answers within a bound set by CONNECTOR_DB_TIMEOUT_SECONDS —
webhooks are acknowledged into the disk spool, the routes that need the database answer 503 with
Retry-After and say why, metrics still answer — and when the database comes back everything works again
without a restart, with every acknowledged delivery in the inbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from connector.runtime.worker import Worker
from connector.store import Store
from tests.conftest import POSTGRES_URL
from tests.faults import TcpProxy
from tests.integration.support import created_body, inbox_count, make_app, signed

pytestmark = pytest.mark.postgres

TIMEOUT = 1.0
# one answer timeout and one reconnect (≥ 2 s), with a wide margin for a loaded machine: without the
# deadlines these requests hang for as long as the socket lives (minutes)
BOUND = 12.0


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[TcpProxy, Store]]:
    """A migrated store whose connections go through a proxy to the test's PostgreSQL schema."""
    assert POSTGRES_URL
    real = POSTGRES_URL.split("@", 1)[1].split("/", 1)[0]
    host, port = real.rsplit(":", 1) if ":" in real else (real, "5432")
    proxy = TcpProxy(host, int(port))
    store = Store(postgres_url.replace(f"@{real}/", f"@127.0.0.1:{proxy.port}/"), timeout=TIMEOUT)
    store.upgrade()
    yield proxy, store
    proxy.close()
    store.dispose()


def timed(call):  # noqa: ANN001, ANN201 - a tiny helper: (result, seconds)
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def _wait_closed_breaker(store: Store) -> None:
    """Wait out the breaker's cool-down (it is time based: at most a few seconds here)."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            store.ping()
            return
        except Exception:
            time.sleep(0.2)
    raise AssertionError("the store did not come back after the proxy healed")


@pytest.mark.parametrize("fault", ["blackhole", "cut"])
def test_every_route_answers_in_bounded_time_and_nothing_acknowledged_is_lost(
        proxied: tuple[TcpProxy, Store], tmp_path: Path, fault: str, secret: str, token: str):
    proxy, store = proxied
    app = make_app(store, secret=secret, token=token, spool_dir=str(tmp_path / "spool"))
    client: FlaskClient = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    before = created_body(ticket_id="T-before", event_id="e-before")
    assert client.post("/hooks/webhook", data=before, headers=signed(secret, before)).status_code == 202

    getattr(proxy, fault)()
    bodies = [created_body(ticket_id=f"T-{fault}-{n}", event_id=f"e-{fault}-{n}") for n in range(5)]
    for body in bodies:
        response, took = timed(lambda b=body: client.post("/hooks/webhook", data=b, headers=signed(secret, b)))
        assert response.status_code == 202 and response.get_json() == {"status": "accepted", "id": None,
                                                                      "spooled": True}
        assert took < BOUND
    reason = "did not answer in time" if fault == "blackhole" else "refused the connection"
    for path, headers in (("/readyz", {}), ("/tickets/webhook/T-before", auth), ("/tickets/webhook?id=T-before", auth),
                          ("/tickets/webhook/acme/T-before/explain", auth), ("/reports/sla?format=json", auth)):
        response, took = timed(lambda p=path, h=headers: client.get(p, headers=h))
        assert took < BOUND, path
        assert response.status_code == 503, (path, response.status_code)
        assert 1 <= int(response.headers["Retry-After"]) < 60
        assert reason in response.get_json()["reason"], (path, response.get_json())
    assert client.get("/readyz").get_json()["spooled"] == 5
    metrics, took = timed(lambda: client.get("/metrics"))
    assert metrics.status_code == 200 and took < BOUND
    text = metrics.get_data(as_text=True)
    assert "connector_store_up 0.0" in text and "connector_spool_depth 5.0" in text
    assert 'connector_events_spooled_total{source="webhook"} 5.0' in text

    proxy.heal()
    _wait_closed_breaker(store)
    assert client.get("/readyz").status_code == 200
    after = created_body(ticket_id="T-after", event_id="e-after")
    response = client.post("/hooks/webhook", data=after, headers=signed(secret, after))
    assert response.status_code == 202 and response.get_json()["id"] is not None  # stored, and the spool drained
    assert inbox_count(store) == 7
    assert not list((tmp_path / "spool").glob("*/*.delivery"))
    assert client.get("/tickets/webhook/T-before", headers=auth).status_code == 404  # no worker ran: not yet known


def test_the_worker_backs_off_and_recovers_by_itself(proxied: tuple[TcpProxy, Store], tmp_path: Path, secret: str):
    """A worker loop that loses the database keeps running, backs off, and processes everything once it is back;
    deliveries acknowledged into the spool meanwhile are drained by the worker, not only by later requests."""
    import threading

    from connector.runtime.worker import TicketProcessor
    from tests import helpers

    proxy, store = proxied
    spool_dir = tmp_path / "spool"
    app = make_app(store, secret=secret, spool_dir=str(spool_dir))
    client = app.test_client()
    ctx = app.extensions["connector"]
    worker = Worker(store, TicketProcessor(store, helpers.config(), writers={}), ctx.adapters, lease=timedelta(
        seconds=30), spool=ctx.spool)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"idle_sleep": 0.05}, daemon=True)
    thread.start()
    try:
        first = created_body(ticket_id="W-1", event_id="w-1")
        assert client.post("/hooks/webhook", data=first, headers=signed(secret, first)).status_code == 202
        proxy.blackhole()
        spooled = created_body(ticket_id="W-2", event_id="w-2")
        assert client.post("/hooks/webhook", data=spooled, headers=signed(secret, spooled)).get_json()["spooled"]
        time.sleep(3 * TIMEOUT)  # the worker meets the black hole and backs off
        assert thread.is_alive()
        proxy.heal()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if store.ticket_state(("webhook", "acme", "W-2")) is not None and \
                        store.ticket_state(("webhook", "acme", "W-1")) is not None:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("the worker did not recover")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not list(spool_dir.glob("*/*.delivery"))


def test_a_database_down_at_start_is_a_clean_error_within_the_bound(postgres_url: str, tmp_path: Path):
    """`connector serve` used to hang with no output when the database was black-holed at start."""
    import subprocess
    import sys

    assert POSTGRES_URL
    real = POSTGRES_URL.split("@", 1)[1].split("/", 1)[0]
    host, port = real.rsplit(":", 1) if ":" in real else (real, "5432")
    proxy = TcpProxy(host, int(port))
    proxy.blackhole()
    try:
        env = {"CONNECTOR_DATABASE_URL": postgres_url.replace(f"@{real}/", f"@127.0.0.1:{proxy.port}/"),
               "CONNECTOR_DB_TIMEOUT_SECONDS": "2", "PATH": "/usr/bin:/bin"}
        root = Path(__file__).resolve().parents[2]
        done = subprocess.run([sys.executable, "-m", "connector", "serve", "--config",
                               str(root / "config" / "example.yaml"), "--port", "0"], cwd=tmp_path,
                              env={**env, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=60)
    finally:
        proxy.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot use the database: the database did not answer in time" in done.stderr
    assert "Traceback" not in done.stderr


def test_spooled_deliveries_survive_a_restart_of_the_web_process(proxied: tuple[TcpProxy, Store], tmp_path: Path,
                                                                 secret: str):
    """The spool is on disk: a new app over the same directory drains what the old one acknowledged."""
    proxy, store = proxied
    spool_dir = str(tmp_path / "spool")
    proxy.cut()
    body = created_body(ticket_id="S-1", event_id="s-1")
    old = make_app(store, secret=secret, spool_dir=spool_dir).test_client()
    assert old.post("/hooks/webhook", data=body, headers=signed(secret, body)).status_code == 202
    files = list(Path(spool_dir).glob("*/*.delivery"))
    assert len(files) == 1
    record = json.loads(files[0].read_bytes())
    assert record["source"] == "webhook"
    proxy.heal()
    _wait_closed_breaker(store)
    new = make_app(store, secret=secret, spool_dir=spool_dir).test_client()
    other = created_body(ticket_id="S-2", event_id="s-2")
    assert new.post("/hooks/webhook", data=other, headers=signed(secret, other)).status_code == 202
    assert inbox_count(store) == 2
    # the sender retries the first delivery (it never saw our 202, say): the inbox's dedupe answers it
    again = old.post("/hooks/webhook", data=body, headers=signed(secret, body, record["dedupe_key"]))
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"


def test_a_ticket_lock_left_by_a_vanished_session_is_freed_by_the_server(proxied: tuple[TcpProxy, Store], secret: str):
    """A connection that vanished inside a ticket's transaction (a black-holed network, a frozen or killed
    process) leaves its server session holding the ticket's lock; PostgreSQL would keep it until its TCP
    keepalive notices (two hours by default), and every event of that ticket would wait on it. Every
    session the connector opens carries ``idle_in_transaction_session_timeout`` (ten answer timeouts, at
    least 10 s) and ``lock_timeout`` (two answer timeouts): waiters get an answer, the orphan is ended."""
    import threading

    from connector.runtime.worker import TicketProcessor
    from connector.store.pgconn import session_bounds
    from connector.store.store import _lock_id
    from tests import helpers

    _, store = proxied
    bounds = session_bounds(TIMEOUT)
    orphan = store.engine.raw_connection()  # through the pool: the connector's own kind of session
    cursor = orphan.cursor()
    cursor.execute("SHOW idle_in_transaction_session_timeout")
    assert cursor.fetchone()[0] == f"{bounds['idle_in_transaction_session_timeout'] // 1000}s"
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id(("webhook", "acme", "L-1")),))
    held_at = time.monotonic()  # ... and nothing more: the session's owner is gone

    app = make_app(store, secret=secret)
    body = created_body(ticket_id="L-1", event_id="l-1")
    assert app.test_client().post("/hooks/webhook", data=body, headers=signed(secret, body)).status_code == 202
    worker = Worker(store, TicketProcessor(store, helpers.config(), writers={}), app.extensions["connector"].adapters)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"idle_sleep": 0.05}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while store_state(store, ("webhook", "acme", "L-1")) is None:
            assert time.monotonic() < deadline, "the ticket's event waited on the orphan's lock for a minute"
            time.sleep(0.2)
        waited = time.monotonic() - held_at
    finally:
        stop.set()
        thread.join(timeout=10)
    assert waited >= bounds["idle_in_transaction_session_timeout"] / 1000 - 1  # it was really held
    with pytest.raises(Exception):  # noqa: B017, PT011 - the server ended the orphan's session
        cursor.execute("SELECT 1")
    orphan.invalidate()


def store_state(store: Store, key: tuple[str, str, str]) -> object:
    try:
        return store.ticket_state(key)
    except Exception:
        return None


@pytest.mark.parametrize("fault", ["blackhole", "cut"])
def test_a_mapped_source_is_acknowledged_in_bounded_time_and_kept(proxied: tuple[TcpProxy, Store], tmp_path: Path,
                                                                  fault: str, secret: str):
    """Issue 15: a mapped source's door (auth, mapping, dedupe) meets a sick database as the others do."""
    from tests.helpers import config
    from tests.integration.test_mapped_source import FIXTURES, JIRA, TOKEN

    proxy, store = proxied
    app = make_app(store, secret=secret, spool_dir=str(tmp_path / "spool"), env={"JIRA_WEBHOOK_TOKEN": TOKEN},
                   config=config(sources={"jira": JIRA}))
    client: FlaskClient = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    getattr(proxy, fault)()
    for n in range(3):
        data = json.loads((FIXTURES / "jira_issue_created.json").read_text())
        data["issue"]["key"] = f"SUP-{n}"
        response, took = timed(lambda d=data: client.post("/hooks/jira", data=json.dumps(d), headers=auth))
        assert response.status_code == 202 and response.get_json()["spooled"] is True
        assert took < BOUND
    proxy.heal()
    _wait_closed_breaker(store)
    later = (FIXTURES / "jira_comment_created.json").read_bytes()
    assert client.post("/hooks/jira", data=later, headers=auth).get_json()["id"] is not None
    assert inbox_count(store) == 4  # the three spooled ones drained in, and the new one
