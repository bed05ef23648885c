"""Settings from the environment: secrets wrapped, and only secrets handed to the log scrubber."""

from __future__ import annotations

import pytest

from connector.settings import Secret, Settings


def test_secrets_never_print_and_only_secrets_are_scrubbed():
    settings = Settings.from_env({
        "CONNECTOR_API_TOKEN": "tok-1", "CONNECTOR_WEBHOOK_SECRET": "whsec_a, whsec_b",
        "ZENDESK_SUBDOMAIN": "acme", "ZENDESK_EMAIL": "bot@example.com", "ZENDESK_API_TOKEN": "zd-2",
        "FRESHDESK_API_KEY": "fd-3", "FRESHDESK_WEBHOOK_SECRET": "fd-4", "FRESHDESK_DOMAIN": "acme",
    })
    assert sorted(settings.secret_values()) == ["fd-3", "fd-4", "tok-1", "whsec_a", "whsec_b", "zd-2"]
    assert "tok-1" not in repr(settings) and "zd-2" not in repr(settings) and "whsec_a" not in repr(settings)
    assert str(Secret("x")) == repr(Secret("x")) == "Secret('***')"


def test_defaults_and_overrides():
    settings = Settings.from_env({}, port=9000)
    assert settings.database_url == "sqlite:///connector.db" and settings.port == 9000
    assert settings.api_token is None and settings.webhook_secrets == ()
    assert Settings.from_env({"CONNECTOR_CLAIM_LEASE_SECONDS": "2"}).claim_lease_seconds == 2.0


def test_the_worker_niceness_is_a_whole_number_from_0_to_19():
    from connector.errors import ConfigError

    assert Settings.from_env({}).worker_niceness == 10
    assert Settings.from_env({"CONNECTOR_WORKER_NICENESS": "0"}).worker_niceness == 0
    assert Settings.from_env({"CONNECTOR_WORKER_NICENESS": " 19 "}).worker_niceness == 19
    for bad in ("20", "-1", "5.5", "ten", "9" * 400):
        with pytest.raises(ConfigError, match="CONNECTOR_WORKER_NICENESS: expected a whole number from 0 to 19"):
            Settings.from_env({"CONNECTOR_WORKER_NICENESS": bad})


def test_the_worker_yield_is_a_number_from_0_to_20():
    from connector.errors import ConfigError

    assert Settings.from_env({}).worker_yield == 3.0
    assert Settings.from_env({"CONNECTOR_WORKER_YIELD": "0"}).worker_yield == 0.0
    assert Settings.from_env({"CONNECTOR_WORKER_YIELD": " 1.5 "}).worker_yield == 1.5
    for bad in ("21", "-1", "nan", "inf", "three", "9" * 400):
        with pytest.raises(ConfigError, match="CONNECTOR_WORKER_YIELD: expected a number from 0 to 20"):
            Settings.from_env({"CONNECTOR_WORKER_YIELD": bad})


def test_connector_worker_lowers_its_own_cpu_priority(monkeypatch):
    import os

    from connector.cli import service

    asked: list[int] = []
    monkeypatch.setattr(os, "nice", asked.append)
    service._yield_cpu(10)
    service._yield_cpu(0)  # 0 leaves the priority as it is
    assert asked == [10]


def test_the_log_level_is_one_of_four_names():
    from connector.errors import ConfigError

    assert Settings.from_env({}).log_level == "INFO"
    assert Settings.from_env({"CONNECTOR_LOG_LEVEL": " debug "}).log_level == "DEBUG"
    for bad in ("verbose", "10", "TRACE"):
        with pytest.raises(ConfigError, match="CONNECTOR_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR"):
            Settings.from_env({"CONNECTOR_LOG_LEVEL": bad})
