"""The service commands: run, serve, worker, scheduler, db upgrade, outbox list|retry|drop.

Heavy imports (Flask, waitress, APScheduler) happen inside the commands so `connector replay` stays quick.
"""

from __future__ import annotations

import base64
import faulthandler
import json
import os
import secrets
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from connector.cli.common import _settings, open_store
from connector.cli.errors import cli_errors
from connector.settings import Secret, Settings
from connector.visible import visible

DEV_SECRET_FILE = Path(".connector") / "webhook-secret"
DEV_TOKEN_FILE = Path(".connector") / "api-token"
# The largest id and row count either database takes: a signed 64-bit integer (SQLite's INTEGER, PostgreSQL's
# bigint). A larger number reached the driver as it was typed and came back as an OverflowError traceback.
MAX_ROW_NUMBER = 2**63 - 1


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM end the command cleanly: the loops see `stop`, the server is closed."""

    def handler(signum: int, _frame: Any) -> None:
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGUSR1"):  # an operator's `kill -USR1 <pid>` prints every thread's stack to stderr
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def _kept_secret(path: Path, make: Any) -> Secret:
    """The secret kept in `path` (mode 600), made by `make()` and written there the first time.

    `O_EXCL`: two commands started at once never both write; the loser reads the winner's value."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(make() + "\n")
    value = path.read_text().strip()
    if not value:
        raise click.ClickException(f"{path} is empty: delete it and start again to have a new one made")
    return Secret(value)


def _dev_secret() -> Secret:
    """A generated whsec_ secret for a first local run, kept in .connector/webhook-secret (mode 600)."""
    return _kept_secret(DEV_SECRET_FILE, lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())


def _dev_token() -> Secret:
    """A generated API token for a first local run, kept in .connector/api-token (mode 600)."""
    return _kept_secret(DEV_TOKEN_FILE, lambda: "tok_" + secrets.token_urlsafe(32))


_config_option = click.option("--config", type=click.Path(dir_okay=False), envvar="CONNECTOR_CONFIG",
                              help="Config file (or CONNECTOR_CONFIG; default config/example.yaml).")
_host_option = click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
_port_option = click.option("--port", type=int, default=None, help="Port (default 8080).")


