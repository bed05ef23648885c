"""What the help desks' REST writers share: the constructor, `configured`, `held_for`, the dispatch guard
for missing credentials, the marker tag, the tag list check and the group name → id cache.

A help desk's writer subclasses `ApiWriter`, names itself (`source`, `label`) and implements `_write(client,
action)` — the calls its API needs for one outbox action — and `_list_groups(client)`.
"""

from __future__ import annotations

import html
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from adapters.base import WriteAction, WriteResult
from connector.config import SourceConfig
from connector.errors import EventError, Permanent
from connector.events import parse_instant


class ApiWriter(ABC):
    """A `Writer` over a help desk's API client; without a client (no credentials) every action is skipped."""

    source = ""
    label = ""  # the help desk's name in messages

    def __init__(self, client: Any, source_config: SourceConfig, *, marker_tag: str = "sla_connector") -> None:
        self._client = client
        self._config = source_config
        self._marker = marker_tag or None
        self._groups: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(configured={self.configured})"

    @property
    def configured(self) -> bool:
        """True when a client (credentials) is present."""
        return self._client is not None

    def held_for(self) -> float:
        """Seconds before the help desk may be called again (its rate limit); the executor claims nothing meanwhile."""
        return float(self._client.held_for()) if self._client is not None else 0.0

    def write(self, action: WriteAction) -> WriteResult:
        """Carry out one action; raise `Transient`, `Conflict` or `Permanent` on failure."""
        if self._client is None:
            return WriteResult(outcome="skipped", detail=f"{self.label} credentials not configured")
        return self._write(self._client, action)

    @abstractmethod
    def _write(self, client: Any, action: WriteAction) -> WriteResult:
        """Make the help desk's calls for one action."""

    def _with_marker(self, tags: list[str]) -> list[str]:
        """The tags to add, with the marker that makes the connector's own updates recognisable."""
        return [*tags, self._marker] if self._marker and self._marker not in tags else tags

    @abstractmethod
    def _list_groups(self, client: Any) -> Iterable[Mapping[str, Any]]:
        """The help desk's groups, each with an integer `id` and a `name` (deleted ones left out)."""

    note_kind = "note"  # what the help desk calls a note only agents see, in messages

    def _note_there(self, client: Any, action: WriteAction, body: str) -> WriteResult | None:
        """`skipped` when an earlier try of this `add_note` reached the help desk although its answer did not
        reach us (`posted_already`), else None. Only a retry reads the ticket's notes: a first try cannot
        have a twin."""
        if action.attempt <= 1 or not posted_already(action, self._private_notes(client, action.ticket_id), body):
            return None
        return WriteResult(outcome="skipped", detail=f"{self.note_kind} already on the ticket (an earlier try "
                                                     f"reached {self.label}, its answer did not reach us)")

    @abstractmethod
    def _private_notes(self, client: Any, ticket_id: str) -> Iterable[Mapping[str, Any]]:
        """The ticket's notes only agents see, as `posted_already` reads them: each one's `text` and
        `created_at`."""

    def _group_id(self, client: Any, group: Any) -> int:
        """The id of the group named `group`; the list is cached and read again once for an unknown name."""
        if not isinstance(group, str | int) or isinstance(group, bool) or not str(group).strip():
            raise Permanent("set_group needs a group name")
        name = str(group).strip()
        for refresh in (False, True):  # a group created since the cache was filled: look once more
            if self._groups is None or refresh:
                self._groups = {str(g["name"]): int(g["id"]) for g in self._list_groups(client)
                                if isinstance(g.get("id"), int) and g.get("name")}
            if name in self._groups:
                return self._groups[name]
        raise Permanent(f"no {self.label} group named {name!r}")


def tag_list(params: Mapping[str, Any]) -> list[str]:
    """The `tags` parameter of an action as a list of distinct, non-empty tags (`Permanent` otherwise)."""
    raw = params.get("tags")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple | set | frozenset):
        raise Permanent("tags must be a list of strings")
    tags = [t.strip() for t in raw if isinstance(t, str) and t.strip()]
    if not tags or len(tags) != len(raw):
        raise Permanent("tags must be a non-empty list of non-empty strings")
    return list(dict.fromkeys(tags))


# --- a note that may be there already ----------------------------------------------------------------------

# how far the help desk's clock may run behind ours when it stamps a note (its `created_at`)
NOTE_CLOCK_SKEW = timedelta(minutes=10)
_TAG = re.compile(r"<[^>]*>")


def note_text(text: str) -> str:
    """A note's text as compared: HTML tags out (a line break, paragraph or block end as a space), entities
    decoded, whitespace runs as one space. What the help desk renders from what was sent compares equal."""
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def posted_already(action: WriteAction, notes: Iterable[Mapping[str, Any]], body: str) -> bool:
    """Whether an earlier try of `action` (an `add_note`) reached the help desk although its answer did not
    reach us (a timeout, a gateway's 502 after the help desk had applied it): among the ticket's private
    `notes` (each `text`, `created_at`), one stamped no earlier than the action was decided (less the clock
    skew) says the same as `body`. Posting a note is not idempotent on either help desk."""
    since = action.queued_at - NOTE_CLOCK_SKEW if action.queued_at is not None else None
    wanted = note_text(body)
    for note in notes:
        if note_text(str(note.get("text") or "")) != wanted:
            continue
        if since is None:
            return True
        try:
            stamped: datetime = parse_instant(note.get("created_at"), "created_at", bounded=False)
        except EventError:  # a note the help desk stamps oddly is not ours to match
            continue
        if stamped >= since:
            return True
    return False
