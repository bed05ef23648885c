"""`connector report …` through click's runner: the shipped example, every format, and bad input → exit 1."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.events import MAX_LINE_CHARS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "example.yaml")
EVENTS = str(ROOT / "examples" / "events.jsonl")


def invoke(*args: str):
    return CliRunner().invoke(main, ["report", *args])


@pytest.mark.parametrize("name", ["sla", "credits", "kpis", "audit"])
def test_each_report_runs_on_the_shipped_example(name: str) -> None:
    result = invoke(name, "--config", CONFIG, "--events", EVENTS)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["report"] == name and data["now"] == "2026-12-01T15:00:00Z"
    assert data["timezone"] == "America/New_York"  # reports.timezone of the example


def test_sla_json_rows_have_the_documented_keys() -> None:
    result = invoke("sla", "--config", CONFIG, "--events", EVENTS)
    rows = json.loads(result.output)["rows"]
    assert rows
    for key in ("metric", "severity", "policy", "tickets", "met", "breached", "attainment_pct", "p50_seconds",
                "p90_seconds", "p95_seconds", "max_seconds", "breach_seconds"):
        assert key in rows[0]


def test_csv_shows_the_same_numbers_as_json() -> None:
    as_json = json.loads(invoke("sla", "--config", CONFIG, "--events", EVENTS).output)["rows"]
    result = invoke("sla", "--config", CONFIG, "--events", EVENTS, "--format", "csv")
    assert result.exit_code == 0, result.output
    as_csv = list(csv.DictReader(io.StringIO(result.output)))
    assert len(as_csv) == len(as_json)
    for j, c in zip(as_json, as_csv, strict=True):
        assert (c["metric"], c["severity"], c["policy"]) == (j["metric"], j["severity"], j["policy"])
        assert int(c["met"]) == j["met"] and int(c["breached"]) == j["breached"]
        assert (c["p90_seconds"] == "") == (j["p90_seconds"] is None)
        if j["p90_seconds"] is not None:
            assert float(c["p90_seconds"]) == pytest.approx(j["p90_seconds"])


def test_html_goes_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "audit.html"
    result = invoke("audit", "--config", CONFIG, "--events", EVENTS, "--format", "html", "-o", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "<svg" in page and "<table" in page


def test_window_and_grouping_options() -> None:
    result = invoke("sla", "--config", CONFIG, "--events", EVENTS, "--by", "org", "--by", "source",
                    "--period", "month", "--from", "2026-03-01", "--to", "2026-03-31")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["by"] == ["source", "org"] and {r["period"] for r in data["rows"]} == {"2026-03"}
    assert data["from"] == "2026-03-01T05:00:00Z" and data["to"] == "2026-04-01T04:00:00Z"  # New York midnights


@pytest.mark.parametrize("args, message", [
    (["--events", "missing.jsonl"], "events file not found"),
    (["--from", "first of May"], "from: 'first of May'"),
    (["--tz", "x" * 5000], "unknown time zone"),
    (["--from", "2026-03-05", "--to", "2026-03-01"], "--to: must be after `from`"),
    (["--by", "colour"], "unknown grouping 'colour'"),
    (["--tz", "Mars/Base"], "unknown time zone"),
])
def test_bad_options_exit_1_with_a_message(args: list[str], message: str) -> None:
    base = ["sla", "--config", CONFIG, *([] if "--events" in args else ["--events", EVENTS])]
    result = invoke(*base, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_an_invalid_config_exits_1_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = Path(CONFIG).read_text(encoding="utf-8").replace('{below: "99%", credit: "5%"}',
                                                            '{below: "99%", credit: "lots"}')
    bad.write_text(text, encoding="utf-8")
    result = invoke("credits", "--config", str(bad), "--events", EVENTS)
    assert result.exit_code == 1
    assert "contracts[0].credits[0].credit" in result.output


def test_by_is_only_for_the_sla_report() -> None:
    result = invoke("kpis", "--config", CONFIG, "--events", EVENTS, "--by", "org")
    assert result.exit_code == 2  # click: no such option for kpis


# --- histories holding instants ingest refuses (issue 11) ----------------------------------------------------

BAD_INSTANTS = [
    ("occurred_at", "0001-01-01T00:00:00Z"),
    ("occurred_at", "9999-12-31T23:59:59Z"),
    ("occurred_at", "0001-01-01T00:00:00+14:00"),   # before the first representable instant in UTC
    ("ticket.created_at", "0001-01-01T00:00:00Z"),
    ("ticket.created_at", "9999-12-31T00:00:00-14:00"),
]


def _history_with(tmp_path: Path, key: str, value: str) -> tuple[Path, int]:
    """The shipped example with one more line whose `key` is `value`; return the file and that line's number."""
    lines = Path(EVENTS).read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[0])
    bad.update(event_id="old-1", ticket_id="old-1")
    if key.startswith("ticket."):
        bad["ticket"][key.removeprefix("ticket.")] = value
    else:
        bad[key] = value
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([*lines, json.dumps(bad)]) + "\n", encoding="utf-8")
    return path, len(lines) + 1


