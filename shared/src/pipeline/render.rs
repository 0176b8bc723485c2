//! `rendering`: one video per language and platform, each from a `RenderPlan` (the
//! page's screens as scenes, the voiceover, captions with word timings), rendered with
//! ffmpeg several at a time, stored under its deterministic key with a thumbnail.

use super::lease::{claim, release, Claim};
use super::process::{frame_size, screens_for, Screens};
use super::voiceover::{VoiceTrack, STAGE_RENDER};
use super::{advance, artifacts, Next, StageError};
use crate::api::App;
use crate::media::render::{
    render_with_ffmpeg_settings, thumbnail, AudioTrack, CaptionCue, CaptionStyle, Captions,
    FfmpegSettings, FrameSize, ImageFit, RenderPlan, Scene, WordTiming,
};
use crate::model::{Campaign, CampaignStatus, Video, VideoStatus};
use crate::pricing;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

pub const STAGE: &str = STAGE_RENDER;
/// Thumbnail width in pixels.
const THUMBNAIL_WIDTH: u32 = 360;

/// What one finished render left in the media store.
struct Rendered {
    video_id: Uuid,
    duration_ms: u64,
    scenes: u32,
}

pub async fn run(app: &App, campaign_id: Uuid) -> Result<Next, StageError> {
    let mark_rendering = |c: &mut Campaign| {
        for v in &mut c.videos {
            if v.status == VideoStatus::Queued {
                v.status = VideoStatus::Rendering;
            }
        }
    };
    let campaign = match claim(
        app,
        campaign_id,
        CampaignStatus::Rendering,
        STAGE,
        mark_rendering,
    )
    .await?
    {
        Claim::Run(c) => *c,
        Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
        Claim::Skip => return Ok(Next::Done),
    };
    let rendered = match render_all(app, &campaign).await {
        Ok(r) => r,
        Err(e) => {
            release(app, &campaign).await;
            return Err(e);
        }
    };
    let ai = app.studio.writer_is_ai;
    advance(app, &campaign, CampaignStatus::Review, |c| {
        c.lease = None;
        for video in &mut c.videos {
            let Some(r) = rendered.iter().find(|r| r.video_id == video.id) else {
                continue;
            };
            let stem = video.media_stem(campaign_id);
            let seconds = r.duration_ms as f64 / 1000.0;
            video.status = VideoStatus::Ready;
            video.file_key = Some(format!("{stem}.mp4"));
            video.thumbnail_key = Some(format!("{stem}.jpg"));
            video.duration_seconds = Some(seconds);
            video.credits_cost = Some(pricing::video_render_cost(seconds, ai, r.scenes));
        }
    })
    .await?;
    Ok(Next::Done)
}

/// Builds the plan for one video from files in `dir`: `screen-N.png` and `voice.wav`.
pub fn plan_for(
    size: FrameSize,
    screens: &[PathBuf],
    audio: &Path,
    track: &VoiceTrack,
    language: &str,
    style: CaptionStyle,
) -> RenderPlan {
    let voice_ms = (track.duration_seconds * 1000.0).round() as u64;
    let n = screens.len().max(1) as u64;
    let scenes = screens
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let start = voice_ms * i as u64 / n;
            let end = voice_ms * (i as u64 + 1) / n;
            Scene {
                image: image.clone(),
                duration_ms: (end - start).max(1),
                fit: ImageFit::Contain,
            }
        })
        .collect();
    RenderPlan {
        size,
        scenes,
        voiceover: AudioTrack {
            path: audio.to_path_buf(),
            duration_ms: voice_ms,
        },
        captions: Some(Captions {
            language: language.to_string(),
            style,
            cues: cues(track),
        }),
        watermark: None,
        end_clip: None,
    }
}

/// One caption cue per sentence: words up to and including sentence-ending punctuation.
pub fn cues(track: &VoiceTrack) -> Vec<CaptionCue> {
    let mut cues = Vec::new();
    let mut words = Vec::new();
    for w in &track.words {
        let start_ms = (w.start * 1000.0).round().max(0.0) as u64;
        let end_ms = ((w.end * 1000.0).round() as u64).max(start_ms + 1);
        words.push(WordTiming {
            text: w.text.clone(),
            start_ms,
            end_ms,
        });
        let ends_sentence = w
            .text
            .trim_end()
            .ends_with(['.', '!', '?', '。', '！', '？', '…']);
        if ends_sentence {
            cues.push(CaptionCue {
                words: std::mem::take(&mut words),
            });
        }
    }
    if !words.is_empty() {
        cues.push(CaptionCue { words });
    }
    cues
}

