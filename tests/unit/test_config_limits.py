"""The config's bounds: what it accepts, the rest of the connector can use without a traceback.

Note templates are bare placeholders (filled without `str.format`), every duration fits the business calendar
it runs on, every number is finite and in range, and a config file is UTF-8 of a bounded size.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import ConfigError, load_config, yamltext
from connector.config import BOARD_AHEAD, MAX_DURATION, parse_config, parse_duration
from connector.rules.calendar import BusinessCalendar
from connector.rules.engine import Rulebook
from connector.templates import NOTE_FIELDS, fill, template_problem
from tests.helpers import config, config_data, event, utc

ROOT = Path(__file__).resolve().parents[2]
FIRST = datetime(1970, 1, 1, tzinfo=UTC)                # the accepted range of instants (docs/decisions.md)
LAST = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


def problems(data: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def with_note(template: str, *, kind: str = "add_note") -> dict[str, Any]:
    action = {"add_note": template} if kind == "add_note" else {"notify": {"target": "oncall", "message": template}}
    return config_data(escalations=[{"name": "warn", "when": {"metric": "first_response", "at": "50%"},
                                     "actions": [action]}])


# --- note templates --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "name"), [
    ("{due_at:%Y}", "due_at"), ("{due_at:d}", "due_at"), ("{due_at:>99999999999}", "due_at"), ("{due_at!r}", "due_at"),
    ("{due_at!s}", "due_at"), ("{due_at.year}", "due_at"), ("{due_at[0]}", "due_at"), ("{due_at:}", "due_at"),
    ("{ticket_id!a:>3}", "ticket_id"),
])
@pytest.mark.parametrize("kind", ["add_note", "notify"])
def test_a_placeholder_with_a_format_spec_or_conversion_is_refused_naming_key_and_placeholder(template, name, kind):
    where = "add_note" if kind == "add_note" else "notify.message"
    (problem,) = problems(with_note(f"due {template} soon", kind=kind))
    assert problem == (f"escalations[0].actions[0].{where}: placeholder {template}: a placeholder is a bare name "
                       f"such as {{{name}}} (no format spec, conversion, attribute or index)")


@pytest.mark.parametrize(("template", "problem"), [
    ("{due_at", "a single '{' at character 1: write {{ for a literal brace"),
    ("due } soon", "a single '}' at character 5: write }} for a literal brace"),
    ("{due_at:{ticket_id}}", "a single '{' at character 1"),
    ("{when}", "unknown placeholder {when}; use {ticket_id}, "),
    ("{" + "x" * 100 + "}", "unknown placeholder {" + "x" * 40 + "…}; use"),
])
def test_braces_that_are_no_bare_placeholder_are_refused(template, problem):
    (found,) = problems(with_note(template))
    assert found.startswith(f"escalations[0].actions[0].add_note: {problem}"), found


def test_an_agreements_escalation_template_is_checked_too():
    data = config_data(teams={"eng": {"groups": ["eng"]}}, olas=[{
        "name": "triage", "team": "eng", "targets": {"P3": {"ownership": "4h"}},
        "escalations": [{"name": "late", "when": {"metric": "ownership", "breached": True},
                         "actions": [{"add_note": "{target:>999999999}"}]}]}])
    (problem,) = problems(data)
    assert problem.startswith("olas[0].escalations[0].actions[0].add_note: placeholder {target:>999999999}")


VALUES = {name: f"<{name}>" for name in NOTE_FIELDS} | {"cycle": 2}
PIECES = st.one_of(st.sampled_from(["{", "}", "{{", "}}", ":", "!", ".", "[0]", "%Y", ">99999999999", "{0}", "{}"]),
                   st.sampled_from([f"{{{name}}}" for name in NOTE_FIELDS]),
                   st.sampled_from(NOTE_FIELDS), st.text(max_size=4))
TEMPLATES = st.lists(PIECES, max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(TEMPLATES)
def test_filling_never_raises_and_is_format_map_for_every_accepted_template(template):
    filled = fill(template, VALUES)  # whatever the text
    if template_problem(template) is None:
        assert filled == template.format_map(VALUES)
    else:
        with pytest.raises(ConfigError):  # the config refuses it, so no note is ever filled from it
            parse_config(with_note(template))


def test_a_ticket_id_or_escalation_name_with_braces_is_plain_text_in_the_default_message():
    """The default notify message is built from the ticket id and the escalation's name: not a template."""
    cfg = config(escalations=[{"name": "late {due_at:%Y}", "when": {"breached": True, "metric": "first_response"},
                               "actions": [{"notify": "oncall"}, {"add_note": "{ticket_id} {{x}}"}]}])
    book = Rulebook(cfg)
    created = event("2026-03-02 10:00", "ticket.created", ticket_id="{due_at:>99999999999}",
                    created="2026-03-02 10:00")
    (state,) = book.run([created]).values()
    notify, note = [a for a in book.evaluate(state, utc("2026-03-05 15:00")).actions if a.cause.startswith("late")]
    assert notify.params["message"] == ("late {due_at:%Y}: first_response of ticket {due_at:>99999999999} is "
                                        "breached")
    assert note.params["body"] == "{due_at:>99999999999} {x}"


