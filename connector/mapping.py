"""Mapped sources (issue 15): any tool that can send a webhook, described in config alone.

A `sources.<name>` of `type: mapped` says how its callers authenticate (`auth`) and how a body becomes
canonical events (`mapping`, JMESPath expressions evaluated against the body, or against each item of
`mapping.events` when a body batches several). This module holds the config models; every expression is
compiled when the config loads, so a bad one is a `ConfigError` naming its key path. Applying a mapping is
`adapters/mapped`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import jmespath
import yaml
from jmespath.exceptions import JMESPathError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from connector import yamltext
from connector.events import AUTHOR_ROLES, EVENT_TYPES, STATUSES

SECRET_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,99}_(SECRET|TOKEN|KEY|PASSWORD)")
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
SIGNED_PARTS = ("body", "timestamp", "method", "url")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _expression(value: str) -> str:
    try:
        jmespath.compile(value)
    except JMESPathError as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{value!r} is not a JMESPath expression ({reason})") from None
    return value


def _secret_name(value: str) -> str:
    if not SECRET_NAME.fullmatch(value):
        raise ValueError(f"{value!r} must name an environment variable in capitals ending in _SECRET, _TOKEN, "
                         f"_KEY or _PASSWORD (so the logs never show its value)")
    return value


Expr = Annotated[str, AfterValidator(_expression)]
SecretName = Annotated[str, AfterValidator(_secret_name)]


# --- authentication ------------------------------------------------------------------------------


class StandardWebhooksAuth(_Strict):
    """Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`), whsec_ secrets."""

    scheme: Literal["standard_webhooks"]
    secrets_env: SecretName
    tolerance_seconds: int = Field(default=300, gt=0, le=86400)


class HmacAuth(_Strict):
    """An HMAC over the body or a template of the request's parts, in a named header."""

    scheme: Literal["hmac"]
    secrets_env: SecretName
    header: str = Field(min_length=1, max_length=100)
    prefix: str = ""                                   # e.g. "sha256=" (GitHub), "v1=" after splitting
    algorithm: Literal["sha1", "sha256"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    signed: str = "{body}"                             # what is signed: {body} {timestamp} {method} {url}
    timestamp_header: str | None = None
    tolerance_seconds: int = Field(default=300, gt=0, le=86400)
    public_url: str | None = None                      # the URL the sender signs, when a proxy rewrites it

    @field_validator("signed")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as err:
            raise ValueError(f"{value!r} is not a template ({err})") from None
        unknown = sorted(names - set(SIGNED_PARTS))
        if unknown:
            raise ValueError(f"unknown part {{{unknown[0]}}}; a template may use "
                             + ", ".join(f"{{{p}}}" for p in SIGNED_PARTS))
        if "body" not in names:
            raise ValueError("the signed template must include {body}")
        return value

    @model_validator(mode="after")
    def _timestamp(self) -> HmacAuth:
        if "{timestamp}" in self.signed and not self.timestamp_header:
            raise ValueError("signed uses {timestamp}: give timestamp_header, the header that carries it")
        return self


class TokenAuth(_Strict):
    """A shared token in a header (compared in constant time), after an optional prefix such as "Bearer "."""

    scheme: Literal["token"]
    secrets_env: SecretName
    header: str = Field(default="Authorization", min_length=1, max_length=100)
    prefix: str = ""


class BasicAuth(_Strict):
    """HTTP Basic: the variable holds `user:password` (several, comma-separated, while rotating)."""

    scheme: Literal["basic"]
    secrets_env: SecretName


Auth = Annotated[StandardWebhooksAuth | HmacAuth | TokenAuth | BasicAuth, Field(discriminator="scheme")]


# --- mapping -------------------------------------------------------------------------------------


def _values_in(allowed: tuple[str, ...], what: str) -> Any:
    def check(value: dict[str, str]) -> dict[str, str]:
        for key, target in value.items():
            if target not in allowed:
                raise ValueError(f"{key}: {target!r} is not a canonical {what} ({', '.join(allowed)})")
        return value
    return AfterValidator(check)


def _keys_as_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


ValueMap = dict[str, str]


class RequesterMap(_Strict):
    id: Expr | None = None
    org: Expr | None = None
    tier: Expr | None = None


class TicketMap(_Strict):
    """Where each ticket field is in the body; `*_map` turn the tool's values into canonical ones."""

    status: Expr | None = None
    status_map: Annotated[ValueMap, _values_in(STATUSES, "status")] = Field(default_factory=dict)
    priority: Expr | None = None
    priority_map: ValueMap = Field(default_factory=dict)
    channel: Expr | None = None
    group: Expr | None = None
    assignee: Expr | None = None
    subject: Expr | None = None
    description: Expr | None = None
    tags: Expr | None = None
    created_at: Expr | None = None
    requester: RequesterMap = Field(default_factory=RequesterMap)
    fields: dict[str, Expr] = Field(default_factory=dict)

    _maps = field_validator("status_map", "priority_map", "fields", mode="before")(_keys_as_strings)


class CommentMap(_Strict):
    """The comment an event carries: when `present` is true (default: when the event's type is
    comment.added)."""

    present: Expr | None = None
    author_role: Expr
    author_role_map: Annotated[ValueMap, _values_in(AUTHOR_ROLES, "author role")] = Field(default_factory=dict)
    public: Expr | None = None        # default true
    automated: Expr | None = None     # default false
    author_id: Expr | None = None

    _maps = field_validator("author_role_map", mode="before")(_keys_as_strings)


class MappingSpec(_Strict):
    """How a body becomes canonical events."""

    events: Expr | None = None        # the list of items a body batches (each the context of the rest)
    account: Expr | None = None       # default: the source's `account`, else "default"
    ticket_id: Expr
    event_id: Expr                    # unique per change: compose with join() when the tool sends no id
    occurred_at: Expr                 # ISO 8601 with an offset, epoch seconds or epoch milliseconds
    type: Expr | None = None          # default ticket.updated
    type_map: Annotated[ValueMap, _values_in(EVENT_TYPES, "event type")] = Field(default_factory=dict)
    ticket: TicketMap = Field(default_factory=TicketMap)
    comment: CommentMap | None = None
    # each item changes only the ticket fields it gives (a field whose expression finds null is not given):
    # the rest stay as the ticket last stood (HubSpot sends one changed property per item)
    partial: bool = False

    _maps = field_validator("type_map", mode="before")(_keys_as_strings)


class DedupeSpec(_Strict):
    """What identifies a delivery across the sender's retries: a header, or an expression on the body.
    Without it, the body's SHA-256."""

    header: str | None = Field(default=None, min_length=1, max_length=100)
    expression: Expr | None = None

    @model_validator(mode="after")
    def _one(self) -> DedupeSpec:
        if (self.header is None) == (self.expression is None):
            raise ValueError("give exactly one of header or expression")
        return self


# --- write-back over HTTP ------------------------------------------------------------------------

COMMON_VALUES = ("ticket_id", "account", "source", "key", "action", "now", "now_ms")
ACTION_VALUES: dict[str, tuple[str, ...]] = {  # what each action's template may use, beside COMMON_VALUES
    "set_due_date": ("metric", "cycle", "due_at", "due_at_s", "due_at_ms", "due_at_date"),
    "add_tags": ("tags",),
    "remove_tags": ("tags",),
    "set_priority": ("priority",),
    "set_group": ("group",),
    "add_note": ("body", "public"),
}
EACH = "$each"  # {"$each": "tags", ...}: one copy of the object per item, with {item}
_PRIVATE = re.compile(r"\._|\[_")


def placeholders(template: Any) -> set[str]:
    """Every {name} a request template uses (in strings at any depth, and `$each` lists)."""
    if isinstance(template, str):
        try:
            parsed = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                      if name is not None]
        except ValueError as err:
            raise ValueError(f"{template[:60]!r} is not a template ({err})") from None
        for name, spec, conversion in parsed:
            # a spec is applied at every write (`{ticket_id:>999999999}` built a gigabyte each time), a conversion
            # or a private attribute reaches past the value: none is a value a request needs
            if spec or conversion or _PRIVATE.search(name):
                shown = f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
                raise ValueError(f"placeholder {shown[:60]}: a placeholder is a value's name (with .key or [index]), "
                                 "no format spec, conversion or private attribute")
        return {name.split(".")[0].split("[")[0] for name, _, _ in parsed}
    if isinstance(template, dict):
        names = set().union(*(placeholders(v) for k, v in template.items() if k != EACH)) if template else set()
        if EACH in template:
            names = (names - {"item"}) | {str(template[EACH])}
        return names
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template)) if template else set()
    return set()


class RequestTemplate(_Strict):
    """One action's request: method, URL (absolute, or under `base_url`), headers and a JSON body template.
    A string that is exactly `{name}` is replaced by the value itself (a list stays a list); other strings
    are formatted; an object with `"$each": "tags"` becomes one copy per tag, with `{item}`."""

    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(min_length=1, max_length=2000)
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None


class WritebackAuth(_Strict):
    """How the connector authenticates to the tool's API: `bearer` (a token), `basic` (`user:token`), or a
    `header` carrying the secret as it is."""

    scheme: Literal["bearer", "basic", "header"]
    secrets_env: SecretName
    header: str = Field(default="Authorization", min_length=1, max_length=100)


class HttpWriteback(_Strict):
    """`sources.<name>.writeback`: a request template per action; actions without one are skipped with the reason."""

    base_url: str | None = None
    auth: WritebackAuth | None = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    constants: dict[str, str] = Field(default_factory=dict)  # values of your own, e.g. the API's admin id
    actions: dict[str, RequestTemplate] = Field(default_factory=dict)

    @field_validator("constants", mode="before")
    @classmethod
    def _constant_values(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _templates(self) -> HttpWriteback:
        for action, template in self.actions.items():
            if action not in ACTION_VALUES:
                raise ValueError(f"{action}: not an action the connector writes back ({', '.join(ACTION_VALUES)})")
            allowed = {*COMMON_VALUES, *ACTION_VALUES[action], *self.constants}
            used = placeholders(template.url) | placeholders(template.headers) | placeholders(template.body)
            unknown = sorted(used - allowed)
            if unknown:
                raise ValueError(f"actions.{action}: unknown value {{{unknown[0]}}}; {action} may use "
                                 + ", ".join(f"{{{name}}}" for name in sorted(allowed))
                                 + " (add your own under writeback.constants)")
        return self

    @property
    def missing(self) -> str | None:
        """What keeps these templates from being sent (a relative URL and no `base_url`), or None."""
        for action, template in self.actions.items():
            if not template.url.startswith(("http://", "https://")) and self.base_url is None:
                return f"base_url is not set ({action}'s URL is relative)"
        return None


# --- presets -------------------------------------------------------------------------------------

PRESETS_DIR = Path(__file__).resolve().parents[1] / "config" / "presets"
PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,59}")


def _merged(base: Any, override: Any) -> Any:
    """`override` over `base`: mappings merged key by key (at any depth), anything else replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merged(base.get(key), value)
        return out
    return override


def _preset_dirs(base_dir: Path | None) -> list[Path]:
    """Where presets are looked for, in order: `presets/` beside the config file, then the project's."""
    return [base_dir / "presets", PRESETS_DIR] if base_dir is not None else [PRESETS_DIR]


def available_presets(base_dir: Path | None = None) -> list[str]:
    return sorted({p.stem for d in _preset_dirs(base_dir) if d.is_dir() for p in d.glob("*.yaml")})


def with_presets(sources: Any, base_dir: Path | None = None) -> tuple[Any, list[str]]:
    """`sources` with every `preset: <name>` replaced by the preset's section, the source's own keys over it.

    A preset is `<name>.yaml` in `presets/` beside the config file, else in the project's `config/presets/`.
    Returns the sources and the problems (an unknown or unreadable preset), each naming its key path."""
    if not isinstance(sources, Mapping):
        return sources, []
    out: dict[Any, Any] = {}
    problems: list[str] = []
    for name, section in sources.items():
        if not isinstance(section, Mapping) or "preset" not in section:
            out[name] = section
            continue
        preset = section["preset"]
        where = f"sources.{name}.preset"
        if not isinstance(preset, str) or not PRESET_NAME.fullmatch(preset):
            problems.append(f"{where}: expected a preset's name (lower-case letters, digits and -)")
            continue
        found = next((c for d in _preset_dirs(base_dir) if (c := d / f"{preset}.yaml").is_file()), None)
        if found is None:
            known = ", ".join(available_presets(base_dir)) or "none"
            problems.append(f"{where}: no preset {preset!r} (the presets: {known})")
            continue
        try:
            data = yamltext.load(yamltext.read(found))
        except (OSError, yaml.YAMLError) as err:
            problems.append(f"{where}: cannot read {found.name} ({type(err).__name__})")
            continue
        except ValueError as err:  # too large, or not UTF-8
            problems.append(f"{where}: {found.name} {err}")
            continue
        if not isinstance(data, Mapping):
            problems.append(f"{where}: {found.name} is not a mapping")
            continue
        out[name] = _merged(data, {k: v for k, v in section.items() if k != "preset"})
    return out, problems
