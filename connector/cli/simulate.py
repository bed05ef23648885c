"""`connector simulate`: a proposed config over the same history as the current one, side by side.

    connector simulate --config current.yaml --proposed proposed.yaml --events history.jsonl
                       [--from D --to D] [--now ISO] [--by group,org] [--period month] [--tz Z]
                       [--format json|csv|html] [--table rows|changed|actions|escalations|credits] [-o FILE]
    connector simulate --config current.yaml --proposed proposed.yaml        # the store's events

The JSON is `connector.reports.simulate` (DESIGN §3.4.1); each changed clock carries the two `connector
explain` commands that tell its story under each config. CSV gives the `rows` table (current, proposed and
difference columns) or, with `--table changed`, the changed clocks. A bad option exits 1 naming it.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from typing import Any

import click

from connector.cli.common import _config, _events, _now, _skip_option, open_store
from connector.cli.errors import cli_errors
from connector.cli.reports import OPTIONS, _write
from connector.reports.build import ReportError, ReportOptions, resolve_window, split_keys, table_names
from connector.reports.simulate import simulate
from connector.reports.sla import GROUPINGS, normalize_by
from connector.reports.stats import PERIODS

TABLES = table_names("simulate")


def _explain(config: str, proposed: str, events: str | None, change: dict[str, Any]) -> dict[str, str | None]:
    if events is None:
        return {"current": None, "proposed": None}
    ticket = change["ticket"]
    tail = ["--events", events, "--ticket", ticket["id"], "--source", ticket["source"]]
    return {side: shlex.join(["connector", "explain", "--config", path, *tail])
            for side, path in (("current", config), ("proposed", proposed))}


@click.command("simulate")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="CONNECTOR_CONFIG",
              help="The current config (or CONNECTOR_CONFIG).")
@click.option("--proposed", "proposed_path", type=click.Path(dir_okay=False), required=True,
              help="The proposed config.")
@click.option("--events", "events_path", type=click.Path(dir_okay=False),
              help="Canonical events (JSONL). Without it, the store at CONNECTOR_DATABASE_URL.")
@click.option("--from", "start", metavar="DATE|ISO", help="First day (or instant) of the window.")
@click.option("--to", "end", metavar="DATE|ISO", help="Last day of the window (a date includes that day).")
@click.option("--now", "now_text", metavar="ISO", help="Evaluate at this instant (default: the last event; live: now).")
@click.option("--by", multiple=True, metavar="KEYS", help=f"Also group by: {', '.join(GROUPINGS)}.")
@click.option("--period", type=click.Choice(PERIODS), help="Split the rows by period.")
@click.option("--tz", metavar="ZONE", help="Zone of dates and periods (default: reports.timezone).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default=None,
              help="Output format (default json; csv with --table).")
@click.option("--table", type=click.Choice(TABLES), help="One table alone, as CSV (default: rows).")
@click.option("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.")
@_skip_option
def simulate_command(config_path: str | None, proposed_path: str, events_path: str | None, start: str | None,
                     end: str | None, now_text: str | None, by: tuple[str, ...], period: str | None, tz: str | None,
                     fmt: str | None, table: str | None, output: str | None, skip_bad: bool) -> None:
    """What if: the same history under the current and a proposed config, side by side."""
    current = _config(config_path)
    proposed = _config(proposed_path)
    now = _now(now_text)
    with cli_errors():
        try:
            options = ReportOptions(start=start, end=end, period=period, by=split_keys(by), timezone=tz)
            window, zone = resolve_window(current, options)
            keys = normalize_by(options.by) if options.by else None
        except ValueError as err:
            raise click.ClickException(f"--by: {err}") from None
        except ReportError as err:
            raise click.ClickException(err.named(OPTIONS)) from None
        if events_path is not None:
            events = _events(events_path, skip_bad=skip_bad)
            if not events and now is None:
                raise click.ClickException(f"{events_path}: no events to compare")
        else:
            from connector.reports.store_events import stored_events

            store = open_store()
            try:
                now = now or datetime.now(UTC)
                events, _ = stored_events(store, until=now)
            finally:
                store.dispose()
        data = simulate(current, proposed, events, now=now, window=window, by=keys, period=period, tz=zone,
                        parallel=True)
    for change in data["changed"]:
        change["explain"] = _explain(config_path or "", proposed_path, events_path, change)
    fmt = fmt or ("csv" if table else "json")
    if table is not None and fmt != "csv":
        raise click.ClickException("--table: one table alone is CSV: leave out --format, or give --format csv")
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False)
    else:
        from connector.reports.render import render_csv, render_html

        text = render_csv(data, table=table) if fmt == "csv" else render_html(data)
    _write(text, output)


COMMANDS = (simulate_command,)
