"""Render a report (the JSON-ready dict of `build_report`) as CSV or as one self-contained HTML page.

    render_csv(report)    the report's tables; several tables each follow a `# <section>` line, blank-line apart
    render_html(report)   one page: title, as-of instant, window and zone, charts (inline SVG) and every table

CSV and HTML show the same numbers as the JSON (DESIGN §3.4): seconds stay seconds (the HTML adds a human
duration beside them), percentages stay as computed; None is an empty cell in CSV and "–" in HTML. What
the report left out (`"skipped"`) is a note under the HTML page's header and a last `# skipped` table in
the CSV (only when something was).

CSV cells are neutralized against formula injection as OWASP's "CSV Injection" page recommends: a text cell
that begins with `=`, `+`, `-`, `@`, a tab, a carriage return or a line feed gets a leading `'`, and every
text cell is quoted (`QUOTE_NONNUMERIC`), so a `;` or `,` inside it cannot start a new cell in a
spreadsheet that splits on it, and quotes are doubled. Numbers are written bare and never changed: a
negative number we computed is a number, not a formula. Group, organization, agent, contract and rule
names come from customers, agents and config alike, so every text cell is treated the same.

The HTML page needs nothing from the network: CSS is inline, charts are matplotlib figures saved as SVG
and embedded as `<svg>` elements, and a Content-Security-Policy forbids every fetch (in a `<meta>` tag, for
a page saved to a file; the web app also sends `CSP_HEADER`, which adds `frame-ancestors 'none'`: browsers
ignore that directive in a `<meta>` tag). Every text taken from the report (org names, groups, finding
details come from customers and agents) goes through `html.escape`; matplotlib escapes the text it writes
into SVG, and mathtext is off so a `$` in a name stays a `$`; a control character in a chart label (no font
has a glyph for it) is shown as U+FFFD.

Charts use the object-oriented API (a `Figure` on an Agg canvas), never pyplot: no figure is registered in
a global list, so nothing needs closing and concurrent requests share no state but the rc settings below.
Output is deterministic: a constant SVG hash salt, no date in the metadata, ids prefixed per chart.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from connector.reports.build import SKIPPED_TABLE, TABLES, check_table, table_names
from connector.reports.simulate import COMPARED as SIMULATE_NUMBERS
from connector.reports.stats import share_pct

__all__ = ["CSP_HEADER", "TABLES", "check_table", "render_csv", "render_html", "table_names"]

Row = Mapping[str, Any]

# --- columns of each table when it has no rows (otherwise the rows' own keys, in JSON order) ------------

SLA_NUMBERS = ("tickets", "met", "breached", "running", "paused", "cancelled", "attainment_pct", "p50_seconds",
               "p90_seconds", "p95_seconds", "max_seconds", "breach_seconds")
CREDIT_COLUMNS = ("contract", "organizations", "period", "contract_period", "period_start", "period_end",
                  "counted_from", "counted_to", "partial", "counted", "met", "breached", "excluded", "attainment_pct",
                  "credit_pct", "fee", "credit_amount", "currency", "breaches_count", "exclusions_count")
BREACH_COLUMNS = ("ticket_source", "ticket_account", "ticket_id", "metric", "cycle", "severity", "policy", "group",
                  "org", "started_at", "due_at", "stopped_at", "target_seconds", "elapsed_seconds", "late_seconds")
TREND_COLUMNS = ("period", "metric", "tickets", "met", "breached", "attainment_pct", "p50_seconds", "p90_seconds")
PAUSED_COLUMNS = ("severity", "tickets", "paused_seconds", "open_seconds", "paused_pct")
SHARE_COLUMNS = ("tickets", "top", "share_pct")
FINDING_COLUMNS = ("kind", "ticket_source", "ticket_account", "ticket_id", "at", "detail", "group", "org")
ALL = "(all)"   # the label of a total row added beside per-severity rows

TITLES = {"sla": "SLA attainment", "credits": "Service credits", "kpis": "Leading KPIs", "audit": "Severity audit",
          "olas": "Internal agreements (OLAs)", "attribution": "Breach attribution: who held the ticket",
          "simulate": "What if: the current config and the proposed one",
          "capacity": "Capacity: the agents each promise needs"}
SIMULATE_VIEW = ("attainment_pct", "breached", "p90_seconds")  # a page's columns per side (CSV: all)
OLA_BREACH_COLUMNS = ("agreement", "team", "ticket_source", "ticket_account", "ticket_id", "metric", "cycle",
                      "severity", "group", "started_at", "due_at", "stopped_at", "target_seconds", "elapsed_seconds",
                      "late_seconds")
BOUNCED_COLUMNS = ("ticket_source", "ticket_account", "ticket_id", "handoffs", "path", "group", "severity",
                   "status")
WORST_COLUMNS = ("ticket_source", "ticket_account", "ticket_id", "metric", "cycle", "severity", "policy", "group",
                 "due_at", "stopped_at", "elapsed_seconds", "late_seconds", "late_by", "held_by")
HOLDER_COLUMNS = ("holder", "clocks", "late_seconds", "late_share_pct", "elapsed_seconds", "elapsed_share_pct")

# --- flattening: nested objects become prefixed columns, lists of scalars one cell -------------------


def _flat(row: Row) -> dict[str, Any]:
    """Return a row with nested objects as `<key>_<subkey>` columns and lists of scalars joined by '; '."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                out[f"{key}_{sub}"] = inner
        elif isinstance(value, list | tuple):
            out[key] = "; ".join("" if v is None else str(v) for v in value)
        else:
            out[key] = value
    return out


def _columns(rows: Sequence[Row], fallback: Sequence[str]) -> list[str]:
    if not rows:
        return list(fallback)
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _credit_row(row: Row) -> dict[str, Any]:
    """A credits row without its nested lists, with their lengths instead."""
    out = {k: v for k, v in row.items() if k not in ("breaches", "exclusions")}
    out["breaches_count"] = len(row.get("breaches") or ())
    out["exclusions_count"] = len(row.get("exclusions") or ())
    return _flat(out)


def _paused_rows(report: Row) -> list[dict[str, Any]]:
    paused = report["paused"]
    total = sum(r["tickets"] for r in paused["rows"])
    return [*paused["rows"], {"severity": ALL, "tickets": total, "paused_seconds": paused["paused_seconds"],
                              "open_seconds": paused["open_seconds"], "paused_pct": paused["paused_pct"]}]


