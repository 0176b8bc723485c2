//! `publish` (SPEC §11): each chosen video uploaded to each destination of the publish
//! request — YouTube (`youtube.rs`: OAuth refresh grant, resumable `videos.insert`) and
//! TikTok (`tiktok.rs`: rotating token refresh, Content Posting API Direct Post).
//!
//! Every step that could create something at a provider is written down first, so a
//! duplicated message, a retry or a crash never creates a second post:
//! - the campaign is claimed (`lease::claim_after_review`): copies of the message wait;
//! - each attempt is recorded as started before any request (at most
//!   [`PUBLISH_ATTEMPTS`], with the retry delays of [`crate::PublishConfig`]); an attempt
//!   found unfinished was interrupted and counts;
//! - the provider's upload session (YouTube's session URI, TikTok's publish id and upload
//!   URL) is stored before the first byte is sent to it, and a later attempt asks that
//!   session where it stands instead of starting over; YouTube answers a finished upload
//!   with the video it created, so a lost final answer is recovered, not repeated;
//! - the resulting id is stored with the publication's success before anything else.
//!
//! When every publication has finished (published, or failed after its attempts) the
//! campaign becomes `published`, and `campaign.published` is created in that write.

mod http;
mod tiktok;
mod youtube;

use super::lease::{claim_after_review, release_after_review, Claim};
use super::{Next, StageError};
use crate::context::Context;
use crate::lifecycle::{advance, update};
use bytes::Bytes;
use reelforge_core::model::{Campaign, CampaignStatus, Stage, Video};
use reelforge_core::ports::ProfileRecord;
use reelforge_core::publish::{
    Destination, Provider, Publication, PublicationStatus, PublishAttempt, UploadSession,
    DESTINATION_KIND, PUBLISH_ATTEMPTS,
};
use reelforge_core::styles::secrets::{PlainSecret, SecretError, SecretOwner};
use std::collections::HashMap;
use uuid::Uuid;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Published {
        external_id: String,
        url: Option<String>,
    },
    /// Worth another attempt later (a 5xx, a timeout, a rate limit, a lost connection).
    Retry(String),
    /// Retrying will not help (credentials rejected, quota used up, a refused request).
    Failed(String),
}

/// A campaign the publisher has work on: a publish request in `review`.
fn publishing(c: &Campaign) -> bool {
    c.status == CampaignStatus::Review && c.publish.is_some()
}

fn pending(c: &Campaign) -> impl Iterator<Item = (&Video, &Publication)> {
    c.videos.iter().flat_map(|v| {
        v.review
            .publications
            .iter()
            .filter(|p| !p.is_finished())
            .map(move |p| (v, p))
    })
}

fn publication_mut<'a>(
    c: &'a mut Campaign,
    video_id: Uuid,
    destination_id: &str,
) -> Option<(&'a mut Video, usize)> {
    let video = c.videos.iter_mut().find(|v| v.id == video_id)?;
    let index = video
        .review
        .publications
        .iter()
        .position(|p| p.destination_id == destination_id)?;
    Some((video, index))
}

pub async fn run(app: &Context, campaign_id: Uuid) -> Result<Next, StageError> {
    let (campaign, _renewal) =
        match claim_after_review(app, campaign_id, Stage::Publish, publishing).await? {
            Claim::Run(c, renewal) => (*c, renewal),
            Claim::Wait(secs) => return Ok(Next::RetryIn(secs)),
            Claim::Skip => return Ok(Next::Done),
        };
    let result = publish_due(app, &campaign).await;
    if let Err(e) = result {
        release_after_review(app, &campaign).await?;
        return Err(e);
    }
    if complete(app, campaign_id).await? {
        return Ok(Next::Done);
    }
    release_after_review(app, &campaign).await?;
    // Attempts wait for their retry time: look again then.
    let Some(now) = app.ports.campaigns.get_campaign(campaign_id).await? else {
        return Ok(Next::Done);
    };
    let now_ms = app.clock.now_ms();
    let next_ms = pending(&now)
        .map(|(_, p)| p.next_attempt_at_ms)
        .min()
        .unwrap_or(now_ms);
    Ok(Next::RetryIn(
        ((next_ms - now_ms + 999) / 1000).clamp(1, 900) as u32,
    ))
}

