"""Runtime settings from the environment (DESIGN §3.5). Secrets are wrapped so they never print.

    CONNECTOR_CONFIG            config file (default: config/example.yaml when it exists)
    CONNECTOR_DATABASE_URL      SQLAlchemy URL (default: SQLite file ./connector.db)
    CONNECTOR_API_TOKEN         bearer token for /tickets and /reports
    CONNECTOR_WEBHOOK_SECRET    whsec_… secrets of the generic webhook, comma-separated for rotation
    CONNECTOR_MAX_BODY_BYTES    webhook body limit (default 1 MiB)
    CONNECTOR_CLAIM_LEASE_SECONDS  how long a claimed delivery or action stays with its worker (default 300)
    CONNECTOR_DB_TIMEOUT_SECONDS   bound on connecting, on each answer and on the pool (PostgreSQL; default 5)
    CONNECTOR_HTTP_READ_TIMEOUT_SECONDS  a request silent this long half-way is answered 408 (default 10)
    CONNECTOR_SPOOL_DIR         deliveries acknowledged while the database is unreachable wait here (default
                                .connector/spool; empty: no spool, such deliveries are answered 503)
    ZENDESK_* / FRESHDESK_*     the adapters' credentials
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value: `repr` and `str` show `***`; `reveal()` gives the value to the one place that needs it."""

    _value: str

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def _secrets(text: str | None) -> tuple[Secret, ...]:
    return tuple(Secret(s.strip()) for s in (text or "").split(",") if s.strip())


DEFAULT_CONFIG = Path("config") / "example.yaml"
DEFAULT_SPOOL = Path(".connector") / "spool"


def _number(env: Mapping[str, str], name: str, default: float, *, ok: Callable[[float], bool],
            expected: str) -> float:
    """A number from the environment that `ok` accepts; `ConfigError` naming the variable otherwise."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan  # accepted by no check
    if not ok(value):
        from connector.errors import ConfigError

        raise ConfigError(f"{name}: expected {expected}, got {text[:40]!r}")
    return value


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from the environment; `ConfigError` naming the variable otherwise."""
    return _number(env, name, default, ok=lambda v: 0 < v < 10**7, expected="a positive number of seconds")


