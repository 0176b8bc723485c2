#!/usr/bin/env bash
# The one command that runs every test (CI runs exactly this through .ci/run).
# It installs what the tests need: Debian packages when missing, the local AWS emulator
# (moto's server), cfn-lint and its serverless rules into ./.venv, the SAM CLI into
# ./.venv/sam and schemathesis into ./.venv/schemathesis, from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_python_venv
ensure_media_tools
ensure_moto
ensure_cfn_tools
ensure_schemathesis

step "template (cfn-lint with the serverless rules, sam validate --lint; offline, any finding fails)"
cfn_lint --include-checks I --append-rules cfn_lint_serverless.rules -- template.yaml
sam_offline validate --lint --template template.yaml

step "OpenAPI document (docs/openapi.json is valid OpenAPI 3.1)"
.venv/bin/python3 -m openapi_spec_validator docs/openapi.json

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "schemathesis against a local server (infra/schemathesis.sh)"
bash infra/schemathesis.sh

step "tests"
export MOTO_SERVER="$PWD/.venv/bin/moto_server"
cargo test --workspace --all-features 2>&1 | tee "${TMPDIR:-/tmp}/reelforge-test.log"
summarise_cargo_test "${TMPDIR:-/tmp}/reelforge-test.log"
