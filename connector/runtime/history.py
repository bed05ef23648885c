"""What every help desk's backfill and reconciliation share, knowing no help desk.

A source's own module (`adapters/<source>/reconcile.py`) reads its history as canonical events and hands
them here:

- the state file (`load_state`/`save_state`): where an interrupted backfill or a poll resumes, written
  atomically;
- applying without duplicate effects (`apply_events`, `unseen_events`): an event the store holds — by id,
  or a webhook event with another id but the same meaning (type, instant to the second, a comment's author
  and visibility) — is skipped; the source says which of its ids are history ids (`is_history`);
- the totals (`Applied`) and the poll (`PollingReconciler`: run safely from the scheduler, log what was
  recovered, one at a time, missed runs coalesced);
- the credentials check both backfill commands make (`missing_credentials`).
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from adapters.base import ahead
from connector.config import SourceConfig
from connector.errors import ConfigError, ConnectorError, StoreUnavailable
from connector.events import Event
from connector.settings import Settings

if TYPE_CHECKING:
    from connector.runtime.worker import TicketProcessor
    from connector.store import Store, TicketKey

log = logging.getLogger("connector.backfill")

SAME_INSTANT = timedelta(seconds=1)  # audits and stats are stamped to the second; webhooks to the nanosecond


# --- state file ----------------------------------------------------------------------------------


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


# --- credentials ---------------------------------------------------------------------------------


def missing_credentials(settings: Settings, section: SourceConfig, credentials: Sequence[str],
                        account_variable: str) -> list[str]:
    """The variables of `credentials` a backfill still needs; the account's may come from the config section
    (`account` or `base_url`)."""
    missing = [name for name in credentials if not settings.env_value(name)]
    if account_variable in missing and (section.account or section.base_url):
        missing.remove(account_variable)
    return missing


def history_client(client: Any, *, label: str, missing: Sequence[str]) -> Any:
    """The API client of a backfill, or a `ConfigError` saying what is missing or that the source is off."""
    if missing:
        raise ConfigError(f"the {label} backfill needs {', '.join(missing)} set in the environment")
    if client is None:
        raise ConfigError(f"the {label} source is disabled (sources.{label.lower()}.enabled: false)")
    return client


# --- applying events without duplicate effects ---------------------------------------------------


def same_happening(stored: Event, new: Event) -> bool:
    """Whether a stored event and a new one (with another id) tell of the same thing."""
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


def unseen_events(new: Sequence[Event], stored: Iterable[Event], *, is_history: Callable[[str], bool],
                  batch_ids_stand_alone: bool = False, stored_ids: Iterable[str] = ()) -> list[Event]:
    """Return the events of `new` the store does not hold yet, by id or (for webhook events) by meaning.

    History events (`is_history(event_id)`) are deduped by id only. A stored webhook event can stand for at
    most one new event. With `batch_ids_stand_alone`, a stored event whose id the batch carries stands only
    for itself, and only a stored history event consumes the webhook event it matched (Freshdesk, whose
    history reuses the webhook path's ids for creations and conversations).

    `stored` holds the stored events (at least the webhook ones, which are compared by meaning) and
    `stored_ids` any further stored ids: a history event is only ever compared by its id.
    """
    known = list(stored)
    ids = {e.event_id for e in known} | set(stored_ids)
    batch = {e.event_id for e in new} if batch_ids_stand_alone else set()
    candidates = [e for e in known if not is_history(e.event_id) and e.event_id not in batch]
    fresh: list[Event] = []
    for event in new:  # a history event stored earlier already stands for the webhook event it matched
        if event.event_id in ids and (not batch_ids_stand_alone or is_history(event.event_id)):
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
    match = next((i for i, s in enumerate(candidates) if same_happening(s, event)), None)
    if match is not None:
        del candidates[match]


@dataclass(slots=True)
class Applied:
    """What applying a batch did: events offered, events stored anew, outbox actions added."""

    events: int = 0
    applied: int = 0
    actions: int = 0
    ahead: int = 0  # refused: they say they happened later than the poll that read them (`adapters.base.ahead`)

    def add(self, other: Applied) -> None:
        self.events += other.events
        self.applied += other.applied
        self.actions += other.actions
        self.ahead += other.ahead


class Unseen(Protocol):
    def __call__(self, new: Sequence[Event], stored: Iterable[Event], *, stored_ids: Iterable[str] = ()
                 ) -> list[Event]: ...


def apply_events(processor: TicketProcessor, events: Sequence[Event], *, unseen: Unseen,
                 is_history: Callable[[str], bool] | None = None) -> Applied:
    """Apply events ticket by ticket (in their order), skipping what the store already holds (`unseen`).

    The stored events are read in one query for the page's tickets; with `is_history` (the source's history
    ids, only ever compared by id), their ids first, then only the other stored events in full (a backfill
    over tickets with long histories read and parsed every stored event of every page's tickets).
    A page of history goes through the worker's batched path (`TicketProcessor.apply_batch`: one
    transaction); if that fails for anything but an outage, one event at a time, so the rest still lands.
    An event dated later than now (beyond the clock-skew tolerance) is refused, logged and counted: applied,
    it would stop or start the ticket's clocks in a future nobody will see.
    """
    result = Applied(events=len(events))
    by_ticket: dict[TicketKey, list[Event]] = {}
    read_at = processor.now()
    for event in events:
        why = ahead(event, read_at)
        if why is not None:
            result.ahead += 1
            log.warning("history event refused", extra={"source": event.source, "outcome": why})
            continue
        by_ticket.setdefault(event.key, []).append(event)
    store = processor.store
    if is_history is None:
        stored = store.events_of(by_ticket)  # every ticket's stored events, in one query
        fresh = [event for key, batch in by_ticket.items() for event in unseen(batch, stored[key])]
    else:
        ids = store.event_ids_of(by_ticket)
        compared = {i for found in ids.values() for i in found if not is_history(i)}
        stored = store.events_of([k for k, found in ids.items() if compared.intersection(found)],
                                 only=compared) if compared else {}
        fresh = [event for key, batch in by_ticket.items()
                 for event in unseen(batch, stored.get(key, ()), stored_ids=ids[key])]
    if not fresh:
        return result
    try:
        (keys,) = processor.apply_batch([(None, fresh)], finished_at=processor.now())
        added = [len(k) for k in keys]
    except StoreUnavailable:
        raise
    except Exception:  # noqa: BLE001 - a value the database refuses: the events go one at a time
        added = [len(processor.apply_event(event)) for event in fresh]
    result.applied += len(fresh)
    result.actions += sum(added)
    return result


# --- reconciliation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    tickets: int
    events: int
    applied: int
    actions: int


class PollingReconciler(ABC):
    """What every help desk's reconciliation poll shares: its parts, running safely from a scheduler, and
    logging what it recovered. A source's subclass reads its own listing in `run_once`."""

    source = ""            # the help desk polled, named in logs and in the scheduler's job id
    retry_hint = "the next poll tries again"

    def __init__(self, store: Store, processor: TicketProcessor, client: Any, *, account: str,
                 field_names: Mapping[str, str] | None = None, status_map: Mapping[str, str] | None = None,
                 cursor_path: Path | None = None, start: datetime | None = None,
                 lookback: timedelta = timedelta(hours=1), own_user_ids: Sequence[str] = (),
                 sleep: Callable[[float], None] = time.sleep) -> None:
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
        self.saved = load_state(cursor_path) if cursor_path is not None else None

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