def _niceness(env: Mapping[str, str], name: str, default: int) -> int:
    """A niceness increment (0 to 19) from the environment; `ConfigError` naming the variable otherwise."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not (text.isdigit() and int(text) <= 19):
        from connector.errors import ConfigError

        raise ConfigError(f"{name}: expected a whole number from 0 to 19, got {text[:40]!r}")
    return int(text)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _log_level(env: Mapping[str, str], name: str, default: str) -> str:
    """A log level name from the environment (any case); `ConfigError` naming the variable otherwise."""
    text = (env.get(name) or "").strip().upper()
    if not text:
        return default
    if text not in LOG_LEVELS:
        from connector.errors import ConfigError

        raise ConfigError(f"{name}: expected one of {', '.join(LOG_LEVELS)}, got {text[:40]!r}")
    return text


SECRET_SUFFIXES = ("_TOKEN", "_KEY", "_SECRET", "_PASSWORD")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    database_url: str = "sqlite:///connector.db"
    config_path: str | None = None
    api_token: Secret | None = None
    board_token: Secret | None = None   # read-only: the live board alone, for a wall screen (?token=)
    webhook_secrets: tuple[Secret, ...] = ()
    max_body_bytes: int = 1024 * 1024
    host: str = "127.0.0.1"
    port: int = 8080
    dedupe_window_seconds: int = 3 * 24 * 3600
    claim_lease_seconds: float = 300.0  # a killed worker's claimed rows come back after this
    worker_niceness: int = 10           # `connector worker` yields the CPU to the webhook door (see decisions)
    worker_yield: float = 3.0           # ... and rests after its batches while deliveries arrive (`Worker.yield_time`)
    log_level: str = "INFO"             # DEBUG adds each applied event's line to a batch's one
    db_timeout_seconds: float = 5.0
    http_read_timeout_seconds: float = 10.0
    spool_dir: str | None = None        # None: no spool (from_env gives the default directory)
    env: Mapping[str, Secret] = field(default_factory=lambda: MappingProxyType({}))

    def env_value(self, name: str) -> str | None:
        """Return a help desk variable (ZENDESK_*, FRESHDESK_*) or a secret-named one (…_SECRET, _TOKEN, _KEY,
        _PASSWORD) stripped, or None when unset or blank."""
        secret = self.env.get(name)
        value = secret.reveal().strip() if secret is not None else ""
        return value or None

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for the log scrubber: tokens, keys and webhook secrets only.

        Account names, domains and e-mail addresses are configuration, not secrets: scrubbing "acme" from
        every message would only make the logs unreadable.
        """
        values = [s.reveal() for s in self.webhook_secrets]
        for token in (self.api_token, self.board_token):
            if token is not None:
                values.append(token.reveal())
        values += [v.reveal() for k, v in self.env.items() if k.endswith(SECRET_SUFFIXES)]
        return [v for v in values if v]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read the settings from the environment (or the mapping given); keyword overrides win."""
        env = os.environ if environ is None else environ
        config = env.get("CONNECTOR_CONFIG") or default_config()
        token = env.get("CONNECTOR_API_TOKEN")
        values: dict[str, object] = {
            "database_url": _database_url(env.get("CONNECTOR_DATABASE_URL") or "sqlite:///connector.db"),
            "config_path": config,
            "api_token": Secret(token) if token else None,
            "board_token": Secret(env["CONNECTOR_BOARD_TOKEN"]) if env.get("CONNECTOR_BOARD_TOKEN") else None,
            "webhook_secrets": _secrets(env.get("CONNECTOR_WEBHOOK_SECRET")),
            "max_body_bytes": int(_positive(env, "CONNECTOR_MAX_BODY_BYTES", 1024 * 1024)),
            "claim_lease_seconds": _positive(env, "CONNECTOR_CLAIM_LEASE_SECONDS", 300.0),
            "worker_niceness": _niceness(env, "CONNECTOR_WORKER_NICENESS", 10),
            "worker_yield": _number(env, "CONNECTOR_WORKER_YIELD", 3.0, ok=lambda v: 0 <= v <= 20,
                                    expected="a number from 0 to 20"),
            "log_level": _log_level(env, "CONNECTOR_LOG_LEVEL", "INFO"),
            "db_timeout_seconds": _positive(env, "CONNECTOR_DB_TIMEOUT_SECONDS", 5.0),
            "http_read_timeout_seconds": _positive(env, "CONNECTOR_HTTP_READ_TIMEOUT_SECONDS", 10.0),
            "spool_dir": env.get("CONNECTOR_SPOOL_DIR", str(DEFAULT_SPOOL)) or None,
            # the help desks' variables, and every secret-named one (a mapped source names its own variable,
            # which must end in one of SECRET_SUFFIXES): held wrapped, and scrubbed from every log line
            "env": MappingProxyType({k: Secret(v) for k, v in env.items()
                                     if (k.startswith(("ZENDESK_", "FRESHDESK_"))
                                         or (k.endswith(SECRET_SUFFIXES) and not k.startswith("CONNECTOR_")))
                                     and v}),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def default_config() -> str | None:
    """The config every command uses when given neither --config nor CONNECTOR_CONFIG: the example one,
    when the command runs where it is (a checkout of the project)."""
    return str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None


SUPPORTED_DATABASES = ("sqlite:///PATH (the default, sqlite:///connector.db) or "
                       "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB")


def _database_url(url: str) -> str:
    """The database URL, if it names a database the connector runs on; a `ConfigError` naming the key
    (and never the URL: it may hold a password) otherwise."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from connector.errors import ConfigError

    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        raise ConfigError(f"CONNECTOR_DATABASE_URL: not a database URL; expected {SUPPORTED_DATABASES}") from None
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"CONNECTOR_DATABASE_URL: {backend} is not supported; expected {SUPPORTED_DATABASES}")
    return url
