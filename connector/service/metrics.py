"""Prometheus metrics of one app: ingress counters, and queue gauges read from the store at scrape time.

Counters (per app registry, so two apps in one process — tests — never share numbers):

    connector_events_received_total{source}            deliveries that reached a known source's endpoint
    connector_events_accepted_total{source}            ... stored as new (202)
    connector_events_deduplicated_total{source}        ... answered as duplicates (200), stored once
    connector_events_spooled_total{source}             ... accepted into the disk spool (the database was down)
    connector_events_rejected_total{source,reason}     ... refused; reason is the error code
                                                       (unauthorized, invalid_payload, too_large,
                                                       not_configured, unavailable, unknown_source)

Gauges, from `Store.stats(now=…)` at each scrape: inbox depth and oldest pending age, failed deliveries,
outbox actions by source and state (write-backs by outcome), oldest pending action, dead letters, breached
clocks by severity, and `connector_store_up` (0 when the store cannot be read; the other gauges are then
left out rather than reported as zero); `connector_spool_depth` from the spool directory; from the board's
table, what breaches next (`connector.reports.board`):

    connector_clocks_due_within_seconds{window,severity,group}   running, not yet breached, due within
                                                                 window = 3600, 14400 or 86400 business seconds
    connector_clocks_breached_running{severity,group}           running past their due instant
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connector.config import Config
from connector.reports.board import board_counts
from connector.store import Store
from connector.store.spool import Spool

log = logging.getLogger("connector.service")

UNKNOWN_SOURCE = "unknown"  # label for requests to a source that does not exist (bounded cardinality)


class StoreCollector(Collector):
    """Collect the store's queue gauges when Prometheus scrapes."""

    def __init__(self, store: Store, clock: Callable[[], datetime], sources: Iterable[str]) -> None:
        self.store = store
        self.clock = clock
        self.sources = tuple(sources)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("connector_store_up", "1 when the store answered the metrics query, else 0")
        try:
            stats = self.store.stats(now=self.clock())
        except Exception as err:  # a scrape must not fail because the database is down
            log.warning("metrics: store unavailable", extra={"outcome": type(err).__name__})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        depth = GaugeMetricFamily("connector_inbox_depth", "Deliveries waiting for the worker", labels=["source"])
        counts = {s: 0 for s in self.sources} | dict(stats["inbox_depth"])
        for source, count in sorted(counts.items()):
            depth.add_metric([source], count)
        yield depth
        yield GaugeMetricFamily("connector_inbox_oldest_pending_age_seconds",
                                "Age of the oldest delivery waiting for the worker (0 when none)",
                                value=stats["inbox_oldest_age_seconds"])
        yield GaugeMetricFamily("connector_inbox_failed", "Deliveries the worker gave up on (kept, with the error)",
                                value=stats["inbox_failed"])
        actions = GaugeMetricFamily("connector_outbox_actions", "Write-back actions by source and state",
                                    labels=["source", "state"])
        for (source, state), count in sorted(stats["outbox"].items()):
            actions.add_metric([source, state], count)
        yield actions
        yield GaugeMetricFamily("connector_outbox_oldest_pending_age_seconds",
                                "Age of the oldest write-back still pending (0 when none)",
                                value=stats["outbox_oldest_age_seconds"])
        yield GaugeMetricFamily("connector_dead_letters", "Write-back actions that gave up",
                                value=stats["dead_letters"])
        breaches = GaugeMetricFamily("connector_clock_breaches", "Breached SLA clocks by severity",
                                     labels=["severity"])
        for severity, count in sorted(stats["breaches"].items()):
            breaches.add_metric([severity], count)
        yield breaches


class BoardCollector(Collector):
    """What breaches next, for alerting: running clocks due within 1/4/24 business hours and those running
    past their due instant, by severity and group (the board's counts, `connector.reports.board`)."""

    def __init__(self, store: Store, config: Config, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.config = config
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        try:
            counts = board_counts(self.store, self.config, self.clock())
        except Exception as err:  # a scrape must not fail because the database is down (store_up says so)
            log.warning("metrics: board unavailable", extra={"outcome": type(err).__name__})
            return
        due = GaugeMetricFamily("connector_clocks_due_within_seconds",
                                "Running clocks (customer and internal) not yet breached and due within `window` "
                                "business seconds on their calendar", labels=["window", "severity", "group"])
        late = GaugeMetricFamily("connector_clocks_breached_running",
                                 "Running clocks past their due instant", labels=["severity", "group"])
        for (severity, group), numbers in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            for window in ("3600", "14400", "86400"):
                due.add_metric([window, severity, group or ""], numbers[window])
            late.add_metric([severity, group or ""], numbers["breached"])
        yield due
        yield late


class SpoolCollector(Collector):
    """The spool's depth: deliveries acknowledged while the database could not be written, not yet in the inbox."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("connector_spool_depth", "Deliveries waiting in the disk spool for the database",
                                value=self.spool.depth())


class Metrics:
    """One app's registry and its ingress counters."""

    def __init__(self, store: Store, clock: Callable[[], datetime], sources: Iterable[str], *,
                 spool: Spool | None = None, config: Config | None = None) -> None:
        sources = sorted(sources)
        self.registry = CollectorRegistry()
        self.received = Counter("connector_events_received", "Webhook deliveries received, every outcome",
                                ["source"], registry=self.registry)
        self.accepted = Counter("connector_events_accepted", "Webhook deliveries stored as new (202)",
                                ["source"], registry=self.registry)
        self.deduplicated = Counter("connector_events_deduplicated", "Webhook deliveries answered as duplicates",
                                    ["source"], registry=self.registry)
        self.rejected = Counter("connector_events_rejected", "Webhook deliveries refused, by reason",
                                ["source", "reason"], registry=self.registry)
        self.spooled = Counter("connector_events_spooled", "Webhook deliveries accepted into the disk spool "
                               "because the database could not be written", ["source"], registry=self.registry)
        for source in sources:  # known sources show 0 before their first delivery
            self.received.labels(source)
            self.accepted.labels(source)
            self.deduplicated.labels(source)
        self.registry.register(StoreCollector(store, clock, sources))
        if spool is not None:
            self.registry.register(SpoolCollector(spool))
        if config is not None:
            self.registry.register(BoardCollector(store, config, clock))
