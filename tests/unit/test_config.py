"""Config loading: the example validates, every problem is reported at once with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connector import ConfigError, load_config, yamltext
from connector.config import FreshdeskSourceConfig, SourceConfig, format_duration, parse_config, parse_duration
from tests.helpers import config

ROOT = Path(__file__).resolve().parents[2]


def base() -> dict:
    return yaml.safe_load((ROOT / "config" / "example.yaml").read_text())


def problems(data) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_example_config_loads_into_frozen_objects():
    cfg = load_config(ROOT / "config" / "example.yaml")
    assert cfg.severities == ("P1", "P2", "P3", "P4")
    assert cfg.policies[1].targets["P1"].resolution == 8 * 3600
    assert cfg.calendar("business").timezone.key == "America/New_York"
    assert cfg.calendar("24x7").always_open
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on frozen assignment
        cfg.policies[0].name = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("4h", 14400), ("2d", 172800), ("1h30m", 5400), ("1.5h", 5400), (90, 90),
    ("0s", 0),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["4x", "", "h", "-1h", True, "1 hour", None])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_round_trips_common_values():
    assert [format_duration(s) for s in (30, 900, 5400, 172800, 0)] == ["30s", "15m", "1h30m", "2d", "0s"]


def test_a_bad_duration_names_its_key_path():
    data = base()
    data["policies"][1]["targets"]["P1"]["resolution"] = "4x"
    assert problems(data) == ["policies[1].targets.P1.resolution: '4x' is not a duration (use e.g. 30s, 15m, 4h, 2d)"]


def test_every_problem_is_reported_at_once():
    data = base()
    data["policies"][0]["targets"]["P2"]["first_response"] = "soon"
    data["classification"]["rules"][0]["when"] = {"text": "(unclosed"}
    data["escalations"][0]["when"]["colour"] = "red"
    data["calendars"]["business"]["hours"] = {"mon-fri": ["25:00-26:00"]}
    found = problems(data)
    assert len(found) == 4
    assert any(p.startswith("policies[0].targets.P2.first_response:") for p in found)
    assert any(p.startswith("classification.rules[0].when.text: '(unclosed' is not a valid regular expression")
               for p in found)
    assert "escalations[0].when.colour: unknown key" in found
    assert any(p.startswith("calendars.business.hours.mon-fri[0]:") for p in found)


def test_unknown_keys_are_errors_at_every_level():
    data = base()
    data["polices"] = []
    data["policies"][0]["pause_onn"] = ["pending"]
    assert problems(data) == ["polices: unknown key", "policies[0].pause_onn: unknown key"]


def test_cross_references_are_checked():
    data = base()
    data["policies"][0]["calendar"] = "nowhere"
    data["policies"][1]["targets"]["P9"] = {"resolution": "1h"}
    data["classification"]["default"] = "P7"
    data["priority_map"]["zendesk"]["urgent"] = "P0"
    data["escalations"][0]["when"]["severity"] = ["P5"]
    found = problems(data)
    assert "policies[0].calendar: unknown calendar 'nowhere' (defined: 24x7, always, business, follow-the-sun)" in found
    assert any(p.startswith("policies[1].targets.P9: unknown severity 'P9'") for p in found)
    assert any(p.startswith("classification.default: unknown severity 'P7'") for p in found)
    assert any(p.startswith("priority_map.zendesk.urgent: unknown severity 'P0'") for p in found)
    assert any(p.startswith("escalations[0].when.severity: unknown severity 'P5'") for p in found)


def test_cross_references_are_checked_even_when_another_section_is_broken():
    data = base()
    data["policies"][0]["calendar"] = "nowhere"
    data["escalations"][0]["when"] = {"metric": "first_response"}  # no threshold
    found = problems(data)
    assert any(p.startswith("policies[0].calendar: unknown calendar 'nowhere'") for p in found)
    assert any(p.startswith("escalations[0].when: give exactly one of") for p in found)


def test_a_broken_calendar_is_reported_once():
    data = base()
    data["calendars"]["business"]["timezone"] = "Mars/Olympus_Mons"
    assert problems(data) == ["calendars.business.timezone: 'Mars/Olympus_Mons' is not an IANA time zone"]


def test_escalation_threshold_and_note_template_are_validated():
    data = base()
    data["escalations"][0]["when"]["at"] = "175%"
    data["escalations"][0]["actions"][1]["add_note"] = "due {when}"
    found = problems(data)
    assert any(p.startswith("escalations[0].when.at: '175%' must be above 0% and at most 100%") for p in found)
    assert any(p.startswith("escalations[0].actions[1].add_note: unknown placeholder {when}") for p in found)


def test_an_action_has_exactly_one_kind():
    data = base()
    data["escalations"][0]["actions"][0] = {"add_tags": ["x"], "set_group": "y"}
    assert any(p.startswith("escalations[0].actions[0]: an action has exactly one of") for p in problems(data))


def test_set_priority_takes_the_help_desk_value_not_a_severity():
    data = base()
    data["escalations"][3]["actions"][2] = {"set_priority": "P1"}
    assert any("give the help desk's priority" in p for p in problems(data))


def test_version_and_required_sections():
    assert "version: Input should be 1" in problems({**base(), "version": 2})
    found = problems({"version": 1})
    assert "severities: required key is missing" in found and "classification: required key is missing" in found


def test_priority_map_keys_may_be_numbers():
    cfg = config(priority_map={"freshdesk": {4: "P1", 1: "P4"}})
    assert cfg.declared_severity("freshdesk", "4") == "P1"


def test_load_config_reports_missing_files_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\npolicies: [\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(empty)


YAML_ODDITIES = """
plain: [yes, no, on, off, ~, null, 010, 0o10, 0x1F, 1_000, 1e3, .inf, -.nan, 2026-03-02, 2026-03-02 09:00:00Z]
quoted: ["yes", '010', "\\u00e9", "tab\\there"]
anchor: &a {k: v}
alias: *a
merged: {<<: *a, k2: w}
block: |
  two
  lines
