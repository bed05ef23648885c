"""Severity classification: first matching rule wins, then the declared priority, then the default."""

from __future__ import annotations

from connector.rules.conditions import TEXT_SEARCHED, Facts
from connector.rules.severity import Classifier
from tests.helpers import config, event

CFG = config(classification={"default": "P3", "rules": [
    {"name": "outage", "severity": "P1",
     "when": {"all": [{"text": "(?i)\\b(outage|is down)\\b"}, {"not": {"tags_any": ["not_outage"]}}]}},
    {"name": "enterprise-vip", "severity": "P2",
     "when": {"requester_tier": ["enterprise"], "tags_any": ["vip", "urgent"]}},
    {"name": "billing", "severity": "P4",
     "when": {"any": [{"group": "billing"}, {"field": {"name": "category", "in": ["invoice", "refund"]}}]}},
    {"name": "chat-from-org", "severity": "P2",
     "when": {"channel": ["chat"], "requester_org": ["Initech"], "tags_all": ["a", "b"], "status": ["new", "open"]}},
    {"name": "declared-p1-on-api", "severity": "P1", "when": {"source": ["webhook"], "severity": ["P1"]}},
]})
CLASSIFIER = Classifier(CFG)


def classify(**kw):
    e = event("2026-03-02 10:00", **kw)
    return CLASSIFIER.classify(Facts(source=e.source, account=e.account, ticket=e.ticket))


def test_first_matching_rule_wins_and_says_why():
    r = classify(subject="Our site is down", tier="enterprise", tags=("vip",), priority="low")
    assert (r.classified, r.rule, r.declared) == ("P1", "outage", "P4")
    assert r.matched == ('text matches /(?i)\\b(outage|is down)\\b/ at "is down"',
                         "not (tags include any of [not_outage]): false for this ticket, so the not holds")


def test_not_blocks_a_rule():
    r = classify(subject="outage drill", tags=("not_outage",), priority="high")
    assert (r.classified, r.rule) == ("P2", "priority_map")


def test_implicit_all_of_leaf_conditions():
    assert classify(tier="enterprise", tags=("urgent",)).rule == "enterprise-vip"
    assert classify(tier="enterprise").rule == "priority_map"


def test_any_and_custom_fields():
    r = classify(fields={"category": "refund"})
    assert (r.classified, r.rule, r.matched) == ("P4", "billing", ("field category is refund (in [invoice, refund])",))
    assert classify(group="billing").rule == "billing"
    assert classify(fields={"category": ["other", "invoice"]}).rule == "billing"


def test_channel_org_tags_all_and_status():
    kw = {"channel": "chat", "org": "Initech", "tags": ("a", "b", "c")}
    assert classify(**kw).rule == "chat-from-org"
    assert classify(**{**kw, "tags": ("a",)}).rule == "priority_map"
    assert classify(**kw, status="pending").rule == "priority_map"


def test_declared_severity_is_available_to_rules():
    r = classify(source="webhook", priority="urgent")
    assert (r.rule, r.declared) == ("default", None)  # webhook has no priority_map entry here
    rules = CFG.classification.model_dump(by_alias=True)
    cfg = config(priority_map={"webhook": {"urgent": "P1"}}, classification=rules)
    e = event("2026-03-02 10:00", source="webhook", priority="urgent")
    assert Classifier(cfg).classify(Facts(source="webhook", account="a", ticket=e.ticket)).rule == "declared-p1-on-api"


def test_no_rule_and_no_priority_falls_back_to_default():
    r = classify(priority=None)
    assert (r.classified, r.rule, r.declared) == ("P3", "default", None)


def test_unmapped_priority_falls_back_to_default():
    assert classify(priority="whatever").rule == "default"


def test_text_rules_search_the_subject_and_the_descriptions_opening_only():
    """A pattern such as `.*down.*` fails in time quadratic in the text: on a 1 MiB description, minutes at every
    event of the ticket, the worker's other deliveries waiting. Text rules read the first TEXT_SEARCHED
    characters: a word there decides, the same word in a log pasted far below does not."""
    opening = "Checkout fails.\n" + "x" * 100 + " outage "
    assert classify(subject="Help", description=opening + "y" * 1_000_000).rule == "outage"
    late = "Checkout fails.\n" + "y" * TEXT_SEARCHED + " outage " + "z" * 1_000_000
    result = classify(subject="Help", description=late, priority="low")
    assert result.rule == "priority_map"
    e = event("2026-03-02 10:00", subject="Help", description=late)
    assert len(Facts(source=e.source, account=e.account, ticket=e.ticket).text) == TEXT_SEARCHED
