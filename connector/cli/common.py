"""What the command families share: the context, the config/events/now options of the offline and report
commands, settings and the store as every command opens them, and the frame of `connector backfill <source>`.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from connector.cli.errors import cli_errors
from connector.config import Config, load_config
from connector.errors import EventError
from connector.events import MAX_LINE_CHARS, BadLine, Event, iter_jsonl, parse_instant, read_jsonl
from connector.jsontext import MAX_DEPTH
from connector.settings import Settings
from connector.visible import visible

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _config(path: str | None) -> Config:
    """The config of --config or CONNECTOR_CONFIG, else the same default as `connector run` (said on stderr)."""
    if path is None:
        from connector.settings import default_config

        path = default_config()
        if path is None:
            raise click.UsageError("no config given: use --config FILE or set CONNECTOR_CONFIG")
        click.echo(f"config: {path} (no --config or CONNECTOR_CONFIG given)", err=True)
    with cli_errors():
        return load_config(path)


def _events(path: str, *, skip_bad: bool) -> list[Event]:
    return _parse_events(path, file_lines(_events_text(path)[0]), skip_bad=skip_bad)


def _events_text(path: str) -> tuple[str, int]:
    """The events file's text (newlines as iterating the file gives them) and how many newlines it holds."""
    # A one-shot command builds millions of small acyclic objects that reference counting frees; the cyclic
    # collector would rescan the growing heap again and again (about 40 % of replay time). The process
    # ends when the command does, so it is switched off for good here.
    gc.disable()
    p = Path(path)
    try:
        with p.open(encoding="utf-8") as handle:
            return _bounded_text(handle, p)
    except FileNotFoundError:
        raise click.ClickException(f"events file not found: {p}") from None
    except UnicodeDecodeError as err:
        raise click.ClickException(f"{p} is not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise click.ClickException(f"cannot read events file {p}: {err.strerror}") from None


READ_CHARS = 1024 * 1024  # read at a time; at most MAX_LINE_CHARS, so a line inside one read is short enough


def _bounded_text(handle: TextIO, path: Path) -> tuple[str, int]:
    """The whole text of `handle` and its count of newlines, refused as soon as a line runs past
    `MAX_LINE_CHARS` (without --skip-bad too: skipping it would mean reading on to a newline that a device
    such as /dev/zero never gives)."""
    pieces: list[str] = []
    lines = 0    # newlines read so far
    since = 0    # characters read since the last one
    while chunk := handle.read(READ_CHARS):
        first = chunk.find("\n")
        if first == -1:
            since += len(chunk)
        elif since + first > MAX_LINE_CHARS:
            break
        else:  # the lines between this chunk's first and last newline are shorter than the chunk
            lines += chunk.count("\n")
            since = len(chunk) - chunk.rfind("\n") - 1
        if since > MAX_LINE_CHARS:
            break
        pieces.append(chunk)
    else:
        return "".join(pieces), lines
    raise click.ClickException(f"{path}: line {lines + 1} is longer than {MAX_LINE_CHARS} characters; an events "
                               "file holds one canonical event per line (a few hundred bytes each)")


def _parse_events(path: str, lines: list[str], *, skip_bad: bool) -> list[Event]:
    if not skip_bad:
        with cli_errors():
            return read_jsonl(lines)
    events: list[Event] = []
    for item in iter_jsonl(lines):
        if isinstance(item, BadLine):
            warn_bad_line(path, item)
        else:
            events.append(item)
    return events


def file_lines(text: str) -> list[str]:
    """The lines iterating the file gives: split at each newline only, each keeping it."""
    lines, bare = line_parts(text)
    return [line if at == bare else line + "\n" for at, line in enumerate(lines)]


def line_parts(text: str) -> tuple[list[str], int]:
    """The file's lines without their newline, and the index of the one that had none (a last line without
    a newline; -1 if every line had one): `file_lines` without building each line again."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines, -1 if text.endswith("\n") else len(lines) - 1


def warn_bad_line(path: str, item: BadLine) -> None:
    click.echo(visible(f"warning: {Path(path)}: line {item.line} skipped: {item.message}"), err=True)


def _now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value, "--now")
    except EventError as err:
        raise click.ClickException(err.message) from None


_config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="CONNECTOR_CONFIG",
                              help="Config file (or CONNECTOR_CONFIG; default config/example.yaml when present).")
_events_option = click.option("--events", "events_path", required=True, type=click.Path(dir_okay=False),
                              help="Canonical events, one JSON object per line (a line of at most "
                                   f"{MAX_LINE_CHARS:,} characters, nested at most {MAX_DEPTH} levels deep).")
_now_option = click.option("--now", "now_text", metavar="ISO",
                           help="Instant at which running clocks are evaluated (default: the last event's time).")
_skip_option = click.option("--skip-bad", is_flag=True, help="Skip bad lines with a warning instead of failing.")


def _settings(config: str | None, host: str | None = None, port: int | None = None, **extra: Any) -> Settings:
    overrides: dict[str, Any] = dict(extra)
    if config:
        overrides["config_path"] = config
    if host:
        overrides["host"] = host
    if port:
        overrides["port"] = port
    with cli_errors():
        return Settings.from_env(**overrides)


def open_store() -> Any:
    """Open and migrate the store at CONNECTOR_DATABASE_URL; a bad URL or a dead database is a clean exit 1."""
    from connector.store import Store

    with cli_errors():
        settings = Settings.from_env()
        store = Store(settings.database_url, timeout=settings.db_timeout_seconds)
        store.upgrade()
    return store


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


def backfill_options(name: str, *, position: str, state: Path) -> Callable[[Any], Any]:
    """The options every `connector backfill <source>` takes; `position` names what `--state` keeps."""
    options = [
        click.command(name, context_settings=CONTEXT),
        click.option("--since", "since_text", metavar="DATE",
                     help="Tickets updated since this date (YYYY-MM-DD, UTC) or ISO 8601 instant."),
        click.option("--out", "out_path", type=click.Path(dir_okay=False, allow_dash=True),
                     help="Write the events as JSON Lines to this file ('-' for stdout)."),
        click.option("--store", "to_store", is_flag=True,
                     help="Apply the events to the store (CONNECTOR_DATABASE_URL); actions are recorded as dry-run."),
        click.option("--restart", is_flag=True, help=f"Ignore the saved {position} and start again from --since."),
        click.option("--state", "state_path", type=click.Path(dir_okay=False), default=str(state),
                     show_default=True, help=f"Where the {position} is saved after every page."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="CONNECTOR_CONFIG",
                     help="Config file (or CONNECTOR_CONFIG): field and status mappings; required with --store."),
    ]

    def apply(function: Any) -> Any:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


def cut_unfinished_line(path: Path, *, chunk: int = 65536) -> int:
    """Cut a file back to its last newline; return how many bytes were cut (0: it ends with one, is empty or
    missing). A backfill writes a page, flushes it, then saves where to resume: a run killed while writing
    leaves an unfinished line whose page was not saved, so the resumed run reads that page again. Appended
    after it, the next line would turn both into one bad line in the middle of the file."""
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        return 0
    with handle:
        size = handle.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - chunk)
            handle.seek(start)
            piece = handle.read(end - start)
            if end == size and piece.endswith(b"\n"):
                return 0
            at = piece.rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        else:
            keep = 0
        handle.truncate(keep)
        return size - keep


def run_backfill(*, source: str, label: str, position: str, resume_key: str, run: Callable[..., int],
                 missing_credentials: Callable[[Settings, Any], list[str]], since_text: str | None,
                 out_path: str | None, to_store: bool, restart: bool, state_path: str, config_path: str | None,
                 **options: Any) -> None:
    """What every `connector backfill <source>` does around the source's own `run`: check the arguments and
    credentials, resume from the saved `position` (found under `resume_key`), open the output, show progress,
    and print a summary."""
    from connector.config import load_config
    from connector.runtime.history import Applied, load_state

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
        from connector.runtime.worker import TicketProcessor
        from connector.store import Store

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
            if resuming:
                cut = cut_unfinished_line(Path(out_path))
                if cut:
                    click.echo(f"dropped the unfinished last line of {out_path} ({cut} bytes) an interrupted run "
                               "left; its page is read again", err=True)
            out = open(out_path, "a" if resuming else "w", encoding="utf-8")
        except OSError as err:
            raise click.ClickException(f"cannot write {out_path}: {err.strerror}") from None
        close = True

    skipped: list[str] = []

    def bad_ticket(ticket_id: str, err: Exception) -> None:
        skipped.append(ticket_id)
        click.echo(visible(f"warning: ticket {ticket_id} skipped: {err}"), err=True)  # a help desk's words

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
    if totals.ahead:
        from adapters.base import AHEAD_TOLERANCE
        from connector.rules.clocks import duration_text

        line += (f"; {totals.ahead} events refused, dated more than "
                 f"{duration_text(AHEAD_TOLERANCE.total_seconds())} after they were read (a clock ahead)")
    if skipped:
        line += f"; {len(skipped)} tickets skipped"
    click.echo(line, err=True)