def _sla_columns(report: Row) -> list[str]:
    return [*(["period"] if report.get("period") else []), *report.get("by", ()), *SLA_NUMBERS]


# What a grouping key's None stands for, in the tables of CSV and HTML (the JSON keeps null): a blank cell in
# a spreadsheet reads as missing data, not as "nobody".
NONE_LABELS = {"agent": "(unassigned)", "group": "(no group)", "org": "(no organization)"}

CSV_DEFAULT = {"sla": ("rows",), "credits": ("rows",), "olas": ("rows",), "attribution": ("rows",),
               "simulate": ("rows",), "capacity": ("hours",)}  # kpis, audit: every table
SKIPPED_COLUMNS = ("what", "count", "reason")


def _named(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """The rows with a None grouping key shown by its name: (unassigned), (no group), (no organization)."""
    out = []
    for row in rows:
        missing = {k: NONE_LABELS[k] for k in keys if k in row and row[k] is None}
        out.append({**row, **missing} if missing else row)
    return out


def _credit_lists(report: Row) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The breaches and exclusions behind the credits rows, each with its contract and period."""
    breaches: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for row in report["rows"]:
        where = {"contract": row["contract"], "period": row["period"]}
        breaches += [{**where, **_flat(b)} for b in row.get("breaches") or ()]
        excluded += [{**where, **_flat(e)} for e in row.get("exclusions") or ()]
    return breaches, excluded


CREDIT_REF = ("contract", "period", "ticket_source", "ticket_account", "ticket_id", "metric", "cycle")


def _tables(report: Row) -> list[tuple[str, list[dict[str, Any]], list[str]]]:
    """Return (name, flat rows, fallback columns) of every table of a report, in reading order (`TABLES`)."""
    name = report.get("report")
    if name == "sla":
        keys = [k for k in ("group", "org") if k in report.get("by", ())]
        return [("rows", _named([_flat(r) for r in report["rows"]], *keys), _sla_columns(report)),
                ("breaches", [_flat(r) for r in report["breaches"]], list(BREACH_COLUMNS))]
    if name == "credits":
        breaches, excluded = _credit_lists(report)
        return [("rows", [_credit_row(r) for r in report["rows"]], list(CREDIT_COLUMNS)),
                ("breaches", breaches, [*CREDIT_REF, "due_at", "late_seconds"]),
                ("exclusions", excluded, [*CREDIT_REF, "status", "exclusion"])]
    if name == "kpis":
        backlog = report["backlog"]
        return [
            ("backlog", [_flat(r) for r in backlog["rows"]], ["severity", *backlog["buckets"], "total"]),
            ("trends", [_flat(r) for r in report["trends"]], list(TREND_COLUMNS)),
            ("reopens", [_flat(report["reopens"])], ["solved", "reopened", "reopen_rate_pct"]),
            ("paused", _paused_rows(report), list(PAUSED_COLUMNS)),
            ("escalations", [_flat(r) for r in report["escalations"]["rows"]], ["escalation", "severity", "count"]),
            ("groups", _named([_flat(r) for r in report["groups"]], "group"),
             ["group", "created", "open", "top_severity"]),
        ]
    if name == "audit":
        confusion = report["confusion"]
        share = report["top_share"]
        return [
            ("confusion", [_flat(r) for r in confusion["rows"]], ["declared", *confusion["classified"], "total"]),
            ("top_share_by_period", [_flat(r) for r in share["by_period"]], ["period", *SHARE_COLUMNS]),
            ("top_share_by_org", _named([_flat(r) for r in share["by_org"]], "org"), ["org", *SHARE_COLUMNS]),
            ("top_share_by_group", _named([_flat(r) for r in share["by_group"]], "group"),
             ["group", *SHARE_COLUMNS]),
            ("top_share_by_agent", _named([_flat(r) for r in share.get("by_agent", [])], "agent"),
             ["agent", *SHARE_COLUMNS]),
            ("rules", [_flat(r) for r in report["rules"]], ["rule", "severity", "tickets"]),
            ("findings", [_flat(r) for r in report["findings"]["items"]], list(FINDING_COLUMNS)),
            ("bounced", [_flat(r) for r in report["bounced"]["items"]], list(BOUNCED_COLUMNS)),
        ]
    if name == "olas":
        handoffs = report["handoffs"]
        return [("rows", [_flat(r) for r in report["rows"]], _sla_columns(report)),
                ("breaches", [_flat(r) for r in report["breaches"]], list(OLA_BREACH_COLUMNS)),
                ("handoffs", [_flat(r) for r in handoffs["rows"]], ["handoffs", "tickets", "share_pct"]),
                ("bounced", [_flat(r) for r in handoffs["most"]], list(BOUNCED_COLUMNS))]
    if name == "capacity":
        return [("targets", [{**{k: r.get(k) for k in CAPACITY_VIEW}, "hours_differing": len(r["hours_differing"])}
                             for r in report["targets"]], [*CAPACITY_VIEW, "hours_differing"]),
                ("hours", [_flat(r) for r in report["hours"] if r["open"] or r["arrivals"]],
                 ["target", "weekday", "hour", "arrivals", "agents_erlang_c", "agents_simulated", "differs"])]
    if name == "simulate":
        keys = [*(["period"] if report.get("period") else []), *report.get("by", ())]
        rows = [{**{k: r.get(k) for k in keys},
                 **{f"{side}_{n}": (r.get(side) or {}).get(n) for side in ("current", "proposed", "difference")
                    for n in SIMULATE_NUMBERS}} for r in report["rows"]]
        changed = [_flat(c) for c in report["changed"]]
        credits = [{"side": side, **r} for side in ("current", "proposed") for r in report["credits"][side]]
        return [("rows", rows, [*keys, *(f"{s}_{n}" for s in ("current", "proposed", "difference")
                                         for n in SIMULATE_NUMBERS)]),
                ("changed", changed, ["ticket_source", "ticket_account", "ticket_id", "metric", "cycle", "current",
                                      "proposed", "kind"]),
                ("actions", _sides(report["actions"], "action"), ["action", "current", "proposed", "difference"]),
                ("escalations", _sides(report["escalations"], "escalation"),
                 ["escalation", "current", "proposed", "difference"]),
                ("credits", credits, ["side", "contract", "period", "attainment_pct", "credit_pct"])]
    if name == "attribution":
        return [("rows", [_flat(r) for r in report["rows"]], ["period", *HOLDER_COLUMNS]),
                ("totals", [_flat(r) for r in report["totals"]], list(HOLDER_COLUMNS)),
                ("worst", [_worst_row(r) for r in report["worst"]], list(WORST_COLUMNS))]
    raise ValueError(f"unknown report {name!r}; reports are {', '.join(TITLES)}")


CAPACITY_VIEW = ("target", "policy", "calendar", "target_seconds", "aht_seconds", "shrinkage_pct", "arrivals_per_week",
                 "expected_attainment_pct", "simulated_attainment_pct", "peak_agents_erlang_c", "peak_agents_simulated")


def _sides(block: Row, label: str) -> list[dict[str, Any]]:
    """`{"current": {name: n}, "proposed": {...}, "difference": {...}}` as one row per name."""
    return [{label: key, "current": block["current"].get(key), "proposed": block["proposed"].get(key),
             "difference": block["difference"].get(key)} for key in block["current"]]


def _simulate_view(report: Row, rows: list[dict[str, Any]], section: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The comparison's tables for a page: fewer numbers per side, no explain commands (the CSV has them all)."""
    if section == "rows":
        keys = [*(["period"] if report.get("period") else []), *report.get("by", ())]
        columns = [*keys, *(f"{s}_{n}" for n in SIMULATE_VIEW for s in ("current", "proposed", "difference"))]
        return rows, columns
    columns = ["ticket_source", "ticket_id", "metric", "cycle", "current", "proposed", "kind", "severity_current",
               "severity_proposed"]
    return rows, columns


def _worst_row(row: Row) -> dict[str, Any]:
    """A breached clock with its splits as text: `engineering 5h; support 1h` (whole seconds in the JSON)."""
    out = _flat({k: v for k, v in row.items() if k not in ("late_by", "held_by")})
    for key in ("late_by", "held_by"):
        out[key] = "; ".join(f"{holder} {_nice_duration(seconds)}" for holder, seconds in (row.get(key) or {}).items())
    return out


# --- what was left out --------------------------------------------------------------------------------

SKIPPED = {
    "clocks": "clock rows that cannot be placed: a start or due instant outside 1970–2099, or an elapsed or "
              "target time that is negative, not a number or longer than that range",
    "events": "stored events that are not valid canonical events (e.g. an instant outside 1970–2099)",
}


def _skipped_rows(report: Row) -> list[dict[str, Any]]:
    return [{"what": what, "count": count, "reason": SKIPPED.get(what, "cannot be placed")}
            for what, count in (report.get("skipped") or {}).items() if count]


# --- CSV ----------------------------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")   # OWASP "CSV Injection"


def csv_cell(value: Any) -> Any:
    """Return a value as a CSV cell: None empty, numbers unchanged, text that could start a formula after `'`."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _write_table(writer: Any, rows: Sequence[Row], columns: Sequence[str]) -> None:
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])


def render_csv(report: dict[str, Any], *, table: str | None = None) -> str:
    """Return the report's tables as CSV; `table` names one of them (`table_names`), written alone.

    Without `table`: sla, credits, olas and attribution give their first table, kpis and audit every table, each after a
    `# <name>` line and a blank line apart; a last `# skipped` table when something was left out. Text cells
    are quoted and neutralized against formula injection (`csv_cell`); numbers are bare.
    """
    name = str(report.get("report"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    tables = _tables(report)
    skipped = _skipped_rows(report)
    if table is not None:
        check_table(name, table)
        if table == SKIPPED_TABLE:
            _write_table(writer, skipped, SKIPPED_COLUMNS)
        else:
            rows, fallback = next((rows, fallback) for section, rows, fallback in tables if section == table)
            _write_table(writer, rows, _columns(rows, fallback))
        return out.getvalue()
    chosen = [t for t in tables if t[0] in CSV_DEFAULT.get(name, TABLES[name])]
    if len(chosen) == 1:
        _, rows, fallback = chosen[0]
        _write_table(writer, rows, _columns(rows, fallback))
    else:
        for i, (section, rows, fallback) in enumerate(chosen):
            if i:
                out.write("\n")
            out.write(f"# {section}\n")
            _write_table(writer, rows, _columns(rows, fallback))
    if skipped:
        out.write(f"\n# {SKIPPED_TABLE}\n")
        _write_table(writer, skipped, SKIPPED_COLUMNS)
    return out.getvalue()


# --- charts -------------------------------------------------------------------------------------------

RC: dict[Any, Any] = {"svg.hashsalt": "sla-connector", "svg.fonttype": "none", "text.parse_math": False,
      "font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 10,
      "axes.titleweight": "bold", "axes.edgecolor": "#888888", "axes.grid": False, "legend.frameon": False}
PALETTE = ("#2f6db5", "#e0892f", "#3b9a5b", "#c0453a", "#7f62b3", "#8c6d46", "#d873b9", "#7a7a7a")
MAX_BARS = 40          # a chart with more rows shows the first ones; the table below has them all
WIDTH = 9.0            # inches; the SVG scales to the page width

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_IDS = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


def _svg(fig: Figure, prefix: str) -> str:
    """Return the figure as an `<svg>` element for inline use: no prolog, no metadata, ids unique per page."""
    FigureCanvasAgg(fig)
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1))
    text = _IDS.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return text.strip()


def _figure(height: float) -> Figure:
    """A new figure, full width; called inside `rc_context(RC)` (axes read their style when created)."""
    return Figure(figsize=(WIDTH, max(height, 1.8)), dpi=100, layout="constrained")


def _nice_duration(seconds: float) -> str:
    """A short human duration for ticks and table hints: 45s, 20m, 4h, 1.5h, 3d."""
    s = float(seconds)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{s / 60:.0f}m"
    if s < 86400 * 2:
        h = s / 3600
        return f"{h:.0f}h" if h.is_integer() or h >= 10 else f"{h:.1f}h"
    d = s / 86400
    return f"{d:.0f}d" if d >= 10 or d.is_integer() else f"{d:.1f}d"


DURATION_TICKS = (60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400,
                  14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400, 180 * 86400, 365 * 86400)


def _duration_axis(ax: Any, values: Iterable[float]) -> None:
    """Put durations on the x axis: a log scale when they span more than a factor of 20, ticks as 30m, 4h, 3d."""
    positive = [v for v in values if v > 0]
    if not positive:
        return
    lo, hi = min(positive), max(positive)
    if hi / lo > 20:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.5, hi * 1.5)
        ticks = [t for t in DURATION_TICKS if lo / 1.5 <= t <= hi * 1.5]
        if len(ticks) > 9:
            ticks = ticks[::2]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _nice_duration(v) if v > 0 else "0"))


def _printable(text: str) -> str:
    """Text for a chart label: control characters (a store may hold them) have no glyph in any font."""
    return text if text.isprintable() else "".join(c if c.isprintable() else "\N{REPLACEMENT CHARACTER}" for c in text)


def _label(row: Row, keys: Sequence[str]) -> str:
    return " · ".join("–" if row.get(k) is None else _printable(str(row.get(k))) for k in keys)


def _attainment_bars(ax: Any, labels: Sequence[str], values: Sequence[float | None],
                     notes: Sequence[str] | None = None) -> None:
    """Horizontal attainment bars, top to bottom in row order, the value (or 'no clocks decided') beside each."""
    y = list(range(len(labels)))[::-1]
    ax.barh(y, [0 if v is None else v for v in values], color=PALETTE[0], height=0.6)
    for yi, v, i in zip(y, values, range(len(values)), strict=True):
        text = "n/a" if v is None else f"{v:g}%"
        if notes is not None and notes[i]:
            text += f"  {notes[i]}"
        ax.text((v or 0) + 1, yi, text, va="center", fontsize=8, color="#333333")
    ax.set_yticks(y, labels)
    ax.set_xlim(0, 118)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.xaxis.set_major_formatter(_percent_formatter())
    ax.grid(axis="x", color="#e4e4e4")
    ax.set_axisbelow(True)


def _percent_formatter() -> FuncFormatter:
    """Tick labels 0%, 25% …; a new one per axis (a formatter belongs to the axis it is set on)."""
    return FuncFormatter(lambda v, _pos: f"{v:.0f}%")


def _percent_columns(ax: Any, labels: Sequence[str], values: Sequence[float | None], notes: Sequence[str],
                     color: str) -> None:
    """Vertical percentage columns, one per label, with a note above each (room left above 100 % for it)."""
    xs = list(range(len(labels)))
    ax.bar(xs, [v or 0 for v in values], width=0.6, color=color)
    for x, v, note in zip(xs, values, notes, strict=True):
        ax.text(x, (v or 0) + 2, note, ha="center", va="bottom", fontsize=7, color="#333333")
    ax.set_xticks(xs, labels)
    ax.set_ylim(0, 130)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.yaxis.set_major_formatter(_percent_formatter())
    ax.grid(axis="y", color="#e4e4e4")
    ax.set_axisbelow(True)


def _sla_charts(report: Row) -> list[tuple[str, str, str | None]]:
    keys = [*(["period"] if report.get("period") else []), *report.get("by", ())]
    rows = report["rows"]
    shown = rows[:MAX_BARS]
    more = f" (the first {MAX_BARS} of {len(rows)} rows)" if len(rows) > MAX_BARS else ""
    decided = [r for r in shown if r.get("attainment_pct") is not None]
    charts: list[tuple[str, str, str | None]] = []
    if decided:
        fig = _figure(0.28 * len(decided) + 0.9)
        ax = fig.add_subplot()
        _attainment_bars(ax, [_label(r, keys) for r in decided], [r["attainment_pct"] for r in decided],
                         [f"({r['met']}/{r['met'] + r['breached']})" for r in decided])
        charts.append(("attainment", "Attainment % per row: met ÷ (met + breached), (met/decided) beside" + more,
                       _svg(fig, "attainment")))
    else:
        charts.append(("attainment", "Attainment % per row", None))
    timed = [r for r in shown if r.get("p50_seconds") is not None]
    if timed:
        fig = _figure(0.42 * len(timed) + 1.1)
        ax = fig.add_subplot()
        n = len(timed)
        width = 0.26
        values: list[float] = []
        for j, p in enumerate((50, 90, 95)):
            xs = [float(r[f"p{p}_seconds"] or 0) for r in timed]
            values += xs
            ax.barh([(n - 1 - i) + (1 - j) * width for i in range(n)], xs, height=width, color=PALETTE[j],
                    label=f"p{p}")
        ax.set_yticks(list(range(n))[::-1], [_label(r, keys) for r in timed])
        _duration_axis(ax, values)
        ax.grid(axis="x", color="#e4e4e4")
        ax.set_axisbelow(True)
        ax.legend(loc="lower right", fontsize=8)
        charts.append(("percentiles", "Business time of met and breached clocks: p50 / p90 / p95" + more,
                       _svg(fig, "percentiles")))
    else:
        charts.append(("percentiles", "Business-time percentiles p50 / p90 / p95", None))
    return charts


def _credit_charts(report: Row) -> list[tuple[str, str, str | None]]:
    rows = report["rows"]
    if not rows:
        return [("credits", "Attainment and credit per period and contract", None)]
    contracts = list(dict.fromkeys(r["contract"] for r in rows))
    # one panel per contract: contracts may have different periods (months, quarters), each in time order
    fig = _figure(2.4 * len(contracts) + 0.4)
    axes = fig.subplots(len(contracts), 1, squeeze=False)[:, 0]
    for j, (ax, name) in enumerate(zip(axes, contracts, strict=True)):
        mine = sorted((r for r in rows if r["contract"] == name), key=lambda r: r["period_start"])[-MAX_BARS:]
        _percent_columns(ax, [r["period"] for r in mine], [r["attainment_pct"] for r in mine],
                         ["n/a" if r["attainment_pct"] is None else
                          f"{r['attainment_pct']:g}%\ncredit {r.get('credit_pct') or 0:g}%" for r in mine],
                         PALETTE[j % len(PALETTE)])
        ax.set_xlim(-0.6, max(len(mine), 4) - 0.4)  # a contract with few periods keeps narrow columns
        ax.set_title(name, loc="left", fontsize=9)
    return [("credits", "Attainment per period and contract, with the credit it earns", _svg(fig, "credits"))]


def _kpi_charts(report: Row) -> list[tuple[str, str, str | None]]:
    charts: list[tuple[str, str, str | None]] = []
    backlog = report["backlog"]
    if backlog["total"]:
        fig = _figure(3.0)
        ax = fig.add_subplot()
        buckets = backlog["buckets"]
        bottom = [0] * len(buckets)
        for j, row in enumerate(backlog["rows"]):
            counts = [row.get(b, 0) for b in buckets]
            if not any(counts):
                continue
            ax.bar(buckets, counts, bottom=bottom, color=PALETTE[j % len(PALETTE)], label=row["severity"], width=0.6)
            bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
        ax.set_ylabel("open tickets")
        ax.set_xlabel("age since creation")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", color="#e4e4e4")
        ax.set_axisbelow(True)
        ax.legend(title="severity", fontsize=8, title_fontsize=8)
        charts.append(("backlog", f"Backlog by age and severity: {backlog['total']} open at {report['now']}",
                       _svg(fig, "backlog")))
    else:
        charts.append(("backlog", "Backlog by age and severity", None))
    trends = [r for r in report["trends"] if r.get("attainment_pct") is not None]
    if trends:
        periods = sorted({r["period"] for r in report["trends"]})
        fig = _figure(3.0)
        ax = fig.add_subplot()
        for j, metric in enumerate(dict.fromkeys(r["metric"] for r in trends)):
            points = [(periods.index(r["period"]), r["attainment_pct"]) for r in trends if r["metric"] == metric]
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=PALETTE[j % len(PALETTE)],
                    label=metric)
        ax.set_xticks(list(range(len(periods))), periods)
        ax.set_ylim(-5, 105)
        ax.yaxis.set_major_formatter(_percent_formatter())
        ax.grid(axis="y", color="#e4e4e4")
        ax.legend(fontsize=8)
        charts.append(("trends", f"Attainment per {report.get('period') or 'period'}", _svg(fig, "trends")))
    else:
        charts.append(("trends", "Attainment trend", None))
    rows = report["escalations"]["rows"][:MAX_BARS]
    if rows:
        fig = _figure(0.3 * len(rows) + 0.9)
        ax = fig.add_subplot()
        y = list(range(len(rows)))[::-1]
        ax.barh(y, [r["count"] for r in rows], color=PALETTE[1], height=0.6)
        for yi, r in zip(y, rows, strict=True):
            ax.text(r["count"], yi, f" {r['count']}", va="center", fontsize=8)
        ax.set_yticks(y, [_label(r, ("escalation", "severity")) for r in rows])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, max(r["count"] for r in rows) * 1.12 + 0.5)
        total = report["escalations"]["total"]
        charts.append(("escalations", f"Escalations fired, by escalation and severity: {total}",
                       _svg(fig, "escalations")))
    else:
        charts.append(("escalations", "Escalations by escalation and severity", None))
    return charts


def _audit_charts(report: Row) -> list[tuple[str, str, str | None]]:
    charts: list[tuple[str, str, str | None]] = []
    confusion = report["confusion"]
    if confusion["tickets"]:
        declared, classified = confusion["declared"], confusion["classified"]
        grid = [[row.get(c, 0) for c in classified] for row in confusion["rows"]]
        fig = _figure(0.45 * len(declared) + 1.3)
        fig.set_size_inches(5.5, fig.get_size_inches()[1])
        ax = fig.add_subplot()
        peak = max(max(r) for r in grid) or 1
        image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=peak, aspect="auto")
        for i, row in enumerate(grid):
            for j, n in enumerate(row):
                ax.text(j, i, str(n), ha="center", va="center", fontsize=9,
                        color="white" if n > peak * 0.6 else "#222222",
                        fontweight="bold" if declared[i] == classified[j] else "normal")
        ax.set_xticks(range(len(classified)), classified)
        ax.set_yticks(range(len(declared)), declared)
        ax.set_xlabel("classified (used by the clocks)")
        ax.set_ylabel("declared (help desk)")
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        fig.colorbar(image, ax=ax, shrink=0.8, label="tickets", ticks=MaxNLocator(integer=True))
        charts.append(("confusion", "Declared vs classified severity (tickets; the diagonal agrees)",
                       _svg(fig, "confusion")))
    else:
        charts.append(("confusion", "Confusion matrix", None))
    by_period = report["top_share"]["by_period"]
    top = report.get("top_severity") or "top severity"
    if by_period:
        fig = _figure(3.0)
        ax = fig.add_subplot()
        _percent_columns(ax, [r["period"] for r in by_period], [r["share_pct"] for r in by_period],
                         [f"{r['share_pct']:g}%\n({r['top']}/{r['tickets']})" for r in by_period], PALETTE[3])
        charts.append(("top-share", f"Share of tickets classified {top}, per {report.get('period') or 'period'}",
                       _svg(fig, "top-share")))
    else:
        charts.append(("top-share", f"{top} share over time", None))
    return charts


def _attribution_charts(report: Row) -> list[tuple[str, str, str | None]]:
    """Per period, one bar of 100 %: the share of breached clocks' lateness each holder had."""
    rows = report["rows"]
    if not rows:
        return [("attribution", "Share of lateness per holder and period", None)]
    periods = sorted({r["period"] for r in rows})[-MAX_BARS:]
    holders = [t["holder"] for t in report["totals"]]
    fig = _figure(0.32 * len(periods) + 1.3)
    ax = fig.add_subplot()
    y = list(range(len(periods)))[::-1]
    left = [0.0] * len(periods)
    for j, holder in enumerate(holders):
        shares = [next((r["late_share_pct"] or 0.0 for r in rows if r["period"] == p and r["holder"] == holder), 0.0)
                  for p in periods]
        if not any(shares):
            continue
        ax.barh(y, shares, left=left, height=0.6, color=PALETTE[j % len(PALETTE)], label=_printable(holder))
        for yi, x0, share in zip(y, left, shares, strict=True):
            if share >= 8:
                ax.text(x0 + share / 2, yi, f"{share:.0f}%", ha="center", va="center", fontsize=7, color="white")
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_yticks(y, periods)
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(_percent_formatter())
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(holders), 6), fontsize=8, frameon=False)
    return [("attribution", f"Share of breached clocks' lateness per holder, per {report.get('period') or 'period'}",
             _svg(fig, "attribution"))]


