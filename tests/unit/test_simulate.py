"""`connector simulate` (issue 18, the policy what-if), hand-computed.

2026-03-02 is a Monday; `business` is UTC Mon–Fri 09–17. Three P2 tickets created Monday 09:00 get their
first reply after 3h, 6h and 9 business hours (Tuesday 10:00). Current: P2 first response 8h; proposed: 4h.

    ticket  reply after  current (8h)  proposed (4h)
    1       3h           met           met
    2       6h           met           breached (due 13:00)
    3       9h           breached      breached
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml
from click.testing import CliRunner

from connector.cli import main
from connector.events import write_jsonl
from connector.reports.simulate import simulate
from tests.helpers import AGENT, config, config_data, event, utc

H = 3600


def _policy(first_response: str) -> list[dict]:
    return [{"name": "standard", "calendar": "business",
             "targets": {"P2": {"first_response": first_response, "resolution": "5d"}}}]


CURRENT = config(policies=_policy("8h"))
PROPOSED = config(policies=_policy("4h"))
REPLIES = {"1": "2026-03-02 12:00", "2": "2026-03-02 15:00", "3": "2026-03-03 10:00"}
EVENTS = [e for tid, reply in REPLIES.items() for e in (
    event("2026-03-02 09:00", "ticket.created", status="new", created="2026-03-02 09:00", ticket_id=tid,
          priority="high"),
    event(reply, "comment.added", comment=AGENT, ticket_id=tid, priority="high", created="2026-03-02 09:00"))]


def test_the_rows_put_both_configs_side_by_side_with_the_difference():
    data = simulate(CURRENT, PROPOSED, EVENTS, now=utc("2026-03-03 12:00"))
    (row,) = [r for r in data["rows"] if r["metric"] == "first_response"]
    assert (row["severity"], row["policy"]) == ("P2", "standard")
    assert (row["current"]["met"], row["current"]["breached"], row["current"]["attainment_pct"]) == (2, 1, 66.67)
    assert (row["proposed"]["met"], row["proposed"]["breached"], row["proposed"]["attainment_pct"]) == (1, 2, 33.33)
    assert row["difference"]["attainment_pct"] == -33.34 and row["difference"]["breached"] == 1
    # the same replies, so the same business times: the percentiles do not move; the lateness does
    assert row["current"]["p50_seconds"] == row["proposed"]["p50_seconds"] == 6 * H
    assert (row["current"]["breach_seconds"], row["proposed"]["breach_seconds"]) == (1 * H, 2 * H + 5 * H)


def test_changed_lists_each_clock_whose_outcome_moves():
    data = simulate(CURRENT, PROPOSED, EVENTS, now=utc("2026-03-03 12:00"))
    assert [(c["ticket"]["id"], c["metric"], c["current"], c["proposed"], c["kind"]) for c in data["changed"]] == \
        [("2", "first_response", "met", "breached", "met_to_breached")]
    assert data["changed"][0]["due_at"] == {"current": "2026-03-02T17:00:00Z", "proposed": "2026-03-02T13:00:00Z"}
    assert data["changed_counts"] == {"met_to_breached": 1}


def test_a_reclassification_and_a_clock_under_one_config_only_are_changes():
    proposed = config(policies=_policy("8h"), classification={"default": "P3", "rules": [
        {"name": "ticket-3-is-p1", "severity": "P1", "when": {"text": "(?i)help"}}]},
        priority_map={})
    data = simulate(CURRENT, proposed, EVENTS, now=utc("2026-03-03 12:00"))
    kinds = {(c["ticket"]["id"], c["metric"]): (c["kind"], c["severity"]) for c in data["changed"]}
    # every ticket is P1 under the proposal, whose policy has no P1 targets: its clocks exist only now
    assert kinds[("1", "first_response")] == ("only_current", {"current": "P2", "proposed": None})


def test_write_back_volume_and_escalations_under_each():
    escalations = [{"name": "late", "when": {"metric": "first_response", "breached": True},
                    "actions": [{"add_tags": ["late"]}, {"add_note": "late"}]}]
    data = simulate(config(policies=_policy("8h"), escalations=escalations),
                    config(policies=_policy("4h"), escalations=escalations), EVENTS, now=utc("2026-03-03 12:00"))
    assert data["escalations"] == {"current": {"late": 1}, "proposed": {"late": 2}, "difference": {"late": 1}}
    assert data["actions"]["difference"]["add_tags"] == 1 and data["actions"]["difference"]["add_note"] == 1


def test_connector_simulate_answers_the_readme_question_in_one_command(tmp_path):
    """README: "what if the standard policy's P3 first response went from 8h to 4h?" on the example history."""
    result = CliRunner().invoke(main, ["simulate", "--config", "config/example.yaml", "--proposed",
                                       "examples/proposed-p3-first-response-4h.yaml", "--events",
                                       "examples/events.jsonl"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    row = next(r for r in data["rows"] if (r["metric"], r["severity"], r["policy"]) ==
               ("first_response", "P3", "standard"))
    assert (row["current"]["attainment_pct"], row["proposed"]["attainment_pct"]) == (80.0, 60.0)
    (change,) = data["changed"]
    # zendesk 1005: created Thu 13:00 New York, answered Fri 09:00: 4 business hours, but past Thursday's
    # 17:00 closing, the 4h target's due instant (a clock still running after its due instant breaches)
    assert (change["ticket"]["id"], change["current"], change["proposed"]) == ("1005", "met", "breached")
    assert change["explain"]["proposed"] == ("connector explain --config examples/proposed-p3-first-response-4h.yaml "
                                             "--events examples/events.jsonl --ticket 1005 --source zendesk")
    story = CliRunner().invoke(main, change["explain"]["proposed"].split()[1:])
    assert story.exit_code == 0 and "first_response: BREACHED" in story.stdout


def test_csv_tables_and_bad_options(tmp_path):
    cur, new, history = tmp_path / "current.yaml", tmp_path / "proposed.yaml", tmp_path / "events.jsonl"
    cur.write_text(yaml.safe_dump(config_data(policies=_policy("8h"))))
    new.write_text(yaml.safe_dump(config_data(policies=_policy("4h"))))
    with history.open("w") as fh:
        write_jsonl(EVENTS, fh)
    base = ["simulate", "--config", str(cur), "--proposed", str(new), "--events", str(history),
            "--now", "2026-03-03T12:00:00Z"]
    rows = list(csv.DictReader(io.StringIO(CliRunner().invoke(main, [*base, "--format", "csv"]).stdout)))
    first = next(r for r in rows if r["metric"] == "first_response")
    assert (first["current_attainment_pct"], first["proposed_attainment_pct"], first["difference_breached"]) == \
        ("66.67", "33.33", "1")
    changed = list(csv.DictReader(io.StringIO(
        CliRunner().invoke(main, [*base, "--format", "csv", "--table", "changed"]).stdout)))
    assert [(c["ticket_id"], c["kind"]) for c in changed] == [("2", "met_to_breached")]
    for option, message in ((["--by", "colour"], "--by: unknown grouping 'colour'"),
                            (["--from", "2026-13-01"], "--from:"), (["--tz", "Mars/Base"], "--tz:")):
        bad = CliRunner().invoke(main, [*base, *option])
        assert bad.exit_code == 1 and message in bad.output, bad.output


@pytest.mark.parametrize("missing", ["--proposed"])
def test_the_proposed_config_is_required(missing):
    result = CliRunner().invoke(main, ["simulate", "--config", "config/example.yaml", "--events",
                                       "examples/events.jsonl"])
    assert result.exit_code == 2 and missing in result.output


def test_the_html_page_and_every_csv_table():
    from connector.reports.render import render_csv, render_html

    data = simulate(CURRENT, PROPOSED, EVENTS, now=utc("2026-03-03 12:00"))
    page = render_html(data)
    assert page.count("<svg") == 2 and "What if" in page and "met_to_breached" in page
    for table in ("rows", "changed", "actions", "escalations", "credits"):
        assert render_csv(data, table=table).startswith('"')
    assert list(csv.DictReader(io.StringIO(render_csv(data, table="actions")))) == [
        {"action": "set_due_date", "current": "3", "proposed": "3", "difference": "0"}]  # each resolution


def test_the_proposed_side_in_a_forked_process_gives_the_same_comparison(monkeypatch):
    from connector.reports import simulate as module

    monkeypatch.setattr(module, "PARALLEL_FROM", 0)  # fork even for this short history
    at = utc("2026-03-03 12:00")
    assert simulate(CURRENT, PROPOSED, EVENTS, now=at, parallel=True) == simulate(CURRENT, PROPOSED, EVENTS, now=at)
