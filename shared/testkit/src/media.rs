//! ffprobe / ffmpeg helpers for checking rendered media: stream facts, duration, loudness
//! and pixels of grabbed frames. Shared by the renderer tests (`shared/tests/render.rs`)
//! and the black-box pipeline tests (`tests/pipeline.rs`, which includes this file by
//! path), so every test reads a video the same way.

use reelforge_core::render::{FrameSize, PixelRect, Rgb};
use std::path::Path;
use std::process::Command;

/// Runs ffmpeg (quiet, overwriting) with `args` and returns its standard output; a
/// failure fails the test with ffmpeg's message.
pub fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg on PATH");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

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

/// Lengths in seconds of the still stretches ffmpeg's `freezedetect` finds (frames that
/// differ by less than `noise_db`, lasting at least `min_s`).
pub fn frozen_stretches(path: &Path, noise_db: f64, min_s: f64) -> Vec<f64> {
    let filter = format!("freezedetect=n={noise_db}dB:d={min_s}");
    filter_log(path, &filter)
        .lines()
        .filter_map(|l| l.split("lavfi.freezedetect.freeze_duration:").nth(1))
        .map(|v| v.trim().parse::<f64>().expect("freeze duration"))
        .collect()
}

/// Times in seconds of the scene changes ffmpeg's `scdet` finds at `threshold`
/// (0–100; 10 is its default).
pub fn scene_changes(path: &Path, threshold: f64) -> Vec<f64> {
    let filter = format!("scdet=threshold={threshold}");
    filter_log(path, &filter)
        .lines()
        .filter_map(|l| l.split("lavfi.scd.time:").nth(1))
        .map(|v| v.trim().parse::<f64>().expect("scene time"))
        .collect()
}

/// The video stream through `filter`, ffmpeg's log (where the detect filters report).
fn filter_log(path: &Path, filter: &str) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-vf", filter, "-f", "null", "-"])
        .output()
        .expect("ffmpeg on PATH");
    assert!(
        out.status.success(),
        "ffmpeg {filter} on {}",
        path.display()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// WCAG contrast of the caption text against what is right behind it, in `rect` of
/// `rgb`. `glyphs` is the same frame of the same plan rendered over plain green pages:
/// there the text is the pixels near one of `colours`. The text's luminance is the 10th
/// percentile of those pixels (eroded 2 px: chroma subsampling and anti-aliasing blur the
/// edges) on the real frame; what is behind it is the 90th percentile of the pixels 2 to
/// 6 px away from the text (the box, the outline, or the page itself when there is
/// neither). Plain white text straight on a white page measures about 1:1.
pub fn caption_contrast(
    rgb: &[u8],
    glyphs: &[u8],
    size: FrameSize,
    rect: PixelRect,
    colours: &[Rgb],
) -> f64 {
    let (w, h) = (rect.width as i64, rect.height as i64);
    let at = |x: i64, y: i64| {
        (((rect.y as i64 + y) * size.width as i64 + rect.x as i64 + x) * 3) as usize
    };
    let glyph: Vec<bool> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let i = at(x, y);
            colours.iter().any(|c| near(&glyphs[i..i + 3], *c, 60))
        })
        .collect();
    // Distance (in a disc of radius `r`) to the nearest glyph pixel, tested per pixel.
    let within = |x: i64, y: i64, r: i64| {
        (-r..=r).any(|dy| {
            (-r..=r).any(|dx| {
                let (nx, ny) = (x + dx, y + dy);
                dx * dx + dy * dy <= r * r
                    && (0..w).contains(&nx)
                    && (0..h).contains(&ny)
                    && glyph[(ny * w + nx) as usize]
            })
        })
    };
    let lum = |x: i64, y: i64| {
        let i = at(x, y);
        Rgb::new(rgb[i], rgb[i + 1], rgb[i + 2]).luminance()
    };
    let (mut text, mut ring) = (Vec::new(), Vec::new());
    for y in 0..h {
        for x in 0..w {
            if glyph[(y * w + x) as usize] {
                // The core: every pixel within 2 px is text too.
                let core = (-2..=2).all(|dy: i64| {
                    (-2..=2).all(|dx: i64| {
                        let (nx, ny) = (x + dx, y + dy);
                        (0..w).contains(&nx)
                            && (0..h).contains(&ny)
                            && glyph[(ny * w + nx) as usize]
                    })
                });
                if core {
                    text.push(lum(x, y));
                }
            } else if within(x, y, 6) && !within(x, y, 2) {
                ring.push(lum(x, y));
            }
        }
    }
    assert!(
        text.len() > 200 && ring.len() > 200,
        "no caption in {rect:?}: {} text and {} surrounding pixels",
        text.len(),
        ring.len()
    );
    let pct = |v: &mut Vec<f64>, p: usize| {
        v.sort_by(f64::total_cmp);
        v[(v.len() - 1) * p / 100]
    };
    let (t, b) = (pct(&mut text, 10), pct(&mut ring, 90));
    (t.max(b) + 0.05) / (t.min(b) + 0.05)
}

/// Integrated loudness (LUFS) and true peak (dBFS) of the file's audio, by ffmpeg's
/// `ebur128` (EBU R 128 / ITU-R BS.1770), read the way the renderer reads it.
pub fn loudness(path: &Path) -> reelforge_studio::video::audio::Loudness {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg on PATH");
    reelforge_studio::video::audio::parse_ebur128(&String::from_utf8_lossy(&out.stderr))
        .expect("an ebur128 summary")
}
