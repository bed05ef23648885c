"""Which sources exist and how to build their adapters from settings (secrets) and config (where, what).

`build_inbound` gives None for an unknown source and for a known one whose secret is not set: an
endpoint that cannot authenticate its callers is off. `INBOUND_SOURCES` tells the two apart (404 vs 503).
`build_writer` gives a writer for every known source; without credentials it is not `configured` and the
outbox records its actions as dry-run. A malformed secret or URL is a `ConfigError` naming its variable or key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.base import InboundAdapter, SourceEntry, Writer, source_section
from adapters.freshdesk import source as freshdesk
from adapters.mapped import source as mapped
from adapters.webhook import source as webhook
from adapters.zendesk import source as zendesk
from connector.config import Config
from connector.settings import Settings

# one entry per help desk: adding one is a package under adapters/ and a line here
SOURCES: dict[str, SourceEntry] = {entry.name: entry for entry in (webhook.ENTRY, zendesk.ENTRY, freshdesk.ENTRY)}
INBOUND_SOURCES = tuple(SOURCES)

zendesk_client = zendesk.client
freshdesk_client = freshdesk.client


def inbound_sources(config: Config | None) -> tuple[str, ...]:
    """Every source with a webhook endpoint: the built-in ones, then the config's mapped sources."""
    return (*INBOUND_SOURCES, *sorted(mapped.mapped_sections(config)))


def build_inbound(source: str, settings: Settings, config: Config | None = None) -> InboundAdapter | None:
    """Return the inbound adapter of a source, or None when it is unknown or has no secret."""
    entry = SOURCES.get(source)
    if entry is None:
        return mapped.inbound(source, settings, config)
    return entry.inbound(settings, config)


def build_writer(source: str, settings: Settings, config: Config | None) -> Writer | None:
    """Return the write-back of a source (possibly not `configured`), or None when the source is unknown."""
    entry = SOURCES.get(source)
    if entry is None:
        return mapped.writer(source, settings, config)
    marker = config.writeback.marker_tag if config is not None else "sla_connector"
    writer: Writer = entry.writer(settings, config, marker)
    return writer


def build_reconciler(source: str, settings: Settings, config: Config | None, store: Any, processor: Any, *,
                     account: str, cursor_path: Path | None = None) -> Any:
    """Return a source's reconciliation poll, or None when it cannot be polled (no API credentials)."""
    entry = SOURCES.get(source)
    if entry is None or entry.reconciler is None:
        return None
    return entry.reconciler(settings, config, store, processor, account=account, cursor_path=cursor_path)


__all__ = ["INBOUND_SOURCES", "SOURCES", "build_inbound", "build_reconciler", "build_writer", "freshdesk_client",
           "inbound_sources", "source_section", "zendesk_client"]
