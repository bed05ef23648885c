"""Freshdesk's registry entry: automation webhooks in, API v2 for enrichment, write-back and the polls."""

from __future__ import annotations

from adapters.base import api_source, source_section
from adapters.freshdesk.client import FreshdeskClient
from adapters.freshdesk.const import SOURCE
from adapters.freshdesk.inbound import FreshdeskAdapter
from adapters.freshdesk.writeback import FreshdeskWriter
from connector.config import Config
from connector.errors import ConfigError
from connector.settings import Settings


def client(settings: Settings, config: Config | None) -> FreshdeskClient | None:
    """Return a Freshdesk API client when FRESHDESK_API_KEY and a domain (or base_url) are set, else None."""
    section = source_section(config, SOURCE)
    key, domain = settings.env_value("FRESHDESK_API_KEY"), settings.env_value("FRESHDESK_DOMAIN") or section.account
    if not key or not (domain or section.base_url) or not section.enabled:
        return None
    try:
        return FreshdeskClient(domain, key, base_url=section.base_url, timeout=section.timeout_seconds)
    except ValueError as err:
        raise ConfigError(f"sources.{SOURCE} / FRESHDESK_*: {err}") from None


def _reconciler() -> type:
    from adapters.freshdesk.reconcile import FreshdeskReconciler  # it needs the runtime, which needs the registry

    return FreshdeskReconciler


ENTRY = api_source(name=SOURCE, label="Freshdesk", client=client, adapter=FreshdeskAdapter, writer=FreshdeskWriter,
                   secret_variable="FRESHDESK_WEBHOOK_SECRET", account_variable="FRESHDESK_DOMAIN",
                   account_of=lambda domain: domain.removesuffix(".freshdesk.com"), reconciler=_reconciler)
