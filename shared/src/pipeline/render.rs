//! `rendering`: one video per language and platform, each from a `RenderPlan` (the
//! page's screens as scenes, the voiceover, captions with word timings).
//!
//! Locally the plans are rendered with ffmpeg several at a time and stored under their
//! deterministic keys with a thumbnail, and the campaign moves to `review` in one write.
//!
//! On AWS each plan (its paths are media keys) becomes a MediaConvert job; the job ids
//! are recorded on the videos, and completions arrive as EventBridge events
//! ([`job_finished`]), each marking its video ready; the last one moves the campaign to
//! `review`. The render message is kept alive (re-queued every [`RECHECK_SECS`]) while
//! the campaign renders, and each time it asks MediaConvert about unfinished jobs, so a
//! lost event never leaves a campaign in `rendering`.

use super::lease::{claim, release, Claim};
use super::process::{frame_size, screens_for, Screens};
use super::studio::MediaConvertSetup;
use super::voiceover::{VoiceTrack, STAGE_RENDER};
use super::{advance, artifacts, rewrite, Next, StageError};
use crate::api::App;
use crate::media::mediaconvert::{self, JobStateChange, JobTarget};
use crate::media::render::{
    render_with_ffmpeg_settings, thumbnail, AudioTrack, CaptionCue, CaptionStyle, Captions,
    FfmpegSettings, FrameSize, ImageFit, RenderPlan, Scene, WordTiming,
};
use crate::model::{Campaign, CampaignStatus, Video, VideoStatus};
use crate::pricing;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

pub const STAGE: &str = STAGE_RENDER;
/// How often the render message looks at unfinished MediaConvert jobs.
pub const RECHECK_SECS: u32 = 900;
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
    let (campaign, _renewal) = match claim(
        app,
        campaign_id,
        CampaignStatus::Rendering,
        STAGE,
        mark_rendering,
    )
    .await?
    {
        Claim::Run(c, renewal) => (*c, renewal),
        Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
        Claim::Skip => return Ok(Next::Done),
    };
    if let Some(mc) = &app.studio.mediaconvert {
        return with_mediaconvert(app, campaign, mc).await;
    }
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

/// Submits a job for every video without one, and asks MediaConvert about the others.
async fn with_mediaconvert(
    app: &App,
    campaign: Campaign,
    mc: &MediaConvertSetup,
) -> Result<Next, StageError> {
    let mut submitted = Vec::new();
    let mut finished = Vec::new();
    let result: Result<(), StageError> = async {
        let screens: Screens = artifacts::get_json(app, &artifacts::screens(campaign.id)).await?;
        for video in campaign
            .videos
            .iter()
            .filter(|v| v.status != VideoStatus::Ready)
        {
            match &video.render_job {
                Some(job_id) => {
                    if let Some(change) = job_state(mc, job_id).await? {
                        finished.push(change);
                    }
                }
                None => {
                    let job_id = submit_video(app, mc, &campaign, video, &screens).await?;
                    // Recorded at once: MediaConvert recognises a repeated request token
                    // for one minute only, so a retry must find the id, not resubmit.
                    record_jobs(app, campaign.id, &[(video.id, job_id.clone())], false).await?;
                    submitted.push((video.id, job_id));
                }
            }
        }
        Ok(())
    }
    .await;
    // Record what was submitted even when a later submission failed: a retry then asks
    // about those jobs instead of submitting them again (MediaConvert would also
    // recognise the repeated request token).
    if !record_jobs(app, campaign.id, &submitted, true).await? {
        return Ok(Next::Done);
    }
    result?;
    for change in &finished {
        job_finished(app, change).await?;
    }
    let still_rendering = match app.ports.campaigns.get_campaign(campaign.id).await? {
        Some(c) => c.status == CampaignStatus::Rendering,
        None => false,
    };
    Ok(if still_rendering {
        Next::RetryIn(RECHECK_SECS)
    } else {
        Next::Done
    })
}

