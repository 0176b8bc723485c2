#!/usr/bin/env bash
# Packages every Lambda function in functions/ as an arm64 zip (bootstrap inside), the
# way `sam build` does through BuildMethod rust-cargolambda:
#   cargo lambda build --release --arm64 --output-format zip
# Installs cargo-lambda and zig (PyPI wheels) into ./.venv and the aarch64 standard
# library (rustup) when missing. Builds in a target dir of its own at low priority, so a
# developer's debug builds are neither invalidated nor starved. Prints each zip's size.
#
#   bash infra/package.sh            # zips in target/lambda/<function>/bootstrap.zip
#   LAMBDA_TARGET_DIR=... LAMBDA_OUT=... bash infra/package.sh
#   PACKAGE_JSON=out.json bash infra/package.sh   # also write the sizes as JSON
#   PACKAGE_SKIP_BUILD=1 bash infra/package.sh    # report the zips already built
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_cargo_lambda
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  step "adding the aarch64-unknown-linux-gnu standard library (rustup)"
  rustup target add aarch64-unknown-linux-gnu
fi

TARGET_DIR="${LAMBDA_TARGET_DIR:-target/lambda-build}"
OUT="${LAMBDA_OUT:-target/lambda}"
functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done

if [ "${PACKAGE_SKIP_BUILD:-0}" != 1 ]; then
  step "building ${functions[*]} (release, arm64; a first build takes 10-15 minutes on 2 cores)"
  start=$(date +%s)
  # One build per function, as `sam build` does: features are resolved per package, so
  # each zip links only the SDKs its function's Cargo.toml names.
  for f in "${functions[@]}"; do
    CARGO_TARGET_DIR="$TARGET_DIR" nice -n 15 \
      cargo lambda build --release --arm64 --output-format zip --lambda-dir "$OUT" -p "$f"
  done
  echo "built in $(( $(date +%s) - start )) s" >&2
fi

step "packages"
limit=$((8 * 1024 * 1024))
status=0
printf '%-24s %12s %12s\n' function "zip bytes" "bootstrap"
for f in "${functions[@]}"; do
  zip="$OUT/$f/bootstrap.zip"
  if [ ! -f "$zip" ]; then
    echo "missing $zip" >&2
    status=1
    continue
  fi
  zbytes=$(stat -c %s "$zip")
  bbytes=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("bootstrap").file_size)' "$zip")
  printf '%-24s %12s %12s  (%s MiB zipped)\n' "$f" "$zbytes" "$bbytes" \
    "$(python3 -c "print(f'{$zbytes/1048576:.2f}')")"
  if [ "$zbytes" -gt "$limit" ]; then
    echo "  $f is over the 8 MiB budget" >&2
    status=1
  fi
done
if [ -n "${PACKAGE_JSON:-}" ]; then
  python3 - "$OUT" "$PACKAGE_JSON" "${functions[@]}" <<'PY'
import json, os, sys, zipfile
out, path, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for name in names:
    z = os.path.join(out, name, "bootstrap.zip")
    if os.path.exists(z):
        rows.append({"function": name, "zip_bytes": os.path.getsize(z),
                     "bootstrap_bytes": zipfile.ZipFile(z).getinfo("bootstrap").file_size})
json.dump({"arch": "arm64", "functions": rows, "budget_bytes": 8 * 1024 * 1024}, open(path, "w"), indent=2)
PY
fi
exit $status
