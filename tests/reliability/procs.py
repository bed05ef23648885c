"""Real connector processes for the reliability tests: start, wait until ready, SIGKILL, restart."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_" + base64.b64encode(b"reliability-test-secret-32-bytes").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign(msg_id: str, timestamp: int, body: bytes, secret: str = SECRET) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(msg_id: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(msg_id, ts, body, secret),
            "content-type": "application/json"}


def canonical(ticket_id: str, event_id: str, occurred_at: str, *, status: str = "new", priority: str = "urgent",
              type: str = "ticket.created", created_at: str | None = None, comment: Mapping[str, Any] | None = None,
              ) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema": 1, "source": "webhook", "account": "acme", "ticket_id": ticket_id, "event_id": event_id,
        "occurred_at": occurred_at, "type": type,
        "ticket": {"status": status, "priority": priority, "subject": "API is down", "description": "503s",
                   "requester": {"id": "r", "org": "Initech", "tier": "standard"}, "tags": [],
                   "created_at": created_at or occurred_at},
    }
    if comment is not None:
        event["comment"] = dict(comment)
    return event


def wait_ready(base: str, timeout: float = 30.0) -> bool:
    """Poll `base`/readyz until it answers 200 (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


class Connector:
    """Environment and processes of one connector deployment under test."""

    def __init__(self, workdir: Path, database_url: str, *, config: Path | None = None,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CONNECTOR_DATABASE_URL": database_url, "CONNECTOR_WEBHOOK_SECRET": SECRET,
                    "CONNECTOR_CONFIG": str(config or ROOT / "config" / "example.yaml"), "PYTHONUNBUFFERED": "1",
                    "CONNECTOR_CLAIM_LEASE_SECONDS": "2",
                    **(extra_env or {})}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Any] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed when the process is killed
        proc = subprocess.Popen([sys.executable, "-m", "connector", *args], cwd=self.workdir, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        self.logs[name] = log
        return proc

    def start_web(self) -> None:
        self.start("web", "serve", "--port", str(self.port), "--threads", "8")
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not wait_ready(self.base, timeout):
            raise TimeoutError(f"web not ready; log:\n{(self.workdir / 'web.log').read_text()[-3000:]}")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        log = self.logs.pop(name, None)
        if log is not None:
            log.close()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "connector", *args], cwd=self.workdir, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def post(self, event_or_batch: Any, msg_id: str, *, timeout: float = 5.0) -> requests.Response:
        body = json.dumps(event_or_batch).encode()
        return requests.post(f"{self.base}/hooks/webhook", data=body, headers=signed_headers(msg_id, body),
                             timeout=timeout)
