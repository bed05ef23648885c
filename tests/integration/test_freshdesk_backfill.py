"""Freshdesk backfill end to end: the fake's tickets → JSONL → replay; → the store, twice; reconciliation; the CLI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from adapters.freshdesk.client import FreshdeskClient
from adapters.freshdesk.inbound import FreshdeskAdapter
from adapters.freshdesk.reconcile import (
    FreshdeskReconciler,
    backfill_freshdesk,
    unseen_events,
)
from connector.cli import backfill
from connector.cli.freshdesk import backfill_command
from connector.config import Config
from connector.events import Comment, Event, read_jsonl
from connector.replay import replay
from connector.runtime.history import load_state
from connector.runtime.worker import TicketProcessor
from connector.settings import Secret, Settings
from connector.store import Store
from connector.store.schema import events as events_table
from connector.store.schema import outbox
from tests import helpers
from tests.fakes.freshdesk import (
    FakeFreshdesk,
    fake_freshdesk_fixture,  # noqa: F401
)

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
ENV = {"FRESHDESK_DOMAIN": "acme", "FRESHDESK_API_KEY": "fake-freshdesk-key-3b9c7a"}
AGENT, REQUESTER = 900, 6012691534
PRIORITIES = {"freshdesk": {"4": "P1", "3": "P2", "2": "P3", "1": "P4"}}


def config() -> Config:
    return helpers.config(priority_map=PRIORITIES, escalations=[
        {"name": "breach", "when": {"metric": "first_response", "breached": True},
         "actions": [{"add_tags": ["sla_breached"]}]},
        {"name": "res-breach", "when": {"metric": "resolution", "breached": True},
         "actions": [{"add_tags": ["sla_late"]}]},
    ])


def conversation(cid: int, at: str, *, incoming: bool = False, user: int = AGENT) -> dict[str, Any]:
    return {"id": cid, "body_text": "text", "incoming": incoming, "private": False, "user_id": user,
            "source": 0, "created_at": at, "updated_at": at}


def seed(fake: FakeFreshdesk) -> None:
    fake.add_ticket(1, status=4, priority=2, created_at="2026-03-02T09:00:00Z", updated_at="2026-03-05T10:00:00Z",
                    stats={"first_responded_at": "2026-03-02T11:30:00Z", "agent_responded_at": None,
                           "requester_responded_at": None, "status_updated_at": "2026-03-05T10:00:00Z",
                           "pending_since": None, "resolved_at": "2026-03-05T10:00:00Z", "reopened_at": None,
                           "closed_at": None},
                    conversations=[conversation(7001, "2026-03-02T11:30:00Z"),
                                   conversation(7002, "2026-03-02T16:00:00Z", incoming=True, user=REQUESTER),
                                   conversation(7003, "2026-03-05T10:00:00Z")])
    fake.add_ticket(2, priority=4, requester_id=502, created_at="2026-03-03T09:00:00Z",
                    updated_at="2026-03-03T09:00:00Z")


def client_for(fake: FakeFreshdesk) -> FreshdeskClient:
    return FreshdeskClient(None, fake.api_key, base_url=fake.base_url)


def settings() -> Settings:
    return Settings(env={k: Secret(v) for k, v in ENV.items()})


def count(store: Store, table: Any) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def processor(store: Store) -> TicketProcessor:
    return TicketProcessor(store, config(), {}, clock=lambda: NOW)


def test_backfill_to_jsonl_replays_into_clocks(fake_freshdesk: FakeFreshdesk, tmp_path: Path) -> None:
    seed(fake_freshdesk)
    out = io.StringIO()
    ticks: list[int] = []
    n = backfill_freshdesk(settings(), config(), since=SINCE, out=out, store=None, state_path=tmp_path / "s.json",
                           progress=ticks.append, client=client_for(fake_freshdesk))
    lines = out.getvalue().splitlines()
    assert n == len(lines) == 6 and sum(ticks) == 2
    result = replay(config(), read_jsonl(lines), now=NOW)
    clocks = {t["ticket"]["id"]: {c["metric"]: c for c in t["clocks"]} for t in result["tickets"]}
    first = clocks["1"]["first_response"]
    assert (first["status"], first["started_at"], first["stopped_at"]) == ("met", "2026-03-02T09:00:00Z",
                                                                           "2026-03-02T11:30:00Z")
    assert clocks["1"]["resolution"]["status"] in ("met", "breached")
    assert clocks["2"]["first_response"]["status"] == "breached"
    state = load_state(tmp_path / "s.json")
    assert state is not None and state["account"] == "acme" and state["done"] is True
    assert state["window"] == "2026-03-05T10:00:00Z" and state["last"] == [["1", "2026-03-05T10:00:00Z"]]


def test_backfill_to_the_store_twice_adds_nothing_the_second_time(fake_freshdesk: FakeFreshdesk, store: Store,
                                                                     tmp_path: Path) -> None:
    seed(fake_freshdesk)
    kwargs: dict[str, Any] = {"since": SINCE, "out": None, "store": store, "state_path": tmp_path / "s.json",
                              "client": client_for(fake_freshdesk), "processor": processor(store)}
    assert backfill_freshdesk(settings(), config(), **kwargs) == 6
    events_after, outbox_after = count(store, events_table), count(store, outbox)
    assert events_after == 6 and outbox_after >= 1
    with store.read() as conn:
        assert {r[0] for r in conn.execute(select(outbox.c.state))} <= {"dry_run", "skipped"}
    assert backfill_freshdesk(settings(), config(), restart=True, **kwargs) == 6
    assert (count(store, events_table), count(store, outbox)) == (events_after, outbox_after)
    # a resume from the saved position reads only what changed since: nothing
    assert backfill_freshdesk(settings(), config(), **{**kwargs, "since": None}) == 0
    # a ticket changed afterwards is read again, and only its new events are stored
    fake_freshdesk.tickets[2]["conversations"].append(conversation(7100, "2026-03-06T09:00:00Z"))
    fake_freshdesk.tickets[2]["updated_at"] = "2026-03-06T09:00:00Z"
    assert backfill_freshdesk(settings(), config(), **{**kwargs, "since": None}) == 2
    assert count(store, events_table) == events_after + 1


def test_a_ticket_no_event_can_hold_is_skipped_and_saves_no_window(fake_freshdesk: FakeFreshdesk,
                                                                    tmp_path: Path) -> None:
    seed(fake_freshdesk)
    fake_freshdesk.add_ticket(3, created_at="2026-03-04T09:00:00Z", updated_at="9999-12-31T23:59:59Z")
    skipped: list[tuple[str, str]] = []
    out = io.StringIO()
    n = backfill_freshdesk(settings(), config(), since=SINCE, out=out, store=None, state_path=tmp_path / "s.json",
                           client=client_for(fake_freshdesk), on_bad_ticket=lambda t, e: skipped.append((t, str(e))))
    assert n == 6 and [t for t, _ in skipped] == ["3"] and "updated_at: the instant is outside" in skipped[0][1]
    state = load_state(tmp_path / "s.json")
    assert state is not None and state["window"] == "2026-03-05T10:00:00Z"  # the resume point is a real instant
    assert backfill_freshdesk(settings(), config(), since=None, out=io.StringIO(), store=None,
                              state_path=tmp_path / "s.json", client=client_for(fake_freshdesk),
                              on_bad_ticket=lambda t, e: None) == 0


def webhook_events(fake: FakeFreshdesk, skip: tuple[str, ...] = ()) -> list[Event]:
    """What the webhook path makes of the deliveries for the seeded tickets (through the real adapter)."""
    adapter = FreshdeskAdapter(["s3cret"], account="acme", api=client_for(fake))
    bodies = {
        "created1": {"ticket_id": "1", "kind": "ticket.created"},
        "reply": {"ticket_id": "1", "kind": "comment.added", "updated_at": "2026-03-02T11:30:00Z"},
        "followup": {"ticket_id": "1", "kind": "comment.added", "updated_at": "2026-03-02T16:00:00Z"},
        "fixed": {"ticket_id": "1", "kind": "comment.added", "updated_at": "2026-03-05T10:00:00Z"},
        "solved": {"ticket_id": "1", "kind": "ticket.updated", "updated_at": "2026-03-05T10:00:00Z", "status": 4},
        "created2": {"ticket_id": "2", "kind": "ticket.created"},
    }
    return [event for name, body in bodies.items() if name not in skip
            for event in adapter.normalize(json.dumps(body).encode(), {}, NOW)]


def test_reconciler_after_the_webhooks_adds_no_effects(fake_freshdesk: FakeFreshdesk, store: Store,
                                                       tmp_path: Path) -> None:
    seed(fake_freshdesk)
    proc = processor(store)
    for event in webhook_events(fake_freshdesk):
        proc.apply_event(event)
    before = (count(store, events_table), count(store, outbox))
    reconciler = FreshdeskReconciler(store, proc, client_for(fake_freshdesk), account="acme", start=SINCE,
                                     cursor_path=tmp_path / "cursor.json", clock=lambda: NOW)
    result = reconciler.run_once()
    assert (result.tickets, result.events, result.applied, result.actions) == (2, 6, 0, 0)
    assert (count(store, events_table), count(store, outbox)) == before
    # the next poll starts at the saved window (this poll's start, less the overlap): nothing new
    again = FreshdeskReconciler(store, proc, client_for(fake_freshdesk), account="acme",
                                cursor_path=tmp_path / "cursor.json")
    assert again.window == reconciler.window == datetime(2026, 3, 10, 11, 58, tzinfo=UTC)
    assert again.run_once().events == 0
    listing = [c.args["updated_since"] for c in fake_freshdesk.calls if c.path == "/api/v2/tickets"]
    assert listing == ["2026-01-01T00:00:00Z", "2026-03-10T11:58:00Z"]


def test_reconciler_recovers_a_dropped_delivery_once(fake_freshdesk: FakeFreshdesk, store: Store) -> None:
    seed(fake_freshdesk)
    proc = processor(store)
    for event in webhook_events(fake_freshdesk, skip=("followup", "solved")):
        proc.apply_event(event)
    before = count(store, events_table)
    reconciler = FreshdeskReconciler(store, proc, client_for(fake_freshdesk), account="acme", start=SINCE)
    assert reconciler.run_once().applied == 2
    added = {e.event_id: e for e in store.ticket_events(("freshdesk", "acme", "1"))}
    assert added["fd:1:conversation:7002"].comment == Comment(author_role="end_user", public=True,
                                                               author_id=str(REQUESTER))
    assert added["fd:1:stats:resolved_at:2026-03-05T10:00:00Z"].ticket.status == "solved"
    assert count(store, events_table) == before + 2
    assert FreshdeskReconciler(store, proc, client_for(fake_freshdesk), account="acme",
                               start=SINCE).run_once().applied == 0


def test_reconciler_skips_a_ticket_it_cannot_read_counts_and_logs_it(fake_freshdesk: FakeFreshdesk, store: Store,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    seed(fake_freshdesk)
    marker = "QZX7-MARKER-fd"
    fake_freshdesk.add_ticket(3, created_at="0001-01-01T00:00:00+14:00", updated_at="2026-03-06T09:00:00Z")
    fake_freshdesk.add_ticket(4, updated_at="2026-03-06T10:00:00Z", responder_id=f"{marker}\x00")
    reconciler = FreshdeskReconciler(store, processor(store), client_for(fake_freshdesk), account="acme", start=SINCE)
    with caplog.at_level("WARNING", logger="connector.backfill"):
        result = reconciler.run_once()
    assert result.applied == 6 and reconciler.skipped == 2  # the others are applied; the two are counted
    skipped = [r for r in caplog.records if r.getMessage() == "ticket skipped by reconciliation"]
    assert [(r.ticket_id, r.outcome.split(":")[0]) for r in skipped] == [("3", "ticket 3"), ("4", "responder_id")]
    assert "the instant is outside" in skipped[0].outcome and "control character" in skipped[1].outcome
    assert all(marker not in r.getMessage() and marker not in str(r.__dict__) for r in caplog.records)


def test_reconciler_recovers_a_silent_priority_change(fake_freshdesk: FakeFreshdesk, store: Store) -> None:
    # Freshdesk keeps no field history: a change that left no other trace comes with the current values at
    # updated_at, under the id an undated webhook delivery read right after it would have had
    fake_freshdesk.add_ticket(2, priority=1, requester_id=502, created_at="2026-03-03T09:00:00Z",
                              updated_at="2026-03-03T09:00:00Z")
    proc = processor(store)
    for event in webhook_events(fake_freshdesk, skip=("created1", "reply", "followup", "fixed", "solved")):
        proc.apply_event(event)
    key = ("freshdesk", "acme", "2")
    assert proc.report(key, NOW).severity.declared == "P4"  # type: ignore[union-attr]
    fake_freshdesk.change(2, at=datetime(2026, 3, 3, 9, 20, tzinfo=UTC), priority=4, notify=False)
    reconciler = FreshdeskReconciler(store, proc, client_for(fake_freshdesk), account="acme", start=SINCE)
    assert reconciler.run_once().applied == 1
    (event,) = [e for e in store.ticket_events(key) if e.type == "ticket.updated"]
    assert (event.event_id, event.ticket.priority) == ("fd:2:2026-03-03T09:20:00Z:ticket.updated", "4")
    report = proc.report(key, NOW)
    assert report is not None and report.severity.declared == "P1"
    first = next(c for c in report.clocks if c.metric == "first_response")
    assert first.due_at == datetime(2026, 3, 3, 10, tzinfo=UTC)  # P1's hour, from creation


def test_a_stored_webhook_event_stands_for_one_status_event_only() -> None:
    hook = helpers.event("2026-03-02 15:30", "ticket.updated", event_id="fd:1:2026-03-02T15:30:00Z:ticket.updated")
    one = helpers.event("2026-03-02 15:30", "ticket.updated", event_id="fd:1:stats:pending_since:2026-03-02T15:30:00Z")
    two = helpers.event("2026-03-02 15:30", "ticket.updated", event_id="fd:1:stats:resolved_at:2026-03-02T15:30:00Z")
    note = helpers.event("2026-03-02 15:30", "comment.added", event_id="fd:1:conversation:7",
                         comment=Comment(author_role="agent", public=False, author_id="900"))
    private = helpers.event("2026-03-02 15:30", "comment.added", event_id="fd:1:2026-03-02T15:30:00Z:comment.added",
                            comment=Comment(author_role="agent", public=False))
    assert unseen_events([one, two], [hook]) == [two]
    assert unseen_events([one, two], [hook, one]) == [two]
    assert unseen_events([note], [private]) == []  # the private-note delivery stands for its conversation
    assert unseen_events([note], [note]) == []


def test_schedule_reconciliation_adds_one_coalesced_job(store: Store) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone=UTC)
    client = FreshdeskClient(None, "k", base_url="http://127.0.0.1:9")
    reconciler = FreshdeskReconciler(store, processor(store), client, account="acme", sleep=lambda _: None)
    reconciler.schedule(scheduler, interval_seconds=120)
    (job,) = scheduler.get_jobs()
    assert (job.id, job.max_instances, job.coalesce, job.trigger.interval.total_seconds()) == (
        "freshdesk-reconcile", 1, True, 120)
    assert reconciler.run_safely() is None  # an unreachable Freshdesk is logged, not raised


# --- the command -------------------------------------------------------------------------------------------


def write_config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "connector.yaml"
    path.write_text(json.dumps({
        "version": 1, "calendars": {"business": {"timezone": "UTC", "hours": {"mon-fri": ["09:00-17:00"]}}},
        "severities": ["P1", "P2", "P3", "P4"], "priority_map": PRIORITIES,
        "classification": {"default": "P3", "rules": []},
        "policies": [{"name": "standard", "calendar": "business",
                      "targets": {"P1": {"first_response": "1h"}, "P3": {"first_response": "4h"}}}],
        "escalations": [], "sources": {"freshdesk": {"base_url": base_url}}}))
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*ENV, "CONNECTOR_CONFIG", "CONNECTOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_command_is_named_freshdesk() -> None:
    found = backfill.get_command(click.Context(backfill), "freshdesk")  # imported when asked for (lazily)
    assert found is backfill_command and backfill_command.name == "freshdesk"
    assert {p.name for p in backfill_command.params} >= {"since_text", "out_path", "to_store", "restart", "state_path",
                                                   "config_path"}


def test_cli_missing_credentials_is_a_clear_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    result = CliRunner().invoke(backfill, ["freshdesk", "--since", "2026-01-01", "--out", str(tmp_path / "e.jsonl"),
                                           "--state", str(tmp_path / "s.json")])
    assert result.exit_code == 1
    assert "FRESHDESK_DOMAIN, FRESHDESK_API_KEY" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("since", ["2026-13-01", "yesterday", "2999-01-01"])
def test_cli_bad_date_is_a_clear_error(clean_env: pytest.MonkeyPatch, tmp_path: Path, since: str) -> None:
    result = CliRunner().invoke(backfill, ["freshdesk", "--since", since, "--out", str(tmp_path / "e.jsonl")])
    assert result.exit_code == 1 and "--since" in result.output and "Traceback" not in result.output


def test_cli_needs_exactly_one_target(clean_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(backfill, ["freshdesk", "--since", "2026-01-01"])
    assert result.exit_code == 2 and "--out FILE or --store" in result.output


def test_cli_writes_jsonl_then_resumes(fake_freshdesk: FakeFreshdesk, clean_env: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    seed(fake_freshdesk)
    for name, value in ENV.items():
        clean_env.setenv(name, value)
    cfg = write_config(tmp_path, fake_freshdesk.base_url)
    out, state = tmp_path / "events.jsonl", tmp_path / "state.json"
    args = ["freshdesk", "--out", str(out), "--state", str(state), "--config", str(cfg)]
    result = CliRunner().invoke(backfill, [*args, "--since", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert "6 events from 2 tickets" in result.output
    assert len(read_jsonl(out.read_text().splitlines())) == 6
    resumed = CliRunner().invoke(backfill, args)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output and "0 events" in resumed.output
    assert len(out.read_text().splitlines()) == 6  # appended nothing, kept what was there


def test_cli_applies_to_the_store(fake_freshdesk: FakeFreshdesk, clean_env: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    seed(fake_freshdesk)
    for name, value in ENV.items():
        clean_env.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    clean_env.setenv("CONNECTOR_DATABASE_URL", url)
    cfg = write_config(tmp_path, fake_freshdesk.base_url)
    args = ["freshdesk", "--store", "--state", str(tmp_path / "s.json"), "--config", str(cfg),
            "--since", "2026-01-01"]
    result = CliRunner().invoke(backfill, args)
    assert result.exit_code == 0, result.output
    assert "(6 new" in result.output
    again = CliRunner().invoke(backfill, [*args, "--restart"])
    assert again.exit_code == 0 and "(0 new, 0 actions" in again.output
    store = Store(url)
    try:
        assert count(store, events_table) == 6
    finally:
        store.dispose()


def test_cli_api_error_is_a_clear_error(fake_freshdesk: FakeFreshdesk, clean_env: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    for name, value in ENV.items():
        clean_env.setenv(name, value)
    fake_freshdesk.api_key = "another-key"  # ours is refused: 401
    cfg = write_config(tmp_path, fake_freshdesk.base_url)
    result = CliRunner().invoke(backfill, ["freshdesk", "--since", "2026-01-01", "--out", str(tmp_path / "e.jsonl"),
                                           "--state", str(tmp_path / "s.json"), "--config", str(cfg)])
    assert result.exit_code == 1 and "API key" in result.output and "Traceback" not in result.output
