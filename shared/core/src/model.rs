//! Records: accounts, keys, campaigns with their videos, idempotency records.

use crate::plans::Plan;
pub use crate::publish::{PublishRequest, VideoReview};
use crate::render::FrameSize;
use crate::string_enum::string_enum;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub plan: Plan,
    /// Only meaningful on Enterprise; other plans take the plan table's figure.
    pub videos_per_month: Option<u32>,
    pub webhook_secret: String,
    /// After a rotation the old secret keeps signing (beside the new one) until
    /// `previous_webhook_secret_expires_at`, so receivers can switch without a gap.
    #[serde(default)]
    pub previous_webhook_secret: Option<String>,
    #[serde(default)]
    pub previous_webhook_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// The secrets that sign a delivery at `now`: the current one first.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.webhook_secret.as_str()];
        if let (Some(old), Some(until)) = (
            &self.previous_webhook_secret,
            self.previous_webhook_secret_expires_at,
        ) {
            if now < until {
                secrets.push(old);
            }
        }
        secrets
    }

    pub fn videos_quota(&self) -> u32 {
        videos_quota(self.plan, self.videos_per_month)
    }
}

pub fn videos_quota(plan: Plan, videos_per_month: Option<u32>) -> u32 {
    match plan {
        Plan::Enterprise => videos_per_month.unwrap_or(plan.videos_per_month()),
        other => other.videos_per_month(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// SHA-256 (hex) of the key: the only form of the key we keep, and its id.
    pub id: String,
    pub account_id: String,
    pub display: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub const SCOPE_CAMPAIGNS_CREATE: &str = "campaigns:create";

/// Who a valid key speaks for, with what the request path needs of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub account_id: String,
    pub plan: Plan,
    pub videos_per_month: Option<u32>,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

string_enum!(
    /// Languages a script can be written and spoken in.
    Language { En = "en", Ja = "ja", Ko = "ko", Zh = "zh", Es = "es", Fr = "fr", De = "de", Pt = "pt" }
);

string_enum!(
    Platform {
        YoutubeShorts = "youtube_shorts",
        Tiktok = "tiktok",
        InstagramReels = "instagram_reels",
        Youtube = "youtube",
    }
);

impl Platform {
    /// The output frame size: 1080x1920 for the short-form platforms, 1920x1080 for
    /// `youtube`.
    pub fn frame_size(self) -> FrameSize {
        match self {
            Platform::Youtube => FrameSize::LANDSCAPE_1080,
            _ => FrameSize::PORTRAIT_1080,
        }
    }
}

string_enum!(
    /// SPEC §5. The order of the non-terminal variants is the pipeline's order.
    CampaignStatus {
        Collecting = "collecting",
        Processing = "processing",
        Scripting = "scripting",
        Voiceover = "voiceover",
        Rendering = "rendering",
        Review = "review",
        Published = "published",
        Failed = "failed",
    }
);

impl CampaignStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, CampaignStatus::Published | CampaignStatus::Failed)
    }

    /// Never backwards, never skipped: each stage moves to the next; any non-terminal
    /// status may fail; only `review` may be published.
    pub fn can_become(self, next: CampaignStatus) -> bool {
        use CampaignStatus::*;
        match (self, next) {
            (Collecting, Processing)
            | (Processing, Scripting)
            | (Scripting, Voiceover)
            | (Voiceover, Rendering)
            | (Rendering, Review)
            | (Review, Published) => true,
            (from, Failed) => !from.is_terminal(),
            _ => false,
        }
    }
}

string_enum!(
    /// The pipeline's stages and the webhook sender, each with its own queue: the one list
    /// of them (queue names, `REELFORGE_QUEUE_URL_<STAGE>`, claims, dead letters).
    Stage {
        Collect = "collect",
        Process = "process",
        Script = "script",
        Voiceover = "voiceover",
        Render = "render",
        Webhook = "webhook",
        Rerender = "rerender",
        Publish = "publish",
    }
);

impl Stage {
    /// The pipeline's stages, in order.
    pub const PIPELINE: [Stage; 5] = [
        Stage::Collect,
        Stage::Process,
        Stage::Script,
        Stage::Voiceover,
        Stage::Render,
    ];

    /// The stages after review (SPEC §11): a video's edited script spoken and rendered
    /// again, and the uploads to publishing destinations. They work on a campaign in
    /// `review` without moving it along the pipeline, and never fail it.
    pub const AFTER_REVIEW: [Stage; 2] = [Stage::Rerender, Stage::Publish];

    /// Every stage a stage worker takes (all but the webhook sender's).
    pub const WORK: [Stage; 7] = [
        Stage::Collect,
        Stage::Process,
        Stage::Script,
        Stage::Voiceover,
        Stage::Render,
        Stage::Rerender,
        Stage::Publish,
    ];

