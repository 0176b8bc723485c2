#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, one after the other, and fails
# if any of them finds a crash or a broken check. See docs/fuzzing.md.
#
#   FUZZ_SECONDS=60        seconds per target (libFuzzer -max_total_time)
#   FUZZ_TARGETS="..."     which targets (default: all four)
#   FUZZ_SANITIZER=none    or address (slower build and run; the code is safe Rust, so
#                          none still catches panics, overflow (debug assertions are on),
#                          out-of-memory and timeouts)
#   FUZZ_RSS_LIMIT_MB=2048 FUZZ_TIMEOUT=10   per-process memory and per-input time limits
#   FUZZ_CMIN=1            minimise each corpus afterwards (cargo fuzz cmin)
#   FUZZ_BUILD_ONLY=1      build the targets and stop
#   FUZZ_TOOLCHAIN=stable  use stable with RUSTC_BOOTSTRAP=1 even when nightly is installed
#   FUZZ_CODEGEN_UNITS=16  codegen units of the optimised build (1: slower build, a bit
#                          faster fuzzing)
#
# Toolchain: `cargo +nightly` when a nightly is installed (rustup), otherwise the stable
# toolchain with RUSTC_BOOTSTRAP=1. Builds go to fuzz/target, crash inputs to
# fuzz/artifacts/<target>/, logs to fuzz/target/logs/<target>.log. New corpus entries are
# written to fuzz/corpus/<target>/ (checked in; minimise before committing them).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
need_cargo

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-"create_body api_key url_guard position_expr mp4_duration"}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none}
FUZZ_RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-2048}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_NICE=${FUZZ_NICE:-10}
# cargo-fuzz's default of 1 makes the optimised build of the AWS SDK crates very slow.
FUZZ_CODEGEN_UNITS=${FUZZ_CODEGEN_UNITS:-16}

if ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && cargo +nightly --version >/dev/null 2>&1; then
  fuzz_cargo=(cargo +nightly)
  toolchain="nightly ($(cargo +nightly --version))"
else
  # cargo-fuzz passes unstable rustc flags; RUSTC_BOOTSTRAP lets stable accept them.
  fuzz_cargo=(env RUSTC_BOOTSTRAP=1 cargo)
  toolchain="stable with RUSTC_BOOTSTRAP=1 ($(cargo --version))"
fi

# Same flags for build, run and cmin, so run and cmin reuse the build. -a: debug
# assertions (overflow checks) in the optimised build.
common=(--fuzz-dir fuzz --target-dir fuzz/target --sanitizer "$FUZZ_SANITIZER" --debug-assertions
  --codegen-units "$FUZZ_CODEGEN_UNITS")

step "building the fuzz targets (sanitizer ${FUZZ_SANITIZER}; ${toolchain})"
# All targets in one cargo build (they share the reelforge crate).
nice -n "$FUZZ_NICE" "${fuzz_cargo[@]}" fuzz build "${common[@]}"
if [ -n "${FUZZ_BUILD_ONLY:-}" ]; then
  exit 0
fi

mkdir -p fuzz/target/logs
failed=()
summary=()
for t in $FUZZ_TARGETS; do
  step "fuzzing $t for ${FUZZ_SECONDS}s"
  log="fuzz/target/logs/$t.log"
  before=$(find "fuzz/corpus/$t" -type f | wc -l)
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  status=0
  nice -n "$FUZZ_NICE" "${fuzz_cargo[@]}" fuzz run "${common[@]}" "$t" -- \
    -max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$FUZZ_RSS_LIMIT_MB" \
    -timeout="$FUZZ_TIMEOUT" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
  # The last status line ("#N DONE cov: C ft: F corp: U/S ...") and the final stats.
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  after=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $status; see $log and fuzz/artifacts/$t/)"
    failed+=("$t")
    grep -E 'panicked at|^SUMMARY|Test unit written to' "$log" | head -n 5 >&2 || true
  fi
  summary+=("$(printf '%-14s %6ss  execs %-10s exec/s %-7s cov %-5s ft %-6s corpus %s (files %s -> %s)  %s' \
    "$t" "$FUZZ_SECONDS" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$before" "$after" "$result")")
  if [ -n "${FUZZ_CMIN:-}" ] && [ "$status" -eq 0 ]; then
    step "minimising the $t corpus"
    # Greedy set cover over edges (no hit counts, no comparison operands): every covered
    # edge is kept with a few hundred files instead of thousands.
    nice -n "$FUZZ_NICE" "${fuzz_cargo[@]}" fuzz cmin "${common[@]}" "$t" -- \
      -set_cover_merge=1 -use_counters=0 -use_cmp=0 >>"$log" 2>&1
    summary+=("$(printf '%-14s corpus minimised to %s files' "$t" "$(find "fuzz/corpus/$t" -type f | wc -l)")")
  fi
done

step "fuzzing summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found failures in: ${failed[*]} (crash inputs in fuzz/artifacts/; reproduce with" \
    "\`cargo +nightly fuzz run --fuzz-dir fuzz --sanitizer ${FUZZ_SANITIZER} -a <target> <crash file>\`," \
    "then add the input to fuzz/regressions/<target>/)" >&2
  exit 1
fi
