"""The registry builds each source's adapters from settings (secrets) and config (callback URL)."""

from __future__ import annotations

import base64

import pytest
import responses

from adapters.base import WriteAction
from adapters.registry import INBOUND_SOURCES, build_inbound, build_writer
from adapters.webhook import WebhookAdapter, WebhookWriter, verify
from connector.errors import ConfigError
from connector.settings import Settings
from tests.helpers import config

NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
URL = "https://hooks.example.com/sla"


def settings(secret: str | None) -> Settings:
    return Settings.from_env({"CONNECTOR_WEBHOOK_SECRET": secret} if secret is not None else {})


def test_inbound_sources():
    assert INBOUND_SOURCES == ("webhook", "zendesk", "freshdesk")


def test_build_inbound_with_rotated_secrets():
    adapter = build_inbound("webhook", settings(f"{NEW}, {OLD}"))
    assert isinstance(adapter, WebhookAdapter) and adapter.source == "webhook"


def test_build_inbound_without_a_secret_or_for_an_unknown_source_is_none():
    assert build_inbound("webhook", settings(None)) is None
    assert build_inbound("webhook", settings(" , ")) is None
    assert build_inbound("jira", settings(NEW)) is None


def test_a_malformed_secret_is_a_config_error_naming_the_variable_not_the_value():
    with pytest.raises(ConfigError) as info:
        build_inbound("webhook", settings(f"{NEW},whsec_c2hvcnQ="))
    assert info.value.problems[0].startswith("CONNECTOR_WEBHOOK_SECRET: secret 2 of 2:")
    assert "c2hvcnQ" not in str(info.value) and NEW not in str(info.value)
    with pytest.raises(ConfigError):
        build_writer("webhook", settings("plain-text"), None)


def test_build_writer_uses_the_callback_url_and_the_first_secret():
    cfg = config(sources={"webhook": {"callback_url": URL, "timeout_seconds": "5s"}})
    writer = build_writer("webhook", settings(f"{NEW},{OLD}"), cfg)
    assert isinstance(writer, WebhookWriter) and writer.configured
    action = WriteAction(key="k", action="add_tags", source="webhook", account="a", ticket_id="1", params={})
    with responses.RequestsMock() as mocked:
        mocked.post(URL, status=200)
        assert writer.write(action).outcome == "sent"
        request = mocked.calls[0].request
    assert request.req_kwargs["timeout"] == (3.05, 5)
    headers = {k.lower(): v for k, v in request.headers.items()}
    verify([NEW], headers, request.body, now=int(headers["webhook-timestamp"]))


def test_build_writer_is_not_configured_without_url_secret_or_an_enabled_section():
    with_url = config(sources={"webhook": {"callback_url": URL}})
    disabled = config(sources={"webhook": {"callback_url": URL, "enabled": False}})
    cases = [(settings(NEW), config()), (settings(NEW), None), (settings(None), with_url), (settings(NEW), disabled)]
    for env, cfg in cases:
        writer = build_writer("webhook", env, cfg)
        assert writer is not None and not writer.configured


def test_a_bad_callback_url_is_a_config_error():
    with pytest.raises(ConfigError, match="sources.webhook: .*http"):
        build_writer("webhook", settings(NEW), config(sources={"webhook": {"callback_url": "hooks.example.com"}}))


def test_build_writer_for_an_unknown_source_is_none():
    assert build_writer("jira", settings(NEW), config()) is None


ZENDESK_ENV = {"ZENDESK_WEBHOOK_SECRET": "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==", "ZENDESK_SUBDOMAIN": "acme"}


def test_zendesk_inbound_needs_a_secret_and_an_account():
    assert build_inbound("zendesk", Settings.from_env({})) is None
    with pytest.raises(ConfigError, match="ZENDESK_SUBDOMAIN"):
        build_inbound("zendesk", Settings.from_env({"ZENDESK_WEBHOOK_SECRET": "s"}))
    adapter = build_inbound("zendesk", Settings.from_env(ZENDESK_ENV), config())
    assert adapter is not None and adapter.source == "zendesk"


def test_zendesk_writer_is_configured_only_with_credentials():
    cfg = config(sources={"zendesk": {"base_url": "http://127.0.0.1:9"}})
    assert not build_writer("zendesk", Settings.from_env(ZENDESK_ENV), cfg).configured
    env = {**ZENDESK_ENV, "ZENDESK_EMAIL": "bot@example.com", "ZENDESK_API_TOKEN": "tok"}
    writer = build_writer("zendesk", Settings.from_env(env), cfg)
    assert writer is not None and writer.configured


def test_freshdesk_inbound_and_writer():
    assert build_inbound("freshdesk", Settings.from_env({})) is None
    with pytest.raises(ConfigError, match="FRESHDESK_DOMAIN"):
        build_inbound("freshdesk", Settings.from_env({"FRESHDESK_WEBHOOK_SECRET": "s"}))
    env = {"FRESHDESK_WEBHOOK_SECRET": "s1,s2", "FRESHDESK_DOMAIN": "acme.freshdesk.com"}
    adapter = build_inbound("freshdesk", Settings.from_env(env), config())
    assert adapter is not None and adapter.source == "freshdesk"
    assert not build_writer("freshdesk", Settings.from_env(env), config()).configured
    writer = build_writer("freshdesk", Settings.from_env({**env, "FRESHDESK_API_KEY": "k"}), config())
    assert writer is not None and writer.configured