def _ola_charts(report: Row) -> list[tuple[str, str, str | None]]:
    keys = ("agreement", "team", "metric", "severity")
    decided = [r for r in report["rows"] if r.get("attainment_pct") is not None][:MAX_BARS]
    charts: list[tuple[str, str, str | None]] = []
    if decided:
        fig = _figure(0.28 * len(decided) + 0.9)
        ax = fig.add_subplot()
        _attainment_bars(ax, [_label(r, (*(["period"] if report.get("period") else []), *keys)) for r in decided],
                         [r["attainment_pct"] for r in decided],
                         [f"({r['met']}/{r['met'] + r['breached']})" for r in decided])
        charts.append(("attainment", "Attainment % per agreement, team, metric and severity", _svg(fig, "attainment")))
    else:
        charts.append(("attainment", "Attainment % per agreement", None))
    rows = report["handoffs"]["rows"]
    if rows:
        fig = _figure(2.6)
        ax = fig.add_subplot()
        ax.bar([str(r["handoffs"]) for r in rows], [r["tickets"] for r in rows], color=PALETTE[1], width=0.6)
        ax.set_xlabel("handoffs between teams")
        ax.set_ylabel("tickets")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", color="#e4e4e4")
        ax.set_axisbelow(True)
        charts.append(("handoffs", "Tickets by number of handoffs (ping-pong)", _svg(fig, "handoffs")))
    else:
        charts.append(("handoffs", "Tickets by number of handoffs", None))
    return charts


