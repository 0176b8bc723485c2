#!/usr/bin/env bash
# The README's main job: a campaign from the bundled sample site to MP4 files.
# Installs what the pipeline runs (ffmpeg, espeak-ng, kakasi, Chromium, Noto CJK fonts)
# when missing, builds reelforge (release), and runs `reelforge demo`: the local stack in
# one process, the sample product site (English, with Japanese and Korean hreflang pages)
# on loopback, one campaign over the real HTTP API. The videos, thumbnails and a contact
# sheet land in ./out (pass --out DIR, --languages en,ja,ko,de to change).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
ensure_media_tools

step "building reelforge (release; the first build takes a few minutes)"
cargo build --release -q -p reelforge-cli

DATA="${REELFORGE_DATA:-./.reelforge-demo}"
step "running the demo (data in $DATA)"
exec target/release/reelforge --data "$DATA" demo "$@"
