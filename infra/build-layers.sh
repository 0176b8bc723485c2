#!/usr/bin/env bash
# Builds Lambda layers from registry packages (docs/deploy.md, "Layers"):
#
#   ffmpeg   (arm64 and x86_64): the static ffmpeg of the imageio-ffmpeg wheels (PyPI),
#            as bin/ffmpeg -> target/layers/ffmpeg-<arch>.zip (for the renderer of #9).
#   chromium (x86_64 only): @sparticuz/chromium (npm), a headless Chromium built for
#            Lambda's Amazon Linux 2023, with its libraries and fonts, brotli-decompressed
#            (brotli from PyPI) -> target/layers/chromium-x86_64.zip; binary at
#            /opt/chromium/chromium (the template's ChromiumPath default), libraries in
#            /opt/chromium/lib (the wrapper sets LD_LIBRARY_PATH).
#
# No arm64 Chromium is published on the registries this project uses, so a deploy that
# captures pages with this layer runs stage-process on x86_64 (docs/deploy.md says how).
# Publish a zip with:
#   aws lambda publish-layer-version --layer-name reelforge-chromium \
#     --compatible-architectures x86_64 --zip-file fileb://target/layers/chromium-x86_64.zip
#
# Usage: bash infra/build-layers.sh [ffmpeg] [chromium]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
ensure_python_venv
out="$PWD/target/layers"
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/reelforge-layers.XXXXXX")
trap 'rm -rf "$work"' EXIT
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ffmpeg chromium)

[ -x .venv/layers/bin/python3 ] || python3 -m venv .venv/layers
.venv/layers/bin/python3 -m pip install --quiet --disable-pip-version-check 'brotli>=1.1,<2'

ffmpeg_layer() {
  local arch=$1 platform=$2
  step "ffmpeg layer ($arch) from the imageio-ffmpeg wheel"
  rm -rf "$work/ffmpeg-$arch" && mkdir -p "$work/ffmpeg-$arch/wheel" "$work/ffmpeg-$arch/layer/bin"
  .venv/layers/bin/python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform "$platform" --python-version 3.11 \
    -d "$work/ffmpeg-$arch/wheel" 'imageio-ffmpeg>=0.5,<1'
  (cd "$work/ffmpeg-$arch/wheel" && python3 -m zipfile -e ./*.whl unpacked)
  local bin
  bin=$(find "$work/ffmpeg-$arch/wheel/unpacked" -path '*binaries/ffmpeg-*' -type f | head -1)
  [ -n "$bin" ] || { echo "no ffmpeg binary in the wheel" >&2; exit 1; }
  install -m 0755 "$bin" "$work/ffmpeg-$arch/layer/bin/ffmpeg"
  (cd "$work/ffmpeg-$arch/layer" && python3 -m zipfile -c "$out/ffmpeg-$arch.zip" bin)
  ls -l "$out/ffmpeg-$arch.zip" >&2
}

chromium_layer() {
  step "chromium layer (x86_64) from @sparticuz/chromium"
  command -v npm >/dev/null || ensure_debian_packages npm
  mkdir -p "$work/npm" "$work/chromium/layer/chromium/lib"
  (cd "$work/npm" && npm pack --silent '@sparticuz/chromium@>=130' >/dev/null)
  tar -xzf "$work"/npm/sparticuz-chromium-*.tgz -C "$work/npm"
  local bin="$work/npm/package/bin" layer="$work/chromium/layer/chromium"
  .venv/layers/bin/python3 - "$bin" "$layer" <<'PY'
import brotli, io, os, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
def unbr(name):
    with open(os.path.join(src, name), "rb") as f:
        return brotli.decompress(f.read())
with open(os.path.join(dst, "chromium-bin"), "wb") as f:
    f.write(unbr("chromium.br"))
os.chmod(os.path.join(dst, "chromium-bin"), 0o755)
for pack, into in [("al2023.tar.br", "lib"), ("swiftshader.tar.br", "lib"), ("fonts.tar.br", "fonts")]:
    if os.path.exists(os.path.join(src, pack)):
        with tarfile.open(fileobj=io.BytesIO(unbr(pack))) as t:
            t.extractall(os.path.join(dst, into), filter="data")
PY
  cat > "$layer/chromium" <<'SH'
#!/bin/sh
# Chromium from the reelforge layer: its own libraries and fonts first.
here=$(dirname "$0")
export LD_LIBRARY_PATH="$here/lib:$here/lib/lib:${LD_LIBRARY_PATH:-}"
export FONTCONFIG_PATH="$here/fonts"
exec "$here/chromium-bin" "$@"
SH
  chmod 0755 "$layer/chromium"
  (cd "$work/chromium/layer" && python3 -m zipfile -c "$out/chromium-x86_64.zip" chromium)
  ls -l "$out/chromium-x86_64.zip" >&2
}

for t in "${targets[@]}"; do
  case "$t" in
    ffmpeg)
      ffmpeg_layer arm64 manylinux2014_aarch64
      ffmpeg_layer x86_64 manylinux2010_x86_64
      ;;
    chromium) chromium_layer ;;
    *) echo "unknown layer $t (ffmpeg, chromium)" >&2; exit 2 ;;
  esac
done
