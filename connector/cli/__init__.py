"""The `connector` command line (click): one module per command family, assembled here.

    offline.py    check-config, replay, explain          (a config and a JSONL file; no database)
    reports.py    report sla|credits|kpis|audit           (offline or from the store)
    service.py    run, serve, worker, scheduler, db, outbox, sign-in
    zendesk.py    zendesk install, backfill zendesk
    freshdesk.py  backfill freshdesk
    mapping.py    mapping check                           (a mapped source's mapping on a sample body)
    common.py     what they share (options, settings, the store, the backfill frame); errors.py: `cli_errors`

Every command turns bad input (a missing file, an invalid config, a bad JSONL line, a naive timestamp)
into a clear message on stderr and exit code 1, never a traceback. The modules import `common` and
`errors`, never this package, so there is no import circle.
"""

from __future__ import annotations

import importlib

import click

from connector.cli.common import CONTEXT

# Each command's module is imported when the command runs (or when `--help` lists them all): `connector
# replay` does not pay for the service, the reports and the help desks' clients (about 60 ms of a command
# of 2.5 s). `tests/cli/test_cli.py` holds this table equal to each module's `COMMANDS`.
COMMANDS = {
    "check-config": "offline:check_config",
    "replay": "offline:replay",
    "explain": "offline:explain",
    "mapping": "mapping:mapping",
    "report": "reports:report",
    "simulate": "simulate:simulate_command",
    "capacity": "capacity:capacity_command",
    "board": "board:board_command",
    "run": "service:run",
    "serve": "service:serve",
    "worker": "service:worker",
    "scheduler": "service:scheduler",
    "db": "service:db",
    "outbox": "service:outbox",
    "sign-in": "service:sign_in",
    "zendesk": "zendesk:zendesk",
}
BACKFILL_COMMANDS = {"zendesk": "zendesk:backfill_command", "freshdesk": "freshdesk:backfill_command"}


class LazyGroup(click.Group):
    """A group whose commands are named here and imported from their module when first asked for (click's
    own pattern for lazily loaded subcommands)."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attr = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(f"connector.cli.{module}"), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings=CONTEXT)
@click.version_option(package_name="sla-connector", prog_name="connector")
def main() -> None:
    """The SLA connector: help-desk SLA clocks on business calendars, escalations and reports."""


@click.group(cls=LazyGroup, lazy=BACKFILL_COMMANDS, context_settings=CONTEXT)
def backfill() -> None:
    """Load a help desk's ticket history as canonical events."""


main.add_command(backfill)

__all__ = ["backfill", "main"]
