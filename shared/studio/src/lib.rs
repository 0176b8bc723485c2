//! The tools reelforge runs on the machine: headless Chromium (page capture), ffmpeg
//! (rendering), espeak-ng (voice) and the deterministic local script writer. Used by the
//! local stack and by the Lambda stage functions (Chromium and ffmpeg from layers).

mod capture;
mod espeak;
mod ffmpeg;
mod writer;

pub use capture::{capture_screens, CaptureError, CaptureOptions, ChromiumCapture};
pub use espeak::{espeak_voice, speak_espeak, speak_espeak_as, EspeakVoice, ESPEAK, KAKASI};
pub use ffmpeg::{
    decodes, ffmpeg_args, probe_clip, probe_image, render_with_ffmpeg, render_with_ffmpeg_settings,
    thumbnail, ClipInfo, FfmpegRenderer, FfmpegSettings, FfprobeInspector, RenderOutput,
    X264Preset,
};
pub use writer::LocalWriter;
