//! `rerender` (SPEC §11): a video whose script the customer replaced in `review` is
//! spoken again in its language and rendered again with the campaign's style, under new
//! media keys (`work/{campaign}/voice/{lang}-{video}-edit{n}.*`, and
//! `videos/{campaign}/…_{video}-edit{n}.mp4`), so the previous file stays downloadable
//! until the new one is ready. The video goes `rendering` → `ready` with
//! `script_source: "edited"`, and `video.ready` is created in that same conditional
//! write (signed and retried like every event). The campaign stays in `review`.
//!
//! One message per campaign does every pending edit of it, under a claim
//! (`lease::claim_after_review`): duplicated messages wait for the claim and then find
//! nothing left to do. The spoken track is kept under its edit's key, so a retry after a
//! crash renders without speaking again. On AWS the render is a MediaConvert job whose
//! completion arrives as an EventBridge event ([`job_finished`]); the message keeps
//! looking at unfinished jobs every [`super::render::RECHECK_SECS`], as the render
//! stage does. A message that keeps failing ([`dead_letter`]) gives the video back in
//! `ready` with its previous file and records why.

use super::collect::CollectedPage;
use super::lease::{claim_after_review, release_after_review, Claim};
use super::process::Captures;
use super::render::{has_music, job_for, Spoken, RECHECK_SECS};
use super::voiceover::VoiceTrack;
use super::{artifacts, Next, StageError};
use crate::context::Context;
use crate::lifecycle::{requeue_unstarted_events, update};
use chrono::SecondsFormat;
use reelforge_core::edit::script_sentences;
use reelforge_core::model::{
    Campaign, DeliveryState, Language, Stage, Video, VideoStatus, WebhookEvent, WEBHOOK_ATTEMPTS,
};
use reelforge_core::ports::{JobStateChange, RenderStarted, TransitionOutcome};
use reelforge_core::pricing;
use reelforge_core::publish::ScriptEdit;
use reelforge_core::views::{video_json, video_links, WEBHOOK_LINK_TTL};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use uuid::Uuid;

/// `script_source` of a video whose script the customer wrote.
pub const EDITED: &str = "edited";
/// The user-metadata key that marks a render job as an edit's (its number).
pub const EDIT_METADATA: &str = "edit";

/// The edit's spoken audio.
pub fn edit_audio(campaign: Uuid, language: Language, video: Uuid, edit: u32) -> String {
    format!("work/{campaign}/voice/{language}-{video}-edit{edit}.wav")
}

/// The edit's voice track (duration, word timings, sentences).
pub fn edit_words(campaign: Uuid, language: Language, video: Uuid, edit: u32) -> String {
    format!("work/{campaign}/voice/{language}-{video}-edit{edit}.json")
}

/// Where the edit's video (`.mp4`) and thumbnail (`.jpg`) go: beside the first render's,
/// under a new name.
pub fn edit_stem(campaign: Uuid, video: &Video, edit: u32) -> String {
    format!("{}-edit{edit}", video.media_stem(campaign))
}

fn has_pending_edit(c: &Campaign) -> bool {
    c.videos.iter().any(|v| v.review.pending_edit.is_some())
}

pub async fn run(app: &Context, campaign_id: Uuid) -> Result<Next, StageError> {
    let (campaign, _renewal) =
        match claim_after_review(app, campaign_id, Stage::Rerender, has_pending_edit).await? {
            Claim::Run(c, renewal) => (*c, renewal),
            Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
            Claim::Skip => return Ok(Next::Done),
        };
    let result = rerender_all(app, &campaign).await;
    release_after_review(app, &campaign).await?;
    result?;
    // Edits accepted while this ran, and render jobs still running, are looked at again.
    let Some(now) = app.ports.campaigns.get_campaign(campaign_id).await? else {
        return Ok(Next::Done);
    };
    let pending: Vec<&ScriptEdit> = now
        .videos
        .iter()
        .filter_map(|v| v.review.pending_edit.as_ref())
        .collect();
    Ok(if pending.iter().any(|e| e.render_job.is_none()) {
        Next::RetryIn(1)
    } else if pending.is_empty() {
        Next::Done
    } else {
        Next::RetryIn(RECHECK_SECS)
    })
}

