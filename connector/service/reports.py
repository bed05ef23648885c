"""The reports over the store: `GET /reports/<name>`, behind the API token (auth.py).

    GET /reports/<sla|credits|kpis|audit|olas|attribution>?format=html|json|csv&from=D&to=D&period=P&by=a,b
                                          &tz=Z&breach_limit=N&table=NAME
    200 the report: text/html (one self-contained page), application/json, or text/csv (`table`: that one
        table alone, e.g. the audit's `findings`; a `table` without a format is CSV)
    401/403 as /tickets, the bearer token or a browser session (auth.py)     404 unknown report
    400 a parameter that makes no sense, the reason starting with its name (a date or instant outside
    1970-2099, an unknown period, zone, grouping, format or table — the reason lists the report's tables —,
    a `table` with a format other than csv, a breach_limit that is not a whole number from 0 to 100000, a
    value over 100 characters or with a control character, an unknown parameter)
    503 the database cannot be read (with Retry-After)

The HTML page is sent with its Content-Security-Policy as a header too, with `frame-ancestors 'none'`
(a browser ignores that directive in the page's `<meta>` tag): no other site can frame a report.

The report is built at the app clock's now by `build_report`, the CLI's entry point, so the web and the CLI
show the same numbers; `from`/`to` are dates (local to `tz`, `to` inclusive) or ISO instants. Nothing here writes.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from connector.reports.build import (
    REPORTS,
    ReportError,
    ReportOptions,
    build_report,
    check_table,
    parse_breach_limit,
    split_keys,
)
from connector.reports.render import CSP_HEADER, render_csv, render_html
from connector.service.auth import authorize
from connector.service.context import context
from connector.service.errors import error_response, query_args

bp = Blueprint("reports", __name__)

FORMATS = ("html", "json", "csv")
PARAMETERS = ("format", "from", "to", "period", "by", "tz", "breach_limit", "table")
REPORT_PATIENCE = 120.0  # seconds a report's statements may take (the store's timeout is for requests)


def _options(args: dict[str, str]) -> ReportOptions:
    """Return the report options of the query; raise `ReportError` naming a parameter that makes no sense."""
    limit = ReportOptions().breach_limit
    if "breach_limit" in args:
        limit = parse_breach_limit(args["breach_limit"])
    by = split_keys([args.get("by", "")])
    return ReportOptions(start=args.get("from"), end=args.get("to"), period=args.get("period") or None, by=by,
                         timezone=args.get("tz") or None, breach_limit=limit)


@bp.get("/reports/<name>")
def report(name: str) -> Response:
    """Return one report, built from the store at the app clock's now, as HTML, JSON or CSV."""
    ctx = context()
    refused = authorize(ctx)
    if refused is not None:
        return refused
    if name not in REPORTS:
        return error_response(404, "not_found", f"no such report; reports are {', '.join(REPORTS)}")
    args, bad = query_args(PARAMETERS)
    if bad is not None:
        return bad
    table = args.get("table") or None
    fmt = args.get("format") or ("csv" if table else "html")
    if fmt not in FORMATS:
        return error_response(400, "bad_request", f"format: must be one of {', '.join(FORMATS)}")
    try:
        if table is not None:
            if fmt != "csv":
                raise ReportError("one table alone is CSV: leave out format, or ask for format=csv",
                                  parameter="table")
            check_table(name, table)  # before the report is built: a wrong name costs nothing
        with ctx.store.patience(REPORT_PATIENCE):  # a report over a large store legitimately takes a while
            data = build_report(name, ctx.config, store=ctx.store, now=ctx.processor.now(),  # the current second
                                options=_options(args))
    except ReportError as err:
        return error_response(400, "bad_request", err.message)
    # a database that cannot answer is the shared 503 with Retry-After and the reason (errors.py)
    if fmt == "json":
        return jsonify(data)
    if fmt == "csv":
        filename = f"report-{name}-{table}.csv" if table else f"report-{name}.csv"
        return Response(render_csv(data, table=table), content_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'inline; filename="{filename}"'})
    return Response(render_html(data), content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": CSP_HEADER})
