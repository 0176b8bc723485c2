#!/usr/bin/env bash
# Builds Lambda layers from registry packages (docs/deploy.md, "Layers"):
#
#   ffmpeg   (arm64 and x86_64) -> target/layers/ffmpeg-<arch>.zip, for render-clip:
#            bin/ffmpeg   static ffmpeg 7 with libx264, libass and fontconfig, from the
#                         imageio-ffmpeg wheels (PyPI; John Van Sickle's builds, GPLv3);
#            bin/ffprobe  static ffprobe, from @ffprobe-installer/linux-<arch> (npm);
#            fonts/       the caption and card fonts: Noto Sans CJK (Regular, Bold; SIL
#                         OFL) and DejaVu Sans (Debian's fonts-noto-cjk, fonts-dejavu-core).
#            The template's defaults find them there (FfmpegDir /opt/bin, FontsDir
#            /opt/fonts). The script then checks each layer (arm64 on an x86_64
#            machine under qemu-user-static): a zooming clip with a libass caption drawn
#            with the layer's fonts only, encoded by libx264, read back by its ffprobe.
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
  local arch=$1 platform=$2 npm_arch=$3
  step "ffmpeg layer ($arch): imageio-ffmpeg's ffmpeg, @ffprobe-installer's ffprobe, fonts"
  local dir="$work/ffmpeg-$arch"
  rm -rf "$dir" && mkdir -p "$dir/wheel" "$dir/npm" "$dir/layer/bin" "$dir/layer/fonts"
  # 0.7 and later carry ffmpeg 7 (0.5 carried 4.2, whose scale filter cannot zoom over
  # time); their wheels are tagged manylinux2014.
  .venv/layers/bin/python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform "$platform" --python-version 3.11 \
    -d "$dir/wheel" 'imageio-ffmpeg>=0.7,<1'
  (cd "$dir/wheel" && python3 -m zipfile -e ./*.whl unpacked)
  local bin
  bin=$(find "$dir/wheel/unpacked" -path '*binaries/ffmpeg-*' -type f | head -1)
  [ -n "$bin" ] || { echo "no ffmpeg binary in the wheel" >&2; exit 1; }
  install -m 0755 "$bin" "$dir/layer/bin/ffmpeg"
  (cd "$dir/npm" && npm pack --silent "@ffprobe-installer/linux-$npm_arch@>=5" >/dev/null)
  tar -xzf "$dir"/npm/ffprobe-installer-*.tgz -C "$dir/npm"
  install -m 0755 "$dir/npm/package/ffprobe" "$dir/layer/bin/ffprobe"
  local f
  for f in /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc \
    /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc \
    /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
    /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf; do
    [ -f "$f" ] || { echo "missing font $f (fonts-noto-cjk, fonts-dejavu-core)" >&2; exit 1; }
    install -m 0644 "$f" "$dir/layer/fonts/"
  done
  if [ "$arch" = "$(uname -m | sed 's/aarch64/arm64/')" ]; then
    check_ffmpeg_layer "$dir/layer"
  elif [ "$arch" = arm64 ]; then
    # The arm64 layer on an x86_64 machine: the same check under user-mode emulation.
    ensure_debian_packages qemu-user-static
    check_ffmpeg_layer "$dir/layer" qemu-aarch64-static
  fi
  (cd "$dir/layer" && python3 -m zipfile -c "$out/ffmpeg-$arch.zip" bin fonts)
  ls -l "$out/ffmpeg-$arch.zip" >&2
}

# Renders what render-clip renders, in small, with nothing but the layer: a zoom whose
# scale is evaluated per frame over time, a caption drawn by libass with the layer's
# fonts (fontconfig pointed at them alone), libx264; then the layer's ffprobe reads it.
check_ffmpeg_layer() {
  local layer=$1 runner=${2:-} t="$work/check-$(basename "$(dirname "$1")")"
  mkdir -p "$t/cache"
  cat > "$t/fonts.conf" <<XML
<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig><dir>$layer/fonts</dir><cachedir>$t/cache</cachedir></fontconfig>
XML
  cat > "$t/caption.ass" <<'ASS'
[Script Info]
ScriptType: v4.00+
PlayResX: 1080
PlayResY: 1920

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Caption,Noto Sans CJK JP,88,&H00FFFFFF,&H00FFFFFF,&H00000000,&H1A000000,-1,0,0,0,100,100,0,0,3,18,0,2,60,60,300,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.00,0:00:01.00,Caption,,0,0,0,,Lumen Notes 自動で整理 스스로
ASS
  (cd "$t" && FONTCONFIG_FILE="$t/fonts.conf" $runner "$layer/bin/ffmpeg" -nostdin -hide_banner \
    -loglevel error -y -f lavfi -i "testsrc2=s=1080x2200:r=30:d=1" -filter_complex \
    "[0:v]format=yuv420p,scale=w='2*trunc(1080*(1+0.1*t)/2)':h=-2:eval=frame:flags=fast_bilinear,crop=1080:1920:0:0,ass=filename=caption.ass[v]" \
    -map '[v]' -c:v libx264 -preset ultrafast -frames:v 30 -f mp4 check.mp4)
  local got
  got=$($runner "$layer/bin/ffprobe" -v error -select_streams v -show_entries \
    stream=codec_name,width,height,nb_frames -of csv=p=0 "$t/check.mp4")
  [ "$got" = "h264,1080,1920,30" ] || { echo "layer check: ffprobe read '$got'" >&2; exit 1; }
  # The caption was drawn: over plain grey, white glyphs in a dark box.
  (cd "$t" && FONTCONFIG_FILE="$t/fonts.conf" $runner "$layer/bin/ffmpeg" -nostdin -hide_banner \
    -loglevel error -y -f lavfi -i "color=c=0x808080:s=1080x1920:d=0.04" -vf \
    "ass=filename=caption.ass,signalstats,metadata=print:file=stats.txt" -f null -)
  local ymin ymax
  ymin=$(grep -o 'signalstats.YMIN=[0-9]*' "$t/stats.txt" | head -1 | cut -d= -f2)
  ymax=$(grep -o 'signalstats.YMAX=[0-9]*' "$t/stats.txt" | head -1 | cut -d= -f2)
  if [ -z "$ymin" ] || [ -z "$ymax" ] || [ "$ymin" -gt 40 ] || [ "$ymax" -lt 200 ]; then
    echo "layer check: no caption drawn with the layer's fonts (Y $ymin..$ymax)" >&2
    exit 1
  fi
  echo "layer check${runner:+ (under $runner)}: libx264 + per-frame zoom render, ffprobe reads $got; caption drawn with the layer's fonts (Y $ymin..$ymax)" >&2
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
      command -v npm >/dev/null || ensure_debian_packages npm
      ensure_media_tools
      ffmpeg_layer arm64 manylinux2014_aarch64 arm64
      ffmpeg_layer x86_64 manylinux2014_x86_64 x64
      ;;
    chromium) chromium_layer ;;
    *) echo "unknown layer $t (ffmpeg, chromium)" >&2; exit 2 ;;
  esac
done