async fn rerender_all(app: &Context, campaign: &Campaign) -> Result<(), StageError> {
    for video in &campaign.videos {
        let Some(edit) = &video.review.pending_edit else {
            continue;
        };
        if let Some(job_id) = &edit.render_job {
            // A render that outlived the deployment's deadline is given up: the video
            // keeps its previous file and says why.
            if app.clock.now_ms() - edit.requested_at_ms > app.tools.render_deadline_ms {
                tracing::error!(campaign_id = %campaign.id, video_id = %video.id, job_id = %job_id, "edit render deadline passed");
                super::render::give_up_job(app, job_id).await;
                give_up(app, campaign.id, Some((video.id, edit.number))).await?;
                continue;
            }
            if let Some(change) = app.tools.renderer.job_state(job_id).await? {
                job_finished(app, &change).await?;
            }
            continue;
        }
        let track_key = edit_words(campaign.id, video.language, video.id, edit.number);
        let track = match app.ports.media.get_media(&track_key).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StageError::Artifact(format!("{track_key}: {e}")))?,
            None => speak(app, campaign, video, edit).await?,
        };
        match render_edit(app, campaign, video, edit, &track).await? {
            RenderStarted::Finished { duration_ms } => {
                finish_edit(
                    app,
                    campaign.id,
                    video.id,
                    edit.number,
                    Some(duration_ms),
                    Some(format!(
                        "{}.jpg",
                        edit_stem(campaign.id, video, edit.number)
                    )),
                )
                .await?;
            }
            RenderStarted::Submitted { job_id } => {
                let (video_id, number) = (video.id, edit.number);
                update(app, campaign.id, |c| {
                    let Some(e) = pending_edit_mut(c, video_id, number) else {
                        return false;
                    };
                    e.render_job = Some(job_id.clone());
                    true
                })
                .await?;
            }
        }
    }
    Ok(())
}

fn pending_edit_mut(c: &mut Campaign, video_id: Uuid, number: u32) -> Option<&mut ScriptEdit> {
    c.videos
        .iter_mut()
        .find(|v| v.id == video_id)?
        .review
        .pending_edit
        .as_mut()
        .filter(|e| e.number == number)
}

/// Speaks the edited script with the campaign's voice and stores the audio and its track
/// under the edit's keys.
async fn speak(
    app: &Context,
    campaign: &Campaign,
    video: &Video,
    edit: &ScriptEdit,
) -> Result<VoiceTrack, StageError> {
    let scratch = artifacts::scratch(campaign.id, Stage::Rerender)?;
    let wav = scratch
        .path()
        .join(format!("{}-edit{}.wav", video.id, edit.number));
    let chosen = campaign
        .style
        .as_ref()
        .and_then(|s| s.voice.as_ref())
        .and_then(|v| v.provider_voice_id.clone());
    let speech = app
        .tools
        .voice
        .speak_as(&edit.script, video.language, chosen.as_deref(), &wav)
        .await
        .map_err(|e| StageError::Tool(format!("voice: {e}")))?;
    let audio = tokio::fs::read(&speech.wav)
        .await
        .map_err(|e| StageError::Tool(format!("voice file: {e}")))?;
    app.ports
        .media
        .put_media(
            &edit_audio(campaign.id, video.language, video.id, edit.number),
            audio.into(),
            "audio/wav",
        )
        .await?;
    let track = VoiceTrack {
        duration_seconds: speech.duration_seconds,
        words: speech.words,
        sentences: script_sentences(&edit.script),
    };
    artifacts::put_json(
        app,
        &edit_words(campaign.id, video.language, video.id, edit.number),
        &track,
    )
    .await?;
    Ok(track)
}

