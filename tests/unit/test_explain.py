"""`explain` (and `replay`) for a person: words, whole seconds, instants in the calendar's zone (issue 12).

The example history and generated ones (Hypothesis: fractional instants, pauses, reopens, deletions, priority
and tag changes, every action kind) are scanned for Python reprs, fractional seconds and UTC instants outside
the due line; the timeline must introduce every clock it later stops or pauses, and a due line may only
point at gaps that are listed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.cli import main
from connector.config import Condition
from connector.events import Comment, Event
from connector.explain import explain
from connector.replay import replay
from connector.rules.clocks import duration_text, whole_seconds
from connector.rules.conditions import describe
from tests.helpers import AGENT, BOT, CUSTOMER, PRIVATE_NOTE, config, event, utc
from tests.report_support import EXAMPLE_CONFIG, EXAMPLE_EVENTS, example_config, example_events

REPRS = ("datetime.", "{'", "('", "tzinfo", "mappingproxy", "Decimal(", "condition did not hold")
FRACTION = re.compile(r"\d\.\d")          # 9d17h22m7.53347s, 840124.69, 14:05:00.25
FRACTIONAL_DURATION = re.compile(r"\d+\.\d+[dhms]\b")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
QUOTED = re.compile(r'"[^"]*"')          # a note's body or matched words: the help desk's text, not ours
LABEL = r"(first_response|resolution|next_response #\d+|periodic_update #\d+)"


def assert_readable(text: str) -> None:
    """Words, whole seconds and local instants: no repr, no fraction, UTC only beside a local due instant."""
    for token in REPRS:
        assert token not in text, token
    for line in text.splitlines():
        ours = QUOTED.sub('""', line)
        assert not FRACTION.search(ours), line
        if ISO.search(ours):
            assert ours.lstrip().startswith("due "), line


def sections(text: str) -> dict[str, list[str]]:
    """Split a story into its sections (Timeline, Clocks, Actions due) by their headings."""
    out: dict[str, list[str]] = {}
    current = "head"
    for line in text.splitlines():
        if line in ("Timeline", "Clocks", "Actions due"):
            current = line
            continue
        out.setdefault(current, []).append(line)
    return out


def clock_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in sections(text).get("Clocks", []):
        if re.match(rf"  {LABEL}: [A-Z]+$", line):
            blocks.append([line])
        elif blocks and line.startswith("    "):
            blocks[-1].append(line)
    return blocks


def assert_coherent(text: str) -> None:
    """The timeline introduces every clock it stops, pauses or resumes and every clock listed under Clocks;
    a due line names gaps and pauses only when some are listed, and a 24x7 clock skips none."""
    notes = [line.strip().split("  ", 1)[1] for line in sections(text).get("Timeline", []) if line.strip()]
    introduced: set[str] = set()
    for note in notes:
        if note.startswith("ticket created:"):
            introduced.update(m for m in ("first_response", "resolution") if m in note.split(":", 1)[1])
        m = re.match(rf"{LABEL} (starts|now has a target)", note)
        if m:
            introduced.add(m.group(1))
        m = re.match(rf"{LABEL} (stops|pauses|resumes|cancelled)", note)
        if m:
            assert m.group(1) in introduced, f"{note!r} before the clock was introduced:\n{text}"
    for block in clock_blocks(text):
        label = block[0].strip().split(":")[0]
        assert label in introduced, f"{label} is listed but the timeline never introduced it:\n{text}"
        due = next((line for line in block if line.strip().startswith("due ")), "")
        skipped = [line for line in block if line.strip().startswith("skipped ")]
        if "the gaps above" in due:
            assert skipped, f"a due line points at gaps that are not listed:\n{text}"
        if "the pauses" in due:
            assert any(line.strip().startswith("paused ") for line in block), f"no pause is listed:\n{text}"
        if "24x7" in block[1]:
            assert not skipped
            assert not due or "every second counts" in due or "skipping the pauses" in due


def assert_whole_seconds(result: dict[str, Any]) -> None:
    for ticket in result["tickets"]:
        for clock in ticket["clocks"]:
            assert type(clock["target_seconds"]) is int and type(clock["elapsed_seconds"]) is int, clock


# --- the example history ---------------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("now", [None, "2026-03-02T16:20:07Z", "2026-11-27T19:59:59Z", "2026-12-01T15:00:00Z"])
def test_every_story_of_the_example_history_is_readable(now: str | None) -> None:
    now_args = [] if now is None else ["--now", now]
    result = json.loads(run("replay", "--config", str(EXAMPLE_CONFIG), "--events", str(EXAMPLE_EVENTS),
                            *now_args).output)
    assert_whole_seconds(result)
    table = run("replay", "--config", str(EXAMPLE_CONFIG), "--events", str(EXAMPLE_EVENTS), "--format", "table",
                *now_args).output
    for token in REPRS:
        assert token not in table
    assert not FRACTIONAL_DURATION.search(table)
    assert result["tickets"]
    for ticket in result["tickets"]:
        ref = ticket["ticket"]
        story = run("explain", "--config", str(EXAMPLE_CONFIG), "--events", str(EXAMPLE_EVENTS), "--ticket",
                    ref["id"], "--source", ref["source"], *now_args)
        assert story.exit_code == 0, story.output
        assert_readable(story.output)
        assert_coherent(story.output)


def test_actions_due_are_sentences_in_the_calendars_zone() -> None:
    text = explain(example_config(contracts=False), example_events(), "1002")
    actions = sections(text)["Actions due"]
    assert "  set the periodic_update #2 due date to Tue 2026-03-10 18:45 EDT" in actions
    assert ("  add tag sla_due_soon (escalation reply-due-soon on first_response, due since Fri 2026-03-06 18:00 EST)"
            in actions)
    for start in ("  remove tags sla_warning, sla_due_soon (escalation response-breach on first_response",
                  '  add an internal note: "SLA breached: first_response was due',
                  "  move to group escalations (escalation resolution-breach on resolution",
                  "  set priority to urgent (escalation resolution-breach on resolution"):
        assert any(line.startswith(start) for line in actions), start


def test_a_clock_without_a_target_is_not_in_the_timeline() -> None:
    """Ticket 2001 is P3 under `standard`, which has no periodic_update target: no note may name that clock."""
    text = explain(example_config(contracts=False), example_events(), "2001")
    assert "periodic_update" not in text
    assert "  Tue 2026-12-01 10:00 EST  next_response #1 stops: public agent reply" in sections(text)["Timeline"]


# --- targeted stories ---------------------------------------------------------------------------------------------

NY = {"timezone": "America/New_York", "hours": {"mon-fri": ["09:00-17:00"]}, "holidays": {"dates": ["2026-03-04"]}}


def story_config(**overrides: Any):
    data: dict[str, Any] = dict(
        calendars={"business": NY, "always": "24x7"},
        severities=["P1", "P2", "P3"],
        priority_map={"zendesk": {"urgent": "P1", "high": "P2", "normal": "P3"}},
        classification={"default": "P3", "rules": [
            {"name": "outage", "severity": "P1",
             "when": {"all": [{"text": "(?i)outage"}, {"not": {"tags_any": ["drill"]}}]}},
            {"name": "phone-vip", "severity": "P2",
             "when": {"any": [{"tags_any": ["vip"]}, {"not": {"channel": ["email", "web"]}}]}}]},
        policies=[
            {"name": "gold", "when": {"requester_tier": ["gold"]}, "calendar": "business", "pause_on": ["pending"],
             "on_reopen": "restart",
             "targets": {"P1": {"first_response": "30m", "next_response": "1h", "periodic_update": "2h",
                                "resolution": "4h", "calendar": "always"},
                         "P2": {"first_response": "2h", "periodic_update": "4h", "resolution": "1d"},
                         "P3": {"first_response": "4h", "resolution": "2d"}}},
            {"name": "standard", "when": {"not": {"requester_tier": ["gold"]}}, "calendar": "business",
             "pause_on": ["pending", "on_hold"],
             "targets": {"P1": {"first_response": "1h", "resolution": "8h"},
                         "P2": {"first_response": "4h", "next_response": "8h", "resolution": "2d"},
                         "P3": {"resolution": "3d"}}}],
        escalations=[
            {"name": "warn", "when": {"metric": "first_response", "at": "50%"},
             "actions": [{"add_tags": ["sla_warning"]}, {"add_note": "First response due {due_at}"}]},
            {"name": "soon", "when": {"remaining": "15m"},
             "actions": [{"notify": {"target": "oncall", "message": "{metric} of {ticket_id} is due soon"}}]},
            {"name": "breach", "when": {"breached": True},
             "actions": [{"add_tags": ["sla_breached"]}, {"remove_tags": ["sla_warning"]},
                         {"set_group": "escalations"}, {"set_priority": "urgent"}]}],
    )
    data.update(overrides)
    return config(**data)


CFG = story_config()


def test_a_not_that_holds_says_which_condition_was_false() -> None:
    events = [event("2026-03-02 15:00", "ticket.created", status="new", created="2026-03-02 15:00",
                    subject="Outage in the EU", channel="email", tier="gold")]
    text = explain(CFG, events, "1")
    assert "    - not (tags include any of [drill]): false for this ticket, so the not holds" in text
    drill = [event("2026-03-02 15:00", "ticket.created", status="new", created="2026-03-02 15:00",
                   subject="Outage drill", tags=("drill",), channel="phone")]
    text = explain(CFG, drill, "1")  # the outage rule's `not` fails; phone-vip's holds
    assert "set by rule 'phone-vip'" in text
    assert "    - not (channel is one of [email, web]): false for this ticket, so the not holds" in text


def test_conditions_in_words() -> None:
    cond = Condition.model_validate({"requester_tier": ["gold"], "any": [{"tags_all": ["a", "b"]}, {
        "not": {"field": {"name": "plan", "in": ["free"]}}}], "text": "x+"})
    assert describe(cond) == ("text matches /x+/ and requester tier is one of [gold] and any of (tags include all of "
                              "[a, b]; not (field plan is one of [free]))")


def test_a_24x7_clock_is_due_with_every_second_counting_and_a_quiet_one_within_hours() -> None:
    events = [event("2026-03-02 15:00", "ticket.created", status="new", created="2026-03-02 15:00",
                    subject="Outage", tier="gold")]
    blocks = clock_blocks(explain(CFG, events, "1", now=utc("2026-03-02 15:10")))
    first = next(b for b in blocks if b[0].strip().startswith("first_response"))
    assert ("    due Mon 2026-03-02 10:30 EST = 2026-03-02T15:30:00Z: 30m of business time after the start; "
            "every second counts on this calendar") in first
    # 10:00 EST + 2h on business hours: no gap in between, so none is pointed at
    events = [event("2026-03-02 15:00", "ticket.created", status="new", created="2026-03-02 15:00",
                    subject="Question", tags=("vip",), tier="gold")]
    blocks = clock_blocks(explain(CFG, events, "1", now=utc("2026-03-02 15:10")))
    first = next(b for b in blocks if b[0].strip().startswith("first_response"))
    assert ("    due Mon 2026-03-02 12:00 EST = 2026-03-02T17:00:00Z: 2h of business time after the start, "
            "all of it within working hours") in first


def test_fractional_instants_give_whole_seconds_everywhere() -> None:
    at = datetime(2026, 3, 2, 15, 0, 0, 250000, tzinfo=UTC)
    events = [event(at, "ticket.created", status="new", created=at, subject="Outage", tier="gold"),
              event(at + timedelta(minutes=41, seconds=7, microseconds=533470), "comment.added", comment=AGENT,
                    created=at, subject="Outage", tier="gold")]
    now = at + timedelta(hours=3, seconds=0.6)
    result = replay(CFG, events, now)
    assert_whole_seconds(result)
    first = next(c for c in result["tickets"][0]["clocks"] if c["metric"] == "first_response")
    assert first["elapsed_seconds"] == 2468  # 41m7.53347s, to the nearest second
    text = explain(CFG, events, "1", now=now)
    assert_readable(text)
    assert "    elapsed 41m8s of 30m" in text
    assert "  Mon 2026-03-02 10:41:07 EST  first_response stops: public agent reply" in text  # the second begun


def test_whole_seconds_are_the_nearest_halves_to_even() -> None:
    assert [whole_seconds(x) for x in (0.4, 0.5, 1.5, 2.5, 3599.6, -0.5, -1.5, 7)] == [0, 0, 2, 2, 3600, 0, -2, 7]
    assert all(type(whole_seconds(x)) is int for x in (0.4, 7, 2.5))
    assert [duration_text(x) for x in (0, 7.53347, 59.5, 3600, 840124.6989529133, -900, None)] == \
        ["0s", "8s", "1m", "1h", "9d17h22m5s", "-15m", "-"]


def test_target_changes_are_told_in_durations() -> None:
    events = [event("2026-03-02 15:00", "ticket.created", status="new", created="2026-03-02 15:00", tier="silver"),
              event("2026-03-02 15:20", tier="silver", priority="high")]
    notes = sections(explain(CFG, events, "1"))["Timeline"]
    assert "  Mon 2026-03-02 10:20 EST  first_response now has a target: 4h on business (counted from its start)" \
        in notes
    assert ("  Mon 2026-03-02 10:20 EST  resolution target changes from 3d on business to 2d on business "
            "(recomputed from its start)") in notes


# --- generated histories ---------------------------------------------------------------------------------------

STEPS = ("agent", "customer", "private", "bot", "pending", "on_hold", "open", "solved", "deleted", "priority", "vip",
         "tier")
COMMENTS: dict[str, Comment] = {"agent": AGENT, "customer": CUSTOMER, "private": PRIVATE_NOTE, "bot": BOT}


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Event], datetime]:
    created = draw(st.datetimes(min_value=datetime(2026, 3, 1), max_value=datetime(2026, 3, 10),
                                timezones=st.just(UTC)))
    fields: dict[str, Any] = {
        "subject": draw(st.sampled_from(["Outage in the EU", "Outage drill", "Question about invoices"])),
        "channel": draw(st.sampled_from(["email", "phone"])),
        "tier": draw(st.sampled_from(["gold", "silver", None])),
        "priority": draw(st.sampled_from(["urgent", "high", "normal", None])),
        "tags": draw(st.sampled_from([(), ("drill",), ("vip",)])),
    }
    status = draw(st.sampled_from(["new", "open", "pending"]))
    events = [event(created, "ticket.created", status=status, created=created, **fields)]
    at = created
    for _ in range(draw(st.integers(0, 10))):
        at += timedelta(seconds=draw(st.floats(0, 3 * 86400, allow_nan=False)))
        step = draw(st.sampled_from(STEPS))
        comment = COMMENTS.get(step)
        if step in ("pending", "on_hold", "open", "solved", "deleted"):
            status = step
        elif step == "priority":
            fields["priority"] = draw(st.sampled_from(["urgent", "high", "normal"]))
        elif step == "vip":
            fields["tags"] = () if "vip" in fields["tags"] else ("vip",)
        elif step == "tier":
            fields["tier"] = None if fields["tier"] == "gold" else "gold"
        if status == "new":
            status = "open"
        events.append(event(at, "comment.added" if comment else "ticket.updated", status=status, comment=comment,
                            created=created, **fields))
    now = at + timedelta(seconds=draw(st.floats(0, 2 * 86400, allow_nan=False)))
    return events, now


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_generated_stories_are_readable_and_coherent(history: tuple[list[Event], datetime]) -> None:
    events, now = history
    result = replay(CFG, events, now)
    assert_whole_seconds(result)
    text = explain(CFG, events, "1", now=now)
    assert_readable(text)
    assert_coherent(text)


# --- text the events supply is shown, never obeyed (robustness pass) --------------------------------------------

# what no story may hold raw: C0 (tab and newline in a line too), DEL, C1, line/paragraph separators, bidi
# embeddings, overrides and isolates, and surrogates (which no encoding writes)
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
HOSTILE = ["\x1b]0;owned\x07", "\x1b]8;;https://evil.example/\x1b\\", "\x1b[2J", "\x9b31m", "\r", "\n", "\t",
           "\x00", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u2066", "\u2069", "\ud800", "\udfff"]
TEXT_RULE = story_config(classification={"default": "P3", "rules": [
    {"name": "down", "severity": "P2", "when": {"text": "(?s)down.{0,40}"}}]})


def raw_lines(text: str) -> list[str]:
    """Return the story's lines (ended by its newlines, nothing else) that hold a character shown raw."""
    return [line for line in text.split("\n") if UNSAFE.search(line)]


