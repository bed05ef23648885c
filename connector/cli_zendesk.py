"""`connector backfill zendesk`: load Zendesk's ticket history as canonical events (JSONL or the store).

    connector backfill zendesk --since 2026-01-01 --out events.jsonl     # then: connector replay --events …
    connector backfill zendesk --since 2026-01-01 --store                # into CONNECTOR_DATABASE_URL
    connector backfill zendesk --out events.jsonl                        # resume an interrupted run

The export cursor is saved after every page in `--state` (default .connector/zendesk-backfill.json); a
re-run resumes from it (appending to `--out`) unless `--restart` is given. Missing credentials, a bad
date or an API error end the command with `Error: …` on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from connector.clierrors import cli_errors
from connector.settings import Settings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_STATE = Path(".connector") / "zendesk-backfill.json"


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A date (`2026-01-01`, midnight UTC) or an ISO 8601 instant (naive means UTC), not in the future."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            when = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
            when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except ValueError:
        raise click.ClickException(
            f"--since: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant") from None
    if when > (now or datetime.now(UTC)):
        raise click.ClickException(f"--since: {text!r} is in the future")
    return when


def _pulse() -> Iterator[Any]:  # an iterable without a length: the bar counts instead of filling
    yield from ()


@click.group(context_settings=CONTEXT)
def backfill() -> None:
    """Load a help desk's ticket history as canonical events."""


@backfill.command("zendesk")
@click.option("--since", "since_text", metavar="DATE",
              help="Tickets updated since this date (YYYY-MM-DD, UTC) or ISO 8601 instant.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the events as JSON Lines to this file ('-' for stdout).")
@click.option("--store", "to_store", is_flag=True,
              help="Apply the events to the store (CONNECTOR_DATABASE_URL); actions are recorded as dry-run.")
@click.option("--restart", is_flag=True, help="Ignore the saved cursor and start again from --since.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=str(DEFAULT_STATE),
              show_default=True, help="Where the export cursor is saved after every page.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="CONNECTOR_CONFIG",
              help="Config file (or CONNECTOR_CONFIG): field and status mappings; required with --store.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Tickets per export page.")
def zendesk(since_text: str | None, out_path: str | None, to_store: bool, restart: bool, state_path: str,
            config_path: str | None, page_size: int) -> None:
    """Export Zendesk tickets and their audits as canonical events (resumable)."""
    from connector.backfill import backfill_zendesk, missing_credentials

    run_backfill(source="zendesk", label="Zendesk", position="cursor", resume_key="cursor", run=backfill_zendesk,
                 missing_credentials=missing_credentials, since_text=since_text, out_path=out_path,
                 to_store=to_store, restart=restart, state_path=state_path, config_path=config_path,
                 page_size=page_size)


def run_backfill(*, source: str, label: str, position: str, resume_key: str, run: Callable[..., int],
                 missing_credentials: Callable[[Settings, Any], list[str]], since_text: str | None,
                 out_path: str | None, to_store: bool, restart: bool, state_path: str, config_path: str | None,
                 **options: Any) -> None:
    """What every `connector backfill <source>` does around the source's own `run`: check the arguments and
    credentials, resume from the saved `position` (found under `resume_key`), open the output, show progress,
    and print a summary."""
    from connector.backfill import Applied, load_state
    from connector.config import load_config

    if (out_path is None) == (not to_store):
        raise click.UsageError("give exactly one of --out FILE or --store")
    since = parse_since(since_text) if since_text is not None else None
    if restart and since is None:
        raise click.UsageError("--restart needs --since DATE")
    state_file = Path(state_path)
    with cli_errors():
        settings = Settings.from_env(None, **({"config_path": config_path} if config_path else {}))
        config = load_config(settings.config_path) if settings.config_path else None
        missing = missing_credentials(settings, config)
        if missing:
            raise click.ClickException(f"the {label} backfill needs {', '.join(missing)} set in the environment")
        state = None if restart else load_state(state_file)
    resuming = state is not None and state.get(resume_key) is not None
    if resuming:
        note = " (--since ignored; use --restart to start again)" if since is not None else ""
        click.echo(f"resuming from the {position} saved in {state_file}{note}", err=True)
    elif since is None:
        raise click.UsageError(f"give --since DATE (no saved {position} to resume from)")

    store = None
    processor = None
    if to_store:
        if config is None:
            raise click.UsageError("--store needs a config: --config FILE or CONNECTOR_CONFIG")
        from connector.store import Store
        from connector.worker import TicketProcessor

        with cli_errors():
            store = Store(settings.database_url, timeout=settings.db_timeout_seconds)
            store.upgrade()
        processor = TicketProcessor(store, config, {})

    out: TextIO | None = None
    close = False
    if out_path == "-":
        out = sys.stdout
    elif out_path is not None:
        try:
            out = open(out_path, "a" if resuming else "w", encoding="utf-8")
        except OSError as err:
            raise click.ClickException(f"cannot write {out_path}: {err.strerror}") from None
        close = True

    skipped: list[str] = []

    def bad_ticket(ticket_id: str, err: Exception) -> None:
        skipped.append(ticket_id)
        click.echo(f"warning: ticket {ticket_id} skipped: {err}", err=True)

    totals = Applied()
    tickets = 0
    try:
        # click draws the bar only when stderr is a terminal
        with click.progressbar(_pulse(), label="tickets", show_pos=True, file=sys.stderr) as bar, cli_errors():

            def progress(n: int) -> None:
                nonlocal tickets
                tickets += n
                bar.update(n)

            count = run(settings, config, since=since, out=out, store=store, state_path=state_file,
                        progress=progress, restart=restart, processor=processor, on_bad_ticket=bad_ticket,
                        totals=totals, **options)
    finally:
        if close and out is not None:
            out.close()
        if store is not None:
            store.dispose()
    where = "stdout" if out_path == "-" else (out_path or "the store")
    line = f"backfill {source}: {count} events from {tickets} tickets → {where}"
    if to_store:
        line += f" ({totals.applied} new, {totals.actions} actions recorded as dry-run)"
    if skipped:
        line += f"; {len(skipped)} tickets skipped"
    click.echo(line, err=True)


COMMANDS = (backfill,)