/// The destination of some publications, opened once per run: TikTok's refresh token
/// rotates on every use, so one run never refreshes a destination twice.
pub(crate) struct Opened {
    pub record: ProfileRecord,
    pub destination: Destination,
    pub client_id: PlainSecret,
    pub client_secret: PlainSecret,
    pub refresh_token: PlainSecret,
    pub access_token: Option<PlainSecret>,
}

/// Runs one attempt of every publication whose time has come, one after another.
async fn publish_due(app: &Context, campaign: &Campaign) -> Result<(), StageError> {
    let mut opened: HashMap<String, Result<Opened, Outcome>> = HashMap::new();
    let mut files: HashMap<Uuid, Bytes> = HashMap::new();
    let due: Vec<(Uuid, String)> = pending(campaign)
        .filter(|(_, p)| p.next_attempt_at_ms <= app.clock.now_ms())
        .map(|(v, p)| (v.id, p.destination_id.clone()))
        .collect();
    for (video_id, destination_id) in due {
        let Some((campaign, number)) =
            claim_attempt(app, campaign.id, video_id, &destination_id).await?
        else {
            continue;
        };
        let Some(video) = campaign.videos.iter().find(|v| v.id == video_id) else {
            continue;
        };
        let Some(publication) = video
            .review
            .publications
            .iter()
            .find(|p| p.destination_id == destination_id)
        else {
            continue;
        };
        if !opened.contains_key(&destination_id) {
            let o = open_destination(app, &campaign.account_id, &destination_id).await?;
            opened.insert(destination_id.clone(), o);
        }
        let mut job = Job {
            app,
            campaign: &campaign,
            video,
            destination_id: &destination_id,
            upload: publication.upload.clone(),
            codes: Vec::new(),
            bytes: Bytes::new(),
        };
        let outcome = match opened.get_mut(&destination_id) {
            Some(Err(outcome)) => outcome.clone(),
            Some(Ok(dest)) => {
                if let std::collections::hash_map::Entry::Vacant(e) = files.entry(video_id) {
                    e.insert(video_file(app, video).await?);
                }
                job.bytes = files.get(&video_id).cloned().unwrap_or_default();
                match dest.destination.provider {
                    Provider::Youtube => youtube::publish(&mut job, dest).await?,
                    Provider::Tiktok => tiktok::publish(&mut job, dest).await?,
                }
            }
            None => Outcome::Retry("destination could not be read".into()),
        };
        tracing::info!(
            campaign_id = %campaign.id, %video_id, destination_id = %destination_id,
            attempt = number, outcome = ?outcome, "publication attempt"
        );
        record_outcome(
            app,
            campaign.id,
            video_id,
            &destination_id,
            number,
            &job.codes,
            outcome,
        )
        .await?;
    }
    Ok(())
}

/// The rendered file of a video.
async fn video_file(app: &Context, video: &Video) -> Result<Bytes, StageError> {
    let key = video
        .file_key
        .as_deref()
        .ok_or_else(|| StageError::Artifact(format!("video {} has no file", video.id)))?;
    app.ports
        .media
        .get_media(key)
        .await?
        .ok_or_else(|| StageError::Artifact(format!("{key} is missing")))
}

/// The destination with its credentials opened, or the outcome every publication to it
/// gets (deleted, unreadable).
async fn open_destination(
    app: &Context,
    account_id: &str,
    destination_id: &str,
) -> Result<Result<Opened, Outcome>, StageError> {
    let Some(record) = app
        .ports
        .profiles
        .get_profile(account_id, DESTINATION_KIND, destination_id)
        .await?
    else {
        return Ok(Err(Outcome::Failed(
            "The destination was deleted before the video could be published".into(),
        )));
    };
    let destination: Destination = match serde_json::from_value(record.doc.clone()) {
        Ok(d) => d,
        Err(e) => return Err(StageError::Artifact(format!("destination record: {e}"))),
    };
    let owner = SecretOwner::new(account_id, destination_id);
    let mut open = Vec::new();
    for sealed in [
        &destination.client_id,
        &destination.client_secret,
        &destination.refresh_token,
    ] {
        match app.sealer.open(sealed, &owner).await {
            Ok(plain) => open.push(plain),
            // KMS throttled or unreachable: the stage is retried.
            Err(SecretError::Backend(e)) => {
                return Err(StageError::Tool(format!(
                    "opening destination credentials: {e}"
                )))
            }
            Err(e) => {
                tracing::error!(error = %e, destination_id, "destination credentials do not open");
                return Ok(Err(Outcome::Failed(
                    "The destination's credentials can't be read; create the destination again"
                        .into(),
                )));
            }
        }
    }
    let mut open = open.into_iter();
    let (Some(client_id), Some(client_secret), Some(refresh_token)) =
        (open.next(), open.next(), open.next())
    else {
        return Err(StageError::Artifact("destination credentials".into()));
    };
    Ok(Ok(Opened {
        record,
        destination,
        client_id,
        client_secret,
        refresh_token,
        access_token: None,
    }))
}

