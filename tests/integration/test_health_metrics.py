"""/healthz, /readyz and /metrics, and what create_app builds by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from connector.errors import ConfigError
from connector.runtime.worker import TicketProcessor
from connector.service import ServiceContext, create_app
from connector.settings import Secret, Settings
from connector.store import Store
from tests import helpers
from tests.integration.support import created_body, make_app, new_webhook_secret, signed

BREACH = [{"name": "breach", "when": {"metric": "resolution", "breached": True},
           "actions": [{"add_tags": ["sla_breached"]}]}]


def samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape /metrics: {(sample name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_healthz_needs_no_database(store: Store, secret: str):
    client = make_app(store, secret=secret).test_client()
    store.engine.dispose()
    store.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 503


def test_readyz_ok_on_a_migrated_store(client: FlaskClient):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_readyz_503_when_migrations_were_not_applied(database_url: str):
    store = Store(database_url)  # a fresh database, never upgraded
    try:
        response = make_app(store).test_client().get("/readyz")
        assert response.status_code == 503
        data = response.get_json()
        assert data["status"] == "not_ready" and data["error"] == "migrations_pending"
        assert "migration" in data["reason"]
    finally:
        store.dispose()


def test_readyz_503_when_the_version_row_is_gone(store: Store):
    client = make_app(store).test_client()
    with store.write() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    assert client.get("/readyz").get_json()["error"] == "migrations_pending"


@pytest.mark.parametrize("table", ["inbox", "outbox", "dead_letters"])
def test_readyz_503_when_a_table_is_gone_though_the_version_says_current(store: Store, table: str):
    """Renamed by hand after the migrations ran: every write to it fails (the door answers 503 at ERROR), so
    a load balancer must not count this instance ready. Renamed back, it is ready again."""
    client = make_app(store).test_client()
    with store.write() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_aside"))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"]
    data = response.get_json()
    assert data["error"] == "misconfigured" and "a table or column the connector needs is missing" in data["reason"]
    with store.write() as conn:
        conn.execute(text(f"ALTER TABLE {table}_aside RENAME TO {table}"))
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_readyz_503_when_the_database_is_unreachable(store: Store):
    client = make_app(store).test_client()
    store.engine.dispose()
    store.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"] == "unavailable"
    scraped = samples(client)  # metrics still answer, and say the store is down
    assert scraped[("connector_store_up", ())] == 0


def test_create_app_builds_and_migrates_its_own_store(database_url: str):
    secret = new_webhook_secret()
    settings = Settings(database_url=database_url, webhook_secrets=(Secret(secret),))
    app = create_app(settings, config=helpers.config())
    ctx = app.extensions["connector"]
    try:
        assert isinstance(ctx, ServiceContext)
        assert ctx["store"] is ctx.store and ctx.store.migrations_current()
        assert isinstance(ctx.processor, TicketProcessor) and ctx.settings is settings
        assert set(ctx.adapters) == {"webhook"}
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
        body = created_body()
        assert client.post("/hooks/webhook", data=body, headers=signed(secret, body)).status_code == 202
    finally:
        ctx.store.dispose()


def test_create_app_without_a_config_is_a_clear_config_error(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", config_path=None)
    with pytest.raises(ConfigError, match="CONNECTOR_CONFIG"):
        create_app(settings)
    with pytest.raises(ConfigError, match="not found"):
        create_app(Settings(database_url=settings.database_url, config_path=str(tmp_path / "missing.yaml")))


def test_create_app_refuses_a_malformed_webhook_secret(store: Store):
    settings = Settings(database_url=store.url, webhook_secrets=(Secret("not-a-whsec-secret"),))
    with pytest.raises(ConfigError, match="CONNECTOR_WEBHOOK_SECRET") as err:
        create_app(settings, store=store, config=helpers.config())
    assert "not-a-whsec-secret" not in str(err.value)


def test_metrics_count_deliveries_and_read_the_store(store: Store, secret: str):
    now = helpers.utc("2026-03-09 12:00")
    client = make_app(store, secret=secret, clock=lambda: now).test_client()
    body = created_body()
    assert client.post("/hooks/webhook", data=body, headers=signed(secret, body, "m1")).status_code == 202
    assert client.post("/hooks/webhook", data=body, headers=signed(secret, body, "m1")).status_code == 200
    assert client.post("/hooks/webhook", data=body, headers={"webhook-id": "m2"}).status_code == 401
    bad = b"[]"
    assert client.post("/hooks/webhook", data=bad, headers=signed(secret, bad)).status_code == 400
    assert client.post("/hooks/elsewhere", data=body).status_code == 404

    # a ticket whose resolution clock breached, with its write-back recorded (dry-run: no writers)
    processor = TicketProcessor(store, helpers.config(escalations=BREACH), writers={}, clock=lambda: now)
    processor.apply_event(helpers.event("2026-03-02 10:00", "ticket.created", created="2026-03-02 10:00"))

    scraped = samples(client)
    webhook = (("source", "webhook"),)
    assert scraped[("connector_events_received_total", webhook)] == 4
    assert scraped[("connector_events_accepted_total", webhook)] == 1
    assert scraped[("connector_events_deduplicated_total", webhook)] == 1
    assert scraped[("connector_events_rejected_total", (("reason", "unauthorized"), ("source", "webhook")))] == 1
    assert scraped[("connector_events_rejected_total", (("reason", "invalid_payload"), ("source", "webhook")))] == 1
    assert scraped[("connector_events_rejected_total", (("reason", "unknown_source"), ("source", "unknown")))] == 1
    assert scraped[("connector_store_up", ())] == 1
    assert scraped[("connector_inbox_depth", webhook)] == 1
    age = scraped[("connector_inbox_oldest_pending_age_seconds", ())]
    assert age == pytest.approx(0.0, abs=1)  # received at the app clock's now
    assert scraped[("connector_inbox_failed", ())] == 0
    assert scraped[("connector_outbox_actions", (("source", "zendesk"), ("state", "dry_run")))] >= 1
    assert scraped[("connector_outbox_oldest_pending_age_seconds", ())] == 0
    assert scraped[("connector_dead_letters", ())] == 0
    assert scraped[("connector_clock_breaches", (("severity", "P3"),))] >= 1


def test_metrics_registries_are_per_app(store: Store, secret: str):
    one, two = make_app(store, secret=secret).test_client(), make_app(store, secret=secret).test_client()
    body = created_body()
    one.post("/hooks/webhook", data=body, headers=signed(secret, body))
    assert samples(one)[("connector_events_received_total", (("source", "webhook"),))] == 1
    assert samples(two)[("connector_events_received_total", (("source", "webhook"),))] == 0


def test_oldest_pending_age_follows_the_clock(store: Store, secret: str):
    received = helpers.utc("2026-03-09 12:00")
    now = {"t": received}
    client = make_app(store, secret=secret, clock=lambda: now["t"]).test_client()
    body = created_body()
    client.post("/hooks/webhook", data=body, headers=signed(secret, body))
    now["t"] = received + timedelta(minutes=5)
    assert samples(client)[("connector_inbox_oldest_pending_age_seconds", ())] == 300


def test_metrics_text_names(client: FlaskClient):
    names = {name for name, _ in samples(client)}
    assert {"connector_events_received_total", "connector_events_deduplicated_total", "connector_inbox_depth",
            "connector_inbox_oldest_pending_age_seconds", "connector_inbox_failed",
            "connector_outbox_oldest_pending_age_seconds", "connector_dead_letters"} <= names



def test_the_web_process_starts_no_background_jobs(tmp_path):
    """create_app and a few requests start no thread and never import the scheduler (R8: sweeps run once)."""
    script = f"""
import sys, threading
from connector.service import create_app
from connector.settings import Settings
from tests import helpers
before = threading.active_count()
app = create_app(Settings(database_url="sqlite:///{tmp_path / 'w.db'}"), config=helpers.config())
client = app.test_client()
assert client.get("/readyz").status_code == 200 and client.get("/metrics").status_code == 200
print(threading.active_count() - before, "apscheduler" in sys.modules)
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(root)}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "False"]
