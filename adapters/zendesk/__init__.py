"""Zendesk: ticket events from webhooks, enriched through the REST API; SLA results written back to tickets.

Auth: every webhook request is signed: `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(signing secret as
    UTF-8 bytes, `X-Zendesk-Webhook-Signature-Timestamp` + raw body)). Secrets come from
    `ZENDESK_WEBHOOK_SECRET` (comma-separated for rotation); timestamps more than 5 minutes from now, either
    way, are refused (Zendesk re-signs each retry). The REST API uses `ZENDESK_EMAIL` + `ZENDESK_API_TOKEN`
    on `https://{ZENDESK_SUBDOMAIN}.zendesk.com`. `signing.py`.
Delivery: `POST /hooks/zendesk`, from a webhook either subscribed to `zen:event-type:ticket.*` events
    (fixed envelope) or connected to triggers/automations (our body, `config/zendesk/trigger-body.json`).
    Zendesk waits 12 s, retries 409/timeouts, and may deliver twice or never: we store, then answer 2xx, and
    reconciliation polls recover the rest. `inbound.py`.
Identity: the envelope `id`, or a trigger's `x-zendesk-webhook-invocation-id` (else its `event_id` plus a
    hash of the body, else the body's SHA-256), is the dedupe key and the event id (a trigger's plus the
    kind): one delivery, one event, even for two updates in one minute. Tickets are
    `(zendesk, <subdomain>, <ticket id>)`; every id is a string of at most 255 printable characters, and
    every instant lies in 1970-2099: anything else is refused at the door, naming the key.
Write-back: through the REST API with `safe_update` (409 → re-fetch) and the Tags endpoints (never a tag
    overwrite); see `writeback.py` and `client.py`.
Quirks: event webhooks say `OPEN`/`HOLD` and `web_service`, REST says `open`/`hold` and `api`, triggers
    render `Open`/`On-hold`, `Web Form`, space-separated tags and human dates (`February 3, 2025`, never
    used: `*_with_timestamp` placeholders only, which render to the minute, `2013-12-12T05:35Z`) —
    `mapping.py` reads all three, and every via type of Zendesk's reference. Deleted tickets (`deleted`,
    `DELETED`, `SCRUBBED`, `ticket.soft_deleted` …) have the canonical status `deleted`. Envelopes carry no custom
    fields and trigger bodies no comment details, so `normalize` fetches what the clocks need (bounded LRU
    cache per ticket, dropped when a newer event for it arrives). A ticket's creating comment goes on its
    `ticket.created` event and never stops first_response; rule/automation comments are automated.
"""

from adapters.zendesk.const import SOURCE
from adapters.zendesk.inbound import ZendeskAdapter, ZendeskApi

__all__ = ["SOURCE", "ZendeskAdapter", "ZendeskApi"]
