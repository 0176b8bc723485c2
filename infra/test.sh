#!/usr/bin/env bash
# The one command that runs every test (CI runs exactly this through .ci/run).
# It installs what the tests need: Debian packages when missing, and the local AWS
# emulator (moto's server) into ./.venv from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_python_venv
ensure_moto

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests"
export MOTO_SERVER="$PWD/.venv/bin/moto_server"
cargo test --workspace --all-features 2>&1 | tee "${TMPDIR:-/tmp}/reelforge-test.log"
summarise_cargo_test "${TMPDIR:-/tmp}/reelforge-test.log"
