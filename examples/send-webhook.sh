#!/usr/bin/env bash
# Post canonical events to a running connector, each signed per Standard Webhooks (webhook-id, -timestamp,
# -signature). FILE holds one event (JSON) or several, one per line (JSONL), sent in order.
#
# Usage: examples/send-webhook.sh [FILE] [URL]
#   secret  $CONNECTOR_WEBHOOK_SECRET, else the one `connector run` generated in .connector/webhook-secret
#   URL     default $CONNECTOR_URL/hooks/webhook, CONNECTOR_URL defaulting to http://127.0.0.1:8080
#
# The examples are live tickets: every instant in FILE moves by the same amount, so that the file's latest
# `occurred_at` is now and the gaps between events stay as written (a ticket created 12 minutes ago, a reply
# 5 minutes later, ...). SEND_AS_WRITTEN=1 sends the file's own dates instead.
set -euo pipefail
FILE=${1:-examples/webhook-event.json}
URL=${2:-${CONNECTOR_URL:-http://127.0.0.1:8080}/hooks/webhook}
SECRET=${CONNECTOR_WEBHOOK_SECRET:-$(cat .connector/webhook-secret)}
SECRET=${SECRET%%,*}                                   # the first secret signs
KEY=$(printf '%s' "${SECRET#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')

# One compact JSON body per line, moved to now unless SEND_AS_WRITTEN=1 (Python: it comes with the connector).
BODIES=$(SEND_AS_WRITTEN=${SEND_AS_WRITTEN:-0} python3 - "$FILE" <<'PY'
import json, os, sys
from datetime import datetime, timezone

text = open(sys.argv[1], encoding="utf-8").read()
try:
    events = [json.loads(text)]
except json.JSONDecodeError:
    events = [json.loads(line) for line in text.splitlines() if line.strip()]

def instant(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))

shift = None
if os.environ["SEND_AS_WRITTEN"] != "1":
    now = datetime.now(timezone.utc).replace(microsecond=0)
    shift = now - max(instant(e["occurred_at"]) for e in events)

def moved(value):
    if isinstance(value, dict):
        return {k: moved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [moved(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        try:
            at = instant(value)
        except ValueError:
            return value
        return (at + shift).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value

for event in events:
    print(json.dumps(moved(event) if shift is not None else event, ensure_ascii=False, separators=(",", ":")))
PY
)

N=0
while IFS= read -r BODY; do
  N=$((N + 1))
  ID="msg_$(date +%s%N)_$N"; TS=$(date +%s)
  SIG=$(printf '%s' "$ID.$TS.$BODY" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEY" -binary | base64)
  curl -sS -X POST "$URL" -H 'content-type: application/json' \
    -H "webhook-id: $ID" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" --data-binary "$BODY"
done <<< "$BODIES"
