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

import click

from connector.cli import board, capacity, freshdesk, mapping, offline, reports, service, simulate, zendesk
from connector.cli.common import CONTEXT


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="sla-connector", prog_name="connector")
def main() -> None:
    """The SLA connector: help-desk SLA clocks on business calendars, escalations and reports."""


@click.group(context_settings=CONTEXT)
def backfill() -> None:
    """Load a help desk's ticket history as canonical events."""


backfill.add_command(zendesk.backfill_command)
backfill.add_command(freshdesk.backfill_command)
for _command in (*offline.COMMANDS, *mapping.COMMANDS, *reports.COMMANDS, *simulate.COMMANDS, *capacity.COMMANDS,
                 *board.COMMANDS, *service.COMMANDS, zendesk.zendesk, backfill):
    main.add_command(_command)

__all__ = ["backfill", "main"]
