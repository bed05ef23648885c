"""Zendesk's backfill and reconciliation: its history as canonical events, into a JSONL stream or the store.

The machinery every help desk shares (state file, totals, the dedupe rules, the poll) is
`connector.runtime.history`; this module reads Zendesk's incremental export through it.

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
what the webhooks missed through the live processor; `Reconciler.schedule` adds it to the scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from adapters.registry import source_section, zendesk_client
from adapters.zendesk.backfill import is_history_event, iter_ticket_history
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.const import SOURCE
from connector.config import Config
from connector.errors import ConfigError
from connector.events import Event, format_instant, write_jsonl
from connector.runtime import history
from connector.runtime.history import Applied, PollingReconciler, ReconcileResult, load_state, save_state
from connector.runtime.worker import TicketProcessor
from connector.settings import Settings
from connector.store import Store

CREDENTIALS = ("ZENDESK_SUBDOMAIN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN")
STATE_VERSION = 1


def unseen_events(new: Sequence[Event], stored: Iterable[Event], *, stored_ids: Iterable[str] = ()) -> list[Event]:
    """The events of `new` the store does not hold yet (`history.unseen_events` with Zendesk's audit ids)."""
    return history.unseen_events(new, stored, is_history=is_history_event,
                                   stored_ids=stored_ids)


def apply_events(processor: TicketProcessor, events: Sequence[Event]) -> Applied:
    """Apply events ticket by ticket (in their order), skipping what the store already holds."""
    return history.apply_events(processor, events, unseen=unseen_events, is_history=is_history_event)


def missing_credentials(settings: Settings, config: Config | None) -> list[str]:
    """The Zendesk variables a backfill still needs (the subdomain may come from sources.zendesk)."""
    return history.missing_credentials(settings, source_section(config, SOURCE), CREDENTIALS, "ZENDESK_SUBDOMAIN")


def _account(settings: Settings, config: Config | None) -> str:
    account = settings.env_value("ZENDESK_SUBDOMAIN") or source_section(config, SOURCE).account
    if not account:
        raise ConfigError("ZENDESK_SUBDOMAIN (or sources.zendesk.account) names the Zendesk account")
    return account


def _client(settings: Settings, config: Config | None) -> ZendeskClient:
    return history.history_client(zendesk_client(settings, config), label="Zendesk",
                                  missing=missing_credentials(settings, config))


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


class Reconciler(PollingReconciler):
    """Poll Zendesk's export for tickets changed since the last poll and apply what the webhooks missed."""

    source = SOURCE
    retry_hint = "the next poll resumes from the saved cursor"

    def __init__(self, store: Store, processor: TicketProcessor, client: ZendeskClient, *,
                 page_size: int = 100, **options: Any) -> None:
        super().__init__(store, processor, client, **options)
        self.page_size = page_size
        self.cursor: str | None = self.saved.get("cursor") if self.saved is not None else None

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
