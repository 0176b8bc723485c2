//! The narrow traits every outside thing sits behind. Each has a local (SQLite) and an
//! aws (DynamoDB/SQS) backend, and one contract suite (`tests/contract.rs`) runs on both.

use crate::limiter::Decision;
use crate::model::{
    Account, ApiKeyRecord, Campaign, CampaignStatus, DeliveryAttempt, DeliveryState,
    IdempotencyRecord, Principal, QuotaReservation, StageMessage, WebhookEvent,
};
use crate::plans::Plan;
use crate::stats::AccountStats;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or answered with a fault (timeouts, throttling
    /// that outlasted retries, connection refused, database locked).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A cap enforced by the store refused the write (e.g. keys per plan).
    #[error("limit reached: {0}")]
    LimitReached(String),
    #[error("not found")]
    NotFound,
    #[error("store error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_account(&self, account: &Account) -> StoreResult<()>;
    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>>;
    /// Changes the plan; keys of the account see it on their next request.
    async fn set_plan(
        &self,
        id: &str,
        plan: Plan,
        videos_per_month: Option<u32>,
    ) -> StoreResult<()>;
    /// Makes `new_secret` current and keeps the current one as the previous secret,
    /// signing beside it until `previous_until`.
    async fn rotate_webhook_secret(
        &self,
        id: &str,
        new_secret: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<Account>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a key record; when `cap` is set, refuses (`LimitReached`) if the account
    /// already holds that many unrevoked keys. Atomic under concurrent creates.
    async fn create_key(&self, key: &ApiKeyRecord, cap: Option<u32>) -> StoreResult<()>;
    /// Resolves a key hash to its account in one read (the request path's only key lookup).
    async fn lookup_key(&self, key_hash: &str) -> StoreResult<Option<Principal>>;
    async fn list_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes; `Ok(false)` if there is no such key or it was already revoked.
    async fn revoke_key(&self, key_id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The reservation would take the account past its quota; nothing was written.
    QuotaExceeded {
        used: u32,
    },
    /// Another request with the same idempotency key won the race; nothing was written.
    IdempotencyTaken,
}

#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// One atomic write: the quota reservation, the campaign, and (when given) the
    /// idempotency record. Either all of it happens or none of it.
    async fn create_campaign(
        &self,
        campaign: &Campaign,
        reservation: &QuotaReservation,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<CreateOutcome>;
    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<Campaign>>;
    /// The account's campaigns, newest first (on AWS read through the secondary index,
    /// so a campaign created a moment ago may be missing for about a second). Reads
    /// every campaign: for operators and tests, never on a request path.
    async fn list_campaigns(&self, account_id: &str) -> StoreResult<Vec<Campaign>>;
    /// The account's produced-video counters (`stats::produced_by`, written by
    /// `commit_transition`) for the days from `from_day` (`YYYY-MM-DD`) on, and its
    /// all-time totals; at most `stats::STATS_DAYS` + 1 small records.
    async fn account_stats(&self, account_id: &str, from_day: &str) -> StoreResult<AccountStats>;
    /// One page of the account's campaigns (SPEC §11), newest first: ordered by
    /// `(created_at, id)` descending, only those strictly older than `before` when it is
    /// given, only those in `status` when it is given, at most `limit`. `more`: a
    /// matching campaign older than the page's last exists. The order never changes (a
    /// campaign's creation time and id are fixed), so paging by the last campaign's
    /// position never repeats or skips one, however many are created meanwhile. Read
    /// through an index on both backends (on AWS the account's `gsi1` partition, never a
    /// scan; a campaign created a moment ago may be missing for about a second).
    async fn list_campaign_page(
        &self,
        account_id: &str,
        status: Option<CampaignStatus>,
        before: Option<&CampaignPosition>,
        limit: u32,
    ) -> StoreResult<CampaignPage>;
    /// An unexpired idempotency record (expired ones read as `None`).
    async fn get_idempotency(
        &self,
        account_id: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreResult<Option<IdempotencyRecord>>;
    /// Frees `key` (its record is removed, or made expired) if its record still names
    /// `campaign_id`; `Ok(())` also when there is none or it names another campaign.
    /// Used when a create is answered with a failure after its write (its first stage
    /// message could not be queued, so the campaign was failed): the client was told to
    /// retry, and its retry must create anew, not replay a campaign that will never run.
    async fn release_idempotency(
        &self,
        account_id: &str,
        key: &str,
        campaign_id: Uuid,
    ) -> StoreResult<()>;
    /// Videos reserved against the account in the period.
    async fn quota_used(&self, account_id: &str, period: &str) -> StoreResult<u32>;
    /// One atomic step of the status machine: replaces the campaign with `next` only if
    /// its stored status is still `expected` and its stored `revision` is still
    /// `next.revision - 1` (callers read at revision r and write r + 1); gives `refund` videos back to the quota of
    /// `next.quota_period` (never taking it below zero); and stores `event` (the terminal
    /// notification) when given. Either all of that is written or none of it: `Stale`
    /// (carrying the stored campaign) and `Err` write nothing — except as below.
    /// `NotFound`: there is no such campaign.
    ///
    /// When the transition is applied with an event, the store itself hands the event's
    /// first delivery (`StageMessage::webhook`) to the stage queue. The local backend
    /// queues it in the same transaction. On AWS the SQS send follows the committed write;
    /// if that send fails the call returns `Unavailable` although the transition (and
    /// event) are committed, and the caller's retry — which then gets `Stale` with a
    /// terminal campaign — must re-queue the events that never started (see
    /// `pipeline::advance`). A duplicated message is harmless: attempts are claimed.
    /// The same write adds `stats::produced_by(expected, next)` to the account's
    /// counters, so they count each campaign's videos exactly once.
    /// Moves the end of the campaign's stage claim to `until_ms`, only while `holder`
    /// still holds it; the revision is left alone (the holder's next transition is
    /// written from the revision it read). `Ok(false)`: the claim is gone or another's.
    async fn renew_lease(&self, id: Uuid, holder: &str, until_ms: i64) -> StoreResult<bool>;

    async fn commit_transition(
        &self,
        next: &Campaign,
        expected: CampaignStatus,
        refund: u32,
        event: Option<&WebhookEvent>,
    ) -> StoreResult<TransitionOutcome>;
}

/// Where a campaign sits in its account's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CampaignPosition {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl CampaignPosition {
    pub fn of(campaign: &Campaign) -> Self {
        CampaignPosition {
            created_at: campaign.created_at,
            id: campaign.id,
        }
    }
}

/// A page of [`CampaignStore::list_campaign_page`].
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignPage {
    pub campaigns: Vec<Campaign>,
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TransitionOutcome {
    Applied,
    /// The stored campaign was no longer in the expected status; nothing was written.
    Stale(Box<Campaign>),
}

/// Terminal-transition events and their delivery attempts.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn get_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
    ) -> StoreResult<Option<WebhookEvent>>;
    /// The campaign's events, oldest first.
    async fn list_events(&self, campaign_id: Uuid) -> StoreResult<Vec<WebhookEvent>>;
    /// Records attempt `attempt.number` as started, only if the event is pending, has
    /// exactly `number - 1` attempts and budget left. `Ok(None)`: someone else claimed it
    /// or nothing is due — do not send.
    async fn claim_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<Option<WebhookEvent>>;
    /// Completes a claimed attempt and moves the event to `state`.
    async fn finish_attempt(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        attempt: &DeliveryAttempt,
        state: DeliveryState,
        next_attempt_at_ms: i64,
    ) -> StoreResult<()>;
    /// Manual redelivery: pending again with `extra` more attempts. `Ok(None)` if the
    /// event is still pending (a delivery is under way).
    async fn reopen_event(
        &self,
        campaign_id: Uuid,
        event_id: &str,
        extra: u32,
        now_ms: i64,
    ) -> StoreResult<Option<WebhookEvent>>;
}

/// Sliding-window counters (SPEC §3). `admit` is one atomic step: decide with
/// `limiter::decide` and, when admitted, record the admission.
#[async_trait]
pub trait WindowCounters: Send + Sync {
    async fn admit(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<Decision>;
}

/// The hand-off between pipeline stages.
#[async_trait]
pub trait StageQueue: Send + Sync {
    /// Queues `message`, invisible to consumers for `delay_secs` (at most 900, SQS's cap).
    async fn send(&self, message: &StageMessage, delay_secs: u32) -> StoreResult<()>;
}

/// Media files (page snapshots, screens, audio, videos, thumbnails) under deterministic
/// keys ([`media_key_is_valid`]): a directory locally, an S3 bucket on AWS. Writing a
/// key twice replaces it whole — readers never see half a file.
#[async_trait]
pub trait MediaStore: Send + Sync {
    async fn put_media(&self, key: &str, body: Bytes, content_type: &str) -> StoreResult<()>;
    /// `Ok(None)`: no such file.
    async fn get_media(&self, key: &str) -> StoreResult<Option<Bytes>>;
    /// A URL anyone holding it can download `key` from until `ttl` has passed (S3
    /// presigned GET; locally a signed link to `reelforge serve`).
    async fn download_url(&self, key: &str, ttl: std::time::Duration) -> StoreResult<String>;
    /// Removes `key`; `Ok(())` also when there was no such file.
    async fn delete_media(&self, key: &str) -> StoreResult<()>;
    /// Whether `key` is stored, without reading it (S3 answers a HEAD).
    async fn media_exists(&self, key: &str) -> StoreResult<bool> {
        Ok(self.get_media(key).await?.is_some())
    }
}

pub use crate::media_key::{media_key_is_valid, MAX_MEDIA_KEY};

/// An account's style profiles (`font_profile`, `media_profile`, `voice_profile`,
/// `playlist`, `voice`), stored as validated JSON documents.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProfileRecord {
    pub account_id: String,
    pub kind: String,
    pub id: String,
    pub doc: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// Stores a new record, refused (`LimitReached`) when the account already has `cap`
    /// records of the kind. Atomic under concurrent creates.
    async fn create_profile(&self, record: &ProfileRecord, cap: u32) -> StoreResult<()>;
    /// Replaces an existing record; `Ok(false)`: there is no such record.
    async fn replace_profile(&self, record: &ProfileRecord) -> StoreResult<bool>;
    async fn get_profile(
        &self,
        account_id: &str,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<ProfileRecord>>;
    /// Oldest first.
    async fn list_profiles(&self, account_id: &str, kind: &str) -> StoreResult<Vec<ProfileRecord>>;
    /// `Ok(false)`: there was no such record.
    async fn delete_profile(&self, account_id: &str, kind: &str, id: &str) -> StoreResult<bool>;
}

/// A production tool (browser, renderer, voice or script service) failed; the text is
/// for logs, and the stage that called it is retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

/// One page to capture: what it is (`page`, or the language of an `hreflang` page) and
/// the HTML file it was saved to.
#[derive(Debug, Clone, PartialEq)]
pub struct PageSource {
    pub variant: String,
    pub html: std::path::PathBuf,
}

/// A page captured at one output size: the whole page as one image (the output's width,
/// as tall as the page up to a limit) and where its parts are.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PageShot {
    pub variant: String,
    pub size: crate::render::FrameSize,
    /// A PNG file.
    pub image: std::path::PathBuf,
    pub layout: crate::layout::PageLayout,
}

/// Full-page captures of HTML documents (headless Chromium on both backends).
#[async_trait]
pub trait PageCapture: Send + Sync {
    /// Every page at every size (`size` is the viewport: the output frame), images written
    /// into `out_dir`.
    async fn capture(
        &self,
        pages: &[PageSource],
        sizes: &[crate::render::FrameSize],
        out_dir: &std::path::Path,
    ) -> Result<Vec<PageShot>, ToolError>;
}

/// One video to render: a plan whose paths are media keys, and where its outputs go.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RenderJob {
    pub plan: crate::render::RenderPlan,
    /// The outputs are `{output_stem}.mp4` and `{output_stem}.jpg` (thumbnail).
    pub output_stem: String,
    /// Carried by asynchronous jobs to their completion events.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The user-metadata key of a render job that names the thumbnail it captures (a media
/// key under the job's output stem); the job's completion records it on the video.
pub const THUMBNAIL_METADATA: &str = "thumbnail_key";

/// What starting a render did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderStarted {
    /// The outputs are stored (local ffmpeg renders while asked).
    Finished { duration_ms: u64 },
    /// A job was submitted; its end arrives as a [`JobStateChange`].
    Submitted { job_id: String },
}