/// The edit's render job: built by the render stage's own [`job_for`] (the storyboard
/// over the page, the campaign's caption style, music, watermark and end clip), speaking
/// the edit's audio and track, under the edit's output stem.
async fn render_edit(
    app: &Context,
    campaign: &Campaign,
    video: &Video,
    edit: &ScriptEdit,
    track: &VoiceTrack,
) -> Result<RenderStarted, StageError> {
    let captures: Captures = artifacts::get_json(app, &artifacts::captures(campaign.id)).await?;
    let collected: CollectedPage =
        artifacts::get_json(app, &artifacts::collected(campaign.id)).await?;
    let spoken = Spoken {
        track,
        audio: PathBuf::from(edit_audio(
            campaign.id,
            video.language,
            video.id,
            edit.number,
        )),
        output_stem: edit_stem(campaign.id, video, edit.number),
        metadata: BTreeMap::from([
            ("campaign_id".to_string(), campaign.id.to_string()),
            ("video_id".to_string(), video.id.to_string()),
            (EDIT_METADATA.to_string(), edit.number.to_string()),
        ]),
    };
    let job = job_for(app, campaign, video, &captures, &collected, spoken).await?;
    Ok(app.tools.renderer.start(&job).await?)
}

/// The edit `number` of the video is rendered: the video becomes `ready` with the new
/// file (and, when the renderer made one, thumbnail), its script source is `edited`, and
/// `video.ready` is created in the same write. Safe to run twice: only a video still
/// waiting for that edit changes.
pub async fn finish_edit(
    app: &Context,
    campaign_id: Uuid,
    video_id: Uuid,
    number: u32,
    duration_ms: Option<u64>,
    thumbnail: Option<String>,
) -> Result<(), StageError> {
    for _ in 0..16 {
        let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
            return Ok(());
        };
        let mut next = campaign.clone();
        let Some(video) = next.videos.iter_mut().find(|v| v.id == video_id) else {
            return Ok(());
        };
        if video.review.pending_edit.as_ref().map(|e| e.number) != Some(number) {
            // Done already (a duplicate), or the edit was given up.
            return requeue_unstarted_events(app, campaign_id).await;
        }
        let stem = edit_stem(campaign_id, video, number);
        video.status = VideoStatus::Ready;
        video.file_key = Some(format!("{stem}.mp4"));
        if let Some(key) = thumbnail
            .as_ref()
            .filter(|k| k.starts_with(&format!("{stem}.")))
        {
            video.thumbnail_key = Some(key.clone());
        }
        if let Some(ms) = duration_ms {
            let seconds = ms as f64 / 1000.0;
            video.duration_seconds = Some(seconds);
            // The customer wrote this script: no AI planning in its price.
            video.credits_cost = Some(pricing::video_render_cost(
                seconds,
                false,
                1,
                has_music(&campaign),
            ));
        }
        video.script_source = Some(EDITED.to_string());
        video.review.pending_edit = None;
        video.review.edit_error = None;
        next.revision = campaign.revision + 1;
        next.updated_at = app.clock.now();
        let event = video_ready_event(app, &next, video_id).await?;
        match app
            .ports
            .campaigns
            .commit_transition(&next, campaign.status, 0, event.as_ref())
            .await?
        {
            TransitionOutcome::Applied => {
                tracing::info!(%campaign_id, %video_id, edit = number, "edited video ready");
                return Ok(());
            }
            TransitionOutcome::Stale(_) => continue,
        }
    }
    Err(StageError::Tool(
        "too many concurrent updates of the campaign".into(),
    ))
}

