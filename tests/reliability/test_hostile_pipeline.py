"""Hostile deliveries through the whole path, on SQLite and PostgreSQL (issue 11, "be your own attacker").

Hundreds of signed deliveries carry hostile values (tests/hostile.py) at random places, each followed by
an ordinary delivery for its own ticket. Whatever the door accepts goes through the worker into the store;
then every read path runs over what is stored. What must hold:

- the door never answers 5xx; what it refuses is a 4xx naming the problem;
- every delivery it accepted ends `done` or `failed` (none stuck pending), and every ordinary delivery
  after a hostile one is processed: one bad delivery never blocks another;
- `/tickets/…`, `/explain` and every report in every format answer 200 over whatever was stored;
- no CSV cell that a spreadsheet would run as a formula (OWASP: = + - @ tab, carriage return).
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from adapters.webhook import WebhookAdapter
from connector.runtime.worker import MAX_INBOX_ATTEMPTS, TicketProcessor, Worker
from connector.store.schema import inbox, tickets
from tests import helpers
from tests.hostile import random_hostile_event
from tests.integration.support import created_body, make_app, new_token, new_webhook_secret, signed
from tests.integration.test_pipeline import FrozenClock

pytestmark = pytest.mark.reliability

DELIVERIES = 300
BASE = {**json.loads(created_body()), "comment": {"author_role": "agent", "public": True}}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_hostile_deliveries_never_block_the_others_and_every_read_survives(store):
    secret, token = new_webhook_secret(), new_token()
    clock = FrozenClock("2026-03-02 18:00")
    app = make_app(store, secret=secret, token=token, clock=clock, limit=1024 * 1024)
    client = app.test_client()
    worker = Worker(store, TicketProcessor(store, helpers.config(), writers={}, clock=clock),
                    {"webhook": WebhookAdapter([secret])}, clock=clock, name="hostile")
    rng = random.Random(11)
    answers: Counter[int] = Counter()
    for n in range(DELIVERIES):
        hostile = json.dumps(random_hostile_event(rng, BASE)).encode()
        answers[client.post("/hooks/webhook", data=hostile, headers=signed(secret, hostile)).status_code] += 1
        good = created_body(ticket_id=f"good-{n}", event_id=f"good-{n}")
        assert client.post("/hooks/webhook", data=good, headers=signed(secret, good)).status_code == 202
    assert not [s for s in answers if s >= 500], answers
    assert answers[202] > 20  # hostile values the door must accept (free text, formulas) do reach the worker

    for _ in range(MAX_INBOX_ATTEMPTS + 2):  # retries included: advance past each delay
        while worker.run_once(limit=100):
            pass
        clock.now += timedelta(minutes=10)
    with store.read() as conn:
        states = Counter(dict(conn.execute(select(inbox.c.state, func.count()).group_by(inbox.c.state)).all()))
        stored = conn.execute(select(tickets.c.source, tickets.c.account, tickets.c.ticket_id)).all()
    assert states["pending"] == 0, states
    keys = {(s, a, t) for s, a, t in stored}
    assert all(("webhook", "acme", f"good-{n}") in keys for n in range(DELIVERIES))

    auth = {"Authorization": f"Bearer {token}"}
    for source, account, ticket_id in stored:
        path = f"/tickets/{quote(source, safe='')}/{quote(ticket_id, safe='')}?account={quote(account, safe='')}"
        assert client.get(path, headers=auth).status_code == 200, path
        assert client.get(path.replace("?", "/explain?"), headers=auth).status_code == 200, path
    print(f"\nhostile deliveries={DELIVERIES} door={dict(sorted(answers.items()))} inbox={dict(states)} "
          f"tickets={len(stored)}")
    for report in ("sla", "credits", "kpis", "audit"):
        for fmt in ("json", "html", "csv"):
            response = client.get(f"/reports/{report}?format={fmt}&by=group,org", headers=auth)
            if response.status_code == 400:  # `by` is a parameter of some reports only
                response = client.get(f"/reports/{report}?format={fmt}", headers=auth)
            assert response.status_code == 200, (report, fmt, response.get_data()[:300])
            if fmt == "csv":
                for row in csv.reader(io.StringIO(response.get_data(as_text=True))):
                    bad = [c for c in row if c.startswith(FORMULA_START) and not _is_number(c)]
                    assert not bad, (report, bad[:3])
