#!/usr/bin/env bash
# `sam build` that reuses the packaging build: cargo-lambda builds into the same target
# directory as infra/package.sh (target/lambda-build), so a deploy after `make package`
# recompiles nothing, and neither reuses the debug build's directory.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
need_cargo
ensure_cargo_lambda
export CARGO_TARGET_DIR="$PWD/target/lambda-build"
export PATH="$PWD/.venv/sam/bin:$PATH"
exec nice -n "${NICE:-15}" sam build --beta-features "$@"
