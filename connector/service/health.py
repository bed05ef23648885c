"""Probes and metrics: `/healthz` (the process is up), `/readyz` (the store is usable), `/metrics`.

    GET /healthz   200 {"status": "ok"}                       never touches the database
    GET /readyz    200 {"status": "ready"}                    the store answers, its migrations are current and
                                                              every table it uses is there
                   503 {"status": "not_ready", "error": …, "reason": …, "spooled": n}   otherwise, with
                   Retry-After; the reason says which: refused, did not answer in time, circuit open, …
                   (webhooks are still acknowledged into the spool meanwhile: `spooled` counts them)
    GET /metrics   Prometheus text exposition of this app's registry (see `metrics.py`)
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connector.errors import StoreMisconfigured, StoreUnavailable
from connector.service.context import context
from connector.service.errors import retry_after_header

log = logging.getLogger("connector.service.health")

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Answer 200 while the process can serve requests."""
    return jsonify({"status": "ok"})


def _not_ready(code: str, reason: str, err: BaseException | None = None) -> Response:
    body: dict[str, object] = {"status": "not_ready", "error": code, "reason": reason}
    spool = context().spool
    if spool is not None:
        body["spooled"] = spool.depth()
    response = jsonify(body)
    response.status_code = 503
    if err is not None:
        response.headers.update(retry_after_header(err))
    return response


@bp.get("/readyz")
def readyz() -> Response:
    """Answer 200 when the store can be reached and its schema is current, else 503 with the reason."""
    store = context().store
    try:
        store.ping()
    except StoreUnavailable as err:
        log.warning("readyz: database unreachable", extra={"outcome": type(err).__name__, "reason": str(err)})
        return _not_ready("unavailable", f"the database cannot be used: {err}", err)
    except Exception as err:  # any failure to reach the database means "not ready", never a 500
        log.warning("readyz: database unreachable", extra={"outcome": type(err).__name__})
        return _not_ready("unavailable", "the database cannot be reached", err)
    try:
        current = store.migrations_current()
    except Exception as err:
        log.warning("readyz: migrations unknown", extra={"outcome": type(err).__name__})
        return _not_ready("unavailable", "the database schema version cannot be read", err)
    if not current:
        log.warning("readyz: migrations pending", extra={"outcome": "migrations_pending"})
        return _not_ready("migrations_pending", "database migrations are not applied; run the upgrade")
    try:
        store.check_tables()
    except StoreMisconfigured as err:  # a table renamed or dropped by hand: every write would fail
        log.error("readyz: the database lacks a table", extra={"outcome": type(err).__name__, "reason": str(err)})
        return _not_ready("misconfigured", str(err), err)
    except Exception as err:  # noqa: BLE001 - not ready, never a 500
        log.warning("readyz: tables unknown", extra={"outcome": type(err).__name__})
        return _not_ready("unavailable", "the database's tables cannot be read", err)
    return jsonify({"status": "ready"})


@bp.get("/metrics")
def metrics() -> Response:
    """Expose the counters and the store's gauges in the Prometheus text format."""
    return Response(generate_latest(context().metrics.registry), content_type=CONTENT_TYPE_LATEST)
