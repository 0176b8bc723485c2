# Shared helpers for the infra/ scripts (sourced, not run).

step() { printf '\n==> %s\n' "$*" >&2; }

need_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      export PATH="$HOME/.cargo/bin:$PATH"
    else
      echo "Rust is required: install it with rustup (https://rustup.rs), then re-run." >&2
      exit 1
    fi
  fi
}

# Installs the named Debian packages that are not installed yet (as root, or with sudo).
ensure_debian_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing packages: ${missing[*]} (install them with your package manager)" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  step "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# What the pipeline runs locally: ffmpeg (render), espeak-ng + kakasi (voice; kakasi gives
# Japanese kanji their kana reading), Chromium (page screens), Noto CJK + DejaVu fonts.
MEDIA_PACKAGES=(ffmpeg espeak-ng kakasi chromium fonts-noto-cjk fonts-dejavu-core)
ensure_media_tools() {
  ensure_debian_packages "${MEDIA_PACKAGES[@]}"
}

# A Python that can make virtual environments (Debian splits venv into its own package).
ensure_python_venv() {
  command -v python3 >/dev/null 2>&1 && python3 -m venv --help >/dev/null 2>&1 && return 0
  ensure_debian_packages python3 python3-venv
}

# moto's server (the local AWS emulator for DynamoDB and SQS) in ./.venv.
ensure_moto() {
  if [ ! -x .venv/bin/moto_server ]; then
    step "installing the AWS emulator (moto) into .venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
  fi
}

# Prints one closing line "N passed, N failed" over every cargo test binary in a log.
summarise_cargo_test() {
  awk '/^test result:/ { p += $4; f += $6 } END { printf "\ntests: %d passed, %d failed\n", p, f; exit (f > 0) }' "$1"
}

# The Lambda build tools in ./.venv: cargo-lambda (the cargo subcommand) and zig (its
# cross-linker, from the ziglang wheel, found as `python3 -m ziglang` once .venv/bin is on
# PATH). Both are self-contained wheels, so they sit beside moto without touching its
# dependencies.
ensure_cargo_lambda() {
  ensure_python_venv
  [ -d .venv ] || python3 -m venv .venv
  if [ ! -x .venv/bin/cargo-lambda ] || ! .venv/bin/python3 -c 'import ziglang' 2>/dev/null; then
    step "installing cargo-lambda and zig into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda>=1.9,<2' 'ziglang>=0.13,<0.18'
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}

# The template checkers: cfn-lint in ./.venv (moto already depends on it) and the SAM CLI
# in a venv of its own, ./.venv/sam: aws-sam-cli pins older boto3, botocore, click and
# pydantic than moto's server runs on, and sharing one environment would make the
# emulator's versions depend on which step installed last.
ensure_cfn_tools() {
  ensure_python_venv
  [ -d .venv ] || python3 -m venv .venv
  if [ ! -x .venv/bin/cfn-lint ]; then
    step "installing cfn-lint into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check 'cfn-lint>=1.58,<2'
  fi
  # The serverless rules (cfn-lint-serverless: a cfn-lint plugin) beside cfn-lint.
  if ! .venv/bin/python3 -c 'import cfn_lint_serverless' 2>/dev/null; then
    step "installing cfn-lint-serverless into .venv"
    .venv/bin/python3 -m pip install --quiet --disable-pip-version-check 'cfn-lint-serverless>=0.3.6,<1'
  fi
  if [ ! -x .venv/sam/bin/sam ]; then
    step "installing the SAM CLI into .venv/sam"
    python3 -m venv .venv/sam
    .venv/sam/bin/pip install --quiet --disable-pip-version-check 'aws-sam-cli>=1.170,<2'
  fi
}

# schemathesis (the property-based API tester, infra/schemathesis.sh) in a venv of its
# own, ./.venv/schemathesis: it pins hypothesis, jsonschema and requests versions that
# must not move the emulator's.
ensure_schemathesis() {
  ensure_python_venv
  if [ ! -x .venv/schemathesis/bin/schemathesis ]; then
    step "installing schemathesis into .venv/schemathesis"
    python3 -m venv .venv/schemathesis
    .venv/schemathesis/bin/python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4.32,<5'
  fi
}

# cfn-lint through the venv's own interpreter (a venv copied to another path keeps
# working; its console scripts name the interpreter by absolute path).
cfn_lint() {
  .venv/bin/python3 -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' "$@"
}

# The SAM CLI with no AWS account behind it: a fixed region, no credentials or profile
# looked up, no telemetry. `sam validate --lint` runs cfn-lint in-process and needs none.
sam_offline() {
  env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    .venv/sam/bin/sam "$@"
}

# matplotlib (the benchmark report's charts) in a venv of its own, ./.venv/bench, so its
# numpy and pillow never change the versions the AWS emulator runs on.
ensure_bench_tools() {
  ensure_python_venv
  if [ ! -x .venv/bench/bin/python ] || ! .venv/bench/bin/python -c 'import matplotlib' 2>/dev/null; then
    step "installing matplotlib into .venv/bench (report charts)"
    python3 -m venv .venv/bench
    .venv/bench/bin/pip install --quiet --disable-pip-version-check 'matplotlib>=3.8,<4'
  fi
}