def _story(subject: str, description: str = "") -> str:
    return explain(TEXT_RULE, [event("2026-03-02 15:00", "ticket.created", status="new", created="2026-03-02 15:00",
                                     subject=subject, description=description)], "1")


def test_control_characters_in_a_subject_are_escapes_on_the_one_subject_line() -> None:
    # before: ESC, BEL, CR, the newline and the override went out raw, and the newline forged a line
    subject = "Hi\x1b]0;owned\x07 \x1b[2J\rPolicy: none\nforged\u202eevil\x85\x7f\u2066\ud800"
    text = _story(subject)
    assert text.splitlines()[0] == ("Ticket zendesk/acme/1: Hi\\x1b]0;owned\\x07 \\x1b[2J\\rPolicy: none\\nforged"
                                    "\\u202eevil\\x85\\x7f\\u2066\\ud800")
    assert text.count("\n") == _story("Hi").count("\n")
    text.encode("utf-8")  # the lone surrogate is an escape: the story writes to any UTF-8 stream


def test_a_matched_excerpt_of_the_description_is_escaped_too() -> None:
    text = _story("Help", "site down\x1b[2J\x1b]0;owned\x07 now")
    assert '    - text matches /(?s)down.{0,40}/ at "down\\x1b[2J\\x1b]0;owned\\x07 now"' in text.split("\n")
    assert raw_lines(text) == []


