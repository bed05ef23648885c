"""The live board's page: one self-contained HTML document that polls `board.json` and redraws itself.

Nothing is fetched but `board.json` from the same origin (`connect-src 'self'`); the one inline script is
allowed by its hash in the Content-Security-Policy, styles are inline, and every value from a ticket is
written with `textContent` (never as HTML). The page asks again every `POLL_SECONDS` (or `?every=N`) with
`If-None-Match`,
so an unchanged board costs a 304; it says when it last heard from the service, and when the service cannot
answer (the database is down: 503) it keeps the last board on screen under a red banner saying since when.

Due instants are shown in the viewer's zone and, beside them, in the zone of the clock's calendar (the
team's hours); the time remaining is business time on that calendar.
"""

from __future__ import annotations

import base64
import hashlib
import html

from connector.reports.board_query import FILTERS
from connector.reports.render import CSS

POLL_SECONDS = 10            # how often the page asks again; `?every=N` (2 to 600 seconds) changes it
POLL_LEAST, POLL_MOST = 2, 600

BOARD_CSS = CSS + """
main{max-width:1600px}
.filters{display:flex;flex-wrap:wrap;gap:8px 14px;margin:10px 0}
.filters label{display:flex;flex-direction:column;font-size:12px;color:#4a5366}
.filters input{font:inherit;padding:3px 6px;border:1px solid #c9ced8;border-radius:4px;width:150px}
.status{font-size:12px;color:#4a5366;margin:4px 0}
.banner{display:none;background:#fdecea;border:1px solid #c0453a;color:#7a1f17;border-radius:6px;padding:8px 12px;
margin:8px 0}
.banner.on{display:block}
td.late{color:#c0453a;font-weight:600}
td.soon{color:#b86a00;font-weight:600}
.tag{display:inline-block;font-size:11px;border:1px solid #7f62b3;color:#7f62b3;border-radius:3px;padding:0 4px}
td .zone{color:#7a8294;font-size:11px;display:block}
"""

SCRIPT = """(function () {
  "use strict";
  var own = new URLSearchParams(window.location.search);
  var every = parseInt(own.get("every") || "", 10);
  var POLL = (every >= %(least)d && every <= %(most)d ? every : %(poll)d) * 1000;
  var FILTERS = %(filters)s;
  var etag = null, lastOk = null, shown = false;
  function el(id) { return document.getElementById(id); }
  function text(node, value) { node.textContent = value === null || value === undefined ? "\\u2013" : String(value); }
  function duration(seconds) {
    var sign = seconds < 0 ? "-" : "", rest = Math.abs(seconds), out = "";
    var d = Math.floor(rest / 86400); rest -= d * 86400;
    var h = Math.floor(rest / 3600); rest -= h * 3600;
    var m = Math.floor(rest / 60); var s = rest - m * 60;
    if (d) { out += d + "d"; } if (h) { out += h + "h"; } if (m) { out += m + "m"; }
    if (s || !out) { out += s + "s"; }
    return sign + out;
  }
  function when(iso, zone) {
    if (!iso) { return null; }
    var options = {weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"};
    if (zone) { options.timeZone = zone; options.timeZoneName = "short"; }
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  }
  function query() {
    var q = new URLSearchParams();
    FILTERS.forEach(function (name) { var v = el("f-" + name).value.trim(); if (v) { q.set(name, v); } });
    if (own.get("token")) { q.set("token", own.get("token")); }
    return "board.json?" + q.toString();
  }
  function cell(row, value, cls) {
    var td = document.createElement("td"); text(td, value); if (cls) { td.className = cls; } row.appendChild(td);
    return td;
  }
  function draw(data) {
    var counts = data.counts;
    ["breached", "within_1h", "within_4h", "within_24h"].forEach(function (k) { text(el("c-" + k), counts[k]); });
    text(el("total"), data.total + " running clocks, " + data.shown + " shown, as of " + data.as_of);
    var body = document.createElement("tbody");
    data.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.ticket = r.source + "/" + r.account + "/" + r.ticket_id;
      var tid = cell(tr, null);
      if (r.link) {
        var a = document.createElement("a"); a.href = r.link; a.rel = "noopener noreferrer"; a.target = "_blank";
        text(a, r.ticket_id); tid.textContent = ""; tid.appendChild(a);
      } else { text(tid, r.ticket_id); }
      cell(tr, r.source + (r.account ? " \\u00b7 " + r.account : ""));
      var declared = r.declared && r.declared !== r.severity ? " (declared " + r.declared + ")" : "";
      cell(tr, r.severity + declared, "sev");
      var metric = cell(tr, r.metric + (r.cycle > 1 ? " #" + r.cycle : ""));
      if (r.internal) {
        var tag = document.createElement("span"); tag.className = "tag"; text(tag, "internal");
        metric.appendChild(document.createTextNode(" ")); metric.appendChild(tag);
      }
      cell(tr, r.internal ? r.agreement + " (" + r.team + ")" : r.policy);
      var due = cell(tr, when(r.due_at, null));
      var zone = document.createElement("span"); zone.className = "zone";
      text(zone, when(r.due_at, r.calendar_zone)); due.appendChild(zone);
      cell(tr, duration(r.remaining_seconds), r.remaining_seconds < 0 ? "late num" :
           (r.remaining_seconds <= 3600 ? "soon num" : "num"));
      cell(tr, r.calendar_opens_at ? "closed, opens " + when(r.calendar_opens_at, r.calendar_zone) : r.calendar);
      cell(tr, r.group);
      cell(tr, r.assignee);
      body.appendChild(tr);
    });
    var table = el("board");
    table.replaceChild(body, table.tBodies[0]);
    el("empty").style.display = data.rows.length ? "none" : "block";
    if (data.forecast) {
      text(el("method"), data.forecast.method);
      var rows = document.createElement("tbody");
      data.forecast.rows.forEach(function (f) {
        var tr = document.createElement("tr");
        cell(tr, f.group); cell(tr, f.severity); cell(tr, f.breached, "num late");
        cell(tr, f.breach_within_1h, "num"); cell(tr, f.breach_within_4h, "num"); cell(tr, f.breach_within_24h, "num");
        cell(tr, f.replies_due_24h, "num"); cell(tr, f.pace_per_hour, "num");
        cell(tr, f.replies_breaching_at_pace, f.replies_breaching_at_pace ? "num soon" : "num");
        cell(tr, f.summary, "text");
        rows.appendChild(tr);
      });
      var forecast = el("forecast");
      forecast.replaceChild(rows, forecast.tBodies[0]);
    }
    shown = true;
  }
  function down(message) {
    var banner = el("banner");
    banner.className = "banner on";
    text(banner, message + (lastOk ? "; the board below is as of " + lastOk.toLocaleTimeString() : ""));
  }
  function refresh() {
    var headers = {"Accept": "application/json"};
    if (etag) { headers["If-None-Match"] = etag; }
    fetch(query(), {headers: headers, credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (r.status === 304) { return null; }
      if (!r.ok) {
        return r.json().then(function (e) { throw new Error((e && e.reason) || ("HTTP " + r.status)); },
                             function () { throw new Error("HTTP " + r.status); });
      }
      etag = r.headers.get("ETag");
      return r.json();
    }).then(function (data) {
      if (data) { draw(data); }
      lastOk = new Date();
      el("banner").className = "banner";
      text(el("updated"), "updated " + lastOk.toLocaleTimeString() + " (every " + (POLL / 1000) + " s)");
    }).catch(function (err) {
      down("The service cannot answer: " + err.message);
    });
  }
  FILTERS.forEach(function (name) {
    var input = el("f-" + name);
    input.value = own.get(name) || "";
    input.addEventListener("change", function () { etag = null; refresh(); });
  });
  el("filters").addEventListener("submit", function (e) { e.preventDefault(); etag = null; refresh(); });
  refresh();
  window.setInterval(refresh, POLL);
}());
"""


