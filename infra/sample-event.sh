#!/usr/bin/env bash
# Prints events/<function>.json with a real key and campaign id in place of the sample's
# placeholders (sk_live_0123456789abcdef0123456789abcdef and campaign
# 8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d), ready for `sam local invoke -e -`,
# `cargo lambda invoke --data-file` or the Lambda console's test event.
#
#   bash infra/sample-event.sh api-campaign-get --key sk_live_… --campaign <uuid> > /tmp/e.json
#
# Without --key/--campaign the placeholders stay (the handler then answers 401/404, which
# is still a useful smoke test of the wiring).
set -euo pipefail
cd "$(dirname "$0")/.."
fn=${1:?usage: sample-event.sh FUNCTION [--key sk_live_…] [--campaign UUID]}
shift
key="" campaign=""
while [ $# -gt 0 ]; do
  case "$1" in
    --key) key=$2; shift 2 ;;
    --campaign) campaign=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
file="events/$fn.json"
[ -f "$file" ] || { echo "no sample event $file" >&2; exit 2; }
if [ -n "$key" ] && ! printf '%s' "$key" | grep -Eq '^sk_live_[0-9a-f]{32}$'; then
  echo "--key must be sk_live_ + 32 lowercase hex characters" >&2; exit 2
fi
if [ -n "$campaign" ] && ! printf '%s' "$campaign" | grep -Eq '^[0-9a-f-]{36}$'; then
  echo "--campaign must be a campaign id (uuid)" >&2; exit 2
fi
sed -e "s/sk_live_0123456789abcdef0123456789abcdef/${key:-sk_live_0123456789abcdef0123456789abcdef}/g" \
    -e "s/8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d/${campaign:-8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d}/g" "$file"
