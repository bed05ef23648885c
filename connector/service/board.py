"""The live board: `GET /board` (a page that updates itself) and `GET /board.json` (its data).

    GET /board.json?source=S&group=G&assignee=A&severity=P1&metric=M&limit=N
        200 {"as_of", "rows": [...], "counts": {"breached", "within_1h", "within_4h", "within_24h"}, ...}
            (`connector.reports.board`), with an ETag: `If-None-Match` with it answers 304 while nothing changed
        400 an unknown parameter, a value over 100 characters or with a control character, a bad limit
        503 the database cannot be read (with Retry-After): the page keeps its last board and says so
    GET /board[?filters][&token=T][&every=N]   the page (connector.reports.board_page), asking again every N
                                               seconds (2 to 600, default 10)

Both take the API token or a browser session, like /reports; and, when `CONNECTOR_BOARD_TOKEN` is set, that
read-only token as `?token=` — for a wall screen that cannot sign in. It opens the board and nothing else.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, request

from connector.jsontext import dumps
from connector.reports.board import BoardQuery, board_data, parse_filters
from connector.reports.board_page import BOARD_CSP, POLL_LEAST, POLL_MOST, render_board_page
from connector.reports.board_query import DEFAULT_LIMIT, FILTERS, FORECAST_DAYS, MAX_LIMIT
from connector.service import session
from connector.service.auth import authorize
from connector.service.context import ServiceContext, context
from connector.service.errors import error_response, query_args

bp = Blueprint("board", __name__)

PARAMETERS = (*FILTERS, "limit", "token")


def _authorize(ctx: ServiceContext) -> Response | None:
    """The board's own read-only token (`?token=`), else what /reports takes."""
    wall = ctx.settings.board_token
    given = request.args.get("token")
    if wall is not None and wall.reveal() and given is not None:
        if session.same_secret(given, wall.reveal()):
            return None
        return error_response(401, "unauthorized", "wrong board token")
    return authorize(ctx)


def _checked_args(*, page: bool = False) -> tuple[dict[str, str], Response | None]:
    return query_args((*PARAMETERS, "every") if page else PARAMETERS)


@bp.get("/board.json")
def board_json() -> Response:
    ctx = context()
    refused = _authorize(ctx)
    if refused is not None:
        return refused
    args, bad = _checked_args()
    if bad is not None:
        return bad
    limit = DEFAULT_LIMIT
    if args.get("limit"):
        text = args["limit"].strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 1 <= int(text) <= MAX_LIMIT:
            return error_response(400, "bad_request", f"limit: must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(text)
    data = board_data(ctx.store, ctx.config, ctx.processor.now(), BoardQuery(filters=parse_filters(args), limit=limit),
                      forecast_days=FORECAST_DAYS)
    body = dumps(data)
    # everything but the instant it was read at: while calendars are closed nothing moves, and it is a 304
    tag = '"' + hashlib.sha256(dumps({k: v for k, v in data.items() if k != "as_of"}).encode("utf-8")
                               ).hexdigest()[:32] + '"'
    if tag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
        return Response(status=304, headers={"ETag": tag, "Cache-Control": "no-cache"})
    return Response(body, content_type="application/json", headers={"ETag": tag, "Cache-Control": "no-cache"})


@bp.get("/board")
def board_page() -> Response:
    ctx = context()
    refused = _authorize(ctx)
    if refused is not None:
        return refused
    args, bad = _checked_args(page=True)
    if bad is not None:
        return bad
    every = args.get("every", "").strip()
    if every and not (every.isascii() and every.isdigit() and len(every) <= 3
                      and POLL_LEAST <= int(every) <= POLL_MOST):
        return error_response(400, "bad_request", f"every: must be a whole number of seconds from {POLL_LEAST} "
                                                  f"to {POLL_MOST}")
    return Response(render_board_page(), content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": BOARD_CSP, "Cache-Control": "no-cache",
                             "Referrer-Policy": "no-referrer"})
