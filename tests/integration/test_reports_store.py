"""Reports from the store agree with the same reports computed offline, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.events import write_jsonl
from connector.reports.build import ReportOptions, build_report
from connector.runtime.worker import TicketProcessor
from connector.store import Store
from tests.helpers import utc
from tests.unit.test_reports import FOUR, NOW, replied, report_config

MORE = [
    *FOUR,
    *replied("5", "2026-04-01 10:00", timedelta(minutes=30), org="Globex", solve_after=timedelta(hours=1)),
    *replied("6", "2026-04-01 23:30", timedelta(hours=6), org="Globex", group="billing", priority="high"),
    *replied("7", "2026-03-31 23:30", timedelta(minutes=5), org=None, group=None, priority="urgent",  # type: ignore[arg-type]
             solve_after=timedelta(hours=5)),
]


def fill(store: Store, events) -> None:
    cfg = report_config()
    processor = TicketProcessor(store, cfg, {}, clock=lambda: utc("2026-01-01 00:00"))  # each at its event's time
    for e in sorted(events, key=lambda e: e.occurred_at):
        processor.apply_event(e)


@pytest.mark.parametrize("options", [
    ReportOptions(),
    ReportOptions(by=("metric", "org"), period="month"),
    ReportOptions(by=("group", "source"), period="day", timezone="Asia/Tokyo"),
    ReportOptions(start="2026-03-03", end="2026-03-31", by=("severity",)),
    ReportOptions(breach_limit=1),
])
def test_store_sla_matches_the_offline_report(store: Store, options: ReportOptions) -> None:
    fill(store, MORE)
    now = utc("2026-04-03 10:00")
    live = build_report("sla", report_config(), store=store, now=now, options=options)
    offline = build_report("sla", report_config(), events=MORE, now=now, options=options)
    assert live["rows"] == offline["rows"]
    assert live["breaches_total"] == offline["breaches_total"]
    assert live["breaches"] == offline["breaches"]
    assert live["rows"], "the scenario has clocks in every window tested"


def test_a_clock_breached_since_its_last_evaluation_counts_as_breached(store: Store) -> None:
    fill(store, FOUR)
    later = NOW + timedelta(hours=2)  # ticket 4's resolution was due at NOW; nothing re-evaluated it since
    live = build_report("sla", report_config(), store=store, now=later)
    resolution = next(r for r in live["rows"] if r["metric"] == "resolution")
    assert (resolution["met"], resolution["breached"], resolution["running"]) == (2, 2, 0)
    assert resolution["breach_seconds"] == 21600 + 7200
    assert resolution["max_seconds"] == 108000
    listed = {(b["ticket"]["id"], b["metric"]): b["late_seconds"] for b in live["breaches"]}
    assert listed[("4", "resolution")] == 7200
    assert live["rows"] == build_report("sla", report_config(), events=FOUR, now=later)["rows"]


@pytest.mark.parametrize("name", ["credits", "kpis", "audit"])
def test_the_other_reports_replay_the_stored_events(store: Store, name: str) -> None:
    fill(store, MORE)
    now = utc("2026-04-03 10:00")
    assert build_report(name, report_config(), store=store, now=now) == \
        build_report(name, report_config(), events=MORE, now=now)


def test_connector_report_reads_the_store_or_a_file(store: Store, tmp_path, monkeypatch) -> None:
    fill(store, MORE)
    cfg_path = tmp_path / "config.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump({
        "version": 1, "calendars": {}, "severities": ["P1", "P2", "P3"],
        "priority_map": {"zendesk": {"urgent": "P1", "high": "P2", "normal": "P3"}},
        "classification": {"default": "P3", "rules": [{"name": "outage", "severity": "P1",
                                                       "when": {"text": "(?i)outage"}}]},
        "policies": [{"name": "standard", "calendar": "24x7", "pause_on": ["pending"],
                      "targets": {"P1": {"first_response": "1h", "resolution": "4h"},
                                  "P2": {"first_response": "2h", "resolution": "8h"},
                                  "P3": {"first_response": "4h", "resolution": "1d"}}}],
    }))
    events_path = tmp_path / "events.jsonl"
    with events_path.open("w") as fh:
        write_jsonl(MORE, fh)
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", store.url)
    runner = CliRunner()
    import json

    live = runner.invoke(main, ["report", "sla", "--config", str(cfg_path), "--now", "2026-04-03T10:00:00Z"])
    assert live.exit_code == 0, live.output
    offline = runner.invoke(main, ["report", "sla", "--config", str(cfg_path), "--events", str(events_path),
                                   "--now", "2026-04-03T10:00:00Z"])
    assert offline.exit_code == 0, offline.output
    assert json.loads(live.output)["rows"] == json.loads(offline.output)["rows"]


@pytest.mark.parametrize("name", ["olas", "attribution", "audit"])
def test_internal_agreement_reports_from_the_store_match_offline(store: Store, name: str) -> None:
    """The example's support ↔ engineering handoff (zendesk 1008, an engineering OLA breach) through the worker."""
    from tests.report_support import example_config, example_events

    cfg = example_config()
    events = example_events()
    processor = TicketProcessor(store, cfg, {}, clock=lambda: utc("2026-01-01 00:00"))
    for e in sorted(events, key=lambda e: e.occurred_at):
        processor.apply_event(e)
    now = utc("2026-12-01 15:00")
    options = ReportOptions(period="week") if name != "audit" else ReportOptions()
    live = build_report(name, cfg, store=store, now=now, options=options)
    offline = build_report(name, cfg, events=events, now=now, options=options)
    assert live == offline
    if name == "olas":
        breached = [(b["agreement"], b["metric"], b["ticket"]["id"]) for b in live["breaches"]]
        assert ("engineering-triage", "ownership", "1008") in breached
    if name == "attribution":
        worst = next(w for w in live["worst"] if w["ticket"]["id"] == "1008" and w["metric"] == "resolution")
        # 24x7 P1: due Mon 22:10Z; engineering held it until Tue 13:00Z, support until the reply at 13:30Z
        assert worst["late_by"] == {"engineering": 14 * 3600 + 50 * 60, "support": 1800}
    # the live ticket (`GET /tickets`) shows the internal clocks beside the customer's, as replay does
    report = processor.report(("zendesk", "acme", "1008"), now)
    assert report is not None
    internal = [c for c in report.clocks if c.internal]
    assert {(c.policy, c.metric, c.status) for c in internal} >= {("engineering-triage", "ownership", "breached")}
    # and the store's clock rows (what the SLA report aggregates) hold the customer's clocks only
    rows = build_report("sla", cfg, store=store, now=now)["rows"]
    assert {r["metric"] for r in rows} <= {"first_response", "next_response", "periodic_update", "resolution"}
    # the agreement's escalation is in the outbox, once; no internal clock set a due date
    outbox = [r for r in store.outbox_rows(limit=1000) if r.ticket_id == "1008"]
    internal_actions = [r for r in outbox if r.cause == "engineering-triage-breach"]
    assert sorted(r.action for r in internal_actions) == ["add_note", "add_tags"]
    assert all(":ownership#1:breached:" in r.key for r in internal_actions)
    assert {r.params.get("metric") for r in outbox if r.action == "set_due_date"} <= {"first_response", "resolution",
                                                                                       "next_response"}
