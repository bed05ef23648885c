"""Configuration: the YAML file of DESIGN §3.2, validated once into frozen objects.

`load_config(path)` (or `parse_config(mapping)`) returns a `Config` or raises one `ConfigError` that lists
every problem with its key path, for example::

    policies[1].targets.P1.resolution: '4x' is not a duration

Unknown keys are errors (a typo must not silently switch a feature off), regexes are compiled here,
calendars are built here (so a bad window or an unknown holiday country is a config error, not a runtime
one), and cross references are checked: calendars named by policies and targets exist, severities named
anywhere are declared in `severities`.

What the file accepts, the rest of the connector can use without a traceback: the file is UTF-8 of at most
4 MiB; note templates hold bare placeholders (`connector.templates`); every number is finite and bounded, every
duration at most `MAX_DURATION` (365 days); and each calendar holds its longest target, and the live board's
day, within the 100 years after the accepted range of instants (`_check_room`), so every due instant exists.

Secrets never live in this file; they come from the environment (DESIGN §3.5).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from connector import mapping as mapped
from connector import yamltext
from connector.errors import ConfigError
from connector.rules.calendar import BusinessCalendar, CalendarSpecError, zone_named
from connector.rules.conditions import ticket_fields_read
from connector.templates import template_problem

METRICS = ("first_response", "next_response", "periodic_update", "resolution")
ALWAYS = "24x7"

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?"
                       r"\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$")


# The longest duration a config may give (a target of 365 days of business time is about four years of a
# 9-to-5 calendar): every duration is bounded, so none overflows the datetime arithmetic it meets.
MAX_DURATION = 365 * 86400


def parse_duration(value: Any) -> int | float:
    """Parse `30s`, `15m`, `4h`, `2d`, `1h30m` (d = 24 h) or a number of seconds into seconds, from 0 to
    `MAX_DURATION`."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    seconds: int | float
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration (not a finite number)")
        if value < 0:
            raise ValueError(f"{_shown(value)} is not a duration (negative)")
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.match(value)) and any(m.groups()):
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        total = d * 86400 + h * 3600 + mi * 60 + s
        seconds = int(total) if total.is_integer() else total
    else:
        raise ValueError(f"{_shown(value)} is not a duration (use e.g. 30s, 15m, 4h, 2d)")
    if not seconds <= MAX_DURATION:  # a string of digits may sum to infinity
        raise ValueError(f"{_shown(value)} is longer than {MAX_DURATION // 86400}d, the longest duration a config "
                         f"may give")
    return seconds