async fn render_all(app: &App, campaign: &Campaign) -> Result<Vec<Rendered>, StageError> {
    let screens: Screens = artifacts::get_json(app, &artifacts::screens(campaign.id)).await?;
    let scratch = artifacts::Scratch::new(campaign.id, STAGE)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(
        app.studio.renders_at_once.max(1),
    ));
    let mut runs = tokio::task::JoinSet::new();
    for video in campaign
        .videos
        .iter()
        .filter(|v| v.status != VideoStatus::Ready)
    {
        let dir = scratch.path().join(video.id.to_string());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| StageError::Tool(format!("scratch: {e}")))?;
        let size = frame_size(video.platform);
        let keys = screens_for(&screens, video.language.as_str(), size).to_vec();
        if keys.is_empty() {
            return Err(StageError::Artifact(format!(
                "no screens for {}x{}",
                size.width, size.height
            )));
        }
        let mut images = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let path = dir.join(format!("screen-{}.png", i + 1));
            artifacts::fetch_to(app, key, &path).await?;
            images.push(path);
        }
        let audio = dir.join("voice.wav");
        artifacts::fetch_to(
            app,
            &artifacts::voice_audio(campaign.id, video.language),
            &audio,
        )
        .await?;
        let track: VoiceTrack =
            artifacts::get_json(app, &artifacts::voice_words(campaign.id, video.language)).await?;
        let plan = plan_for(
            size,
            &images,
            &audio,
            &track,
            video.language.as_str(),
            CaptionStyle::default(),
        );
        let settings = app.studio.ffmpeg.clone();
        let slots = slots.clone();
        let video = video.clone();
        runs.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let result = render_one(&plan, &settings, &dir).await;
            (video, dir, plan.scenes.len() as u32, result)
        });
    }
    let mut rendered = Vec::new();
    let mut failure = None;
    while let Some(joined) = runs.join_next().await {
        let (video, dir, scenes, result) =
            joined.map_err(|e| StageError::Tool(format!("render task: {e}")))?;
        match result {
            Ok(duration_ms) => {
                store(app, campaign.id, &video, &dir).await?;
                rendered.push(Rendered {
                    video_id: video.id,
                    duration_ms,
                    scenes,
                });
            }
            Err(e) => {
                tracing::error!(campaign_id = %campaign.id, video_id = %video.id, error = %e, "render failed");
                failure = Some(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(rendered),
    }
}

/// Renders `out.mp4` and `thumb.jpg` in `dir`; returns the video's duration.
async fn render_one(
    plan: &RenderPlan,
    settings: &FfmpegSettings,
    dir: &Path,
) -> Result<u64, StageError> {
    let out = dir.join("out.mp4");
    let output = render_with_ffmpeg_settings(plan, dir, &out, settings)
        .await
        .map_err(|e| StageError::Tool(format!("render: {e}")))?;
    let at = (output.duration_ms / 2).min(1_500);
    thumbnail(settings, &out, at, THUMBNAIL_WIDTH, &dir.join("thumb.jpg"))
        .await
        .map_err(|e| StageError::Tool(format!("thumbnail: {e}")))?;
    Ok(output.duration_ms)
}

async fn store(app: &App, campaign_id: Uuid, video: &Video, dir: &Path) -> Result<(), StageError> {
    let stem = video.media_stem(campaign_id);
    for (file, ext, content_type) in [
        ("out.mp4", "mp4", "video/mp4"),
        ("thumb.jpg", "jpg", "image/jpeg"),
    ] {
        let bytes = tokio::fs::read(dir.join(file))
            .await
            .map_err(|e| StageError::Tool(format!("{file}: {e}")))?;
        app.ports
            .media
            .put_media(&format!("{stem}.{ext}"), bytes.into(), content_type)
            .await?;
    }
    Ok(())
}
