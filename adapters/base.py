"""What every adapter provides: inbound verification and normalization, outbound write-back.

An adapter turns one help desk's payloads into canonical events and canonical write-back actions into that
tool's API calls. It knows nothing of SLA rules. The web process calls `verify` and `accept` (fast, no
network: persist before acknowledge); the worker calls `normalize` (which may enrich through the tool's
API); the outbox executor calls `write`.

Errors (see `connector.errors`): inbound `AuthError` (401), `PayloadError` (400/422); outbound
`Transient` (retry, `.retry_after`), `Conflict` (re-fetch and recompute), `Permanent` (dead-letter).
Vendor exceptions are translated here, `raise … from err`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from connector.config import Config, SourceConfig
from connector.errors import ConfigError, PayloadError
from connector.events import Event, format_instant, short_text
from connector.rules.clocks import duration_text

_EMPTY: Mapping[str, Any] = MappingProxyType({})

# how far after its delivery's receipt an event may say it happened: a sender's clock a little fast is
# accepted, a wrong one (a 2099 instant) would run the ticket's clocks in a future nobody will see
AHEAD_TOLERANCE = timedelta(minutes=5)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header by lower-case name, matching the mapping's names case-insensitively."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, found in headers.items():
        if key.lower() == name:
            return found
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundRequest:
    """A webhook request as received: lower-cased header names, the raw body, when it arrived."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime
    remote_addr: str | None = None
    method: str = "POST"
    url: str = ""  # as the server saw it (a signature over the URL may need the source's `public_url`)


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """What ingress needs to persist a delivery: its dedupe key and headers worth keeping for audit."""

    dedupe_key: str
    audit_headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    events: int = 1
    ticket: str | None = None  # the one ticket the delivery is about (None: several, or not known at the door)


def ahead(event: Event, reference: datetime) -> str | None:
    """Why an event cannot be applied at `reference` (it says it happened later than the tolerance allows),
    or None. `reference` is when the connector learned of it: a delivery's receipt, a poll's time.
    The worker refuses such a delivery, a backfill or a poll such an event, the generic webhook's door such a
    request (docs/decisions.md)."""
    if event.occurred_at <= reference + AHEAD_TOLERANCE:
        return None
    late = duration_text((event.occurred_at - reference).total_seconds())
    return (f"event {short_text(event.event_id)} of ticket {short_text(event.ticket_id)} says it happened at "
            f"{format_instant(event.occurred_at)}, {late} after it was received ({format_instant(reference)}); "
            f"at most {duration_text(AHEAD_TOLERANCE.total_seconds())} ahead is accepted: check the sender's clock")


def refuse_ahead(events: Iterable[Event], reference: datetime) -> None:
    """Raise `PayloadError` for the first event `ahead` refuses at `reference`: the whole delivery is refused."""
    for event in events:
        why = ahead(event, reference)
        if why is not None:
            raise PayloadError(why)


def ticket_ref(source: str, account: str, ticket_id: str) -> str:
    """The one ticket a delivery is about, as the door records it (`Accepted.ticket`)."""
    return f"{source}/{account}/{ticket_id}"


def only_ticket(events: Iterable[Event]) -> str | None:
    """`ticket_ref` of the one ticket `events` are about; None when they are about several (or none)."""
    keys = {event.key for event in events}
    return ticket_ref(*next(iter(keys))) if len(keys) == 1 else None


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteAction:
    """One outbox row to carry out: a decision of the rules core plus where it goes."""

    key: str                  # idempotency key
    action: str               # set_due_date | add_tags | remove_tags | set_priority | set_group | add_note | notify
    source: str
    account: str
    ticket_id: str
    params: Mapping[str, Any]
    attempt: int = 1
    queued_at: datetime | None = None  # when the rules core decided it (the outbox row's creation)


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    """What a write-back did: `sent` to the tool, or `skipped` with the reason (e.g. no field mapped)."""

    outcome: str              # sent | skipped
    detail: str = ""


