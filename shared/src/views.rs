//! The JSON shapes clients see: a campaign (GET /api/v1/campaigns/:id) and its videos,
//! which the webhook body repeats.

use crate::model::{Campaign, CampaignStatus, Video};
use chrono::SecondsFormat;
use serde_json::{json, Value};

/// The video shape shared by GET and the webhook body.
pub fn video_json(v: &Video, file_url: Option<String>) -> Value {
    json!({
        "id": v.id,
        "platform": v.platform,
        "language": v.language,
        "status": v.status,
        "file_url": file_url,
        "duration_seconds": v.duration_seconds,
        "published_at": v.published_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "credits_cost": v.credits_cost,
    })
}

pub fn campaign_json(c: &Campaign) -> Value {
    let mut body = json!({
        "success": true,
        "campaign_id": c.id,
        "status": c.status,
        "url": c.url,
        "title": c.title,
        "languages": c.languages,
        "created_at": c.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "videos": c.videos.iter().map(|v| video_json(v, None)).collect::<Vec<_>>(),
    });
    if c.status == CampaignStatus::Failed {
        body["error"] = json!(c.error);
        body["failed_stage"] = json!(c.failed_stage);
    }
    body
}
