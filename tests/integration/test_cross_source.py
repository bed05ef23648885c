"""One conversation, three help desks, the same clocks (DESIGN §1: adapters know nothing of SLA rules).

The same ticket story — created urgent, an agent reply, a customer reply, a second agent reply that sets
it pending, solved — arrives as canonical events through the generic webhook, as Zendesk event-subscription
envelopes, and as Freshdesk automation bodies enriched through its API (the fake over HTTP). Each adapter's
`normalize` gives canonical events; replayed under one policy they give identical clocks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from adapters.freshdesk.client import FreshdeskClient
from adapters.freshdesk.inbound import FreshdeskAdapter
from adapters.webhook import WebhookAdapter
from adapters.zendesk.inbound import ZendeskAdapter
from connector.events import event_to_dict
from connector.rules.engine import Rulebook
from tests.fakes.freshdesk import fake_freshdesk_fixture  # noqa: F401
from tests.helpers import AGENT, CUSTOMER, config, event, utc

STORY = [  # (instant, what, status after)
    ("2026-03-02T10:00:00Z", "created", "open"),
    ("2026-03-02T10:30:00Z", "agent", "open"),
    ("2026-03-02T11:00:00Z", "customer", "open"),
    ("2026-03-02T11:40:00Z", "agent", "pending"),
    ("2026-03-02T13:00:00Z", "solved", "solved"),
]
CFG = config(priority_map={"zendesk": {"urgent": "P1", "normal": "P3"}, "freshdesk": {"4": "P1", "2": "P3"},
                           "webhook": {"urgent": "P1", "normal": "P3"}})
NOW = utc("2026-03-02 14:00")
AGENT_ID, CUSTOMER_ID = "900", "501"


def clocks_of(events):
    book = Rulebook(CFG)
    (state,) = book.run(events).values()
    return [(c.metric, c.cycle, c.status, c.target_seconds, c.started_at, c.due_at, c.stopped_at,
             c.elapsed_seconds, c.breached) for c in book.evaluate(state, NOW).clocks]


def webhook_events():
    adapter = WebhookAdapter(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    out = []
    for n, (at, what, status) in enumerate(STORY):
        kind = {"created": "ticket.created", "solved": "ticket.updated", "pending": "ticket.updated"}.get(
            what, "comment.added")
        comment = {"agent": AGENT, "customer": CUSTOMER}.get(what)
        ev = event(at, kind, status=status, priority="urgent", source="webhook", ticket_id="7", event_id=f"w{n}",
                   comment=comment, created=STORY[0][0])
        out += adapter.normalize(json.dumps(event_to_dict(ev)).encode(), {}, utc(at))
    return out


def zendesk_events():
    adapter = ZendeskAdapter(["secret"], account="acme")
    out = []
    for n, (at, what, status) in enumerate(STORY):
        detail = {"id": "7", "status": status.upper(), "priority": "URGENT", "created_at": STORY[0][0],
                  "updated_at": at, "requester_id": CUSTOMER_ID, "submitter_id": CUSTOMER_ID, "tags": [],
                  "subject": "Checkout is down", "description": "500 on every checkout", "via": {"channel": "web"},
                  "group_id": None, "assignee_id": None, "organization_id": None}
        if what == "created":
            kind, extra = "created", {}
        elif what in ("agent", "customer"):
            author = {"id": AGENT_ID if what == "agent" else CUSTOMER_ID, "is_staff": what == "agent"}
            kind, extra = "comment_added", {"comment": {"id": str(1000 + n), "body": "…", "is_public": True,
                                                        "author": author}}
        else:
            kind, extra = "status_changed", {"previous": "OPEN", "current": status.upper()}
        envelope = {"type": f"zen:event-type:ticket.{kind}", "id": f"z{n}", "time": at, "account_id": 1,
                    "subject": "zen:ticket:7", "zendesk_event_version": "2022-11-06", "detail": detail,
                    "event": extra}
        out += adapter.normalize(json.dumps(envelope).encode(), {}, utc(at))
    return out


def freshdesk_events(fake):
    client = FreshdeskClient(None, fake.api_key, base_url=fake.base_url)
    adapter = FreshdeskAdapter(["secret"], account="acme", api=client)
    created = STORY[0][0]
    fake.add_ticket(7, priority=4, status=2, created_at=created, updated_at=created, requester_id=int(CUSTOMER_ID),
                    subject="Checkout is down", tags=[])
    statuses = {"open": 2, "pending": 3, "solved": 4}
    out = []
    for n, (at, what, status) in enumerate(STORY):
        ticket = fake.tickets[7]
        ticket["status"], ticket["updated_at"] = statuses[status], at
        if what in ("agent", "customer"):
            ticket["conversations"].append({
                "id": 2000 + n, "body": "<div>…</div>", "body_text": "…", "incoming": what == "customer",
                "private": False, "user_id": int(AGENT_ID if what == "agent" else CUSTOMER_ID), "source": 0,
                "ticket_id": 7, "created_at": at, "updated_at": at, "attachments": []})
        kind = {"created": "ticket.created", "agent": "comment.added", "customer": "comment.added"}.get(
            what, "ticket.updated")
        body = {"kind": kind, "ticket_id": "7", "status": status.title(), "priority": "Urgent", "source": "Email",
                "tags": "", "group": "", "agent_email": "", "requester_email": "ann@example.com", "company": "",
                "triggered_event": "{ticket_action:created}" if what == "created" else "{status:changed}"}
        out += adapter.normalize(json.dumps(body).encode(), {}, utc(at))
    return out


def test_the_same_story_gives_the_same_clocks_from_every_source(fake_freshdesk):
    generic = clocks_of(webhook_events())
    assert [c[:3] for c in generic] == [
        ("first_response", 1, "met"), ("next_response", 1, "met"), ("periodic_update", 1, "met"),
        ("periodic_update", 2, "cancelled"), ("resolution", 1, "met")]
    assert clocks_of(zendesk_events()) == generic
    assert clocks_of(freshdesk_events(fake_freshdesk)) == generic
    assert datetime(2026, 3, 2, 13, tzinfo=UTC) in {c[6] for c in generic}


# --- the presets (issue 15): the same story told as Jira, GitHub and Intercom deliver it --------------------

def preset_section(name: str, preset: str):
    from connector.config import MappedSourceConfig
    from connector.mapping import with_presets

    sources, problems = with_presets({name: {"preset": preset}})
    assert not problems
    section = config(sources=sources).sources[name]
    assert isinstance(section, MappedSourceConfig)
    return section


def _ms(at: str) -> int:
    return int(utc(at).timestamp() * 1000)


def jira_events():
    from adapters.mapped import map_body

    section = preset_section("jira", "jira-service-management")
    names = {"open": "Waiting for support", "pending": "Waiting for customer", "solved": "Resolved"}
    out = []
    for n, (at, what, status) in enumerate(STORY):
        issue = {"id": "10007", "key": "SUP-7", "fields": {
            "summary": "Checkout is down", "created": STORY[0][0].replace("Z", ".000+0000"), "labels": [],
            "priority": {"name": "Highest"}, "status": {"name": names[status]},
            "reporter": {"accountId": CUSTOMER_ID}}}
        body: dict = {"timestamp": _ms(at), "issue": issue,
                      "webhookEvent": {"created": "jira:issue_created"}.get(what, "jira:issue_updated")}
        if what in ("agent", "customer"):
            body["webhookEvent"] = "comment_created"
            body["comment"] = {"id": str(3000 + n), "created": at.replace("Z", ".000+0000"), "jsdPublic": True,
                               "author": {"accountId": AGENT_ID if what == "agent" else CUSTOMER_ID,
                                          "accountType": "atlassian" if what == "agent" else "customer"}}
        out += map_body("jira", section, json.dumps(body).encode())
    return out


def github_events():
    from adapters.mapped import map_body

    section = preset_section("github", "github-issues")
    out = []
    for n, (at, what, status) in enumerate(STORY):
        labels = [{"name": "priority:critical"}] + ([{"name": "status:waiting-on-customer"}]
                                                   if status == "pending" else [])
        issue = {"id": 555, "number": 7, "title": "Checkout is down", "user": {"login": CUSTOMER_ID},
                 "labels": labels, "state": "closed" if status == "solved" else "open",
                 "created_at": STORY[0][0], "updated_at": at, "body": "…"}
        body: dict = {"action": {"created": "opened", "solved": "closed"}.get(what, "edited"), "issue": issue,
                      "repository": {"full_name": "acme/shop"}}
        if what in ("agent", "customer"):
            body["action"] = "created"
            body["comment"] = {"id": 4000 + n, "created_at": at, "updated_at": at, "body": "…",
                               "user": {"login": AGENT_ID if what == "agent" else CUSTOMER_ID, "type": "User"},
                               "author_association": "MEMBER" if what == "agent" else "NONE"}
        out += map_body("github", section, json.dumps(body).encode())
    return out


def intercom_events():
    from adapters.mapped import map_body

    section = preset_section("intercom", "intercom")
    states = {"open": "open", "pending": "snoozed", "solved": "closed"}
    topics = {"created": "conversation.user.created", "agent": "conversation.admin.replied",
              "customer": "conversation.user.replied", "solved": "conversation.admin.closed"}
    out = []
    for n, (at, what, status) in enumerate(STORY):
        seconds = _ms(at) // 1000
        parts = []
        if what in ("agent", "customer", "solved"):
            kind = "close" if what == "solved" else "comment"
            author = {"type": "user" if what == "customer" else "admin",
                      "id": CUSTOMER_ID if what == "customer" else AGENT_ID}
            parts = [{"type": "conversation_part", "id": str(5000 + n), "part_type": kind, "created_at": seconds,
                      "author": author}]
        item = {"type": "conversation", "id": "7", "created_at": _ms(STORY[0][0]) // 1000, "updated_at": seconds,
                "state": states[status], "priority": "priority", "title": "Checkout is down",
                "tags": {"tags": []}, "contacts": {"contacts": [{"id": CUSTOMER_ID}]},
                "conversation_parts": {"conversation_parts": parts}}
        body = {"type": "notification_event", "id": f"notif_{n}", "created_at": seconds,
                "topic": topics.get(what, "conversation.admin.snoozed"),
                "data": {"type": "notification_event_data", "item": item}}
        out += map_body("intercom", section, json.dumps(body).encode())
    return out


def test_the_same_story_gives_the_same_clocks_through_every_preset():
    presets = config(priority_map={"webhook": {"urgent": "P1", "normal": "P3"}, "jira": {"urgent": "P1"},
                                   "github": {"urgent": "P1"}, "intercom": {"high": "P1"}})
    book = Rulebook(presets)

    def clocks(events):
        (state,) = book.run(events).values()
        return [(c.metric, c.cycle, c.status, c.target_seconds, c.started_at, c.due_at, c.stopped_at,
                 c.elapsed_seconds, c.breached) for c in book.evaluate(state, NOW).clocks]

    generic = clocks(webhook_events())
    assert clocks(jira_events()) == generic
    assert clocks(github_events()) == generic
    assert clocks(intercom_events()) == generic
