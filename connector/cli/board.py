"""`connector board`: the live board in a terminal, from the store (CONNECTOR_DATABASE_URL).

    connector board [--once] [--group G] [--source S] [--severity P1] [--metric M] [--assignee A]
                    [--limit N] [--interval 10] [--now ISO] [--format table|json]

The same rows and counts as `GET /board.json` (`connector.reports.board`): every running clock by business
time remaining. Without `--once` it redraws every `--interval` seconds until interrupted; a database that
stops answering is said on the screen, and the board comes back when it answers again.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from connector.cli.common import _config, _config_option, _now, open_store
from connector.cli.errors import cli_errors
from connector.reports.board_query import DEFAULT_LIMIT, FILTERS, FORECAST_DAYS, MAX_LIMIT
from connector.rules.clocks import duration_text

COLUMNS = (("ticket", 12), ("source", 10), ("sev", 4), ("metric", 22), ("remaining", 10), ("due (UTC)", 17),
           ("group", 14), ("assignee", 14))


def _cut(value: Any, width: int) -> str:
    text = "-" if value is None else "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= width else text[:width - 1] + "…"


def render_table(data: dict[str, Any]) -> str:
    """The board as a terminal table: the counts, then one line per clock (`*` marks an internal one)."""
    counts = data["counts"]
    lines = [f"as of {data['as_of']} · {data['total']} running · breached {counts['breached']} · within 1h "
             f"{counts['within_1h']} · within 4h {counts['within_4h']} · within 24h {counts['within_24h']}",
             " ".join(f"{name:<{width}}" for name, width in COLUMNS)]
    for r in data["rows"]:
        metric = r["metric"] + (f" #{r['cycle']}" if r["cycle"] > 1 else "") + (" *" if r["internal"] else "")
        due = (r["due_at"] or "")[:16].replace("T", " ")
        values = (r["ticket_id"], r["source"], r["severity"], metric, duration_text(r["remaining_seconds"]), due,
                  r["group"], r["assignee"])
        lines.append(" ".join(f"{_cut(v, w):<{w}}" for v, (_, w) in zip(values, COLUMNS, strict=True)).rstrip())
    if any(r["internal"] for r in data["rows"]):
        lines.append("* an internal agreement's clock")
    ahead = data.get("forecast")
    if ahead is not None:
        lines += ["", "forecast:", *(f"  {r['summary']}" for r in ahead["rows"] if r["replies_due_24h"])]
    return "\n".join(lines)


@click.command("board")
@_config_option
@click.option("--once", is_flag=True, help="Print the board once and exit.")
@click.option("--interval", type=click.FloatRange(min=1), default=10.0, show_default=True,
              help="Seconds between redraws.")
@click.option("--limit", type=int, default=DEFAULT_LIMIT, show_default=True, help="At most this many rows.")
@click.option("--now", "now_text", metavar="ISO", help="Evaluate at this instant (default: the current time).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--source")
@click.option("--group")
@click.option("--assignee")
@click.option("--severity")
@click.option("--metric")
def board_command(config_path: str | None, once: bool, interval: float, limit: int, now_text: str | None, fmt: str,
                  **filters: str | None) -> None:
    """What breaches next: every running clock (customer and internal) by business time remaining."""
    from connector.reports.board import BoardQuery, board_data  # the store's queries: only for this command

    if not 1 <= limit <= MAX_LIMIT:
        raise click.ClickException(f"--limit: must be a whole number from 1 to {MAX_LIMIT}")
    cfg = _config(config_path)
    fixed = _now(now_text)
    query = BoardQuery(filters={k: v for k, v in filters.items() if k in FILTERS and v}, limit=limit)
    store = open_store()
    try:
        while True:
            now = fixed or datetime.now(UTC).replace(microsecond=0)
            if once:
                with cli_errors():
                    data = board_data(store, cfg, now, query, forecast_days=FORECAST_DAYS)
                click.echo(json.dumps(data, indent=2, ensure_ascii=False) if fmt == "json" else render_table(data))
                return
            try:
                text = render_table(board_data(store, cfg, now, query, forecast_days=FORECAST_DAYS))
            except Exception as err:  # the database is down: say so, keep trying
                text = f"as of {now:%Y-%m-%d %H:%M:%S}Z the store cannot answer ({type(err).__name__}); retrying"
            click.clear()
            click.echo(text)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        store.dispose()


COMMANDS = (board_command,)
