"""The generic webhook source's registry entry: Standard Webhooks in, signed callbacks out, nothing to poll."""

from __future__ import annotations

from adapters.base import SourceEntry
from adapters.webhook.const import SOURCE
from adapters.webhook.inbound import WebhookAdapter
from adapters.webhook.outbound import WebhookWriter
from adapters.webhook.signing import decode_secret
from connector.config import Config
from connector.errors import ConfigError
from connector.settings import Settings


def secrets(settings: Settings) -> list[str]:
    """CONNECTOR_WEBHOOK_SECRET's secrets, each checked (`ConfigError` naming the variable and which one)."""
    values = [s.reveal() for s in settings.webhook_secrets]
    for number, secret in enumerate(values, start=1):
        try:
            decode_secret(secret)
        except ValueError as err:
            raise ConfigError(f"CONNECTOR_WEBHOOK_SECRET: secret {number} of {len(values)}: {err}") from None
    return values


def inbound(settings: Settings, config: Config | None) -> WebhookAdapter | None:
    values = secrets(settings)
    return WebhookAdapter(values) if values else None


def writer(settings: Settings, config: Config | None, marker_tag: str) -> WebhookWriter:
    values = secrets(settings)
    section = config.sources.get(SOURCE) if config is not None else None
    if section is None or not section.enabled:
        return WebhookWriter(None, values[0] if values else None)
    try:
        return WebhookWriter(section.callback_url, values[0] if values else None, timeout=section.timeout_seconds)
    except ValueError as err:
        raise ConfigError(f"sources.{SOURCE}: {err}") from None


ENTRY = SourceEntry(name=SOURCE, inbound=inbound, writer=writer)
