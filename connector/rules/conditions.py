"""Compile `when:` conditions into fast matchers that also say *why* they matched.

A matcher takes `Facts` (the ticket snapshot plus its source, account and severity) and returns the list
of leaf conditions that held (for audits and explanations), or ``None`` when the condition does not hold.
A missing condition (``when`` left out) matches everything with an empty reason list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from connector.events import Ticket

if TYPE_CHECKING:
    from connector.config import Condition

Reasons = list[str]
Matcher = Callable[["Facts"], Reasons | None]
# How much of a ticket's text a `text` rule searches. A pattern a config may hold, such as `.*down.*`, takes time
# quadratic in the text it fails on: 0.14 s on 20,000 characters, minutes on a 1 MiB description, and the
# worker classifies the ticket at every event. What decides a severity is in the subject and the description's
# opening, not in a log pasted below it.
TEXT_SEARCHED = 16_384


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    account: str
    ticket: Ticket
    severity: str | None = None

    @property
    def text(self) -> str:
        """What `text` rules search: the subject, a newline, the description, cut at `TEXT_SEARCHED`."""
        return f"{self.ticket.subject}\n{self.ticket.description}"[:TEXT_SEARCHED]


def _always(_: Facts) -> Reasons:
    return []


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _show(values: Sequence[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _in(name: str, allowed: tuple[str, ...], get: Callable[[Facts], Any]) -> Matcher:
    allowed_set = frozenset(allowed)

    def match(facts: Facts) -> Reasons | None:
        value = get(facts)
        if value is not None and _norm(value) in allowed_set:
            return [f"{name} is {value} (in {_show(allowed)})"]
        return None

    return match


def _excerpt(text: str, limit: int = 60) -> str:
    """Return matched text on one line, cut at `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


# leaf conditions that allow a list of values, with the words a person reads for each
_LISTS = (("channel", "channel"), ("status", "status"), ("group", "group"), ("source", "source"),
          ("account", "account"), ("priority", "priority"), ("severity", "severity"),
          ("requester_tier", "requester tier"), ("requester_org", "requester org"))


def describe(cond: Condition) -> str:
    """Return a condition in words, e.g. `requester tier is one of [enterprise] and not (tags include any of [x])`."""
    parts: list[str] = []
    if cond.text is not None:
        parts.append(f"text matches /{cond.text.pattern}/")
    if cond.tags_any is not None:
        parts.append(f"tags include any of {_show(cond.tags_any)}")
    if cond.tags_all is not None:
        parts.append(f"tags include all of {_show(cond.tags_all)}")
    for key, name in _LISTS:
        allowed = getattr(cond, key)
        if allowed is not None:
            parts.append(f"{name} is one of {_show(allowed)}")
    for fc in cond.field or ():
        parts.append(f"field {fc.name} is one of {_show(fc.in_)}")
    if cond.all is not None:
        parts.append("all of (" + "; ".join(describe(c) for c in cond.all) + ")")
    if cond.any is not None:
        parts.append("any of (" + "; ".join(describe(c) for c in cond.any) + ")")
    if cond.not_ is not None:
        parts.append(f"not ({describe(cond.not_)})")
    return " and ".join(parts)


def _leaves(cond: Condition) -> list[Matcher]:
    out: list[Matcher] = []
    if cond.text is not None:
        pattern = cond.text

        def text(facts: Facts) -> Reasons | None:
            m = pattern.search(facts.text)
            return [f"text matches /{pattern.pattern}/ at \"{_excerpt(m.group(0))}\""] if m else None

        out.append(text)
    if cond.tags_any is not None:
        wanted = frozenset(cond.tags_any)
        shown = _show(cond.tags_any)

        def tags_any(facts: Facts) -> Reasons | None:
            hit = [t for t in facts.ticket.tags if t in wanted]
            return [f"tags include {', '.join(hit)} (any of {shown})"] if hit else None

        out.append(tags_any)
    if cond.tags_all is not None:
        needed = frozenset(cond.tags_all)
        shown_all = _show(cond.tags_all)

        def tags_all(facts: Facts) -> Reasons | None:
            return [f"tags include all of {shown_all}"] if needed.issubset(facts.ticket.tags) else None

        out.append(tags_all)
    simple: list[tuple[str, tuple[str, ...] | None, Callable[[Facts], Any]]] = [
        ("channel", cond.channel, lambda f: f.ticket.channel),
        ("status", cond.status, lambda f: f.ticket.status),
        ("group", cond.group, lambda f: f.ticket.group),
        ("source", cond.source, lambda f: f.source),
        ("account", cond.account, lambda f: f.account),
        ("priority", cond.priority, lambda f: f.ticket.priority),
        ("severity", cond.severity, lambda f: f.severity),
        ("requester tier", cond.requester_tier, lambda f: f.ticket.requester.tier),
        ("requester org", cond.requester_org, lambda f: f.ticket.requester.org),
    ]
    for name, allowed, get in simple:
        if allowed is not None:
            out.append(_in(name, allowed, get))
    for fc in cond.field or ():
        field_name = fc.name
        allowed_set = frozenset(fc.in_)
        shown_in = _show(fc.in_)

        def field(facts: Facts, field_name: str = field_name, allowed_set: frozenset[str] = allowed_set,
                  shown_in: str = shown_in) -> Reasons | None:
            value = facts.ticket.fields.get(field_name)
            values = value if isinstance(value, list | tuple) else [value]
            for v in values:
                if v is not None and _norm(v) in allowed_set:
                    return [f"field {field_name} is {_norm(v)} (in {shown_in})"]
            return None

        out.append(field)
    return out


# which parts of the facts each leaf condition reads
_READS = {"text": ("subject", "description"), "tags_any": ("tags",), "tags_all": ("tags",), "channel": ("channel",),
          "status": ("status",), "group": ("group",), "source": (), "account": (), "priority": ("priority",),
          "severity": ("priority",), "requester_tier": ("requester",), "requester_org": ("requester",),
          "field": ("fields",)}


def ticket_fields_read(conditions: Sequence[Condition | None]) -> tuple[str, ...]:
    """Return the `Ticket` attributes these conditions read (source and account are always read)."""
    found: set[str] = set()

    def walk(cond: Condition | None) -> None:
        if cond is None:
            return
        for key in cond.model_fields_set:
            if key in _READS:
                found.update(_READS[key])
        for sub in (cond.all or ()) + (cond.any or ()):
            walk(sub)
        walk(cond.not_)

    for cond in conditions:
        walk(cond)
    return tuple(sorted(found))


def compile_condition(cond: Condition | None) -> Matcher:
    """Return a matcher for a condition; ``None`` compiles to one that always matches."""
    if cond is None:
        return _always
    parts = _leaves(cond)
    if cond.all is not None:
        subs_all = [compile_condition(c) for c in cond.all]

        def all_of(facts: Facts) -> Reasons | None:
            reasons: Reasons = []
            for sub in subs_all:
                r = sub(facts)
                if r is None:
                    return None
                reasons.extend(r)
            return reasons

        parts.append(all_of)
    if cond.any is not None:
        subs_any = [compile_condition(c) for c in cond.any]

        def any_of(facts: Facts) -> Reasons | None:
            for sub in subs_any:
                r = sub(facts)
                if r is not None:
                    return r
            return None

        parts.append(any_of)
    if cond.not_ is not None:
        inner = compile_condition(cond.not_)
        # a `not` holds when its condition does not: the reason names that condition (there is nothing in the
        # ticket to point at, unlike the other reasons)
        held = [f"not ({describe(cond.not_)}): false for this ticket, so the not holds"]

        def not_(facts: Facts) -> Reasons | None:
            return list(held) if inner(facts) is None else None

        parts.append(not_)
    if len(parts) == 1:
        return parts[0]

    def every(facts: Facts) -> Reasons | None:
        reasons: Reasons = []
        for part in parts:
            r = part(facts)
            if r is None:
                return None
            reasons.extend(r)
        return reasons

    return every
