//! The campaign lifecycle, shared by the API and the stages: conditional status
//! transitions ([`advance`], [`rewrite`]), failing a campaign with a refund ([`fail`]),
//! re-queueing a lost hand-off ([`resume`]) and the terminal events written in the same
//! step as the terminal status. Every step is safe to run twice: a transition only applies
//! from the status (and revision) it read.

use crate::context::Context;
use chrono::SecondsFormat;
use reelforge_core::model::{
    Campaign, CampaignStatus, DeliveryState, Stage, StageMessage, StatusEntered, VideoStatus,
    WebhookEvent, WEBHOOK_ATTEMPTS,
};
use reelforge_core::ports::{StoreError, ToolError, TransitionOutcome};
use reelforge_core::views::{video_links, videos_json, WEBHOOK_LINK_TTL};
use serde_json::json;
use uuid::Uuid;

/// Why a lifecycle step or a stage did not finish.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An earlier stage's output is missing or unreadable.
    #[error("stage input: {0}")]
    Artifact(String),
    /// A production tool (browser, writer, voice, renderer) failed; worth retrying.
    #[error("{0}")]
    Tool(String),
}

impl From<ToolError> for StageError {
    fn from(e: ToolError) -> Self {
        StageError::Tool(e.0)
    }
}

/// A message of an earlier stage found the campaign further along. If no stage holds it
/// now, the hand-off to its current stage may have been lost (the status was written,
/// the next message never sent, or a retry found the status already moved): queue that
/// stage's message again. Extra copies are harmless: stages claim the campaign.
pub async fn resume(app: &Context, campaign: &Campaign) -> Result<(), StageError> {
    if campaign.status.is_terminal() || campaign.lease.is_some() {
        return Ok(());
    }
    if let Some(stage) = Stage::working_in(campaign.status) {
        app.ports
            .queue
            .send(&StageMessage::stage(stage, campaign.id), 0)
            .await?;
    }
    Ok(())
}

/// The terminal notification for `next`, if the campaign has somewhere to send it.
async fn terminal_event(
    app: &Context,
    next: &Campaign,
) -> Result<Option<WebhookEvent>, StageError> {
    let Some(url) = next.webhook_url.clone() else {
        return Ok(None);
    };
    let event = match next.status {
        CampaignStatus::Review => "campaign.completed",
        CampaignStatus::Failed => "campaign.failed",
        CampaignStatus::Published => "campaign.published",
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
        id: reelforge_core::ids::ordered_id("evt_"),
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
pub async fn requeue_unstarted_events(app: &Context, campaign_id: Uuid) -> Result<(), StageError> {
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
    app: &Context,
    campaign: &Campaign,
    to: CampaignStatus,
    edit: impl FnOnce(&mut Campaign),
) -> Result<bool, StageError> {
    debug_assert!(campaign.status.can_become(to));
    let mut next = campaign.clone();
    next.status = to;
    next.updated_at = app.clock.now();
    next.revision = campaign.revision + 1;
    next.history.push(StatusEntered {
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
        TransitionOutcome::Applied => {
            outcome_logged(campaign.status, &next);
            Ok(true)
        }
        TransitionOutcome::Stale(current) => {
            if current.status.is_terminal() {
                requeue_unstarted_events(app, current.id).await?;
            }
            Ok(false)
        }
    }
}

/// One log line (and metric) for every stage outcome, including the quiet ones: a
/// campaign that fails in collecting with a reason for the customer is an outcome an
/// operator must see too.
fn outcome_logged(from: CampaignStatus, next: &Campaign) {
    let stage = from.as_str();
    match next.status {
        CampaignStatus::Failed => {
            tracing::warn!(campaign_id = %next.id, account_id = %next.account_id, stage, error = next.error.as_deref().unwrap_or(""), "campaign failed");
            crate::metrics::count("CampaignsFailed", Some(stage));
        }
        CampaignStatus::Review => {
            tracing::info!(campaign_id = %next.id, account_id = %next.account_id, stage, videos = next.videos.len(), "campaign ready for review");
            crate::metrics::count("CampaignsCompleted", None);
        }
        to => {
            tracing::info!(campaign_id = %next.id, stage, next = to.as_str(), "stage done");
        }
    }
}

/// Rewrites the campaign without changing its status (a claim, a video's progress):
/// `false` when it changed since `campaign` was read.
pub async fn rewrite(
    app: &Context,
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

/// Reads the campaign and writes `edit`'s change to it, reading again when another write
/// came first (the API and a stage after review may both write a campaign in `review`).
/// `edit` returns `false` to write nothing (the change is no longer wanted, or was made).
/// `Ok(None)`: no such campaign; otherwise the campaign as stored afterwards.
pub async fn update(
    app: &Context,
    campaign_id: Uuid,
    mut edit: impl FnMut(&mut Campaign) -> bool,
) -> Result<Option<Campaign>, StageError> {
    for _ in 0..16 {
        let Some(current) = app.ports.campaigns.get_campaign(campaign_id).await? else {
            return Ok(None);
        };
        let mut next = current.clone();
        if !edit(&mut next) {
            return Ok(Some(current));
        }
        next.revision = current.revision + 1;
        next.updated_at = app.clock.now();
        if let TransitionOutcome::Applied = app
            .ports
            .campaigns
            .commit_transition(&next, current.status, 0, None)
            .await?
        {
            return Ok(Some(next));
        }
    }
    Err(StageError::Tool(
        "too many concurrent updates of the campaign".into(),
    ))
}

/// Fails the campaign in `stage` with a message written for the customer. A concurrent
/// write (a claim, a video's progress) is read again, not lost: the failure must land.
pub async fn fail(
    app: &Context,
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
            c.failed_stage = Some(stage);
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