@click.command()
@_config_option
@_host_option
@_port_option
@click.option("--interval", type=float, default=60.0, show_default=True, help="Seconds between scheduler sweeps.")
def run(config: str | None, host: str | None, port: int | None, interval: float) -> None:
    """Start web, worker, write-back and scheduler in one process (SQLite by default)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from connector.logs import configure_logging
    from connector.runtime import build_runtime
    from connector.runtime.scheduler import Sweeper, schedule
    from connector.service import create_app
    from connector.service.server import make_server
    from connector.service.session import LINK_TTL_SECONDS

    settings = _settings(config, host, port)
    generated = not settings.webhook_secrets
    made_token = settings.api_token is None
    extra: dict[str, Any] = {}
    if generated:
        extra["webhook_secrets"] = (_dev_secret(),)
    if made_token:
        extra["api_token"] = _dev_token()
    if extra:
        settings = _settings(config, host, port, **extra)
    configure_logging(settings.log_level, secrets=settings.secret_values())
    with cli_errors():
        rt = build_runtime(settings)
        app = create_app(settings, store=rt.store, config=rt.config, adapters=rt.adapters)
        server = make_server(app, host=settings.host, port=settings.port, threads=8,
                             read_timeout=settings.http_read_timeout_seconds)
    stop = threading.Event()
    inbound, executor = _loops(rt)
    loops = [threading.Thread(target=inbound.run_forever, args=(stop,), name="worker", daemon=True),
             threading.Thread(target=executor.run_forever, args=(stop,), name="write-back", daemon=True)]
    scheduler = BackgroundScheduler(timezone=UTC)
    schedule(scheduler, Sweeper(rt.store, rt.processor), interval_seconds=interval)
    reconciling = _schedule_reconciliation(scheduler, rt)
    base = f"http://{settings.host}:{settings.port}"
    dry = [s for s, w in rt.writers.items() if w is None or not w.configured]
    click.echo(f"SLA connector listening on {base}")
    click.echo(f"  config       {settings.config_path}")
    click.echo(f"  database     {_where(rt.store.url)}")
    if settings.spool_dir:
        click.echo(f"  spool        {settings.spool_dir} (webhooks acknowledged while the database is away)")
    for source in sorted(rt.adapters):
        click.echo(f"  webhook      POST {base}/hooks/{source}")
    click.echo(f"  health       {base}/healthz  {base}/readyz  {base}/metrics")
    click.echo(f"  tickets      {base}/tickets/<source>/<id>[/explain]")
    click.echo(f"  reports      {base}/reports/<sla|credits|kpis|audit>[?format=html|json|csv]")
    if made_token:
        click.echo(f"  api token    no CONNECTOR_API_TOKEN set: using the one generated in {DEV_TOKEN_FILE}; "
                   f'send it as "Authorization: Bearer $(cat {DEV_TOKEN_FILE})"')
    else:
        click.echo("  api token    CONNECTOR_API_TOKEN, sent as \"Authorization: Bearer …\"")
    click.echo(f"  browser      {_sign_in_link(base, settings)}  (opens the reports; works once, for "
               f"{LINK_TTL_SECONDS // 60} minutes)")
    if generated:
        click.echo(f"  secret       no CONNECTOR_WEBHOOK_SECRET set: using the one generated in {DEV_SECRET_FILE}")
    if reconciling:
        click.echo(f"  reconcile    {', '.join(reconciling)} polled every 5 minutes for what webhooks missed")
    if dry:
        click.echo(f"  write-back   dry-run for {', '.join(sorted(dry))} (no credentials): actions are recorded, "
                   "not sent")
    click.echo("Ctrl-C stops.")
    _stop_on_signals(stop)
    for loop in loops:
        loop.start()
    scheduler.start()
    try:
        server.run()
    except SystemExit:
        pass
    finally:
        stop.set()
        scheduler.shutdown(wait=False)
        server.close()
        for loop in loops:
            loop.join(timeout=10)
        rt.store.dispose()
        click.echo("stopped.", err=True)


def _sign_in_link(base: str, settings: Settings) -> str:
    """A one-time sign-in link to the reports, on an address a browser on this machine can open."""
    from urllib.parse import urlsplit, urlunsplit

    from connector.service.session import login_link

    parts = urlsplit(base)
    if parts.hostname in ("0.0.0.0", "::", ""):  # listening everywhere: this machine's own address works
        parts = parts._replace(netloc=f"127.0.0.1:{settings.port}")
    if settings.api_token is None:
        raise click.ClickException("no API token: set CONNECTOR_API_TOKEN, or start `connector run` once")
    return login_link(urlunsplit(parts), settings.api_token.reveal())


@click.command("sign-in")
@click.option("--url", "base", default=None, metavar="URL",
              help="The connector's address as the browser reaches it (default http://HOST:PORT of the settings).")
def sign_in(base: str | None) -> None:
    """Print a one-time link that opens the reports in a browser (works once, for a few minutes).

    The link is signed with the API token (CONNECTOR_API_TOKEN, or the one `connector run` generated in
    .connector/api-token) and never contains it; opening it sets an HttpOnly, SameSite=Strict cookie."""
    settings = _settings(None)
    if settings.api_token is None and DEV_TOKEN_FILE.exists():
        settings = _settings(None, api_token=_dev_token())
    with cli_errors():
        try:
            click.echo(_sign_in_link(base or f"http://{settings.host}:{settings.port}", settings))
        except ValueError as err:
            raise click.ClickException(f"--url: {err}".replace("base_url: ", "")) from None


def _schedule_reconciliation(scheduler: Any, rt: Any) -> list[str]:
    """Add the help desks' reconciliation polls (those with API credentials); return their names."""
    from adapters.registry import SOURCES, build_reconciler

    polled = []
    for source in (s for s, entry in SOURCES.items() if entry.reconciler and s in rt.adapters):  # registry order
        poll = build_reconciler(source, rt.settings, rt.config, rt.store, rt.processor,
                                account=rt.adapters[source].account,
                                cursor_path=DEV_SECRET_FILE.parent / f"{source}-reconcile.json")
        if poll is not None:
            poll.schedule(scheduler)
            polled.append(source)
    return polled


def _yield_cpu(niceness: int) -> None:
    """Lower this worker process's CPU priority by `niceness` (CONNECTOR_WORKER_NICENESS, default 10): on a
    machine it shares with the webhook door, a burst's drain takes the CPU the door leaves, and the door keeps
    answering help desks in time (bench_ingest). 0 leaves the priority as it is."""
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)


