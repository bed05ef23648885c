"""The command line through click's runner: replay JSON contract, table, explain, check-config, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "example.yaml")
EVENTS = str(ROOT / "examples" / "events.jsonl")
CLOCK_KEYS = {"metric", "cycle", "status", "target_seconds", "started_at", "due_at", "stopped_at", "elapsed_seconds",
              "breached", "breached_at"}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def replay_json(*extra: str) -> dict:
    result = run("replay", "--config", CONFIG, "--events", EVENTS, *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def ticket(data: dict, source: str, ticket_id: str) -> dict:
    return next(t for t in data["tickets"] if t["ticket"]["source"] == source and t["ticket"]["id"] == ticket_id)


def test_replay_prints_the_contract_json():
    data = replay_json()
    assert data["now"] == "2026-12-01T15:00:00Z"  # the last event's time
    assert len(data["tickets"]) == 12
    for t in data["tickets"]:
        assert set(t) >= {"ticket", "severity", "policy", "clocks", "actions"}
        assert set(t["ticket"]) == {"source", "account", "id"}
        assert set(t["severity"]) == {"declared", "classified", "rule"}
        for c in t["clocks"]:
            assert set(c) >= CLOCK_KEYS
            assert c["status"] in {"running", "paused", "met", "breached", "cancelled"}
            assert c["started_at"].endswith("Z")


def test_replay_values_of_a_hand_checked_ticket():
    # Freshdesk 2001: P3 billing question, created Wed 2026-11-25 15:00 New York, the day before Thanksgiving.
    # 8 business hours: Wed 15:00–17:00 (2 h), Thu is Thanksgiving, Fri 09:00–15:00 (6 h) → due Fri 15:00 EST.
    t = ticket(replay_json(), "freshdesk", "2001")
    assert t["severity"] == {"declared": "P3", "classified": "P3", "rule": "billing-questions"}
    assert t["policy"] == "standard"
    fr = next(c for c in t["clocks"] if c["metric"] == "first_response")
    assert fr == {"metric": "first_response", "cycle": 1, "status": "breached", "target_seconds": 28800,
                  "calendar": "business", "started_at": "2026-11-25T20:00:00Z", "due_at": "2026-11-27T20:00:00Z",
                  "stopped_at": "2026-11-30T16:05:00Z", "elapsed_seconds": 43500, "breached": True,
                  "breached_at": "2026-11-27T20:00:00Z", "held_by": {"support": 43500}}  # billing is support's


def test_replay_of_the_examples_handoff_to_engineering():
    # Zendesk 1008: P1 (urgent) on 24x7, support 14:10–15:00Z, engineering 15:00Z–13:00Z next day, support
    # again until the reply at 13:30Z that sets it pending (resolution pauses there).
    t = ticket(replay_json(), "zendesk", "1008")
    res = next(c for c in t["clocks"] if c["metric"] == "resolution")
    assert (res["status"], res["elapsed_seconds"]) == ("breached", 84000)       # 23h20m
    assert res["held_by"] == {"support": 4800, "engineering": 79200}            # 50m + 30m; 22h
    own = next(c for c in t["clocks"] if c.get("agreement") == "engineering-triage" and c["metric"] == "ownership")
    assert (own["internal"], own["team"], own["status"], own["breached_at"]) == \
        (True, "engineering", "breached", "2026-11-30T19:00:00Z")                # 4h after 15:00Z
    assert {a["cause"] for a in t["actions"] if a["metric"] == "ownership"} == {"engineering-triage-breach"}


def test_replay_at_an_earlier_now_leaves_later_events_out():
    data = replay_json("--now", "2026-03-02T14:30:00Z")
    (t,) = data["tickets"]
    fr = t["clocks"][0]
    assert (fr["metric"], fr["status"], fr["elapsed_seconds"]) == ("first_response", "running", 1500)
    assert [a["action"] for a in t["actions"]] == ["set_due_date", "set_due_date"]


def test_duplicates_and_late_deliveries_in_the_example_are_handled():
    t = ticket(replay_json(), "zendesk", "1001")
    res = next(c for c in t["clocks"] if c["metric"] == "resolution")
    # pending 15:00–16:30 is excluded from resolution (P1 on 24x7): 14:05→15:00 + 16:30→20:30 = 4h55m
    assert (res["status"], res["elapsed_seconds"]) == ("met", 17700)


def test_replay_table_format():
    result = run("replay", "--config", CONFIG, "--events", EVENTS, "--format", "table")
    assert result.exit_code == 0
    assert "freshdesk/2001" in result.output and "billing-questions" in result.output
    assert "first_response" in result.output and "breached" in result.output


def test_explain_tells_the_story_with_named_holidays():
    result = run("explain", "--config", CONFIG, "--events", EVENTS, "--ticket", "2001")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Severity P3" in out and "rule 'billing-questions'" in out and "group is billing" in out
    assert "Policy 'standard'" in out
    assert "holiday: Thanksgiving Day" in out
    assert "due Fri 2026-11-27 15:00 EST = 2026-11-27T20:00:00Z" in out
    assert "BREACHED at Fri 2026-11-27 15:00 EST" in out  # instants in the calendar's zone
    assert "weekend" in out


def test_explain_unknown_ticket():
    result = run("explain", "--config", CONFIG, "--events", EVENTS, "--ticket", "nope")
    assert result.exit_code == 1
    assert "ticket 'nope' is not in the events" in result.output


def test_check_config_summary():
    result = run("check-config", CONFIG)
    assert result.exit_code == 0
    assert "valid" in result.output and "policies     2" in result.output and "outage → P1" in result.output


def test_check_config_invalid_lists_problems_and_exits_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "example.yaml").read_text().replace("resolution: 8h", "resolution: 8x"))
    result = run("check-config", str(bad))
    assert result.exit_code == 1
    assert "policies[1].targets.P1.resolution: '8x' is not a duration" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("lines", "message"), [
    (['{"schema": 1'], "line 1: not valid JSON"),
    (['{"schema":1,"source":"zendesk","ticket_id":"1","event_id":"e","occurred_at":"2026-03-02T10:00:00",'
      '"type":"ticket.created","ticket":{}}'], "line 1: occurred_at: '2026-03-02T10:00:00' is a naive timestamp"),
])
def test_bad_event_lines_exit_1_with_the_line_number(tmp_path, lines, message):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = run("replay", "--config", CONFIG, "--events", str(path))
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_skip_bad_warns_and_goes_on(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(Path(EVENTS).read_text() + "garbage\n")
    result = CliRunner().invoke(main, ["replay", "--config", CONFIG, "--events", str(path), "--skip-bad"])
    assert result.exit_code == 0
    assert "line 53 skipped: not valid JSON" in result.stderr
    assert len(json.loads(result.stdout)["tickets"]) == 12


@pytest.mark.parametrize(("args", "message"), [
    (["replay", "--config", CONFIG, "--events", "missing.jsonl"], "events file not found: missing.jsonl"),
    (["replay", "--config", "missing.yaml", "--events", EVENTS], "config file not found: missing.yaml"),
    (["replay", "--config", CONFIG, "--events", EVENTS, "--now", "2026-03-02T10:00:00"], "naive timestamp"),
    (["replay", "--config", CONFIG, "--events", EVENTS, "--now", "soon"], "is not an ISO 8601 timestamp"),
])
def test_bad_arguments_exit_with_a_message(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_binary_events_file(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    result = CliRunner().invoke(main, ["replay", "--config", CONFIG, "--events", str(path)])
    assert result.exit_code == 1 and "not UTF-8 text" in result.output


@pytest.mark.parametrize("command", [["replay"], ["explain", "--ticket", "1001"], ["report", "sla"]])
def test_offline_commands_default_to_the_config_run_uses_and_say_so(tmp_path, monkeypatch, command):
    """Issue 12 §7: --config, else CONNECTOR_CONFIG, else config/example.yaml where it exists — as `run`."""
    monkeypatch.delenv("CONNECTOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    events = str(Path(CONFIG).parent.parent / "examples" / "events.jsonl")
    missing = CliRunner().invoke(main, [*command, "--events", events])
    assert missing.exit_code == 2 and "no config given: use --config FILE or set CONNECTOR_CONFIG" in missing.output

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "example.yaml").write_text(Path(CONFIG).read_text())
    found = CliRunner().invoke(main, [*command, "--events", events])
    assert found.exit_code == 0, found.output
    assert found.stderr.strip().splitlines()[0] == "config: config/example.yaml (no --config or CONNECTOR_CONFIG given)"
    assert "config/example.yaml" not in found.stdout  # said on stderr: the report or JSON on stdout stays clean

    monkeypatch.setenv("CONNECTOR_CONFIG", CONFIG)
    chosen = CliRunner().invoke(main, [*command, "--events", events])
    assert chosen.exit_code == 0 and chosen.stderr == ""


def test_the_lazy_command_table_names_every_module_command():
    """`connector.cli.COMMANDS` names each command where its module defines it, and no other: a command added
    to a module's `COMMANDS` but not to the table would never be offered."""
    import importlib
    import subprocess
    import sys

    from connector import cli
    from connector.cli import board, capacity, freshdesk, mapping, offline, reports, service, simulate, zendesk

    modules = (offline, mapping, reports, simulate, capacity, board, service)
    defined = {c.name: c for m in modules for c in m.COMMANDS} | {"zendesk": zendesk.zendesk}
    backfills = {c.name: c for c in (zendesk.backfill_command, freshdesk.backfill_command)}
    for table, commands in ((cli.COMMANDS, defined), (cli.BACKFILL_COMMANDS, backfills)):
        assert set(table) == set(commands)
        for name, where in table.items():
            module, _, attr = where.partition(":")
            assert getattr(importlib.import_module(f"connector.cli.{module}"), attr) is commands[name]
    # and a replay does not import the service, the reports or the help desks' clients
    code = ("import sys; from connector.cli import main; main.get_command(None, 'replay'); "
            "print(sorted(m for m in sys.modules if m.startswith(('connector.cli.', 'connector.service', "
            "'connector.reports', 'zenpy', 'freshdesk', 'flask'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "['connector.cli.common', 'connector.cli.errors', 'connector.cli.offline']"
