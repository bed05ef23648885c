"""The browser's way into `/tickets` and `/reports`: a one-time sign-in link that leaves a session cookie.

    login_link(base_url, token)   <base>/login?code=<issued>.<nonce>.<mac>: `connector run` prints it
    GET  /login?code=C            C checked and spent; 303 to /reports/sla with the session cookie
    GET  /login                   a form for the API token (the link expired or was used, or none was printed)
    POST /login token=T[&next=P]  the same cookie for the token itself; 303 to P (a /reports or /tickets page)

    401 a code that is not valid, has expired or was already used; a wrong token      403 no API token set
    (JSON ``{"error", "reason"}``, or a small HTML page with the form when the client asks for HTML)

**Codes** are `<issued>.<nonce>.<mac>`: the instant of issue (Unix seconds), 16 random bytes, and an
HMAC-SHA256 of both under a key derived from the API token (an HMAC of the token with a purpose label),
base64url. A code works for `LINK_TTL_SECONDS` after its issue, and once: its first use inserts its SHA-256
into the store's `login_codes` table, whose key is unique, so two web processes or two machines cannot both
accept it. No process keeps anything in memory: any process with the same token checks any code, and a new
token voids every link. A HEAD request (a link checker) never spends a code.

**Sessions** are the cookie `connector_session`, `<expires>.<mac>` under a second derived key, valid for
`SESSION_TTL_SECONDS`: HttpOnly, SameSite=Strict, Secure on https, and set twice, with Path=/reports and
Path=/tickets, so that no other route (webhooks, metrics) ever receives it. Nothing of a session is stored:
a new token ends them all. `authorize` (auth.py) accepts the cookie where it accepts the bearer token.

After a link is used the browser is sent on with a 303, so the address bar and the history hold the report's
URL, not the code. A link opened from another site's page (``Sec-Fetch-Site: cross-site``) gets a page that
moves on by itself instead: browsers do not send a SameSite=Strict cookie on a redirect that a cross-site
navigation started, and the report would answer 401 once.

No code, token or cookie value is ever logged or written into a reason: a refusal logs its kind only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, request
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from connector.service.context import ServiceContext, context
from connector.service.errors import error_response
from connector.store import Store
from connector.store.schema import login_codes

__all__ = ["LINK_TTL_SECONDS", "SESSION_TTL_SECONDS", "bp", "login_link", "same_secret", "session_valid"]

log = logging.getLogger("connector.service.session")

bp = Blueprint("session", __name__)

LINK_TTL_SECONDS = 5 * 60           # a link printed at start is opened within moments; an old one is refused
SESSION_TTL_SECONDS = 8 * 3600      # a working day
CLOCK_SKEW_SECONDS = 60             # a link issued on a machine whose clock runs this far ahead still works
KEEP_SPENT_SECONDS = 3600           # spent codes are kept this long after they expire: clocks of machines differ
COOKIE = "connector_session"
COOKIE_PATHS = ("/reports", "/tickets", "/board", "/board.json")  # a cookie's path /board misses /board.json
LANDING = "/reports/sla"
MAX_NEXT = 512
MAX_TOKEN = 4096

_LINK_KEY = b"connector/login-link/v1"
_SESSION_KEY = b"connector/session/v1"
_CODE = re.compile(r"([0-9]{1,11})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")
_SESSION = re.compile(r"([0-9]{1,11})\.([A-Za-z0-9_-]{43})")

REASONS = {
    "invalid": "this sign-in link is not valid (cut short, mistyped, or made for another API token)",
    "early": "this sign-in link was issued in the future: the clocks of the machines disagree",
    "expired": f"this sign-in link has expired: a link works for {LINK_TTL_SECONDS // 60} minutes",
    "spent": "this sign-in link was already used: a link works once",
    "wrong_token": "wrong API token",
    "no_session": "sign in: open the sign-in link `connector run` printed, or give the API token",
    "session_expired": "the session cookie has expired or is not valid: sign in again",
}


# --- signing ------------------------------------------------------------------------------------------


def _key(token: str, purpose: bytes) -> bytes:
    """A key for one purpose, derived from the API token (so links and cookies never share a key)."""
    return hmac.new(token.encode("utf-8", "surrogatepass"), purpose, hashlib.sha256).digest()


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def same_secret(given: str, secret: str) -> bool:
    """Compare in constant time, over digests: equal lengths, so the time says nothing of the secret's length."""
    def digest(value: str) -> bytes:
        return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()

    return hmac.compare_digest(digest(given), digest(secret))


