#!/usr/bin/env bash
# Local Lambda smoke test, run by hand (not part of infra/test.sh): the real function
# binaries under `cargo lambda watch` (a local Lambda Runtime API) against the local AWS
# emulator (moto's server), driven by the sample events in events/.
#
#   1. starts moto on a free loopback port;
#   2. `reelforge --backend aws setup` creates the table and both queues there, and the
#      CLI creates an account (scale) and an API key;
#   3. `cargo lambda watch` runs the functions with the environment the template gives
#      them (REELFORGE_TABLE, REELFORGE_QUEUE_URL_COLLECT/_WEBHOOK) pointed at moto;
#   4. `cargo lambda invoke --data-file` sends events/api-campaign-create.json (with the
#      new key) and expects 201, then events/api-campaign-get.json (with the key and the
#      new campaign's id) and expects 200 with status "collecting", then
#      events/webhook-sender.json and expects its unreadable record back as a failure.
#
#   bash infra/lambda-smoke.sh
# The first run compiles the functions (debug) and the CLI; later runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_python_venv
ensure_moto
ensure_cargo_lambda

work=$(mktemp -d "${TMPDIR:-/tmp}/reelforge-smoke.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 "${2:-200}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

step "starting the AWS emulator (moto)"
moto_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port "$moto_port" || { cat "$work/moto.log" >&2; exit 1; }

export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=smoke AWS_SECRET_ACCESS_KEY=smoke
export REELFORGE_TABLE=reelforge-smoke

step "building the CLI"
cargo build -q -p reelforge-cli
cli() { target/debug/reelforge --backend aws "$@"; }

step "creating the table, the queues, an account and a key"
collect_url=$(cli setup --queue reelforge-smoke-collect | json_field queue_url)
webhook_url=$(cli setup --queue reelforge-smoke-webhook | json_field queue_url)
account_id=$(cli accounts create --name "Lambda smoke" --plan scale | json_field account_id)
key=$(cli keys create --account "$account_id" | json_field key)
echo "account $account_id, key ${key:0:12}…" >&2

cat >"$work/env" <<ENV
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=smoke
AWS_SECRET_ACCESS_KEY=smoke
REELFORGE_TABLE=$REELFORGE_TABLE
REELFORGE_QUEUE_URL_COLLECT=$collect_url
REELFORGE_QUEUE_URL_WEBHOOK=$webhook_url
RUST_LOG=warn
ENV

step "starting cargo lambda watch"
invoke_port=$(free_port)
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
  --env-file "$work/env" >"$work/watch.log" 2>&1 &
pids+=($!)
wait_port "$invoke_port" 600 || { cat "$work/watch.log" >&2; exit 1; }

invoke() { # function data-file -> the function's response (JSON) on stdout
  cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port "$invoke_port" \
    --data-file "$2" --output-format json "$1"
}

# The sample events, with the real key (and campaign id) in place of the placeholders.
render_event() { # source dest key [campaign_id]
  python3 - "$@" <<'PY'
import json, sys
src, dest, key = sys.argv[1:4]
campaign = sys.argv[4] if len(sys.argv) > 4 else None
event = json.load(open(src))
headers = event["headers"]
for name in ("authorization", "x-api-key"):
    if name in headers:
        headers[name] = f"Bearer {key}" if name == "authorization" else key
if campaign:
    old = event["pathParameters"]["id"]
    for holder, field in ((event, "rawPath"), (event["requestContext"]["http"], "path")):
        holder[field] = holder[field].replace(old, campaign)
    event["pathParameters"]["id"] = campaign
json.dump(event, open(dest, "w"))
PY
}
status_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["statusCode"])'; }
body_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["body"])'; }

failures=0
check() { # what expected actual
  if [ "$2" = "$3" ]; then echo "ok   $1: $3" >&2; else echo "FAIL $1: expected $2, got $3" >&2; failures=$((failures + 1)); fi
}

step "invoking api-campaign-create with events/api-campaign-create.json (first invoke compiles it)"
render_event events/api-campaign-create.json "$work/create.json" "$key"
created=$(invoke api-campaign-create "$work/create.json")
echo "$created" >&2
check "create status" 201 "$(printf '%s' "$created" | status_of)"
campaign_id=$(printf '%s' "$created" | body_of | json_field campaign_id)

step "invoking api-campaign-get with events/api-campaign-get.json"
render_event events/api-campaign-get.json "$work/get.json" "$key" "$campaign_id"
got=$(invoke api-campaign-get "$work/get.json")
echo "$got" >&2
check "get status" 200 "$(printf '%s' "$got" | status_of)"
check "campaign status" collecting "$(printf '%s' "$got" | body_of | json_field status)"

step "invoking webhook-sender with events/webhook-sender.json"
sent=$(invoke webhook-sender events/webhook-sender.json)
echo "$sent" >&2
check "unreadable record reported" yes "$(printf '%s' "$sent" | python3 -c '
import json, sys
ids = [f["itemIdentifier"] for f in json.load(sys.stdin)["batchItemFailures"]]
print("yes" if "5c4d3e2f-1a0b-4c9d-8e7f-6a5b4c3d2e1f" in ids else ids)')"

step "collect queue holds the campaign's message"
messages=$(python3 - "$collect_url" <<'PY'
import sys, urllib.request, urllib.parse, os
# One unsigned query-protocol call to the emulator (moto does not check signatures).
url = sys.argv[1]
data = urllib.parse.urlencode({"Action": "GetQueueAttributes", "AttributeName.1": "ApproximateNumberOfMessages", "QueueUrl": url}).encode()
req = urllib.request.Request(os.environ["AWS_ENDPOINT_URL"] + "/", data=data,
    headers={"Content-Type": "application/x-www-form-urlencoded",
             "Authorization": "AWS4-HMAC-SHA256 Credential=smoke/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0"})
body = urllib.request.urlopen(req).read().decode()
import re
m = re.search(r"<Value>(\d+)</Value>", body)
print(m.group(1) if m else body)
PY
)
check "collect messages" 1 "$messages"

if [ "$failures" -gt 0 ]; then
  echo "lambda smoke: $failures check(s) failed; logs: watch and moto above" >&2
  sed -n '1,200p' "$work/watch.log" >&2
  exit 1
fi
echo "lambda smoke: all checks passed" >&2
