"""`connector zendesk install` against the fake Zendesk: created once, updated in place, secret stored safely."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from adapters.zendesk import install as zinstall
from adapters.zendesk.client import ZendeskClient
from connector.cli import main
from tests.fakes.zendesk import fake_zendesk_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]


def client(fake) -> ZendeskClient:
    return ZendeskClient(None, fake.email, fake.token, base_url=fake.base_url)


def test_plan_has_one_webhook_and_three_triggers_with_the_recommended_body():
    plan = zinstall.plan("https://sla.example.com/")
    assert plan.webhook["endpoint"] == "https://sla.example.com/hooks/zendesk"
    assert plan.webhook["subscriptions"] == ["conditional_ticket_events"]
    kinds = [json.loads(t["actions"][0]["value"][1])["kind"] for t in plan.triggers]
    assert kinds == ["ticket.created", "ticket.updated", "comment.added"]
    body = json.loads(plan.triggers[0]["actions"][0]["value"][1])
    assert body["ticket_id"] == "{{ticket.id}}" and "{{" in body["event_id"]


def test_apply_is_idempotent(fake_zendesk):
    plan = zinstall.plan("https://sla.example.com")
    first = zinstall.apply(client(fake_zendesk), plan)
    second = zinstall.apply(client(fake_zendesk), plan)
    assert first.webhook_id == second.webhook_id and first.trigger_ids == second.trigger_ids
    assert len(fake_zendesk.webhooks) == 1 and len(fake_zendesk.triggers) == 3
    for trigger in fake_zendesk.triggers.values():
        assert trigger["actions"][0]["value"][0] == first.webhook_id
    assert first.signing_secret


def test_cli_install_stores_the_secret_in_a_private_file(fake_zendesk, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(f"""
version: 1
severities: [P1]
classification: {{default: P1}}
sources: {{zendesk: {{base_url: "{fake_zendesk.base_url}"}}}}
""")
    env = {"ZENDESK_EMAIL": fake_zendesk.email, "ZENDESK_API_TOKEN": fake_zendesk.token,
           "CONNECTOR_CONFIG": str(config)}
    result = CliRunner().invoke(main, ["zendesk", "install", "--url", "https://sla.example.com"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("trigger ") == 3
    secret_file = tmp_path / ".connector" / "zendesk-webhook-secret"
    secret = secret_file.read_text().strip()
    assert secret and secret not in result.output
    assert secret_file.stat().st_mode & 0o077 == 0


def test_cli_install_without_credentials_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("ZENDESK_EMAIL", "ZENDESK_API_TOKEN", "ZENDESK_SUBDOMAIN"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["zendesk", "install", "--url", "https://sla.example.com"],
                                env={"CONNECTOR_CONFIG": str(ROOT / "config" / "example.yaml")})
    assert result.exit_code == 1 and "ZENDESK_EMAIL" in result.output
    assert CliRunner().invoke(main, ["zendesk", "install", "--url", "ftp://x", "--dry-run"]).exit_code == 1
