"""Building a mapped source's adapter from its config section and the secrets its variable holds."""

from __future__ import annotations

from adapters.base import secret_list
from adapters.mapped.inbound import MappedAdapter
from adapters.mapped.writeback import MappedWriter
from connector.config import Config, MappedSourceConfig
from connector.errors import ConfigError
from connector.settings import Settings


def mapped_sections(config: Config | None) -> dict[str, MappedSourceConfig]:
    """The config's mapped sources, by name."""
    if config is None:
        return {}
    return {name: section for name, section in config.sources.items() if isinstance(section, MappedSourceConfig)}


def inbound(name: str, settings: Settings, config: Config | None) -> MappedAdapter | None:
    """The adapter of mapped source `name`, or None while it is disabled or its secret variable is not set."""
    section = mapped_sections(config).get(name)
    if section is None or not section.enabled or section.auth is None:
        return None
    variable = section.auth.secrets_env
    value = settings.env_value(variable)
    if value is None:
        return None
    try:
        return MappedAdapter(name, section, secret_list(value))
    except ValueError as err:
        raise ConfigError(f"{variable} (sources.{name}.auth): {err}") from None


def writer(name: str, settings: Settings, config: Config | None) -> MappedWriter | None:
    """The write-back of mapped source `name` (not `configured` without templates or its secret), or None."""
    section = mapped_sections(config).get(name)
    if section is None:
        return None
    auth = section.writeback.auth if section.writeback is not None else None
    secret = settings.env_value(auth.secrets_env) if auth is not None else None
    try:
        return MappedWriter(name, section, secret if section.enabled else None)
    except ValueError as err:
        raise ConfigError(f"{auth.secrets_env if auth else 'writeback'} (sources.{name}.writeback): {err}") from None
