"""Zendesk's commands: `connector zendesk install` (webhook and triggers) and `connector backfill zendesk`
(its ticket history as canonical events, JSONL or the store).

    connector zendesk install --url https://sla.example.com [--dry-run]

    connector backfill zendesk --since 2026-01-01 --out events.jsonl     # then: connector replay --events …
    connector backfill zendesk --since 2026-01-01 --store                # into CONNECTOR_DATABASE_URL
    connector backfill zendesk --out events.jsonl                        # resume an interrupted run

The export cursor is saved after every page in `--state` (default .connector/zendesk-backfill.json); a
re-run resumes from it (appending to `--out`) unless `--restart` is given. Missing credentials, a bad
date or an API error end the command with `Error: …` on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from connector.cli.common import CONTEXT, _config_option, _settings, backfill_options, run_backfill
from connector.cli.errors import cli_errors
from connector.cli.service import DEV_SECRET_FILE

DEFAULT_STATE = Path(".connector") / "zendesk-backfill.json"


@backfill_options("zendesk", position="export cursor", state=DEFAULT_STATE)
@click.option("--page-size", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Tickets per export page.")
def backfill_command(since_text: str | None, out_path: str | None, to_store: bool, restart: bool, state_path: str,
            config_path: str | None, page_size: int) -> None:
    """Export Zendesk tickets and their audits as canonical events (resumable)."""
    from adapters.zendesk.reconcile import backfill_zendesk, missing_credentials

    run_backfill(source="zendesk", label="Zendesk", position="cursor", resume_key="cursor", run=backfill_zendesk,
                 missing_credentials=missing_credentials, since_text=since_text, out_path=out_path,
                 to_store=to_store, restart=restart, state_path=state_path, config_path=config_path,
                 page_size=page_size)


@click.group(context_settings=CONTEXT)
def zendesk() -> None:
    """Zendesk set-up."""


@zendesk.command()
@_config_option
@click.option("--url", "connector_url", required=True, help="Where Zendesk reaches the connector (https://…).")
@click.option("--body", "body_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The trigger body (default config/zendesk/trigger-body.json).")
@click.option("--dry-run", is_flag=True, help="Print the webhook and triggers; change nothing.")
def install(config_path: str | None, connector_url: str, body_file: Path | None, dry_run: bool) -> None:
    """Create or update, idempotently, the Zendesk webhook and the triggers that call it."""
    from adapters.registry import zendesk_client
    from adapters.zendesk import install as zinstall
    from connector.runtime import load_settings_config

    body = body_file or zinstall.BODY_FILE
    if not body.exists():
        raise click.ClickException(f"trigger body not found: {body} (give --body FILE)")
    try:
        the_plan = zinstall.plan(connector_url, body)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    if dry_run:
        click.echo(json.dumps(the_plan.as_dict(), indent=2))
        return
    settings = _settings(config_path)
    with cli_errors():
        client = zendesk_client(settings, load_settings_config(settings))
        if client is None:
            raise click.ClickException("set ZENDESK_SUBDOMAIN, ZENDESK_EMAIL and ZENDESK_API_TOKEN "
                                       "(or sources.zendesk.base_url) to install")
        done = zinstall.apply(client, the_plan)
    click.echo(f"webhook {done.webhook_id} → {the_plan.webhook['endpoint']}")
    for title, trigger_id in zip((t["title"] for t in the_plan.triggers), done.trigger_ids, strict=True):
        click.echo(f"trigger {trigger_id}: {title}")
    current = settings.env.get("ZENDESK_WEBHOOK_SECRET")
    if current is not None and done.signing_secret in current.reveal().split(","):
        click.echo("ZENDESK_WEBHOOK_SECRET already holds the webhook's signing secret.")
        return
    target = DEV_SECRET_FILE.parent / "zendesk-webhook-secret"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(done.signing_secret + "\n")
    click.echo(f"The webhook's signing secret is in {target} (mode 600): set ZENDESK_WEBHOOK_SECRET to it "
               "where the connector runs, then delete the file.")