folded: >
  one
  line
"""


def test_the_c_yaml_parser_reads_every_shipped_file_as_the_python_one_does():
    """`connector.yamltext` reads with libyaml when PyYAML has it; the values must be the pure-Python
    parser's, for the shipped configs, the presets and YAML 1.1's odd scalars."""
    assert yamltext.SafeLoader is yaml.CSafeLoader  # the wheels ship libyaml: the fast path is the one tested
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "config").rglob("*.yaml"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.yaml"))]
    assert len(texts) >= 6
    for text in texts:
        assert yamltext.load(text) == yaml.safe_load(text)
    # NaN is not equal to itself: the odd scalars are compared as text
    assert repr(yamltext.load(YAML_ODDITIES)) == repr(yaml.safe_load(YAML_ODDITIES))


@pytest.mark.parametrize("text", ["version: 1\npolicies: [\n", "a: \x00\n", "a: [1, 2\nb: {", "a: *nowhere\n",
                                  "a: \x85\x07\n"])
def test_bad_yaml_is_a_config_error_with_either_parser(tmp_path, text):
    for parse in (yamltext.load, yaml.safe_load):  # both refuse it
        with pytest.raises(yaml.YAMLError):
            parse(text)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_error_message_lists_every_problem():
    err = ConfigError(["a: x", "b: y"], source="f.yaml")
    assert str(err) == "invalid configuration in f.yaml (2 problems):\n  - a: x\n  - b: y"


# --- sources.freshdesk: who owns Freshdesk's due dates (issue 11, item 11) ------------------------------------

FRESHDESK_NATIVE = {"first_response": "fr_due_by", "resolution": "due_by"}


def test_the_freshdesk_section_has_its_own_keys_and_defaults():
    cfg = load_config(ROOT / "config" / "example.yaml")
    section = cfg.sources["freshdesk"]
    assert isinstance(section, FreshdeskSourceConfig) and type(cfg.sources["zendesk"]) is SourceConfig
    assert (section.due_by_owner, section.due_custom_fields, section.due_readback_delay) == ("auto", {}, 10)
    custom = config(sources={"freshdesk": {"due_fields": FRESHDESK_NATIVE, "due_by_owner": "freshdesk",
                                           "due_readback_delay": "30s",
                                           "due_custom_fields": {"resolution": "cf_sla_resolution_due"}}})
    section = custom.sources["freshdesk"]
    assert isinstance(section, FreshdeskSourceConfig)
    assert (section.due_by_owner, section.due_readback_delay) == ("freshdesk", 30)
    assert section.due_custom_fields == {"resolution": "cf_sla_resolution_due"}
    # a section given as a plain SourceConfig object is read with the Freshdesk keys' defaults
    given = parse_config({**base(), "sources": {"freshdesk": SourceConfig(due_fields=FRESHDESK_NATIVE)}})
    assert isinstance(given.sources["freshdesk"], FreshdeskSourceConfig)
    assert given.sources["freshdesk"].due_fields == FRESHDESK_NATIVE


@pytest.mark.parametrize(("section", "problem"), [
    ({"due_by_owner": "agents"}, "sources.freshdesk.due_by_owner: Input should be 'auto', 'connector' or 'freshdesk'"),
    ({"due_fields": {"resolution": "cf_sla_due"}},
     "sources.freshdesk.due_fields: resolution: 'cf_sla_due' is not a Freshdesk due field (due_by, fr_due_by)"),
    ({"due_fields": {**FRESHDESK_NATIVE, "next_response": "due_by"}},
     "sources.freshdesk.due_fields: two metrics are mapped to the same Freshdesk due field"),
    ({"due_custom_fields": {"resolution": "SLA due"}},
     "sources.freshdesk.due_custom_fields: resolution: 'SLA due' is not a Freshdesk custom field name"),
    ({"due_custom_fields": {"eventually": "cf_x"}}, "sources.freshdesk.due_custom_fields: unknown metric 'eventually'"),
    ({"due_custom_fields": {"resolution": "cf_x", "first_response": "cf_x"}},
     "sources.freshdesk.due_custom_fields: two metrics are mapped to the same custom field"),
    ({"due_readback_delay": "5m"}, "sources.freshdesk.due_readback_delay: must be more than 0 and at most 60"),
    ({"due_readback_delay": 0}, "sources.freshdesk.due_readback_delay: must be more than 0 and at most 60"),
    ({"due_by_owner": "auto", "typo": 1}, "sources.freshdesk.typo: unknown key"),
    (7, "sources.freshdesk: Input should be a valid dictionary"),
])
def test_the_freshdesk_due_settings_are_validated_by_key_path(section, problem):
    found = problems({**base(), "sources": {"freshdesk": section}})
    assert any(p.startswith(problem) for p in found), found


def test_freshdesk_keys_belong_to_the_freshdesk_section_only():
    found = problems({**base(), "sources": {"zendesk": {"due_by_owner": "auto"}, "freshdesk": {"due_by_owner": "x"}}})
    assert "sources.zendesk.due_by_owner: unknown key" in found
    assert any(p.startswith("sources.freshdesk.due_by_owner:") for p in found)
    # another section broken as well: the freshdesk problems are still all reported by key path
    found = problems({**base(), "policies": "x", "sources": {"freshdesk": {"due_readback_delay": -1}}})
    assert any(p.startswith("policies:") for p in found)
    assert any(p.startswith("sources.freshdesk.due_readback_delay:") for p in found)
