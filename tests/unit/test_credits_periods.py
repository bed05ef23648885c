"""Service credits say what period each contract is measured over, and when the window covers only part of it."""

from __future__ import annotations

from typing import Any

from connector.reports.build import ReportOptions, build_report
from tests.report_support import NOW, example_config, example_events


def _credits(**options: Any) -> dict[str, Any]:
    return build_report("credits", example_config(), events=example_events(), now=NOW,
                        options=ReportOptions(**options))


def _row(report: dict[str, Any], contract: str, period: str) -> dict[str, Any]:
    return next(r for r in report["rows"] if (r["contract"], r["period"]) == (contract, period))


def test_march_of_a_quarterly_contract_is_a_partial_quarter_and_says_so():
    report = _credits(start="2026-03-01", end="2026-03-31")
    row = _row(report, "globex-standard", "2026-Q1")
    assert row["contract_period"] == "quarter" and row["partial"] is True
    # the quarter in New York (reports.timezone), and the part of it the window covers
    assert (row["period_start"], row["period_end"]) == ("2026-01-01T05:00:00Z", "2026-04-01T04:00:00Z")
    assert (row["counted_from"], row["counted_to"]) == ("2026-03-01T05:00:00Z", "2026-04-01T04:00:00Z")
    assert report["notes"] == [
        "globex-standard is a quarterly contract: 2026-Q1 runs 2026-01-01 to 2026-03-31, but the window covers only "
        "2026-03-01 to 2026-03-31 of it; clocks started outside the window are not counted, so this credit is for "
        "part of the quarter."]
    monthly = _row(report, "initech-enterprise", "2026-03")
    assert monthly["contract_period"] == "month" and monthly["partial"] is False
    assert (monthly["counted_from"], monthly["counted_to"]) == (monthly["period_start"], monthly["period_end"])


def test_a_window_of_whole_periods_is_not_partial():
    report = _credits(start="2026-01-01", end="2026-03-31")
    assert report["notes"] == []
    assert all(r["partial"] is False for r in report["rows"])
    assert {(r["contract"], r["contract_period"]) for r in report["rows"]} >= {
        ("globex-standard", "quarter"), ("initech-enterprise", "month"), ("test-globex", "month")}


def test_without_a_window_nothing_is_cut():
    report = _credits()
    assert report["notes"] == [] and report["rows"]
    assert all(not r["partial"] and r["counted_from"] == r["period_start"] for r in report["rows"])


def test_a_window_cut_at_both_ends_names_both_days():
    report = _credits(start="2026-02-10", end="2026-02-20")
    note = next(n for n in report["notes"] if n.startswith("globex-standard"))
    assert "2026-Q1 runs 2026-01-01 to 2026-03-31, but the window covers only 2026-02-10 to 2026-02-20" in note
    assert any(n.startswith("initech-enterprise is a monthly contract: 2026-02 runs 2026-02-01 to 2026-02-28")
               for n in report["notes"])
