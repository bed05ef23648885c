#!/usr/bin/env bash
# Post a canonical event to a running connector, signed per Standard Webhooks (webhook-id, -timestamp, -signature).
# Usage: examples/send-webhook.sh [FILE] [URL]   (secret: $CONNECTOR_WEBHOOK_SECRET or .connector/webhook-secret)
set -euo pipefail
FILE=${1:-examples/webhook-event.json}
URL=${2:-http://127.0.0.1:8080/hooks/webhook}
SECRET=${CONNECTOR_WEBHOOK_SECRET:-$(cat .connector/webhook-secret)}
SECRET=${SECRET%%,*}                                   # the first secret signs
BODY=$(cat "$FILE")
ID="msg_$(date +%s%N)"; TS=$(date +%s)
KEY=$(printf '%s' "${SECRET#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
SIG=$(printf '%s' "$ID.$TS.$BODY" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" -binary | base64)
curl -sS -X POST "$URL" -H 'content-type: application/json' \
  -H "webhook-id: $ID" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" --data-binary "$BODY"
echo