def _capacity_charts(report: Row) -> list[tuple[str, str, str | None]]:
    """Per target, the staffing curve: agents per hour of the day, one line per weekday (Erlang C)."""
    charts: list[tuple[str, str, str | None]] = []
    for n, target in enumerate(report["targets"]):
        mine = [h for h in report["hours"] if h["target"] == target["target"]]
        key = f"staffing-{n + 1}"
        if not any(h["agents_erlang_c"] for h in mine):
            charts.append((key, f"Agents per hour for {target['target']}", None))
            continue
        fig = _figure(3.0)
        ax = fig.add_subplot()
        for j, day in enumerate(dict.fromkeys(h["weekday"] for h in mine)):
            points = sorted((h["hour"], h["agents_erlang_c"]) for h in mine if h["weekday"] == day)
            ax.step([p[0] for p in points], [p[1] for p in points], where="post", color=PALETTE[j % len(PALETTE)],
                    label=day)
        ax.set_xticks(range(0, 24, 2))
        ax.set_xlabel(f"hour of the day ({target['calendar']})")
        ax.set_ylabel("agents to schedule")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", color="#e4e4e4")
        ax.set_axisbelow(True)
        ax.legend(fontsize=8, ncol=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
        charts.append((key, f"Agents per hour for {target['target']} (Erlang C, shrinkage included)",
                       _svg(fig, key)))
    return charts or [("staffing-1", "Agents per hour", None)]


def _simulate_charts(report: Row) -> list[tuple[str, str, str | None]]:
    keys = [*(["period"] if report.get("period") else []), *report.get("by", ())]
    rows = [r for r in report["rows"] if any((r.get(side) or {}).get("attainment_pct") is not None
                                             for side in ("current", "proposed"))][:MAX_BARS]
    charts: list[tuple[str, str, str | None]] = []
    if rows:
        fig = _figure(0.42 * len(rows) + 1.1)
        ax = fig.add_subplot()
        n = len(rows)
        for j, side in enumerate(("current", "proposed")):
            values = [(r.get(side) or {}).get("attainment_pct") or 0 for r in rows]
            ax.barh([(n - 1 - i) + (0.5 - j) * 0.38 for i in range(n)], values, height=0.38, color=PALETTE[j],
                    label=side)
        ax.set_yticks(list(range(n))[::-1], [_label(r, keys) for r in rows])
        ax.set_xlim(0, 105)
        ax.xaxis.set_major_formatter(_percent_formatter())
        ax.grid(axis="x", color="#e4e4e4")
        ax.set_axisbelow(True)
        ax.legend(loc="lower right", fontsize=8)
        charts.append(("attainment", "Attainment % per row: current and proposed", _svg(fig, "attainment")))
    else:
        charts.append(("attainment", "Attainment % per row: current and proposed", None))
    counts = report.get("changed_counts") or {}
    if counts:
        fig = _figure(0.3 * len(counts) + 0.9)
        ax = fig.add_subplot()
        names = sorted(counts)
        y = list(range(len(names)))[::-1]
        ax.barh(y, [counts[k] for k in names], color=PALETTE[3], height=0.6)
        for yi, k in zip(y, names, strict=True):
            ax.text(counts[k], yi, f" {counts[k]}", va="center", fontsize=8)
        ax.set_yticks(y, [k.replace("_", " ") for k in names])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, max(counts.values()) * 1.15 + 0.5)
        charts.append(("changed", "Clocks whose outcome changes, by kind", _svg(fig, "changed")))
    else:
        charts.append(("changed", "Clocks whose outcome changes", None))
    return charts