/// Records the next attempt of a publication as started, before any request: `None`
/// when it has finished, or has no attempt left (then it is failed here, with an
/// interrupted attempt recorded as such). Gives the campaign as stored and the number.
async fn claim_attempt(
    app: &Context,
    campaign_id: Uuid,
    video_id: Uuid,
    destination_id: &str,
) -> Result<Option<(Campaign, u32)>, StageError> {
    let now = app.clock.now_ms();
    let mut claimed = None;
    let stored = update(app, campaign_id, |c| {
        claimed = None;
        if !publishing(c) {
            return false;
        }
        let Some((video, i)) = publication_mut(c, video_id, destination_id) else {
            return false;
        };
        let p = &mut video.review.publications[i];
        if p.is_finished() || p.next_attempt_at_ms > now {
            return false;
        }
        if let Some(last) = p.attempts.last_mut().filter(|a| !a.finished) {
            // Its worker died mid-attempt (this run holds the claim now).
            last.finished = true;
            last.error = Some("interrupted".into());
        }
        if p.attempts.len() as u32 >= PUBLISH_ATTEMPTS {
            p.status = PublicationStatus::Failed;
            p.error = Some(
                p.attempts
                    .last()
                    .and_then(|a| a.error.clone())
                    .map(|e| format!("Gave up after {PUBLISH_ATTEMPTS} attempts: {e}"))
                    .unwrap_or_else(|| format!("Gave up after {PUBLISH_ATTEMPTS} attempts")),
            );
            return true;
        }
        let number = p.attempts.len() as u32 + 1;
        p.attempts.push(PublishAttempt {
            number,
            started_at_ms: now,
            finished: false,
            status_codes: Vec::new(),
            error: None,
        });
        claimed = Some(number);
        true
    })
    .await?;
    Ok(match (stored, claimed) {
        (Some(c), Some(n)) => Some((c, n)),
        _ => None,
    })
}

/// Writes how attempt `number` ended: published (with the id, and the video's
/// `published_at` on its first success), failed, or pending until its retry time.
async fn record_outcome(
    app: &Context,
    campaign_id: Uuid,
    video_id: Uuid,
    destination_id: &str,
    number: u32,
    codes: &[u16],
    outcome: Outcome,
) -> Result<(), StageError> {
    let now = app.clock.now();
    let delays = &app.publishing.retry_delays;
    let delay = delays
        .get(number as usize - 1)
        .or(delays.last())
        .copied()
        .unwrap_or(30);
    update(app, campaign_id, |c| {
        let Some((video, i)) = publication_mut(c, video_id, destination_id) else {
            return false;
        };
        let p = &mut video.review.publications[i];
        let Some(attempt) = p.attempts.iter_mut().find(|a| a.number == number) else {
            return false;
        };
        if attempt.finished {
            return false;
        }
        attempt.finished = true;
        attempt.status_codes = codes.to_vec();
        match &outcome {
            Outcome::Published { external_id, url } => {
                p.status = PublicationStatus::Published;
                p.external_id = Some(external_id.clone());
                p.url = url.clone();
                p.error = None;
                if video.published_at.is_none() {
                    video.published_at = Some(now);
                }
            }
            Outcome::Failed(error) => {
                attempt.error = Some(error.clone());
                p.status = PublicationStatus::Failed;
                p.error = Some(error.clone());
            }
            Outcome::Retry(error) => {
                attempt.error = Some(error.clone());
                if number >= PUBLISH_ATTEMPTS {
                    p.status = PublicationStatus::Failed;
                    p.error = Some(format!(
                        "Gave up after {PUBLISH_ATTEMPTS} attempts: {error}"
                    ));
                } else {
                    p.next_attempt_at_ms = now.timestamp_millis() + i64::from(delay) * 1000;
                }
            }
        }
        true
    })
    .await?;
    Ok(())
}

