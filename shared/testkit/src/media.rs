//! ffprobe / ffmpeg helpers for checking rendered media: stream facts, duration, loudness
//! and pixels of grabbed frames. Shared by the renderer tests (`shared/tests/render.rs`)
//! and the black-box pipeline tests (`tests/pipeline.rs`, which includes this file by
//! path), so every test reads a video the same way.

use reelforge_core::render::{FrameSize, PixelRect, Rgb};
use std::path::Path;
use std::process::Command;

/// `ffprobe -show_format -show_streams` as JSON.
pub fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe on PATH");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first stream of `kind` (`video`, `audio`).
pub fn stream<'a>(json: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    json["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} stream"))
}

/// The container's duration in seconds.
pub fn duration(json: &serde_json::Value) -> f64 {
    json["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// ffmpeg `volumedetect`'s mean volume of the file's audio, in dB.
pub fn mean_volume_db(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(path)
        .args(["-vn", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("mean_volume:"))
        .expect("volumedetect output");
    line.split("mean_volume:")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches(" dB")
        .parse()
        .unwrap()
}

/// One frame at `t` seconds as packed RGB.
pub fn frame(path: &Path, t: f64, size: FrameSize) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss", &format!("{t}"), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), (size.width * size.height * 3) as usize);
    out.stdout
}

pub fn near(px: &[u8], c: Rgb, tol: i32) -> bool {
    (px[0] as i32 - c.r as i32).abs() <= tol
        && (px[1] as i32 - c.g as i32).abs() <= tol
        && (px[2] as i32 - c.b as i32).abs() <= tol
}

/// Mask of pixels near `c` inside `rect`, row-major, rect-sized.
pub fn mask(rgb: &[u8], size: FrameSize, rect: PixelRect, c: Rgb) -> Vec<bool> {
    let mut m = Vec::with_capacity((rect.width * rect.height) as usize);
    for y in rect.y..rect.y + rect.height {
        for x in rect.x..rect.x + rect.width {
            let i = ((y * size.width + x) * 3) as usize;
            m.push(near(&rgb[i..i + 3], c, 60));
        }
    }
    m
}

pub fn count(m: &[bool]) -> usize {
    m.iter().filter(|&&b| b).count()
}
