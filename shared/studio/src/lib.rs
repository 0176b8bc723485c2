//! The tools reelforge runs on the machine: headless Chromium (page capture), ffmpeg
//! (rendering), espeak-ng (voice) and the deterministic local script writer. Used by the
//! local stack and by the Lambda stage functions (Chromium and ffmpeg from layers).

pub mod capture;
pub mod espeak;
pub mod ffmpeg;
pub mod writer;
