#!/usr/bin/env bash
# `make bench`: every benchmark, then one report — docs/bench/report.md, report.json and
# PNG charts — with each figure compared with the previous report when there is one.
#
#   bash infra/bench.sh                 # the full run (about 7 minutes once everything is built)
#   BENCH_QUICK=1 bash infra/bench.sh   # short durations, to check the command itself
#   BENCH_REPORT_DIR=/tmp/r bash infra/bench.sh   # write the report elsewhere
#   BENCH_REUSE_ZIPS=1 bash infra/bench.sh         # size the arm64 zips already built
#
# Run it on an otherwise idle machine: the load generators share the cores with what
# they measure, and every figure is quoted with the machine's core count. Raw results
# stay in target/bench/<UTC time>/. Builds (bench profile, the release CLI, the native
# function binaries for cold start, the arm64 zips) all happen before anything is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_python_venv
ensure_media_tools
ensure_moto
ensure_bench_tools

quick="${BENCH_QUICK:-0}"
# Absolute: cargo runs each bench in its own package's directory.
run="$PWD/target/bench/$(date -u +%Y%m%dT%H%M%SZ)"
# A quick run's figures are not comparable: its report stays beside its raw results.
if [ "$quick" = 1 ]; then default_report="$run/report"; else default_report=docs/bench; fi
report_dir="${BENCH_REPORT_DIR:-$default_report}"
mkdir -p "$run" "$report_dir"
export MOTO_SERVER="$PWD/.venv/bin/moto_server"
if [ "$quick" = 1 ]; then
  api_seconds=2 soak_seconds=20 render_runs=1 events=300 demo_runs=1 cold_runs=10
else
  api_seconds=5 soak_seconds=120 render_runs=3 events=2000 demo_runs=3 cold_runs=100
fi

step "building the benches (bench profile), the CLI (release) and the function binaries"
cargo bench -q -p reelforge-app -p reelforge-local -p reelforge-studio -p reelforge-cli --no-run
cargo build -q --release -p reelforge-cli
# The function binaries share target/ (release profile) with the CLI: one build of the
# dependencies, not two.
COLDSTART_TARGET_DIR="${COLDSTART_TARGET_DIR:-target}"
# One build per function: features are resolved per package (as deployed).
for dir in functions/*/; do
  CARGO_TARGET_DIR="$COLDSTART_TARGET_DIR" cargo build -q --release -p "$(basename "$dir")"
done

# BENCH_REUSE_ZIPS=1 reports the zips already in target/lambda instead of rebuilding
# them (an arm64 LTO build of every function takes 30+ minutes on 2 cores).
step "package sizes (arm64 zips, as deployed)"
PACKAGE_SKIP_BUILD="${BENCH_REUSE_ZIPS:-0}" PACKAGE_JSON="$run/package.json" bash infra/package.sh

step "API throughput, latency and the limiter under a 10x overload"
BENCH_JSON="$run/api_load.json" BENCH_SECONDS="$api_seconds" BENCH_CONNS=8 \
  cargo bench -q -p reelforge-cli --bench api_load

step "soak: ${soak_seconds} s of mixed load, server memory"
BENCH_JSON="$run/soak.json" BENCH_SOAK_SECONDS="$soak_seconds" \
  cargo bench -q -p reelforge-cli --bench soak

step "store round trips per request (aws backend on moto)"
BENCH_JSON="$run/aws_round_trips.json" cargo bench -q -p reelforge-app --bench aws_round_trips

step "webhook deliveries per second"
BENCH_JSON="$run/webhook_delivery.json" BENCH_EVENTS="$events" \
  cargo bench -q -p reelforge-local --bench webhook_delivery

step "render speed"
BENCH_JSON="$run/render_speed.json" BENCH_RUNS="$render_runs" \
  cargo bench -q -p reelforge-studio --bench render_speed

step "end to end: reelforge demo (en, ja, ko), $demo_runs run(s)"
for i in $(seq 1 "$demo_runs"); do
  data="$(mktemp -d)"
  target/release/reelforge --data "$data/data" demo --out "$data/out" >"$run/demo-$i.json"
  rm -rf "$data"
done

step "Lambda cold start ($cold_runs runs per function)"
COLDSTART_SKIP_BUILD=1 COLDSTART_TARGET_DIR="$COLDSTART_TARGET_DIR" RUNS="$cold_runs" \
  COLDSTART_JSON="$run/coldstart.json" bash infra/coldstart.sh

step "incremental rebuild after touching one API handler (debug, every test binary)"
# Warm first, so the figure is the rebuild alone: the touched crate and what depends on it.
cargo test -q --workspace --all-features --no-run 2>/dev/null
touched=shared/app/src/api/estimate.rs
touch "$touched"
t0=$(date +%s.%N)
cargo test -q --workspace --all-features --no-run 2>/dev/null
t1=$(date +%s.%N)
binaries=$(cargo test -q --workspace --all-features --no-run --message-format json 2>/dev/null |
  python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if (m:=json.loads(l)).get("reason")=="compiler-artifact" and m.get("profile",{}).get("test") and m.get("executable")))')
# The test command from a clean clone (fresh target dir; installed tools are reused).
# BENCH_SKIP_TEST_COMMAND=1 skips it (it takes 15-25 minutes on 2 cores).
test_seconds=null
if [ "${BENCH_SKIP_TEST_COMMAND:-0}" != 1 ]; then
  step "the test command from a clean clone"
  clone=$(mktemp -d "${TMPDIR:-/tmp}/reelforge-bench-clone.XXXXXX")
  git clone -q . "$clone/repo"
  ln -s "$PWD/.venv" "$clone/repo/.venv"
  c0=$(date +%s)
  if (cd "$clone/repo" && CARGO_TARGET_DIR="$clone/target" bash infra/test.sh >"$run/test-command.log" 2>&1); then
    test_seconds=$(( $(date +%s) - c0 ))
  else
    echo "the test command failed; see $run/test-command.log" >&2
  fi
  rm -rf "$clone"
fi
python3 - "$run/build.json" "$touched" "$t0" "$t1" "$binaries" "$test_seconds" <<'PY'
import json, os, sys
out, touched, t0, t1, binaries, test_seconds = sys.argv[1:]
json.dump({
    "touched": touched,
    "incremental_rebuild_seconds": round(float(t1) - float(t0), 1),
    "test_binaries": int(binaries),
    "test_command_seconds": None if test_seconds == "null" else int(test_seconds),
    "machine_cores": os.cpu_count(),
}, open(out, "w"), indent=2)
PY

step "report"
.venv/bench/bin/python infra/bench_report.py "$run" "$report_dir"
