"""Which sources exist and how to build their adapters from settings (secrets) and config (where, what).

`build_inbound` gives None for an unknown source and for a known one whose secret is not set: an
endpoint that cannot authenticate its callers is off. `INBOUND_SOURCES` tells the two apart (404 vs 503).
`build_writer` gives a writer for every known source; without credentials it is not `configured` and the
outbox records its actions as dry-run. A malformed secret or URL is a `ConfigError` naming its variable or key.
"""

from __future__ import annotations

from adapters import webhook
from adapters.base import InboundAdapter, Writer
from adapters.webhook.signing import decode_secret
from connector.config import Config
from connector.errors import ConfigError
from connector.settings import Settings

INBOUND_SOURCES = (webhook.SOURCE,)


def _webhook_secrets(settings: Settings) -> list[str]:
    secrets = [s.reveal() for s in settings.webhook_secrets]
    for number, secret in enumerate(secrets, start=1):
        try:
            decode_secret(secret)
        except ValueError as err:
            raise ConfigError(f"CONNECTOR_WEBHOOK_SECRET: secret {number} of {len(secrets)}: {err}") from None
    return secrets


def build_inbound(source: str, settings: Settings) -> InboundAdapter | None:
    """Return the inbound adapter of a source, or None when it is unknown or has no secret."""
    if source == webhook.SOURCE:
        secrets = _webhook_secrets(settings)
        return webhook.WebhookAdapter(secrets) if secrets else None
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
    return None
