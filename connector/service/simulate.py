"""What-if on the store: `POST /simulate` (and `GET /simulate` with a body) with a proposed config.

    POST /simulate?format=json|html|csv&from=D&to=D&by=a,b&period=P&tz=Z&table=NAME
         body: the proposed config, YAML or JSON (at most the webhook body limit; no YAML aliases)
    200 `connector.reports.simulate` of the store's history, the app's config against the proposed one,
        at the app clock's second
    400 {"error": "invalid_config", "reason", "problems": [...]}: every problem of the proposed config by key
        path, as `connector check-config` lists them; or a parameter that makes no sense
    401/403 as /reports (the API token or a browser session)    413 a body over the limit
    503 the database cannot be read (with Retry-After)

The proposed config is validated like `check-config` and never saved. `GET` with a body is accepted because
the contract names it (DESIGN §3.4.1); `POST` is what HTTP clients and proxies expect of a request that
carries a body.
"""

from __future__ import annotations

from typing import Any

import yaml
from flask import Blueprint, Response, jsonify, request

from connector import yamltext
from connector.config import parse_config
from connector.errors import ConfigError
from connector.reports.build import ReportError, ReportOptions, check_table, resolve_window, split_keys
from connector.reports.render import CSP_HEADER, render_csv, render_html
from connector.reports.simulate import simulate
from connector.reports.sla import normalize_by
from connector.reports.store_events import stored_events
from connector.service.auth import authorize
from connector.service.context import context
from connector.service.errors import error_response, query_args, safe_reason

bp = Blueprint("simulate", __name__)

PARAMETERS = ("format", "from", "to", "period", "by", "tz", "table")
FORMATS = ("json", "html", "csv")
PATIENCE = 120.0  # seconds the store's statements may take: two replays of the whole history


class _NoAliases(yamltext.ValuesChecked, yaml.SafeLoader):
    """Safe YAML without anchors and aliases (a few lines of aliases can expand to gigabytes), its values
    checked (a date such as 2026-02-30 is a YAML error at its line, not a 500)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted here", event.start_mark)
        return super().compose_node(parent, index)


def _proposed(body: bytes) -> tuple[Any, Response | None]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, error_response(400, "bad_request", "the proposed config must be UTF-8 YAML or JSON")
    if not text.strip():
        return None, error_response(400, "bad_request", "send the proposed config (YAML or JSON) as the body")
    try:
        data = yaml.load(text, Loader=_NoAliases)  # noqa: S506 (a SafeLoader without aliases)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, error_response(400, "bad_request", f"the proposed config is not valid YAML{where}: "
                                                        f"{getattr(err, 'problem', None) or err}")
    try:
        return parse_config(data, source="the proposed config"), None
    except ConfigError as err:
        response = jsonify({"error": "invalid_config", "reason": safe_reason(str(err).splitlines()[0]),
                            "problems": [safe_reason(p) for p in err.problems]})
        response.status_code = 400
        return None, response


@bp.route("/simulate", methods=["GET", "POST"])
def simulate_view() -> Response:
    ctx = context()
    refused = authorize(ctx)
    if refused is not None:
        return refused
    args, bad = query_args(PARAMETERS)
    if bad is not None:
        return bad
    table = args.get("table") or None
    fmt = args.get("format") or ("csv" if table else "json")
    if fmt not in FORMATS:
        return error_response(400, "bad_request", f"format: must be one of {', '.join(FORMATS)}")
    body = request.get_data(cache=False)
    if len(body) > ctx.max_body_bytes:
        return error_response(413, "too_large", f"the proposed config is over {ctx.max_body_bytes} bytes")
    proposed, refusal = _proposed(body)
    if refusal is not None:
        return refusal
    try:
        if table is not None:
            if fmt != "csv":
                raise ReportError("one table alone is CSV: leave out format, or ask for format=csv", parameter="table")
            check_table("simulate", table)
        options = ReportOptions(start=args.get("from"), end=args.get("to"), period=args.get("period") or None,
                                by=split_keys([args.get("by", "")]), timezone=args.get("tz") or None)
        window, zone = resolve_window(ctx.config, options)
        try:
            keys = normalize_by(options.by) if options.by else None
        except ValueError as err:
            raise ReportError(str(err), parameter="by") from None
    except ReportError as err:
        return error_response(400, "bad_request", err.message)
    now = ctx.processor.now()
    with ctx.store.patience(PATIENCE):
        events, _ = stored_events(ctx.store, until=now)
    data = simulate(ctx.config, proposed, events, now=now, window=window, by=keys, period=options.period, tz=zone)
    if fmt == "json":
        return jsonify(data)
    if fmt == "csv":
        return Response(render_csv(data, table=table), content_type="text/csv; charset=utf-8")
    return Response(render_html(data), content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": CSP_HEADER})