def _shown(value: Any) -> str:
    """A value as a problem quotes it: its repr, cut to 40 characters."""
    if isinstance(value, int) and value.bit_length() > 100:  # repr() of a huge int is slow, or refused
        return "a number beyond ±10**30"
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def format_duration(seconds: float | None) -> str:
    """Format seconds as a short duration such as `1h30m` or `2d`."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        n, rest = divmod(rest, size)
        if n:
            parts.append(f"{int(n)}{unit}")
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return sign + "".join(parts)


def _compile_regex(value: Any) -> re.Pattern[str]:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a regular expression")
    try:
        compiled = re.compile(value)
    except re.error as err:
        raise ValueError(f"{value!r} is not a valid regular expression: {err}") from None
    try:  # Python's own parse of the pattern, read by both checks below (private modules of `re`)
        from re import _compiler as compiler  # type: ignore[attr-defined]
        from re import _constants as sre  # type: ignore[attr-defined]
        from re import _parser as parser  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - every supported Python has them: then nothing is refused
        return compiled
    parsed = parser.parse(value)
    if _nested_repetition(parsed, sre):
        raise ValueError(f"{value[:60]!r} repeats a group made only of repeats (such as (\\w+\\s?)+): on text "
                         "that almost matches, trying every way to split it takes time exponential in its length, "
                         "and the worker waits; put a fixed part in the group, or make its repeats possessive "
                         "(\\w++)")
    if _ambiguous_choice(parsed, sre, parser, compiler):
        raise ValueError(f"{value[:60]!r} repeats a group that can match one text in more than one way (such as "
                         "(.|\\s)*, where a space is both, or (a|aa)+, where \"aa\" is one turn or two): on text that "
                         "almost matches, trying every way takes time exponential in its length, and the worker "
                         "waits; use one character class ([\\s\\S]*) or alternatives that cannot match the same text")
    return compiled


def _nested_repetition(parsed: Any, sre: Any) -> bool:
    """Whether a pattern repeats (`+`, `*`, `{2,}`) a group made of nothing but repeats, one of them repeating
    more than once (`(a+)+`, `(\\w+\\s?)*`): with nothing fixed between the turns, text that almost matches
    can be split among them in exponentially many ways, each tried (the shape of catastrophic backtracking).
    A fixed part in the group (`(\\d+\\.)+`, `(\\s\\w+)*`) separates the turns and passes. Possessive
    repeats and atomic groups, which never give back what they took, pass too. `parsed`: Python's own parse
    of the pattern (`re._parser.parse`), `sre` its constants."""
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT)

    def many(op: Any, av: Any) -> bool:
        return op in repeats and av[1] > 1 and av[0] != av[1]

    def only_repeats(items: Any) -> bool:  # `items` can match through repeats alone, nothing fixed
        for op, av in items:
            if op is sre.SUBPATTERN:
                if not only_repeats(av[3]):
                    return False
            elif op is sre.BRANCH:  # one way through that is only repeats is enough: `(a+|b)+`
                if not any(only_repeats(branch) for branch in av[1]):
                    return False
            elif op not in repeats:
                return False
        return True

    def has_many(items: Any) -> bool:
        for op, av in items:
            if many(op, av) or (op is sre.SUBPATTERN and has_many(av[3])) or \
                    (op is sre.BRANCH and any(has_many(branch) for branch in av[1])):
                return True
        return False

    def walk(items: Any) -> bool:  # any repeat in `items`, at any depth, of such a group
        for op, av in items:
            if op in repeats:
                if many(op, av) and only_repeats(av[2]) and has_many(av[2]):
                    return True
                if walk(av[2]):
                    return True
            elif op is sre.SUBPATTERN and walk(av[3]):
                return True
            elif op is sre.BRANCH and any(walk(branch) for branch in av[1]):
                return True
            elif op in (sre.ASSERT, sre.ASSERT_NOT) and walk(av[1]):
                return True
            elif op is sre.GROUPREF_EXISTS and any(walk(branch) for branch in av[1:] if branch):
                return True
        return False

    return walk(parsed)


# what a choice's alternatives are tried on (`_ambiguous_choice`): the pattern's own characters and one of
# each kind a pattern tells apart (letters, digits, spaces, newline, punctuation, a letter beyond ASCII)
_PROBE_CHARACTERS = "aZ0 \t\n_-.é"
_PROBE_ALPHABET = 24
_PROBE_LENGTH = 3


def _ambiguous_choice(parsed: Any, sre: Any, parser: Any, compiler: Any) -> bool:
    """Whether a pattern repeats (`+`, `*`, `{2,}`) a group that can match one text in more than one way:
    two turns or one (`(a|aa)+`: "aa"; `(a|b|ab)+`: "ab"), or two alternatives of a choice inside it
    (`(.|\\s)*`: a space is both; `(x(.|\\s))+`). On text that almost matches, every way is tried: 13 s
    for `(.|\\s)*x` on 26 spaces. Decided on every text of at most three characters over the pattern's own
    characters and one of each kind a pattern tells apart (letter, digit, space, tab, newline, punctuation, a
    letter beyond ASCII), each part compiled from Python's own parse of the pattern. Only a group of varying
    width can match a text in one turn and in two, and only a choice can match it two ways in one: a pattern
    without either costs nothing here. Longer ambiguities (`(foo|foobar|bar)+`) are not seen; where Python's
    compiler refuses a part (a group reference), nothing is refused. `parsed`, `sre`, `parser`, `compiler`:
    Python's own parse of the pattern and the `re` modules that made it."""
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT)
    state = parsed.state
    bodies: list[list[Any]] = []   # the repeated groups of varying width
    choices: list[Any] = []        # the choices inside a repeated group
    literals: set[str] = set()

    def walk(items: Any, repeated: bool) -> None:
        for op, av in items:
            if op is sre.LITERAL:
                literals.add(chr(av))
            elif op in repeats:
                many = av[1] > 1 and av[0] != av[1]
                if many:
                    low, high = parser.SubPattern(state, list(av[2])).getwidth()
                    if low != high:
                        bodies.append(list(av[2]))
                walk(av[2], repeated or many)
            elif op is sre.SUBPATTERN:
                walk(av[3], repeated)
            elif op is sre.BRANCH:
                if repeated:
                    choices.append(av[1])
                for branch in av[1]:
                    walk(branch, repeated)
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                walk(av[1], repeated)

    walk(parsed, False)
    if not (bodies or choices):
        return False
    alphabet = "".join(sorted(literals))[:_PROBE_ALPHABET - len(_PROBE_CHARACTERS)] + _PROBE_CHARACTERS
    probes = ["".join(p) for n in range(1, _PROBE_LENGTH + 1) for p in product(alphabet, repeat=n)]

    def texts(items: list[Any]) -> set[str]:
        found = compiler.compile(parser.SubPattern(state, items), state.flags).fullmatch
        return {text for text in probes if found(text)}

    try:
        for body in bodies:
            if texts(body) & texts(body + body):
                return True
        for alternatives in choices:
            seen: set[str] = set()
            for alternative in alternatives:
                matched = texts(list(alternative))
                if matched & seen:
                    return True
                seen |= matched
    except Exception:  # noqa: BLE001 - a part that does not compile alone (a reference to a group outside it)
        return False
    return False


def _str_tuple(value: Any) -> tuple[str, ...]:
    """Accept a string or a list of scalars as a tuple of strings."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ValueError(f"{item!r} is not a string")
            out.append(str(item))
        return tuple(out)
    raise ValueError(f"expected a string or a list of strings, got {type(value).__name__}")


Duration = Annotated[float, BeforeValidator(parse_duration)]
Regex = Annotated[re.Pattern[str], BeforeValidator(_compile_regex)]
Names = Annotated[tuple[str, ...], BeforeValidator(_str_tuple)]


class _Frozen(BaseModel):
    # every float of the config is finite: no Infinity or NaN reaches a report
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                              arbitrary_types_allowed=True, allow_inf_nan=False)


# --- conditions ----------------------------------------------------------------------------------


class FieldCondition(_Frozen):
    name: str
    in_: Names = Field(alias="in")


class Condition(_Frozen):
    """A `when:` clause: every key given must hold (implicit all); `all`/`any`/`not` nest."""

    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None
    not_: Condition | None = Field(default=None, alias="not")
    text: Regex | None = None
    tags_any: Names | None = None
    tags_all: Names | None = None
    channel: Names | None = None
    status: Names | None = None
    group: Names | None = None
    source: Names | None = None
    account: Names | None = None
    priority: Names | None = None
    severity: Names | None = None
    requester_tier: Names | None = None
    requester_org: Names | None = None
    field: tuple[FieldCondition, ...] | None = None

    @field_validator("field", mode="before")
    @classmethod
    def _one_or_many_fields(cls, value: Any) -> Any:
        return [value] if isinstance(value, Mapping) else value

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("an empty condition matches everything; leave `when` out instead")
        return self


# --- calendars, classification, policies, escalations --------------------------------------------


class ClassificationRule(_Frozen):
    name: str
    severity: str
    when: Condition | None = None
    description: str | None = None


class Classification(_Frozen):
    default: str
    rules: tuple[ClassificationRule, ...] = ()


class _Targets(_Frozen):
    """Targets per metric for one severity, and the calendar they run on (None: the policy's or agreement's)."""

    calendar: str | None = None

    def target(self, metric: str) -> float | None:
        """Return the target in business seconds for a metric, or None when it has none."""
        value: float | None = getattr(self, metric)
        return value


class Targets(_Targets):
    first_response: Duration | None = None
    next_response: Duration | None = None
    periodic_update: Duration | None = None
    resolution: Duration | None = None


class Policy(_Frozen):
    name: str
    when: Condition | None = None
    calendar: str = ALWAYS
    pause_on: Names = ()
    on_reopen: Literal["continue", "restart"] = "continue"
    targets: dict[str, Targets] = Field(default_factory=dict)

    def calendar_for(self, severity: str) -> str:
        """Return the calendar name a severity's targets run on."""
        targets = self.targets.get(severity)
        return (targets.calendar if targets and targets.calendar else None) or self.calendar


