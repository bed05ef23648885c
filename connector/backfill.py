"""Backfill and reconciliation: Zendesk's history as canonical events, into a JSONL stream or the store.

`backfill_zendesk` walks the incremental export from `since` (or from the cursor saved in `state_path` by
an earlier, interrupted run) and writes every page's events to a JSONL stream (for `connector replay`,
`explain`, `report`) and/or applies them to the store through `TicketProcessor.apply_event`. The cursor is
saved (atomically, as JSON) after each page has been written or applied, so a re-run resumes there.

Applying to the store never duplicates an effect:

- the same history event (`audit:…` ids) is stored once: `apply_event` ignores a repeated id;
- an event the webhooks already delivered has another id (an envelope id) but the same meaning; it is
  recognised by its type, its instant (to the second) and, for a comment, its author and visibility, and
  skipped (`unseen_events`), so a reconciliation poll after the webhooks adds nothing;
- a backfill's actions are recorded as dry-run (its default processor has no writers): history is loaded,
  not acted upon, and those action keys are then taken, so the live connector never sends them either.

`Reconciler.run_once` polls the same export from its cursor (in memory, or in a small JSON file) and feeds
what the webhooks missed through the live processor; `schedule_reconciliation` adds it to the scheduler.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from adapters.registry import source_section, zendesk_client
from adapters.zendesk.backfill import is_history_event, iter_ticket_history
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.const import SOURCE
from connector.config import Config
from connector.errors import ConfigError, ConnectorError
from connector.events import Event, format_instant, write_jsonl
from connector.runtime.worker import TicketProcessor
from connector.settings import Settings
from connector.store import Store, TicketKey

log = logging.getLogger("connector.backfill")

CREDENTIALS = ("ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN")
SAME_INSTANT = timedelta(seconds=1)  # audits are stamped to the second; webhooks to the nanosecond
STATE_VERSION = 1


# --- cursor state --------------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any] | None:
    """Return the saved backfill state, None when there is none; `ConfigError` when it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigError(f"cannot read the backfill state {path}: {err.strerror}") from None
    try:
        state = json.loads(text)
    except ValueError:
        raise ConfigError(f"the backfill state {path} is not JSON; delete it or use --restart") from None
    if not isinstance(state, dict) or not isinstance(state.get("cursor"), str | None):
        raise ConfigError(f"the backfill state {path} has no cursor; delete it or use --restart")
    return state


