"""Freshdesk's registry entry: automation webhooks in, API v2 for enrichment, write-back and the polls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.base import SourceEntry, secret_list, source_section
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


def inbound(settings: Settings, config: Config | None) -> FreshdeskAdapter | None:
    secrets = secret_list(settings.env_value("FRESHDESK_WEBHOOK_SECRET"))
    if not secrets:
        return None
    section = source_section(config, SOURCE)
    domain = settings.env_value("FRESHDESK_DOMAIN") or section.account
    if not domain:
        raise ConfigError("FRESHDESK_DOMAIN (or sources.freshdesk.account) names the Freshdesk account; "
                          "it is needed once FRESHDESK_WEBHOOK_SECRET is set")
    return FreshdeskAdapter(secrets, account=domain.removesuffix(".freshdesk.com"), api=client(settings, config),
                            field_names=section.field_names, status_map=section.status_map)


def writer(settings: Settings, config: Config | None, marker_tag: str) -> FreshdeskWriter:
    return FreshdeskWriter(client(settings, config), source_section(config, SOURCE), marker_tag=marker_tag)


def reconciler(settings: Settings, config: Config | None, store: Any, processor: Any, *, account: str,
               cursor_path: Path | None) -> Any:
    api = client(settings, config)
    if api is None:
        return None
    from adapters.freshdesk.reconcile import FreshdeskReconciler  # it needs the runtime, which needs the registry

    section = source_section(config, SOURCE)
    return FreshdeskReconciler(store, processor, api, account=account, cursor_path=cursor_path,
                               field_names=section.field_names, status_map=section.status_map)


ENTRY = SourceEntry(name=SOURCE, inbound=inbound, writer=writer, reconciler=reconciler)
