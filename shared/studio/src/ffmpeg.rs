//! The local render backend: ffmpeg (and ffprobe) run from a `RenderPlan`.

use reelforge_core::ports::{
    UploadInspector, UploadKind, UploadRefused, MAX_END_CLIP_MS, MAX_MUSIC_MS,
};
use reelforge_core::render::*;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// ffmpeg backend
// ---------------------------------------------------------------------------------------

/// x264 speed presets offered to the renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum X264Preset {
    #[default]
    Ultrafast,
    Superfast,
    Veryfast,
    Faster,
    Fast,
    Medium,
}

impl X264Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            X264Preset::Ultrafast => "ultrafast",
            X264Preset::Superfast => "superfast",
            X264Preset::Veryfast => "veryfast",
            X264Preset::Faster => "faster",
            X264Preset::Fast => "fast",
            X264Preset::Medium => "medium",
        }
    }
}

/// How the local renderer runs ffmpeg. Not part of the plan: MediaConvert has its own.
#[derive(Debug, Clone, PartialEq)]
pub struct FfmpegSettings {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub preset: X264Preset,
    pub crf: u8,
    /// Clips rendered at the same time (each encodes on one thread).
    pub jobs: usize,
    /// Longest a single ffmpeg or ffprobe run may take before it is killed.
    pub timeout: Duration,
    /// When set, fonts come only from this directory (a fontconfig file written into
    /// the work directory): reproducible renders, fonts shipped beside the binary.
    pub fonts_dir: Option<PathBuf>,
}

impl Default for FfmpegSettings {
    fn default() -> Self {
        FfmpegSettings {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            preset: X264Preset::Ultrafast,
            crf: 31,
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            timeout: Duration::from_secs(300),
            fonts_dir: None,
        }
    }
}

/// What a render produced, read back from the file with ffprobe.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOutput {
    pub path: PathBuf,
    pub duration_ms: u64,
    pub width: u32,
    pub height: u32,
    pub video_codec: String,
    pub audio_codec: Option<String>,
    pub bytes: u64,
    /// Wall time of the ffmpeg run.
    pub elapsed: Duration,
}

/// Facts about the end clip the filter graph needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipInfo {
    pub duration_ms: u64,
    pub has_audio: bool,
}

pub(crate) const FONTS_CONF: &str = "fonts.conf";

/// `file:` plus the absolute path, so ffmpeg never reads a path as another protocol.
pub(crate) fn file_arg(path: &Path) -> Result<OsString, RenderError> {
    let abs = std::path::absolute(path)?;
    let mut arg = OsString::from("file:");
    arg.push(abs.as_os_str());
    Ok(arg)
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn fontconfig_file(fonts: &Path, cache: &Path) -> Result<String, RenderError> {
    let fonts = std::path::absolute(fonts)?;
    let cache = std::path::absolute(cache)?;
    Ok(format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig>\n\
         <dir>{}</dir>\n<cachedir>{}</cachedir>\n</fontconfig>\n",
        xml_escape(&fonts.to_string_lossy()),
        xml_escape(&cache.to_string_lossy())
    ))
}

/// Runs a tool to completion within `timeout` (killed when it runs out, or when the
/// caller gives up); its standard output on success.
pub(crate) async fn run(
    cmd: tokio::process::Command,
    program: &Path,
    timeout: std::time::Duration,
) -> Result<Vec<u8>, RenderError> {
    run_output(cmd, program, timeout).await.map(|o| o.stdout)
}