class InboundAdapter(Protocol):
    source: str
    reads_url: bool  # whether `verify` reads `InboundRequest.url` (the door fills it in only then)

    @property
    def waits_on_api(self) -> bool:
        """True when `normalize` may call the help desk's API (a client is set): the worker then normalizes
        a batch's deliveries several at a time, since each mostly waits on the network."""

    def verify(self, request: InboundRequest) -> None:
        """Raise `AuthError` unless the request is authentic (constant-time comparisons)."""

    def accept(self, request: InboundRequest) -> Accepted:
        """Parse just enough to dedupe and validate; raise `PayloadError` for a body that cannot be used."""

    def normalize(self, body: bytes, headers: Mapping[str, str], received_at: datetime) -> list[Event]:
        """Turn a stored delivery into canonical events (in the worker; may call the tool's API)."""


class Writer(Protocol):
    source: str

    @property
    def configured(self) -> bool:
        """True when credentials are present; otherwise actions are recorded as dry-run and never sent."""

    def write(self, action: WriteAction) -> WriteResult:
        """Carry out one action; raise `Transient`, `Conflict` or `Permanent` on failure."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceEntry:
    """What the registry knows of one help desk: how to build its parts from the settings (secrets) and the
    config (where, what). A new help desk is one package under `adapters/` exporting one of these, and one
    line in `adapters.registry.SOURCES`.

    - `inbound(settings, config)`: its webhook adapter, or None while its secret is not set (the endpoint
      is off);
    - `writer(settings, config, marker_tag)`: its write-back, not `configured` without credentials
      (actions are then recorded as dry-run);
    - `reconciler(settings, config, store, processor, account=, cursor_path=)`: its polling reconciler
      (`connector.runtime.history.PollingReconciler`), or None without API credentials; absent for a
      source that cannot be polled.
    """

    name: str
    inbound: Any
    writer: Any
    reconciler: Any = None


def source_section(config: Config | None, source: str) -> SourceConfig:
    """Return a source's config section, or the defaults when the config has none."""
    section = config.sources.get(source) if config is not None else None
    return section if section is not None else SourceConfig()


def secret_list(value: str | None) -> list[str]:
    """A comma-separated secret variable as its secrets (`new,old` while rotating)."""
    return [s.strip() for s in (value or "").split(",") if s.strip()]


def api_source(*, name: str, label: str, client: Any, adapter: Any, writer: Any, secret_variable: str,
               account_variable: str, account_of: Any = None, reconciler: Any = None) -> SourceEntry:
    """The registry entry of a help desk reached through a REST API (Zendesk, Freshdesk): its webhook is on
    once `secret_variable` holds a secret and needs the account (`account_variable` or the config section's
    `account`); its writer and its poll use `client(settings, config)`, None without credentials.
    `reconciler()` returns the poll's class (imported late: it needs the runtime, which needs the registry).
    """

    def inbound(settings: Any, config: Any) -> Any:
        secrets = secret_list(settings.env_value(secret_variable))
        if not secrets:
            return None
        section = source_section(config, name)
        account = settings.env_value(account_variable) or section.account
        if not account:
            raise ConfigError(f"{account_variable} (or sources.{name}.account) names the {label} account; "
                              f"it is needed once {secret_variable} is set")
        return adapter(secrets, account=account_of(account) if account_of else account,
                       api=client(settings, config), field_names=section.field_names, status_map=section.status_map)

    def build_writer(settings: Any, config: Any, marker_tag: str) -> Any:
        return writer(client(settings, config), source_section(config, name), marker_tag=marker_tag)

    def build_reconciler(settings: Any, config: Any, store: Any, processor: Any, *, account: str,
                         cursor_path: Any) -> Any:
        api = client(settings, config)
        if api is None or reconciler is None:
            return None
        section = source_section(config, name)
        return reconciler()(store, processor, api, account=account, cursor_path=cursor_path,
                            field_names=section.field_names, status_map=section.status_map)

    return SourceEntry(name=name, inbound=inbound, writer=build_writer,
                       reconciler=build_reconciler if reconciler is not None else None)