/// Writes the submitted jobs' ids on their videos (and, with `release`, gives the claim
/// back), reading the campaign again if a completion was written meanwhile. `false`: it
/// left `rendering`.
async fn record_jobs(
    app: &App,
    campaign_id: Uuid,
    submitted: &[(Uuid, String)],
    release: bool,
) -> Result<bool, StageError> {
    for _ in 0..16 {
        let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
            return Ok(false);
        };
        if campaign.status != CampaignStatus::Rendering {
            return Ok(false);
        }
        let written = rewrite(app, &campaign, |c| {
            if release {
                c.lease = None;
            }
            for (id, job) in submitted {
                if let Some(v) = c.videos.iter_mut().find(|v| v.id == *id) {
                    v.render_job = Some(job.clone());
                }
            }
        })
        .await?;
        if written {
            return Ok(true);
        }
    }
    Err(StageError::Tool(
        "too many concurrent updates of the campaign".into(),
    ))
}

async fn submit_video(
    app: &App,
    mc: &MediaConvertSetup,
    campaign: &Campaign,
    video: &Video,
    screens: &Screens,
) -> Result<String, StageError> {
    let size = frame_size(video.platform);
    let keys = screens_for(screens, video.language.as_str(), size);
    if keys.is_empty() {
        return Err(StageError::Artifact(format!(
            "no screens for {}x{}",
            size.width, size.height
        )));
    }
    let images: Vec<PathBuf> = keys.iter().map(PathBuf::from).collect();
    let track: VoiceTrack =
        artifacts::get_json(app, &artifacts::voice_words(campaign.id, video.language)).await?;
    let audio = PathBuf::from(artifacts::voice_audio(campaign.id, video.language));
    let mut plan = plan_for(
        size,
        &images,
        &audio,
        &track,
        video.language.as_str(),
        caption_style(campaign, size),
    );
    // On AWS the plan's paths are media keys: the job reads the uploads in place.
    if let Some(media) = campaign
        .style
        .as_ref()
        .and_then(|s| s.media_profile.as_ref())
    {
        if let Some(key) = &media.watermark_key {
            plan.watermark = media.watermark(key);
        }
        if let Some(key) = &media.end_clip_key {
            plan.end_clip = media.end_clip(key);
        }
    }
    let target = JobTarget {
        role_arn: mc.role_arn.clone(),
        queue_arn: mc.queue_arn.clone(),
        bucket: mc.bucket.clone(),
        output_key: video.media_stem(campaign.id),
        user_metadata: BTreeMap::from([
            ("campaign_id".to_string(), campaign.id.to_string()),
            ("video_id".to_string(), video.id.to_string()),
            // The EventBridge rule of each deployment matches its own jobs only.
            (
                "reelforge_stage".to_string(),
                std::env::var("REELFORGE_STAGE").unwrap_or_else(|_| "local".into()),
            ),
        ]),
        watermark_pixels: None,
    };
    app.ports
        .media
        .put_media(
            &mediaconvert::caption_key(&target),
            mediaconvert::caption_file(&plan).into(),
            "text/vtt",
        )
        .await?;
    mediaconvert::submit(&mc.client, &plan, &target)
        .await
        .map_err(|e| StageError::Tool(format!("MediaConvert: {e}")))
}

/// A finished job as a state change, `None` while it is still running.
async fn job_state(
    mc: &MediaConvertSetup,
    job_id: &str,
) -> Result<Option<JobStateChange>, StageError> {
    use aws_sdk_mediaconvert::error::ProvideErrorMetadata;
    let job = mc
        .client
        .get_job()
        .id(job_id)
        .send()
        .await
        .map_err(|e| {
            StageError::Tool(format!(
                "MediaConvert GetJob: {}",
                e.code().unwrap_or("unreachable")
            ))
        })?
        .job
        .ok_or_else(|| StageError::Tool("MediaConvert GetJob: no job".into()))?;
    let status = job
        .status
        .as_ref()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    if !matches!(status.as_str(), "COMPLETE" | "ERROR" | "CANCELED") {
        return Ok(None);
    }
    let output_duration_ms = job
        .output_group_details()
        .iter()
        .flat_map(|g| g.output_details())
        .find_map(|o| o.duration_in_ms())
        .and_then(|ms| u64::try_from(ms).ok());
    Ok(Some(JobStateChange {
        job_id: job_id.to_string(),
        status,
        user_metadata: job
            .user_metadata
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
        output_duration_ms,
        error_message: job.error_message,
    }))
}