# --- durations and the calendar --------------------------------------------------------------------------------

TARGET = ("policies", 0, "targets", "P3", "first_response")


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node: Any = data
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    return data


def _with_duration(key: str, value: Any) -> tuple[dict[str, Any], str]:
    data = config_data()
    if key == "target":
        return _set(data, TARGET, value), "policies[0].targets.P3.first_response"
    if key == "remaining":
        data["escalations"] = [{"name": "soon", "when": {"remaining": value}, "actions": [{"add_tags": ["x"]}]}]
        return data, "escalations[0].when.remaining"
    if key == "ola":
        data["teams"] = {"eng": {"groups": ["eng"]}}
        data["olas"] = [{"name": "triage", "team": "eng", "targets": {"P3": {"ownership": value}}}]
        return data, "olas[0].targets.P3.ownership"
    return _set(data, ("reports", "audit", key), value), f"reports.audit.{key}"


@pytest.mark.parametrize("key", ["target", "remaining", "ola", "pause_within", "lowered_within"])
@pytest.mark.parametrize("value", ["99999999999999999999d", "100000d", "366d", "8760h1s", 31536001, 10**30,
                                   float("inf"), float("nan"), "9" * 400 + "s"])
def test_a_duration_over_a_year_or_not_finite_is_refused_at_its_key(key, value):
    data, path = _with_duration(key, value)
    (problem,) = problems(data)
    assert problem.startswith(f"{path}: "), problem
    assert "longer than 365d" in problem or "not a duration" in problem or "finite" in problem, problem


def test_the_longest_duration_is_accepted():
    assert parse_duration("365d") == parse_duration("8760h") == MAX_DURATION
    cfg = parse_config(_with_duration("target", "365d")[0])
    assert cfg.policies[0].targets["P3"].first_response == MAX_DURATION


def _on_calendar(spec: Any, target: str, metric: str = "resolution") -> dict[str, Any]:
    data = config_data()
    data["calendars"]["sparse"] = spec
    return _set(_set(data, ("policies", 0, "targets", "P3", metric), target),
                ("policies", 0, "targets", "P3", "calendar"), "sparse")


def test_a_target_its_calendar_cannot_hold_before_2200_is_refused_at_its_key():
    one_hour_a_week = {"hours": {"mon": ["09:00-10:00"]}}  # 5,218 h in the 100 years after 2099: 217 days
    (problem,) = problems(_on_calendar(one_hour_a_week, "365d"))
    assert problem.startswith("policies[0].targets.P3.resolution: 365d of business time does not fit: calendar "
                              "'sparse' opens 217d10h of business time in the 100 years after 2099"), problem
    cfg = parse_config(_on_calendar(one_hour_a_week, "200d"))
    assert cfg.calendar("sparse").add(LAST, 200 * 86400).year < 2200


