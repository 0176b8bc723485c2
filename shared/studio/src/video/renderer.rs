//! The local [`VideoRenderer`]: a job's plan rendered with ffmpeg while asked.

use super::{clip_slots, render, render_sharing, ClipSlots};
use crate::ffmpeg::{thumbnail, FfmpegSettings, RenderOutput};
use reelforge_core::model::Stage;
use reelforge_core::ports::{
    JobStateChange, MediaStore, RenderJob, RenderStarted, ToolError, VideoRenderer,
};
use reelforge_core::render::{RenderError, RenderPlan};
use reelforge_core::scratch::Scratch;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Renders `plan` with the default settings (see [`render_with_ffmpeg_settings`]).
pub async fn render_with_ffmpeg(
    plan: &RenderPlan,
    workdir: &Path,
    out: &Path,
) -> Result<RenderOutput, RenderError> {
    render_with_ffmpeg_settings(plan, workdir, out, &FfmpegSettings::default()).await
}

/// Renders `plan` into `out` ([`render`]); `workdir` receives the clips, the
/// caption files and the soundtrack; it must exist.
pub async fn render_with_ffmpeg_settings(
    plan: &RenderPlan,
    workdir: &Path,
    out: &Path,
    settings: &FfmpegSettings,
) -> Result<RenderOutput, RenderError> {
    render(plan, workdir, out, settings).await
}

/// Thumbnail width in pixels.
const THUMBNAIL_WIDTH: u32 = 360;

/// The local [`VideoRenderer`]: renders a job's plan with ffmpeg while asked. The plan's
/// paths are media keys; each input is copied into a scratch directory first, and the
/// video and its thumbnail are stored as `{output_stem}.mp4` / `.jpg`. The videos it
/// renders at the same time share `settings.jobs` slots for their ffmpeg runs.
pub struct FfmpegRenderer {
    media: Arc<dyn MediaStore>,
    settings: FfmpegSettings,
    slots: ClipSlots,
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
        // Each stored file once, however many scenes show it.
        let mut fetched: std::collections::BTreeMap<PathBuf, PathBuf> = Default::default();
        for scene in &mut plan.scenes {
            if let reelforge_core::render::Shot::Camera { image, .. } = &mut scene.shot {
                let n = fetched.len();
                let local = match fetched.get(image.as_path()) {
                    Some(l) => l.clone(),
                    None => {
                        let l = self.fetch(image, dir, &format!("page-{n}")).await?;
                        fetched.insert(image.clone(), l.clone());
                        l
                    }
                };
                *image = local;
            }
        }
        plan.voiceover.path = self.fetch(&plan.voiceover.path, dir, "voice").await?;
        if let Some(wm) = &mut plan.watermark {
            wm.image = self.fetch(&wm.image, dir, "watermark").await?;
        }
        if let Some(clip) = &mut plan.end_clip {
            clip.path = self.fetch(&clip.path, dir, "end-clip").await?;
        }
        if let Some(Some(music)) = plan.music.as_mut().map(|m| m.path.as_mut()) {
            *music = self.fetch(music, dir, "music").await?;
        }
        let out = dir.join("out.mp4");
        let output = render_sharing(&plan, dir, &out, &self.settings, &self.slots)
            .await
            .map_err(|e| ToolError(format!("render: {e}")))?;
        let thumb = dir.join("thumb.jpg");
        // The opening card, fully drawn: the product's name in its colours.
        let at = (output.duration_ms / 2).min(1_200);
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
    /// Renders from and into `media` with `settings`.
    pub fn new(media: Arc<dyn MediaStore>, settings: FfmpegSettings) -> FfmpegRenderer {
        let slots = clip_slots(settings.jobs);
        FfmpegRenderer {
            media,
            settings,
            slots,
        }
    }

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
