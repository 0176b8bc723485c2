#!/usr/bin/env bash
# Your own local server: builds reelforge, installs the media tools the pipeline uses,
# creates a first account and API key on the local backend (./.reelforge), prints them
# with a ready-to-paste curl, and runs the local server until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_media_tools
ADDR="${REELFORGE_ADDR:-127.0.0.1:8080}"
DATA="${REELFORGE_DATA:-./.reelforge}"

step "building reelforge (release; the first build takes a few minutes)"
cargo build --release -q -p reelforge-cli
BIN=target/release/reelforge

step "creating a first account and key in $DATA"
account=$("$BIN" --data "$DATA" accounts create --name "Quick start" --plan scale)
account_id=$(printf '%s' "$account" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')
key_json=$("$BIN" --data "$DATA" keys create --account "$account_id")
key=$(printf '%s' "$key_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
printf '%s\n%s\n' "$account" "$key_json"

cat >&2 <<MSG

Account $account_id (plan scale) and its API key are above; the key is shown only now.
Try it from another terminal:

  curl -s -X POST http://$ADDR/api/v1/campaigns \\
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
    -d '{"url": "https://example.com", "languages": ["en", "ja"]}'

  curl -s http://$ADDR/api/v1/campaigns/<campaign_id> -H "Authorization: Bearer $key"

Serving on http://$ADDR (Ctrl-C stops it).
MSG
exec "$BIN" --data "$DATA" serve --addr "$ADDR" "$@"
