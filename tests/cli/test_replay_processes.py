"""`connector replay` in several processes (issue 14): the same bytes, errors and warnings as in one.

The history is split by ticket over forked processes (`connector/cli/replay_fork.py`); what tickets share
(the default `now`, a repeated event id on two tickets, bad lines and their order) is settled between them.
Each case runs the command in one process and in two and three, and compares stdout, stderr and the exit
code byte for byte."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.cli import main, replay_fork

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "config" / "example.yaml")
EXAMPLE = [json.loads(line) for line in (ROOT / "examples" / "events.jsonl").read_text().splitlines() if line.strip()]


def history(copies: int = 4) -> list[dict]:
    """The example's 12 tickets, `copies` times over under other ids and accounts, in the example's order."""
    out = []
    for n in range(copies):
        for raw in EXAMPLE:
            e = dict(raw, ticket_id=f"{raw['ticket_id']}-{n}", event_id=f"{raw['event_id']}-{n}")
            if n % 2:
                e["account"] = f"acct{n}"
            out.append(e)
    return out


def run(path: Path, workers: int, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, bytes, str]:
    monkeypatch.setattr(replay_fork, "MIN_LINES", 1)
    monkeypatch.setattr(replay_fork, "processes", lambda: workers)
    result = CliRunner().invoke(main, ["replay", "--config", CONFIG, "--events", str(path), *extra])
    return result.exit_code, result.stdout_bytes, result.stderr


def same_in_one_and_several(path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[int, bytes, str]:
    one = run(path, 1, monkeypatch, *extra)
    for workers in (2, 3):
        several = run(path, workers, monkeypatch, *extra)
        assert several[0] == one[0]
        assert several[2] == one[2]
        assert several[1] == one[1]
    return one


def write(tmp_path: Path, lines: list[str], *, end: str = "\n") -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes((end.join(lines) + end).encode())
    return path


def test_a_history_replays_to_the_same_bytes_in_several_processes(tmp_path, monkeypatch):
    path = write(tmp_path, [json.dumps(e) for e in history()])
    code, out, _ = same_in_one_and_several(path, monkeypatch)
    assert code == 0 and len(json.loads(out)["tickets"]) == 48


def test_an_earlier_now_an_id_shared_by_two_tickets_and_odd_lines_give_the_same_result(tmp_path, monkeypatch):
    events = history(3)
    lines = [json.dumps(e) for e in events]
    twin = dict(events[2], ticket_id="elsewhere")  # the same (source, account, event_id) on another ticket
    lines.insert(2, json.dumps(twin))               # ... earlier in the file: this one keeps the id
    lines.append(json.dumps(dict(events[7], ticket_id="also-elsewhere")))  # later: dropped
    lines.append(json.dumps(dict(events[5], ticket_id="other-account", account="beta")))  # another id: kept
    numeric = dict(events[0], ticket_id=4242, event_id="numeric-id")      # an id as a number (the careful path)
    lines.insert(10, json.dumps(numeric))
    lines.append(json.dumps(dict(events[1], ticket_id="4242", event_id="string-id")))  # the same ticket
    lines.insert(4, "")
    lines.insert(9, "   ")
    path = write(tmp_path, lines, end="\r\n")
    code, out, _ = same_in_one_and_several(path, monkeypatch, "--now", "2026-11-29T00:00:00Z")
    data = json.loads(out)
    assert code == 0 and data["now"] == "2026-11-29T00:00:00Z"
    assert any(t["ticket"]["id"] == "elsewhere" for t in data["tickets"])
    assert not any(t["ticket"]["id"] == "also-elsewhere" for t in data["tickets"])
    assert any(t["ticket"]["id"] == "other-account" for t in data["tickets"])
    assert any(t["ticket"]["id"] == "4242" for t in data["tickets"])
    assert not any(t["ticket"]["id"].startswith("1006-") for t in data["tickets"])  # its events come after now


def test_bad_lines_are_listed_in_line_order_whichever_process_read_them(tmp_path, monkeypatch):
    lines = [json.dumps(e) for e in history(2)]
    lines[3] = '{"source": "zendesk", "ticket_id": "x", '                  # not JSON: no ticket known
    lines[8] = json.dumps(dict(json.loads(lines[8]), occurred_at="soon"))  # a bad value of a known ticket
    lines[20] = json.dumps(dict(json.loads(lines[20]), source=""))         # an empty source
    path = write(tmp_path, lines)
    code, out, err = same_in_one_and_several(path, monkeypatch)
    assert code == 1 and out == b""
    assert "3 bad lines" in err and err.index("line 4:") < err.index("line 9:") < err.index("line 21:")
    code, out, err = same_in_one_and_several(path, monkeypatch, "--skip-bad")
    assert code == 0 and err.count("skipped") == 3 and len(json.loads(out)["tickets"]) == 24


@pytest.mark.parametrize("body", ["", "\n\n", '{"not": "an event"}\n'])
def test_no_events_at_all(tmp_path, monkeypatch, body):
    path = tmp_path / "events.jsonl"
    path.write_text(body)
    same_in_one_and_several(path, monkeypatch, "--skip-bad")
    same_in_one_and_several(path, monkeypatch, "--skip-bad", "--now", "2026-03-02T16:00:00Z")


def test_a_file_without_a_last_newline(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in history(1)) + '\n{"truncated": ')
    code, _, err = same_in_one_and_several(path, monkeypatch)
    assert code == 1 and "line 53" in err


def test_a_process_that_fails_leaves_the_replay_to_one(tmp_path, monkeypatch):
    path = write(tmp_path, [json.dumps(e) for e in history(1)])
    expected = run(path, 1, monkeypatch)

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug in a replay process")

    monkeypatch.setattr(replay_fork, "_work", broken)
    code, out, err = run(path, 2, monkeypatch)
    assert (code, out) == expected[:2]
    assert "replaying in one process (a replay process failed" in err


def test_a_ticket_id_key_inside_the_fields_first_leaves_the_replay_to_one_quietly(tmp_path, monkeypatch):
    """Lines are shared by a ticket id read off their text (`events.line_ticket`): one that reads another
    object's `"ticket_id"` (the ticket's fields written before the event's own key), and so went to another
    ticket's process, is caught by the process that parses it, and the whole replay is done in one process,
    with no warning (nothing failed). (A misread id that goes to the right process anyway is no harm.)"""
    from connector import replay as replay_module

    events = history(1)
    lines = [json.dumps(e) for e in events]
    tricky = events[5]
    real = tricky["ticket_id"]  # the processes are forked: they hash strings as this one does
    inner = next(name for name in (f"not-this-one-{n}" for n in range(1000))
                 if all(hash(name) % workers != hash(real) % workers for workers in (2, 3)))
    reordered = {"ticket": {**tricky["ticket"], "fields": {"ticket_id": inner}},
                 **{k: v for k, v in tricky.items() if k != "ticket"}}
    lines[5] = json.dumps(reordered)
    path = write(tmp_path, lines)
    in_one: list[int] = []
    whole = replay_module.replay
    monkeypatch.setattr(replay_module, "replay", lambda *a, **k: in_one.append(1) or whole(*a, **k))
    code, out, err = same_in_one_and_several(path, monkeypatch)
    assert code == 0 and err == ""
    assert len(in_one) == 3  # one process asked for, then two and three, each falling back to one
    data = json.loads(out)
    [ticket] = [t for t in data["tickets"] if t["ticket"]["id"] == tricky["ticket_id"]]
    assert ticket["clocks"]


@pytest.mark.parametrize(("line", "guess"), [
    ('{"ticket_id":"T-1","source":"x"}', "T-1"),
    ('{"ticket_id": "T 2", "source": "x"}', "T 2"),
    ('{"source": "x", "ticket_id": "a\\"b"}', 'a"b'),      # an escape: read by msgspec
    ('{"source": "x", "ticket_id": 42}', None),            # a number: only parsing can say
    ('{"source": "x", "ticket_id":  "two spaces"}', "two spaces"),
    ('{"ticket": {"fields": {"ticket_id": "inner"}}, "source": "x", "ticket_id": "outer"}', "inner"),
    ('not json', None),
])
def test_a_lines_ticket_id_is_guessed_from_its_text(line: str, guess: str | None):
    from connector.events import line_ticket

    assert line_ticket(line) == guess
    # read where it stands in a file, between other lines: the same guess, nothing read past its end
    text = '{"ticket_id":"before"}\n' + line + '\n{"ticket_id":"after"}\n'
    start = text.index("\n") + 1
    assert line_ticket(text, start, start + len(line) + 1) == guess


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), workers=st.integers(2, 4), cut=st.integers(0, 60))
def test_any_shuffle_of_a_history_replays_the_same_in_several_processes(tmp_path_factory, monkeypatch, seed, workers,
                                                                       cut):
    """Lines in any order (out-of-order events, repeats of an event id on its own ticket and on others), at a
    `now` anywhere in the history."""
    rng = random.Random(seed)
    events = history(2)
    events += [dict(rng.choice(events)) for _ in range(6)]                             # repeated ids
    events += [dict(rng.choice(events), ticket_id=f"other-{n}") for n in range(4)]    # ids on other tickets
    rng.shuffle(events)
    path = write(tmp_path_factory.mktemp("shuffle"), [json.dumps(e) for e in events])
    instants = sorted(e["occurred_at"] for e in events)
    now = ["--now", instants[cut % len(instants)]] if cut % 3 else []
    one = run(path, 1, monkeypatch, *now)
    assert one[0] == 0
    assert run(path, workers, monkeypatch, *now) == one


def test_a_process_killed_mid_work_leaves_the_replay_to_one(tmp_path, monkeypatch):
    """Killed (SIGKILL, no goodbye on the pipe) after reading its lines: the parent sees the pipe close,
    waits for it, and replays in one process; nothing is printed twice."""
    import os
    import signal

    path = write(tmp_path, [json.dumps(e) for e in history(1)])
    expected = run(path, 1, monkeypatch)
    work = replay_fork._work

    def killed_in_the_middle(conn, index, workers, config, text, bounds, out):  # noqa: ANN001, ANN202
        if index == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return work(conn, index, workers, config, text, bounds, out)

    monkeypatch.setattr(replay_fork, "_work", killed_in_the_middle)
    code, out, err = run(path, 2, monkeypatch)
    assert (code, out) == expected[:2]
    assert "replaying in one process (a replay process ended early)" in err


def test_hostile_lines_are_answered_the_same_in_several_processes(tmp_path, monkeypatch):
    """Out-of-range and hostile values: each line is one process's, and the answer is one process's."""
    base = history(1)
    hostile = [
        dict(base[0], ticket_id="T" * 10_000),                          # an id far over 255 characters
        dict(base[1], event_id="e\x00nul"),                             # a NUL in an id
        dict(base[2], occurred_at="0001-01-01T00:00:00Z"),              # years outside 1970-2099
        dict(base[3], occurred_at="9999-12-31T23:59:59Z"),
        dict(base[4], ticket_id=10**40),                                # a number beyond 64 bits as an id
        dict(base[0], ticket_id="=HYPERLINK(\"http://x\")", event_id="formula"),  # formula-leading: just an id
        dict(base[6], ticket={**base[6]["ticket"], "fields": {"n": 10**30}}),
    ]
    lines = [json.dumps(e) for e in base] + [json.dumps(e) for e in hostile] + ['{"ticket_id": 1e400}', "\x00"]
    path = write(tmp_path, lines)
    code, _, err = same_in_one_and_several(path, monkeypatch)
    assert code == 1 and "bad line" in err
    code, out, err = same_in_one_and_several(path, monkeypatch, "--skip-bad")
    assert code == 0 and any(t["ticket"]["id"].startswith("=HYPERLINK") for t in json.loads(out)["tickets"])


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(alphabet="ab\r", max_size=6), max_size=8), end=st.booleans(),
       workers=st.integers(1, 6))
def test_the_stretches_are_whole_lines_that_cover_the_text(lines: list[str], end: bool, workers: int):
    """Each process's stretch begins at a line's start; together they hold every line once, in order (some
    empty when there are fewer lines than processes)."""
    text = "\n".join(lines) + ("\n" if end and lines else "")
    bounds = replay_fork.stretches(text, workers)
    assert len(bounds) == workers + 1 and bounds[0] == 0 and bounds[-1] == len(text)
    assert bounds == sorted(bounds)
    assert all(cut == 0 or cut == len(text) or text[cut - 1] == "\n" for cut in bounds)
    assert "".join(text[a:b] for a, b in itertools.pairwise(bounds)) == text