    /// The status a pipeline stage works in (and names as `failed_stage`); `None` for the
    /// webhook sender and the stages after review.
    pub fn status(self) -> Option<CampaignStatus> {
        Some(match self {
            Stage::Collect => CampaignStatus::Collecting,
            Stage::Process => CampaignStatus::Processing,
            Stage::Script => CampaignStatus::Scripting,
            Stage::Voiceover => CampaignStatus::Voiceover,
            Stage::Render => CampaignStatus::Rendering,
            Stage::Webhook | Stage::Rerender | Stage::Publish => return None,
        })
    }

    /// The stage whose message moves a campaign on from `status`.
    pub fn working_in(status: CampaignStatus) -> Option<Stage> {
        Stage::PIPELINE
            .into_iter()
            .find(|stage| stage.status() == Some(status))
    }

    /// The stage after this one; `None` after rendering (review waits for a person).
    pub fn next(self) -> Option<Stage> {
        let i = Stage::PIPELINE.iter().position(|&s| s == self)?;
        Stage::PIPELINE.get(i + 1).copied()
    }
}

string_enum!(
    VideoStatus { Queued = "queued", Rendering = "rendering", Ready = "ready", Failed = "failed" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Video {
    pub id: Uuid,
    pub platform: Platform,
    pub language: Language,
    pub status: VideoStatus,
    /// Storage key of the MP4 once rendered; turned into a time-limited `file_url`.
    pub file_key: Option<String>,
    pub duration_seconds: Option<f64>,
    pub published_at: Option<DateTime<Utc>>,
    pub credits_cost: Option<u32>,
    /// Storage key of the video's thumbnail (JPEG), once rendered.
    #[serde(default)]
    pub thumbnail_key: Option<String>,
    /// How the video's script was written (`page_language`, `machine_translated`,
    /// `localized_template`): customers can see a text that is not the page's own words.
    #[serde(default)]
    pub script_source: Option<String>,
    /// The MediaConvert job rendering the video (aws backend), once submitted.
    #[serde(default)]
    pub render_job: Option<String>,
    /// Script edits and publications after review (SPEC §11); empty until then.
    #[serde(default, skip_serializing_if = "VideoReview::is_empty")]
    pub review: VideoReview,
}

impl Video {
    /// `videos/{campaign_id}/{vertical|horizontal}_{lang}_{video_id}`: the deterministic
    /// storage key of the video without its extension (`.mp4`, thumbnail `.jpg`).
    pub fn media_stem(&self, campaign_id: Uuid) -> String {
        let shape = match self.platform {
            Platform::Youtube => "horizontal",
            _ => "vertical",
        };
        format!("videos/{campaign_id}/{shape}_{}_{}", self.language, self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: Uuid,
    pub job_id: String,
    pub account_id: String,
    pub status: CampaignStatus,
    pub url: String,
    pub title: String,
    pub languages: Vec<Language>,
    pub platforms: Vec<Platform>,
    pub webhook_url: Option<String>,
    pub playlist_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub videos: Vec<Video>,
    pub error: Option<String>,
    pub failed_stage: Option<CampaignStatus>,
    /// The quota month the videos were reserved in, and how many are still reserved.
    pub quota_period: String,
    pub videos_reserved: u32,
    /// Bumped by every stored transition: `commit_transition` only applies to the
    /// revision it was read at, so two workers can never both write from the same read.
    #[serde(default)]
    pub revision: u64,
    /// The worker running a stage's expensive step, so a duplicated message waits
    /// instead of doing the work again.
    #[serde(default)]
    pub lease: Option<StageLease>,
    /// When the campaign entered each status after `collecting` (which starts at
    /// `created_at`), in order: where the time went, per stage.
    #[serde(default)]
    pub history: Vec<StatusEntered>,
    /// The playlist's styles as they were when the campaign was created (later edits of
    /// the profiles don't change a campaign under way).
    #[serde(default)]
    pub style: Option<CampaignStyle>,
    /// The publish request (SPEC §11), once one was accepted: a repeat answers with the
    /// state instead of publishing again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<PublishRequest>,
}

/// What `playlist_id` applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignStyle {
    pub playlist_id: String,
    /// Styles the burned-in captions.
    #[serde(default)]
    pub font_profile: Option<crate::styles::FontProfile>,
    /// Adds the watermark and the end clip (its files' media keys).
    #[serde(default)]
    pub media_profile: Option<crate::styles::MediaProfile>,
    /// The voice the voiceover is spoken with: the voice profile's provider (which the
    /// deployment's engine must be) and the first of its voices, if it has one.
    #[serde(default)]
    pub voice: Option<VoiceChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceChoice {
    pub voice_profile_id: String,
    pub provider: crate::styles::ProviderId,
    /// The provider's voice id; `None`: the provider's default for each language.
    pub provider_voice_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEntered {
    pub status: CampaignStatus,
    pub at_ms: i64,
}

/// A claim on a campaign's current stage, taken with a conditional write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageLease {
    pub stage: Stage,
    pub holder: String,
    pub until_ms: i64,
}

/// Videos held against an account's monthly quota, written atomically with the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaReservation {
    pub account_id: String,
    pub period: String,
    pub videos: u32,
    pub quota: u32,
}

/// The first response to a request carrying `Idempotency-Key`, kept 24 h.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub account_id: String,
    pub key: String,
    pub body_sha256: String,
    pub status: u16,
    pub response_body: String,
    pub campaign_id: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// A unit of pipeline work handed from stage to stage. Webhook deliveries travel the
/// same way (stage `webhook`, with the event id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageMessage {
    pub stage: Stage,
    pub campaign_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

impl StageMessage {
    pub fn stage(stage: Stage, campaign_id: Uuid) -> Self {
        StageMessage {
            stage,
            campaign_id,
            event_id: None,
        }
    }

    pub fn webhook(campaign_id: Uuid, event_id: &str) -> Self {
        StageMessage {
            stage: Stage::Webhook,
            campaign_id,
            event_id: Some(event_id.to_string()),
        }
    }
}

string_enum!(
    DeliveryState { Pending = "pending", Delivered = "delivered", Failed = "failed" }
);

/// One try at delivering an event. Claimed (written) before the request is sent, so a
/// redelivered queue message can never send the same attempt twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub number: u32,
    pub started_at_ms: i64,
    pub finished: bool,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: Option<u64>,
}

impl DeliveryAttempt {
    /// Attempt `number`, about to be claimed at `at_ms`.
    pub fn starting(number: u32, at_ms: i64) -> Self {
        DeliveryAttempt {
            number,
            started_at_ms: at_ms,
            finished: false,
            status_code: None,
            error: None,
            latency_ms: None,
        }
    }
}

/// A terminal-transition notification, created exactly once with its transition. The
/// body is fixed at creation so every attempt sends the same bytes under the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub id: String,
    pub campaign_id: Uuid,
    pub account_id: String,
    pub event: String,
    pub url: String,
    pub body: String,
    pub created_at_ms: i64,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
    /// Attempts allowed so far: 3, and 3 more for each manual redelivery.
    pub attempt_budget: u32,
    pub next_attempt_at_ms: i64,
}

/// SPEC §6: at most three attempts in total per delivery.
pub const WEBHOOK_ATTEMPTS: u32 = 3;

/// A claimed attempt still unfinished after this long was interrupted (its worker died;
/// a live one gives up after the 10 s delivery timeout), and the next may be claimed.
pub const ATTEMPT_STALE_AFTER_MS: i64 = 60_000;

impl WebhookEvent {
    /// Whether attempt `attempt.number` may start now: the event is pending with budget
    /// left, the attempt before it has finished (or was interrupted), and its retry time
    /// has come. Both backends enforce exactly this inside their conditional write.
    pub fn can_claim(&self, attempt: &DeliveryAttempt) -> bool {
        let previous_done = self.attempts.last().is_none_or(|last| {
            last.finished || last.started_at_ms <= attempt.started_at_ms - ATTEMPT_STALE_AFTER_MS
        });
        self.state == DeliveryState::Pending
            && self.attempts.len() as u32 + 1 == attempt.number
            && attempt.number <= self.attempt_budget
            && previous_done
            && self.next_attempt_at_ms <= attempt.started_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_machine_never_skips_or_goes_back() {
        use CampaignStatus::*;
        let path = [
            Collecting, Processing, Scripting, Voiceover, Rendering, Review, Published,
        ];
        for (i, a) in CampaignStatus::ALL.iter().enumerate() {
            for b in CampaignStatus::ALL {
                let expected = match (
                    path.iter().position(|s| s == a),
                    path.iter().position(|s| s == b),
                ) {
                    _ if *b == Failed => !a.is_terminal(),
                    (Some(x), Some(y)) => y == x + 1,
                    _ => false,
                };
                assert_eq!(a.can_become(*b), expected, "{a} -> {b} (row {i})");
            }
        }
    }

    #[test]
    fn enterprise_quota_is_per_account() {
        assert_eq!(videos_quota(Plan::Enterprise, Some(7)), 7);
        assert_eq!(videos_quota(Plan::Enterprise, None), 1000);
        assert_eq!(videos_quota(Plan::Growth, Some(7)), 40);
    }
}