/// A MediaConvert job ended (from EventBridge, or found by the render message): its video
/// becomes ready, or the campaign fails in `rendering`; the last ready video moves the
/// campaign to `review`. Safe to run twice and concurrently for sibling videos: every
/// write is conditional on the revision it read, and a lost race reads again.
pub async fn job_finished(app: &App, change: &JobStateChange) -> Result<(), StageError> {
    let id = |name: &str| {
        change
            .user_metadata
            .get(name)
            .and_then(|v| v.parse::<Uuid>().ok())
    };
    let (Some(campaign_id), Some(video_id)) = (id("campaign_id"), id("video_id")) else {
        tracing::warn!(job_id = %change.job_id, "MediaConvert job without reelforge metadata; ignored");
        return Ok(());
    };
    for _ in 0..16 {
        let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
            return Ok(());
        };
        if campaign.status != CampaignStatus::Rendering {
            if campaign.status.is_terminal() {
                super::requeue_unstarted_events(app, campaign_id).await?;
            }
            return Ok(());
        }
        let Some(video) = campaign.videos.iter().find(|v| v.id == video_id) else {
            return Ok(());
        };
        if video.status == VideoStatus::Ready {
            return Ok(());
        }
        // A job other than the one recorded for the video (a duplicate submitted after
        // MediaConvert stopped recognising the request token) decides nothing.
        if video
            .render_job
            .as_ref()
            .is_some_and(|job| *job != change.job_id)
        {
            tracing::warn!(job_id = %change.job_id, video_id = %video_id, "event of a job not recorded for its video; ignored");
            return Ok(());
        }
        match change.status.as_str() {
            "COMPLETE" => {
                let seconds = change.output_duration_ms.unwrap_or(0) as f64 / 1000.0;
                let credits = pricing::video_render_cost(
                    seconds,
                    app.studio.writer_is_ai,
                    app.studio.capture.screens,
                );
                let ready = |c: &mut Campaign| {
                    if let Some(v) = c.videos.iter_mut().find(|v| v.id == video_id) {
                        v.status = VideoStatus::Ready;
                        v.file_key = Some(format!("{}.mp4", v.media_stem(campaign_id)));
                        v.duration_seconds = Some(seconds);
                        v.credits_cost = Some(credits);
                    }
                };
                let last = campaign
                    .videos
                    .iter()
                    .all(|v| v.id == video_id || v.status == VideoStatus::Ready);
                let applied = if last {
                    advance(app, &campaign, CampaignStatus::Review, |c| {
                        ready(c);
                        c.lease = None;
                    })
                    .await?
                } else {
                    rewrite(app, &campaign, ready).await?
                };
                if applied {
                    return Ok(());
                }
            }
            "ERROR" | "CANCELED" => {
                tracing::error!(job_id = %change.job_id, error = ?change.error_message, "MediaConvert job failed");
                return super::fail(
                    app,
                    campaign_id,
                    CampaignStatus::Rendering,
                    "A video could not be rendered; unproduced videos were given back to the quota",
                )
                .await;
            }
            _ => return Ok(()),
        }
    }
    Err(StageError::Tool(
        "too many concurrent updates of the campaign".into(),
    ))
}

/// The campaign's caption style for a frame size: its playlist's font profile, else the
/// default.
pub fn caption_style(campaign: &Campaign, size: FrameSize) -> CaptionStyle {
    campaign
        .style
        .as_ref()
        .and_then(|s| s.font_profile.as_ref())
        .map_or_else(CaptionStyle::default, |f| f.caption_style_for(size))
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
        let mut plan = plan_for(
            size,
            &images,
            &audio,
            &track,
            video.language.as_str(),
            caption_style(campaign, size),
        );
        // The playlist's watermark and end clip, copied beside the video's other inputs.
        if let Some(media) = campaign
            .style
            .as_ref()
            .and_then(|s| s.media_profile.as_ref())
        {
            if let Some(key) = &media.watermark_key {
                let ext = key.rsplit('.').next().unwrap_or("png");
                let path = dir.join(format!("watermark.{ext}"));
                artifacts::fetch_to(app, key, &path).await?;
                plan.watermark = media.watermark(path);
            }
            if let Some(key) = &media.end_clip_key {
                let path = dir.join("end-clip.mp4");
                artifacts::fetch_to(app, key, &path).await?;
                plan.end_clip = media.end_clip(path);
            }
        }
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
