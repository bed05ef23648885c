"""Which sources exist and how to build their adapters from settings (secrets) and config (where, what).

`build_inbound` gives None for an unknown source and for a known one whose secret is not set: an
endpoint that cannot authenticate its callers is off. `INBOUND_SOURCES` tells the two apart (404 vs 503).
`build_writer` gives a writer for every known source; without credentials it is not `configured` and the
outbox records its actions as dry-run. A malformed secret or URL is a `ConfigError` naming its variable or key.
"""

from __future__ import annotations

from adapters import webhook
from adapters.base import InboundAdapter, Writer
from adapters.freshdesk.client import FreshdeskClient
from adapters.freshdesk.const import SOURCE as FRESHDESK
from adapters.freshdesk.inbound import FreshdeskAdapter
from adapters.freshdesk.writeback import FreshdeskWriter
from adapters.webhook.signing import decode_secret
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.const import SOURCE as ZENDESK
from adapters.zendesk.inbound import ZendeskAdapter
from adapters.zendesk.writeback import ZendeskWriter
from connector.config import Config, SourceConfig
from connector.errors import ConfigError
from connector.settings import Settings

INBOUND_SOURCES = (webhook.SOURCE, ZENDESK, FRESHDESK)


def _webhook_secrets(settings: Settings) -> list[str]:
    secrets = [s.reveal() for s in settings.webhook_secrets]
    for number, secret in enumerate(secrets, start=1):
        try:
            decode_secret(secret)
        except ValueError as err:
            raise ConfigError(f"CONNECTOR_WEBHOOK_SECRET: secret {number} of {len(secrets)}: {err}") from None
    return secrets


def source_section(config: Config | None, source: str) -> SourceConfig:
    """Return a source's config section, or the defaults when the config has none."""
    section = config.sources.get(source) if config is not None else None
    return section if section is not None else SourceConfig()


def zendesk_client(settings: Settings, config: Config | None) -> ZendeskClient | None:
    """Return a Zendesk API client when ZENDESK_EMAIL and ZENDESK_API_TOKEN are set, else None."""
    section = source_section(config, ZENDESK)
    email, token = settings.env_value("ZENDESK_EMAIL"), settings.env_value("ZENDESK_API_TOKEN")
    subdomain = settings.env_value("ZENDESK_SUBDOMAIN") or section.account
    if not (email and token) or not (subdomain or section.base_url) or not section.enabled:
        return None
    try:
        return ZendeskClient(subdomain, email, token, base_url=section.base_url, timeout=section.timeout_seconds)
    except ValueError as err:
        raise ConfigError(f"sources.{ZENDESK} / ZENDESK_*: {err}") from None


def freshdesk_client(settings: Settings, config: Config | None) -> FreshdeskClient | None:
    """Return a Freshdesk API client when FRESHDESK_API_KEY and a domain (or base_url) are set, else None."""
    section = source_section(config, FRESHDESK)
    key, domain = settings.env_value("FRESHDESK_API_KEY"), settings.env_value("FRESHDESK_DOMAIN") or section.account
    if not key or not (domain or section.base_url) or not section.enabled:
        return None
    try:
        return FreshdeskClient(domain, key, base_url=section.base_url, timeout=section.timeout_seconds)
    except ValueError as err:
        raise ConfigError(f"sources.{FRESHDESK} / FRESHDESK_*: {err}") from None


def build_inbound(source: str, settings: Settings, config: Config | None = None) -> InboundAdapter | None:
    """Return the inbound adapter of a source, or None when it is unknown or has no secret."""
    if source == webhook.SOURCE:
        secrets = _webhook_secrets(settings)
        return webhook.WebhookAdapter(secrets) if secrets else None
    if source == ZENDESK:
        secrets = [s.strip() for s in (settings.env_value("ZENDESK_WEBHOOK_SECRET") or "").split(",") if s.strip()]
        if not secrets:
            return None
        section = source_section(config, ZENDESK)
        account = settings.env_value("ZENDESK_SUBDOMAIN") or section.account
        if not account:
            raise ConfigError("ZENDESK_SUBDOMAIN (or sources.zendesk.account) names the Zendesk account; "
                              "it is needed once ZENDESK_WEBHOOK_SECRET is set")
        return ZendeskAdapter(secrets, account=account, api=zendesk_client(settings, config),
                              field_names=section.field_names, status_map=section.status_map)
    if source == FRESHDESK:
        secrets = [s.strip() for s in (settings.env_value("FRESHDESK_WEBHOOK_SECRET") or "").split(",") if s.strip()]
        if not secrets:
            return None
        section = source_section(config, FRESHDESK)
        domain = settings.env_value("FRESHDESK_DOMAIN") or section.account
        if not domain:
            raise ConfigError("FRESHDESK_DOMAIN (or sources.freshdesk.account) names the Freshdesk account; "
                              "it is needed once FRESHDESK_WEBHOOK_SECRET is set")
        account = domain.removesuffix(".freshdesk.com")
        return FreshdeskAdapter(secrets, account=account, api=freshdesk_client(settings, config),
                                field_names=section.field_names, status_map=section.status_map)
    return None


def build_writer(source: str, settings: Settings, config: Config | None) -> Writer | None:
    """Return the write-back of a source (possibly not `configured`), or None when the source is unknown."""
    if source == webhook.SOURCE:
        secrets = _webhook_secrets(settings)
        section = config.sources.get(webhook.SOURCE) if config is not None else None
        if section is None or not section.enabled:
            return webhook.WebhookWriter(None, secrets[0] if secrets else None)
        try:
            return webhook.WebhookWriter(section.callback_url, secrets[0] if secrets else None,
                                         timeout=section.timeout_seconds)
        except ValueError as err:
            raise ConfigError(f"sources.{webhook.SOURCE}: {err}") from None
    marker = config.writeback.marker_tag if config is not None else "sla_connector"
    if source == ZENDESK:
        return ZendeskWriter(zendesk_client(settings, config), source_section(config, ZENDESK), marker_tag=marker)
    if source == FRESHDESK:
        return FreshdeskWriter(freshdesk_client(settings, config), source_section(config, FRESHDESK), marker_tag=marker)
    return None
