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
