"""Builders shared by the tests: canonical events and small configs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from connector.config import Config, parse_config
from connector.events import Comment, Event, Requester, Ticket

_ids = itertools.count(1)

AGENT = Comment(author_role="agent", public=True, automated=False, author_id="a1")
CUSTOMER = Comment(author_role="end_user", public=True, automated=False, author_id="c1")
PRIVATE_NOTE = Comment(author_role="agent", public=False, automated=False, author_id="a1")
BOT = Comment(author_role="agent", public=True, automated=True, author_id="bot")


def utc(text: str) -> datetime:
    """Parse '2026-03-02 14:05' or ISO text as UTC."""
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def event(at: str | datetime, type: str = "ticket.updated", *, status: str = "open", priority: str | None = "normal",
          ticket_id: str = "1", source: str = "zendesk", account: str = "acme", comment: Comment | None = None,
          created: str | datetime | None = None, event_id: str | None = None, subject: str = "Help",
          description: str = "", tags: tuple[str, ...] = (), tier: str | None = None, org: str | None = None,
          group: str | None = None, channel: str | None = "email", fields: dict[str, Any] | None = None,
          assignee: str | None = None) -> Event:
    """Build a canonical event; `at` and `created` are UTC."""
    when = at if isinstance(at, datetime) else utc(at)
    made = None if created is None else (created if isinstance(created, datetime) else utc(created))
    return Event(
        source=source, account=account, ticket_id=ticket_id, event_id=event_id or f"ev-{next(_ids)}",
        occurred_at=when, type=type, comment=comment,
        ticket=Ticket(status=status, priority=priority, channel=channel, group=group, assignee=assignee,
                      requester=Requester(id="r1", org=org, tier=tier), subject=subject, description=description,
                      tags=tags, fields=fields or {}, created_at=made),
    )


def config(**overrides: Any) -> Config:
    """A small valid config (UTC business hours Mon–Fri 09–17, no holidays) with overrides per top-level key."""
    return parse_config(config_data(**overrides))


def config_data(**overrides: Any) -> dict[str, Any]:
    """The raw mapping of `config(**overrides)` (to write as a YAML file for the command line)."""
    data: dict[str, Any] = {
        "version": 1,
        "calendars": {"business": {"timezone": "UTC", "hours": {"mon-fri": ["09:00-17:00"]}}},
        "severities": ["P1", "P2", "P3", "P4"],
        "priority_map": {"zendesk": {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}},
        "classification": {"default": "P3", "rules": []},
        "policies": [{"name": "standard", "calendar": "business", "pause_on": ["pending", "on_hold"],
                      "targets": {"P1": {"first_response": "1h", "next_response": "2h", "periodic_update": "4h",
                                         "resolution": "8h", "calendar": "24x7"},
                                  "P2": {"first_response": "2h", "next_response": "4h", "resolution": "1d"},
                                  "P3": {"first_response": "4h", "next_response": "8h", "periodic_update": "8h",
                                         "resolution": "2d"}}}],
        "escalations": [],
    }
    data.update(overrides)
    return data