def test_a_calendar_whose_holidays_cover_the_years_after_the_range_is_refused():
    mondays = [date(2100, 1, 4) + timedelta(weeks=n) for n in range(5300)]  # every Monday of 2100-2201
    spec = {"hours": {"mon": ["09:00-17:00"]}, "holidays": {"dates": [d.isoformat() for d in mondays]}}
    found = problems(_on_calendar(spec, "1h"))
    assert found[0].startswith("calendars.sparse: calendar 'sparse' opens 0s of business time in the 100 years "
                               "after 2099, the last year an event may have; a calendar must hold at least a day")
    assert all(p.startswith(("calendars.sparse:", "policies[0].targets.P3.")) for p in found)


def test_a_calendar_that_holds_less_than_the_boards_day_is_refused_even_without_targets():
    data = config_data()
    data["calendars"]["tiny"] = {"hours": {"mon": ["09:00:00-09:00:01"]}}  # a second a week
    (problem,) = problems(data)
    assert problem.startswith("calendars.tiny: calendar 'tiny' opens 1h26m58s of business time")


def test_an_agreements_target_is_held_by_its_own_calendar():
    data = config_data(teams={"eng": {"groups": ["eng"]}})
    data["calendars"]["sparse"] = {"hours": {"mon": ["09:00-10:00"]}}
    data["olas"] = [{"name": "triage", "team": "eng", "calendar": "sparse", "targets": {"P3": {"ownership": "300d"}}}]
    (problem,) = problems(data)
    assert problem.startswith("olas[0].targets.P3.ownership: 300d of business time does not fit: calendar 'sparse'")


ZONES = ["UTC", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@st.composite
def calendars(draw: Any) -> dict[str, Any]:
    """Calendars down to the sparsest: one window a week of one second to a day, overnight ones, DST zones,
    and blocks of holidays up to years long around the end of the accepted range."""
    hours: dict[str, list[str]] = {}
    for day in draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True)):
        start = draw(st.integers(0, 86399))
        length = draw(st.sampled_from([1, 59, 3600, 8 * 3600, 86400 - 1, 86400]) | st.integers(1, 86400))
        end = (start + length) % 86400
        hours[day] = [f"{start // 3600:02}:{start // 60 % 60:02}:{start % 60:02}-"
                      f"{end // 3600:02}:{end // 60 % 60:02}:{end % 60:02}"]
    spec: dict[str, Any] = {"timezone": draw(st.sampled_from(ZONES)), "hours": hours}
    blocks = draw(st.lists(st.tuples(st.integers(-400, 3 * 365), st.integers(1, 6 * 365)), max_size=2))
    dates = sorted({date(2099, 6, 1) + timedelta(days=first + n) for first, days in blocks for n in range(days)})
    if dates:
        spec["holidays"] = {"dates": [d.isoformat() for d in dates]}
    return spec


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars(), st.integers(1, 2 * MAX_DURATION), st.datetimes(min_value=datetime(1970, 1, 1),
                                                                  max_value=datetime(2099, 12, 31, 23, 59, 59)))
def test_the_core_can_add_every_target_an_accepted_config_gives_from_every_accepted_instant(spec, target, start):
    data = _on_calendar(spec, target)
    try:
        cfg = parse_config(data)
    except ConfigError as err:  # refused: at the key of what does not fit, never with a traceback
        assert err.problems and all(p.startswith(("calendars.sparse:", "policies[0].targets.P3."))
                                    for p in err.problems), err.problems
        return
    cal = cfg.calendar("sparse")
    # a clock started at any accepted instant, on a calendar that has built 1970 already (the most years one
    # calendar may come to span)
    early = BusinessCalendar.from_config(spec)
    early.between(FIRST, FIRST + timedelta(days=1))
    for amount in (target, BOARD_AHEAD):
        latest = cal.add(LAST, amount)  # from the latest instant: every other add ends no later
        assert latest < datetime(2200, 1, 1, tzinfo=UTC)
        assert early.add(start.replace(tzinfo=UTC), amount) <= latest


