"""Every problem at once (issue 11 §7), and names that fit where they end up."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from connector.config import parse_config
from connector.errors import ConfigError

EXAMPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "example.yaml").read_text())


def problems(data) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_a_missing_calendar_is_reported_even_when_the_policies_section_is_broken_elsewhere():
    data = copy.deepcopy(EXAMPLE)
    data["policies"][0]["calendar"] = "nope"
    data["policies"][0]["targets"]["P2"]["calendar"] = "nowhere"
    data["policies"][-1]["targets"]["P1"]["first_response"] = "soon"   # breaks the whole section
    data["escalations"] = "broken"                                     # and another section
    found = problems(data)
    assert "policies[0].calendar: unknown calendar 'nope' (defined: 24x7, always, business, follow-the-sun)" in found
    assert any(p.startswith("policies[0].targets.P2.calendar: unknown calendar 'nowhere'") for p in found)
    assert any(p.startswith("policies[1].targets.P1.first_response: 'soon' is not a duration") for p in found)
    assert any(p.startswith("escalations:") for p in found)


def test_a_missing_calendar_in_a_valid_section_is_reported_once():
    data = copy.deepcopy(EXAMPLE)
    data["policies"][0]["calendar"] = "nope"
    assert [p for p in problems(data) if "nope" in p] == [
        "policies[0].calendar: unknown calendar 'nope' (defined: 24x7, always, business, follow-the-sun)"]


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["severities"].__setitem__(0, "P" * 33), "severities[0]: a name is 1-32 printable characters"),
    (lambda d: d["policies"][0].__setitem__("name", "n" * 256), "policies[0].name: a name is 1-255"),
    (lambda d: d["escalations"][0].__setitem__("name", "bad\x00name"), "escalations[0].name: a name holds a control"),
])
def test_names_must_fit_the_store(mutate, expected):
    data = copy.deepcopy(EXAMPLE)
    mutate(data)
    assert any(p.startswith(expected) for p in problems(data)), problems(data)