/// Moves the campaign to `published` once no publication is pending; `true` when it is
/// (or already was) published.
async fn complete(app: &Context, campaign_id: Uuid) -> Result<bool, StageError> {
    for _ in 0..16 {
        let Some(c) = app.ports.campaigns.get_campaign(campaign_id).await? else {
            return Ok(true);
        };
        if c.status == CampaignStatus::Published {
            return Ok(true);
        }
        if !publishing(&c) || pending(&c).next().is_some() {
            return Ok(false);
        }
        if advance(app, &c, CampaignStatus::Published, |c| c.lease = None).await? {
            tracing::info!(%campaign_id, "campaign published");
            return Ok(true);
        }
    }
    Err(StageError::Tool(
        "too many concurrent updates of the campaign".into(),
    ))
}

/// A publish message that kept failing: its pending publications fail (recorded as
/// such), and the campaign is published with what succeeded.
pub async fn dead_letter(app: &Context, campaign_id: Uuid) -> Result<(), StageError> {
    update(app, campaign_id, |c| {
        if !publishing(c) {
            return false;
        }
        let mut changed = false;
        for v in &mut c.videos {
            for p in v
                .review
                .publications
                .iter_mut()
                .filter(|p| !p.is_finished())
            {
                if let Some(last) = p.attempts.last_mut().filter(|a| !a.finished) {
                    last.finished = true;
                    last.error = Some("interrupted".into());
                }
                p.status = PublicationStatus::Failed;
                p.error = Some(
                    "Publishing stopped after repeated internal errors; nothing more was sent"
                        .into(),
                );
                changed = true;
            }
        }
        changed
    })
    .await?;
    complete(app, campaign_id).await?;
    Ok(())
}

/// One attempt of one publication: what the providers' code needs of it.
pub(crate) struct Job<'a> {
    pub app: &'a Context,
    pub campaign: &'a Campaign,
    pub video: &'a Video,
    pub destination_id: &'a str,
    /// The upload session stored on the publication (`None`: none yet, or given up).
    pub upload: Option<UploadSession>,
    /// Every HTTP status the providers answered in this attempt.
    pub codes: Vec<u16>,
    pub bytes: Bytes,
}

impl Job<'_> {
    /// Stores the publication's upload session (before it is used), or forgets it.
    pub async fn save_upload(&mut self, upload: Option<UploadSession>) -> Result<(), StageError> {
        let (video_id, destination_id) = (self.video.id, self.destination_id.to_string());
        let mut saved = false;
        update(self.app, self.campaign.id, |c| {
            saved = false;
            let Some((video, i)) = publication_mut(c, video_id, &destination_id) else {
                return false;
            };
            let p = &mut video.review.publications[i];
            if p.is_finished() {
                return false;
            }
            p.upload = upload.clone();
            saved = true;
            true
        })
        .await?;
        if !saved {
            return Err(StageError::Tool(
                "the publication changed while it was being uploaded".into(),
            ));
        }
        self.upload = upload;
        Ok(())
    }

    pub fn saw(&mut self, status: u16) {
        self.codes.push(status);
    }

    /// The title the providers show: the campaign's, with the language when the
    /// campaign has several, without `<` and `>` (YouTube refuses them), at most `max`
    /// characters.
    pub fn title(&self, max: usize) -> String {
        let mut title: String = self
            .campaign
            .title
            .chars()
            .filter(|c| !c.is_control() && *c != '<' && *c != '>')
            .collect();
        if self.campaign.languages.len() > 1 {
            title = format!("{} ({})", title.trim(), self.video.language);
        }
        let title: String = title.trim().chars().take(max).collect();
        if title.is_empty() {
            "Product video".to_string()
        } else {
            title
        }
    }

    /// Waits before the next try of a request that failed for now: `backoff` doubled
    /// per earlier failure, or what the provider asked for.
    pub async fn pause(&self, failures: u32, asked: Option<std::time::Duration>) {
        let base = self.app.publishing.backoff;
        let wait = asked.unwrap_or_else(|| base.saturating_mul(1 << failures.min(6)));
        tokio::time::sleep(wait).await;
    }
}
