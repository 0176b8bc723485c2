//! The campaign pipeline: stage messages in, conditional status transitions out. The same
//! `process` runs in the local workers (`worker.rs`) and in the Lambda stage functions.
//! Every step is safe to run twice: a transition only applies from the status it expects,
//! and terminal notifications are created in the same write as the terminal status.

pub mod artifacts;
pub mod collect;
pub mod lease;
pub mod process;
pub mod render;
pub mod script;
pub mod studio;
pub mod voiceover;
pub mod webhook;
pub mod worker;

use crate::api::App;
use crate::model::{
    Campaign, CampaignStatus, DeliveryState, StageMessage, VideoStatus, WebhookEvent,
    STAGE_COLLECT, STAGE_WEBHOOK, WEBHOOK_ATTEMPTS,
};
use crate::ports::{StoreError, TransitionOutcome};
use crate::views::{video_links, videos_json, WEBHOOK_LINK_TTL};
use chrono::SecondsFormat;
use serde_json::json;
use uuid::Uuid;

/// What to do with the message that was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done (or nothing to do): delete the message.
    Done,
    /// Send the same message again after this many seconds, then delete this one.
    RetryIn(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown stage {0:?}")]
    UnknownStage(String),
    /// An earlier stage's output is missing or unreadable.
    #[error("stage input: {0}")]
    Artifact(String),
    /// A production tool (browser, writer, voice, renderer) failed; worth retrying.
    #[error("{0}")]
    Tool(String),
}

/// Every stage of the pipeline, in order.
pub static PIPELINE_STAGES: [&str; 5] = [
    STAGE_COLLECT,
    process::STAGE,
    script::STAGE,
    voiceover::STAGE,
    render::STAGE,
];

/// The pipeline's stages and the webhook sender's.
pub const STAGES: [&str; 6] = [
    STAGE_COLLECT,
    process::STAGE,
    script::STAGE,
    voiceover::STAGE,
    render::STAGE,
    STAGE_WEBHOOK,
];

/// Runs one message. `Err` leaves the message to the queue's retry (and, after the
/// maximum number of receives, to `dead_letter`).
pub async fn process(app: &App, message: &StageMessage) -> Result<Next, StageError> {
    match message.stage.as_str() {
        // Boxed: the stages' futures are deep, and a handler awaiting all of them inline
        // overflows the compiler's layout depth limit.
        STAGE_COLLECT => Box::pin(collect::run(app, message.campaign_id)).await,
        process::STAGE => Box::pin(process::run(app, message.campaign_id)).await,
        script::STAGE => Box::pin(script::run(app, message.campaign_id)).await,
        voiceover::STAGE => Box::pin(voiceover::run(app, message.campaign_id)).await,
        render::STAGE => Box::pin(render::run(app, message.campaign_id)).await,
        STAGE_WEBHOOK => match &message.event_id {
            Some(event_id) => Ok(webhook::deliver(app, message.campaign_id, event_id).await?),
            None => Ok(Next::Done),
        },
        other => Err(StageError::UnknownStage(other.to_string())),
    }
}

/// A message that kept failing: its campaign fails in that stage (refunding unproduced
/// videos and notifying), or its webhook event is marked failed.
pub async fn dead_letter(app: &App, message: &StageMessage) -> Result<(), StageError> {
    tracing::error!(stage = %message.stage, campaign_id = %message.campaign_id, "message dead-lettered");
    match message.stage.as_str() {
        STAGE_WEBHOOK => {
            if let Some(event_id) = &message.event_id {
                webhook::abandon(app, message.campaign_id, event_id).await?;
            }
            Ok(())
        }
        stage => {
            // Only a campaign still in this message's stage fails: a stale duplicate of
            // an earlier stage must not fail a campaign that has moved on.
            let Some(status) = stage_status(stage) else {
                return Ok(());
            };
            match app.ports.campaigns.get_campaign(message.campaign_id).await? {
                Some(c) if c.status == status => {
                    fail(
                        app,
                        message.campaign_id,
                        status,
                        "An internal error stopped this stage repeatedly; unproduced videos were given back to the quota",
                    )
                    .await
                }
                _ => Ok(()),
            }
        }
    }
}

/// The stage whose message moves a campaign on from `status`.
fn stage_of(status: CampaignStatus) -> Option<&'static str> {
    PIPELINE_STAGES
        .iter()
        .copied()
        .find(|stage| stage_status(stage) == Some(status))
}

/// A message of an earlier stage found the campaign further along. If no stage holds it
/// now, the hand-off to its current stage may have been lost (the status was written,
/// the next message never sent, or a retry found the status already moved): queue that
/// stage's message again. Extra copies are harmless: stages claim the campaign.
pub(crate) async fn resume(app: &App, campaign: &Campaign) -> Result<(), StageError> {
    if campaign.status.is_terminal() || campaign.lease.is_some() {
        return Ok(());
    }
    if let Some(stage) = stage_of(campaign.status) {
        app.ports
            .queue
            .send(&StageMessage::stage(stage, campaign.id), 0)
            .await?;
    }
    Ok(())
}

/// The status a stage works in (and names as `failed_stage`).
fn stage_status(stage: &str) -> Option<CampaignStatus> {
    match stage {
        STAGE_COLLECT => Some(CampaignStatus::Collecting),
        process::STAGE => Some(CampaignStatus::Processing),
        script::STAGE => Some(CampaignStatus::Scripting),
        voiceover::STAGE => Some(CampaignStatus::Voiceover),
        render::STAGE => Some(CampaignStatus::Rendering),
        _ => None,
    }
}

