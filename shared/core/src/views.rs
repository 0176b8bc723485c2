//! The JSON shapes clients see: a campaign (GET /api/v1/campaigns/:id) and its videos,
//! which the webhook body repeats.

use crate::model::{Campaign, CampaignStatus, Video};
use crate::ports::{MediaStore, StoreResult};
use crate::publish::Publication;
use chrono::{SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// How long a `file_url` / `thumbnail_url` in a GET response works.
pub const LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// How long the links in a webhook body work. On AWS a presigned URL also stops working
/// when the signing role's session ends (hours); GET the campaign for fresh links.
pub const WEBHOOK_LINK_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Download links of a video: the MP4 and its thumbnail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoLinks {
    pub file_url: Option<String>,
    pub thumbnail_url: Option<String>,
}

/// Time-limited links for every stored video of `campaign`.
pub async fn video_links(
    media: &dyn MediaStore,
    campaign: &Campaign,
    ttl: Duration,
) -> StoreResult<HashMap<Uuid, VideoLinks>> {
    let mut links = HashMap::new();
    for v in &campaign.videos {
        let mut l = VideoLinks::default();
        if let Some(key) = &v.file_key {
            l.file_url = Some(media.download_url(key, ttl).await?);
        }
        if let Some(key) = &v.thumbnail_key {
            l.thumbnail_url = Some(media.download_url(key, ttl).await?);
        }
        links.insert(v.id, l);
    }
    Ok(links)
}

/// The video shape shared by GET and the webhook body. `thumbnail_url` and
/// `script_source` are extensions to SPEC §5's fields; `publications` (SPEC §11) is there
/// once the video was sent to a destination.
pub fn video_json(v: &Video, links: Option<&VideoLinks>) -> Value {
    let mut body = json!({
        "id": v.id,
        "platform": v.platform,
        "language": v.language,
        "status": v.status,
        "file_url": links.and_then(|l| l.file_url.clone()),
        "thumbnail_url": links.and_then(|l| l.thumbnail_url.clone()),
        "duration_seconds": v.duration_seconds,
        "published_at": v.published_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "credits_cost": v.credits_cost,
        "script_source": v.script_source,
    });
    if !v.review.publications.is_empty() {
        body["publications"] =
            Value::Array(v.review.publications.iter().map(publication_json).collect());
    }
    body
}

/// SPEC §11's publication, with its attempts as an extension (when each started, the
/// provider's status codes, what went wrong).
pub fn publication_json(p: &Publication) -> Value {
    json!({
        "destination_id": p.destination_id,
        "provider": p.provider,
        "status": p.status,
        "external_id": p.external_id,
        "url": p.url,
        "error": p.error,
        "attempts": p.attempts.iter().map(|a| json!({
            "attempt": a.number,
            "at": Utc.timestamp_millis_opt(a.started_at_ms)
                .single()
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            "status_codes": a.status_codes,
            "error": a.error,
            "finished": a.finished,
        })).collect::<Vec<_>>(),
    })
}

pub fn videos_json(c: &Campaign, links: &HashMap<Uuid, VideoLinks>) -> Value {
    Value::Array(
        c.videos
            .iter()
            .map(|v| video_json(v, links.get(&v.id)))
            .collect(),
    )
}

pub fn campaign_json(c: &Campaign, links: &HashMap<Uuid, VideoLinks>) -> Value {
    let mut body = json!({
        "success": true,
        "campaign_id": c.id,
        "status": c.status,
        "url": c.url,
        "title": c.title,
        "languages": c.languages,
        "created_at": c.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "videos": videos_json(c, links),
    });
    if c.status == CampaignStatus::Failed {
        body["error"] = json!(c.error);
        body["failed_stage"] = json!(c.failed_stage);
    }
    body
}