@pytest.mark.parametrize("key, value", BAD_INSTANTS)
@pytest.mark.parametrize("command", [["replay"], ["report", "sla"], ["report", "credits"], ["report", "kpis"],
                                     ["report", "audit"]])
def test_a_bad_instant_is_a_bad_line_not_a_traceback(tmp_path: Path, command: list[str], key: str, value: str):
    path, line = _history_with(tmp_path, key, value)
    args = [*command, "--config", CONFIG, "--events", str(path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"Error: 1 bad line:\n  line {line}: {key}: '{value}' is outside 1970-01-01T00:00:00Z" in result.output
    # --skip-bad reports the rest, with a warning naming the line left out
    skipped = CliRunner().invoke(main, [*args, "--skip-bad", *(["--format", "csv"] if command[0] == "report" else [])])
    assert skipped.exit_code == 0, skipped.output
    assert f"warning: {path}: line {line} skipped: {key}: " in skipped.output


def test_a_history_at_the_edges_of_the_range_reports(tmp_path: Path):
    lines = Path(EVENTS).read_text(encoding="utf-8").splitlines()
    edges = []
    for n, at in enumerate(("1970-01-01T00:00:00Z", "2099-12-31T23:59:59Z")):
        event = json.loads(lines[0])
        event.update(event_id=f"edge-{n}", ticket_id=f"edge-{n}", occurred_at=at)
        event["ticket"]["created_at"] = at
        edges.append(json.dumps(event))
    path = tmp_path / "edges.jsonl"
    path.write_text("\n".join([*lines, *edges]) + "\n", encoding="utf-8")
    for name in ("sla", "credits", "kpis", "audit", "olas", "attribution"):
        result = invoke(name, "--config", CONFIG, "--events", str(path), "--period", "quarter")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["now"] == "2099-12-31T23:59:59Z" and data["skipped"] == {}
        # every format, over a window from the first day to the last (credits as HTML was a traceback: its page
        # read a period's end, 2100-01-01T05:00:00Z, back through the check of input instants)
        for fmt in ("csv", "html"):
            shown = invoke(name, "--config", CONFIG, "--events", str(path), "--from", "1970-01-01", "--to",
                           "2099-12-31", "--format", fmt)
            assert shown.exit_code == 0 and shown.exception is None, (name, fmt, shown.output[-500:])
    replayed = CliRunner().invoke(main, ["replay", "--config", CONFIG, "--events", str(path)])
    assert replayed.exit_code == 0, replayed.output
    assert {t["ticket"]["id"] for t in json.loads(replayed.stdout)["tickets"]} >= {"edge-0", "edge-1"}


# --- one table alone, and what a report says in words (issue 12) --------------------------------------------


def test_table_gives_one_table_as_plain_csv() -> None:
    result = invoke("audit", "--config", CONFIG, "--events", EVENTS, "--table", "top_share_by_agent")
    assert result.exit_code == 0, result.output
    assert "#" not in result.stdout
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["agent", "tickets", "top", "share_pct"]
    assert rows[0]["agent"] == "(unassigned)"               # not an empty cell
    findings = invoke("audit", "--config", CONFIG, "--events", EVENTS, "--table", "findings", "--format", "csv")
    assert findings.exit_code == 0, findings.output
    assert [r["ticket_id"] for r in csv.DictReader(io.StringIO(findings.stdout))] == ["1006", "1007"]
    breaches = invoke("sla", "--config", CONFIG, "--events", EVENTS, "--table", "breaches")
    assert breaches.exit_code == 0 and "late_seconds" in breaches.stdout.splitlines()[0]


@pytest.mark.parametrize("args, message", [
    (["audit", "--table", "agents"], "--table: the audit report has no table 'agents'; its tables are confusion, "
                                     "top_share_by_period, top_share_by_org, top_share_by_group, top_share_by_agent, "
                                     "rules, findings, bounced, skipped"),
    (["sla", "--table", "findings"], "--table: the sla report has no table 'findings'; its tables are rows, "
                                     "breaches, skipped"),
    (["audit", "--table", "rules", "--format", "json"], "--table: one table alone is CSV"),
    (["kpis", "--table", "groups", "--format", "html"], "--table: one table alone is CSV"),
])
def test_a_table_that_is_not_there_exits_1_listing_the_tables(args: list[str], message: str) -> None:
    result = invoke(*args, "--config", CONFIG, "--events", EVENTS)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output


def test_the_table_option_lists_the_tables_in_its_help() -> None:
    result = invoke("audit", "--help")
    assert result.exit_code == 0
    assert "top_share_by_agent" in " ".join(result.output.split())


def test_credits_say_when_the_window_covers_part_of_a_quarterly_contract() -> None:
    result = invoke("credits", "--config", CONFIG, "--events", EVENTS, "--from", "2026-03-01", "--to", "2026-03-31")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)                        # standard output stays one JSON document
    row = next(r for r in data["rows"] if r["contract"] == "globex-standard")
    assert (row["period"], row["contract_period"], row["partial"]) == ("2026-Q1", "quarter", True)
    assert result.stderr == f"note: {data['notes'][0]}\n"
    assert "globex-standard is a quarterly contract: 2026-Q1 runs 2026-01-01 to 2026-03-31" in result.stderr
    quiet = invoke("credits", "--config", CONFIG, "--events", EVENTS, "--from", "2026-01-01", "--to", "2026-03-31")
    assert quiet.exit_code == 0 and quiet.stderr == ""


# --- lines nested too deep, lines without end (robustness pass) -----------------------------------------------

PROPOSED = str(ROOT / "examples" / "proposed-p3-first-response-4h.yaml")
EVERY_READER = [["replay"], ["explain", "--ticket", "1001"], ["report", "sla"], ["report", "credits"],
                ["report", "audit"], ["simulate", "--proposed", PROPOSED],
                ["capacity", "--policy", "standard", "--target", "P3 first_response 90%", "--aht", "30m"]]


def _deep_history(tmp_path: Path, depth: int) -> tuple[Path, int]:
    """The shipped example with one more event holding, under a key no reader knows, lists `depth` deep."""
    lines = Path(EVENTS).read_text(encoding="utf-8").splitlines()
    extra = json.dumps(dict(json.loads(lines[0]), event_id="deep-1", ticket_id="deep-1"))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([*lines, '{"x": ' + "[" * depth + "]" * depth + ", " + extra[1:]]) + "\n",
                    encoding="utf-8")
    return path, len(lines) + 1


