#!/usr/bin/env bash
# The one command that runs every test (CI runs exactly this through .ci/run).
# It installs what the tests need: Debian packages when missing, the local AWS emulator
# (moto's server) and cfn-lint into ./.venv, and the SAM CLI into ./.venv/sam, from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_python_venv
ensure_media_tools
ensure_moto
ensure_cfn_tools

step "template (cfn-lint, sam validate --lint; offline, any finding fails)"
.venv/bin/cfn-lint --include-checks I -- template.yaml
sam_offline validate --lint --template template.yaml

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests"
export MOTO_SERVER="$PWD/.venv/bin/moto_server"
cargo test --workspace --all-features 2>&1 | tee "${TMPDIR:-/tmp}/reelforge-test.log"
summarise_cargo_test "${TMPDIR:-/tmp}/reelforge-test.log"