/// [`run`], with what the tool wrote to standard error too.
pub(crate) async fn run_output(
    mut cmd: tokio::process::Command,
    program: &Path,
    timeout: std::time::Duration,
) -> Result<std::process::Output, RenderError> {
    let name = program.display().to_string();
    let running = cmd
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, running)
        .await
        .map_err(|_| RenderError::ToolFailed {
            program: name.clone(),
            status: "timed out".into(),
            stderr: format!("no result within {} s", timeout.as_secs()),
        })?
        .map_err(|source| RenderError::Spawn {
            program: name.clone(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(RenderError::ToolFailed {
            program: name,
            status: output.status.to_string(),
            stderr: tail,
        });
    }
    Ok(output)
}

/// Writes a JPEG thumbnail of `video`: the frame at `at_ms`, scaled to `width` pixels
/// wide (height keeps the aspect ratio, rounded to even).
pub async fn thumbnail(
    settings: &FfmpegSettings,
    video: &Path,
    at_ms: u64,
    width: u32,
    out: &Path,
) -> Result<(), RenderError> {
    let mut cmd = tokio::process::Command::new(&settings.ffmpeg);
    cmd.args([
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-ss",
    ])
    .arg(secs(at_ms))
    .arg("-i")
    .arg(file_arg(video)?)
    .args(["-frames:v", "1", "-q:v", "4", "-vf"])
    .arg(format!("scale={width}:-2"))
    .arg(file_arg(out)?);
    run(cmd, &settings.ffmpeg, settings.timeout).await?;
    if tokio::fs::metadata(out).await.is_err() {
        return Err(RenderError::Probe("no thumbnail written".into()));
    }
    Ok(())
}

async fn ffprobe_json(
    settings: &FfmpegSettings,
    path: &Path,
) -> Result<serde_json::Value, RenderError> {
    let mut cmd = tokio::process::Command::new(&settings.ffprobe);
    cmd.args([
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ])
    .arg(file_arg(path)?);
    let stdout = run(cmd, &settings.ffprobe, settings.timeout).await?;
    serde_json::from_slice(&stdout).map_err(|e| RenderError::Probe(e.to_string()))
}

fn probe_duration_ms(json: &serde_json::Value) -> Result<u64, RenderError> {
    json["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| (d * 1000.0).round() as u64)
        .ok_or_else(|| RenderError::Probe("no duration".into()))
}

fn streams<'a>(
    json: &'a serde_json::Value,
    kind: &'static str,
) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
    json["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |s| s["codec_type"] == kind)
}

/// Decodes the whole file (video and audio) and fails on the first error: a probe only
/// reads headers, and a truncated file has good headers.
pub async fn decodes(settings: &FfmpegSettings, path: &Path) -> Result<(), RenderError> {
    let mut cmd = tokio::process::Command::new(&settings.ffmpeg);
    cmd.args(["-nostdin", "-v", "error", "-xerror", "-i"])
        .arg(file_arg(path)?)
        .args(["-f", "null", "-"]);
    run(cmd, &settings.ffmpeg, settings.timeout)
        .await
        .map(|_| ())
}

/// Pixel size of a still image (the first video stream ffprobe finds in it).
pub async fn probe_image(
    settings: &FfmpegSettings,
    path: &Path,
) -> Result<(u32, u32), RenderError> {
    let json = ffprobe_json(settings, path).await?;
    let v = streams(&json, "video")
        .next()
        .ok_or_else(|| invalid("the image has no picture"))?;
    let dim = |k: &str| v[k].as_u64().unwrap_or(0) as u32;
    Ok((dim("width"), dim("height")))
}

/// Duration and audio presence of an end clip.
pub async fn probe_clip(settings: &FfmpegSettings, path: &Path) -> Result<ClipInfo, RenderError> {
    let json = ffprobe_json(settings, path).await?;
    if streams(&json, "video").next().is_none() {
        return Err(invalid("end clip has no video stream"));
    }
    let has_audio = streams(&json, "audio").next().is_some();
    Ok(ClipInfo {
        duration_ms: probe_duration_ms(&json)?,
        has_audio,
    })
}

pub(crate) async fn probe_output(
    settings: &FfmpegSettings,
    path: &Path,
) -> Result<RenderOutput, RenderError> {
    let json = ffprobe_json(settings, path).await?;
    let v = streams(&json, "video")
        .next()
        .ok_or_else(|| RenderError::Probe("output has no video stream".into()))?;
    let dim = |k: &str| v[k].as_u64().unwrap_or(0) as u32;
    let audio_codec = streams(&json, "audio")
        .next()
        .and_then(|a| a["codec_name"].as_str())
        .map(str::to_string);
    let output = RenderOutput {
        path: path.to_path_buf(),
        duration_ms: probe_duration_ms(&json)?,
        width: dim("width"),
        height: dim("height"),
        video_codec: v["codec_name"].as_str().unwrap_or_default().to_string(),
        audio_codec,
        bytes: tokio::fs::metadata(path).await?.len(),
        elapsed: Duration::ZERO,
    };
    Ok(output)
}

/// Decodes uploads with ffprobe and ffmpeg (the local server's [`UploadInspector`]).
pub struct FfprobeInspector {
    pub settings: FfmpegSettings,
}

/// Decoding an upload (the tools are killed when it runs out).
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[async_trait::async_trait]
impl UploadInspector for FfprobeInspector {
    async fn inspect(&self, kind: UploadKind, bytes: &[u8]) -> Result<(), UploadRefused> {
        let ext = match kind {
            UploadKind::Watermark => "png",
            UploadKind::EndClip => "mp4",
            // ffmpeg finds the format from the bytes, not the name.
            UploadKind::Music => "audio",
        };
        probe(&self.settings, kind, bytes, ext)
            .await
            .map_err(UploadRefused)
    }
}

/// Decodes the file with ffprobe when the server has it: `Ok(())` also when it doesn't.
async fn probe(
    settings: &FfmpegSettings,
    kind: UploadKind,
    bytes: &[u8],
    ext: &str,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("reelforge-upload-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("upload scratch: {e}"))?;
    let file = dir.join(format!("upload.{ext}"));
    let result = tokio::time::timeout(PROBE_TIMEOUT, async {
        tokio::fs::write(&file, bytes)
            .await
            .map_err(|e| format!("upload scratch: {e}"))?;
        let decoded = decodes(settings, &file).await;
        let outcome = decoded.and(match kind {
            UploadKind::Watermark => probe_image(settings, &file).await.map(|_| ()),
            UploadKind::EndClip => probe_clip(settings, &file).await.and_then(|clip| {
                if clip.duration_ms == 0 || clip.duration_ms > MAX_END_CLIP_MS {
                    Err(RenderError::InvalidPlan(format!(
                        "the end clip must be at most {} s long (it is {:.1} s)",
                        MAX_END_CLIP_MS / 1000,
                        clip.duration_ms as f64 / 1000.0
                    )))
                } else {
                    Ok(())
                }
            }),
            UploadKind::Music => probe_music(settings, &file).await,
        });
        match outcome {
            Ok(()) => Ok(()),
            // No ffprobe here (Lambda): the signature check stands.
            Err(RenderError::Spawn { .. }) => Ok(()),
            Err(RenderError::InvalidPlan(m)) => Err(m),
            Err(_) => Err(match kind {
                UploadKind::Watermark => "the watermark image could not be decoded".to_string(),
                UploadKind::EndClip => "the end clip could not be decoded".to_string(),
                UploadKind::Music => "the music could not be decoded".to_string(),
            }),
        }
    })
    .await
    .unwrap_or_else(|_| Err("the file took too long to decode".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A music track: some sound, at most [`MAX_MUSIC_MS`] long.
async fn probe_music(settings: &FfmpegSettings, path: &Path) -> Result<(), RenderError> {
    let json = ffprobe_json(settings, path).await?;
    if streams(&json, "audio").next().is_none() {
        return Err(RenderError::InvalidPlan("the music has no sound".into()));
    }
    let ms = probe_duration_ms(&json)?;
    if ms == 0 || ms > MAX_MUSIC_MS {
        return Err(RenderError::InvalidPlan(format!(
            "the music must be at most {} minutes long (it is {:.1} s)",
            MAX_MUSIC_MS / 60_000,
            ms as f64 / 1000.0
        )));
    }
    Ok(())
}
