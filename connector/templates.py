"""The placeholders a note template may use, shared by the config (which checks templates when it loads) and
the rules core (which fills them in). A leaf module: it imports nothing of the connector, so neither the config
nor the rules import each other for it.

A template is text with bare placeholders such as ``{due_at}``, and ``{{``/``}}`` for a literal brace: no format
spec (``{due_at:%Y}``), conversion (``{due_at!r}``), attribute or index. `fill` substitutes the known names and
nothing else, so no part of a template ever reaches `str.format`: whatever the text, filling it cannot raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

NOTE_FIELDS = ("ticket_id", "source", "account", "metric", "cycle", "severity", "policy", "escalation",
               "due_at", "breached_at", "target", "elapsed", "remaining", "late", "time_left", "status")

_KNOWN = frozenset(NOTE_FIELDS)
# an escaped brace, a placeholder (anything between one brace pair), or a brace alone
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME_END = re.compile(r"[!:.\[]")
_SHOWN = 40  # characters of a placeholder a problem quotes


def template_problem(template: str) -> str | None:
    """Return why a note template is refused (the first problem, naming the placeholder), or None."""
    for match in _TOKEN.finditer(template):
        token, inner = match.group(), match.group(1)
        if token in ("{{", "}}") or inner in _KNOWN:
            continue
        if inner is None:
            return (f"a single {token!r} at character {match.start() + 1}: write {token * 2} for a literal brace, "
                    f"or a placeholder such as {{due_at}}")
        shown = "{" + (inner if len(inner) <= _SHOWN else inner[:_SHOWN] + "…") + "}"
        name = _NAME_END.split(inner, maxsplit=1)[0]
        if name in _KNOWN:
            return (f"placeholder {shown}: a placeholder is a bare name such as {{{name}}} (no format spec, "
                    f"conversion, attribute or index)")
        return f"unknown placeholder {shown}; use {', '.join('{' + f + '}' for f in NOTE_FIELDS)}"
    return None


@lru_cache(maxsize=256)
def _parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """A template as (literal text, placeholder name or None) pairs; anything not a known name stays text."""
    parts: list[tuple[str, str | None]] = []
    text: list[str] = []
    at = 0
    for match in _TOKEN.finditer(template):
        text.append(template[at:match.start()])
        token, inner = match.group(), match.group(1)
        if inner in _KNOWN:
            parts.append(("".join(text), inner))
            text = []
        else:
            text.append(token[0] if token in ("{{", "}}") else token)
        at = match.end()
    text.append(template[at:])
    parts.append(("".join(text), None))
    return tuple(parts)


def fill(template: str, values: Mapping[str, object]) -> str:
    """Return a template with each known placeholder replaced by `str(values[name])` and `{{`/`}}` by one brace.

    For a template `template_problem` accepts this is `template.format_map(values)`; any other brace is kept as
    written, so filling never raises, whatever the text (a template from an older config, a name with braces).
    """
    return "".join(text + ("" if name is None else str(values[name])) for text, name in _parts(template))
