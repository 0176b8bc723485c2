//! The tools reelforge runs on the machine: headless Chromium (page capture), ffmpeg
//! (rendering), espeak-ng (voice) and the deterministic local script writer. Used by the
//! local stack and by the Lambda stage functions (Chromium and ffmpeg from layers).

mod capture;
mod espeak;
mod ffmpeg;
pub mod video;
mod writer;

pub use capture::{
    capture_pages, CaptureError, CaptureOptions, ChromiumCapture, CSP, MAX_CAPTURE_HEIGHT,
    PAGE_HOST,
};
pub use espeak::{espeak_voice, speak_espeak, speak_espeak_as, EspeakVoice, ESPEAK, KAKASI};
pub use ffmpeg::{
    decodes, probe_clip, probe_image, thumbnail, ClipInfo, FfmpegSettings, FfprobeInspector,
    RenderOutput, X264Preset,
};
pub use video::{render_with_ffmpeg, render_with_ffmpeg_settings, FfmpegRenderer};
pub use writer::LocalWriter;