def _loops(rt: Any) -> tuple[Any, Any]:
    """The inbox worker and the outbox executor of a runtime, with the configured lease."""
    from connector.runtime import settle_heap
    from connector.runtime.outbox import Executor
    from connector.runtime.worker import Worker
    from connector.store.spool import for_database

    lease = timedelta(seconds=rt.settings.claim_lease_seconds)
    spool = for_database(rt.settings.spool_dir, rt.store.url) if rt.settings.spool_dir else None
    loops = (Worker(rt.store, rt.processor, rt.adapters, lease=lease, spool=spool,
                   dedupe_window=timedelta(seconds=rt.settings.dedupe_window_seconds),
                   yield_to_door=rt.settings.worker_yield),
            Executor(rt.store, rt.writers, max_attempts=rt.config.writeback.max_attempts,
                     lease=min(lease, timedelta(minutes=2))))
    settle_heap()  # start-up is over: what it built stays (see connector/runtime)
    return loops


def _where(url: str) -> str:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        return f"SQLite file {Path(path).resolve()}"
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.command()
@_config_option
@_host_option
@_port_option
@click.option("--threads", type=int, default=8, show_default=True)
def serve(config: str | None, host: str | None, port: int | None, threads: int) -> None:
    """Serve the web endpoints only (waitress). In production: gunicorn 'connector.service:create_app()'."""
    from connector.logs import configure_logging
    from connector.service import create_app
    from connector.service.server import make_server

    settings = _settings(config, host, port)
    configure_logging(settings.log_level, secrets=settings.secret_values())
    with cli_errors():
        app = create_app(settings)
        server = make_server(app, host=settings.host, port=settings.port, threads=threads,
                             read_timeout=settings.http_read_timeout_seconds)
    click.echo(f"serving on http://{settings.host}:{server.effective_port}")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@click.command()
@_config_option
@click.option("--once", is_flag=True, help="Process what is pending, then exit.")
def worker(config: str | None, once: bool) -> None:
    """Process deliveries into clocks and actions, and send write-backs (several may run on PostgreSQL)."""
    from connector.logs import configure_logging
    from connector.runtime import build_runtime

    settings = _settings(config)
    configure_logging(settings.log_level, secrets=settings.secret_values())
    with cli_errors():
        rt = build_runtime(settings)
    inbound, executor = _loops(rt)
    _yield_cpu(settings.worker_niceness)
    if once:
        with cli_errors():
            processed = sent = 0
            while (n := inbound.run_once()):
                processed += n
            while (n := executor.run_once()):
                sent += n
        click.echo(f"processed {processed} deliveries, attempted {sent} write-backs")
        return
    stop = threading.Event()
    _stop_on_signals(stop)
    thread = threading.Thread(target=executor.run_forever, args=(stop,), name="write-back", daemon=True)
    thread.start()
    try:
        inbound.run_forever(stop)
    except SystemExit:
        pass
    finally:
        stop.set()
        thread.join(timeout=10)


@click.command()
@_config_option
@click.option("--interval", type=float, default=60.0, show_default=True, help="Seconds between sweeps.")
@click.option("--once", is_flag=True, help="Sweep once, then exit.")
def scheduler(config: str | None, interval: float, once: bool) -> None:
    """Run the due-soon and breach sweeps (one scheduler per deployment)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from connector.logs import configure_logging
    from connector.runtime import build_runtime
    from connector.runtime.scheduler import Sweeper, schedule

    settings = _settings(config)
    configure_logging(settings.log_level, secrets=settings.secret_values())
    with cli_errors():
        rt = build_runtime(settings)
    sweeper = Sweeper(rt.store, rt.processor)
    if once:
        with cli_errors():
            click.echo(f"checked {sweeper.sweep()} tickets")
        return
    blocking = BlockingScheduler(timezone=UTC)
    schedule(blocking, sweeper, interval_seconds=interval)
    _schedule_reconciliation(blocking, rt)
    try:
        blocking.start()
    except (KeyboardInterrupt, SystemExit):
        pass


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Apply the migrations to CONNECTOR_DATABASE_URL (also done on every start)."""
    from connector.store import Store

    settings = _settings(None)
    with cli_errors():
        store = Store(settings.database_url, timeout=settings.db_timeout_seconds)
        store.upgrade()
    click.echo(f"database at the newest schema: {_where(store.url)}")


@click.group()
def outbox() -> None:
    """Inspect and manage write-back actions (dead letters included)."""


@outbox.command("list")
@click.option("--state", "states", multiple=True,
              type=click.Choice(["pending", "done", "dry_run", "skipped", "dead", "dropped"]),
              help="Only these states (repeatable). Default: all.")