# --- numbers --------------------------------------------------------------------------------------------------

CONTRACT = {"name": "c", "organizations": ["Initech"], "fee": 1000,
            "credits": [{"below": "95%", "credit": "5%"}, {"below": "80%", "credit": "15%"}]}


@pytest.mark.parametrize(("path", "value", "problem"), [
    (("contracts", 0, "fee"), float("inf"), "contracts[0].fee: Input should be a finite number"),
    (("contracts", 0, "fee"), float("-inf"), "contracts[0].fee: Input should be a finite number"),
    (("contracts", 0, "fee"), float("nan"), "contracts[0].fee: Input should be a finite number"),
    (("contracts", 0, "fee"), "1e400", "contracts[0].fee: Input should be a finite number"),
    (("contracts", 0, "fee"), 1e13, "contracts[0].fee: Input should be less than or equal to 1000000000000"),
    (("contracts", 0, "fee"), -1, "contracts[0].fee: Input should be greater than or equal to 0"),
    (("contracts", 0, "credits", 0, "below"), "nan%", "contracts[0].credits[0].below: 'nan%' must be between"),
    (("contracts", 0, "credits", 0, "credit"), float("inf"), "contracts[0].credits[0].credit: inf must be between"),
    (("escalations", 0, "when", "at"), "nan", "escalations[0].when.at: 'nan' must be above 0%"),
    (("sources", "webhook", "timeout_seconds"), float("inf"), "sources.webhook.timeout_seconds: inf is not a"),
    (("sources", "webhook", "timeout_seconds"), 0, "sources.webhook.timeout_seconds: must be more than 0 and at "
                                                   "most 120 seconds"),
    (("sources", "webhook", "timeout_seconds"), "1h", "sources.webhook.timeout_seconds: must be more than 0"),
    (("sources", "freshdesk", "due_readback_delay"), float("nan"), "sources.freshdesk.due_readback_delay: nan is"),
    (("writeback", "max_attempts"), 101, "writeback.max_attempts: Input should be less than or equal to 100"),
    (("writeback", "max_attempts"), 10**30, "writeback.max_attempts: Input should be less than or equal to 100"),
    (("reports", "audit", "bounced_over"), -1, "reports.audit.bounced_over: Input should be greater than or equal"),
])
def test_every_number_is_finite_and_in_range_named_by_its_key(path, value, problem):
    data = config_data(contracts=[copy.deepcopy(CONTRACT)],
                       escalations=[{"name": "e", "when": {"at": "50%"}, "actions": [{"add_tags": ["x"]}]}])
    found = problems(_set(data, path, value))
    assert any(p.startswith(problem) for p in found), found


def test_the_largest_fee_and_attempts_are_accepted():
    cfg = config(contracts=[{**CONTRACT, "fee": 1e12}], writeback={"max_attempts": 100},
                 sources={"webhook": {"timeout_seconds": "2m"}})
    assert (cfg.contracts[0].fee, cfg.writeback.max_attempts, cfg.sources["webhook"].timeout_seconds) == \
        (1e12, 100, 120)


# --- the file itself -------------------------------------------------------------------------------------------

EXAMPLE = (ROOT / "config" / "example.yaml").read_text(encoding="utf-8")
LATIN_1 = EXAMPLE.replace("# Example configuration", "# Café configuration").encode("latin-1", "replace")


