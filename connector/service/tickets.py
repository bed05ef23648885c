"""Read one ticket's SLA state: `GET /tickets/<source>/<ticket_id>` and `…/explain`, behind a bearer token.

    GET /tickets/<source>/<ticket_id>[?account=A]          200 the ticket as `connector replay` shows it
    GET /tickets/<source>/<ticket_id>/explain[?account=A]  200 text/plain, the `connector explain` story
    GET /tickets/<source>?id=<ticket_id>[&account=A]       the same two, the id given as a query parameter
    GET /tickets/<source>/explain?id=<ticket_id>[&account=A]
    401 no or wrong `Authorization: Bearer <CONNECTOR_API_TOKEN>`   403 no token configured (endpoint off): auth.py
    404 unknown ticket    409 the id exists in several accounts: add ?account=    400 unusable id

Every id a source accepts can be read back. In the path, the id is the rest of it: slashes included
(`/tickets/webhook/acme/42` is ticket `acme/42`, as GitHub's `owner/repo#12` is `owner/repo%2312`; a
`%2F` is decoded before routing, so it is a slash like any other), a last `/explain` asks for the story.
What a path cannot say is the JSON of an id that ends in `/explain` (or is `explain`), nor an id a client
rewrites before sending (`.` and `..` segments): such an id, and any other, goes in the query, `?id=`,
percent-encoded as any query value; `/tickets/<source>/explain` without `id` is the ticket `explain`.

Both evaluate the ticket at the app clock's current second, like the worker (`TicketProcessor.now`; the
story at the later of that and its last event, so a sender's clock running ahead never hides an event):
the JSON is what `connector replay --now <that second>` prints for the ticket. Nothing here writes.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, jsonify, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select
from werkzeug.routing import BaseConverter

from connector.events import MAX_ID_LENGTH
from connector.explain import TicketNotFound, explain
from connector.service.auth import authorize
from connector.service.context import ServiceContext, context
from connector.service.errors import error_response
from connector.store import Store, TicketKey
from connector.store.schema import tickets

bp = Blueprint("tickets", __name__)

MAX_ID = MAX_ID_LENGTH  # the limit every source's identifiers are held to at the door: a longer id cannot exist
MAX_ACCOUNTS_SHOWN = 10


class TicketIdConverter(BaseConverter):
    """A ticket id in a path: the rest of it, slashes and all (a leading one too, which Werkzeug's `path`
    converter refuses)."""

    regex = ".+"
    part_isolating = False  # it spans segments


@bp.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["ticket_id"] = TicketIdConverter


def ticket_accounts(store: Store, source: str, ticket_id: str, *, limit: int = MAX_ACCOUNTS_SHOWN + 1) -> list[str]:
    """Return the accounts (sorted) that have a ticket with this source and id."""
    query = (select(tickets.c.account).where(tickets.c.source == source, tickets.c.ticket_id == ticket_id)
             .order_by(tickets.c.account).limit(limit))
    with store.read() as conn:
        return [row[0] for row in conn.execute(query).all()]


def _usable(value: str) -> bool:
    return 0 < len(value) <= MAX_ID and value.isprintable()


def _find(ctx: ServiceContext, source: str, ticket_id: str) -> TicketKey | Response:
    """Resolve the ticket's key (source, account, id), or return the error answer."""
    account = request.args.get("account")
    if not (_usable(source) and _usable(ticket_id) and (account is None or _usable(account))):
        return error_response(400, "bad_request", f"source, account and ticket id must be 1-{MAX_ID} printable "
                                                  "characters")
    if account is not None:
        return (source, account, ticket_id)
    accounts = ticket_accounts(ctx.store, source, ticket_id)
    if not accounts:
        return error_response(404, "not_found", "no such ticket")
    if len(accounts) > 1:
        shown = ", ".join(accounts[:MAX_ACCOUNTS_SHOWN]) + (", …" if len(accounts) > MAX_ACCOUNTS_SHOWN else "")
        return error_response(409, "conflict", f"the ticket id exists in several accounts ({shown}); "
                                               "choose one with ?account=")
    return (source, accounts[0], ticket_id)


def _authorized_key(ctx: ServiceContext, source: str, ticket_id: str | None) -> TicketKey | Response:
    """Check the API token, then find the ticket (its id from the path, else `?id=`): its key, or the error
    response to send."""
    refused = authorize(ctx)
    if refused is not None:
        return refused
    given = request.args.get("id")
    if ticket_id is None:
        if given is None:
            return error_response(400, "bad_request", "id: which ticket? /tickets/<source>/<id>, or "
                                                      "/tickets/<source>?id=<id> for any id")
        ticket_id = given
    elif given is not None:
        return error_response(400, "bad_request", "id: the path names the ticket already; give it once")
    return _find(ctx, source, ticket_id)


# `merge_slashes=False`: an id may hold "//" (or begin with "/"), which Werkzeug would otherwise answer with a
# redirect to another ticket's path
@bp.get("/tickets/<source>", defaults={"ticket_id": None}, merge_slashes=False)
@bp.get("/tickets/<source>/<ticket_id:ticket_id>", merge_slashes=False)
def ticket(source: str, ticket_id: str | None) -> Response:
    """Return one ticket's severity, policy, clocks and due actions as JSON."""
    ctx = context()
    key = _authorized_key(ctx, source, ticket_id)
    if isinstance(key, Response):
        return key
    report = ctx.processor.report(key, ctx.processor.now())
    if report is None:
        return error_response(404, "not_found", "no such ticket")
    return jsonify(report.as_dict())


@bp.get("/tickets/<source>/explain", defaults={"ticket_id": None}, merge_slashes=False)
@bp.get("/tickets/<source>/<ticket_id:ticket_id>/explain", merge_slashes=False)
def explain_ticket(source: str, ticket_id: str | None) -> Response:
    """Return the human story of one ticket as plain text."""
    if ticket_id is None and "id" not in request.args:
        return ticket(source, "explain")  # no `?id=`: the path names the ticket whose id is `explain`
    ctx = context()
    key = _authorized_key(ctx, source, ticket_id)
    if isinstance(key, Response):
        return key
    events = ctx.store.ticket_events(key)
    if not events:
        return error_response(404, "not_found", "no such ticket")
    now: datetime = max(ctx.processor.now(), events[-1].occurred_at)
    try:
        text = explain(ctx.config, events, key[2], source=source, now=now)
    except TicketNotFound:
        return error_response(404, "not_found", "no such ticket")
    return Response(text, content_type="text/plain; charset=utf-8")