@click.option("--limit", type=int, default=50, show_default=True, help="At most this many actions (1 or more).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="A table for people, or JSON (every field of each action) for scripts.")
def outbox_list(states: tuple[str, ...], limit: int, fmt: str) -> None:
    """List actions, newest first: ticket, state and what each writes (due date, tags, priority, group, note)."""
    if not 1 <= limit <= MAX_ROW_NUMBER:
        raise click.ClickException(f"--limit: {limit} is not a number of actions: give 1 or more")
    with cli_errors():
        rows = open_store().outbox_rows(states=list(states) or None, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([_action_json(r) for r in rows], indent=2))
    elif not rows:
        click.echo("no actions")
    else:
        click.echo(_action_table(rows))


def _action_json(row: Any) -> dict[str, Any]:
    from connector.events import format_instant

    return {"id": row.id, "state": row.state, "attempts": row.attempts,
            "ticket": {"source": row.source, "account": row.account, "id": row.ticket_id},
            "action": row.action, "params": dict(row.params), "cause": row.cause,
            "created_at": format_instant(row.created_at), "next_try_at": format_instant(row.next_try_at),
            "last_error": row.last_error}


def _action_table(rows: list[Any]) -> str:
    """The actions as an aligned table; the last column says what each writes, and why a failing one failed.

    The ticket and what it writes go through `visible`: a help desk's error text (the last error), or any text
    the store holds, prints with its control characters as escapes: it can neither steer the terminal nor
    break a row."""
    from connector.explain import action_words
    from connector.rules.clocks import clock_label

    def what(row: Any) -> str:
        p = row.params
        label = clock_label(p["metric"], p["cycle"]) if p.get("metric") and p.get("cycle") else None
        words = action_words(row.action, p, instant=str, label=label, short=True)
        cause = "" if row.action == "set_due_date" else f" ({row.cause})"
        error = f" · last error: {row.last_error[:120]}" if row.last_error and row.state != "done" else ""
        return visible(words + cause + error)

    header = ("id", "state", "tries", "ticket", "what it writes")
    cells = [(str(r.id), r.state, str(r.attempts), _ticket_cell(r), what(r)) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header[:-1])]
    lines = []
    for line in (header, *cells):
        cells_left = zip(line[:-1], widths, strict=True)
        left = "  ".join(v.rjust(w) if i in (0, 2) else v.ljust(w) for i, (v, w) in enumerate(cells_left))
        lines.append(f"{left}  {line[-1]}")
    return "\n".join(lines)


def _ticket_cell(row: Any) -> str:
    ticket = visible(f"{row.source}/{row.account}/{row.ticket_id}")
    return ticket if len(ticket) <= 40 else ticket[:39] + "…"


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Retry every dead action.")
def outbox_retry(ids: tuple[int, ...], all_dead: bool) -> None:
    """Send dead or dropped actions again."""
    if not ids and not all_dead:
        raise click.UsageError("give action ids or --all-dead")
    _check_ids(ids)
    store = open_store()
    with cli_errors():
        chosen = list(ids) + ([r.id for r in store.outbox_rows(states=["dead"], limit=100000)] if all_dead else [])
        if not chosen:
            click.echo("nothing to retry: no action is dead")
            return
        count = store.outbox_requeue(chosen, now=datetime.now(UTC))
    click.echo(f"requeued {count} action{'s' if count != 1 else ''}")
    if count < len(set(chosen)):
        click.echo("some ids were not dead or dropped, and were left alone", err=True)
        sys.exit(1)


@outbox.command("drop")
@click.argument("ids", nargs=-1, type=int, required=True)
def outbox_drop(ids: tuple[int, ...]) -> None:
    """Give up on pending or dead actions (kept, marked dropped)."""
    _check_ids(ids)
    store = open_store()
    with cli_errors():
        count = store.outbox_drop(ids, now=datetime.now(UTC))
    click.echo(f"dropped {count} action{'s' if count != 1 else ''}")
    if count < len(set(ids)):
        click.echo("some ids were not pending or dead, and were left alone", err=True)
        sys.exit(1)


def _check_ids(ids: tuple[int, ...]) -> None:
    """Refuse, before anything changes, an action id no database can hold (ids count from 1)."""
    outside = [i for i in ids if not 1 <= i <= MAX_ROW_NUMBER]
    if outside:
        raise click.ClickException(f"no action has id {outside[0]}: action ids are 1 to {MAX_ROW_NUMBER} "
                                   "(nothing was changed)")


COMMANDS = (run, serve, worker, scheduler, db, outbox, sign_in)
