"""The README's quick start, walked as a newcomer walks it: its commands as written, on a fresh directory.

The commands are read from the README's code blocks (not copied here), so the test breaks when the README
and the product disagree. Only the port changes (a free one instead of 8080, which a parallel test run or a
developer's own connector may hold) and `[optional]` parts of a synopsis are left out. What a reader sees
is checked: live tickets with due dates ahead, the values in `connector outbox list`, whole seconds and
no Python repr in any output meant for people.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.reliability.procs import ROOT, free_port, wait_ready

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
REPR = ("datetime.", "{'", "('", "MappingProxy", "tzinfo", "Decimal(")
FRACTIONAL = re.compile(r"\b\d+\.\d+s\b|\d+h\d+m\d+\.\d+")   # 7.53s, 9d17h22m7.53347s
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _block(marker: str) -> list[str]:
    """The command lines of the README's bash block that contains `marker`, comments and `[…]` left out."""
    (block,) = [b for b in BLOCKS if marker in b]
    lines = []
    for line in block.splitlines():
        command = re.sub(r"\s+#\s.*$", "", line).strip()   # a comment after the command, two spaces or more
        command = re.sub(r"\s*\[[^\]]*\]", "", command)      # optional parts of a synopsis
        if command and not command.startswith("#"):
            lines.append(command)
    return lines


def _human(text: str, where: str) -> None:
    for marker in REPR:
        assert marker not in text, f"{where}: a Python repr ({marker!r}) in\n{text}"
    assert not FRACTIONAL.search(text), f"{where}: a fractional second in\n{text}"


@pytest.fixture
def fresh(tmp_path: Path):
    """A directory holding what a clone holds for the quick start, and an environment with no connector settings."""
    for folder in ("examples", "config"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return tmp_path, env


def _shell(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_offline_commands_print_words_and_whole_seconds(fresh):
    cwd, env = fresh
    commands = _block("connector check-config")
    assert [c.split()[1] for c in commands] == ["check-config", "replay", "explain"]
    for command in commands:
        if " replay " in f" {command} ":
            command += " --format table"   # the synopsis offers json|table: the table is the one people read
        done = _shell(command, cwd, env)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        _human(done.stdout, command)
    story = _shell(commands[2], cwd, env).stdout
    assert "due " in story and INSTANT.search(story)


def test_the_quick_start_shows_a_live_ticket(fresh):
    cwd, env = fresh
    (run_block,) = [b for b in BLOCKS if "connector run" in b and "pip install" in b]
    assert run_block.strip() == "pip install -e . && connector run"   # the first command; the install is this venv's
    port = free_port()
    server = subprocess.Popen(["connector", "run", "--port", str(port), "--interval", "1"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if not wait_ready(f"http://127.0.0.1:{port}", 60):
            pytest.fail("connector run did not become ready")
        started = datetime.now(UTC)
        commands = [c.replace("localhost:8080", f"localhost:{port}") for c in _block("send-webhook.sh")]
        sends = [c for c in commands if c.startswith("examples/send-webhook.sh")]
        assert len(sends) == 2
        shell_env = {**env, "CONNECTOR_URL": f"http://127.0.0.1:{port}"}
        accepted = []
        for command in sends:
            done = _shell(command, cwd, shell_env)
            assert done.returncode == 0, done.stderr
            accepted += [json.loads(line) for line in done.stdout.splitlines()]
        assert [a["status"] for a in accepted] == ["accepted"] * 4   # one event, then three

        listing = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:   # the worker decides within moments of the delivery
            listing = _shell("connector outbox list", cwd, env).stdout
            if listing.count("webhook/acme/42") >= 2 and listing.count("webhook/acme/43") >= 3:
                break
            time.sleep(0.3)
        _human(listing, "connector outbox list")
        header, *rows = listing.splitlines()
        assert "what it writes" in header
        due = {m.group(0) for row in rows for m in [INSTANT.search(row)] if m and "due date" in row}
        assert due and all(datetime.fromisoformat(d.replace("Z", "+00:00")) > started for d in due), listing
        assert "set the first_response due date to" in listing and "set the next_response #1 due date" in listing
        assert not any("late" in row or "breach" in row for row in rows), listing   # nothing is overdue

        metrics, tickets = [c for c in commands if c.startswith("curl")]
        assert "connector_" in _shell(metrics, cwd, env).stdout

        # `connector run` made the API token; the README's curl reads it from its file: the same clocks
        token_file = cwd / ".connector" / "api-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        ticket = json.loads(_shell(tickets, cwd, env).stdout)
        clocks = ticket["clocks"]
        assert clocks and all(c["status"] == "running" for c in clocks)
        for clock in clocks:
            assert datetime.fromisoformat(clock["due_at"].replace("Z", "+00:00")) > started
            assert all(isinstance(v, int) for k, v in clock.items() if k.endswith("_seconds") and v is not None)
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        story = requests.get(f"http://127.0.0.1:{port}/tickets/webhook/43/explain", headers=headers, timeout=10)
        assert story.status_code == 200
        _human(story.text, "GET /tickets/webhook/43/explain")
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    _human(out, "connector run")
    assert token_file.read_text().strip() not in out   # the token is in its file, never on the screen
    link = re.search(r"browser\s+(http://\S+/login\?code=\S+)", out)
    assert link, out
