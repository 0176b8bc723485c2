//! The local render backend: ffmpeg (and ffprobe) run from a `RenderPlan`.

use reelforge_core::model::Stage;
use reelforge_core::ports::{
    JobStateChange, MediaStore, RenderJob, RenderStarted, ToolError, UploadInspector, UploadKind,
    UploadRefused, VideoRenderer, MAX_END_CLIP_MS,
};
use reelforge_core::render::*;
use reelforge_core::scratch::Scratch;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    fn as_str(self) -> &'static str {
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
    /// Output frame rate. Slides are still and captions change at word boundaries
    /// (~3 a second), so 15 fps looks the same as 30 and halves the encoding work.
    pub fps: u32,
    pub preset: X264Preset,
    pub crf: u8,
    /// When set, fonts come only from this directory (a fontconfig file written into
    /// the work directory): reproducible renders, fonts shipped beside the binary.
    pub fonts_dir: Option<PathBuf>,
}

impl Default for FfmpegSettings {
    fn default() -> Self {
        FfmpegSettings {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            fps: 15,
            preset: X264Preset::Ultrafast,
            crf: 23,
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

const ASS_FILE: &str = "captions.ass";
const FONTS_CONF: &str = "fonts.conf";
const AUDIO_FORMAT: &str = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo";

/// Appends `-i file:<path>` and returns the input's index.
fn input(path: &Path, args: &mut Vec<OsString>) -> Result<usize, RenderError> {
    args.push("-i".into());
    args.push(file_arg(path)?);
    Ok(args.iter().filter(|a| *a == "-i").count() - 1)
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `file:` plus the absolute path, so ffmpeg never reads a path as another protocol.
fn file_arg(path: &Path) -> Result<OsString, RenderError> {
    let abs = std::path::absolute(path)?;
    let mut arg = OsString::from("file:");
    arg.push(abs.as_os_str());
    Ok(arg)
}

/// The ffmpeg arguments for `plan` (run with the work directory as current directory,
/// where [`ass_document`] has been written as `captions.ass`).
pub fn ffmpeg_args(
    plan: &RenderPlan,
    settings: &FfmpegSettings,
    end_clip: Option<ClipInfo>,
    out: &Path,
) -> Result<Vec<OsString>, RenderError> {
    let FrameSize {
        width: w,
        height: h,
    } = plan.size;
    let fps = settings.fps.clamp(1, 60) as u64;
    let main_ms = plan.main_duration_ms();
    let mut args: Vec<OsString> = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        .iter()
        .map(OsString::from)
        .collect();

    let mut graph = String::new();
    // Scenes: each image is decoded, fitted and converted once, then repeated in memory
    // by `loop` (no per-frame scaling or decoding). Frame counts come from cumulative
    // times so rounding never drifts.
    let total_frames = (main_ms * fps).div_ceil(1000);
    let mut cum_ms = 0;
    let mut frame_at = 0;
    let n = plan.scenes.len();
    for (i, scene) in plan.scenes.iter().enumerate() {
        let idx = input(&scene.image, &mut args)?;
        cum_ms += scene.duration_ms;
        let end_frame = if i + 1 == n {
            total_frames
        } else {
            (cum_ms * fps / 1000).min(total_frames)
        };
        let frames = end_frame.saturating_sub(frame_at).max(1);
        frame_at = end_frame;
        match scene.fit {
            ImageFit::Cover => {
                let _ = write!(
                    graph,
                    "[{idx}:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h}"
                );
            }
            ImageFit::Contain => {
                let (bw, bh) = ((w / 8).max(2) & !1, (h / 8).max(2) & !1);
                let _ = write!(
                    graph,
                    "[{idx}:v]split=2[bg{i}][fg{i}];\
                     [bg{i}]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},\
                     boxblur=6:2,scale={w}:{h},eq=brightness=-0.18[bgs{i}];\
                     [fg{i}]scale={w}:{h}:force_original_aspect_ratio=decrease[fgs{i}];\
                     [bgs{i}][fgs{i}]overlay=(W-w)/2:(H-h)/2"
                );
            }
        }
        let _ = write!(
            graph,
            ",setsar=1,format=yuv420p,loop=loop={}:size=1:start=0,settb=1/{fps},setpts=N[s{i}];",
            frames - 1
        );
    }
    for i in 0..n {
        let _ = write!(graph, "[s{i}]");
    }
    let _ = write!(graph, "concat=n={n}:v=1:a=0[slides];");
    let mut video = "slides".to_string();
    if plan.captions.is_some() {
        let _ = write!(graph, "[{video}]ass=filename={ASS_FILE}[captioned];");
        video = "captioned".into();
    }
    if let Some(wm) = &plan.watermark {
        let idx = input(&wm.image, &mut args)?;
        let ww = ((w as f32 * wm.width_fraction) as u32).max(2) & !1;
        let margin = (w.min(h) as f32 * 0.04) as u32;
        let (x, y) = match wm.position {
            Corner::TopLeft => (format!("{margin}"), format!("{margin}")),
            Corner::TopRight => (format!("W-w-{margin}"), format!("{margin}")),
            Corner::BottomLeft => (format!("{margin}"), format!("H-h-{margin}")),
            Corner::BottomRight => (format!("W-w-{margin}"), format!("H-h-{margin}")),
        };
        let _ = write!(
            graph,
            "[{idx}:v]scale={ww}:-2,format=rgba[wm];[{video}][wm]overlay=x={x}:y={y}:eof_action=repeat[marked];"
        );
        video = "marked".into();
    }
    let voice = input(&plan.voiceover.path, &mut args)?;
    let _ = write!(
        graph,
        "[{voice}:a]{AUDIO_FORMAT},apad=whole_dur={m},atrim=end={m},asetpts=PTS-STARTPTS[voice];",
        m = secs(main_ms)
    );
    let (vout, aout) = match (&plan.end_clip, end_clip) {
        (Some(clip), Some(info)) => {
            let idx = input(&clip.path, &mut args)?;
            let d = secs(info.duration_ms);
            let _ = write!(
                graph,
                "[{idx}:v]scale={w}:{h}:force_original_aspect_ratio=decrease,\
                 pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,fps={fps},format=yuv420p,\
                 trim=end={d},setpts=PTS-STARTPTS[endv];"
            );
            if info.has_audio {
                let _ = write!(
                    graph,
                    "[{idx}:a]{AUDIO_FORMAT},apad=whole_dur={d},atrim=end={d},asetpts=PTS-STARTPTS[enda];"
                );
            } else {
                let _ = write!(
                    graph,
                    "anullsrc=r=48000:cl=stereo,atrim=end={d},aformat=sample_fmts=fltp[enda];"
                );
            }
            let _ = write!(
                graph,
                "[{video}][voice][endv][enda]concat=n=2:v=1:a=1[vout][aout]"
            );
            ("[vout]".to_string(), "[aout]".to_string())
        }
        (Some(_), None) => return Err(invalid("end clip was not probed")),
        _ => {
            // Drop the trailing ';'.
            graph.pop();
            (format!("[{video}]"), "[voice]".to_string())
        }
    };
    args.push("-filter_complex".into());
    args.push(graph.into());
    for a in ["-map", &vout, "-map", &aout] {
        args.push(a.into());
    }
    let crf = settings.crf.min(51).to_string();
    let gop = (fps * 10).to_string();
    let rate = fps.to_string();
    for a in [
        "-c:v",
        "libx264",
        "-preset",
        settings.preset.as_str(),
        "-tune",
        "stillimage",
        "-crf",
        &crf,
        "-g",
        &gop,
        "-r",
        &rate,
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ar",
        "48000",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ] {
        args.push(a.into());
    }
    args.push(file_arg(out)?);
    Ok(args)
}

/// Renders `plan` into `out` (MP4, H.264 + AAC) with default settings.
pub async fn render_with_ffmpeg(
    plan: &RenderPlan,
    workdir: &Path,
    out: &Path,
) -> Result<RenderOutput, RenderError> {
    render_with_ffmpeg_settings(plan, workdir, out, &FfmpegSettings::default()).await
}

/// Renders `plan` into `out` with explicit ffmpeg settings. `workdir` receives the
/// caption file (and fontconfig file); it must exist.
pub async fn render_with_ffmpeg_settings(
    plan: &RenderPlan,
    workdir: &Path,
    out: &Path,
    settings: &FfmpegSettings,
) -> Result<RenderOutput, RenderError> {
    plan.validate()?;
    let inputs = plan
        .scenes
        .iter()
        .map(|s| s.image.as_path())
        .chain([plan.voiceover.path.as_path()])
        .chain(plan.watermark.iter().map(|w| w.image.as_path()))
        .chain(plan.end_clip.iter().map(|c| c.path.as_path()));
    for path in inputs {
        if !tokio::fs::try_exists(path).await.unwrap_or(false) {
            return Err(RenderError::MissingInput(path.to_path_buf()));
        }
    }
    let end_clip = match &plan.end_clip {
        Some(clip) => Some(probe_clip(settings, &clip.path).await?),
        None => None,
    };
    if let Some(captions) = &plan.captions {
        let doc = ass_document(captions, plan.size, plan.main_duration_ms());
        tokio::fs::write(workdir.join(ASS_FILE), doc).await?;
    }
    let args = ffmpeg_args(plan, settings, end_clip, out)?;
    let mut cmd = tokio::process::Command::new(&settings.ffmpeg);
    cmd.args(&args).current_dir(workdir).kill_on_drop(true);
    if let Some(dir) = &settings.fonts_dir {
        let conf = workdir.join(FONTS_CONF);
        tokio::fs::write(&conf, fontconfig_file(dir, &workdir.join("fontcache"))?).await?;
        cmd.env("FONTCONFIG_FILE", std::path::absolute(&conf)?);
    }
    let started = Instant::now();
    run(cmd, &settings.ffmpeg).await?;
    let elapsed = started.elapsed();
    let mut output = probe_output(settings, out).await?;
    output.elapsed = elapsed;
    Ok(output)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fontconfig_file(fonts: &Path, cache: &Path) -> Result<String, RenderError> {
    let fonts = std::path::absolute(fonts)?;
    let cache = std::path::absolute(cache)?;
    Ok(format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<fontconfig>\n\
         <dir>{}</dir>\n<cachedir>{}</cachedir>\n</fontconfig>\n",
        xml_escape(&fonts.to_string_lossy()),
        xml_escape(&cache.to_string_lossy())
    ))
}

async fn run(mut cmd: tokio::process::Command, program: &Path) -> Result<Vec<u8>, RenderError> {
    let name = program.display().to_string();
    let output = cmd
        .stdin(std::process::Stdio::null())
        // A caller that gives up (a timeout) takes the process with it.
        .kill_on_drop(true)
        .output()
        .await
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
    Ok(output.stdout)
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
    run(cmd, &settings.ffmpeg).await?;
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
    let stdout = run(cmd, &settings.ffprobe).await?;
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
    run(cmd, &settings.ffmpeg).await.map(|_| ())
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

async fn probe_output(settings: &FfmpegSettings, path: &Path) -> Result<RenderOutput, RenderError> {
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
        });
        match outcome {
            Ok(()) => Ok(()),
            // No ffprobe here (Lambda): the signature check stands.
            Err(RenderError::Spawn { .. }) => Ok(()),
            Err(RenderError::InvalidPlan(m)) => Err(m),
            Err(_) => Err(match kind {
                UploadKind::Watermark => "the watermark image could not be decoded".to_string(),
                UploadKind::EndClip => "the end clip could not be decoded".to_string(),
            }),
        }
    })
    .await
    .unwrap_or_else(|_| Err("the file took too long to decode".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Thumbnail width in pixels.
const THUMBNAIL_WIDTH: u32 = 360;

/// The local [`VideoRenderer`]: renders a job's plan with ffmpeg while asked. The plan's
/// paths are media keys; each input is copied into a scratch directory first, and the
/// video and its thumbnail are stored as `{output_stem}.mp4` / `.jpg`.
pub struct FfmpegRenderer {
    pub media: Arc<dyn MediaStore>,
    pub settings: FfmpegSettings,
}

#[async_trait::async_trait]
impl VideoRenderer for FfmpegRenderer {
    async fn start(&self, job: &RenderJob) -> Result<RenderStarted, ToolError> {
        let campaign = job
            .metadata
            .get("campaign_id")
            .and_then(|id| id.parse().ok())
            .unwrap_or_default();
        let scratch = Scratch::new(campaign, Stage::Render)
            .map_err(|e| ToolError(format!("scratch directory: {e}")))?;
        // One directory per video, named after it (logs and tests read it off the paths).
        let dir = &scratch
            .path()
            .join(job.metadata.get("video_id").map_or("video", String::as_str));
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| ToolError(format!("scratch directory: {e}")))?;
        let mut plan = job.plan.clone();
        for (i, scene) in plan.scenes.iter_mut().enumerate() {
            scene.image = self
                .fetch(&scene.image, dir, &format!("scene-{}", i + 1))
                .await?;
        }
        plan.voiceover.path = self.fetch(&plan.voiceover.path, dir, "voice").await?;
        if let Some(wm) = &mut plan.watermark {
            wm.image = self.fetch(&wm.image, dir, "watermark").await?;
        }
        if let Some(clip) = &mut plan.end_clip {
            clip.path = self.fetch(&clip.path, dir, "end-clip").await?;
        }
        let out = dir.join("out.mp4");
        let output = render_with_ffmpeg_settings(&plan, dir, &out, &self.settings)
            .await
            .map_err(|e| ToolError(format!("render: {e}")))?;
        let thumb = dir.join("thumb.jpg");
        let at = (output.duration_ms / 2).min(1_500);
        thumbnail(&self.settings, &out, at, THUMBNAIL_WIDTH, &thumb)
            .await
            .map_err(|e| ToolError(format!("thumbnail: {e}")))?;
        for (file, ext, content_type) in [(&out, "mp4", "video/mp4"), (&thumb, "jpg", "image/jpeg")]
        {
            let bytes = tokio::fs::read(file)
                .await
                .map_err(|e| ToolError(format!("{}: {e}", file.display())))?;
            self.media
                .put_media(
                    &format!("{}.{ext}", job.output_stem),
                    bytes.into(),
                    content_type,
                )
                .await
                .map_err(|e| ToolError(format!("storing the video: {e}")))?;
        }
        Ok(RenderStarted::Finished {
            duration_ms: output.duration_ms,
        })
    }

    async fn job_state(&self, job_id: &str) -> Result<Option<JobStateChange>, ToolError> {
        Err(ToolError(format!(
            "no render job {job_id}: ffmpeg renders while asked"
        )))
    }
}

impl FfmpegRenderer {
    /// Copies the stored file `key` into `dir` as `name` (with the key's extension).
    async fn fetch(&self, key: &Path, dir: &Path, name: &str) -> Result<PathBuf, ToolError> {
        let key = key.to_string_lossy();
        let ext = key.rsplit_once('.').map_or("bin", |(_, e)| e);
        let bytes = self
            .media
            .get_media(&key)
            .await
            .map_err(|e| ToolError(format!("{key}: {e}")))?
            .ok_or_else(|| ToolError(format!("{key} is missing")))?;
        let path = dir.join(format!("{name}.{ext}"));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| ToolError(format!("scratch file: {e}")))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforge_core::model::Platform;

    fn words(text: &str, sep: char) -> CaptionCue {
        let parts: Vec<&str> = text.split(sep).filter(|p| !p.is_empty()).collect();
        CaptionCue {
            words: parts
                .iter()
                .enumerate()
                .map(|(i, p)| WordTiming {
                    text: p.to_string(),
                    start_ms: i as u64 * 300,
                    end_ms: i as u64 * 300 + 250,
                })
                .collect(),
        }
    }

    fn captions(language: &str, cues: Vec<CaptionCue>) -> Captions {
        Captions {
            language: language.into(),
            style: CaptionStyle::default(),
            cues,
        }
    }

    #[test]
    fn ffmpeg_args_keep_user_data_out_of_the_filter_graph() {
        let mut c = captions("en", vec![words("evil';[x]drawtext=text=boom", ' ')]);
        c.style.color = Rgb::new(1, 2, 3);
        let plan = RenderPlan {
            size: Platform::Youtube.frame_size(),
            scenes: vec![
                Scene {
                    image: "/tmp/x;[0:v]evil.png".into(),
                    duration_ms: 1000,
                    fit: ImageFit::Contain,
                },
                Scene {
                    image: "/tmp/b.png".into(),
                    duration_ms: 1000,
                    fit: ImageFit::Cover,
                },
            ],
            voiceover: AudioTrack {
                path: "/tmp/v.wav".into(),
                duration_ms: 2500,
            },
            captions: Some(c),
            watermark: Some(Watermark {
                image: "/tmp/wm.png".into(),
                position: Corner::BottomLeft,
                width_fraction: 0.2,
            }),
            end_clip: Some(EndClip {
                path: "/tmp/end.mp4".into(),
            }),
        };
        let info = ClipInfo {
            duration_ms: 1200,
            has_audio: false,
        };
        let args = ffmpeg_args(
            &plan,
            &FfmpegSettings::default(),
            Some(info),
            Path::new("/tmp/o.mp4"),
        )
        .unwrap();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(!graph.contains("evil") && !graph.contains("boom") && !graph.contains("/tmp"));
        assert!(args.contains(&"file:/tmp/x;[0:v]evil.png".to_string()));
        // 2.5 s at 15 fps = 38 frames: 15 for the first scene, 23 for the stretched last.
        assert!(graph.contains("loop=loop=14:size=1"), "{graph}");
        assert!(graph.contains("loop=loop=22:size=1"), "{graph}");
        assert!(graph.contains("ass=filename=captions.ass"));
        assert!(graph.contains("anullsrc"));
        assert!(graph.contains("overlay=x=43:y=H-h-43"));
        assert!(graph.contains("concat=n=2:v=1:a=1[vout][aout]"));
        assert_eq!(args.last().unwrap(), "file:/tmp/o.mp4");
    }
}
