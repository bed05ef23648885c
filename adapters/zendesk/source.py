"""Zendesk's registry entry: signed webhooks in, the REST API for enrichment, write-back and the polls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.base import SourceEntry, secret_list, source_section
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


def inbound(settings: Settings, config: Config | None) -> ZendeskAdapter | None:
    secrets = secret_list(settings.env_value("ZENDESK_WEBHOOK_SECRET"))
    if not secrets:
        return None
    section = source_section(config, SOURCE)
    account = settings.env_value("ZENDESK_SUBDOMAIN") or section.account
    if not account:
        raise ConfigError("ZENDESK_SUBDOMAIN (or sources.zendesk.account) names the Zendesk account; "
                          "it is needed once ZENDESK_WEBHOOK_SECRET is set")
    return ZendeskAdapter(secrets, account=account, api=client(settings, config),
                          field_names=section.field_names, status_map=section.status_map)


def writer(settings: Settings, config: Config | None, marker_tag: str) -> ZendeskWriter:
    return ZendeskWriter(client(settings, config), source_section(config, SOURCE), marker_tag=marker_tag)


def reconciler(settings: Settings, config: Config | None, store: Any, processor: Any, *, account: str,
               cursor_path: Path | None) -> Any:
    api = client(settings, config)
    if api is None:
        return None
    from adapters.zendesk.reconcile import Reconciler  # it needs the runtime, which needs this registry

    section = source_section(config, SOURCE)
    return Reconciler(store, processor, api, account=account, cursor_path=cursor_path,
                      field_names=section.field_names, status_map=section.status_map)


ENTRY = SourceEntry(name=SOURCE, inbound=inbound, writer=writer, reconciler=reconciler)
