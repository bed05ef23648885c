"""Freshdesk: ticket events from automation-rule webhooks, enriched through API v2; SLA results written back.

Auth: automation webhooks are unsigned. A request carries a secret we issue, in the custom header
    `x-connector-token` or as the password of HTTP Basic credentials (any user), compared in constant time
    with each of `FRESHDESK_WEBHOOK_SECRET` (comma-separated for rotation). The API uses
    `FRESHDESK_API_KEY` (Basic `key:X`) on `https://{FRESHDESK_DOMAIN}.freshdesk.com/api/v2/`. `auth.py`.
Delivery: `POST /hooks/freshdesk` from "Trigger webhook" actions of Ticket creation / Ticket updates rules,
    JSON body `config/freshdesk/webhook-body.json` (one rule per `kind`). Freshdesk retries after 5, 30 and
    60 minutes, may defer or drop deliveries under rate pressure, and has no replay protection: we store,
    answer 2xx, and reconciliation polling recovers the rest. `inbound.py`.
Identity: no delivery id exists; the dedupe key is `fd:<ticket id>:sha256:<body hash>`. Event ids are
    `fd:<ticket id>:<updated_at|created_at>:<kind>` or `fd:<ticket id>:conversation:<id>`. Tickets are
    `(freshdesk, <domain without .freshdesk.com>, <ticket id>)`; every id is a string.
Write-back: through API v2 (`client.py`, `writeback.py`): a 429 holds every call until its Retry-After; a 409
    is Freshdesk's "inconsistent state" (a duplicate value …), dead-lettered, never retried; accounts on the
    newer SLA policies own `due_by`/`fr_due_by` (`sources.freshdesk.due_by_owner`), then due instants go to
    custom fields. Reconciliation (`backfill.py`) lists tickets with `include=stats`, following `link`.
Quirks: the API says numbers (status 2–5, custom ≥ 6; priority 1–4; source 1–10), placeholders render labels
    (`Resolved`, `Waiting on Customer`, `Urgent`, `Outbound Email`), comma-separated tags and human dates,
    and `{{triggered_event}}` is not JSON — `mapping.py` reads both spellings. Priorities stay "1".."4"
    (`priority_map.freshdesk`). Bodies carry no ids or ISO times, so `normalize` reads the ticket (and, for
    replies, its conversations: the newest decides) through the API. A reply by the requester has
    `incoming: false` when it comes through the portal: its `user_id` says whose it is. Reasons never
    repeat a value of the body (`mapping.described`).
"""

from adapters.freshdesk.const import SOURCE
from adapters.freshdesk.inbound import FreshdeskAdapter, FreshdeskApi

__all__ = ["SOURCE", "FreshdeskAdapter", "FreshdeskApi"]
