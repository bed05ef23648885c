"""Zendesk's registry entry: signed webhooks in, the REST API for enrichment, write-back and the polls."""

from __future__ import annotations

from adapters.base import api_source, source_section
from adapters.zendesk.client import ZendeskClient
from adapters.zendesk.const import SOURCE
from adapters.zendesk.inbound import ZendeskAdapter
from adapters.zendesk.writeback import ZendeskWriter
from connector.config import Config
from connector.errors import ConfigError
from connector.settings import Settings


def client(settings: Settings, config: Config | None) -> ZendeskClient | None:
    """Return a Zendesk API client when ZENDESK_EMAIL and ZENDESK_API_TOKEN are set, else None."""
    section = source_section(config, SOURCE)
    email, token = settings.env_value("ZENDESK_EMAIL"), settings.env_value("ZENDESK_API_TOKEN")
    subdomain = settings.env_value("ZENDESK_SUBDOMAIN") or section.account
    if not (email and token) or not (subdomain or section.base_url) or not section.enabled:
        return None
    try:
        return ZendeskClient(subdomain, email, token, base_url=section.base_url, timeout=section.timeout_seconds)
    except ValueError as err:
        raise ConfigError(f"sources.{SOURCE} / ZENDESK_*: {err}") from None


def _reconciler() -> type:
    from adapters.zendesk.reconcile import Reconciler  # it needs the runtime, which needs the registry

    return Reconciler


ENTRY = api_source(name=SOURCE, label="Zendesk", client=client, adapter=ZendeskAdapter, writer=ZendeskWriter,
                   secret_variable="ZENDESK_WEBHOOK_SECRET", account_variable="ZENDESK_SUBDOMAIN",
                   reconciler=_reconciler)
