"""Probes and metrics: `/healthz` (the process is up), `/readyz` (the store is usable), `/metrics`.

    GET /healthz   200 {"status": "ok"}                       never touches the database
    GET /readyz    200 {"status": "ready"}                    the store answers and its migrations are current
                   503 {"status": "not_ready", "error": …, "reason": …}   otherwise (take it out of rotation)
    GET /metrics   Prometheus text exposition of this app's registry (see `metrics.py`)
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connector.service.context import context

log = logging.getLogger("connector.service.health")

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 while the process can serve requests."""
    return jsonify({"status": "ok"})


def _not_ready(code: str, reason: str) -> tuple[Response, int]:
    return jsonify({"status": "not_ready", "error": code, "reason": reason}), 503


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int]:
    """Answer 200 when the store can be reached and its schema is current, else 503 with the reason."""
    store = context().store
    try:
        store.ping()
    except Exception as err:  # any failure to reach the database means "not ready", never a 500
        log.warning("readyz: database unreachable", extra={"outcome": type(err).__name__})
        return _not_ready("unavailable", "the database cannot be reached")
    try:
        current = store.migrations_current()
    except Exception as err:
        log.warning("readyz: migrations unknown", extra={"outcome": type(err).__name__})
        return _not_ready("unavailable", "the database schema version cannot be read")
    if not current:
        return _not_ready("migrations_pending", "database migrations are not applied; run the upgrade")
    return jsonify({"status": "ready"})


@bp.get("/metrics")
def metrics() -> Response:
    """Expose the counters and the store's gauges in the Prometheus text format."""
    return Response(generate_latest(context().metrics.registry), content_type=CONTENT_TYPE_LATEST)
