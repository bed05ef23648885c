"""The service commands through click's runner (db, outbox, worker, scheduler) and `connector run` for real."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from click.testing import CliRunner

from connector.cli import main
from connector.store import NewAction, Store
from tests.fakes.freshdesk import fake_freshdesk_fixture  # noqa: F401
from tests.fakes.zendesk import fake_zendesk_fixture  # noqa: F401
from tests.reliability.procs import ROOT, SECRET, canonical, free_port, signed_headers, wait_ready


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", url)
    monkeypatch.setenv("CONNECTOR_CONFIG", str(ROOT / "config" / "example.yaml"))
    monkeypatch.setenv("CONNECTOR_WEBHOOK_SECRET", SECRET)
    return url


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def seed_actions(url: str) -> list[int]:
    store = Store(url)
    store.upgrade()
    now = datetime.now(UTC)
    with store.ticket_tx(("webhook", "acme", "1")) as tx:
        tx.enqueue([NewAction(key=f"k{n}", source="webhook", account="acme", ticket_id="1", action="add_tags",
                              params={"tags": ["x"]}, cause="test") for n in range(3)], now=now)
    rows = store.outbox_rows()
    store.outbox_dead(rows[0], now=now, reason="permanent: gone")
    store.dispose()
    return sorted(r.id for r in rows)


def test_db_upgrade(env):
    result = invoke("db", "upgrade")
    assert result.exit_code == 0 and "newest schema" in result.output
    assert invoke("db", "upgrade").exit_code == 0  # idempotent


def test_outbox_list_retry_drop(env):
    ids = seed_actions(env)
    listed = invoke("outbox", "list")
    assert listed.exit_code == 0 and listed.output.count("add tag x (test)") == 3
    dead = invoke("outbox", "list", "--state", "dead")
    assert "last error: permanent: gone" in dead.output and dead.output.count("add tag x") == 1
    assert invoke("outbox", "retry", "--all-dead").output.strip() == "requeued 1 action"
    nothing = invoke("outbox", "retry", "--all-dead")  # nothing dead any more: said, and not an error
    assert (nothing.exit_code, nothing.output.strip()) == (0, "nothing to retry: no action is dead")
    assert invoke("outbox", "drop", str(ids[0])).output.startswith("dropped 1 action")
    missing = invoke("outbox", "drop", "9999")
    assert missing.exit_code == 1 and "left alone" in missing.output
    assert invoke("outbox", "retry").exit_code == 2  # nothing to retry named


@pytest.mark.parametrize("number", ["9223372036854775808", "99999999999999999999999999", "0", "-1",
                                    "-9223372036854775809"])
@pytest.mark.parametrize("command", ["retry", "drop"])
def test_outbox_ids_no_database_holds_exit_1_and_change_nothing(env, command, number):
    # before: 2^63 and beyond reached SQLite as typed: an OverflowError traceback (PostgreSQL: "bigint out of range")
    dead = seed_actions(env)[-1]  # retry would requeue it, drop would drop it
    result = invoke("outbox", command, "--", str(dead), number)
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert result.stderr == f"Error: no action has id {number}: action ids are 1 to 9223372036854775807 " \
                            "(nothing was changed)\n"
    store = Store(env)
    assert {r.id: r.state for r in store.outbox_rows()}[dead] == "dead"  # the good id too: nothing changed
    store.dispose()
    assert invoke("outbox", command, "9223372036854775807").output.endswith("left alone\n")  # the largest: not found


@pytest.mark.parametrize("limit", ["9223372036854775808", "0", "-1"])
def test_outbox_list_limit_out_of_range_exits_1(env, limit):
    # before: 2^63 was an OverflowError traceback; -1 listed everything on SQLite and was a DataError on PostgreSQL
    seed_actions(env)
    result = invoke("outbox", "list", "--limit", limit)
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert result.stderr == f"Error: --limit: {limit} is not a number of actions: give 1 or more\n"
    assert invoke("outbox", "list", "--limit", "9223372036854775807").exit_code == 0


def test_outbox_list_shows_what_each_action_writes(env):
    store = Store(env)
    store.upgrade()
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    note = "SLA warning: first response for this P1 ticket is due 2026-12-03T10:00:00Z (15m left).\nsecond line"
    actions = [("set_due_date", {"metric": "first_response", "cycle": 1, "due_at": "2026-12-03T10:00:00Z"}),
               ("set_due_date", {"metric": "next_response", "cycle": 2, "due_at": "2026-12-03T11:00:00Z"}),
               ("add_tags", {"tags": ["sla_warning", "vip"]}), ("remove_tags", {"tags": ["sla_due_soon"]}),
               ("set_priority", {"priority": "urgent"}), ("set_group", {"group": "escalations"}),
               ("add_note", {"body": note, "public": False}),
               ("notify", {"target": "oncall", "message": "P1 ticket 42: first response due soon"})]
    with store.ticket_tx(("webhook", "acme", "42")) as tx:
        tx.enqueue([NewAction(key=f"k{n}", source="webhook", account="acme", ticket_id="42", action=action,
                              params=params, cause="p1-warning") for n, (action, params) in enumerate(actions)],
                   now=now)
    store.dispose()
    table = invoke("outbox", "list")
    assert table.exit_code == 0, table.output
    header, *lines = table.output.splitlines()
    assert header.split() == ["id", "state", "tries", "ticket", "what", "it", "writes"]
    what = [line[header.index("what"):] for line in lines][::-1]  # newest first
    assert what == [
        "set the first_response due date to 2026-12-03T10:00:00Z",
        "set the next_response #2 due date to 2026-12-03T11:00:00Z",
        "add tags sla_warning, vip (p1-warning)", "remove tag sla_due_soon (p1-warning)",
        "set priority to urgent (p1-warning)", "move to group escalations (p1-warning)",
        'add an internal note: "SLA warning: first response for this P1 ticket is due 2026-12-03T10:00:00Z (15m…"'
        " (p1-warning)",
        'notify oncall: "P1 ticket 42: first response due soon" (p1-warning)']
    assert all(" pending " in line and " webhook/acme/42 " in line for line in lines)
    for marker in ("datetime.", "{'", "('", "MappingProxy"):
        assert marker not in table.output
    parsed = json.loads(invoke("outbox", "list", "--format", "json").output)
    assert [(a["action"], a["params"]) for a in parsed][::-1] == [(a, p) for a, p in actions]
    assert parsed[0]["ticket"] == {"source": "webhook", "account": "acme", "id": "42"}
    assert parsed[0]["state"] == "pending" and parsed[0]["created_at"] == "2026-12-03T09:00:00Z"


def test_outbox_list_shows_a_help_desks_error_text_as_escapes(env):
    # before: a help desk's error (kept as the last error) reached the terminal raw: ESC, CR, a newline
    store = Store(env)
    store.upgrade()
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    with store.ticket_tx(("webhook", "acme", "42")) as tx:
        tx.enqueue([NewAction(key="k", source="webhook", account="acme", ticket_id="42", action="add_tags",
                              params={"tags": ["vip"]}, cause="p1-warning")], now=now)
    (row,) = store.outbox_rows()
    store.outbox_dead(row, now=now, reason="permanent: 422 \x1b]0;owned\x07\x1b[2J\rok\nfake row \u202eevil")
    store.dispose()
    table = invoke("outbox", "list")
    assert table.exit_code == 0, table.output
    header, line = table.output.split("\n")[:-1]  # one row: the error's newline did not add one
    assert line.endswith("add tag vip (p1-warning) · last error: permanent: 422 \\x1b]0;owned\\x07\\x1b[2J\\rok"
                         "\\nfake row \\u202eevil")


def test_worker_and_scheduler_once(env):
    store = Store(env)
    store.upgrade()
    created = datetime.now(UTC) - timedelta(hours=2)
    body = json.dumps(canonical("7", "e7", created.strftime("%Y-%m-%dT%H:%M:%SZ"))).encode()
    store.insert_inbox(source="webhook", dedupe_key="d7", body=body, headers={}, received_at=created,
                       dedupe_window=timedelta(0))
    result = invoke("worker", "--once")
    assert result.exit_code == 0, result.output
    assert "processed 1 deliveries" in result.output
    assert {r.state for r in store.outbox_rows()} == {"dry_run"}  # no callback URL configured
    assert invoke("scheduler", "--once").output.strip() == "checked 0 tickets"
    store.dispose()


def test_service_commands_report_an_unreachable_database(monkeypatch, env):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = invoke("db", "upgrade")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot use the database: the database refused the connection" in result.output


def test_run_serves_processes_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
           "CONNECTOR_CONFIG": str(ROOT / "config" / "example.yaml"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "connector", "run", "--port", str(port), "--interval", "1"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_ready(f"http://127.0.0.1:{port}")
        secret = (tmp_path / ".connector" / "webhook-secret").read_text().strip()
        assert (tmp_path / ".connector" / "webhook-secret").stat().st_mode & 0o077 == 0
        body = json.dumps(canonical("9", "e9", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))).encode()
        resp = requests.post(f"http://127.0.0.1:{port}/hooks/webhook", data=body,
                             headers=signed_headers("m9", body, secret), timeout=5)
        assert resp.status_code == 202
        store = Store(env["CONNECTOR_DATABASE_URL"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not store.outbox_rows():
            time.sleep(0.2)
        assert store.outbox_rows()  # the worker in the same process decided the due dates
        store.dispose()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"listening on http://127.0.0.1:{port}" in out and f"POST http://127.0.0.1:{port}/hooks/webhook" in out
    assert "SQLite file" in out and "dry-run" in out
    assert f"http://127.0.0.1:{port}/reports/<sla|credits|kpis|audit>" in out
    assert secret not in out + err
    assert "stopped." in err
    assert "CONNECTOR_API_TOKEN to enable" not in out  # a token was made: nothing is left switched off


def test_run_makes_an_api_token_and_a_one_time_sign_in_link(tmp_path):
    """Issue 12 §5: no token to invent, no restart; the token never shows, the browser gets a one-time link."""
    import re

    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
           "CONNECTOR_CONFIG": str(ROOT / "config" / "example.yaml"), "PYTHONPATH": str(ROOT)}
    token_file = tmp_path / ".connector" / "api-token"
    outputs = []
    for turn in range(2):  # the second start reuses the token the first one made
        proc = subprocess.Popen([sys.executable, "-m", "connector", "run", "--port", str(port), "--interval", "60"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_ready(f"http://127.0.0.1:{port}")
            token = token_file.read_text().strip()
            assert token_file.stat().st_mode & 0o777 == 0o600
            answer = requests.get(f"http://127.0.0.1:{port}/tickets/webhook/none",
                                  headers={"Authorization": f"Bearer {token}"}, timeout=5)
            assert answer.status_code == 404, answer.text  # signed in: the ticket is simply unknown
            if turn == 0:
                first_token = token
                time.sleep(0.5)  # the banner is printed before the server runs
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=20)
                outputs.append(out + err)
                link = re.search(r"browser\s+(http://\S+)", out)
                assert link, out
                continue
            assert token == first_token
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=20)
                outputs.append(out + err)
    assert all(token not in text for text in outputs)  # the token is in the file, never on the screen
    assert f"Bearer $(cat {token_file.relative_to(tmp_path)})" in outputs[0]
    assert link.group(1).startswith(f"http://127.0.0.1:{port}/login?code=") and token not in link.group(1)


def test_run_names_a_port_in_use(tmp_path):
    import socket

    env = {"PATH": "/usr/bin:/bin", "CONNECTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
           "CONNECTOR_CONFIG": str(ROOT / "config" / "example.yaml"), "PYTHONPATH": str(ROOT)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in ("run", "serve"):
            done = subprocess.run([sys.executable, "-m", "connector", command, "--port", str(port)], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 1, done.stderr
            assert f"port {port} on 127.0.0.1 is in use" in done.stderr and "--port" in done.stderr
            assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("url", "named"), [
    ("mysql://root:hunter2@db.example/sla", "mysql is not supported"),
    ("oracle+oracledb://scott:tiger-pw@db/x", "oracle is not supported"),
    ("not a url", "not a database URL"),
])
def test_an_unsupported_database_url_names_the_key_and_the_supported_ones(monkeypatch, env, url, named):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", url)
    for args in (("db", "upgrade"), ("outbox", "list"), ("worker", "--once"), ("report", "sla")):
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"CONNECTOR_DATABASE_URL: {named}" in result.output
        assert "sqlite:///" in result.output and "postgresql://" in result.output
        assert "hunter2" not in result.output and "tiger-pw" not in result.output and "Traceback" not in result.output


def test_scheduler_polls_every_help_desk_with_credentials(tmp_path, monkeypatch, fake_zendesk, fake_freshdesk):
    from apscheduler.schedulers.background import BackgroundScheduler

    from connector.cli.service import _schedule_reconciliation
    from connector.runtime import build_runtime
    from connector.settings import Settings

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(f"""
version: 1
severities: [P1]
classification: {{default: P1}}
sources:
  zendesk: {{base_url: "{fake_zendesk.base_url}", account: acme}}
  freshdesk: {{base_url: "{fake_freshdesk.base_url}", account: acme}}
