//! `rendering`: one video per language and platform, each from a `RenderPlan` (the
//! page's screens as scenes, the voiceover, captions with word timings) whose paths are
//! media keys, handed to the [`VideoRenderer`] port.
//!
//! Locally the renderer is ffmpeg: it renders while asked (several videos at once), the
//! outputs are stored under their deterministic keys with a thumbnail, and the campaign
//! moves to `review` in one write.
//!
//! On AWS each plan becomes a MediaConvert job; the job ids are recorded on the videos,
//! and completions arrive as EventBridge events ([`job_finished`]), each marking its
//! video ready; the last one moves the campaign to `review`. The render message is kept
//! alive (re-queued every [`RECHECK_SECS`]) while the campaign renders, and each time it
//! asks the renderer about unfinished jobs, so a lost event never leaves a campaign in
//! `rendering`.

use super::collect::CollectedPage;
use super::lease::{claim, release, Claim};
use super::process::{capture_for, frame_size, Captures};
use super::voiceover::VoiceTrack;
use super::{artifacts, Next, StageError};
use crate::context::Context;
use crate::lifecycle::{advance, fail, requeue_unstarted_events, rewrite};
use reelforge_core::model::Language;
use reelforge_core::model::{Campaign, CampaignStatus, Stage, Video, VideoStatus};
use reelforge_core::ports::{JobStateChange, RenderJob, RenderStarted};
use reelforge_core::pricing;
use reelforge_core::render::{
    AudioTrack, CaptionCue, CaptionStyle, Captions, FrameSize, Music, RenderPlan, WordTiming,
};
use reelforge_core::storyboard::{storyboard, Brand, SpokenSentence, StoryInput, Storyboard};
use std::collections::BTreeMap;
use std::path::PathBuf;
use uuid::Uuid;

/// How often the render message looks at unfinished render jobs.
pub const RECHECK_SECS: u32 = 900;

/// The campaign's error when its render outlived [`Tools::render_deadline_ms`](crate::Tools).
pub const RENDER_DEADLINE_ERROR: &str =
    "The videos were not rendered in time; unproduced videos were given back to the quota";

/// Whether the campaign has been rendering longer than the deployment allows: from the
/// time it entered `rendering`, or from its creation when its history doesn't say.
fn past_deadline(app: &Context, campaign: &Campaign) -> bool {
    let since = campaign
        .history
        .iter()
        .rev()
        .find(|h| h.status == CampaignStatus::Rendering)
        .map_or(campaign.created_at.timestamp_millis(), |h| h.at_ms);
    app.clock.now_ms() - since > app.tools.render_deadline_ms
}

/// Cancels a render job that is no longer wanted; a failure only costs the work it would
/// have saved, so it is logged, not raised.
pub(crate) async fn give_up_job(app: &Context, job_id: &str) {
    if let Err(e) = app.tools.renderer.cancel(job_id).await {
        tracing::warn!(%job_id, error = %e, "cancelling a render job failed");
    }
}

