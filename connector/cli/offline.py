"""The offline commands: `check-config`, `replay` and `explain` read a config and canonical events (JSONL)
and need no database. Bad input is a message on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import click

from connector import jsontext
from connector.cli.common import (
    CONTEXT,
    _config,
    _config_option,
    _events,
    _events_option,
    _events_text,
    _now,
    _now_option,
    _parse_events,
    _skip_option,
    file_lines,
    warn_bad_line,
)
from connector.cli.errors import cli_errors
from connector.config import format_duration


@click.command("check-config", context_settings=CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False), envvar="CONNECTOR_CONFIG")
def check_config(file: str) -> None:
    """Validate a config FILE and print a summary; exit 1 listing every problem if it is invalid."""
    cfg = _config(file)
    click.echo(f"{file}: valid (schema version {cfg.version})")
    cals = [name for name in cfg.calendars] or ["(none besides 24x7)"]
    click.echo(f"calendars    {len(cfg.calendars)}: {', '.join(cals)}")
    click.echo(f"severities   {len(cfg.severities)}: {', '.join(cfg.severities)}")
    for source, mapping in cfg.priority_map.items():
        click.echo(f"priority map {source}: {', '.join(f'{k}→{v}' for k, v in mapping.items())}")
    rules = cfg.classification.rules
    click.echo(f"rules        {len(rules)} (first match wins; default {cfg.classification.default})")
    for rule in rules:
        click.echo(f"  - {rule.name} → {rule.severity}")
    click.echo(f"policies     {len(cfg.policies)} (first match wins)")
    for pol in cfg.policies:
        targets = "; ".join(
            f"{sev} " + ", ".join(f"{m.split('_')[0]} {format_duration(getattr(t, m))}"
                                  for m in ("first_response", "next_response", "periodic_update", "resolution")
                                  if getattr(t, m) is not None)
            for sev, t in pol.targets.items())
        click.echo(f"  - {pol.name} on {pol.calendar}{' (when …)' if pol.when else ' (every ticket)'}: {targets}")
    click.echo(f"escalations  {len(cfg.escalations)}")
    for esc in cfg.escalations:
        kind, value = esc.when.threshold
        at = {"pct": f"at {value:g}%", "remaining": f"{format_duration(value)} before due",
              "breached": "on breach"}[kind]
        metrics = ", ".join(esc.when.metric) if esc.when.metric else "any metric"
        click.echo(f"  - {esc.name}: {metrics} {at} → {', '.join(a.kind for a in esc.actions)}")


def _table(result: dict[str, Any]) -> str:
    lines = [f"as of {result['now']}", ""]
    header = (f"{'ticket':<22} {'sev':<4} {'rule':<18} {'policy':<12} {'metric':<18} {'status':<10} {'due':<21} "
              "elapsed/target")
    lines += [header, "-" * len(header)]
    for t in result["tickets"]:
        ref = f"{t['ticket']['source']}/{t['ticket']['id']}"
        first = True
        for c in t["clocks"] or [None]:
            head = (f"{ref:<22} {t['severity']['classified']:<4} {t['severity']['rule']:<18} {t['policy'] or '-':<12}"
                    if first else " " * 59)
            first = False
            if c is None:
                lines.append(f"{head} (no clocks)")
                continue
            metric = c["metric"] + (f"#{c['cycle']}" if c["metric"] in ("next_response", "periodic_update") else "")
            lines.append(f"{head} {metric:<18} {c['status']:<10} {c['due_at'] or '-':<21} "
                         f"{format_duration(c['elapsed_seconds'])}/{format_duration(c['target_seconds'])}")
        if t["actions"]:
            kinds = ", ".join(sorted({a["action"] for a in t["actions"]}))
            lines.append(" " * 59 + f" actions: {len(t['actions'])} ({kinds})")
    return "\n".join(lines) + "\n"


@click.command(context_settings=CONTEXT)
@_config_option
@_events_option
@_now_option
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
@_skip_option
def replay(config_path: str | None, events_path: str, now_text: str | None, fmt: str, skip_bad: bool) -> None:
    """Run the rules core over recorded events, offline, and print every ticket's clocks and actions."""
    import connector.cli.replay_fork as replay_fork
    from connector.replay import replay as run_replay

    cfg = _config(config_path)
    now = _now(now_text)
    text, newlines = _events_text(events_path)
    workers = replay_fork.processes()
    if fmt == "json" and workers > 1 and newlines >= replay_fork.MIN_LINES:
        with cli_errors():
            try:
                replay_fork.replay_json(cfg, text, now, workers, skip_bad=skip_bad,
                                        warn=partial(warn_bad_line, events_path), write=_write_pieces)
            except replay_fork.Unavailable as err:
                if not err.quiet:
                    click.echo(f"warning: replaying in one process ({err})", err=True)
            else:
                return
    lines = file_lines(text)
    del text
    events = _parse_events(events_path, lines, skip_bad=skip_bad)
    show_progress = sys.stderr.isatty() and len(events) >= 20000
    with cli_errors():
        if show_progress:
            with click.progressbar(length=len(events), label="replaying", file=sys.stderr) as bar:
                result = run_replay(cfg, events, now, progress=bar.update)
        else:
            result = run_replay(cfg, events, now)
    if fmt == "json":
        # JSON escapes C0 (no ESC reaches the terminal), and a replay holds no free text of the events (no
        # subject, no description): `json_visible` is for output that does (`mapping check`)
        click.echo(jsontext.dumps(result, indent=True), color=True)
    else:
        click.echo(_table(result), nl=False)


def _write_pieces(pieces: list[bytes | memoryview]) -> None:
    """Write a document given in pieces to stdout, then a newline (as `click.echo` ends a line)."""
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream
        click.echo(b"".join(pieces))
        return
    sys.stdout.flush()
    binary.writelines(pieces)
    binary.write(b"\n")
    binary.flush()


@click.command(context_settings=CONTEXT)
@_config_option
@_events_option
@click.option("--ticket", "ticket_id", required=True, help="Ticket id as the help desk shows it.")
@click.option("--source", default=None, help="Source of the ticket, when the id exists in several.")
@_now_option
@_skip_option
def explain(config_path: str | None, events_path: str, ticket_id: str, source: str | None, now_text: str | None,
            skip_bad: bool) -> None:
    """Tell the story of one ticket: severity, policy, each clock and why it is due when it is."""
    from connector.explain import explain as run_explain

    cfg = _config(config_path)
    now = _now(now_text)
    events = _events(events_path, skip_bad=skip_bad)
    with cli_errors():
        click.echo(run_explain(cfg, events, ticket_id, now=now, source=source), nl=False)


COMMANDS = (check_config, replay, explain)
