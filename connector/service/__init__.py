"""The web process: a Flask app factory with webhook ingress, probes, metrics and the ticket API.

    POST /hooks/<source>                       persist a delivery, then 202 (200 if a duplicate)   hooks.py
    GET  /healthz, /readyz, /metrics           liveness, readiness, Prometheus                     health.py
    GET  /tickets/<source>/<id>[/explain]      one ticket's clocks / story, bearer token           tickets.py
    GET  /tickets/<source>[/explain]?id=…      the same for any id (one ending in /explain, ., ..)  tickets.py
    GET  /reports/<name>?format=html|json|csv  sla, credits, kpis, audit over the store, bearer token reports.py
    GET  /login?code=…, POST /login            a sign-in link or the token → a browser session cookie  session.py

Every error is JSON ``{"error": code, "reason": text}`` (errors.py). Everything a request needs — config,
adapters, the store's engine, the metrics registry — is built once here; requests only read it. The web
process never starts background jobs: the worker and the scheduler are their own processes.

Run it under any WSGI server, e.g. ``gunicorn 'connector.service:create_app()'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import TracebackType

from flask import Flask

from adapters.base import InboundAdapter
from adapters.registry import build_inbound, inbound_sources
from connector.config import Config, load_config
from connector.errors import ConfigError
from connector.logs import register_secret
from connector.runtime.worker import TicketProcessor, utc_now
from connector.service import board, errors, health, hooks, reports, session, simulate, tickets
from connector.service.context import ServiceContext
from connector.service.metrics import Metrics
from connector.settings import Settings
from connector.store import Store
from connector.store.spool import for_database

__all__ = ["ServiceContext", "create_app"]


def _register_secrets(settings: Settings) -> None:
    for secret in settings.secret_values():
        register_secret(secret)


def _load_config(settings: Settings) -> Config:
    if not settings.config_path:
        raise ConfigError("no config file: set CONNECTOR_CONFIG to the path of the YAML config")
    return load_config(settings.config_path)


def _build_adapters(settings: Settings, config: Config) -> dict[str, InboundAdapter]:
    adapters = {}
    for source in inbound_sources(config):
        adapter = build_inbound(source, settings, config)  # a malformed secret raises ConfigError: fail at start
        if adapter is not None:
            adapters[source] = adapter
    return adapters


class ConnectorFlask(Flask):
    """Flask, except that an unhandled exception is logged by type and frames only (errors.py), not by
    Flask's default `log_exception`, which would write the exception's message (it may quote a secret)."""

    def log_exception(self, exc_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None]) -> None:
        """Log nothing here: the 500 handler logs the type and frames."""


def create_app(settings: Settings | None = None, *, store: Store | None = None, config: Config | None = None,
               adapters: Mapping[str, InboundAdapter] | None = None,
               clock: Callable[[], datetime] | None = None) -> Flask:
    """Build the web app; a store built here is migrated to the newest schema first."""
    settings = settings or Settings.from_env()
    _register_secrets(settings)
    if config is None:
        config = _load_config(settings)
    if adapters is None:
        adapters = _build_adapters(settings, config)
    if store is None:
        store = Store(settings.database_url, timeout=settings.db_timeout_seconds)
        store.upgrade()
    clock = clock or utc_now
    sources = frozenset(inbound_sources(config)) | frozenset(adapters)
    spool = for_database(settings.spool_dir, store.url) if settings.spool_dir else None

    app = ConnectorFlask(__name__)
    # one byte over the limit: Werkzeug still refuses bigger Content-Lengths, and the view can tell "over"
    # from "exactly the limit" on chunked bodies (Werkzeug truncates those silently at its own limit)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the replay JSON's key order
    app.extensions["connector"] = ServiceContext(
        settings=settings, store=store, config=config,
        processor=TicketProcessor(store, config, writers={}, clock=clock),
        adapters=dict(adapters), sources=sources, metrics=Metrics(store, clock, sources, spool=spool, config=config),
        clock=clock,
        max_body_bytes=settings.max_body_bytes, dedupe_window=timedelta(seconds=settings.dedupe_window_seconds),
        spool=spool,
    )
    errors.register(app)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(tickets.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(simulate.bp)
    app.register_blueprint(session.bp)
    return app