def _percent(value: Any, *, zero: bool = False) -> float:
    """Parse '75%' (or 75) as 75.0: above 0 % (or from 0 % with `zero`) and at most 100 %."""
    text = str(value).strip()
    if text.endswith("%"):
        text = text[:-1]
    try:
        pct = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a percentage such as '75%'") from None
    if zero and not 0 <= pct <= 100:
        raise ValueError(f"{value!r} must be between 0% and 100%")
    if not zero and not 0 < pct <= 100:
        raise ValueError(f"{value!r} must be above 0% and at most 100%")
    return pct


class EscalationWhen(_Frozen):
    metric: Names | None = None
    at: Annotated[float, BeforeValidator(_percent)] | None = None
    remaining: Duration | None = None
    breached: bool | None = None
    severity: Names | None = None
    policy: Names | None = None

    @model_validator(mode="after")
    def _one_threshold(self) -> EscalationWhen:
        given = [k for k in ("at", "remaining", "breached") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one of `at` (e.g. '75%'), `remaining` (e.g. 30m) or `breached: true`")
        return self

    @property
    def threshold(self) -> tuple[str, float]:
        """Return ('pct', 75.0), ('remaining', 1800.0) or ('breached', 0.0)."""
        if self.at is not None:
            return ("pct", self.at)
        if self.remaining is not None:
            return ("remaining", self.remaining)
        return ("breached", 0.0)


def _template(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    problem = template_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Template = Annotated[str, BeforeValidator(_template)]


class Notify(_Frozen):
    target: str
    message: Template | None = None


ACTION_KINDS = ("add_tags", "remove_tags", "set_priority", "set_group", "add_note", "notify")


class Action(_Frozen):
    """One escalation action: exactly one of the keys below."""

    add_tags: Names | None = None
    remove_tags: Names | None = None
    set_priority: str | None = None
    set_group: str | None = None
    add_note: Template | None = None
    notify: Notify | None = None

    @field_validator("notify", mode="before")
    @classmethod
    def _notify_short(cls, value: Any) -> Any:
        return {"target": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in ACTION_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action has exactly one of {', '.join(ACTION_KINDS)}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ACTION_KINDS if getattr(self, k) is not None)

    @property
    def value(self) -> Any:
        return getattr(self, self.kind)


class Escalation(_Frozen):
    name: str
    when: EscalationWhen
    actions: tuple[Action, ...] = Field(min_length=1)


# --- teams and internal agreements (OLAs) --------------------------------------------------------

INTERNAL_METRICS = ("ownership", "first_touch")
HOLDERS_RESERVED = ("customer", "unassigned")  # the held_by keys that are not teams


class Team(_Frozen):
    """A team: the agents on it (assignee and comment author ids) and the help-desk groups it works in."""

    agents: Names = ()
    groups: Names = ()


class OlaTargets(_Targets):
    ownership: Duration | None = None
    first_touch: Duration | None = None


class Ola(_Frozen):
    """An internal agreement: how long a team may hold a ticket (ownership) and take to touch it (first_touch).

    The team holds the ticket while `when` holds, or, without `when`, while the assignee is one of the
    team's agents or the group one of its groups (`teams:`)."""

    name: str
    team: str
    when: Condition | None = None
    calendar: str = ALWAYS
    pause_on: Names = ()
    targets: dict[str, OlaTargets] = Field(default_factory=dict)
    escalations: tuple[Escalation, ...] = ()

    def calendar_for(self, severity: str) -> str:
        targets = self.targets.get(severity)
        return (targets.calendar if targets and targets.calendar else None) or self.calendar


# --- sources and write-back ----------------------------------------------------------------------


# A help desk call may wait at most this long: well inside the lease of the action it sends (5 min by default),
# as mapped sources' `writeback.timeout_seconds`.
MAX_HTTP_TIMEOUT = 120.0


def _seconds_within(value: float, most: float) -> float:
    """A number of seconds above 0 and at most `most`, or a ValueError saying so."""
    if not 0 < value <= most:
        raise ValueError(f"must be more than 0 and at most {most:g} seconds")
    return value


class SourceConfig(_Frozen):
    """Per help desk: where it lives and how its fields map. Credentials come from the environment."""

    enabled: bool = True
    base_url: str | None = None
    account: str | None = None
    timeout_seconds: Duration = 10
    due_fields: dict[str, str] = Field(default_factory=dict)
    due_field_format: Literal["datetime", "date"] = "datetime"
    field_names: dict[str, str] = Field(default_factory=dict)
    status_map: dict[str, str] = Field(default_factory=dict)
    callback_url: str | None = None

    @field_validator("due_fields")
    @classmethod
    def _known_metrics(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; metrics are {', '.join(METRICS)}")
        return value

    @field_validator("field_names", "status_map", "due_fields", mode="before")
    @classmethod
    def _keys_as_strings(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: float) -> float:
        return _seconds_within(value, MAX_HTTP_TIMEOUT)


FRESHDESK = "freshdesk"
FRESHDESK_DUE_FIELDS = ("due_by", "fr_due_by")
MAX_READBACK_DELAY = 60.0  # seconds: the write-back worker waits this long once, well inside its lease
_CUSTOM_FIELD = re.compile(r"cf_[A-Za-z0-9_]{1,120}")


class FreshdeskSourceConfig(SourceConfig):
    """`sources.freshdesk`: the keys every source has, plus who owns Freshdesk's native due dates.

    Accounts on Freshdesk's newer SLA policies recalculate `due_by`/`fr_due_by` seconds after any update (and
    the update's own answer still shows the value sent), so a due date written there does not stay.
    `due_by_owner`: `auto` writes a native field, reads it back `due_readback_delay` later and, if Freshdesk
    changed it, leaves the native fields to Freshdesk from then on; `freshdesk` never writes them;
    `connector` always does (accounts whose manual due dates stick). While Freshdesk owns them, due instants
    go to `due_custom_fields` (metric → a ticket custom field such as `cf_sla_due`, in `due_field_format`),
    or are skipped with the reason when the metric has none.
    """

    due_by_owner: Literal["auto", "connector", "freshdesk"] = "auto"
    due_custom_fields: dict[str, str] = Field(default_factory=dict)
    due_readback_delay: Duration = 10

    @field_validator("due_custom_fields", mode="before")
    @classmethod
    def _custom_keys_as_strings(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @field_validator("due_fields")
    @classmethod
    def _native_due_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for metric, name in value.items():
            if name not in FRESHDESK_DUE_FIELDS:
                raise ValueError(f"{metric}: {name!r} is not a Freshdesk due field "
                                 f"({', '.join(FRESHDESK_DUE_FIELDS)}); map custom fields in due_custom_fields")
        if len(set(value.values())) != len(value):
            raise ValueError("two metrics are mapped to the same Freshdesk due field")
        return value

    @field_validator("due_custom_fields")
    @classmethod
    def _custom_due_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for metric, name in value.items():
            if metric not in METRICS:
                raise ValueError(f"unknown metric {metric!r}; metrics are {', '.join(METRICS)}")
            if not _CUSTOM_FIELD.fullmatch(name):
                raise ValueError(f"{metric}: {name!r} is not a Freshdesk custom field name (cf_…, as the API "
                                 f"names it)")
        if len(set(value.values())) != len(value):
            raise ValueError("two metrics are mapped to the same custom field")
        return value

    @field_validator("due_readback_delay")
    @classmethod
    def _readback_delay(cls, value: float) -> float:
        return _seconds_within(value, MAX_READBACK_DELAY)


BUILT_IN_SOURCES = ("webhook", "zendesk", FRESHDESK)


class MappedSourceConfig(SourceConfig):
    """`sources.<name>` with `type: mapped`: any tool that sends webhooks, described by `auth` (required: an
    endpoint that cannot tell its callers apart is refused) and `mapping` (see `connector/mapping.py`)."""

    type: Literal["mapped"]
    auth: mapped.Auth | None = None
    mapping: mapped.MappingSpec
    dedupe: mapped.DedupeSpec | None = None
    writeback: mapped.HttpWriteback | None = None

    @field_validator("auth")
    @classmethod
    def _authenticated(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("a mapped source must authenticate its callers: give auth with a scheme "
                             "(standard_webhooks, hmac, token or basic)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _auth_given(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("auth") is None:
            return {**data, "auth": None}  # so the validator above says why, naming sources.<name>.auth
        return data


def _is_mapped(raw: Any) -> bool:
    return isinstance(raw, MappedSourceConfig) or (isinstance(raw, Mapping) and "type" in raw)


def _source_sections(value: Any, handler: Any) -> Any:
    """Validate `sources`: the `freshdesk` section with its own keys, mapped sources (`type: mapped`) with
    theirs, the rest as plain sections; every problem keeps its key path."""
    if not isinstance(value, Mapping) or (FRESHDESK not in value and not any(_is_mapped(v) for v in value.values())):
        return handler(value)
    errors: list[Any] = []
    special: dict[str, SourceConfig] = {}
    plain = {k: v for k, v in value.items() if k != FRESHDESK and not _is_mapped(v)}
    others: Any = {}
    try:
        others = handler(plain)
    except ValidationError as err:
        errors.extend(err.errors())
    for name, raw in value.items():
        if name in plain:
            continue
        if name == FRESHDESK and not _is_mapped(raw):
            model: type[SourceConfig] = FreshdeskSourceConfig
            if isinstance(raw, SourceConfig) and not isinstance(raw, FreshdeskSourceConfig):
                raw = raw.model_dump()
        elif name in BUILT_IN_SOURCES or not mapped.SOURCE_NAME.fullmatch(str(name)):
            problem = (f"{name!r} is a built-in source: give the mapped source another name"
                       if name in BUILT_IN_SOURCES else
                       f"{str(name)[:60]!r} cannot name a mapped source (served at /hooks/<name>): use 1-40 "
                       f"lower-case letters, digits, - or _, starting with a letter")
            errors.append({"type": "value_error", "loc": (str(name), "type"), "input": raw,
                           "ctx": {"error": ValueError(problem)}})
            continue
        else:
            model = MappedSourceConfig
        try:
            special[name] = model.model_validate(raw)
        except ValidationError as err:
            errors.extend({**e, "loc": (name, *e["loc"])} for e in err.errors())
    if errors:
        raise ValidationError.from_exception_data("sources", errors)
    return {**others, **special}


class SourceSections(dict[str, SourceConfig]):
    """The `sources` mapping: a `SourceConfig` per help desk, `FreshdeskSourceConfig` for `freshdesk`."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema  # only pydantic calls this, once per model

        return core_schema.no_info_wrap_validator_function(_source_sections,
                                                           handler.generate_schema(dict[str, SourceConfig]))


WRITEBACK_ACTIONS = ("set_due_date", *ACTION_KINDS)


# --- reports: service-credit contracts and report settings ---------------------------------------


Percent = Annotated[float, BeforeValidator(lambda v: _percent(v, zero=True))]


class CreditStep(_Frozen):
    """One step of a sliding scale: attainment below `below` earns `credit` (of the period's fee)."""

    below: Percent
    credit: Percent


class Exclusion(_Frozen):
    """Clocks of tickets matching `when` do not count towards a contract (e.g. customer-caused delays)."""

    name: str
    when: Condition


# The largest fee per period: a credit (a share of it) still holds whole cents exactly in a float (2**53 cents
# is about 9e13).
MAX_FEE = 1e12


class Contract(_Frozen):
    """A customer's service-credit terms: which clocks count, per period, and the sliding scale."""

    name: str
    organizations: Names = Field(min_length=1)
    policies: Names | None = None
    metrics: Names | None = None
    severities: Names | None = None
    period: Literal["week", "month", "quarter"] = "month"
    fee: float | None = Field(default=None, ge=0, le=MAX_FEE)
    currency: str | None = None
    exclusions: tuple[Exclusion, ...] = ()
    credits: tuple[CreditStep, ...] = Field(min_length=1)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if name not in METRICS:
                raise ValueError(f"unknown metric {name!r}; metrics are {', '.join(METRICS)}")
        return value

    @model_validator(mode="after")
    def _scale_slides(self) -> Contract:
        steps = sorted(self.credits, key=lambda s: -s.below)
        for higher, lower in zip(steps, steps[1:], strict=False):
            if lower.below == higher.below:
                raise ValueError(f"two credit steps are both below {higher.below:g}%")
            if lower.credit < higher.credit:
                raise ValueError(f"credit {lower.credit:g}% below {lower.below:g}% is less than "
                                 f"{higher.credit:g}% below {higher.below:g}%: a worse attainment must not earn less")
        return self

    def credit_for(self, attainment_pct: float | None) -> float:
        """Return the credit % the sliding scale gives for an attainment (0 when nothing was measured)."""
        if attainment_pct is None:
            return 0.0
        return max((s.credit for s in self.credits if attainment_pct < s.below), default=0.0)


def _share_or_duration(value: Any) -> Any:
    """Accept '25%' (of the target) or a duration such as 30m."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return ("pct", _percent(value))
    return ("seconds", parse_duration(value))


class AuditSettings(_Frozen):
    """What the severity audit calls suspicious."""

    # severity lowered when the old due instant was at most this far ahead: a share of the old target
    # ('25%': within its last quarter) or a duration (30m); a lowering after the old due instant always counts
    lowered_within: Annotated[tuple[Literal["pct", "seconds"], float], BeforeValidator(_share_or_duration)] = \
        ("pct", 25.0)
    pause_within: Duration = 900          # a pause this soon after a customer's reply, with no agent reply
    bounced_over: int = Field(default=2, ge=0)  # a ticket handed between teams more often than this bounced

    def lowered_window(self, target_seconds: float) -> float:
        """Return how many seconds before the old due instant a lowering counts as suspicious."""
        kind, value = self.lowered_within
        return target_seconds * value / 100 if kind == "pct" else value


class ReportSettings(_Frozen):
    timezone: str = "UTC"                 # where days, weeks and months begin
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_named(value)  # raises ValueError naming the zone
        return value


# The most tries of one write-back action: past 1,025 the executor's backoff (base × 2^(attempt−1)) is larger
# than a float can hold; 100 tries, an hour apart once the backoff is capped, are four days.
MAX_WRITEBACK_ATTEMPTS = 100


class Writeback(_Frozen):
    dry_run: bool = False
    actions: Names = WRITEBACK_ACTIONS
    marker_tag: str = "sla_connector"
    max_attempts: int = Field(default=8, ge=1, le=MAX_WRITEBACK_ATTEMPTS)

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in WRITEBACK_ACTIONS:
                raise ValueError(f"unknown action {name!r}; actions are {', '.join(WRITEBACK_ACTIONS)}")
        return value


# The most severities a config declares (help desks use four or five): the severity audit's confusion matrix is
# severities × severities, and 5,000 made it 25 million cells, 40 s and 495 MB of JSON.
MAX_SEVERITIES = 100


class Config(_Frozen):
    version: Literal[1]
    calendars: dict[str, Any] = Field(default_factory=dict)
    severities: Names = Field(max_length=MAX_SEVERITIES)
    priority_map: dict[str, dict[str, str]] = Field(default_factory=dict)
    classification: Classification
    policies: tuple[Policy, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    teams: dict[str, Team] = Field(default_factory=dict)
    olas: tuple[Ola, ...] = ()
    sources: SourceSections = Field(default_factory=SourceSections)
    writeback: Writeback = Field(default_factory=Writeback)
    contracts: tuple[Contract, ...] = ()
    reports: ReportSettings = Field(default_factory=ReportSettings)

    @field_validator("priority_map", mode="before")
    @classmethod
    def _priority_keys_as_strings(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {src: ({str(k): v for k, v in m.items()} if isinstance(m, Mapping) else m)
                    for src, m in value.items()}
        return value

    def calendar(self, name: str) -> BusinessCalendar:
        """Return the built calendar of that name (`24x7` is always there)."""
        return self._built[name]

    def calendar_names(self) -> tuple[str, ...]:
        """Return the names of every calendar, `24x7` included."""
        return tuple(self._built)

    def severity_rank(self, severity: str) -> int:
        """Return the position of a severity in `severities` (0 is the most severe)."""
        return self.severities.index(severity)

    def declared_severity(self, source: str, priority: str | None) -> str | None:
        """Map a source's priority to a severity through `priority_map`."""
        if priority is None:
            return None
        return self.priority_map.get(source, {}).get(str(priority))

    # the built calendars, set once by parse_config
    _built: Mapping[str, BusinessCalendar] = PrivateAttr(default_factory=dict)


# --- loading -------------------------------------------------------------------------------------


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _pydantic_problems(err: ValidationError) -> list[str]:
    problems = []
    for item in err.errors():
        # pydantic adds the name of a union branch or validator to loc; keep only real keys
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        msg = item["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "missing":
            msg = "required key is missing"
        if item["type"] == "too_short" and any(
                tuple(o["loc"][:len(item["loc"])]) == tuple(item["loc"]) and o is not item for o in err.errors()):
            continue  # a list whose items failed: the items' own problems say it better
        problems.append(f"{_path(loc)}: {msg}")
    return list(dict.fromkeys(problems))


def _check_references(cfg: Config, built: Mapping[str, BusinessCalendar | None], *,
                      check_severities: bool = True, check_policies: bool = True) -> list[str]:
    """Check that every severity, calendar and policy named is defined (None marks a broken calendar)."""
    problems: list[str] = []
    severities = set(cfg.severities)
    if len(severities) != len(cfg.severities):
        problems.append("severities: a severity is listed twice")

    def check_sev(path: str, sev: str) -> None:
        if check_severities and sev not in severities:
            problems.append(f"{path}: unknown severity {sev!r} (declared: {', '.join(cfg.severities)})")

    def check_cal(path: str, name: str) -> None:
        if name not in built:
            problems.append(f"{path}: unknown calendar {name!r} (defined: {', '.join(sorted(built))})")

    def check_when(path: str, cond: Condition | None) -> None:
        if cond is None:
            return
        for sev in cond.severity or ():
            check_sev(f"{path}.severity", sev)
        for key, subs in (("all", cond.all), ("any", cond.any)):
            for i, sub in enumerate(subs or ()):
                check_when(f"{path}.{key}[{i}]", sub)
        if cond.not_ is not None:
            check_when(f"{path}.not", cond.not_)

    for src, mapping in cfg.priority_map.items():
        for prio, sev in mapping.items():
            check_sev(f"priority_map.{src}.{prio}", sev)
    check_sev("classification.default", cfg.classification.default)
    names: set[str] = set()
    for i, rule in enumerate(cfg.classification.rules):
        check_sev(f"classification.rules[{i}].severity", rule.severity)
        check_when(f"classification.rules[{i}].when", rule.when)
        if rule.name in names:
            problems.append(f"classification.rules[{i}].name: duplicate rule name {rule.name!r}")
        names.add(rule.name)
    names = set()
    for i, pol in enumerate(cfg.policies):
        check_cal(f"policies[{i}].calendar", pol.calendar)
        check_when(f"policies[{i}].when", pol.when)
        if pol.name in names:
            problems.append(f"policies[{i}].name: duplicate policy name {pol.name!r}")
        names.add(pol.name)
        for sev, targets in pol.targets.items():
            check_sev(f"policies[{i}].targets.{sev}", sev)
            if targets.calendar is not None:
                check_cal(f"policies[{i}].targets.{sev}.calendar", targets.calendar)
    policy_names = {p.name for p in cfg.policies}
    names = set()
    for i, esc in enumerate(cfg.escalations):
        if esc.name in names:
            problems.append(f"escalations[{i}].name: duplicate escalation name {esc.name!r}")
        names.add(esc.name)
        for metric in esc.when.metric or ():
            if metric not in METRICS:
                problems.append(f"escalations[{i}].when.metric: unknown metric {metric!r} "
                                f"(metrics: {', '.join(METRICS)})")
        for sev in esc.when.severity or ():
            check_sev(f"escalations[{i}].when.severity", sev)
        for pol_name in esc.when.policy or ():
            if check_policies and pol_name not in policy_names:
                problems.append(f"escalations[{i}].when.policy: unknown policy {pol_name!r}")
        for j, action in enumerate(esc.actions):
            if action.set_priority is not None and cfg.severities and action.set_priority in severities:
                # a severity is not a help-desk priority; the adapter needs the tool's own value
                problems.append(f"escalations[{i}].actions[{j}].set_priority: give the help desk's priority "
                                f"(e.g. urgent), not the severity {action.set_priority!r}")
    problems.extend(_check_olas(cfg, check_sev, check_cal, check_when, {e.name for e in cfg.escalations}))
    names = set()
    for i, contract in enumerate(cfg.contracts):
        if contract.name in names:
            problems.append(f"contracts[{i}].name: duplicate contract name {contract.name!r}")
        names.add(contract.name)
        for pol_name in contract.policies or ():
            if check_policies and pol_name not in policy_names:  # a broken policies section says enough
                problems.append(f"contracts[{i}].policies: unknown policy {pol_name!r}")
        for sev in contract.severities or ():
            check_sev(f"contracts[{i}].severities", sev)
        for j, exclusion in enumerate(contract.exclusions):
            check_when(f"contracts[{i}].exclusions[{j}].when", exclusion.when)
    return problems


def _check_olas(cfg: Config, check_sev: Any, check_cal: Any, check_when: Any, escalations: set[str]) -> list[str]:
    """Check the teams and internal agreements: every team named exists (or the agreement says `when`), an
    agent or group is on one team only, escalations name internal metrics and are named once overall."""
    problems: list[str] = []
    owner: dict[tuple[str, str], str] = {}
    for team, spec in cfg.teams.items():
        if team in HOLDERS_RESERVED:
            problems.append(f"teams.{team}: {team!r} is reserved (time held by the {team} is reported under it)")
        for kind, members in (("agent", spec.agents), ("group", spec.groups)):
            for member in members:
                other = owner.setdefault((kind, member), team)
                if other != team:
                    problems.append(f"teams.{team}.{kind}s: {kind} {member!r} is also on team {other!r}")
    names: set[str] = set()
    escalations = set(escalations)
    for i, ola in enumerate(cfg.olas):
        path = f"olas[{i}]"
        if ola.name in names:
            problems.append(f"{path}.name: duplicate agreement name {ola.name!r}")
        names.add(ola.name)
        if ola.team in HOLDERS_RESERVED:
            problems.append(f"{path}.team: {ola.team!r} is reserved (time held by the {ola.team} is reported under it)")
        elif ola.when is None and ola.team not in cfg.teams:
            problems.append(f"{path}.team: unknown team {ola.team!r}: define it under `teams` "
                            f"(its agents or groups) or say which tickets it holds with `when`")
        check_cal(f"{path}.calendar", ola.calendar)
        check_when(f"{path}.when", ola.when)
        if ola.when is not None and "status" in ticket_fields_read([ola.when]):
            problems.append(f"{path}.when: which team holds a ticket cannot depend on its status "
                            f"(`pause_on` pauses ownership; a solve ends the cycle)")
        for sev, targets in ola.targets.items():
            check_sev(f"{path}.targets.{sev}", sev)
            if targets.calendar is not None:
                check_cal(f"{path}.targets.{sev}.calendar", targets.calendar)
        for j, esc in enumerate(ola.escalations):
            where = f"{path}.escalations[{j}]"
            if esc.name in escalations:
                problems.append(f"{where}.name: duplicate escalation name {esc.name!r} (names are unique across "
                                f"`escalations` and every agreement's)")
            escalations.add(esc.name)
            for metric in esc.when.metric or ():
                if metric not in INTERNAL_METRICS:
                    problems.append(f"{where}.when.metric: unknown internal metric {metric!r} "
                                    f"(metrics: {', '.join(INTERNAL_METRICS)})")
            if esc.when.policy is not None:
                problems.append(f"{where}.when.policy: an agreement's escalation applies to its own clocks; "
                                f"leave `policy` out")
            for sev in esc.when.severity or ():
                check_sev(f"{where}.when.severity", sev)
    return problems


def _raw_calendar_references(raw: Any, built: Mapping[str, BusinessCalendar | None]) -> list[str]:
    """The calendars a policies section names, checked on the raw data: a section broken elsewhere (a bad
    duration in another policy, say) must not hide that a policy names a calendar that does not exist."""
    problems: list[str] = []
    if not isinstance(raw, list):
        return problems
    known = ", ".join(sorted(built))

    def check(path: str, name: Any) -> None:
        if isinstance(name, str) and name not in built:
            problems.append(f"{path}: unknown calendar {name!r} (defined: {known})")

    for i, policy in enumerate(raw):
        if not isinstance(policy, Mapping):
            continue
        check(f"policies[{i}].calendar", policy.get("calendar"))
        targets = policy.get("targets")
        if isinstance(targets, Mapping):
            for sev, target in targets.items():
                if isinstance(target, Mapping):
                    check(f"policies[{i}].targets.{sev}.calendar", target.get("calendar"))
    return problems


def _check_names(cfg: Config, built: Mapping[str, BusinessCalendar | None]) -> list[str]:
    """Names end in store columns and idempotency keys: severities 1-32 printable characters, the names of
    calendars, rules, policies, escalations and contracts 1-255."""
    problems: list[str] = []

    def check(path: str, name: str, width: int) -> None:
        if not (0 < len(name) <= width and name.isprintable()):
            problems.append(f"{path}: a name is 1-{width} printable characters, got {len(name)} characters"
                            if len(name) > width or not name else f"{path}: a name holds a control character")

    for i, sev in enumerate(cfg.severities):
        check(f"severities[{i}]", sev, 32)
    for name in built:
        check(f"calendars.{name[:40]}", name, 255)
    for section, items in (("classification.rules", cfg.classification.rules), ("policies", cfg.policies),
                           ("escalations", cfg.escalations), ("contracts", cfg.contracts), ("olas", cfg.olas)):
        for i, item in enumerate(items):
            check(f"{section}[{i}].name", str(getattr(item, "name", "")), 255)
    for i, ola in enumerate(cfg.olas):
        check(f"olas[{i}].team", ola.team, 255)
        for j, esc in enumerate(ola.escalations):
            check(f"olas[{i}].escalations[{j}].name", esc.name, 255)
    for team in cfg.teams:
        check(f"teams.{team[:40]}", team, 255)
    return problems


# Every add of business time starts at an instant in the accepted range (1970..2099, docs/decisions.md), and
# adds at most a target (or the live board's 24 h): if each calendar holds its largest in the years 2100 to
# 2199, every add ends before 2200, and no calendar builds more than 1970..2199 (it may build 1,000 years).
ROOM_FROM = 2100    # the first year after the accepted range of instants
ROOM_YEARS = 100
BOARD_AHEAD = 86400  # the live board asks each calendar for the instant 24 h of business time ahead
_ROOM: dict[str, tuple[float, ...]] = {}  # a calendar spec's digest → its business time in each year from ROOM_FROM
_ROOM_LOCK = threading.Lock()


def _room(spec: Any, need: float) -> float:
    """Return how much business time the calendar of `spec` holds from ROOM_FROM: at least `need` when it holds
    that much within ROOM_YEARS, else all it holds in them. Counted on a throwaway copy, so the config's own
    calendar builds only the years its clocks need, and remembered per spec (tests and reloads repeat them)."""
    key = hashlib.sha256(repr(spec).encode()).hexdigest()
    with _ROOM_LOCK, warnings.catch_warnings():
        # the holidays package warns that some countries' holidays are known only to 2035 or so: true, and no
        # concern of this count (the lock keeps this change of the process's warning filters to one thread)
        warnings.simplefilter("ignore", UserWarning)
        years = list(_ROOM.get(key, ()))
        if sum(years) < need and len(years) < ROOM_YEARS:
            cal = BusinessCalendar.from_config(spec)
            while sum(years) < need and len(years) < ROOM_YEARS:
                year = ROOM_FROM + len(years)
                # up to the year's last second, so that one year is built at a time (that second is not counted)
                years.append(cal.between(datetime(year, 1, 1, tzinfo=UTC),
                                         datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)))
            if len(_ROOM) >= 256:
                _ROOM.clear()
            _ROOM[key] = tuple(years)
    return sum(years)


def _check_room(cfg: Config, raw: Any, built: Mapping[str, BusinessCalendar | None]) -> list[str]:
    """Check that each calendar holds, in the years after the accepted range, the longest target run on it and
    the live board's day: a target that cannot end before 2200 on its calendar is refused at its key path."""
    needs: dict[str, list[tuple[float, str]]] = {}
    agreements: list[tuple[str, Policy | Ola, tuple[str, ...]]] = [
        *((f"policies[{i}]", policy, METRICS) for i, policy in enumerate(cfg.policies)),
        *((f"olas[{i}]", ola, INTERNAL_METRICS) for i, ola in enumerate(cfg.olas))]
    for where, agreement, metrics in agreements:
        per_severity: Mapping[str, _Targets] = agreement.targets
        for sev, targets in per_severity.items():
            for metric in metrics:
                seconds = targets.target(metric)
                if seconds:
                    needs.setdefault(agreement.calendar_for(sev), []).append(
                        (seconds, f"{where}.targets.{sev}.{metric}"))
    specs = {str(name): spec for name, spec in raw.items()} if isinstance(raw, Mapping) else {}
    problems: list[str] = []
    for name, cal in built.items():
        if cal is None or cal.always_open:
            continue
        amounts = needs.get(name, [])
        need = max([BOARD_AHEAD, *(seconds for seconds, _ in amounts)])
        room = _room(specs.get(name, ALWAYS), need)
        if room >= need:
            continue
        held = (f"calendar {name[:40]!r} opens {format_duration(room)} of business time in the {ROOM_YEARS} years "
                f"after {ROOM_FROM - 1}, the last year an event may have")
        if room < BOARD_AHEAD:
            problems.append(f"calendars.{name[:40]}: {held}; a calendar must hold at least a day (open it longer, "
                            f"or take out holidays)")
        problems.extend(f"{path}: {format_duration(seconds)} of business time does not fit: {held} (shorten the "
                        f"target, or open the calendar longer)" for seconds, path in amounts if seconds > room)
    return problems


def _build_calendars(raw: Any) -> tuple[dict[str, BusinessCalendar | None], list[str]]:
    """Build every calendar; a broken one is kept as None so references to it are not reported twice."""
    built: dict[str, BusinessCalendar | None] = {ALWAYS: BusinessCalendar.from_config(ALWAYS, name=ALWAYS)}
    problems: list[str] = []
    if raw is None:
        return built, problems
    if not isinstance(raw, Mapping):
        return built, [f"calendars: expected a mapping of name → calendar, got {type(raw).__name__}"]
    for name, spec in raw.items():
        try:
            built[str(name)] = BusinessCalendar.from_config(spec, name=str(name))
        except CalendarSpecError as err:
            built[str(name)] = None
            key = f"calendars.{name}" + (f".{err.key}" if err.key else "")
            problems.append(f"{key}: {err.reason}")
    return built, problems


def _validate_sections(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Validate each top-level section on its own, so one broken section hides no other problem."""
    sections: dict[str, Any] = {}
    problems: list[str] = []
    for name in data:
        if name not in Config.model_fields:
            problems.append(f"{name}: unknown key")
    for name, info in Config.model_fields.items():
        if name not in data:
            if info.is_required():
                problems.append(f"{name}: required key is missing")
            continue
        assert info.annotation is not None
        try:  # the field's constraints too (`Field(max_length=…)` lives in its metadata, not its annotation)
            annotation: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            sections[name] = TypeAdapter(annotation).validate_python(data[name])
        except ValidationError as err:
            problems.extend(f"{name}{'' if p.startswith('[') else '.'}{p}".replace(".(top level)", "")
                            for p in _pydantic_problems(err))
    return sections, problems


def parse_config(data: Any, *, source: str | None = None, base_dir: Path | None = None) -> Config:
    """Validate a decoded YAML mapping into a frozen `Config`; raise `ConfigError` listing every problem.
    `base_dir`: the config file's directory, where `presets/` is looked for first."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"(top level): expected a mapping, got {type(data).__name__}", source=source)
    if isinstance(data.get("sources"), Mapping):
        sources, preset_problems = mapped.with_presets(data["sources"], base_dir)
        if preset_problems:
            raise ConfigError(preset_problems, source=source)
        data = {**data, "sources": sources}
    built, problems = _build_calendars(data.get("calendars"))
    try:
        cfg = Config.model_validate(data)
    except ValidationError as whole:
        sections, section_problems = _validate_sections(data)
        # what only the whole model checks (none today) is said too, never a list of no problems
        problems.extend(section_problems or _pydantic_problems(whole))
        # check the cross references of the sections that did validate
        defaults = {"severities": (), "classification": Classification(default="")}
        partial = Config.model_construct(**{**defaults, **sections})
        problems.extend(p for p in _check_references(partial, built, check_severities="severities" in sections,
                                                     check_policies="policies" in sections)
                        if p.split(".")[0].split("[")[0] in sections)
        if "policies" not in sections:
            problems.extend(_raw_calendar_references(data.get("policies"), built))
        problems.extend(_check_room(partial, data.get("calendars"), built))
        raise ConfigError(list(dict.fromkeys(problems)), source=source) from None
    problems.extend(_check_references(cfg, built))
    problems.extend(_check_names(cfg, built))
    problems.extend(_check_room(cfg, data.get("calendars"), built))
    if problems:
        raise ConfigError(problems, source=source)
    cfg._built = MappingProxyType({name: cal for name, cal in built.items() if cal is not None})
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file (UTF-8, at most `yamltext.MAX_BYTES`); raise `ConfigError` naming
    every problem by key path."""
    p = Path(path)
    try:
        text = yamltext.read(p)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}", source=str(p)) from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {p}: {err.strerror}", source=str(p)) from None
    except ValueError as err:  # too large, or not UTF-8
        raise ConfigError(f"config file {p} {err}", source=str(p)) from None
    try:
        data = yamltext.load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"not valid YAML{where}: {problem}", source=str(p)) from None
    return parse_config(data, source=str(p), base_dir=p.parent)
