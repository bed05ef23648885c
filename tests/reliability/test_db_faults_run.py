"""R11: `connector run` on PostgreSQL through a cut and a black hole, with a bounded sender (issue 11 §3).

The real PostgreSQL sits behind a TCP proxy (`tests/faults.py`). While a sender posts signed events (each
request with a client timeout, retried like a help desk would on anything but a 2xx) and a prober reads
/readyz, /tickets and /metrics, the proxy refuses the database for a while, then black-holes it (connections
accepted, bytes swallowed, nothing answered), then heals. What must hold:

- 0 acknowledged events lost: every event answered 2xx ends in the events table, processed;
- 0 requests over the time bound (one answer timeout plus one reconnect, with a wide margin);
- 0 webhook answers ≥ 500 (the spool takes them), and no 500 anywhere (the routes that need the database
  answer 503 with Retry-After);
- recovery without a restart: the same process is ready again and drains everything.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from connector.store import Store
from connector.store.schema import events, inbox
from tests.conftest import POSTGRES_URL
from tests.faults import TcpProxy
from tests.reliability.procs import Connector, canonical

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]

DB_TIMEOUT = 2.0  # short, but not so short that a busy shared machine times out healthy statements
BOUND = 10.0  # seconds; without the deadlines a black-holed request hangs for minutes


def _log_tail(path: Path, lines: int = 80) -> str:
    """The connector's log without the lines every request writes: what to read when R11 fails."""
    noise = ("delivery spooled", "delivery accepted", "event applied", "metrics: store", '"database unavailable"')
    kept = [line for line in path.read_text(errors="replace").splitlines() if not any(n in line for n in noise)]
    return "\n".join(kept[-lines:])


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_r11_run_through_a_cut_and_a_black_hole_loses_nothing_and_answers_in_bounded_time(tmp_path, postgres_url):
    assert POSTGRES_URL
    real = POSTGRES_URL.split("@", 1)[1].split("/", 1)[0]
    host, port = real.rsplit(":", 1) if ":" in real else (real, "5432")
    proxy = TcpProxy(host, int(port))
    direct = Store(postgres_url)
    direct.upgrade()
    token = "tok_reliability_r11"
    connector = Connector(tmp_path, postgres_url.replace(f"@{real}/", f"@127.0.0.1:{proxy.port}/"), extra_env={
        "CONNECTOR_DB_TIMEOUT_SECONDS": str(DB_TIMEOUT), "CONNECTOR_SPOOL_DIR": str(tmp_path / "spool"),
        "CONNECTOR_API_TOKEN": token})
    proc = connector.start("run", "run", "--port", str(connector.port), "--interval", "2")
    answers: list[tuple[str, int, float]] = []   # (what, status or -1 for no answer, seconds)
    acked: set[str] = set()
    stop = threading.Event()
    start = datetime.now(UTC) - timedelta(hours=1)

    def call(what: str, method: str, url: str, **kwargs) -> int:  # noqa: ANN003
        began = time.monotonic()
        try:
            status = requests.request(method, url, timeout=BOUND + 5, **kwargs).status_code
        except requests.RequestException:
            status = -1
        answers.append((what, status, time.monotonic() - began))
        return status

    def sender() -> None:
        n = 0
        while not stop.is_set():
            event_id = f"ev-{n}"
            ev = canonical(f"T{n % 40}", event_id, iso(start + timedelta(seconds=n)), type="comment.added",
                           status="open", created_at=iso(start - timedelta(minutes=5)),
                           comment={"author_role": "end_user" if n % 3 else "agent", "public": True})
            while not stop.is_set():  # a help desk retries until it gets a 2xx
                began = time.monotonic()
                try:
                    status = connector.post(ev, f"msg-{n}", timeout=BOUND + 5).status_code
                except requests.RequestException:
                    status = -1
                answers.append(("webhook", status, time.monotonic() - began))
                if status in (200, 202):
                    acked.add(event_id)
                    break
                time.sleep(0.5)
            n += 1
            time.sleep(0.03)

    def prober() -> None:
        auth = {"Authorization": f"Bearer {token}"}
        while not stop.is_set():
            call("readyz", "GET", f"{connector.base}/readyz")
            call("tickets", "GET", f"{connector.base}/tickets/webhook/T1", headers=auth)
            call("metrics", "GET", f"{connector.base}/metrics")
            time.sleep(0.2)

    try:
        connector.wait_ready()
        threads = [threading.Thread(target=sender), threading.Thread(target=prober)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        proxy.cut()
        time.sleep(4)
        proxy.heal()
        time.sleep(3)
        proxy.blackhole()
        time.sleep(6)
        proxy.heal()
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # recovery: the same process drains the spool and the inbox
            with direct.read() as conn:
                stored = set(conn.execute(select(events.c.event_id)).scalars())
                pending = conn.execute(select(func.count()).where(inbox.c.state == "pending")).scalar_one()
            if acked <= stored and pending == 0:
                break
            time.sleep(0.5)
        ready_again = requests.get(f"{connector.base}/readyz", timeout=BOUND).status_code
        alive = proc.poll() is None
        if alive and (ready_again != 200 or not acked <= stored):
            proc.send_signal(signal.SIGUSR1)  # its threads' stacks, into its log, for the report below
            time.sleep(1)
    finally:
        stop.set()
        connector.stop_all()
        proxy.close()
        direct.dispose()

    lost = acked - stored
    over = [a for a in answers if a[1] == -1 or a[2] > BOUND]
    webhook_5xx = [a for a in answers if a[0] == "webhook" and a[1] >= 500]
    internal = [a for a in answers if a[1] == 500]
    refused = {a[0]: sum(1 for b in answers if b[0] == a[0] and b[1] == 503) for a in answers}
    slowest = max(a[2] for a in answers)
    print(f"\nR11 acked={len(acked)} lost={len(lost)} requests={len(answers)} over_{BOUND:g}s={len(over)} "
          f"webhook_5xx={len(webhook_5xx)} http_500={len(internal)} 503s={refused} slowest={slowest:.2f}s "
          f"ready_again={ready_again} restarted={not alive} "
          f"{'PASS' if not (lost or over or webhook_5xx or internal) and alive and ready_again == 200 else 'FAIL'}")
    if lost or ready_again != 200:
        print(_log_tail(tmp_path / "run.log"))
    assert len(acked) > 50
    assert not lost, sorted(lost)[:10]
    assert not over, over[:10]
    assert not webhook_5xx and not internal
    assert refused.get("readyz", 0) > 0  # the faults were seen: readiness said so while they lasted
    assert alive and ready_again == 200
