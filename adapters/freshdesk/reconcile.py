"""Freshdesk backfill and reconciliation: its history as canonical events, into a JSONL stream or the store.

Through the machinery every help desk shares (`connector.runtime.history`: state file, totals, rules):
`backfill_freshdesk` walks the tickets updated since `since` (or from the window and page saved in
`state_path` by an earlier, interrupted run) and writes every page's events to a JSONL stream and/or applies
them to the store. The position (`window` = the `updated_since` in use, `page` = the next page) is saved
atomically after each page, so a re-run resumes there.

Applying to the store never duplicates an effect:

- `ticket.created` and `comment.added` carry the webhook path's own ids (`fd:<t>:<created_at>:ticket.created`,
  `fd:<t>:conversation:<id>`): one already delivered by a webhook, or by an earlier run, is not stored again;
- the status events (`fd:<t>:stats:…`, only this path gives them) are deduped by id, and a webhook event of
  the same type at the same instant (to the second) stands for one of them (`unseen_events`), so a
  reconciliation poll after the webhooks adds nothing;
- a backfill's actions are recorded as dry-run (its default processor has no writers).

`FreshdeskReconciler.run_once` lists the tickets updated since its last poll (a window kept in memory or in
a small JSON file, overlapping the previous poll by `overlap` for clock skew) and feeds what the webhooks
missed (Freshdesk drops webhooks after 24 h of deferral) through the live processor;
`FreshdeskReconciler.schedule` adds it to the scheduler. A ticket it cannot read (an id or an instant no
ticket can have, a status nobody mapped) is skipped, logged with the reason naming the key, and counted
(`skipped`); the others are applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from adapters.freshdesk.backfill import FreshdeskHistoryApi, is_history_event, iter_ticket_history
from adapters.freshdesk.const import SOURCE
from adapters.freshdesk.mapping import iso_instant  # in 1970-2099 or None: a bad listed instant saves no window
from adapters.registry import freshdesk_client, source_section
from connector.config import Config
from connector.errors import ConfigError, ConnectorError
from connector.events import Event, format_instant, parse_instant, write_jsonl
from connector.runtime import history
from connector.runtime.history import Applied, PollingReconciler, ReconcileResult, load_state, save_state
from connector.runtime.worker import TicketProcessor
from connector.settings import Settings
from connector.store import Store

CREDENTIALS = ("FRESHDESK_DOMAIN", "FRESHDESK_API_KEY")
STATE_VERSION = 1
DEFAULT_LOOKBACK = timedelta(days=30)  # a first reconciliation poll reads as far back as Freshdesk's default list
DEFAULT_OVERLAP = timedelta(minutes=2)


# --- applying events without duplicate effects ---------------------------------------------------


def unseen_events(new: Sequence[Event], stored: Iterable[Event], *, stored_ids: Iterable[str] = ()) -> list[Event]:
    """Return the events of `new` the store does not hold yet: by id, or (webhook-only ids) by meaning.

    A stored webhook event can stand for at most one new event (a private note delivered as
    `fd:<t>:<updated_at>:comment.added` stands for its conversation); a stored event whose id the batch
    carries, and a stored status event (`fd:<t>:stats:…`), stand only for themselves.
    """
    return history.unseen_events(new, stored, is_history=is_history_event, batch_ids_stand_alone=True,
                                   stored_ids=stored_ids)


def apply_events(processor: TicketProcessor, events: Sequence[Event]) -> Applied:
    """Apply events ticket by ticket (in their order), skipping what the store already holds."""
    return history.apply_events(processor, events, unseen=unseen_events, is_history=is_history_event)


# --- settings ------------------------------------------------------------------------------------


def missing_credentials(settings: Settings, config: Config | None) -> list[str]:
    """The Freshdesk variables a backfill still needs (the domain may come from sources.freshdesk)."""
    return history.missing_credentials(settings, source_section(config, SOURCE), CREDENTIALS, "FRESHDESK_DOMAIN")


def account_of(settings: Settings, config: Config | None) -> str:
    """The account name the webhook path uses: the domain without `.freshdesk.com`."""
    domain = settings.env_value("FRESHDESK_DOMAIN") or source_section(config, SOURCE).account
    if not domain:
        raise ConfigError("FRESHDESK_DOMAIN (or sources.freshdesk.account) names the Freshdesk account")
    text = domain.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
    return text.removesuffix(".freshdesk.com") or text


def _client(settings: Settings, config: Config | None) -> FreshdeskHistoryApi:
    client: FreshdeskHistoryApi = history.history_client(freshdesk_client(settings, config), label="Freshdesk",
                                                         missing=missing_credentials(settings, config))
    return client


def _instant(value: Any, what: str) -> datetime:
    try:
        return parse_instant(value, what)
    except ConnectorError:
        raise ConfigError(f"{what} is not an ISO 8601 instant; delete the state file or use --restart") from None


# --- backfill ------------------------------------------------------------------------------------


def backfill_freshdesk(settings: Settings, config: Config | None, *, since: datetime | None, out: TextIO | None,
                       store: Store | None, state_path: Path, progress: Callable[[int], None] | None = None,
                       restart: bool = False, client: FreshdeskHistoryApi | None = None,
                       processor: TicketProcessor | None = None, sleep: Callable[[float], None] = time.sleep,
                       on_bad_ticket: Callable[[str, Exception], None] | None = None,
                       totals: Applied | None = None) -> int:
    """List Freshdesk's tickets updated since `since` (or resume); return the number of events produced.

    `out` gets the events as JSONL; `store` (with `processor`, by default one recording actions as dry-run)
    gets them applied. The window and next page are saved to `state_path` after each page and resumed from
    unless `restart`; a finished run saves `done: true`, and a re-run then starts at the window it ended in.
    `progress` is called with the number of tickets of each page.
    """
    if out is None and store is None:
        raise ValueError("give a stream to write the events to, or a store to apply them to")
    if store is not None and processor is None and config is None:
        raise ConfigError("applying the history to the store needs a config (CONNECTOR_CONFIG or --config)")
    account = account_of(settings, config)
    state = None if restart else load_state(state_path)
    if state is not None and state.get("account") not in (None, account):
        raise ConfigError(f"the backfill state {state_path} belongs to account {state.get('account')!r}, "
                          f"not {account!r}; use another --state or --restart")
    if state is not None and state.get("window") is not None:
        window = _instant(state["window"], "the saved window")
        page = state.get("page", 1)
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise ConfigError(f"the backfill state {state_path} has no valid page; delete it or use --restart")
        if state.get("done"):
            page = 1  # the window is the last update read: whatever changed since is at or after it
    elif since is None:
        raise ConfigError("nothing to resume: give --since DATE")
    else:
        window, page = since, 1
    api = client or _client(settings, config)
    section = source_section(config, SOURCE)
    if store is not None and processor is None:
        assert config is not None
        processor = TicketProcessor(store, config, {})  # no writers: history is recorded, not acted upon
    started = (state or {}).get("since") or format_instant(since or window)
    current = window
    count = 0
    read: set[tuple[str, str]] = set()
    if state is not None and state.get("done"):
        read.update((str(i), str(u)) for i, u in state.get("last", []) if isinstance(i, str | int))

    def slid(to: datetime) -> None:
        nonlocal current
        current = to

    def save(next_page: int, done: bool) -> None:
        window_text, last = format_instant(current), []
        if done:  # resume at the last update read, skipping the tickets read at that instant
            stamps = [(at, key) for key in read if (at := iso_instant(key[1])) is not None]
            if stamps:
                newest = max(at for at, _ in stamps)
                window_text, next_page = format_instant(newest.replace(microsecond=0)), 1
                last = sorted([key[0], key[1]] for at, key in stamps if at >= newest.replace(microsecond=0))
        save_state(state_path, {
            "version": STATE_VERSION, "source": SOURCE, "account": account, "since": started,
            "window": window_text, "page": next_page, "done": done, "last": last,
            "saved_at": format_instant(datetime.now(UTC)), "events": int((state or {}).get("events", 0)) + count,
        })

    pages = iter_ticket_history(api, since=window, page_start=page, account=account,
                                field_names=section.field_names, status_map=section.status_map, sleep=sleep,
                                on_slide=slid, done=read, on_bad_ticket=on_bad_ticket)
    last_page = page
    for events, next_page in pages:
        if out is not None:
            write_jsonl(events, out)
            out.flush()
        if processor is not None:
            done = apply_events(processor, events)
            if totals is not None:
                totals.add(done)
        count += len(events)
        last_page = next_page
        save(next_page, False)
        if progress is not None:
            progress(len({e.ticket_id for e in events}))
    save(last_page, True)
    return count


# --- reconciliation ------------------------------------------------------------------------------


class FreshdeskReconciler(PollingReconciler):
    """Poll Freshdesk for tickets updated since the last poll and apply what the webhooks missed."""

    source = SOURCE
    retry_hint = "the next poll reads the same window again"

    def __init__(self, store: Store, processor: TicketProcessor, client: FreshdeskHistoryApi, *,
                 lookback: timedelta = DEFAULT_LOOKBACK, overlap: timedelta = DEFAULT_OVERLAP,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), **options: Any) -> None:
        super().__init__(store, processor, client, lookback=lookback, **options)
        self.overlap = overlap
        self.clock = clock
        window = self.saved.get("window") if self.saved is not None else None
        self.window: datetime | None = _instant(window, "the saved window") if window is not None else None
        self.skipped = 0  # tickets skipped because they could not be read, since this reconciler started

    def _bad_ticket(self, ticket_id: str, err: Exception) -> None:
        self.skipped += 1
        super()._bad_ticket(ticket_id, err)

    def run_once(self) -> ReconcileResult:
        """List from the window to the end; apply the new events; move the window to this poll's start."""
        began = self.clock()
        since = self.window or self.start or began - self.lookback
        totals = Applied()
        tickets = 0
        pages = iter_ticket_history(self.client, since=since, account=self.account, field_names=self.field_names,
                                    status_map=self.status_map, own_user_ids=self.own_user_ids, sleep=self.sleep,
                                    on_bad_ticket=self._bad_ticket)
        for events, _ in pages:
            totals.add(apply_events(self.processor, events))
            tickets += len({e.ticket_id for e in events})
        self.window = max(since, began - self.overlap)
        if self.cursor_path is not None:
            save_state(self.cursor_path, {"version": STATE_VERSION, "source": SOURCE, "account": self.account,
                                          "window": format_instant(self.window),
                                          "saved_at": format_instant(datetime.now(UTC))})
        return self._result(totals, tickets)
