"""One bad delivery never blocks another (issue 11 §1), on SQLite and PostgreSQL.

- Identifiers are bounded at the door, the same for every source and the same limit `/tickets` accepts:
  1-255 printable characters. A longer `ticket_id`, `event_id`, `account` (or a NUL in one) used to be
  answered 202 and then stall the PostgreSQL worker's whole batch forever.
- A delivery the database refuses for any reason is retried with a growing delay and ends `failed` with
  the database's reason after its attempts; the rest of its batch, and every later delivery, goes on.
  The refusal here is a real one: a trigger in the test's database refuses one ticket's events.
- Long keys fit their columns without two different keys becoming one.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from connector.errors import StoreUnavailable
from connector.runtime.worker import MAX_INBOX_ATTEMPTS
from connector.store.schema import inbox, outbox
from connector.store.store import fit
from tests.helpers import utc
from tests.integration.support import created_body, inbox_count, make_app, signed
from tests.integration.test_pipeline import FrozenClock, count, created, deliver, parts


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("ticket_id", "T" * 256, "ticket_id: 256 characters; at most 255"),
    ("event_id", "E" * 100_000, "event_id: 100000 characters; at most 255"),
    ("account", "A" * 256, "account: 256 characters; at most 255"),
    ("ticket_id", "T-1\x00", "ticket_id: holds a control character"),
    ("event_id", "e\n1", "event_id: holds a control character"),
])
def test_over_long_or_control_identifiers_are_refused_at_the_door(store, secret, key, value, expected):
    client = make_app(store, secret=secret, limit=1024 * 1024).test_client()
    body = created_body(**{key: value})
    response = client.post("/hooks/webhook", data=body, headers=signed(secret, body))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["reason"].startswith(expected)
    assert inbox_count(store) == 0


@pytest.mark.parametrize(("path", "value"), [
    (("ticket", "group"), "G" * 256), (("ticket", "assignee"), "a\x00b"),
    (("ticket", "requester", "org"), "O" * 300), (("comment", "author_id"), "x" * 256),
])
def test_snapshot_identifiers_are_bounded_too(store, secret, path, value):
    """Group and organization end in store columns; the same limit applies to every identifier."""
    data = json.loads(created_body())
    data["comment"] = {"author_role": "agent", "public": True}
    data["type"] = "comment.added"
    target = data
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value
    body = json.dumps(data).encode()
    response = make_app(store, secret=secret).test_client().post("/hooks/webhook", data=body,
                                                                 headers=signed(secret, body))
    assert response.status_code == 400 and response.get_json()["reason"].startswith(".".join(path))


def test_the_longest_identifiers_accepted_are_stored_and_processed(store, secret):
    """255 characters everywhere: the outbox key then exceeds its column and is fitted, not refused."""
    clock = FrozenClock("2026-03-02 10:05")
    _, _, worker = parts(store, clock=clock)
    long_id, long_account = "T" * 255, "A" * 255
    deliver(store, created(ticket_id=long_id, account=long_account, event_id="E" * 255))
    assert worker.run_once() == 1
    assert count(store, inbox, inbox.c.state == "done") == 1
    with store.read() as conn:
        keys = [r[0] for r in conn.execute(select(outbox.c.key)).all()]
    assert keys and all(len(k) <= 512 for k in keys) and len(set(keys)) == len(keys)


def test_fit_keeps_distinct_values_distinct():
    a, b = "k" * 600 + "a", "k" * 600 + "b"
    assert fit("short", 10) == "short"
    assert len(fit(a, 512)) == 512 and fit(a, 512) != fit(b, 512) and fit(a, 512) == fit(a, 512)


def _poison(store) -> None:
    """Make the database itself refuse every event of ticket 'poison'."""
    with store.write() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                              "RAISE EXCEPTION 'poisoned ticket' USING ERRCODE = 'check_violation'; END $$ "
                              "LANGUAGE plpgsql"))
            conn.execute(text("CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW "
                              "WHEN (NEW.ticket_id = 'poison') EXECUTE FUNCTION refuse_poison()"))
        else:
            conn.execute(text("CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.ticket_id = 'poison' "
                              "BEGIN SELECT RAISE(ABORT, 'poisoned ticket'); END"))


def test_a_delivery_the_database_refuses_ends_failed_and_never_blocks_the_batch(store):
    clock = FrozenClock("2026-03-02 10:05")
    _, _, worker = parts(store, clock=clock)
    _poison(store)
    good_before = deliver(store, created(ticket_id="g1", event_id="g1"))
    bad = deliver(store, created(ticket_id="poison", event_id="p1"))
    good_after = deliver(store, created(ticket_id="g2", event_id="g2"))
    assert worker.run_once() == 3  # one batch: the refusal in the middle does not stop it
    with store.read() as conn:
        states = dict(conn.execute(select(inbox.c.id, inbox.c.state)).all())
        error, until = conn.execute(select(inbox.c.error, inbox.c.claimed_until).where(inbox.c.id == bad)).one()
    assert states == {good_before: "done", bad: "pending", good_after: "done"}
    assert "poisoned ticket" in error and "INSERT" not in error  # the database's words, not the SQL
    assert until > clock.now  # retried after a delay, not at once

    later = deliver(store, created(ticket_id="g3", event_id="g3"))
    assert worker.run_once() == 1  # the refused delivery waits out its delay; the new one goes through
    assert count(store, inbox, inbox.c.id == later, inbox.c.state == "done") == 1

    for _ in range(MAX_INBOX_ATTEMPTS):
        clock.now += timedelta(minutes=10)
        worker.run_once()
    with store.read() as conn:
        state, error = conn.execute(select(inbox.c.state, inbox.c.error).where(inbox.c.id == bad)).one()
    assert state == "failed"
    assert error.startswith(f"gave up after {MAX_INBOX_ATTEMPTS} attempts: the database refused it")


def test_a_delivery_that_kills_its_worker_every_time_ends_failed(store):
    """A crash loop (the worker dies mid-delivery, its lease runs out, again and again) has an end too."""
    clock = FrozenClock("2026-03-02 10:05")
    _, _, worker = parts(store, clock=clock)
    bad = deliver(store, created(ticket_id="t", event_id="e"))
    for _ in range(MAX_INBOX_ATTEMPTS):  # claimed, never finished: what a SIGKILL mid-delivery leaves
        assert store.claim_inbox("dying", now=clock.now, limit=1, lease=timedelta(seconds=1))
        clock.now += timedelta(seconds=2)
    assert worker.run_once() == 0
    with store.read() as conn:
        state, error = conn.execute(select(inbox.c.state, inbox.c.error).where(inbox.c.id == bad)).one()
    assert state == "failed" and "the worker stopped while processing it" in error


class _LosesAnswers:
    """The store, except that chosen calls commit and then lose their answer (the connection was cut
    between the database's COMMIT and the reply): what a real cut does at the worst moment."""

    def __init__(self, store, *, claim: bool = False, apply_after: int | None = None) -> None:
        self._store, self.claim, self.apply_after = store, claim, apply_after

    def __getattr__(self, name):  # noqa: ANN001, ANN204
        return getattr(self._store, name)

    def claim_inbox(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        rows = self._store.claim_inbox(*args, **kwargs)
        if self.claim:
            self.claim = False
            raise StoreUnavailable("the database connection failed")
        return rows

    def finish_inbox(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        if self.apply_after is not None:
            if self.apply_after == 0:
                self.apply_after = None
                raise StoreUnavailable("the database connection failed")
            self.apply_after -= 1
        return self._store.finish_inbox(*args, **kwargs)


@pytest.mark.parametrize("fault", ["claim answer lost", "batch cut short", "batch commit answer lost"])
def test_deliveries_claimed_when_the_database_went_away_are_taken_up_at_once_after_it(store, fault, monkeypatch):
    """The worker gives back everything still claimed under its name after an outage, not after the lease.

    Found by R11 (a run through a cut): a claim's UPDATE committed, its answer was lost with the connection,
    and those deliveries sat claimed for the whole five-minute lease while the worker went on without them.
    """
    clock = FrozenClock("2026-03-02 10:05")
    _, _, worker = parts(store, clock=clock)
    ids = [deliver(store, created(ticket_id=f"t{i}", event_id=f"e{i}")) for i in range(4)]
    cut_short = fault == "batch cut short"
    sick = _LosesAnswers(store, claim=fault == "claim answer lost", apply_after=1 if cut_short else None)
    worker.store = sick
    worker.batch = not cut_short  # one delivery at a time: the outage comes between two of them
    if fault == "batch commit answer lost":
        applied = worker.processor.apply_batch

        def committed_then_cut(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            applied(*args, **kwargs)
            raise StoreUnavailable("the database connection failed")

        monkeypatch.setattr(worker.processor, "apply_batch", committed_then_cut)
    with pytest.raises(StoreUnavailable):
        worker.run_once()
    worker.store = store  # the database is back; the clock has not moved: no lease has run out
    monkeypatch.undo()
    worker.run_once()
    with store.read() as conn:
        rows = conn.execute(select(inbox.c.id, inbox.c.state, inbox.c.attempts).order_by(inbox.c.id)).all()
    assert [(r.id, r.state) for r in rows] == [(i, "done") for i in ids]
    assert all(r.attempts == 1 for r in rows)  # the outage is not counted against the deliveries


def test_workers_claim_by_ticket_so_one_tickets_deliveries_go_in_arrival_order(store):
    """Issue 14: while one worker holds a live claim on a ticket, no other worker claims that ticket's later
    deliveries (they would otherwise be applied concurrently, in any order); other tickets go on."""
    now = utc("2026-03-02 10:05")

    def put(ticket: str, n: int) -> int:
        row_id, _ = store.insert_inbox(source="webhook", dedupe_key=f"{ticket}-{n}", body=f"{ticket}{n}".encode(),
                                       headers={},
                                       received_at=now, dedupe_window=timedelta(0),
                                       ticket=f"webhook/acme/{ticket}")
        return row_id

    x1, x2, x3, y1 = put("X", 1), put("X", 2), put("X", 3), put("Y", 1)
    untracked, _ = store.insert_inbox(source="webhook", dedupe_key="several", body=b"[]", headers={},
                                      received_at=now, dedupe_window=timedelta(0))
    assert [r.id for r in store.claim_inbox("a", now=now, limit=1)] == [x1]
    assert [r.id for r in store.claim_inbox("b", now=now, limit=10)] == [y1, untracked]
    assert store.claim_inbox("c", now=now, limit=10) == []
    store.finish_inbox(x1, now=now)  # a's claim on X ends: its next deliveries are free, in order
    assert [r.id for r in store.claim_inbox("b", now=now, limit=10)] == [x2, x3]
    later = now + timedelta(minutes=6)  # a lease that ran out holds nothing
    assert [r.id for r in store.claim_inbox("c", now=later, limit=10)] == [x2, x3, y1, untracked]


def test_the_claims_held_elsewhere_probe_has_its_own_index(store):
    """Issue 14 (migration 0006): the deliveries held now are indexed apart, so the claim's check that no other
    worker holds a delivery's ticket reads only those, however long the ticket's backlog."""
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("inbox")}
    assert {"ix_inbox_claimed", "ix_inbox_ticket_state"} <= names


def test_the_inbox_insert_dedupes_on_the_body_inside_the_window_first_then_on_the_delivery_id(store):
    """Issue 14: the door's insert is one statement (inserted unless the same body came inside the window or
    the id is stored); a duplicate is then looked up as before: the same body first, then the same id."""
    at = utc("2026-03-02 10:00")

    def put(key: str, body: bytes, minutes: int = 0, window: int = 10) -> tuple[int, bool]:
        return store.insert_inbox(source="webhook", dedupe_key=key, body=body, headers={"x": "1"},
                                  received_at=at + timedelta(minutes=minutes), dedupe_window=timedelta(minutes=window))

    first, dup = put("k1", b"body-a")
    assert not dup
    assert put("k1", b"body-b") == (first, True)                 # same id, another body
    assert put("k2", b"body-a", minutes=5) == (first, True)      # same body under a new id, inside the window
    late, dup = put("k3", b"body-a", minutes=30)                 # same body, outside the window: a new delivery
    assert not dup and late != first
    other, dup = put("k4", b"body-c")
    assert not dup
    assert put("k4", b"body-a", minutes=31) == (late, True)      # both: the same body inside the window wins
    with store.read() as conn:
        rows = conn.execute(select(inbox.c.id, inbox.c.dedupe_key, inbox.c.headers, inbox.c.state)
                            .order_by(inbox.c.id)).all()
    assert [(r.dedupe_key, r.headers, r.state) for r in rows] == [("k1", {"x": "1"}, "pending"),
                                                                   ("k3", {"x": "1"}, "pending"),
                                                                   ("k4", {"x": "1"}, "pending")]
