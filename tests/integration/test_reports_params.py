"""Report parameters out of range (issue 11): a 400 naming the parameter on the web, exit 1 naming the option on
the command line, never a 5xx or a traceback; then Hypothesis throws huge, negative, NaN-ish, year 0001/9999,
10,000-character and NUL values at every parameter of every report."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from click.testing import CliRunner
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.cli import main
from connector.config import Config
from connector.reports.build import REPORTS
from connector.runtime.worker import TicketProcessor
from connector.service.reports import FORMATS, PARAMETERS
from connector.store import Store
from tests.integration.support import make_app
from tests.report_support import EXAMPLE_CONFIG, EXAMPLE_EVENTS, NOW, example_config, example_events


@pytest.fixture(scope="module")
def config() -> Config:
    return example_config()


@pytest.fixture
def api(store: Store, token: str, config: Config) -> Flask:
    processor = TicketProcessor(store, config, writers={}, clock=lambda: NOW)
    for event in example_events():
        processor.apply_event(event)
    app = make_app(store, token=token, config=config, clock=lambda: NOW)
    app.config["PROPAGATE_EXCEPTIONS"] = True  # a bug raises here with its traceback instead of becoming a 500
    return app


def _get(api: Flask, token: str, path: str):
    return api.test_client().get(path, headers={"Authorization": f"Bearer {token}"})


# (query, the parameter the reason names, words of the reason)
OUT_OF_RANGE = [
    ("breach_limit=99999999999999999999", "breach_limit", "from 0 to 100000"),
    ("breach_limit=100001", "breach_limit", "from 0 to 100000"),
    ("breach_limit=-1", "breach_limit", "whole number"),
    ("breach_limit=1e3", "breach_limit", "whole number"),
    ("breach_limit=NaN", "breach_limit", "whole number"),
    ("breach_limit=" + "9" * 99, "breach_limit", "from 0 to 100000"),
    ("to=9999-12-31", "to", "outside 1970-01-01 to 2099-12-31"),
    ("to=2100-01-01", "to", "outside 1970-01-01 to 2099-12-31"),
    ("from=0001-01-01", "from", "outside 1970-01-01 to 2099-12-31"),
    ("from=1969-12-31", "from", "outside 1970-01-01 to 2099-12-31"),
    ("from=0001-01-01T00:00:00%2B14:00", "from", "outside"),
    ("to=9999-12-31T23:59:59Z", "to", "outside"),
    ("from=2026-03-05&to=2026-03-01", "to", "must be after"),
    ("tz=Mars/Base", "tz", "unknown time zone"),
    ("period=fortnight", "period", "unknown period"),
    ("by=colour", "by", "unknown grouping"),
    ("tz=" + "x" * 10_000, "tz", "at most 100"),
    ("from=2026-03-01%00", "from", "printable"),
    ("format=pdf", "format", "must be one of"),
]


@pytest.mark.parametrize("query, parameter, words", OUT_OF_RANGE)
def test_out_of_range_is_400_naming_the_parameter(api: Flask, token: str, query: str, parameter: str, words: str):
    response = _get(api, token, f"/reports/sla?{query}")
    assert response.status_code == 400, response.get_data(as_text=True)
    data = response.get_json()
    assert data["error"] == "bad_request"
    assert data["reason"].startswith(f"{parameter}: ") and words in data["reason"]


def test_the_edges_of_the_range_are_accepted(api: Flask, token: str):
    # every format: the credits page read a period's end (2100-01-01T00:00:00Z) back as input and answered 500
    for query in ("from=1970-01-01&to=2099-12-31", "from=1970-01-01&tz=Asia/Tokyo", "to=2099-12-31",
                  "to=2099-12-31&tz=Pacific/Pago_Pago", "breach_limit=100000", "breach_limit=0",
                  "from=1970-01-01T00:00:00Z&to=2099-12-31T23:59:59Z"):
        for name in REPORTS:
            for fmt in FORMATS if "breach_limit" not in query else ("json",):
                if name == "sla" or "breach_limit" not in query:
                    response = _get(api, token, f"/reports/{name}?format={fmt}&{query}")
                    assert response.status_code == 200, (name, fmt, query, response.get_data(as_text=True)[:300])


# --- the command line ------------------------------------------------------------------------------------

CLI_OUT_OF_RANGE = [
    (["--breach-limit", "99999999999999999999"], "--breach-limit: must be a whole number from 0 to 100000"),
    (["--breach-limit", "-1"], "--breach-limit: must be a whole number"),
    (["--breach-limit", "nan"], "--breach-limit: must be a whole number"),
    (["--to", "9999-12-31"], "--to: '9999-12-31' is outside 1970-01-01 to 2099-12-31"),
    (["--from", "0001-01-01", "--tz", "Asia/Tokyo"], "--from: '0001-01-01' is outside"),
    (["--from", "0001-01-01T00:00:00+14:00"], "--from: '0001-01-01T00:00:00+14:00' is outside"),
    (["--to", "x" * 10_000], "--to: 'xxxx"),
    (["--from", "2026-03-01\x00"], "--from: "),
    (["--tz", "UTC\x00"], "--tz: unknown time zone"),
    (["--now", "9999-12-31T00:00:00Z"], "--now: '9999-12-31T00:00:00Z' is outside"),
]


@pytest.mark.parametrize("args, message", CLI_OUT_OF_RANGE)
def test_out_of_range_options_exit_1_naming_the_option(args: list[str], message: str):
    result = CliRunner().invoke(main, ["report", "sla", "--config", str(EXAMPLE_CONFIG), "--events",
                                       str(EXAMPLE_EVENTS), *args])
    assert result.exit_code == 1, result.output
    assert f"Error: {message}" in result.output and "Traceback" not in result.output
    assert len(result.output) < 400   # a 10,000-character value is cut short in the message


# --- fuzz ------------------------------------------------------------------------------------------------

HOSTILE = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["NaN", "nan", "inf", "-inf", "Infinity", "1e309", "-0", "0x10", "١٢", "²", "1_000", " 5 ",
                     "0001-01-01", "9999-12-31", "0000-00-00", "1969-12-31", "2100-01-01", "2099-12-31",
                     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-03-01T10:00", "2026-W10-1",
                     "Pacific/Kiritimati", "Etc/GMT+12", "../../etc/passwd", "quarter", "day", "metric,org",
                     "sla,sla", ",", "json", "csv", "html", ""]),
    st.text(max_size=30),
    # 10,000 characters: a valid beginning, then anything repeated
    st.builds(lambda head, fill: (head + fill * 10_000)[:10_000], st.sampled_from(["", "2026-03-01", "9", "UTC/"]),
              st.text(st.characters(codec="utf-8"), min_size=1, max_size=3)),
    st.text(max_size=10).map(lambda t: t + "\x00"),
)
QUERIES = st.dictionaries(st.sampled_from(PARAMETERS), HOSTILE, max_size=4)
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@FUZZ
@given(name=st.sampled_from(REPORTS), query=QUERIES)
def test_no_parameter_gets_a_5xx(api: Flask, token: str, name: str, query: dict[str, str]):
    if query.get("format") in ("html", "csv", None) and any(len(v) > 100 for v in query.values()):
        query = {**query, "format": "json"}  # keep the run short: a refused value never reaches a renderer
    path = f"/reports/{name}?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
    response = _get(api, token, path)
    assert response.status_code in (200, 400), (path[:300], response.get_data(as_text=True)[:300])
    if response.status_code == 400:
        data = response.get_json()
        assert data["error"] == "bad_request"
        named = data["reason"].split(":", 1)[0]
        assert named in PARAMETERS or named.startswith("unknown parameter"), data["reason"]


CLI_OPTIONS = st.sampled_from(["--from", "--to", "--tz", "--breach-limit", "--now", "--by"])


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(options=st.dictionaries(CLI_OPTIONS, HOSTILE.filter(lambda v: not v.startswith("-") or v[1:].isdigit()),
                               max_size=3))
def test_no_option_gets_a_traceback(options: dict[str, str]):
    args = [x for option, value in options.items() for x in (option, value)]
    result = CliRunner().invoke(main, ["report", "sla", "--config", str(EXAMPLE_CONFIG), "--events",
                                       str(EXAMPLE_EVENTS), *args])
    assert result.exit_code in (0, 1, 2), result.output[-500:]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert result.output.startswith("Error: --"), result.output[:300]


def test_the_cli_help_states_the_range():
    result = CliRunner().invoke(main, ["report", "sla", "--help"])
    assert result.exit_code == 0 and "0 to 100000" in " ".join(result.output.split())
