"""`report olas`, `report attribution` and the audit's bounced tickets, hand-computed (connector.reports.olas).

The config and the histories are those of test_internal: support (Mon–Fri 09–17 UTC) hands tickets to
engineering (Mon–Fri 06–14 UTC); 2026-03-02 is a Monday.
"""

from __future__ import annotations

from connector.reports.build import ReportOptions, build_report
from connector.reports.render import render_csv, render_html
from tests.helpers import config, event, utc
from tests.unit.test_internal import CFG, ENG_REPLY, HANDBACK, OLA_CONFIG, created, moved

H = 3600


def _rows(report):
    return {(r["agreement"], r["team"], r["metric"], r["severity"]): r for r in report["rows"]}


def test_olas_report_counts_cycles_per_agreement_team_metric_and_severity():
    report = build_report("olas", CFG, events=HANDBACK, now=utc("2026-03-02 16:00"))
    rows = _rows(report)
    own = rows[("eng-triage", "engineering", "ownership", "P3")]
    assert (own["tickets"], own["met"], own["breached"], own["attainment_pct"]) == (1, 1, 0, 100.0)
    assert own["p50_seconds"] == own["max_seconds"] == 3 * H
    touch = rows[("eng-triage", "engineering", "first_touch", "P3")]
    assert (touch["breached"], touch["breach_seconds"], touch["attainment_pct"]) == (1, H, 0.0)
    support = rows[("support-first-line", "support", "ownership", "P3")]
    assert (support["met"], support["running"], support["attainment_pct"]) == (1, 1, 100.0)
    first = rows[("support-first-line", "support", "first_touch", "P3")]
    # cycle 1 handed on untouched after 1h of 30m; cycle 2 still untouched at 16:00, 1h in: 30m late each
    assert (first["breached"], first["breach_seconds"]) == (2, H)
    assert [r["agreement"] for r in report["rows"]] == ["eng-triage"] * 2 + ["support-first-line"] * 2
    assert report["breaches_total"] == 3
    assert {(b["agreement"], b["team"], b["metric"], b["cycle"]) for b in report["breaches"]} == {
        ("eng-triage", "engineering", "first_touch", 1), ("support-first-line", "support", "first_touch", 1),
        ("support-first-line", "support", "first_touch", 2)}
    assert report["handoffs"]["rows"] == [{"handoffs": 2, "tickets": 1, "share_pct": 100.0}]
    assert report["handoffs"]["most"][0]["path"] == "support → engineering → support"


LATE_REPLY = [created(), moved("2026-03-02 11:00", "engineering"),
              moved("2026-03-02 12:00", "engineering", status="pending"), moved("2026-03-02 13:00", "engineering"),
              event("2026-03-02 15:00", "comment.added", comment=ENG_REPLY, group="engineering")]


def test_attribution_splits_a_breachs_lateness_and_time_by_who_held_the_ticket():
    report = build_report("attribution", CFG, events=LATE_REPLY, now=utc("2026-03-02 15:00"))
    # first response (4h, never paused, waiting on the team even while pending): support 10–11, engineering
    # 11–15; due 14:00, so its hour of lateness is engineering's
    (worst,) = [w for w in report["worst"] if w["metric"] == "first_response"]
    assert worst["late_by"] == {"engineering": H}
    assert worst["held_by"] == {"engineering": 4 * H, "support": H}
    totals = {t["holder"]: t for t in report["totals"]}
    assert totals["engineering"]["late_share_pct"] == 100.0
    assert totals["engineering"]["elapsed_share_pct"] == 80.0 and totals["support"]["elapsed_share_pct"] == 20.0
    assert sum(t["late_seconds"] for t in report["totals"]) == report["late_seconds"] == H
    assert [r["period"] for r in report["rows"]] == ["2026-W10"] * 2


def test_the_audit_lists_tickets_bounced_more_than_allowed():
    bouncing = [created(ticket_id="9"), *(moved(f"2026-03-02 1{i}:00", g, ticket_id="9")
                                          for i, g in enumerate(["engineering", "support", "engineering"], start=1))]
    cfg = config(**OLA_CONFIG, reports={"audit": {"bounced_over": 2}})
    report = build_report("audit", cfg, events=[*HANDBACK, *bouncing], now=utc("2026-03-02 16:00"))
    assert report["bounced"]["tickets"] == 1
    (item,) = report["bounced"]["items"]
    assert (item["ticket"]["id"], item["handoffs"]) == ("9", 3)
    assert item["path"] == "support → engineering → support → engineering"
    assert "9" in render_csv(report, table="bounced")


def test_olas_and_attribution_render_as_csv_and_html_with_their_charts():
    now = utc("2026-03-02 16:00")
    for name in ("olas", "attribution"):
        report = build_report(name, CFG, events=[*HANDBACK, *LATE_REPLY[:1]], now=now,
                              options=ReportOptions(period="week"))
        page = render_html(report)
        assert page.count("<svg") >= 1 and "No data" not in page.split("<h2>Charts")[1].split("</div>")[0]
        assert render_csv(report).startswith('"')


def test_without_agreements_the_olas_report_is_empty_and_attribution_still_works():
    events = [created(group="tier1"), moved("2026-03-02 11:00", "tier2"), moved("2026-03-03 11:00", "tier2")]
    cfg = config()
    olas = build_report("olas", cfg, events=events)
    assert olas["rows"] == [] and olas["agreements"] == []
    attribution = build_report("attribution", cfg, events=events)
    assert {t["holder"] for t in attribution["totals"]} == {"tier1", "tier2"}