def login_link(base_url: str, token: str, *, now: float | None = None) -> str:
    """Return a sign-in link to the reports that works once, for `LINK_TTL_SECONDS` after `now` (Unix seconds)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("base_url: expected http(s)://host[:port][/prefix]")
    if not token:
        raise ValueError("token: a sign-in link is signed with the API token, and there is none")
    issued = int(time.time() if now is None else now)
    payload = f"{issued}.{secrets.token_urlsafe(16)}"
    code = f"{payload}.{_mac(_key(token, _LINK_KEY), payload)}"
    return f"{base_url.rstrip('/')}/login?code={code}"


class Refused(Exception):
    """A sign-in that does not happen; `kind` is one of `REASONS` (what is logged), never the code itself."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.reason = REASONS[kind]


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    """A code whose signature and age are good: what spending it stores."""

    digest: str             # SHA-256 of the whole code, hex: `login_codes` never holds the code
    expires_at: float       # Unix seconds


def read_code(code: str, token: str, now: float) -> Code:
    """Return the code if it is ours and current; raise `Refused` (invalid, early, expired) otherwise."""
    match = _CODE.fullmatch(code)
    if match is None:
        raise Refused("invalid")
    issued, nonce, mac = match.groups()
    if not hmac.compare_digest(mac, _mac(_key(token, _LINK_KEY), f"{issued}.{nonce}")):
        raise Refused("invalid")
    # the signature is good from here on: only a holder of a real link learns why it is refused
    if int(issued) > now + CLOCK_SKEW_SECONDS:
        raise Refused("early")
    if now >= int(issued) + LINK_TTL_SECONDS:
        raise Refused("expired")
    return Code(digest=hashlib.sha256(code.encode("ascii")).hexdigest(), expires_at=int(issued) + LINK_TTL_SECONDS)


def spend(store: Store, code: Code, now: datetime) -> bool:
    """Record the code as used; return False if it already was (by this process or any other)."""
    insert = (postgresql.insert if store.dialect == "postgresql" else sqlite.insert)(login_codes)
    expires = datetime.fromtimestamp(code.expires_at, now.tzinfo)
    stmt = (insert.values(code_sha256=code.digest, expires_at=expires, used_at=now)
            .on_conflict_do_nothing(index_elements=["code_sha256"]).returning(login_codes.c.code_sha256))
    with store.write() as conn:
        conn.execute(delete(login_codes).where(
            login_codes.c.expires_at < now - timedelta(seconds=KEEP_SPENT_SECONDS)))
        return conn.execute(stmt).scalar() is not None


def new_session(token: str, now: float) -> str:
    """Return a session cookie's value, valid for `SESSION_TTL_SECONDS` after `now`."""
    expires = str(int(now) + SESSION_TTL_SECONDS)
    return f"{expires}.{_mac(_key(token, _SESSION_KEY), expires)}"


def session_valid(token: str, value: str | None, now: float) -> bool:
    """Return whether a session cookie's value was signed for this token and has not expired at `now`."""
    match = _SESSION.fullmatch(value or "")
    if match is None:
        return False
    expires, mac = match.groups()
    return hmac.compare_digest(mac, _mac(_key(token, _SESSION_KEY), expires)) and now < int(expires)


# --- pages --------------------------------------------------------------------------------------------

CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1d2330;font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",
Arial,"DejaVu Sans",sans-serif}
main{max-width:34rem;margin:12vh auto;padding:24px 28px;background:#fff;border:1px solid #dde1e8;border-radius:8px}
h1{font-size:20px;margin:0 0 10px}
p{margin:8px 0}
p.problem{color:#a3281e;font-weight:600}
label{display:block;font-weight:600;margin:16px 0 6px}
input[type=password]{width:100%;padding:7px 9px;font:inherit;border:1px solid #b8bfcc;border-radius:5px}
button{margin-top:12px;padding:7px 16px;font:inherit;font-weight:600;color:#fff;background:#2f6db5;border:0;
border-radius:5px;cursor:pointer}
small{color:#5a6376}
"""


def wants_html() -> bool:
    """Whether the client prefers an HTML page to JSON (a browser does; curl and API clients do not)."""
    return request.accept_mimetypes.best_match(("application/json", "text/html")) == "text/html"


def safe_next(text: str | None) -> str:
    """Return where to go after signing in: a /reports, /tickets or /board path of this app, else the SLA report."""
    value = text or ""
    parts = urlsplit(value)
    if (len(value) > MAX_NEXT or not value.isascii() or not value.isprintable() or " " in value or "\\" in value
            or "//" in value or parts.scheme or parts.netloc
            or not (value.startswith(("/reports/", "/tickets/")) or value == "/board" or value.startswith("/board?"))):
        return LANDING
    return value


def _html_page(status: int, *, title: str, body: str, head: str = "") -> Response:
    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">{head}'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" '
            f'content="no-referrer"><title>{html.escape(title)} · SLA connector</title><style>{CSS}</style></head>\n'
            f'<body><main class="signin"><h1>{html.escape(title)}</h1>{body}</main></body></html>\n')
    response = Response(page, status=status, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def signin_page(status: int, *, problem: str | None = None, next_path: str = LANDING) -> Response:
    """The sign-in page: what went wrong (if anything) and a form for the API token."""
    action = html.escape(request.script_root + "/login", quote=True)
    problem_html = f'<p class="problem">{html.escape(problem[:1].upper() + problem[1:])}.</p>' if problem else ""
    body = (f"{problem_html}<p>The reports and the ticket pages need the API token. <code>connector run</code> "
            "prints a sign-in link when it starts; it works once, for a few minutes. Or give the token here "
            "(<code>CONNECTOR_API_TOKEN</code>, or the one <code>connector run</code> generated in "
            "<code>.connector/</code>):</p>"
            f'<form method="post" action="{action}"><label for="token">API token</label>'
            '<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>'
            f'<input type="hidden" name="next" value="{html.escape(safe_next(next_path), quote=True)}">'
            "<button type=\"submit\">Sign in</button></form>"
            f"<p><small>The session lasts {SESSION_TTL_SECONDS // 3600} hours in this browser.</small></p>")
    response = _html_page(status, title="Sign in", body=body)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="connector"'
    return response


def refusal(status: int, reason: str, *, next_path: str = LANDING) -> Response:
    """A refused request: the sign-in page for a browser, the JSON error otherwise."""
    if wants_html():
        response = signin_page(status, problem=reason, next_path=next_path)
    else:
        response = error_response(status, "unauthorized" if status == 401 else "forbidden", reason)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="connector"'
    response.headers["Vary"] = "Accept"
    return response


# --- routes -------------------------------------------------------------------------------------------


def _token(ctx: ServiceContext) -> str | None:
    token = ctx.settings.api_token
    return token.reveal() if token is not None and token.reveal() else None


def _signed_in(token: str, now: datetime, target: str) -> Response:
    """Set the session cookie on the way to `target` (a path of this app)."""
    where = request.script_root + target
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        # a redirect would carry the cross-site origin of the navigation: the Strict cookie would not be sent
        href = html.escape(where, quote=True)
        response = _html_page(200, title="Signed in", head=f'<meta http-equiv="refresh" content="0; url={href}">',
                              body=f'<p>Opening <a href="{href}">the report</a>…</p>')
    else:
        response = Response(status=303, headers={"Location": where})
    value = new_session(token, now.timestamp())
    for path in COOKIE_PATHS:
        response.set_cookie(COOKIE, value, max_age=SESSION_TTL_SECONDS, path=request.script_root + path,
                            secure=request.is_secure, httponly=True, samesite="Strict")
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _refused(err: Refused, *, next_path: str = LANDING) -> Response:
    log.warning("sign-in refused", extra={"action": "sign_in", "outcome": "refused", "reason": err.kind,
                                          "status": 401})
    return refusal(401, err.reason, next_path=next_path)


@bp.get("/login")
def login() -> Response:
    """Spend a sign-in link's code for a session cookie, or show the sign-in form."""
    ctx = context()
    token = _token(ctx)
    if token is None:
        return refusal(403, "set CONNECTOR_API_TOKEN to enable sign-in")
    code = request.args.get("code")
    if code is None:
        return signin_page(200, next_path=request.args.get("next") or LANDING)
    if request.method == "HEAD":  # a link checker or a chat preview: the person has not opened it yet
        return Response(status=200, content_type="text/html; charset=utf-8")
    now = ctx.clock()
    try:
        found = read_code(code, token, now.timestamp())
        if not spend(ctx.store, found, now):
            raise Refused("spent")
    except Refused as err:
        return _refused(err)
    log.info("signed in", extra={"action": "sign_in", "outcome": "link", "status": 303})
    return _signed_in(token, now, LANDING)


@bp.post("/login")
def login_with_token() -> Response:
    """Exchange the API token (a form field, never a URL) for a session cookie."""
    ctx = context()
    token = _token(ctx)
    if token is None:
        return refusal(403, "set CONNECTOR_API_TOKEN to enable sign-in")
    target = safe_next(request.form.get("next"))
    given = request.form.get("token", "")
    if len(given) > MAX_TOKEN or not same_secret(given.strip(), token):
        return _refused(Refused("wrong_token"), next_path=target)
    log.info("signed in", extra={"action": "sign_in", "outcome": "token", "status": 303})
    return _signed_in(token, ctx.clock(), target)
