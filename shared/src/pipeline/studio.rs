//! The production tools a pipeline runs with: the script writer, the voice engine, page
//! capture and render settings. Local defaults: the deterministic writer, espeak-ng,
//! Debian's Chromium and ffmpeg. The aws stage functions swap in Bedrock and Polly.

use crate::capture::CaptureOptions;
use crate::media::render::FfmpegSettings;
use crate::media::{EspeakVoice, VoiceEngine};
use crate::script::{LocalWriter, ScriptWriter};
use std::sync::Arc;

pub struct Studio {
    pub writer: Arc<dyn ScriptWriter>,
    /// Whether the writer is a language model (priced as AI planning, SPEC §9).
    pub writer_is_ai: bool,
    pub voice: Arc<dyn VoiceEngine>,
    /// Chromium and ffmpeg paths, screens per page, timeout; the size is set per output.
    pub capture: CaptureOptions,
    pub ffmpeg: FfmpegSettings,
    /// Videos of one campaign rendered at the same time.
    pub renders_at_once: usize,
    /// How long a stage's claim on a campaign lasts: longer than the stage takes, and
    /// no longer than the queue's visibility timeout, so a crashed worker's message,
    /// when it comes back, finds the claim expired.
    pub lease_ms: i64,
}

/// The default claim: the local queue's visibility timeout.
pub const DEFAULT_LEASE_MS: i64 = crate::pipeline::worker::VISIBILITY_MS;

impl Studio {
    /// Local tools, with `REELFORGE_CHROMIUM` / `REELFORGE_FFMPEG` when set.
    pub fn local() -> Studio {
        let capture = CaptureOptions::from_env();
        let mut ffmpeg = FfmpegSettings::default();
        if let Some(path) = std::env::var_os("REELFORGE_FFMPEG").filter(|v| !v.is_empty()) {
            ffmpeg.ffmpeg = path.into();
        }
        if let Some(path) = std::env::var_os("REELFORGE_FFPROBE").filter(|v| !v.is_empty()) {
            ffmpeg.ffprobe = path.into();
        }
        Studio {
            writer: Arc::new(LocalWriter),
            writer_is_ai: false,
            voice: Arc::new(EspeakVoice),
            capture,
            ffmpeg,
            renders_at_once: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            lease_ms: DEFAULT_LEASE_MS,
        }
    }
}
