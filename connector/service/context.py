"""What the web process holds for its lifetime, built once by `create_app` (never per request)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from adapters.base import InboundAdapter
from connector.config import Config
from connector.runtime.worker import TicketProcessor
from connector.service.metrics import Metrics
from connector.settings import Settings
from connector.store import Store
from connector.store.spool import Spool


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceContext:
    """`app.extensions["connector"]`: attributes, or items (``ctx["store"]``) for code that prefers a dict."""

    settings: Settings
    store: Store
    config: Config
    processor: TicketProcessor
    adapters: Mapping[str, InboundAdapter]
    sources: frozenset[str]            # every source with an endpoint, configured or not
    metrics: Metrics
    clock: Callable[[], datetime]
    max_body_bytes: int
    dedupe_window: timedelta
    spool: Spool | None = None          # where deliveries wait while the database cannot be written

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


def context() -> ServiceContext:
    """Return the current app's service context."""
    ctx: ServiceContext = current_app.extensions["connector"]
    return ctx