def _script() -> str:
    names = "[" + ", ".join(f'"{f}"' for f in FILTERS) + "]"
    return SCRIPT % {"poll": POLL_SECONDS, "least": POLL_LEAST, "most": POLL_MOST, "filters": names}


SCRIPT_TEXT = _script()
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT_TEXT.encode("utf-8")).digest()).decode("ascii")
BOARD_CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'; connect-src 'self'; "
             "img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
FORECAST_HEADERS = ("group", "severity", "breached", "breach within 1 h", "within 4 h", "within 24 h",
                    "replies due in 24 h", "pace (replies per business hour)", "breaching at that pace", "in words")
HEADERS = ("ticket", "source", "severity", "metric", "policy / agreement", "due (yours; the team's)",
           "remaining (business time)", "calendar", "group", "assignee")


def render_board_page() -> str:
    """Return the board's page; its data comes from `board.json` (the same filters, the same token)."""
    filters = "".join(f'<label>{html.escape(name)}<input id="f-{html.escape(name)}" name="{html.escape(name)}" '
                      f'autocomplete="off"></label>' for name in FILTERS)
    counts = "".join(f'<div><b id="c-{key}">–</b><span>{label}</span></div>' for key, label in (
        ("breached", "breached now"), ("within_1h", "within 1 h"), ("within_4h", "within 4 h"),
        ("within_24h", "within 24 h")))
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in HEADERS)
    forecast_head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in FORECAST_HEADERS)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>SLA board</title><style>{BOARD_CSS}</style></head>\n"
        '<body><main class="board"><header><h1>What breaches next</h1>'
        '<p class="status"><span id="updated">loading…</span> · <span id="total"></span></p></header>\n'
        '<div class="banner" id="banner" role="alert"></div>'
        f'<div class="summary">{counts}</div>'
        f'<form class="filters" id="filters">{filters}</form>'
        f'<div class="table-wrap"><table id="board"><thead><tr>{head}</tr></thead><tbody></tbody></table></div>'
        '<p class="note" id="empty" style="display:none">No clock is running.</p>'
        f'<h2>Forecast</h2><div class="table-wrap"><table id="forecast"><thead><tr>{forecast_head}</tr></thead>'
        '<tbody></tbody></table></div><p class="note" id="method"></p>'
        "<footer>Every running clock, the customer's and the internal agreements', by business time remaining "
        "on its calendar; within 1/4/24 h counts clocks not yet breached. Times due: yours, then the "
        "team's zone.</footer>"
        f"</main><script>{SCRIPT_TEXT}</script></body></html>\n"
    )