@pytest.mark.parametrize(("content", "problem"), [
    (LATIN_1, r"is not UTF-8: byte 5 \(line 1\) is 0xe9 \(save it as UTF-8\)"),
    (EXAMPLE.encode("utf-16"), "is not UTF-8: it begins with a UTF-16 or UTF-32 byte-order mark"),
    (b"\xfe\xff" + EXAMPLE.encode("utf-16-be"), "is not UTF-8: it begins with a UTF-16"),
    (EXAMPLE.encode("utf-32"), "is not UTF-8: it begins with a UTF-16 or UTF-32 byte-order mark"),
    (b"\x00\x00\xfe\xff" + EXAMPLE.encode("utf-32-be"), "is not UTF-8: it begins with a UTF-16 or"),
    (EXAMPLE.encode("utf-16-le"), r"is not UTF-8: byte \d+ \(line 1\)|not valid YAML"),  # no mark: NULs
])
def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path, content, problem):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.encode("utf-8"))
    assert load_config(path).severities == ("P1", "P2", "P3", "P4")


def test_a_config_over_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(EXAMPLE.encode() + b"#" * yamltext.MAX_BYTES)
    with pytest.raises(ConfigError, match=r"is over 4 MiB \(4,194,304 bytes\), the most a YAML file may have"):
        load_config(path)
    with pytest.raises(ValueError, match="is over"):
        yamltext.read(tmp_path / "config.yaml", limit=100)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_that_never_ends_is_refused():
    with pytest.raises(ConfigError, match="is over 4 MiB"):
        load_config("/dev/zero")


def test_a_preset_that_is_not_utf8_is_a_problem_of_its_key(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "tool.yaml").write_bytes(b"mapping: {}\n# caf\xe9\n")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_data(sources={"tool": {"preset": "tool"}})), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == ["sources.tool.preset: tool.yaml is not UTF-8: byte 17 (line 2) is 0xe9 "
                                   "(save it as UTF-8)"]


@pytest.mark.parametrize(("text", "problem"), [
    ("holidays: {dates: [2026-02-30]}", r"not valid YAML at line 1, column 20: '2026-02-30' is not a valid "
                                        r"timestamp: day is out of range for month"),
    ("when: 2026-13-01 10:00:00", r"not valid YAML at line 1, column 7: '2026-13-01 10:00:00' is not a valid "
                                  r"timestamp: month must be in 1..12"),
    ("fee: " + "1" * 5000, r"not valid YAML at line 1, column 6: '1{40}…' is not a valid int: Exceeds the limit "
                           r"\(4300 digits\) for integer string conversion: value has 5000 digits$"),
])
def test_a_scalar_yaml_cannot_build_is_a_config_error_at_its_line(tmp_path, text, problem):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (found,) = info.value.problems
    assert re.match(problem, found), found


def test_the_check_of_scalars_works_on_the_pure_python_loader_too():
    """`ValuesChecked` goes before any loader, e.g. a safe loader without aliases (which needs the Python parser)."""

    class Checked(yamltext.ValuesChecked, yaml.SafeLoader):
        pass

    with pytest.raises(yaml.YAMLError, match="'2026-02-30' is not a valid timestamp"):
        yaml.load("a: [2026-02-30]", Loader=Checked)  # noqa: S506 - a safe loader
    assert yaml.load("a: [2026-02-28, 1e3, 010]", Loader=Checked) == {"a": [date(2026, 2, 28), "1e3", 8]}  # noqa: S506


# --- aliases ----------------------------------------------------------------------------------------------


