"""Severity classification: first matching rule wins, else the declared priority, else the default.

The result keeps everything an audit needs to show *why*: the declared severity (from the source's
priority through `priority_map`), the classified severity, the rule that fired (or ``priority_map`` /
``default``) and the conditions of that rule that held.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from connector.rules.conditions import Facts, Matcher, compile_condition

if TYPE_CHECKING:
    from connector.config import Config

RULE_PRIORITY_MAP = "priority_map"
RULE_DEFAULT = "default"


class SeverityResult(msgspec.Struct, frozen=True, kw_only=True):
    declared: str | None
    classified: str
    rule: str
    matched: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"declared": self.declared, "classified": self.classified, "rule": self.rule,
                "matched": list(self.matched)}


class Classifier:
    """Classify tickets with the config's `classification` rules and `priority_map`."""

    __slots__ = ("_rules", "_priority_map", "_default")

    def __init__(self, config: Config) -> None:
        self._rules: list[tuple[str, str, Matcher]] = [
            (rule.name, rule.severity, compile_condition(rule.when)) for rule in config.classification.rules
        ]
        self._priority_map = {src: dict(m) for src, m in config.priority_map.items()}
        self._default = config.classification.default

    def declared(self, facts: Facts) -> str | None:
        """Return the severity the source's own priority maps to, if any."""
        priority = facts.ticket.priority
        if priority is None:
            return None
        return self._priority_map.get(facts.source, {}).get(priority)

    def classify(self, facts: Facts) -> SeverityResult:
        """Return the classified severity and the reason for it."""
        declared = self.declared(facts)
        probe = Facts(source=facts.source, account=facts.account, ticket=facts.ticket, severity=declared)
        for name, severity, match in self._rules:
            reasons = match(probe)
            if reasons is not None:
                return SeverityResult(declared=declared, classified=severity, rule=name, matched=tuple(reasons))
        if declared is not None:
            return SeverityResult(declared=declared, classified=declared, rule=RULE_PRIORITY_MAP,
                                  matched=(f"priority {facts.ticket.priority} maps to {declared}",))
        return SeverityResult(declared=None, classified=self._default, rule=RULE_DEFAULT,
                              matched=("no rule matched and the ticket has no mapped priority",))