/// Renders videos from plans: ffmpeg locally, MediaConvert jobs on AWS.
#[async_trait]
pub trait VideoRenderer: Send + Sync {
    async fn start(&self, job: &RenderJob) -> Result<RenderStarted, ToolError>;
    /// A submitted job's end, `None` while it runs.
    async fn job_state(&self, job_id: &str) -> Result<Option<JobStateChange>, ToolError>;
    /// Gives up a submitted job whose result is no longer wanted (its render deadline
    /// passed): work still queued for it does nothing. Best effort; a renderer that
    /// renders while asked has nothing to give up.
    async fn cancel(&self, _job_id: &str) -> Result<(), ToolError> {
        Ok(())
    }
}

/// A "MediaConvert Job State Change" EventBridge event (see
/// `events/render-events.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStateChange {
    pub job_id: String,
    /// COMPLETE, ERROR, CANCELED, PROGRESSING, INPUT_INFORMATION, STATUS_UPDATE, ...
    pub status: String,
    pub user_metadata: BTreeMap<String, String>,
    /// Duration of the first output (COMPLETE events).
    pub output_duration_ms: Option<u64>,
    /// `"<errorCode>: <errorMessage>"` (ERROR events).
    pub error_message: Option<String>,
}

/// Largest watermark upload.
pub const MAX_WATERMARK_BYTES: usize = 2 * 1024 * 1024;
/// Largest end-clip upload: Lambda's request payload is 6 MB after base64, 4 MiB of file fits.
pub const MAX_END_CLIP_BYTES: usize = 4 * 1024 * 1024;
/// Longest end clip.
pub const MAX_END_CLIP_MS: u64 = 15_000;
/// Largest music upload.
pub const MAX_MUSIC_BYTES: usize = 8 * 1024 * 1024;
/// Longest music track.
pub const MAX_MUSIC_MS: u64 = 5 * 60 * 1000;

/// An uploaded media-profile file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    Watermark,
    EndClip,
    /// A media profile's music track (MP3, M4A or WAV).
    Music,
}

impl UploadKind {
    pub fn from_segment(segment: &str) -> Option<UploadKind> {
        match segment {
            "watermark" => Some(UploadKind::Watermark),
            "end-clip" => Some(UploadKind::EndClip),
            "music" => Some(UploadKind::Music),
            _ => None,
        }
    }

    pub fn max_bytes(self) -> usize {
        match self {
            UploadKind::Watermark => MAX_WATERMARK_BYTES,
            UploadKind::EndClip => MAX_END_CLIP_BYTES,
            UploadKind::Music => MAX_MUSIC_BYTES,
        }
    }
}

/// Why an uploaded file was refused, in words for the customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UploadRefused(pub String);

/// Decodes an uploaded file fully before it is stored (its signature was checked first).
#[async_trait]
pub trait UploadInspector: Send + Sync {
    async fn inspect(&self, kind: UploadKind, bytes: &[u8]) -> Result<(), UploadRefused>;
}
