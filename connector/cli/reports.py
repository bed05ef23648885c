"""`connector report sla|credits|kpis|audit|olas|attribution`: the reports, offline from a JSONL history or
live from the store.

    connector report sla --config F --events E.jsonl [--from D --to D] [--now ISO] [--by …] [--period …]
                         [--tz ZONE] [--format json|csv|html] [--table NAME] [--output FILE]
    connector report sla --config F                     # from the store (CONNECTOR_DATABASE_URL)
    connector report audit … --table findings           # one table of the report alone, as CSV

Offline, `--now` defaults to the last event's time; from the store, to the current time. An option that
makes no sense (a date outside 1970-2099, a breach limit over 100000, an unknown zone, a table the report
does not have) exits 1 with a message naming it. What a report says in words beside its numbers (`notes`,
e.g. a window that covers part of a quarterly contract's period) is also printed on standard error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from connector.cli.errors import cli_errors
from connector.reports.build import (
    DEFAULT_BREACH_LIMIT,
    MAX_BREACH_LIMIT,
    REPORTS,
    ReportError,
    ReportOptions,
    build_report,
    check_table,
    parse_breach_limit,
    split_keys,
    table_names,
)
from connector.reports.sla import GROUPINGS
from connector.reports.stats import PERIODS

HELP = {
    "sla": "SLA attainment per metric, severity and policy: met, breached, attainment %, business-time "
           "p50/p90/p95/max, breach minutes and the breach list.",
    "credits": "Service credits per contract (config `contracts`) and period: attainment and the credit due.",
    "kpis": "Leading KPIs: backlog by age and severity, trends, reopen rate, paused share, escalations, groups.",
    "audit": "Severity audit: declared vs classified severity, P1 share, rules fired, suspicious patterns, "
             "bounced tickets.",
    "olas": "Internal agreements (config `olas`): attainment and p50/p90/p95 per agreement, team, metric and "
            "severity, breached cycles, handoffs per ticket.",
    "attribution": "Breached customer clocks: the share of lateness and of time each team (and the customer) "
                   "held the ticket, per period, with the worst breaches.",
}


# the options as the command line calls them, for messages (`ReportError.parameter` is the web's name)
OPTIONS = {"from": "--from", "to": "--to", "tz": "--tz", "period": "--period", "by": "--by",
           "breach_limit": "--breach-limit", "now": "--now", "table": "--table"}


def _write(text: str, output: str | None) -> None:
    if output is None or output == "-":
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as err:
        raise click.ClickException(f"cannot write {output}: {err.strerror}") from None
    click.echo(f"wrote {output}", err=True)


def _make(name: str) -> click.Command:
    from connector.cli.common import _config, _config_option, _events, _now, _skip_option, open_store

    params: list[Callable[[Any], Any]] = [
        _config_option,
        click.option("--events", "events_path", type=click.Path(dir_okay=False),
                     help="Canonical events (JSONL). Without it, the store at CONNECTOR_DATABASE_URL."),
        click.option("--from", "start", metavar="DATE|ISO", help="First day (or instant) of the window."),
        click.option("--to", "end", metavar="DATE|ISO", help="Last day of the window (a date includes that day)."),
        click.option("--now", "now_text", metavar="ISO",
                     help="Instant the clocks are evaluated at (default: last event offline, the current time live)."),
        click.option("--period", type=click.Choice(PERIODS),
                     help="Split by day, week, month or quarter (sla: off by default; kpis, audit: week)."),
        click.option("--tz", metavar="ZONE", help="Time zone of dates and periods (default: reports.timezone, UTC)."),
        click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default=None,
                     help="Output format (default json; csv with --table)."),
        click.option("--table", metavar="NAME",
                     help=f"One table alone, as CSV: {', '.join(table_names(name))}."),
        click.option("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."),
        _skip_option,
    ]
    if name in ("olas", "attribution"):
        params.insert(6, click.option("--breach-limit", metavar="N", default=str(DEFAULT_BREACH_LIMIT),
                                      show_default=True,
                                      help=f"At most this many breaches listed, 0 to {MAX_BREACH_LIMIT} "
                                           "(all are counted)."))
    if name == "sla":
        params.insert(6, click.option("--by", multiple=True, metavar="KEYS",
                                      help=f"Group by these (comma-separated or repeated): {', '.join(GROUPINGS)}. "
                                           "Default: metric,severity,policy."))
        # text, checked by the same function as the web's breach_limit: one message, exit 1
        params.insert(7, click.option("--breach-limit", metavar="N", default=str(DEFAULT_BREACH_LIMIT),
                                      show_default=True,
                                      help=f"At most this many breaches listed, 0 to {MAX_BREACH_LIMIT} "
                                           "(all are counted)."))

    def body(config_path: str | None, events_path: str | None, start: str | None, end: str | None,
             now_text: str | None, period: str | None, tz: str | None, fmt: str | None, table: str | None,
             output: str | None, skip_bad: bool, by: tuple[str, ...] = (),
             breach_limit: str = str(DEFAULT_BREACH_LIMIT)) -> None:
        import json

        fmt = fmt or ("csv" if table else "json")
        cfg = _config(config_path)
        now = _now(now_text)
        with cli_errors():
            try:
                if table is not None:
                    if fmt != "csv":
                        raise ReportError("one table alone is CSV: leave out --format, or give --format csv",
                                          parameter="table")
                    check_table(name, table)
                options = ReportOptions(start=start, end=end, period=period, by=split_keys(by), timezone=tz,
                                        breach_limit=parse_breach_limit(breach_limit))
                if events_path is not None:
                    report = build_report(name, cfg, events=_events(events_path, skip_bad=skip_bad), now=now,
                                          options=options)
                else:
                    store = open_store()
                    try:
                        with store.patience(None):  # a command waits as long as the report takes
                            report = build_report(name, cfg, store=store, now=now or datetime.now(UTC),
                                                  options=options)
                    finally:
                        store.dispose()
            except ReportError as err:  # before cli_errors sees it: named as the command line names it
                raise click.ClickException(err.named(OPTIONS)) from None
        if fmt == "json":
            text = json.dumps(report, indent=2, ensure_ascii=False)
        else:
            from connector.reports.render import render_csv, render_html

            text = render_csv(report, table=table) if fmt == "csv" else render_html(report)
        for note in report.get("notes") or ():
            click.echo(f"note: {note}", err=True)
        _write(text, output)

    body.__doc__ = HELP[name]
    fn: Any = body
    for decorate in reversed(params):
        fn = decorate(fn)
    return click.command(name)(fn)


@click.group()
def report() -> None:
    """Reports: SLA attainment, service credits, leading KPIs, severity audit, internal agreements, breach
    attribution (JSON, CSV or HTML)."""


for _name in REPORTS:
    report.add_command(_make(_name))

COMMANDS = (report,)
