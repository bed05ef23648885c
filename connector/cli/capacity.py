"""`connector capacity`: the agents a promise needs per weekday and hour, or what a staffing would attain.

    connector capacity --config F --events history.jsonl --target "P1 first_response 90%" [--target …]
                       --aht 12m [--shrinkage 30%] [--agents N] [--policy NAME] [--channel C] [--weeks 4]
                       [--seed 7]
                       [--format json|csv|html] [-o FILE]

`connector.reports.capacity` says how: arrivals per weekday and hour from the history, Erlang C per open
hour, and a `simpy` simulation of the same queue (business hours, backlog) as a cross-check. Without
`--events`, the store's history. A bad target or option exits 1 naming it, before any history is read; the
bounds (`--aht` up to 7d, `--agents` up to 10,000 per hour, `--weeks` 1 to 52) are the report's
(`connector.reports.capacity.check_options`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from connector.cli.common import _config, _config_option, _events, _skip_option, open_store
from connector.cli.errors import cli_errors
from connector.cli.reports import _write
from connector.config import parse_duration
from connector.reports.capacity import MAX_AGENTS, MAX_WEEKS, CapacityError, capacity, check_options, parse_goal


def _percent(text: str) -> float:
    value = text.strip().removesuffix("%").strip()
    try:
        return float(value)
    except ValueError:
        raise click.ClickException(f"--shrinkage: {text!r} is not a percentage such as 30%") from None


@click.command("capacity")
@_config_option
@click.option("--events", "events_path", type=click.Path(dir_okay=False),
              help="Canonical events (JSONL). Without it, the store at CONNECTOR_DATABASE_URL.")
@click.option("--target", "targets", multiple=True, required=True, metavar="'SEV METRIC PCT%'",
              help="A promise to staff for, e.g. 'P1 first_response 90%' (repeat for several).")
@click.option("--aht", required=True, metavar="DURATION",
              help="Average handling time per ticket, e.g. 12m (at most 7d).")
@click.option("--shrinkage", default="0%", show_default=True, help="Share of scheduled time not answering.")
@click.option("--agents", type=int,
              help=f"Scheduled agents per open hour (0 to {MAX_AGENTS:,}): the attainment to expect.")
@click.option("--policy", help="The policy whose targets apply (default: the first with the target).")
@click.option("--channel", help="Only the tickets of this channel (email, web, phone, chat …).")
@click.option("--weeks", type=int, default=4, show_default=True, help=f"Weeks the simulation runs (1 to {MAX_WEEKS}).")
@click.option("--seed", type=int, default=7, show_default=True, help="The simulation's random seed.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="json", show_default=True,
              help="JSON; CSV (every hour); HTML (the staffing curve per weekday and hour, and the tables).")
@click.option("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output.")
@_skip_option
def capacity_command(config_path: str | None, events_path: str | None, targets: tuple[str, ...], aht: str,
                     shrinkage: str, agents: int | None, policy: str | None, channel: str | None, weeks: int,
                     seed: int, fmt: str, output: str | None, skip_bad: bool) -> None:
    """Staffing: agents per weekday and hour for each target (Erlang C and a simulation), or the attainment
    a given staffing would reach."""
    cfg = _config(config_path)
    try:
        handling = float(parse_duration(aht))
    except ValueError as err:
        raise click.ClickException(f"--aht: {err}") from None
    share = _percent(shrinkage)
    with cli_errors():
        try:
            check_options(handling=handling, shrinkage_pct=share, agents=agents, weeks=weeks)
            goals = [parse_goal(text, cfg, policy) for text in targets]
            if events_path is not None:
                events = _events(events_path, skip_bad=skip_bad)
            else:
                from connector.reports.store_events import stored_events

                store = open_store()
                try:
                    events, _ = stored_events(store, until=datetime.now(UTC))
                finally:
                    store.dispose()
            if not events:
                raise CapacityError("no events: the history is empty")
            data = capacity(cfg, events, goals, handling=handling, shrinkage_pct=share, agents=agents,
                            weeks=weeks, seed=seed, channel=channel)
        except CapacityError as err:
            raise click.ClickException(str(err)) from None
    if fmt == "json":
        _write(json.dumps(data, indent=2, ensure_ascii=False), output)
        return
    from connector.reports.render import render_csv, render_html

    _write(render_csv(data) if fmt == "csv" else render_html(data), output)


COMMANDS = (capacity_command,)