/// The terminal notification for `next`, if the campaign has somewhere to send it.
async fn terminal_event(app: &App, next: &Campaign) -> Result<Option<WebhookEvent>, StageError> {
    let Some(url) = next.webhook_url.clone() else {
        return Ok(None);
    };
    let event = match next.status {
        CampaignStatus::Review => "campaign.completed",
        CampaignStatus::Failed => "campaign.failed",
        _ => return Ok(None),
    };
    let links = video_links(&*app.ports.media, next, WEBHOOK_LINK_TTL).await?;
    let now = app.clock.now();
    let mut body = json!({
        "event": event,
        "campaign_id": next.id,
        "status": next.status,
        "videos": videos_json(next, &links),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    if next.status == CampaignStatus::Failed {
        body["error"] = json!(next.error);
        body["failed_stage"] = json!(next.failed_stage);
    }
    Ok(Some(WebhookEvent {
        id: format!("evt_{}", ulid::Ulid::generate().to_string().to_lowercase()),
        campaign_id: next.id,
        account_id: next.account_id.clone(),
        event: event.to_string(),
        url,
        body: body.to_string(),
        created_at_ms: now.timestamp_millis(),
        state: DeliveryState::Pending,
        attempts: Vec::new(),
        attempt_budget: WEBHOOK_ATTEMPTS,
        next_attempt_at_ms: now.timestamp_millis(),
    }))
}

/// Queues the first delivery of terminal events that never started — the hand-off after
/// a terminal write may have been lost. Extra copies are harmless: attempts are claimed.
pub(crate) async fn requeue_unstarted_events(
    app: &App,
    campaign_id: Uuid,
) -> Result<(), StageError> {
    for event in app.ports.webhooks.list_events(campaign_id).await? {
        if event.state == DeliveryState::Pending && event.attempts.is_empty() {
            app.ports
                .queue
                .send(&StageMessage::webhook(campaign_id, &event.id), 0)
                .await?;
        }
    }
    Ok(())
}

/// Moves a campaign from `from` to `to`, applying `edit` to the stored record. Returns
/// `false` (and changes nothing) if the campaign is no longer in `from` — a duplicate
/// message. Terminal statuses get their notification in the same write.
pub async fn advance(
    app: &App,
    campaign: &Campaign,
    to: CampaignStatus,
    edit: impl FnOnce(&mut Campaign),
) -> Result<bool, StageError> {
    debug_assert!(campaign.status.can_become(to));
    let mut next = campaign.clone();
    next.status = to;
    next.updated_at = app.clock.now();
    next.revision = campaign.revision + 1;
    next.history.push(crate::model::StatusEntered {
        status: to,
        at_ms: next.updated_at.timestamp_millis(),
    });
    edit(&mut next);
    let mut refund = 0;
    if to == CampaignStatus::Failed {
        // Videos never produced go back to the quota, once: the refund is part of the
        // conditional write that makes the campaign terminal.
        let produced = next
            .videos
            .iter()
            .filter(|v| v.status == VideoStatus::Ready)
            .count() as u32;
        refund = next.videos_reserved.saturating_sub(produced);
        next.videos_reserved = produced;
        for v in next
            .videos
            .iter_mut()
            .filter(|v| v.status != VideoStatus::Ready)
        {
            v.status = VideoStatus::Failed;
        }
    }
    let event = terminal_event(app, &next).await?;
    match app
        .ports
        .campaigns
        .commit_transition(&next, campaign.status, refund, event.as_ref())
        .await?
    {
        TransitionOutcome::Applied => Ok(true),
        TransitionOutcome::Stale(current) => {
            if current.status.is_terminal() {
                requeue_unstarted_events(app, current.id).await?;
            }
            Ok(false)
        }
    }
}

/// Rewrites the campaign without changing its status (a claim, a video's progress):
/// `false` when it changed since `campaign` was read.
pub async fn rewrite(
    app: &App,
    campaign: &Campaign,
    edit: impl FnOnce(&mut Campaign),
) -> Result<bool, StageError> {
    let mut next = campaign.clone();
    next.revision = campaign.revision + 1;
    next.updated_at = app.clock.now();
    edit(&mut next);
    Ok(matches!(
        app.ports
            .campaigns
            .commit_transition(&next, campaign.status, 0, None)
            .await?,
        TransitionOutcome::Applied
    ))
}

/// Fails the campaign in `stage` with a message written for the customer. A concurrent
/// write (a claim, a video's progress) is read again, not lost: the failure must land.
pub async fn fail(
    app: &App,
    campaign_id: Uuid,
    stage: CampaignStatus,
    error: &str,
) -> Result<(), StageError> {
    for _ in 0..16 {
        let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
            return Ok(());
        };
        if campaign.status.is_terminal() {
            return requeue_unstarted_events(app, campaign_id).await;
        }
        let failed = advance(app, &campaign, CampaignStatus::Failed, |c| {
            c.error = Some(error.to_string());
            c.failed_stage = Some(stage.as_str().to_string());
        })
        .await?;
        if failed {
            return Ok(());
        }
    }
    Err(StageError::Tool(
        "too many concurrent updates of the campaign".into(),
    ))
}
