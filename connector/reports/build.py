"""One entry point for every report, from a JSONL history or from the store (the CLI and the web app use it).

    build_report("sla", config, events=[...])              # offline, through the replay core
    build_report("sla", config, store=store, now=now)      # live: SLA in SQL, the others from stored events

From the store, `now` is required (the caller reads the clock); offline it defaults to the last event's time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.errors import ConnectorError
from connector.events import Event
from connector.reports.audit import audit_report
from connector.reports.credits import credits_report
from connector.reports.dataset import collect
from connector.reports.kpis import kpi_report
from connector.reports.sla import normalize_by, sla_report
from connector.reports.stats import PERIODS, Window, parse_bound
from connector.rules.calendar import zone_named

if TYPE_CHECKING:
    from connector.store import Store

REPORTS = ("sla", "credits", "kpis", "audit")


class ReportError(ConnectorError):
    """A report was asked for with options that make no sense (unknown report, period, zone, bounds)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportOptions:
    """What a caller may choose, as text (from the command line or a query string), validated by `parse`."""

    start: str | None = None
    end: str | None = None
    period: str | None = None
    by: Sequence[str] = field(default_factory=tuple)
    timezone: str | None = None
    breach_limit: int = 1000


def split_keys(values: Iterable[str]) -> tuple[str, ...]:
    """Return the grouping keys of `--by a,b --by c` or `?by=a,b`: comma-separated, repeatable, blanks dropped."""
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _zone(config: Config, name: str | None) -> ZoneInfo:
    try:
        return zone_named(name or config.reports.timezone)
    except ValueError as err:
        raise ReportError(str(err)) from None


def build_report(name: str, config: Config, *, events: Sequence[Event] | None = None, store: Store | None = None,
                 now: datetime | None = None, options: ReportOptions = ReportOptions()) -> dict[str, Any]:
    """Return report `name` as JSON-ready data; raise `ReportError` for options that make no sense."""
    if name not in REPORTS:
        raise ReportError(f"unknown report {name!r}; reports are {', '.join(REPORTS)}")
    if (events is None) == (store is None):
        raise ReportError("give either events or a store")
    tz = _zone(config, options.timezone)
    if options.period is not None and options.period not in PERIODS:
        raise ReportError(f"unknown period {options.period!r}; periods are {', '.join(PERIODS)}")
    if options.breach_limit < 0:
        raise ReportError("the breach limit must not be negative")
    try:
        start = None if options.start is None else parse_bound(options.start, tz, end=False)
        end = None if options.end is None else parse_bound(options.end, tz, end=True)
    except ConnectorError as err:
        raise ReportError(str(err)) from None
    if start is not None and end is not None and end <= start:
        raise ReportError("`to` must be after `from`")
    window = Window(start, end)
    try:
        by = normalize_by(options.by)
    except ValueError as err:
        raise ReportError(str(err)) from None
    if name != "sla" and options.by:
        raise ReportError("grouping (`by`) applies to the sla report only")
    if store is not None:
        if now is None:
            raise ReportError("a report from the store needs `now`")
        if name == "sla":
            from connector.reports.store_sla import store_sla_report

            return store_sla_report(store, config, now=now, window=window, by=by, period=options.period, tz=tz,
                                    breach_limit=options.breach_limit)
        events = store.all_events(until=now)
    assert events is not None
    if not events and now is None:
        raise ReportError("no events to report on")
    dataset = collect(config, events, now)
    if name == "sla":
        return sla_report(config, dataset, window=window, by=by, period=options.period, tz=tz,
                          breach_limit=options.breach_limit)
    if name == "credits":
        return credits_report(config, dataset, window=window, tz=tz)
    if name == "kpis":
        return kpi_report(config, dataset, window=window, period=options.period or "week", tz=tz)
    return audit_report(config, dataset, window=window, period=options.period or "week", tz=tz)
