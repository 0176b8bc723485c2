//! The local production tools: the deterministic writer, espeak-ng, headless Chromium and
//! ffmpeg, with `REELFORGE_CHROMIUM`, `REELFORGE_FFMPEG` and `REELFORGE_FFPROBE` when set.

use reelforge_app::{Tools, DEFAULT_LEASE_MS};
use reelforge_core::ports::MediaStore;
use reelforge_core::styles::ProviderId;
use reelforge_studio::EspeakVoice;
use reelforge_studio::LocalWriter;
use reelforge_studio::{CaptureOptions, ChromiumCapture};
use reelforge_studio::{FfmpegRenderer, FfmpegSettings, FfprobeInspector};
use std::sync::Arc;

/// ffmpeg and ffprobe, from `REELFORGE_FFMPEG` / `REELFORGE_FFPROBE` when set.
pub fn ffmpeg_settings() -> FfmpegSettings {
    let mut ffmpeg = FfmpegSettings::default();
    if let Some(path) = std::env::var_os("REELFORGE_FFMPEG").filter(|v| !v.is_empty()) {
        ffmpeg.ffmpeg = path.into();
    }
    if let Some(path) = std::env::var_os("REELFORGE_FFPROBE").filter(|v| !v.is_empty()) {
        ffmpeg.ffprobe = path.into();
    }
    ffmpeg
}

/// The local tools, rendering into (and reading inputs from) `media`.
pub fn local_tools(media: Arc<dyn MediaStore>) -> Tools {
    let ffmpeg = ffmpeg_settings();
    Tools {
        writer: Arc::new(LocalWriter),
        voice: Arc::new(EspeakVoice),
        voice_provider: ProviderId::Espeak,
        capture: Arc::new(ChromiumCapture {
            options: CaptureOptions::from_env(),
        }),
        renderer: Arc::new(FfmpegRenderer::new(media, ffmpeg.clone())),
        inspector: Arc::new(FfprobeInspector { settings: ffmpeg }),
        // Every video of a campaign at once: their ffmpeg runs queue for the renderer's
        // slots (one per core), so the cores stay busy until the last clip.
        renders_at_once: 32,
        lease_ms: DEFAULT_LEASE_MS,
        render_deadline_ms: reelforge_app::DEFAULT_RENDER_DEADLINE_MS,
    }
}