""")
    env = {"ZENDESK_WEBHOOK_SECRET": "z", "ZENDESK_EMAIL": fake_zendesk.email, "ZENDESK_API_TOKEN": fake_zendesk.token,
           "FRESHDESK_WEBHOOK_SECRET": "f", "FRESHDESK_API_KEY": fake_freshdesk.api_key}
    settings = Settings.from_env(env, config_path=str(config), database_url=f"sqlite:///{tmp_path / 'r.db'}")
    runtime = build_runtime(settings)
    scheduler = BackgroundScheduler()
    assert _schedule_reconciliation(scheduler, runtime) == ["zendesk", "freshdesk"]
    assert {job.id for job in scheduler.get_jobs()} == {"zendesk-reconcile", "freshdesk-reconcile"}
    without = build_runtime(Settings.from_env({}, config_path=str(config), database_url=settings.database_url))
    assert _schedule_reconciliation(BackgroundScheduler(), without) == []
    runtime.store.dispose()
    without.store.dispose()


def test_the_worker_logs_a_line_per_batch_and_each_event_at_debug(env, monkeypatch):
    import logging

    store = Store(env)
    store.upgrade()
    created = datetime.now(UTC) - timedelta(hours=2)
    root, level = logging.getLogger(), logging.getLogger().level
    try:
        for run, log_level in enumerate(("INFO", "DEBUG")):
            for n in range(2):  # two deliveries: one batch
                body = json.dumps(canonical(f"{run}{n}", f"e{run}{n}", created.strftime("%Y-%m-%dT%H:%M:%SZ")))
                store.insert_inbox(source="webhook", dedupe_key=f"d{run}{n}", body=body.encode(), headers={},
                                   received_at=created, dedupe_window=timedelta(0))
            monkeypatch.setenv("CONNECTOR_LOG_LEVEL", log_level)
            result = invoke("worker", "--once")
            assert result.exit_code == 0, result.output
            assert result.stderr.count('"batch applied"') == 1
            assert result.stderr.count('"event applied"') == (2 if log_level == "DEBUG" else 0)
    finally:
        root.setLevel(level)
        store.dispose()