def _laughs(levels: int) -> str:
    """The "billion laughs": each line an anchored list of nine aliases of the line above (9**levels values)."""
    lines = ['l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join([*lines, f"severities: [{', '.join([f'*l{levels - 1}'] * 9)}]"]) + "\n"


def test_aliases_that_expand_past_the_limit_are_refused_at_their_line(tmp_path: Path):
    """Nine lines made a 500 MB config of 400 bytes (3.8 s), and a tenth would make 5 GB."""
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "line 7, column 5: through its aliases (*name) this expands to more than 1,000,000 values" in str(err.value)


@pytest.mark.parametrize("text", ["a: &a [1, *a]\n", "a: &a {x: *a}\n", "a: &a [[1, [*a]]]\n"])
def test_an_alias_inside_its_own_anchor_is_refused(text: str):
    with pytest.raises(yaml.YAMLError, match="an alias .* inside its own anchor's value"):
        yamltext.load(text)


@pytest.mark.parametrize("text", ["a: &a [1, 2]\nb: [*a, *a]\nc: {k: *a}\n", _laughs(5), "x: '*&'\n", "",
                                  "a: &a {p: 1}\nb:\n  <<: *a\n  q: 2\n"])
def test_aliases_within_the_limit_load_as_the_safe_loader_loads_them(text: str):
    assert yamltext.load(text) == yaml.safe_load(text)


# --- text rules that would backtrack for ever -------------------------------------------------------------


def _text_rule(pattern: str) -> dict[str, Any]:
    return config_data(classification={"default": "P3", "rules": [
        {"name": "words", "severity": "P1", "when": {"all": [{"tags_any": ["x"]}, {"text": pattern}]}}]})


@pytest.mark.parametrize("pattern", [r"(\w+\s?)+$", r"(a+)+", r"(a*)*b", r"(\d+,?)+x", r"(?:a+|b)+c",
                                     r"(?i)\b(x|((a+)+b)+)", r"(?=(a+)+)b"])
def test_a_group_of_nothing_but_repeats_repeated_is_refused_at_its_key(pattern: str):
    """`(\\w+\\s?)+$` on 30 word characters and a "!" takes Python's engine minutes: every way to split the run
    among the turns is tried. Ticket text is the sender's, the pattern the config's: refused at load."""
    [problem] = problems(_text_rule(pattern))
    assert problem.startswith("classification.rules[0].when.all[1].text: ")
    assert "repeats a group made only of repeats" in problem and "possessive" in problem


@pytest.mark.parametrize("pattern", [r"(.|\s)*x", r"(?s)(.|\n)*", r"(a|aa)+$", r"(a|b|ab)+c", r"(x(.|\s))+y",
                                     r"(?i)\b(error|(.|\s)*fatal)+"])
def test_a_repeated_choice_that_can_match_one_text_two_ways_is_refused_at_its_key(pattern: str):
    """`(.|\\s)*x` on 26 spaces takes Python's engine 13 s, `(x(.|\\s))+y` on 25 "x " pairs 5.7 s: each turn
    doubles the ways to try (a space is `.` and `\\s`), as `(a|aa)+` does with its turns."""
    [problem] = problems(_text_rule(pattern))
    assert problem.startswith("classification.rules[0].when.all[1].text: ")
    assert "can match one text in more than one way" in problem and "[\\s\\S]" in problem


@pytest.mark.parametrize("pattern", [r"(?i)\b(outage|is down|site down|data loss|cannot log ?in|500 error)\b",
                                     r".*down.*", r"(ab?)+", r"(a{2})+", r"(\d+\.)+\d+", r"[a-z]+(\s[a-z]+)*",
                                     r"((a|b)+c)+", r"(\w++\s?)+$", r"(?>\w+\s?)+$", r"(x(?=a+))+",
                                     r"(ab|ac)+$", r"(down|downtime)+", r"(foo|bar)*baz", r"(.|\n)*", r"(\s|\S)*",
                                     r"(\w|-|\d)+x", r"(?i)(a|b)+x", r"((a)|b\2)+", r"(?i)\b(p1|sev ?1|critical)\b"])
def test_a_repeat_with_a_fixed_part_or_that_gives_nothing_back_is_accepted(pattern: str):
    parse_config(_text_rule(pattern))


def test_more_severities_than_a_help_desk_uses_are_refused_at_the_key():
    """The severity audit's matrix is severities x severities: 5,000 made it 25 million cells (40 s, 495 MB)."""
    data = config_data()
    data["severities"] = [*data["severities"], *(f"S{n}" for n in range(97))]
    assert problems(data) == ["severities: Tuple should have at most 100 items after validation, not 101"]
    data["severities"] = data["severities"][:100]
    parse_config(data)
