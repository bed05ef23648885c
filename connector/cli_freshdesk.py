"""`connector backfill freshdesk`: load Freshdesk's ticket history as canonical events (JSONL or the store).

    connector backfill freshdesk --since 2026-01-01 --out events.jsonl   # then: connector replay --events …
    connector backfill freshdesk --since 2026-01-01 --store              # into CONNECTOR_DATABASE_URL
    connector backfill freshdesk --out events.jsonl                      # resume an interrupted run

A `click.Command` for the `backfill` group of `connector.cli_zendesk` (`backfill.add_command(freshdesk)`).
The listing window and next page are saved after every page in `--state` (default
.connector/freshdesk-backfill.json); a re-run resumes from it (appending to `--out`) unless `--restart` is
given. Missing FRESHDESK_DOMAIN/FRESHDESK_API_KEY, a bad date or an API error end the command with
`Error: …` on stderr and exit code 1, never a traceback. Progress goes to stderr when it is a terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from connector.cli_zendesk import CONTEXT, _pulse, parse_since
from connector.clierrors import cli_errors
from connector.settings import Settings

DEFAULT_STATE = Path(".connector") / "freshdesk-backfill.json"


@click.command("freshdesk", context_settings=CONTEXT)
@click.option("--since", "since_text", metavar="DATE",
              help="Tickets updated since this date (YYYY-MM-DD, UTC) or ISO 8601 instant.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the events as JSON Lines to this file ('-' for stdout).")
@click.option("--store", "to_store", is_flag=True,
              help="Apply the events to the store (CONNECTOR_DATABASE_URL); actions are recorded as dry-run.")
@click.option("--restart", is_flag=True, help="Ignore the saved position and start again from --since.")
@click.option("--state", "state_path", type=click.Path(dir_okay=False), default=str(DEFAULT_STATE),
              show_default=True, help="Where the listing window and next page are saved after every page.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="CONNECTOR_CONFIG",
              help="Config file (or CONNECTOR_CONFIG): field and status mappings; required with --store.")
def freshdesk(since_text: str | None, out_path: str | None, to_store: bool, restart: bool, state_path: str,
              config_path: str | None) -> None:
    """List Freshdesk tickets with their stats and conversations as canonical events (resumable)."""
    from connector.backfill import Applied, load_state
    from connector.backfill_freshdesk import backfill_freshdesk, missing_credentials
    from connector.config import load_config

    if (out_path is None) == (not to_store):
        raise click.UsageError("give exactly one of --out FILE or --store")
    since = parse_since(since_text) if since_text is not None else None
    if restart and since is None:
        raise click.UsageError("--restart needs --since DATE")
    settings = Settings.from_env(None, **({"config_path": config_path} if config_path else {}))
    state_file = Path(state_path)
    with cli_errors():
        config = load_config(settings.config_path) if settings.config_path else None
        missing = missing_credentials(settings, config)
        if missing:
            raise click.ClickException(f"the Freshdesk backfill needs {', '.join(missing)} set in the environment")
        state = None if restart else load_state(state_file)
    resuming = state is not None and state.get("window") is not None
    if resuming:
        note = " (--since ignored; use --restart to start again)" if since is not None else ""
        click.echo(f"resuming from the position saved in {state_file}{note}", err=True)
    elif since is None:
        raise click.UsageError("give --since DATE (no saved position to resume from)")

    store = None
    processor = None
    if to_store:
        if config is None:
            raise click.UsageError("--store needs a config: --config FILE or CONNECTOR_CONFIG")
        from connector.store import Store
        from connector.worker import TicketProcessor

        with cli_errors():
            store = Store(settings.database_url)
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

            count = backfill_freshdesk(settings, config, since=since, out=out, store=store, state_path=state_file,
                                       progress=progress, restart=restart, processor=processor,
                                       on_bad_ticket=bad_ticket, totals=totals)
    finally:
        if close and out is not None:
            out.close()
        if store is not None:
            store.dispose()
    where = "stdout" if out_path == "-" else (out_path or "the store")
    line = f"backfill freshdesk: {count} events from {tickets} tickets → {where}"
    if to_store:
        line += f" ({totals.applied} new, {totals.actions} actions recorded as dry-run)"
    if skipped:
        line += f"; {len(skipped)} tickets skipped"
    click.echo(line, err=True)


def freshdesk_command() -> click.Command:
    """The `freshdesk` command, for `backfill.add_command(freshdesk_command())`."""
    return freshdesk
