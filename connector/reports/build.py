"""One entry point for every report, from a JSONL history or from the store (the CLI and the web app use it).

    build_report("sla", config, events=[...])              # offline, through the replay core
    build_report("sla", config, store=store, now=now)      # live: SLA in SQL, the others from stored events

From the store, `now` is required (the caller reads the clock); offline it defaults to the last event's time.

Every option is checked here, for the web and the CLI alike: a bad one raises `ReportError` naming the
parameter (`from`, `to`, `tz`, `period`, `by`, `breach_limit`, `now`, `table`), which the web answers 400
and the CLI reports under its option name. Dates and instants lie in the range ingest accepts (1970-2100).

Every report carries `"skipped"`: what the store held that no report can place, by kind and count
(`{"clocks": 2}` from the SLA's clock rows, `{"events": 1}` from the replayed events; `{}` when nothing
was left out). Offline there is nothing to skip: the JSONL reader refuses bad lines, or skips them with a
warning under `--skip-bad`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from connector.config import Config
from connector.errors import ConnectorError
from connector.events import Event, check_instant
from connector.reports.audit import audit_report
from connector.reports.credits import credits_report
from connector.reports.dataset import collect
from connector.reports.kpis import kpi_report
from connector.reports.olas import attribution_report, olas_report
from connector.reports.sla import normalize_by, sla_report
from connector.reports.stats import PERIODS, TooManyPeriods, Window, check_periods, parse_bound
from connector.rules.calendar import zone_named

if TYPE_CHECKING:
    from connector.store import Store

REPORTS = ("sla", "credits", "kpis", "audit", "olas", "attribution")

# Every table of each report (CSV and HTML, `connector.reports.render`), by the name `--table` and `?table=`
# take and the HTML ids derive from; `skipped` is every report's last table: what the store held that the
# report could not place (empty when nothing was left out).
TABLES = {
    "sla": ("rows", "breaches"),
    "credits": ("rows", "breaches", "exclusions"),
    "kpis": ("backlog", "trends", "reopens", "paused", "escalations", "groups"),
    "audit": ("confusion", "top_share_by_period", "top_share_by_org", "top_share_by_group", "top_share_by_agent",
              "rules", "findings", "bounced"),
    "olas": ("rows", "breaches", "handoffs", "bounced"),
    "attribution": ("rows", "totals", "worst"),
    "simulate": ("rows", "changed", "actions", "escalations", "credits"),   # `connector simulate`, not a report
    "capacity": ("targets", "hours"),                                       # `connector capacity`, nor this
}
SKIPPED_TABLE = "skipped"


DEFAULT_BREACH_LIMIT = 1000
MAX_BREACH_LIMIT = 100_000


class ReportError(ConnectorError):
    """A report was asked for with options that make no sense (unknown report, period, zone, bounds).

    `parameter` names the option at fault as the web calls it (`from`, `breach_limit`, …), and `message`
    starts with it; `named` calls it by another name (the CLI's `--breach-limit`).
    """

    def __init__(self, detail: str, *, parameter: str | None = None) -> None:
        message = detail if parameter is None else f"{parameter}: {detail}"
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.parameter = parameter

    def named(self, names: Mapping[str, str]) -> str:
        """Return the message with the parameter called by its name in `names`."""
        if self.parameter is None:
            return self.message
        return f"{names.get(self.parameter, self.parameter)}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportOptions:
    """What a caller may choose, as text (from the command line or a query string), validated by `parse`."""

    start: str | None = None
    end: str | None = None
    period: str | None = None
    by: Sequence[str] = field(default_factory=tuple)
    timezone: str | None = None
    breach_limit: int = DEFAULT_BREACH_LIMIT


def parse_breach_limit(text: str) -> int:
    """Return the breach limit of a query or command line: a whole number from 0 to `MAX_BREACH_LIMIT`."""
    value = text.strip()
    # isdigit alone takes "٣" and "²"; a length check first keeps int() off 10,000-digit text
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_BREACH_LIMIT)) \
            or int(value) > MAX_BREACH_LIMIT:
        raise ReportError(f"must be a whole number from 0 to {MAX_BREACH_LIMIT}", parameter="breach_limit")
    return int(value)


def table_names(name: str) -> tuple[str, ...]:
    """Return the names of report `name`'s tables, as `--table` and `?table=` accept them."""
    return (*TABLES[name], SKIPPED_TABLE)


def check_table(name: str, table: str) -> None:
    """Raise `ReportError` (parameter `table`) listing the report's tables unless `table` is one of them."""
    names = table_names(name)
    if table not in names:
        raise ReportError(f"the {name} report has no table {table[:40]!r}; its tables are {', '.join(names)}",
                          parameter="table")


def split_keys(values: Iterable[str]) -> tuple[str, ...]:
    """Return the grouping keys of `--by a,b --by c` or `?by=a,b`: comma-separated, repeatable, blanks dropped."""
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _zone(config: Config, name: str | None) -> ZoneInfo:
    try:
        return zone_named(name or config.reports.timezone)
    except ValueError as err:
        raise ReportError(str(err), parameter="tz" if name else None) from None


def _bound(text: str, tz: ZoneInfo, *, end: bool) -> datetime:
    what = "to" if end else "from"
    try:
        return parse_bound(text, tz, end=end)
    except ConnectorError as err:  # EventError, its message starting with the parameter's name
        raise ReportError(str(err).removeprefix(f"{what}: "), parameter=what) from None


def resolve_window(config: Config, options: ReportOptions) -> tuple[Window, ZoneInfo]:
    """Return the window and zone the options ask for; raise `ReportError` naming a zone, period or bound
    that makes no sense (shared by every report and by `connector simulate`)."""
    tz = _zone(config, options.timezone)
    if options.period is not None and options.period not in PERIODS:
        raise ReportError(f"unknown period {options.period!r}; periods are {', '.join(PERIODS)}",
                          parameter="period")
    start = None if options.start is None else _bound(options.start, tz, end=False)
    end = None if options.end is None else _bound(options.end, tz, end=True)
    if start is not None and end is not None and end <= start:
        raise ReportError("must be after `from`", parameter="to")
    return Window(start, end), tz


def build_report(name: str, config: Config, *, events: Sequence[Event] | None = None, store: Store | None = None,
                 now: datetime | None = None, options: ReportOptions = ReportOptions()) -> dict[str, Any]:
    """Return report `name` as JSON-ready data; raise `ReportError` for options that make no sense."""
    if name not in REPORTS:
        raise ReportError(f"unknown report {name!r}; reports are {', '.join(REPORTS)}")
    if (events is None) == (store is None):
        raise ReportError("give either events or a store")
    if now is not None:
        try:
            check_instant(now, "now")
        except ConnectorError as err:
            raise ReportError(str(err).removeprefix("now: "), parameter="now") from None
    window, tz = resolve_window(config, options)
    if not 0 <= options.breach_limit <= MAX_BREACH_LIMIT:
        raise ReportError(f"must be a whole number from 0 to {MAX_BREACH_LIMIT}", parameter="breach_limit")
    try:
        by = normalize_by(options.by)
    except ValueError as err:
        raise ReportError(str(err), parameter="by") from None
    if name != "sla" and options.by:
        raise ReportError("grouping applies to the sla report only", parameter="by")
    try:
        return _build(name, config, events=events, store=store, now=now, window=window, by=by,
                      period=options.period, tz=tz, breach_limit=options.breach_limit)
    except TooManyPeriods as err:
        # the sla report splits by `period`; credits by each contract's period, over the window
        raise ReportError(str(err), parameter="period" if name in ("sla", "olas") else "from") from None


def _build(name: str, config: Config, *, events: Sequence[Event] | None, store: Store | None,
           now: datetime | None, window: Window, by: Sequence[str], period: str | None, tz: ZoneInfo,
           breach_limit: int) -> dict[str, Any]:
    skipped: dict[str, int] = {}
    if store is not None:
        if now is None:
            raise ReportError("a report from the store needs `now`")
        if name == "sla":
            from connector.reports.store_sla import store_sla_report

            return store_sla_report(store, config, now=now, window=window, by=by, period=period, tz=tz,
                                    breach_limit=breach_limit)
        from connector.reports.store_events import stored_events

        events, left_out = stored_events(store, until=now)
        if left_out:
            skipped["events"] = left_out
    assert events is not None
    if not events and now is None:
        raise ReportError("no events to report on")
    dataset = collect(config, events, now)
    data: dict[str, Any]
    if name in ("sla", "olas") and period is not None:
        starts = [c.started_at for c in (dataset.clocks if name == "sla" else dataset.internal)
                  if c.started_at in window]
        if starts:  # the store's SQL labels every period between the first and the last: the same limit
            check_periods(min(starts), max(starts), period, tz)
    if name == "sla":
        data = sla_report(config, dataset, window=window, by=by, period=period, tz=tz, breach_limit=breach_limit)
    elif name == "credits":
        data = credits_report(config, dataset, window=window, tz=tz)
    elif name == "kpis":
        data = kpi_report(config, dataset, window=window, period=period or "week", tz=tz)
    elif name == "olas":
        data = olas_report(config, dataset, window=window, period=period, tz=tz, breach_limit=breach_limit)
    elif name == "attribution":
        data = attribution_report(config, dataset, window=window, period=period or "week", tz=tz,
                                  breach_limit=breach_limit)
    else:
        data = audit_report(config, dataset, window=window, period=period or "week", tz=tz)
    data["skipped"] = skipped
    return data