def save_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write the state atomically (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(state), handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- applying events without duplicate effects ---------------------------------------------------


def _same_happening(stored: Event, new: Event) -> bool:
    if stored.type != new.type:
        return False
    if new.type == "ticket.created":
        return True  # a ticket is created once
    if abs(stored.occurred_at - new.occurred_at) > SAME_INSTANT:
        return False
    if new.type == "comment.added" and stored.comment is not None and new.comment is not None:
        if stored.comment.public != new.comment.public:
            return False
        if stored.comment.author_id and new.comment.author_id and stored.comment.author_id != new.comment.author_id:
            return False
    return True


def unseen_events(new: Sequence[Event], stored: Iterable[Event]) -> list[Event]:
    """Return the events of `new` the store does not hold yet, by id or (for webhook events) by meaning.

    History events are deduped by id only. A stored webhook event can stand for at most one new event.
    """
    known = list(stored)
    ids = {e.event_id for e in known}
    candidates = [e for e in known if not is_history_event(e.event_id)]
    fresh: list[Event] = []
    for event in new:  # a history event stored earlier already stands for the webhook event it matches
        if event.event_id in ids:
            _consume(candidates, event)
    for event in new:
        if event.event_id in ids:
            continue
        before = len(candidates)
        _consume(candidates, event)
        if len(candidates) == before:
            fresh.append(event)
    return fresh


def _consume(candidates: list[Event], event: Event) -> None:
    match = next((i for i, s in enumerate(candidates) if _same_happening(s, event)), None)
    if match is not None:
        del candidates[match]


@dataclass(slots=True)
class Applied:
    """What applying a batch did: events offered, events stored anew, outbox actions added."""

    events: int = 0
    applied: int = 0
    actions: int = 0

    def add(self, other: Applied) -> None:
        self.events += other.events
        self.applied += other.applied
        self.actions += other.actions


Unseen = Callable[[Sequence[Event], Iterable[Event]], list[Event]]


def apply_events(processor: TicketProcessor, events: Sequence[Event], *, unseen: Unseen | None = None) -> Applied:
    """Apply events ticket by ticket (in their order), skipping what the store already holds.

    `unseen` decides what the store already holds (a source's own history ids); Zendesk's by default.
    """
    unseen = unseen or unseen_events
    result = Applied(events=len(events))
    by_ticket: dict[TicketKey, list[Event]] = {}
    for event in events:
        by_ticket.setdefault(event.key, []).append(event)
    for key, batch in by_ticket.items():
        for event in unseen(batch, processor.store.ticket_events(key)):
            added = processor.apply_event(event)
            result.applied += 1
            result.actions += len(added)
    return result


# --- backfill ------------------------------------------------------------------------------------


def missing_credentials(settings: Settings, config: Config | None) -> list[str]:
    """The Zendesk variables a backfill still needs (the subdomain may come from sources.zendesk)."""
    section = source_section(config, SOURCE)
    missing = [name for name in CREDENTIALS if not settings.env_value(name)]
    if "ZENDESK_SUBDOMAIN" in missing and (section.account or section.base_url):
        missing.remove("ZENDESK_SUBDOMAIN")
    return missing


def _account(settings: Settings, config: Config | None) -> str:
    account = settings.env_value("ZENDESK_SUBDOMAIN") or source_section(config, SOURCE).account
    if not account:
        raise ConfigError("ZENDESK_SUBDOMAIN (or sources.zendesk.account) names the Zendesk account")
    return account


def _client(settings: Settings, config: Config | None) -> ZendeskClient:
    missing = missing_credentials(settings, config)
    if missing:
        raise ConfigError(f"the Zendesk backfill needs {', '.join(missing)} set in the environment")
    client = zendesk_client(settings, config)
    if client is None:
        raise ConfigError("the Zendesk source is disabled (sources.zendesk.enabled: false)")
    return client


def backfill_zendesk(settings: Settings, config: Config | None, *, since: datetime | None, out: TextIO | None,
                     store: Store | None, state_path: Path, progress: Callable[[int], None] | None = None,
                     restart: bool = False, client: ZendeskClient | None = None,
                     processor: TicketProcessor | None = None, page_size: int = 100,
                     sleep: Callable[[float], None] = time.sleep,
                     on_bad_ticket: Callable[[str, Exception], None] | None = None,
                     totals: Applied | None = None) -> int:
    """Export Zendesk's history since `since` (or the saved cursor); return the number of events produced.

    `out` gets the events as JSONL; `store` (with `processor`, by default one recording actions as dry-run)
    gets them applied. The cursor is saved to `state_path` after each page and resumed from unless
    `restart`. `progress` is called with the number of tickets of each page. `totals`, when given, adds
    up what the store did.
    """
    if out is None and store is None:
        raise ValueError("give a stream to write the events to, or a store to apply them to")
    if store is not None and processor is None and config is None:
        raise ConfigError("applying the history to the store needs a config (CONNECTOR_CONFIG or --config)")
    account = _account(settings, config)
    state = None if restart else load_state(state_path)
    if state is not None and state.get("account") not in (None, account):
        raise ConfigError(f"the backfill state {state_path} belongs to account {state.get('account')!r}, "
                          f"not {account!r}; use another --state or --restart")
    cursor = state.get("cursor") if state is not None else None
    if cursor is None and since is None:
        raise ConfigError("nothing to resume: give --since DATE")
    started = since if since is not None and cursor is None else None
    api = client or _client(settings, config)
    section = source_section(config, SOURCE)
    if store is not None and processor is None:
        assert config is not None
        processor = TicketProcessor(store, config, {})  # no writers: history is recorded, not acted upon
    count = 0
    pages = iter_ticket_history(api, since=since or datetime.now(UTC), cursor=cursor, account=account,
                                field_names=section.field_names, status_map=section.status_map,
                                page_size=page_size, sleep=sleep, on_bad_ticket=on_bad_ticket)
    for events, after in pages:
        if out is not None:
            write_jsonl(events, out)
            out.flush()
        if processor is not None:
            done = apply_events(processor, events)
            if totals is not None:
                totals.add(done)
        count += len(events)
        if after is not None:
            save_state(state_path, {
                "version": STATE_VERSION, "source": SOURCE, "account": account, "cursor": after,
                "since": (state or {}).get("since") or format_instant(started),
                "saved_at": format_instant(datetime.now(UTC)), "events": int((state or {}).get("events", 0)) + count,
            })
        if progress is not None:
            progress(len({e.ticket_id for e in events}))
    return count


# --- reconciliation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    tickets: int
    events: int
    applied: int
    actions: int


class PollingReconciler(ABC):
    """What every help desk's reconciliation poll shares: run safely from a scheduler, log what it recovered."""

    source = ""            # the help desk polled, named in logs and in the scheduler's job id
    retry_hint = "the next poll tries again"

    @abstractmethod
    def run_once(self) -> ReconcileResult:
        """Read what changed since the last poll and apply it (each source reads its own listing)."""

    def run_safely(self) -> ReconcileResult | None:
        """`run_once` for the scheduler: the connector's errors are logged, the next run tries again."""
        try:
            return self.run_once()
        except ConnectorError as err:
            log.warning(f"reconciliation failed; {self.retry_hint}",
                        extra={"source": self.source, "outcome": str(err)[:300]})
            return None

    def _bad_ticket(self, ticket_id: str, err: Exception) -> None:
        log.warning("ticket skipped by reconciliation", extra={"source": self.source, "ticket_id": ticket_id,
                                                               "outcome": str(err)[:300]})

    def _result(self, totals: Applied, tickets: int) -> ReconcileResult:
        result = ReconcileResult(tickets=tickets, events=totals.events, applied=totals.applied,
                                 actions=totals.actions)
        if result.applied:
            log.info("reconciliation recovered events", extra={
                "source": self.source, "outcome": f"{result.applied} events, {result.actions} actions"})
        return result

    def schedule(self, scheduler: Any, interval_seconds: float = 300) -> None:
        """Add this poll to an APScheduler scheduler: one at a time, missed runs coalesced."""
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        scheduler.add_job(self.run_safely, "interval", seconds=interval_seconds, id=f"{self.source}-reconcile",
                          max_instances=1, coalesce=True, replace_existing=True)


class Reconciler(PollingReconciler):
    """Poll Zendesk's export for tickets changed since the last poll and apply what the webhooks missed."""

    source = SOURCE
    retry_hint = "the next poll resumes from the saved cursor"

    def __init__(self, store: Store, processor: TicketProcessor, client: ZendeskClient, *, account: str,
                 field_names: Mapping[str, str] | None = None, status_map: Mapping[str, str] | None = None,
                 cursor_path: Path | None = None, start: datetime | None = None,
                 lookback: timedelta = timedelta(hours=1), own_user_ids: Sequence[str] = (),
                 sleep: Callable[[float], None] = time.sleep, page_size: int = 100) -> None:
        if processor.store is not store:
            raise ValueError("the processor must work on the reconciler's store")
        self.store = store
        self.processor = processor
        self.client = client
        self.account = account
        self.field_names = dict(field_names or {})
        self.status_map = dict(status_map or {})
        self.cursor_path = cursor_path
        self.start = start
        self.lookback = lookback
        self.own_user_ids = tuple(own_user_ids)
        self.sleep = sleep
        self.page_size = page_size
        saved = load_state(cursor_path) if cursor_path is not None else None
        self.cursor: str | None = saved.get("cursor") if saved is not None else None

    def run_once(self) -> ReconcileResult:
        """Read the export from the cursor to its end; apply the new events; keep the cursor page by page."""
        since = self.start or datetime.now(UTC) - self.lookback
        totals = Applied()
        tickets = 0
        pages = iter_ticket_history(self.client, since=since, cursor=self.cursor, account=self.account,
                                    field_names=self.field_names, status_map=self.status_map,
                                    page_size=self.page_size, own_user_ids=self.own_user_ids, sleep=self.sleep,
                                    on_bad_ticket=self._bad_ticket)
        for events, after in pages:
            totals.add(apply_events(self.processor, events))
            tickets += len({e.ticket_id for e in events})
            if after is not None:
                self.cursor = after
                if self.cursor_path is not None:
                    save_state(self.cursor_path, {"version": STATE_VERSION, "source": SOURCE,
                                                  "account": self.account, "cursor": after,
                                                  "saved_at": format_instant(datetime.now(UTC))})
        return self._result(totals, tickets)


def schedule_reconciliation(scheduler: Any, reconciler: Reconciler, interval_seconds: float = 300) -> None:
    """Add the reconciliation poll to an APScheduler scheduler: one at a time, missed runs coalesced."""
    reconciler.schedule(scheduler, interval_seconds)
