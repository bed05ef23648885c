"""`connector backfill freshdesk`: load Freshdesk's ticket history as canonical events (JSONL or the store).

    connector backfill freshdesk --since 2026-01-01 --out events.jsonl   # then: connector replay --events …
    connector backfill freshdesk --since 2026-01-01 --store              # into CONNECTOR_DATABASE_URL
    connector backfill freshdesk --out events.jsonl                      # resume an interrupted run

The listing window and next page are saved after every page in `--state` (default
.connector/freshdesk-backfill.json); a re-run resumes from it (appending to `--out`) unless `--restart` is
given. Missing FRESHDESK_DOMAIN/FRESHDESK_API_KEY, a bad date or an API error end the command with
`Error: …` on stderr and exit code 1, never a traceback. Progress goes to stderr when it is a terminal.
"""

from __future__ import annotations

from pathlib import Path

from connector.cli.common import backfill_options, run_backfill

DEFAULT_STATE = Path(".connector") / "freshdesk-backfill.json"


@backfill_options("freshdesk", position="position (listing window and next page)", state=DEFAULT_STATE)
def backfill_command(since_text: str | None, out_path: str | None, to_store: bool, restart: bool, state_path: str,
              config_path: str | None) -> None:
    """List Freshdesk tickets with their stats and conversations as canonical events (resumable)."""
    from adapters.freshdesk.reconcile import backfill_freshdesk, missing_credentials

    run_backfill(source="freshdesk", label="Freshdesk", position="position", resume_key="window",
                 run=backfill_freshdesk, missing_credentials=missing_credentials, since_text=since_text,
                 out_path=out_path, to_store=to_store, restart=restart, state_path=state_path,
                 config_path=config_path)
