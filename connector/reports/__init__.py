"""Reports: SLA attainment, service credits, leading KPIs, the severity audit, internal agreements, attribution.

Every report is computed from a `Dataset` (`dataset.collect`: the rules core run over a history, from a
JSONL file or the store's events, `store_events`) as JSON-ready data; `render` turns that into CSV or a
self-contained HTML page. From the store, SLA attainment is aggregated in SQL over the `clocks` table
(`store_sla`). Stored rows no report can place (instants outside 1970-2100, impossible durations) are left
out and counted in each report's `"skipped"`.

    sla      attainment %, business-time percentiles, breach minutes and the breach list (`sla`)
    credits  service credits per contract and period (`credits`)
    kpis     backlog, trends, reopens, paused share, escalations, groups (`kpis`)
    audit    declared vs classified severity, P1 share, rules, suspicious patterns, bounced tickets (`audit`)
    olas     internal agreements per agreement, team, metric and severity; handoffs per ticket (`olas`)
    attribution  breached customer clocks: lateness and time by who held the ticket (`olas`)
"""

from connector.reports.audit import audit_report
from connector.reports.build import REPORTS
from connector.reports.credits import credits_report
from connector.reports.dataset import Dataset, collect
from connector.reports.kpis import kpi_report
from connector.reports.olas import attribution_report, olas_report
from connector.reports.sla import sla_report

__all__ = ["REPORTS", "Dataset", "attribution_report", "audit_report", "collect", "credits_report", "kpi_report",
           "olas_report", "sla_report"]