CHARTS: dict[str, Callable[[Row], list[tuple[str, str, str | None]]]] = {
    "sla": _sla_charts, "credits": _credit_charts, "kpis": _kpi_charts, "audit": _audit_charts,
    "olas": _ola_charts, "attribution": _attribution_charts, "simulate": _simulate_charts,
    "capacity": _capacity_charts}

# --- HTML ---------------------------------------------------------------------------------------------

CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1d2330;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",
Arial,"DejaVu Sans",sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 28px 40px}
header{border-bottom:2px solid #2f6db5;margin-bottom:18px;padding-bottom:10px}
h1{font-size:24px;margin:0 0 6px}
h2{font-size:17px;margin:26px 0 8px}
h3{font-size:14px;margin:16px 0 6px;color:#3a4356}
dl.meta{display:flex;flex-wrap:wrap;gap:4px 22px;margin:0;color:#4a5366}
dl.meta div{display:flex;gap:6px}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0 4px}
.summary div{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px 14px;min-width:140px}
.summary b{display:block;font-size:20px}
.summary span{color:#5a6376;font-size:12px}
.charts{display:grid;grid-template-columns:1fr;gap:16px}
figure.chart{margin:0;background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:12px 14px}
figure.chart figcaption{font-weight:600;margin-bottom:6px}
figure.chart svg{display:block;max-width:100%;height:auto}
p.nodata{color:#6b7385;font-style:italic;margin:10px 0}
.table-wrap{overflow-x:auto;width:fit-content;max-width:100%;background:#fff;border:1px solid #dde1e8;
border-radius:6px}
table{border-collapse:collapse;font-size:12.5px}
th,td{padding:4px 9px;border-bottom:1px solid #eceef2;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#eef1f6;font-weight:600;white-space:normal;vertical-align:bottom}
th.num{text-align:right}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:normal}
td.text{white-space:normal;min-width:260px}
td.wrap{white-space:normal}
td.wrap span{white-space:nowrap}
td .dur{color:#7a8294;font-size:11px;margin-left:4px;display:inline-block;white-space:nowrap}
tbody tr:nth-child(even){background:#fafbfc}
tr.total td{font-weight:600;border-top:2px solid #d5d9e1}
p.note{color:#5a6376;font-size:12px;margin:4px 0}
footer{margin-top:30px;color:#7a8294;font-size:12px}
"""

FOOTNOTES = {
    "sla": "Durations are business seconds on each clock's calendar; attainment is met ÷ (met + breached).",
    "credits": "Attainment is met ÷ (met + breached) over the contract's clocks; the credit is the sliding "
               "scale's step for it.",
    "kpis": "Backlog ages and paused/open times are wall-clock seconds; trend percentiles are business seconds.",
    "audit": "Tickets count in the window by creation, as classified at the report's instant.",
    "olas": "Durations are business seconds on each agreement's calendar; each assignment to a team is a cycle.",
    "attribution": "Breached customer clocks by start; lateness is business time past the due instant, split by "
                   "who held the ticket (customer: pending).",
    "capacity": "Arrivals per weekday and hour from the history; Erlang C per open hour, then a simulation of "
                "the same queue over business hours (closed hours carry their backlog); hours with no one open "
                "and no arrival are left out of the table.",
    "simulate": "The same history under both configs at the same instant; difference = proposed − current. "
                "The CSV has every number and each changed clock's explain commands.",
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSP_HEADER = f"{CSP}; frame-ancestors 'none'"   # no page may frame a report (only a header can say so)
WIDE_TEXT = {"detail"}
WORDS = {"dates", "organizations", "late_by", "held_by", "path"}


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


def _cell(column: str, value: Any) -> str:
    if value is None or value == "":
        return '<td class="empty">–</td>'
    if isinstance(value, bool):
        return f"<td>{_esc(value)}</td>"
    if isinstance(value, int | float):
        hint = ""
        if column.endswith("_seconds") and value:
            hint = f'<span class="dur">{_esc(_nice_duration(value))}</span>'
        return f'<td class="num">{_esc(value)}{hint}</td>'
    cls = ' class="text"' if column in WIDE_TEXT else ""
    text = str(value)
    # a wide table breaks these cells only where this says (a hyphen inside a date or a name never breaks)
    if _INSTANT.fullmatch(text):   # the time under the date
        return f'<td class="wrap instant"><span>{_esc(text[:10])}</span><wbr><span>{_esc(text[10:])}</span></td>'
    if column in WORDS:            # between words
        return f'<td class="wrap">{" ".join(f"<span>{_esc(w)}</span>" for w in text.split(" "))}</td>'
    return f"<td{cls}>{_esc(text)}</td>"


_NUM = ' class="num"'


def _table(rows: Sequence[Row], columns: Sequence[str], *, table_id: str, total_label: str | None = None) -> str:
    numeric = {c for c in columns if any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
                                         for r in rows)}
    # a long column name may break after an underscore (<wbr>) rather than push a wide table off the page
    head = "".join(f'<th scope="col"{_NUM if c in numeric else ""}>{_esc(c).replace("_", "_<wbr>")}</th>'
                   for c in columns)
    body = []
    for row in rows:
        cls = ' class="total"' if total_label is not None and row.get(columns[0]) == total_label else ""
        body.append(f"<tr{cls}>" + "".join(_cell(c, row.get(c)) for c in columns) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(columns)}" class="empty">no rows</td></tr>')
    return (f'<div class="table-wrap"><table id="{_esc(table_id)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _summary(items: Sequence[tuple[str, Any]]) -> str:
    cards = "".join(f"<div><b>{_esc('–' if v is None else v)}</b><span>{_esc(k)}</span></div>" for k, v in items)
    return f'<div class="summary">{cards}</div>'


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value:g}%"


def _summaries(report: Row) -> str:
    name = report["report"]
    if name == "sla":
        rows = report["rows"]
        met = sum(r["met"] for r in rows)
        breached = sum(r["breached"] for r in rows)
        overall = share_pct(met, met + breached)
        return _summary([("rows", len(rows)), ("clocks met", met), ("clocks breached", breached),
                         ("attainment, all rows", _pct(overall)), ("breaches listed", len(report["breaches"])),
                         ("breaches in total", report["breaches_total"])])
    if name == "credits":
        rows = report["rows"]
        owed = [r for r in rows if r.get("credit_pct")]
        return _summary([("contracts", len({r["contract"] for r in rows})), ("periods", len(rows)),
                         ("periods with a credit", len(owed))])
    if name == "kpis":
        reopens = report["reopens"]
        return _summary([("open tickets", report["backlog"]["total"]),
                         ("reopen rate", _pct(reopens["reopen_rate_pct"])),
                         ("time paused", _pct(report["paused"]["paused_pct"])),
                         ("escalations fired", report["escalations"]["total"])])
    if name == "olas":
        rows = report["rows"]
        met = sum(r["met"] for r in rows)
        breached = sum(r["breached"] for r in rows)
        handoffs = report["handoffs"]
        return _summary([("agreements", len(report["agreements"])), ("cycles met", met),
                         ("cycles breached", breached), ("attainment, all rows", _pct(share_pct(met, met + breached))),
                         ("tickets handed off", handoffs["handed_off"]), ("handoffs", handoffs["total"])])
    if name == "capacity":
        return _summary([(t["target"], f"peak {t['peak_agents_erlang_c']} (simulated {t['peak_agents_simulated']})")
                         for t in report["targets"]])
    if name == "simulate":
        counts = report.get("changed_counts") or {}
        return _summary([("clocks changed", sum(counts.values())), ("met → breached", counts.get("met_to_breached", 0)),
                         ("breached → met", counts.get("breached_to_met", 0)),
                         ("write-backs, difference", sum(report["actions"]["difference"].values()))])
    if name == "attribution":
        top = report["totals"][0] if report["totals"] else None
        return _summary([("breached clocks", report["breached_clocks"]),
                         ("lateness", _nice_duration(report["late_seconds"] or 0)),
                         ("most of the lateness", "–" if top is None else
                          f"{top['holder']} {_pct(top['late_share_pct'])}")])
    confusion = report["confusion"]
    share = report["top_share"]
    counts = report["findings"]["counts"]
    return _summary([("tickets", confusion["tickets"]), ("declared = classified", _pct(confusion["agreement_pct"])),
                     ("raised by rules", confusion["raised"]), ("lowered by rules", confusion["lowered"]),
                     (f"{report.get('top_severity')} share", _pct(share["share_pct"])),
                     ("findings", sum(counts.values()))])


SECTION_TITLES = {
    ("sla", "rows"): "Attainment per row", ("sla", "breaches"): "Breached clocks",
    ("credits", "rows"): "Credits per contract and period", ("credits", "breaches"): "Breaches counted",
    ("credits", "exclusions"): "Excluded clocks",
    ("kpis", "backlog"): "Backlog (open tickets by age)", ("kpis", "trends"): "Trends",
    ("kpis", "reopens"): "Reopens", ("kpis", "paused"): "Time paused (share of open wall time)",
    ("kpis", "escalations"): "Escalations", ("kpis", "groups"): "Groups",
    ("audit", "confusion"): "Declared vs classified severity",
    ("audit", "top_share_by_period"): "Top-severity share per period",
    ("audit", "top_share_by_org"): "Top-severity share per organization",
    ("audit", "top_share_by_group"): "Top-severity share per group",
    ("audit", "top_share_by_agent"): "Top-severity share per agent (assignee)",
    ("audit", "rules"): "Classification rules that fired", ("audit", "findings"): "Findings",
    ("audit", "bounced"): "Bounced tickets (handed between teams more often than allowed)",
    ("olas", "rows"): "Attainment per agreement", ("olas", "breaches"): "Breached cycles",
    ("olas", "handoffs"): "Handoffs per ticket", ("olas", "bounced"): "Most-bounced tickets",
    ("attribution", "rows"): "Lateness and time per holder and period", ("attribution", "totals"): "Overall",
    ("attribution", "worst"): "Worst breaches",
    ("capacity", "targets"): "Targets", ("capacity", "hours"): "Per weekday and hour",
    ("simulate", "rows"): "Attainment under each config", ("simulate", "changed"): "Clocks whose outcome changes",
    ("simulate", "actions"): "Write-back actions due, by kind",
    ("simulate", "escalations"): "Escalations fired", ("simulate", "credits"): "Service credits",
}
TABLE_IDS = {("credits", "breaches"): "table-credit-breaches", ("credits", "exclusions"): "table-credit-exclusions"}
CREDIT_VIEW = ("contract", "organizations", "period", "contract_period", "dates", "counted", "met", "breached",
               "excluded", "attainment_pct", "credit_pct", "fee", "credit_amount", "currency")


def _days(start: str, end: str, zone: ZoneInfo) -> str:
    """An instant range [start, end) as the local dates it covers: 2026-01-01 – 2026-03-31.

    The instants are the report's own, read back as written (not through `parse_instant`, which holds input to
    the accepted range): a period's bounds may lie outside it, e.g. the exclusive end of December 2099,
    2100-01-01T00:00:00Z, or the start of January 1970 in a zone east of UTC, 1969-12-31T14:00:00Z.
    """
    first = datetime.fromisoformat(start).astimezone(zone).date()
    last = (datetime.fromisoformat(end) - timedelta(microseconds=1)).astimezone(zone).date()
    return f"{first} – {last}"


def _credit_view(report: Row, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The credits rows for a page: the period's dates (and the part the window covers) in one column instead of
    four instants, and without the counts that repeat `breached` and `excluded`: the CSV and JSON keep them all."""
    zone = ZoneInfo(report["timezone"])
    out = []
    for row in rows:
        dates = _days(row["period_start"], row["period_end"], zone)
        if row.get("partial"):
            dates += f" (counted: {_days(row['counted_from'], row['counted_to'], zone)})"
        out.append({**{k: row.get(k) for k in CREDIT_VIEW}, "dates": dates})
    return out, list(CREDIT_VIEW)


def _meta(report: Row) -> str:
    window = f"{report.get('from') or 'the beginning'} – {report.get('to') or 'now'}"
    items = [("As of", report.get("now")), ("Window", window), ("Time zone", report.get("timezone"))]
    if report.get("period"):
        items.append(("Period", report["period"]))
    if report.get("by"):
        items.append(("Grouped by", ", ".join(report["by"])))
    body = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(v)}</dd></div>" for k, v in items)
    return f'<dl class="meta">{body}</dl>'


def _notes(report: Row) -> str:
    """What the report says in words beside its numbers (e.g. a window that covers part of a contract's period)."""
    return "".join(f'<p class="note report-note">{_esc(note)}</p>' for note in report.get("notes") or ())


def _skipped_note(report: Row) -> str:
    items = [f"{r['count']} {r['reason']}" for r in _skipped_rows(report)]
    if not items:
        return ""
    return (f'<p class="note skipped" id="skipped">Left out of this report: {_esc("; ".join(items))}. '
            "The numbers shown are without them.</p>")


def render_html(report: dict[str, Any]) -> str:
    """Return the report as one self-contained HTML page: inline CSS, inline SVG charts, every table."""
    name = report.get("report")
    if name not in CHARTS:
        raise ValueError(f"unknown report {name!r}; reports are {', '.join(TITLES)}")
    title = TITLES[name]
    figures = []
    with matplotlib.rc_context(RC):
        charts = CHARTS[name](report)
    for key, caption, svg in charts:
        inner = svg if svg is not None else '<p class="nodata">No data for this chart in the window.</p>'
        figures.append(f'<figure class="chart" id="chart-{key}"><figcaption>{_esc(caption)}</figcaption>'
                       f"{inner}</figure>")
    sections = []
    for section, rows, fallback in _tables(report):
        heading = SECTION_TITLES.get((name, section), section)
        note = ""
        if name in ("sla", "olas") and section == "breaches" and report["breaches_total"] > len(rows):
            note = (f'<p class="note">The {len(rows)} latest of {report["breaches_total"]} breaches, by lateness '
                    "(raise breach_limit for more).</p>")
        table_id = TABLE_IDS.get((name, section)) or "table-" + re.sub(r"\W+", "-", section)
        columns = _columns(rows, fallback)
        if name == "credits" and section == "rows":
            rows, columns = _credit_view(report, rows)
        if name == "simulate" and section in ("rows", "changed"):
            rows, columns = _simulate_view(report, rows, section)
        sections.append(f"<h2>{_esc(heading)}</h2>{note}"
                        f"{_table(rows, columns, table_id=table_id, total_label=ALL)}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)} · {_esc(report.get('now'))}</title><style>{CSS}</style></head>\n"
        f'<body><main class="report report-{_esc(name)}"><header><h1>{_esc(title)}</h1>{_meta(report)}</header>\n'
        f"{_skipped_note(report)}{_notes(report)}"
        f"{_summaries(report)}\n"
        f'<h2>Charts</h2><div class="charts">{"".join(figures)}</div>\n'
        f"{''.join(sections)}\n"
        f"<footer>Generated by the SLA connector. {_esc(FOOTNOTES[name])}</footer>"
        "</main></body></html>\n"
    )
