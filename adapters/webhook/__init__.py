"""The generic webhook source: any tool that can POST canonical events, signed the Standard Webhooks way.

Auth: Standard Webhooks v1 (HMAC-SHA256 over `webhook-id.webhook-timestamp.body`, `whsec_` secrets from
    `CONNECTOR_WEBHOOK_SECRET`, comma-separated; any listed secret verifies, for rotation). Timestamps more
    than 5 minutes from now, in either direction, are refused. `signing.py`.
Delivery: `POST /hooks/webhook` with one canonical event (DESIGN §3.3), a list of them, or
    `{"events": [...]}`, 1 to 1000 events. Senders retry on non-2xx; we answer 2xx once the delivery is
    stored. `inbound.py`.
Identity: the `webhook-id` header is the dedupe key (Standard Webhooks senders keep it across retries);
    each event's `event_id` identifies it within the source. Events are already canonical, so `normalize`
    calls no API.
Write-back: there is no ticket API to call; each action is POSTed, signed with the first secret, to the
    `callback_url` of the `sources.webhook` config section, as `{"type": "sla.<action>", "timestamp",
    "data"}` with a `webhook-id` stable per idempotency key. No URL → dry-run. `outbound.py`.
Quirks: `source` may be omitted (it becomes `webhook`) but no other source is accepted, so this endpoint
    cannot write into Zendesk's or Freshdesk's tickets. `v1a` (ed25519) signatures are ignored. Redirects
    from the callback are not followed; 410 means the receiver removed the endpoint.
"""

from adapters.webhook.const import SOURCE
from adapters.webhook.inbound import WebhookAdapter
from adapters.webhook.outbound import WebhookWriter
from adapters.webhook.signing import sign, verify

__all__ = ["SOURCE", "WebhookAdapter", "WebhookWriter", "sign", "verify"]
