"""Reports: every number checked against a hand computation (24x7 calendars keep the arithmetic visible)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import EventError
from connector.events import Event
from connector.reports.audit import audit_report
from connector.reports.build import ReportError, ReportOptions, build_report
from connector.reports.dataset import collect
from connector.reports.stats import (
    MAX_PERIODS,
    TooManyPeriods,
    Window,
    parse_bound,
    percentile,
    period_bounds,
    period_count,
    period_label,
    placeable,
)
from tests.helpers import AGENT, CUSTOMER, config, event, utc

UTC_ = ZoneInfo("UTC")


def report_config(**overrides: Any):
    base: dict[str, Any] = dict(
        calendars={"business": {"timezone": "UTC", "hours": {"mon-fri": ["09:00-17:00"]}}},
        severities=["P1", "P2", "P3"],
        priority_map={"zendesk": {"urgent": "P1", "high": "P2", "normal": "P3"}},
        classification={"default": "P3", "rules": [
            {"name": "outage", "severity": "P1", "when": {"text": "(?i)outage"}}]},
        policies=[{"name": "standard", "calendar": "24x7", "pause_on": ["pending"],
                   "targets": {"P1": {"first_response": "1h", "resolution": "4h"},
                               "P2": {"first_response": "2h", "resolution": "8h"},
                               "P3": {"first_response": "4h", "resolution": "1d"}}}],
        escalations=[{"name": "resolution-breach", "when": {"metric": "resolution", "breached": True},
                      "actions": [{"add_tags": ["sla_breached"]}]}],
        contracts=[{"name": "acme-gold", "organizations": ["Acme"], "metrics": ["first_response"],
                    "period": "month", "fee": 1000, "currency": "USD",
                    "exclusions": [{"name": "customer-caused", "when": {"tags_any": ["customer_caused"]}}],
                    "credits": [{"below": "100%", "credit": "5%"}, {"below": "90%", "credit": "10%"},
                                {"below": "50%", "credit": "50%"}]}],
    )
    base.update(overrides)
    return config(**base)


def replied(ticket_id: str, created: str, reply_after: timedelta, *, solve_after: timedelta | None = None,
            org: str = "Acme", priority: str = "normal", tags: tuple[str, ...] = (), group: str = "support",
            subject: str = "Help") -> list[Event]:
    """A ticket created at `created` (UTC), answered after `reply_after`, optionally solved later."""
    start = utc(created)
    common = dict(ticket_id=ticket_id, org=org, priority=priority, tags=tags, group=group, subject=subject,
                  created=start)
    out = [event(start, "ticket.created", status="new", **common),
           event(start + reply_after, "comment.added", status="open", comment=AGENT, **common)]
    if solve_after is not None:
        out.append(event(start + solve_after, status="solved", **common))
    return out


# Four first replies after 1h, 2h, 3h and 5h on a 4h target: met 3, breached 1.
FOUR = [
    *replied("1", "2026-03-02 10:00", timedelta(hours=1), solve_after=timedelta(hours=10)),
    *replied("2", "2026-03-03 10:00", timedelta(hours=2), solve_after=timedelta(hours=10)),
    *replied("3", "2026-03-04 10:00", timedelta(hours=3), solve_after=timedelta(hours=30)),
    *replied("4", "2026-03-05 10:00", timedelta(hours=5), tags=("customer_caused",)),
]
NOW = utc("2026-03-06 10:00")


def row(report: dict[str, Any], **match: Any) -> dict[str, Any]:
    found = [r for r in report["rows"] if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, report["rows"])
    return found[0]


# --- percentiles ---------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == 25
    assert percentile(values, 90) == pytest.approx(37)      # position 2.7: 30 + 0.7 × 10
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 100) == 40
    assert percentile([7.0], 95) == 7
    assert percentile([], 50) is None


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=2, max_size=60), st.integers(1, 99))
def test_percentile_matches_the_inclusive_quantiles_of_the_standard_library(values: list[int], pct: int) -> None:
    expected = statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
    assert percentile(sorted(values), pct) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_periods_are_local_to_the_report_zone() -> None:
    at = utc("2026-03-31 23:30")
    assert period_label(at, "month", UTC_) == "2026-03"
    assert period_label(at, "month", ZoneInfo("Asia/Tokyo")) == "2026-04"
    assert period_label(at, "week", UTC_) == "2026-W14"
    assert period_label(at, "quarter", UTC_) == "2026-Q1"
    assert period_label(at, "day", ZoneInfo("America/New_York")) == "2026-03-31"


def test_a_date_as_upper_bound_includes_that_whole_day() -> None:
    assert parse_bound("2026-03-31", UTC_, end=True) == utc("2026-04-01 00:00")
    assert parse_bound("2026-03-01", ZoneInfo("America/New_York"), end=False) == utc("2026-03-01 05:00")
    assert parse_bound("2026-03-01T12:00:00Z", UTC_, end=True) == utc("2026-03-01 12:00")


# --- SLA attainment ------------------------------------------------------------------------------


def test_attainment_percentiles_and_breach_minutes_by_hand() -> None:
    report = build_report("sla", report_config(), events=FOUR, now=NOW)
    first = row(report, metric="first_response", severity="P3", policy="standard")
    # elapsed 3600, 7200, 10800, 18000; target 14400
    assert (first["tickets"], first["met"], first["breached"]) == (4, 3, 1)
    assert first["attainment_pct"] == 75.0
    assert first["p50_seconds"] == 9000          # (7200 + 10800) / 2
    assert first["p90_seconds"] == 15840         # 10800 + 0.7 × 7200
    assert first["p95_seconds"] == 16920         # 10800 + 0.85 × 7200
    assert first["max_seconds"] == 18000
    assert first["breach_seconds"] == 3600       # one hour late
    resolution = row(report, metric="resolution")
    # tickets 1 and 2 solved after 10h (met), 3 after 30h (> 1d: breached), 4 still open after 24h at NOW
    # (created 03-05 10:00, now 03-06 10:00: exactly at its due instant, not past it: running)
    assert (resolution["met"], resolution["breached"], resolution["running"]) == (2, 1, 1)
    assert resolution["attainment_pct"] == pytest.approx(66.67)
    assert resolution["p50_seconds"] == 36000 and resolution["max_seconds"] == 108000
    assert resolution["breach_seconds"] == 108000 - 86400
    assert report["breaches_total"] == 2
    assert [(b["ticket"]["id"], b["metric"], b["late_seconds"]) for b in report["breaches"]] == [
        ("3", "resolution", 21600), ("4", "first_response", 3600)]


def _durations(data: Any) -> list[tuple[str, Any]]:
    """Every `…_seconds` value anywhere in a report."""
    if isinstance(data, dict):
        return [(k, v) for k, v in data.items() if k.endswith("_seconds")] + \
            [d for v in data.values() for d in _durations(v)]
    if isinstance(data, list):
        return [d for v in data for d in _durations(v)]
    return []


def test_every_duration_of_every_report_is_whole_seconds() -> None:
    """Fractional instants and interpolated percentiles: whole seconds, the nearest, a half to the even one."""
    three = utc("2026-03-04 10:00")
    events = [*replied("1", "2026-03-02 10:00", timedelta(hours=1, milliseconds=500), solve_after=timedelta(hours=5)),
              *replied("2", "2026-03-03 10:00", timedelta(hours=1, milliseconds=2500), solve_after=timedelta(hours=30)),
              *replied("3", "2026-03-04 10:00", timedelta(hours=5, milliseconds=333), org="Acme"),
              event(three + timedelta(hours=6, milliseconds=250), status="pending", ticket_id="3", org="Acme",
                    created=three, group="support")]
    now = NOW + timedelta(milliseconds=600)
    sla = build_report("sla", report_config(), events=events, now=now)
    first = row(sla, metric="first_response")
    # elapsed 3600.5, 3602.5 and 18000.333 s on a 4h target
    assert (first["p50_seconds"], first["max_seconds"], first["breach_seconds"]) == (3602, 18000, 3600)
    reports = [sla, *(build_report(name, report_config(), events=events, now=now) for name in ("credits", "kpis"))]
    found = [(k, v) for report in reports for k, v in _durations(report) if v is not None]
    assert {k for k, _ in found} >= {"p50_seconds", "late_seconds", "paused_seconds", "open_seconds"}
    assert all(type(v) is int for _, v in found), found


def test_a_running_clock_past_its_due_instant_is_breached_at_now() -> None:
    later = NOW + timedelta(hours=2)
    report = build_report("sla", report_config(), events=FOUR, now=later)
    resolution = row(report, metric="resolution")
    assert (resolution["met"], resolution["breached"], resolution["running"]) == (2, 2, 0)
    assert resolution["breach_seconds"] == 21600 + 7200


def test_grouping_by_org_and_month_and_the_window() -> None:
    events = [*FOUR, *replied("5", "2026-04-01 10:00", timedelta(minutes=30), org="Globex",
                              solve_after=timedelta(hours=1))]
    now = utc("2026-04-02 10:00")
    report = build_report("sla", report_config(), events=events, now=now,
                          options=ReportOptions(by=("metric", "org"), period="month"))
    assert [(r["period"], r["metric"], r["org"], r["met"], r["breached"]) for r in report["rows"]] == [
        ("2026-03", "first_response", "Acme", 3, 1),
        ("2026-03", "resolution", "Acme", 2, 2),
        ("2026-04", "first_response", "Globex", 1, 0),
        ("2026-04", "resolution", "Globex", 1, 0),
    ]
    window = build_report("sla", report_config(), events=events, now=now,
                          options=ReportOptions(start="2026-03-03", end="2026-03-04"))
    first = row(window, metric="first_response")
    assert (first["tickets"], first["met"], first["breached"]) == (2, 2, 0)   # tickets 2 and 3 only
    assert window["from"] == "2026-03-03T00:00:00Z" and window["to"] == "2026-03-05T00:00:00Z"


def test_business_time_percentiles_skip_nights_and_weekends() -> None:
    cfg = report_config(policies=[{"name": "standard", "calendar": "business",
                                   "targets": {"P3": {"first_response": "4h"}}}])
    # Friday 16:00 → Monday 10:00 is 2 business hours (16–17 and 09–10)
    events = replied("w", "2026-03-06 16:00", timedelta(days=2, hours=18))
    report = build_report("sla", cfg, events=events, now=utc("2026-03-09 12:00"))
    first = row(report, metric="first_response")
    assert first["met"] == 1 and first["p50_seconds"] == 7200


def test_bad_report_options_are_report_errors_naming_the_parameter() -> None:
    cfg = report_config()
    for options, parameter, message in [
        (ReportOptions(period="fortnight"), "period", "unknown period"),
        (ReportOptions(timezone="Mars/Base"), "tz", "unknown time zone"),
        (ReportOptions(start="2026-03-05", end="2026-03-01"), "to", "must be after `from`"),
        (ReportOptions(start="yesterday"), "from", "'yesterday' is not"),
        (ReportOptions(by=("colour",)), "by", "unknown grouping"),
        (ReportOptions(breach_limit=-1), "breach_limit", "from 0 to 100000"),
        (ReportOptions(breach_limit=10**20), "breach_limit", "from 0 to 100000"),
    ]:
        with pytest.raises(ReportError, match=f"^{parameter}: .*{message}") as caught:
            build_report("sla", cfg, events=FOUR, now=NOW, options=options)
        assert caught.value.parameter == parameter
        assert caught.value.named({parameter: f"--{parameter}"}).startswith(f"--{parameter}: ")
    with pytest.raises(ReportError, match="unknown report"):
        build_report("weather", cfg, events=FOUR)
    with pytest.raises(ReportError, match="^by: grouping applies to the sla report only"):
        build_report("kpis", cfg, events=FOUR, options=ReportOptions(by=("org",)))


# --- service credits -----------------------------------------------------------------------------


def test_credits_follow_the_sliding_scale_and_the_exclusions() -> None:
    cfg = report_config()
    report = build_report("credits", cfg, events=FOUR, now=NOW)
    (march,) = report["rows"]
    # ticket 4's breach is tagged customer_caused: excluded, so 3 of 3 met → 100 % → no step applies
    assert (march["period"], march["met"], march["breached"], march["excluded"]) == ("2026-03", 3, 0, 1)
    assert march["attainment_pct"] == 100.0 and march["credit_pct"] == 0 and march["credit_amount"] == 0
    assert march["exclusions"] == [{"ticket": {"source": "zendesk", "account": "acme", "id": "4"},
                                    "metric": "first_response", "cycle": 1, "status": "breached",
                                    "exclusion": "customer-caused"}]

    untagged = [e for e in FOUR if e.ticket_id != "4"] + replied("4", "2026-03-05 10:00", timedelta(hours=5))
    (march,) = build_report("credits", cfg, events=untagged, now=NOW)["rows"]
    # 3 of 4 met: 75 % is below 100 % (5 %) and below 90 % (10 %), not below 50 %: the largest step is 10 %
    assert (march["met"], march["breached"], march["attainment_pct"]) == (3, 1, 75.0)
    assert march["credit_pct"] == 10 and march["credit_amount"] == 100.0 and march["currency"] == "USD"
    assert [b["ticket"]["id"] for b in march["breaches"]] == ["4"]


def test_credits_list_every_period_of_the_window_even_empty_ones() -> None:
    report = build_report("credits", report_config(), events=FOUR, now=NOW,
                          options=ReportOptions(start="2026-02-01", end="2026-03-31"))
    assert [(r["period"], r["counted"], r["attainment_pct"], r["credit_pct"]) for r in report["rows"]] == [
        ("2026-02", 0, None, 0), ("2026-03", 3, 100.0, 0)]


def test_other_organizations_and_metrics_do_not_count_for_a_contract() -> None:
    events = [*FOUR, *replied("9", "2026-03-02 12:00", timedelta(hours=9), org="Globex")]
    (march,) = build_report("credits", report_config(), events=events, now=NOW)["rows"]
    assert march["counted"] == 3  # Globex's breach and every resolution clock are outside the contract


def test_a_scale_where_worse_earns_less_is_a_config_error() -> None:
    from connector.errors import ConfigError

    with pytest.raises(ConfigError, match=r"contracts\[0\]: .*must not earn less"):
        report_config(contracts=[{"name": "x", "organizations": ["A"],
                                  "credits": [{"below": "99%", "credit": "10%"}, {"below": "95%", "credit": "5%"}]}])
    with pytest.raises(ConfigError, match=r"contracts\[0\].policies: unknown policy 'gold'"):
        report_config(contracts=[{"name": "x", "organizations": ["A"], "policies": ["gold"],
                                  "credits": [{"below": "99%", "credit": "10%"}]}])


# --- KPIs ----------------------------------------------------------------------------------------


def test_kpis_backlog_reopens_paused_share_and_escalations() -> None:
    t = utc("2026-03-02 10:00")
    history = [
        # ticket p: open 2h, pending 2h, open 6h, solved at +10h, reopened at +12h, solved at +13h
        event(t, "ticket.created", status="new", ticket_id="p", org="Acme", group="support", created=t),
        event(t + timedelta(hours=2), status="pending", ticket_id="p", org="Acme", group="support"),
        event(t + timedelta(hours=4), status="open", ticket_id="p", org="Acme", group="support"),
        event(t + timedelta(hours=10), status="solved", ticket_id="p", org="Acme", group="support"),
        event(t + timedelta(hours=12), status="open", ticket_id="p", org="Acme", group="support"),
        event(t + timedelta(hours=13), status="solved", ticket_id="p", org="Acme", group="support"),
        *replied("q", "2026-03-02 10:00", timedelta(hours=1), solve_after=timedelta(hours=2), group="billing"),
        # ticket r: an outage still open at now, 2 days old, resolution (4h) breached
        event(t, "ticket.created", status="open", ticket_id="r", subject="Outage!", org="Acme", group="support",
              created=t),
    ]
    now = utc("2026-03-04 12:00")
    report = build_report("kpis", report_config(), events=history, now=now)
    assert report["backlog"]["total"] == 1
    assert report["backlog"]["rows"][0] == {"severity": "P1", "<1d": 0, "1-3d": 1, "3-7d": 0, "7-30d": 0,
                                            ">30d": 0, "total": 1}
    assert report["reopens"] == {"solved": 2, "reopened": 1, "reopen_rate_pct": 50.0}
    p3 = next(r for r in report["paused"]["rows"] if r["severity"] == "P3")
    # p: 11h open (10h + 1h after the reopen), 2h of it pending; q: 2h open, never paused
    assert (p3["paused_seconds"], p3["open_seconds"], p3["paused_pct"]) == (7200, 46800, 15.38)
    assert report["escalations"]["rows"] == [{"escalation": "resolution-breach", "severity": "P1", "count": 1}]
    assert {g["group"]: (g["created"], g["open"], g["top_severity"]) for g in report["groups"]} == {
        "support": (2, 1, 1), "billing": (1, 0, 0)}
    # first replies: q met; p (never answered, 10h open before its first solve) and r breached
    assert {(r["metric"], r["met"], r["breached"]) for r in report["trends"]} == {
        ("first_response", 1, 2), ("resolution", 2, 1)}


# --- severity audit ------------------------------------------------------------------------------


def test_audit_confusion_matrix_top_share_and_rules() -> None:
    events = [
        *replied("a", "2026-03-02 10:00", timedelta(minutes=20), subject="Outage in EU", priority="normal"),
        *replied("b", "2026-03-02 11:00", timedelta(minutes=20), priority="urgent", org="Globex"),
        *replied("c", "2026-03-09 11:00", timedelta(minutes=20), priority="high", org="Globex"),
        *replied("d", "2026-03-09 12:00", timedelta(minutes=20), priority="normal"),
    ]
    report = build_report("audit", report_config(), events=events, now=utc("2026-03-10 00:00"))
    matrix = {r["declared"]: {k: r[k] for k in ("P1", "P2", "P3")} for r in report["confusion"]["rows"]}
    assert matrix["P3"] == {"P1": 1, "P2": 0, "P3": 1}   # a: declared normal, classified P1 by the outage rule
    assert matrix["P1"] == {"P1": 1, "P2": 0, "P3": 0}
    assert matrix["P2"] == {"P1": 0, "P2": 1, "P3": 0}
    confusion = report["confusion"]
    assert (confusion["agree"], confusion["with_declared"], confusion["agreement_pct"]) == (3, 4, 75.0)
    assert (confusion["raised"], confusion["lowered"]) == (1, 0)
    share = report["top_share"]
    assert (share["tickets"], share["top"], share["share_pct"]) == (4, 2, 50.0)
    assert [(p["period"], p["tickets"], p["top"]) for p in share["by_period"]] == [("2026-W10", 2, 2),
                                                                                  ("2026-W11", 2, 0)]
    assert {o["org"]: o["share_pct"] for o in share["by_org"]} == {"Acme": 50.0, "Globex": 50.0}
    assert share["by_agent"] == [{"agent": None, "tickets": 4, "top": 2, "share_pct": 50.0}]
    assert [(r["rule"], r["severity"], r["tickets"]) for r in report["rules"]] == [
        ("outage", "P1", 1), ("priority_map", "P1", 1), ("priority_map", "P2", 1), ("priority_map", "P3", 1)]


def _rows_built(events: list[Event], severities: list[str]) -> int:
    """How many rows of severities `dict.fromkeys` builds while the audit of `events` is computed."""
    import sys

    cfg = report_config(severities=severities, classification={"default": "P3", "rules": []})
    dataset = collect(cfg, events, utc("2026-04-01 00:00"))
    calls = 0

    def count(frame: Any, what: str, arg: Any) -> None:
        nonlocal calls
        if what == "c_call" and getattr(arg, "__name__", "") == "fromkeys" and getattr(arg, "__self__", None) is dict:
            calls += 1

    sys.setprofile(count)
    try:
        audit_report(cfg, dataset)
    finally:
        sys.setprofile(None)
    return calls


def test_the_audit_builds_each_matrix_row_once_however_many_tickets() -> None:
    # before: a whole row of every severity per ticket (the default of a `setdefault`), tickets × severities:
    # with 5,000 severities, minutes for a large window
    severities = ["P1", "P2", "P3", *(f"S{n}" for n in range(97))]  # the most a config may declare
    few = [e for n in range(3) for e in replied(f"t{n}", "2026-03-02 10:00", timedelta(hours=1))]
    many = [e for n in range(60) for e in replied(f"t{n}", "2026-03-02 10:00", timedelta(hours=1))]
    assert _rows_built(few, severities) == _rows_built(many, severities) == len(severities) + 1   # and (none)


def test_audit_finds_a_severity_lowered_shortly_before_a_breach() -> None:
    t = utc("2026-03-02 10:00")
    common = dict(ticket_id="x", org="Acme", created=t)
    events = [
        event(t, "ticket.created", status="open", priority="urgent", **common),     # P1: first reply due 11:00
        event(t + timedelta(minutes=50), priority="normal", **common),              # lowered to P3 at 10:50
        event(t + timedelta(hours=2), "comment.added", comment=AGENT, priority="normal", **common),
        # a lowering long before any due instant is not suspicious
        event(t, "ticket.created", status="open", priority="urgent", ticket_id="y", created=t),
        event(t + timedelta(minutes=5), priority="normal", ticket_id="y"),
    ]
    report = build_report("audit", report_config(), events=events, now=utc("2026-03-02 18:00"))
    items = report["findings"]["items"]
    assert report["findings"]["counts"]["severity_lowered_before_breach"] == 1
    assert items[0]["ticket"]["id"] == "x" and items[0]["at"] == "2026-03-02T10:50:00Z"
    assert "P1 → P3 10 min before it was due" in items[0]["detail"]
    assert "first_response was due 2026-03-02T11:00:00Z" in items[0]["detail"]
    # and the clocks themselves show no breach: that is what the audit is for
    sla = build_report("sla", report_config(), events=events, now=utc("2026-03-02 18:00"))
    assert not [b for b in sla["breaches"] if b["ticket"]["id"] == "x"]


def test_audit_finds_a_pause_right_after_a_customer_reply() -> None:
    t = utc("2026-03-02 10:00")
    events = [
        *replied("s", "2026-03-02 10:00", timedelta(minutes=10)),
        event(t + timedelta(hours=1), "comment.added", comment=CUSTOMER, ticket_id="s", org="Acme"),
        event(t + timedelta(hours=1, minutes=3), status="pending", ticket_id="s", org="Acme"),   # suspicious
        # answered, then pending: fine
        *replied("u", "2026-03-02 10:00", timedelta(minutes=10)),
        event(t + timedelta(hours=1), "comment.added", comment=CUSTOMER, ticket_id="u"),
        event(t + timedelta(hours=1, minutes=2), "comment.added", comment=AGENT, ticket_id="u"),
        event(t + timedelta(hours=1, minutes=3), status="pending", ticket_id="u"),
        # pending an hour after the customer wrote: outside the 15-minute window
        *replied("v", "2026-03-02 10:00", timedelta(minutes=10)),
        event(t + timedelta(hours=1), "comment.added", comment=CUSTOMER, ticket_id="v"),
        event(t + timedelta(hours=2), status="pending", ticket_id="v"),
    ]
    report = build_report("audit", report_config(), events=events, now=utc("2026-03-02 18:00"))
    items = report["findings"]["items"]
    assert [(i["kind"], i["ticket"]["id"]) for i in items] == [("pause_after_customer_reply", "s")]
    assert "status pending 3 min after a customer reply at 2026-03-02T11:00:00Z" in items[0]["detail"]


def test_the_same_history_twice_gives_the_same_dataset() -> None:
    cfg = report_config()
    assert collect(cfg, FOUR, NOW) == collect(cfg, list(reversed(FOUR)), NOW)


def test_window_membership() -> None:
    w = Window(utc("2026-03-01 00:00"), utc("2026-03-02 00:00"))
    assert utc("2026-03-01 00:00") in w and utc("2026-03-02 00:00") not in w
    assert utc("2026-02-28 23:59") not in Window(utc("2026-03-01 00:00"), None)


# --- the accepted range (issue 11) ------------------------------------------------------------------------


@pytest.mark.parametrize("text, end", [("9999-12-31", True), ("0001-01-01", False), ("1969-12-31", False),
                                        ("2100-01-01", True), ("9999-12-31T23:59:59Z", True),
                                        ("0001-01-01T00:00:00+14:00", False), ("1969-12-31T23:59:59Z", False)])
def test_a_bound_outside_the_accepted_range_is_refused_naming_it(text: str, end: bool) -> None:
    # before: "9999-12-31" as `to` overflowed (a day after it is year 10000), "0001-01-01" in a zone east of UTC too
    for zone in (UTC_, ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")):
        with pytest.raises(EventError, match=f"^{'to' if end else 'from'}: .*is outside"):
            parse_bound(text, zone, end=end)


def test_the_edges_of_the_range_are_bounds() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    assert parse_bound("1970-01-01", tokyo, end=False) == utc("1969-12-31 15:00")  # local midnight: allowed
    assert parse_bound("2099-12-31", ZoneInfo("Pacific/Pago_Pago"), end=True) == utc("2100-01-01 11:00")
    assert parse_bound("2099-12-31T23:59:59Z", UTC_, end=True) == utc("2099-12-31 23:59:59")


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2099, 12, 30)),
       st.integers(min_value=0, max_value=3000 * 86400), st.sampled_from(["day", "week", "month", "quarter"]),
       st.sampled_from(["UTC", "America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati"]))
def test_period_count_is_the_number_of_periods_listed(first: datetime, span: int, period: str, zone: str) -> None:
    tz = ZoneInfo(zone)
    start = first.replace(tzinfo=UTC)
    last = min(start + timedelta(seconds=span), datetime(2099, 12, 31, tzinfo=UTC))
    count = period_count(start, last, period, tz)
    if count <= MAX_PERIODS:
        assert count == len(period_bounds(start, last, period, tz))
    else:
        with pytest.raises(TooManyPeriods):
            period_bounds(start, last, period, tz)


def test_stored_values_a_report_cannot_place() -> None:
    assert placeable(utc("1970-01-01 00:00")) and placeable(utc("2099-12-31 23:59:59")) and placeable(None)
    assert not placeable(utc("2100-01-01 00:00")) and not placeable(datetime(1, 1, 1, tzinfo=UTC))
    assert not placeable(datetime(9999, 12, 31, 23, 59, tzinfo=ZoneInfo("Etc/GMT+12")))  # past year 9999 in UTC


def test_now_outside_the_range_is_refused() -> None:
    with pytest.raises(ReportError, match="^now: .*outside") as caught:
        build_report("sla", report_config(), events=FOUR, now=datetime(9999, 1, 1, tzinfo=UTC))
    assert caught.value.parameter == "now"
