"""Reliability with real processes (style-and-reliability.md §B.4), on SQLite and PostgreSQL.

R1 crash durability: the web and worker processes are SIGKILLed while a sender retries: every acknowledged
   event is processed, none twice, nothing left unprocessed.
R4 body bounds against the real server: Content-Length and chunked bodies over the limit get 413.
R6 ingress keeps accepting while the worker is stopped; the backlog drains when it comes back.
R8 escalations exactly once while the scheduler is SIGKILLed and restarted mid-sweep.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from connector.store import Store
from connector.store.schema import decisions, events, inbox, outbox
from tests.reliability.procs import Connector, canonical

pytestmark = pytest.mark.reliability


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scalar(store: Store, query) -> int:
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def wait_drained(store: Store, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scalar(store, select(func.count()).where(inbox.c.state == "pending")) == 0:
            return
        time.sleep(0.2)
    raise TimeoutError("the inbox did not drain")


@pytest.fixture
def deployment(tmp_path, database_url):
    store = Store(database_url)
    store.upgrade()
    connector = Connector(tmp_path, database_url)
    yield connector, store
    connector.stop_all()
    store.dispose()


def test_r1_no_acknowledged_event_is_lost_or_applied_twice_across_sigkill(deployment):
    connector, store = deployment
    connector.start_web()
    connector.start("worker", "worker")
    start = datetime.now(UTC) - timedelta(hours=2)
    n_events = 150
    acked: set[str] = set()
    stop = threading.Event()

    def sender() -> None:
        rng = random.Random(1)
        for n in range(n_events):
            ticket = str(n % 30)
            ev = canonical(ticket, f"ev-{n}", iso(start + timedelta(seconds=n)), type="comment.added",
                           status="open", created_at=iso(start - timedelta(minutes=5)),
                           comment={"author_role": rng.choice(["agent", "end_user"]), "public": True})
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not stop.is_set():  # a help desk retries until it gets a 2xx
                try:
                    if connector.post(ev, f"msg-{n}", timeout=3).status_code in (200, 202):
                        acked.add(f"ev-{n}")
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.05)

    thread = threading.Thread(target=sender)
    thread.start()
    for _ in range(3):  # kill -9 both processes mid-stream, then bring them back
        time.sleep(1.0)
        connector.kill("web")
        connector.kill("worker")
        time.sleep(0.3)
        connector.start("worker", "worker")
        connector.start_web()
    thread.join(timeout=120)
    stop.set()
    assert len(acked) == n_events
    wait_drained(store)
    connector.kill("worker")
    with store.read() as conn:
        stored = set(conn.execute(select(events.c.event_id)).scalars())
    assert acked <= stored  # 0 acknowledged events lost
    assert scalar(store, select(func.count()).select_from(events)) == n_events  # each stored once
    assert scalar(store, select(func.count()).where(inbox.c.state != "done")) == 0  # 0 unprocessed
    assert scalar(store, select(func.count()).select_from(decisions)) == n_events  # each applied once
    keys = scalar(store, select(func.count(outbox.c.key.distinct())))
    assert keys == scalar(store, select(func.count()).select_from(outbox))  # 0 duplicate effects


def test_r4_body_limits_on_the_real_server(deployment):
    connector, store = deployment
    connector.env["CONNECTOR_MAX_BODY_BYTES"] = "2048"
    connector.start_web()
    big = b"x" * 4096
    resp = requests.post(f"{connector.base}/hooks/webhook", data=big, headers={"content-type": "application/json"},
                         timeout=5)
    assert resp.status_code == 413 and resp.json()["error"]
    with socket.create_connection(("127.0.0.1", connector.port), timeout=5) as sock:
        chunks = b"".join(b"%x\r\n%s\r\n" % (1024, b"y" * 1024) for _ in range(4)) + b"0\r\n\r\n"
        sock.sendall(b"POST /hooks/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")
    assert scalar(store, select(func.count()).select_from(inbox)) == 0


def test_r6_ingress_unaffected_while_the_worker_is_stopped(deployment):
    connector, store = deployment
    connector.start_web()
    now = datetime.now(UTC)
    latencies = []
    for n in range(200):
        t0 = time.perf_counter()
        resp = connector.post(canonical(str(n), f"e{n}", iso(now)), f"m{n}")
        latencies.append(time.perf_counter() - t0)
        assert resp.status_code == 202
    assert scalar(store, select(func.count()).where(inbox.c.state == "pending")) == 200
    latencies.sort()
    assert latencies[int(len(latencies) * 0.99)] < 2.0  # generous: a stalled ingress would time out
    result = connector.run("worker", "--once")
    assert result.returncode == 0, result.stderr
    assert scalar(store, select(func.count()).where(inbox.c.state == "done")) == 200


def test_r8_escalations_exactly_once_with_the_scheduler_killed_and_restarted(deployment):
    connector, store = deployment
    connector.start_web()
    # 40 urgent tickets (P1: first response 1h on 24x7) whose breaches fall between 8 and 16 seconds from now
    now = datetime.now(UTC)
    n_tickets = 40
    for n in range(n_tickets):
        created = now - timedelta(hours=1) + timedelta(seconds=8 + n * 0.2)
        assert connector.post(canonical(f"t{n}", f"c{n}", iso(created)), f"m{n}").status_code == 202
    assert connector.run("worker", "--once").returncode == 0
    assert scalar(store, select(func.count()).where(outbox.c.cause == "response-breach")) == 0
    deadline = time.monotonic() + 18
    while time.monotonic() < deadline:
        connector.start("scheduler", "scheduler", "--interval", "0.3")
        time.sleep(random.uniform(0.8, 1.6))
        connector.kill("scheduler")
    result = connector.run("scheduler", "--once")  # whatever a killed sweep left undone
    assert result.returncode == 0, result.stderr
    per_breach = 3  # response-breach: add_tags, remove_tags, add_note
    breach_rows = scalar(store, select(func.count()).where(outbox.c.cause == "response-breach"))
    assert breach_rows == n_tickets * per_breach
    assert scalar(store, select(func.count(outbox.c.key.distinct()))) == scalar(
        store, select(func.count()).select_from(outbox))