pub async fn run(app: &Context, campaign_id: Uuid) -> Result<Next, StageError> {
    let mark_rendering = |c: &mut Campaign| {
        for v in &mut c.videos {
            if v.status == VideoStatus::Queued {
                v.status = VideoStatus::Rendering;
            }
        }
    };
    let (campaign, _renewal) = match claim(app, campaign_id, Stage::Render, mark_rendering).await? {
        Claim::Run(c, renewal) => (*c, renewal),
        Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
        Claim::Skip => return Ok(Next::Done),
    };
    if past_deadline(app, &campaign) {
        tracing::error!(campaign_id = %campaign.id, "render deadline passed");
        for video in campaign
            .videos
            .iter()
            .filter(|v| v.status != VideoStatus::Ready)
        {
            if let Some(job_id) = &video.render_job {
                give_up_job(app, job_id).await;
            }
        }
        fail(
            app,
            campaign.id,
            CampaignStatus::Rendering,
            RENDER_DEADLINE_ERROR,
        )
        .await?;
        return Ok(Next::Done);
    }
    let mut finished: Vec<(Uuid, u64)> = Vec::new();
    let mut submitted: Vec<(Uuid, String)> = Vec::new();
    let mut ended: Vec<JobStateChange> = Vec::new();
    let result: Result<(), StageError> = async {
        let captures: Captures =
            artifacts::get_json(app, &artifacts::captures(campaign.id)).await?;
        let collected: CollectedPage =
            artifacts::get_json(app, &artifacts::collected(campaign.id)).await?;
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(
            app.tools.renders_at_once.max(1),
        ));
        let mut runs = tokio::task::JoinSet::new();
        for video in campaign
            .videos
            .iter()
            .filter(|v| v.status != VideoStatus::Ready)
        {
            if let Some(job_id) = &video.render_job {
                if let Some(change) = app.tools.renderer.job_state(job_id).await? {
                    ended.push(change);
                }
                continue;
            }
            let job = render_job(app, &campaign, video, &captures, &collected).await?;
            let (renderer, slots, video_id) = (app.tools.renderer.clone(), slots.clone(), video.id);
            runs.spawn(async move {
                let _slot = slots.acquire_owned().await;
                (video_id, renderer.start(&job).await)
            });
        }
        let mut failure = None;
        while let Some(joined) = runs.join_next().await {
            let (video_id, started) =
                joined.map_err(|e| StageError::Tool(format!("render task: {e}")))?;
            match started {
                Ok(RenderStarted::Finished { duration_ms }) => {
                    crate::metrics::record(
                        "RenderedVideoSeconds",
                        duration_ms as f64 / 1000.0,
                        "Seconds",
                        None,
                    );
                    finished.push((video_id, duration_ms))
                }
                Ok(RenderStarted::Submitted { job_id }) => submitted.push((video_id, job_id)),
                Err(e) => {
                    tracing::error!(campaign_id = %campaign.id, video_id = %video_id, error = %e, "render failed");
                    failure = Some(StageError::from(e));
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }
    .await;
    // Record what was submitted even when another render failed: a retry then asks about
    // those jobs instead of submitting them again.
    if !submitted.is_empty() && !record_jobs(app, campaign.id, &submitted, true).await? {
        return Ok(Next::Done);
    }
    if let Err(e) = result {
        // A run that failed keeps nothing it made: the videos that did render are not
        // recorded as ready, so their stored files go too (a retry renders them again;
        // a campaign that fails in the end leaves no file behind).
        for (video_id, _) in &finished {
            if let Some(video) = campaign.videos.iter().find(|v| v.id == *video_id) {
                let stem = video.media_stem(campaign.id);
                for ext in ["mp4", "jpg"] {
                    if let Err(err) = app.ports.media.delete_media(&format!("{stem}.{ext}")).await {
                        tracing::warn!(campaign_id = %campaign.id, %video_id, error = %err, "could not remove a render of a failed run");
                    }
                }
            }
        }
        if submitted.is_empty() {
            release(app, &campaign).await;
        }
        return Err(e);
    }
    if !finished.is_empty() {
        let ai = app.tools.writer.is_language_model();
        // One captured image per video (its page at its size).
        let screens = 1;
        let music = has_music(&campaign);
        let all_ready = campaign
            .videos
            .iter()
            .all(|v| v.status == VideoStatus::Ready || finished.iter().any(|(id, _)| *id == v.id));
        let mark = |c: &mut Campaign| {
            for video in &mut c.videos {
                let Some((_, duration_ms)) = finished.iter().find(|(id, _)| *id == video.id) else {
                    continue;
                };
                let stem = video.media_stem(campaign_id);
                let seconds = *duration_ms as f64 / 1000.0;
                video.status = VideoStatus::Ready;
                video.file_key = Some(format!("{stem}.mp4"));
                video.thumbnail_key = Some(format!("{stem}.jpg"));
                video.duration_seconds = Some(seconds);
                video.credits_cost = Some(pricing::video_render_cost(seconds, ai, screens, music));
            }
        };
        if all_ready {
            advance(app, &campaign, CampaignStatus::Review, |c| {
                c.lease = None;
                mark(c);
            })
            .await?;
            return Ok(Next::Done);
        }
        // Some videos render elsewhere (jobs): record these as ready, keep the claim's end.
        let current = app.ports.campaigns.get_campaign(campaign.id).await?;
        if let Some(current) = current.filter(|c| c.status == CampaignStatus::Rendering) {
            rewrite(app, &current, mark).await?;
        }
    }
    for change in &ended {
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

/// The render job of one video: the storyboard over its page (its language's page when
/// the site has one) at its size, the voiceover and captions, the music bed and the
/// playlist's watermark and end clip, all as media keys; and its deterministic output stem.
pub(crate) async fn render_job(
    app: &Context,
    campaign: &Campaign,
    video: &Video,
    captures: &Captures,
    collected: &CollectedPage,
) -> Result<RenderJob, StageError> {
    let track: VoiceTrack =
        artifacts::get_json(app, &artifacts::voice_words(campaign.id, video.language)).await?;
    let audio = PathBuf::from(artifacts::voice_audio(campaign.id, video.language));
    let metadata = BTreeMap::from([
        ("campaign_id".to_string(), campaign.id.to_string()),
        ("video_id".to_string(), video.id.to_string()),
    ]);
    let spoken = Spoken {
        track: &track,
        audio,
        output_stem: video.media_stem(campaign.id),
        metadata,
    };
    job_for(app, campaign, video, captures, collected, spoken).await
}

/// What one render speaks and where it goes: the voice track and its audio's media key,
/// the output stem and the job's metadata (a script edit has its own of each).
pub(crate) struct Spoken<'a> {
    pub track: &'a VoiceTrack,
    pub audio: PathBuf,
    pub output_stem: String,
    pub metadata: BTreeMap<String, String>,
}

/// The render job of one video speaking `spoken`: the one place a plan is built, for
/// first renders and script edits alike.
pub(crate) async fn job_for(
    app: &Context,
    campaign: &Campaign,
    video: &Video,
    captures: &Captures,
    collected: &CollectedPage,
    spoken: Spoken<'_>,
) -> Result<RenderJob, StageError> {
    let Spoken {
        track,
        audio,
        output_stem,
        metadata,
    } = spoken;
    let size = frame_size(video.platform);
    let (captured, in_language) =
        capture_for(captures, video.language.as_str(), size).ok_or_else(|| {
            StageError::Artifact(format!(
                "no page capture for {}x{}",
                size.width, size.height
            ))
        })?;
    let facts = match collected.alternates.get(&video.language) {
        Some(f) => f,
        None => &collected.facts,
    };
    // The main page counts as the language's page when it is written in that language.
    let in_language = in_language || facts.lang.as_deref() == Some(video.language.as_str());
    let brand = brand(
        campaign,
        collected,
        facts,
        captured,
        video.language,
        in_language,
    );
    let board = storyboard_for(
        size,
        &captured.image,
        &captured.layout,
        track,
        &brand,
        video.language,
    );
    let summary = storyboard_summary(&board, FPS);
    artifacts::put_json(app, &artifacts::storyboard(campaign.id, video.id), &summary).await?;
    let mut plan = plan_for(
        size,
        board,
        &audio,
        track,
        video.language.as_str(),
        caption_style(campaign, size),
    );
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
        plan.music = media.music_choice().map(|key| Music {
            path: key.map(PathBuf::from),
        });
    }
    Ok(RenderJob {
        plan,
        output_stem,
        metadata,
    })
}

/// Whether the campaign's videos have a music bed (priced as BGM, SPEC §9).
pub(crate) fn has_music(campaign: &Campaign) -> bool {
    campaign
        .style
        .as_ref()
        .and_then(|s| s.media_profile.as_ref())
        .is_some_and(|m| m.music_choice().is_some())
}

/// The storyboard as people read it: each scene's start, length, kind and why.
pub fn storyboard_summary(board: &Storyboard, fps: u32) -> serde_json::Value {
    let _ = fps;
    let mut at = 0;
    let scenes: Vec<serde_json::Value> = board
        .scenes
        .iter()
        .map(|s| {
            let row = serde_json::json!({
                "start_ms": at,
                "duration_ms": s.duration_ms,
                "shot": match s.shot {
                    reelforge_core::render::Shot::Card(_) => "card",
                    reelforge_core::render::Shot::Camera { .. } => "camera",
                },
                "transition": s.transition,
                "note": s.note,
            });
            at += s.duration_ms;
            row
        })
        .collect();
    serde_json::json!({"scenes": scenes, "captions_until_ms": board.captions_until_ms})
}

/// What the cards say: the product's name, a line from its page, the call to action and
/// the domain, in the brand's colours. Page text is used only when the page is in the
/// video's language; otherwise the card keeps to the name and a fixed phrase.
fn brand(
    campaign: &Campaign,
    collected: &CollectedPage,
    facts: &reelforge_core::page::PageFacts,
    captured: &super::process::Captured,
    language: Language,
    in_language: bool,
) -> Brand {
    let name =
        reelforge_core::script::product_name(&[facts, &collected.facts], &campaign.title, language)
            .unwrap_or_else(|| domain_of(&campaign.url));
    let page_text = |t: Option<&String>| {
        t.filter(|_| in_language || facts.lang.as_deref() == Some(language.as_str()))
            .map(|s| clip_words(s, 60))
            .unwrap_or_default()
    };
    let tagline = page_text(reelforge_core::script::tagline(facts, &name).as_ref());
    let cta = captured
        .layout
        .regions_of(reelforge_core::layout::RegionKind::CallToAction)
        .next()
        .map(|r| r.text.clone())
        .filter(|t| in_language && !t.is_empty() && t.chars().count() <= 40)
        .unwrap_or_else(|| try_it_free(language).to_string());
    Brand {
        name,
        tagline: if tagline.eq_ignore_ascii_case(&campaign.title) {
            String::new()
        } else {
            tagline
        },
        domain: domain_of(&campaign.url),
        call_to_action: cta,
        colours: captured.layout.brand_colours(),
    }
}

/// "Try it free" in the video's language (the closing card's title when the page gives
/// none in that language).
fn try_it_free(language: Language) -> &'static str {
    match language {
        Language::En => "Try it free",
        Language::Ja => "今すぐ無料で試す",
        Language::Ko => "지금 무료로 시작하세요",
        Language::Zh => "立即免费试用",
        Language::Es => "Pruébalo gratis",
        Language::Fr => "Essayez gratuitement",
        Language::De => "Jetzt kostenlos testen",
        Language::Pt => "Experimente grátis",
    }
}

fn domain_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .map(|h| h.strip_prefix("www.").unwrap_or(&h).to_string())
        .unwrap_or_default()
}

