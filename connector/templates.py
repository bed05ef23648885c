"""The placeholders a note template may use, shared by the config (which checks templates when it loads) and
the rules core (which fills them in). A leaf module: it imports nothing of the connector, so neither the config
nor the rules import each other for it.
"""

from __future__ import annotations

import string

NOTE_FIELDS = ("ticket_id", "source", "account", "metric", "cycle", "severity", "policy", "escalation",
               "due_at", "breached_at", "target", "elapsed", "remaining", "late", "time_left", "status")


def template_fields(template: str) -> list[str]:
    """Return the placeholder names of a note template (raises ValueError on a malformed one)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