@pytest.mark.parametrize("command", EVERY_READER, ids=lambda c: " ".join(c[:2]))
def test_a_line_nested_too_deep_is_a_bad_line_for_every_reader(tmp_path: Path, command: list[str]):
    # before: a RecursionError traceback, with --skip-bad too
    path, line = _deep_history(tmp_path, 1000)
    args = [*command, "--config", CONFIG, "--events", str(path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output[-500:]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output == f"Error: 1 bad line:\n  line {line}: nested too deep (more than 32 levels of lists " \
                            "and objects)\n"
    skipped = CliRunner().invoke(main, [*args, "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output[-500:]
    assert skipped.stderr == f"warning: {path}: line {line} skipped: nested too deep (more than 32 levels of " \
                             "lists and objects)\n"
    assert skipped.stdout


def test_a_line_nested_too_deep_in_a_replay_over_several_processes(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    from connector.cli import replay_fork

    path, line = _deep_history(tmp_path, 100_000)
    monkeypatch.setattr(replay_fork, "MIN_LINES", 1)
    outputs = []
    for workers in (1, 2):
        monkeypatch.setattr(replay_fork, "processes", lambda workers=workers: workers)
        result = CliRunner().invoke(main, ["replay", "--config", CONFIG, "--events", str(path), "--skip-bad"])
        assert result.exit_code == 0 and "replaying in one process" not in result.stderr, result.stderr[-500:]
        assert f"line {line} skipped: nested too deep" in result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("command", EVERY_READER, ids=lambda c: " ".join(c[:2]))
def test_a_line_without_end_is_an_error_not_a_read_of_everything(tmp_path: Path, command: list[str]):
    # before: the whole file was read into memory first; /dev/zero, which never ends a line, was read forever
    path = tmp_path / "events.jsonl"
    with path.open("w", encoding="utf-8") as out:
        out.write(Path(EVENTS).read_text(encoding="utf-8"))
        out.write('{"x": "' + "a" * (MAX_LINE_CHARS + 1))   # no newline, no end
    lines = Path(EVENTS).read_text(encoding="utf-8").count("\n")
    for skip in ([], ["--skip-bad"]):   # skipping it would mean reading on to a newline that may never come
        result = CliRunner().invoke(main, [*command, "--config", CONFIG, "--events", str(path), *skip])
        assert result.exit_code == 1, result.output[-500:]
        assert result.output == (f"Error: {path}: line {lines + 1} is longer than {MAX_LINE_CHARS} characters; an "
                                 "events file holds one canonical event per line (a few hundred bytes each)\n")


def _bounded_memory() -> None:  # pragma: no cover - runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.skipif(not Path("/dev/zero").exists() or sys.platform != "linux", reason="no /dev/zero")
def test_an_endless_device_as_events_is_an_error():
    # a process of its own with 2 GiB of address space: a reader that reads until the end would take every byte
    # of the machine's memory before it failed
    result = subprocess.run([sys.executable, "-m", "connector", "replay", "--config", CONFIG, "--events", "/dev/zero"],
                            capture_output=True, text=True, timeout=120, preexec_fn=_bounded_memory, check=False)
    assert result.returncode == 1, result.stderr[-500:]
    assert result.stderr == (f"Error: /dev/zero: line 1 is longer than {MAX_LINE_CHARS} characters; an events file "
                             "holds one canonical event per line (a few hundred bytes each)\n")