/// `video.ready` (SPEC §11) for the campaign's webhook, if it has one: the body is fixed
/// now, so every attempt sends the same bytes under the same id.
async fn video_ready_event(
    app: &Context,
    campaign: &Campaign,
    video_id: Uuid,
) -> Result<Option<WebhookEvent>, StageError> {
    let Some(url) = campaign.webhook_url.clone() else {
        return Ok(None);
    };
    let Some(video) = campaign.videos.iter().find(|v| v.id == video_id) else {
        return Ok(None);
    };
    let links = video_links(&*app.ports.media, campaign, WEBHOOK_LINK_TTL).await?;
    let now = app.clock.now();
    let body = json!({
        "event": "video.ready",
        "campaign_id": campaign.id,
        "video": video_json(video, links.get(&video_id)),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    Ok(Some(WebhookEvent {
        id: reelforge_core::ids::ordered_id("evt_"),
        campaign_id: campaign.id,
        account_id: campaign.account_id.clone(),
        event: "video.ready".to_string(),
        url,
        body: body.to_string(),
        created_at_ms: now.timestamp_millis(),
        state: DeliveryState::Pending,
        attempts: Vec::new(),
        attempt_budget: WEBHOOK_ATTEMPTS,
        next_attempt_at_ms: now.timestamp_millis(),
    }))
}

/// An edit's render job ended (a MediaConvert event, or found by the message's check):
/// the video is ready with the new file, or keeps its previous one.
pub async fn job_finished(app: &Context, change: &JobStateChange) -> Result<(), StageError> {
    let meta = |name: &str| change.user_metadata.get(name);
    let (Some(campaign_id), Some(video_id), Some(number)) = (
        meta("campaign_id").and_then(|v| v.parse::<Uuid>().ok()),
        meta("video_id").and_then(|v| v.parse::<Uuid>().ok()),
        meta(EDIT_METADATA).and_then(|v| v.parse::<u32>().ok()),
    ) else {
        tracing::warn!(job_id = %change.job_id, "edit render job without its metadata; ignored");
        return Ok(());
    };
    let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
        return Ok(());
    };
    let recorded = campaign
        .videos
        .iter()
        .find(|v| v.id == video_id)
        .and_then(|v| v.review.pending_edit.as_ref())
        .filter(|e| e.number == number)
        .and_then(|e| e.render_job.clone());
    // A job other than the one recorded for the edit decides nothing.
    if recorded.is_some_and(|job| job != change.job_id) {
        tracing::warn!(job_id = %change.job_id, %video_id, "event of a job not recorded for its edit; ignored");
        return Ok(());
    }
    match change.status.as_str() {
        "COMPLETE" => {
            finish_edit(
                app,
                campaign_id,
                video_id,
                number,
                change.output_duration_ms,
                // The stitch job's frame capture (under the edit's stem), when it made one.
                campaign
                    .videos
                    .iter()
                    .find(|v| v.id == video_id)
                    .and_then(|v| {
                        super::render::job_thumbnail(change, &edit_stem(campaign_id, v, number))
                    }),
            )
            .await
        }
        "ERROR" | "CANCELED" => {
            tracing::error!(job_id = %change.job_id, error = ?change.error_message, "edit render job failed");
            give_up(app, campaign_id, Some((video_id, number))).await
        }
        _ => Ok(()),
    }
}

/// The edit could not be rendered: the video goes back to `ready` with its previous
/// file, and says why. `only`: one video's edit; `None`: every pending edit.
async fn give_up(
    app: &Context,
    campaign_id: Uuid,
    only: Option<(Uuid, u32)>,
) -> Result<(), StageError> {
    update(app, campaign_id, |c| {
        let mut changed = false;
        for v in &mut c.videos {
            let Some(edit) = &v.review.pending_edit else {
                continue;
            };
            if only.is_some_and(|(id, n)| id != v.id || n != edit.number) {
                continue;
            }
            v.review.pending_edit = None;
            v.review.edit_error = Some(
                "The edited script could not be rendered; the video keeps its previous file".into(),
            );
            v.status = VideoStatus::Ready;
            changed = true;
        }
        changed
    })
    .await?;
    Ok(())
}

/// A rerender message that kept failing: every pending edit of the campaign is given up.
pub async fn dead_letter(app: &Context, campaign_id: Uuid) -> Result<(), StageError> {
    give_up(app, campaign_id, None).await
}