@settings(max_examples=150, deadline=None)
@given(subject=st.lists(st.one_of(st.sampled_from(HOSTILE), st.characters()), max_size=15).map("".join),
       description=st.lists(st.one_of(st.sampled_from(HOSTILE), st.characters()), max_size=15).map("".join))
def test_no_event_text_reaches_the_story_raw_nor_adds_a_line(subject: str, description: str) -> None:
    text = _story(subject, "down " + description)
    assert raw_lines(text) == []
    assert text.count("\n") == _story("Help", "down").count("\n")
    assert text.startswith("Ticket zendesk/acme/1: ")


def test_explain_prints_a_subject_with_a_lone_surrogate(tmp_path) -> None:
    # before: UnicodeEncodeError writing the story (the JSONL escapes a surrogate: valid JSON, no valid UTF-8)
    line = json.loads(EXAMPLE_EVENTS.read_text(encoding="utf-8").splitlines()[0])
    line["ticket"]["subject"] = "Checkout \ud800 down\x1b[2J"
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert "\\ud800" in path.read_text(encoding="utf-8")  # escaped in the file, as a sender's JSON may have it
    result = CliRunner().invoke(main, ["explain", "--config", str(EXAMPLE_CONFIG), "--events", str(path),
                                       "--ticket", line["ticket_id"]])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"Ticket zendesk/acme/{line['ticket_id']}: Checkout \\ud800 down\\x1b[2J"
