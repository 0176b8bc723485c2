//! A stage's claim on its campaign. Expensive steps (capture, script, voice, render) run
//! only under a claim taken with a conditional write on the campaign's revision, so a
//! duplicated message waits for the first worker instead of doing the work twice. A
//! claim expires: when its worker died, the message that comes back takes it over.

use crate::context::Context;
use crate::lifecycle::{requeue_unstarted_events, resume, StageError};
use reelforge_core::model::{Campaign, CampaignStatus, Stage, StageLease};
use reelforge_core::ports::TransitionOutcome;
use uuid::Uuid;

pub enum Claim {
    /// Run the stage on this campaign (as stored, with the claim) while holding the
    /// renewal: the claim is extended until it is dropped.
    Run(Box<Campaign>, Renewal),
    /// Another worker holds the claim: look again in this many seconds.
    Wait(u32),
    /// Nothing to do: the campaign moved on, ended, or does not exist.
    Skip,
}

/// Claims the campaign for `stage` (a pipeline stage) if it is in that stage's status.
pub async fn claim(
    app: &Context,
    campaign_id: Uuid,
    stage: Stage,
    edit: impl FnOnce(&mut Campaign),
) -> Result<Claim, StageError> {
    let Some(status) = stage.status() else {
        return Ok(Claim::Skip);
    };
    let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
        return Ok(Claim::Skip);
    };
    if campaign.status.is_terminal() {
        requeue_unstarted_events(app, campaign_id).await?;
        return Ok(Claim::Skip);
    }
    if campaign.status != status {
        if later(status, campaign.status) {
            resume(app, &campaign).await?;
        }
        return Ok(Claim::Skip);
    }
    let now = app.clock.now();
    let now_ms = now.timestamp_millis();
    if let Some(lease) = &campaign.lease {
        if lease.stage == stage && lease.until_ms > now_ms {
            return Ok(Claim::Wait(wait_secs(lease.until_ms - now_ms)));
        }
    }
    let mut next = campaign.clone();
    next.revision += 1;
    next.updated_at = now;
    next.lease = Some(StageLease {
        stage,
        holder: ulid::Ulid::generate().to_string(),
        until_ms: now_ms + app.tools.lease_ms,
    });
    edit(&mut next);
    match app
        .ports
        .campaigns
        .commit_transition(&next, status, 0, None)
        .await?
    {
        TransitionOutcome::Applied => {
            let renewal = Renewal::start(app, &next);
            Ok(Claim::Run(Box::new(next), renewal))
        }
        // Someone else wrote first (most likely took the claim): look again shortly.
        TransitionOutcome::Stale(current) if current.status == status => Ok(Claim::Wait(1)),
        TransitionOutcome::Stale(_) => Ok(Claim::Skip),
    }
}

/// Claims a campaign for a stage after review (`Stage::AFTER_REVIEW`): only while
/// `has_work` finds something for it to do, and only when no stage holds a live claim.
/// The campaign's status is left alone (these stages work in `review`); the API may
/// write the campaign meanwhile, so the stage's own writes read it again first
/// (`lifecycle::update`).
pub async fn claim_after_review(
    app: &Context,
    campaign_id: Uuid,
    stage: Stage,
    has_work: impl Fn(&Campaign) -> bool,
) -> Result<Claim, StageError> {
    let Some(campaign) = app.ports.campaigns.get_campaign(campaign_id).await? else {
        return Ok(Claim::Skip);
    };
    if !has_work(&campaign) {
        if campaign.status.is_terminal() {
            requeue_unstarted_events(app, campaign_id).await?;
        }
        return Ok(Claim::Skip);
    }
    let now = app.clock.now();
    let now_ms = now.timestamp_millis();
    if let Some(lease) = &campaign.lease {
        if lease.until_ms > now_ms {
            return Ok(Claim::Wait(wait_secs(lease.until_ms - now_ms)));
        }
    }
    let mut next = campaign.clone();
    next.revision += 1;
    next.updated_at = now;
    next.lease = Some(StageLease {
        stage,
        holder: ulid::Ulid::generate().to_string(),
        until_ms: now_ms + app.tools.lease_ms,
    });
    match app
        .ports
        .campaigns
        .commit_transition(&next, campaign.status, 0, None)
        .await?
    {
        TransitionOutcome::Applied => {
            let renewal = Renewal::start(app, &next);
            Ok(Claim::Run(Box::new(next), renewal))
        }
        // Someone wrote first (a claim, or the API): look again shortly.
        TransitionOutcome::Stale(_) => Ok(Claim::Wait(1)),
    }
}

/// Gives back a claim taken by [`claim_after_review`], whatever was written since; a
/// claim another worker took over is left alone.
pub async fn release_after_review(app: &Context, held: &Campaign) -> Result<(), StageError> {
    let holder = held.lease.as_ref().map(|l| l.holder.clone());
    crate::lifecycle::update(app, held.id, |c| {
        let mine = holder.is_some() && c.lease.as_ref().map(|l| &l.holder) == holder.as_ref();
        if mine {
            c.lease = None;
        }
        mine
    })
    .await?;
    Ok(())
}

/// Keeps a claim alive while its stage runs: every third of the claim's length it is
/// extended by a whole length, so a stage that runs long is never taken over while its
/// worker lives. Dropping it (the stage finished, failed or its worker died) stops the
/// renewals; the claim then ends on its own.
pub struct Renewal(tokio::task::JoinHandle<()>);

impl Renewal {
    fn start(app: &Context, held: &Campaign) -> Renewal {
        let campaigns = app.ports.campaigns.clone();
        let clock = app.clock.clone();
        let lease_ms = app.tools.lease_ms;
        let id = held.id;
        let holder = held
            .lease
            .as_ref()
            .map(|l| l.holder.clone())
            .unwrap_or_default();
        Renewal(tokio::spawn(async move {
            let every = std::time::Duration::from_millis((lease_ms / 3).max(100) as u64);
            loop {
                tokio::time::sleep(every).await;
                let until = clock.now().timestamp_millis() + lease_ms;
                match campaigns.renew_lease(id, &holder, until).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(error = %e, campaign_id = %id, "claim renewal failed"),
                }
            }
        }))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether `now` is further along the pipeline than `was` (neither terminal).
fn later(was: CampaignStatus, now: CampaignStatus) -> bool {
    let order = |s: CampaignStatus| CampaignStatus::ALL.iter().position(|x| *x == s);
    !now.is_terminal() && order(now) > order(was)
}

/// Whole seconds until `ms` has passed (at least 1, at most SQS's 900 s delay cap).
fn wait_secs(ms: i64) -> u32 {
    (ms.max(0) / 1000 + 1).min(900) as u32
}

/// Gives the claim back after a failed run, so the retry need not wait for it to expire.
/// Best effort: if it can't be written, the claim simply expires.
pub async fn release(app: &Context, held: &Campaign) {
    let _ = crate::lifecycle::rewrite(app, held, |c| c.lease = None).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn waits_are_whole_seconds_within_the_queue_cap() {
        assert_eq!(super::wait_secs(0), 1);
        assert_eq!(super::wait_secs(1), 1);
        assert_eq!(super::wait_secs(1_000), 2);
        assert_eq!(super::wait_secs(89_999), 90);
        assert_eq!(super::wait_secs(10_000_000), 900);
        assert_eq!(super::wait_secs(-5), 1);
    }
}
