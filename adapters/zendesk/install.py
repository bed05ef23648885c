"""`connector zendesk install`: the webhook and the triggers that call it, created or updated idempotently.

The plan (`plan(url)`) is plain data: one trigger-connected webhook named `WEBHOOK_NAME` pointing at
`<url>/hooks/zendesk`, and three triggers (created, updated, comment) whose action posts the recommended
body of `config/zendesk/trigger-body.json` with its `kind` set. `apply(client, plan)` creates what is missing
and updates what exists (matched by webhook name and trigger title), so running it twice changes nothing.
Zendesk generates the webhook's signing secret; `apply` reads it back so the caller can store it in the
environment as ZENDESK_WEBHOOK_SECRET (it is never printed or logged here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.zendesk.client import ZendeskClient

WEBHOOK_NAME = "SLA connector"
BODY_FILE = Path(__file__).resolve().parents[2] / "config" / "zendesk" / "trigger-body.json"
PLACEHOLDER_ID = "<webhook id>"

# kind → (trigger title, conditions that must all hold); "Comment is present" is comment_is_public not_relevant
TRIGGERS = (
    ("ticket.created", "SLA connector: created", [{"field": "update_type", "operator": "is", "value": "Create"}]),
    ("ticket.updated", "SLA connector: updated", [{"field": "update_type", "operator": "is", "value": "Change"}]),
    ("comment.added", "SLA connector: comment", [{"field": "update_type", "operator": "is", "value": "Change"},
                                                 {"field": "comment_is_public", "operator": "is",
                                                  "value": "not_relevant"}]),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    webhook: dict[str, Any]
    triggers: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"webhook": self.webhook, "triggers": list(self.triggers)}


def trigger_body(kind: str, body_file: Path = BODY_FILE) -> str:
    """Return the recommended webhook body (Zendesk placeholders) for one trigger kind, as JSON text."""
    body = json.loads(body_file.read_text(encoding="utf-8"))
    body["kind"] = kind
    return json.dumps(body, indent=2)


def plan(connector_url: str, body_file: Path = BODY_FILE) -> Plan:
    """Return the webhook and triggers to install for a connector reachable at `connector_url`."""
    endpoint = connector_url.rstrip("/") + "/hooks/zendesk"
    if not endpoint.startswith("https://") and not endpoint.startswith("http://"):
        raise ValueError(f"the connector URL must start with https:// (got {connector_url!r})")
    webhook = {"name": WEBHOOK_NAME, "status": "active", "endpoint": endpoint, "http_method": "POST",
               "request_format": "json", "subscriptions": ["conditional_ticket_events"],
               "description": "Ticket activity for the SLA connector (signed; see config/zendesk/README.md)"}
    triggers = tuple(
        {"title": title, "active": True, "conditions": {"all": conditions, "any": []},
         "actions": [{"field": "notification_webhook", "value": [PLACEHOLDER_ID, trigger_body(kind, body_file)]}],
         "description": f"Sends {kind} to the SLA connector."}
        for kind, title, conditions in TRIGGERS)
    return Plan(webhook=webhook, triggers=triggers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Installed:
    webhook_id: str
    trigger_ids: tuple[str, ...]
    signing_secret: str


def apply(client: ZendeskClient, the_plan: Plan) -> Installed:
    """Create or update the webhook, then the triggers pointing at it; return ids and the signing secret."""
    webhook = client.create_or_update_webhook(the_plan.webhook)
    webhook_id = str(webhook["id"])
    trigger_ids = []
    for trigger in the_plan.triggers:
        actions = [{**a, "value": [webhook_id, a["value"][1]]} if a["field"] == "notification_webhook" else a
                   for a in trigger["actions"]]
        stored = client.create_or_update_trigger({**trigger, "actions": actions})
        trigger_ids.append(str(stored["id"]))
    return Installed(webhook_id=webhook_id, trigger_ids=tuple(trigger_ids),
                     signing_secret=client.webhook_signing_secret(webhook_id))