/// `text` cut at a word (or, without spaces, a character) boundary to `max` characters.
fn clip_words(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    match cut.rfind(' ') {
        Some(i) if i > max / 2 => cut[..i].to_string(),
        _ => cut,
    }
}

/// The storyboard of one video: its sentences (from the voice track's word timings) over
/// its page.
pub fn storyboard_for(
    size: FrameSize,
    image: &str,
    layout: &reelforge_core::layout::PageLayout,
    track: &VoiceTrack,
    brand: &Brand,
    language: Language,
) -> Storyboard {
    let sentences: Vec<SpokenSentence> = cues(track)
        .iter()
        .filter(|c| !c.words.is_empty())
        .map(|c| SpokenSentence {
            text: c
                .words
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            start_ms: c.words[0].start_ms,
            end_ms: c.words[c.words.len() - 1].end_ms,
        })
        .collect();
    storyboard(&StoryInput {
        size,
        page_image: PathBuf::from(image),
        layout,
        sentences: &sentences,
        voice_ms: (track.duration_seconds * 1000.0).round() as u64,
        brand,
        language,
    })
}

/// Writes the submitted jobs' ids on their videos (and, with `release`, gives the claim
/// back), reading the campaign again if a completion was written meanwhile. `false`: it
/// left `rendering`.
async fn record_jobs(
    app: &Context,
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

/// A render job ended (a MediaConvert event from EventBridge, or found by the render message): its video
/// becomes ready, or the campaign fails in `rendering`; the last ready video moves the
/// campaign to `review`. Safe to run twice and concurrently for sibling videos: every
/// write is conditional on the revision it read, and a lost race reads again.
pub async fn job_finished(app: &Context, change: &JobStateChange) -> Result<(), StageError> {
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
                requeue_unstarted_events(app, campaign_id).await?;
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
                crate::metrics::record("RenderedVideoSeconds", seconds, "Seconds", None);
                let credits = pricing::video_render_cost(
                    seconds,
                    app.tools.writer.is_language_model(),
                    1,
                    has_music(&campaign),
                );
                let ready = |c: &mut Campaign| {
                    if let Some(v) = c.videos.iter_mut().find(|v| v.id == video_id) {
                        let stem = v.media_stem(campaign_id);
                        if let Some(thumb) = job_thumbnail(change, &stem) {
                            v.thumbnail_key = Some(thumb);
                        }
                        v.status = VideoStatus::Ready;
                        v.file_key = Some(format!("{stem}.mp4"));
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
                return fail(
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

/// The thumbnail a finished job captured, when its metadata names one under the job's
/// output stem (a key outside it is ignored).
pub(crate) fn job_thumbnail(change: &JobStateChange, stem: &str) -> Option<String> {
    change
        .user_metadata
        .get(reelforge_core::ports::THUMBNAIL_METADATA)
        .filter(|k| {
            k.starts_with(&format!("{stem}.")) && reelforge_core::ports::media_key_is_valid(k)
        })
        .cloned()
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

/// Frames per second of every video: smooth on 60 Hz phone screens (each frame shown
/// twice), the short-form platforms' norm; 24 would save a fifth of the work but judders
/// on scrolling text (docs/video.md).
pub const FPS: u32 = 30;

/// The plan for one video: the storyboard's scenes, the voiceover (ducking the music while
/// it speaks), and captions up to the closing card.
pub fn plan_for(
    size: FrameSize,
    board: Storyboard,
    audio: &std::path::Path,
    track: &VoiceTrack,
    language: &str,
    style: CaptionStyle,
) -> RenderPlan {
    let voice_ms = (track.duration_seconds * 1000.0).round() as u64;
    let cues = cues(track);
    let speech = cues
        .iter()
        .filter(|c| !c.words.is_empty())
        .map(|c| (c.words[0].start_ms, c.words[c.words.len() - 1].end_ms))
        .collect();
    // Captions end where the closing card takes over (it shows the call to action).
    let until = board.captions_until_ms;
    let cues = cues
        .into_iter()
        .filter_map(|mut c| {
            c.words.retain(|w| w.start_ms < until);
            for w in &mut c.words {
                w.end_ms = w.end_ms.min(until);
            }
            (!c.words.is_empty()).then_some(c)
        })
        .collect();
    RenderPlan {
        size,
        fps: FPS,
        scenes: board.scenes,
        voiceover: AudioTrack {
            path: audio.to_path_buf(),
            duration_ms: voice_ms,
        },
        speech,
        music: None,
        captions: Some(Captions {
            language: language.to_string(),
            style,
            cues,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn change(thumbnail: Option<&str>) -> JobStateChange {
        JobStateChange {
            job_id: "j".into(),
            status: "COMPLETE".into(),
            user_metadata: thumbnail
                .map(|t| {
                    BTreeMap::from([(
                        reelforge_core::ports::THUMBNAIL_METADATA.to_string(),
                        t.to_string(),
                    )])
                })
                .unwrap_or_default(),
            output_duration_ms: None,
            error_message: None,
        }
    }

    #[test]
    fn a_jobs_thumbnail_counts_only_under_its_own_stem() {
        let stem = "videos/c/vertical_en_v";
        assert_eq!(
            job_thumbnail(&change(Some("videos/c/vertical_en_v.0000001.jpg")), stem),
            Some("videos/c/vertical_en_v.0000001.jpg".into())
        );
        for other in [
            "videos/c/vertical_en_w.0000001.jpg",
            "videos/c/vertical_en_v-edit1.0000001.jpg",
            "videos/c/vertical_en_v./../x.jpg",
            "uploads/a/p/watermark.png",
        ] {
            assert_eq!(job_thumbnail(&change(Some(other)), stem), None, "{other}");
        }
        assert_eq!(job_thumbnail(&change(None), stem), None);
    }
}
