"""Wire the connector's parts together from the settings: store, config, adapters, writers, processor."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass

from adapters import registry
from adapters.base import InboundAdapter, Writer
from connector.config import Config, load_config
from connector.errors import ConfigError
from connector.runtime.worker import TicketProcessor
from connector.settings import Settings
from connector.store import Store


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    settings: Settings
    config: Config
    store: Store
    adapters: Mapping[str, InboundAdapter]
    writers: Mapping[str, Writer | None]
    processor: TicketProcessor


def load_settings_config(settings: Settings) -> Config:
    if not settings.config_path:
        raise ConfigError("no config: set CONNECTOR_CONFIG or pass --config")
    return load_config(settings.config_path)


def build_runtime(settings: Settings, *, upgrade: bool = True) -> Runtime:
    """Build every part; apply the migrations first unless told not to."""
    config = load_settings_config(settings)
    store = Store(settings.database_url, timeout=settings.db_timeout_seconds)
    if upgrade:
        store.upgrade()
    sources = sorted(set(registry.inbound_sources(config)) | set(config.sources))
    adapters = {s: a for s in sources if (a := registry.build_inbound(s, settings, config)) is not None}
    writers = {s: registry.build_writer(s, settings, config) for s in sources}
    processor = TicketProcessor(store, config, writers)
    return Runtime(settings=settings, config=config, store=store, adapters=adapters, writers=writers,
                   processor=processor)


def settle_heap() -> None:
    """Take what start-up built out of the cyclic garbage collector's view, once the process is ready to work.

    A worker's start-up leaves a large heap that lives as long as the process: modules, the config, the
    holiday calendars, SQLAlchemy's tables and compiled statements. The collector's full passes walked all
    of it again and again while a burst drained (a fifth of the batched worker's time in bench_worker).
    `gc.freeze()` moves every object alive now to a permanent generation that collections skip; objects
    made later are collected as before (see docs/decisions.md, "the worker's heap")."""
    gc.collect()
    gc.freeze()
