//! From review to published (SPEC §11):
//! PUT  /api/v1/campaigns/:id/videos/:video_id/script — replace one video's script; the
//!      `rerender` stage speaks and renders it again.
//! POST /api/v1/campaigns/:id/publish — mark the videos published, or hand them to the
//!      `publish` stage for the destinations named.

use super::auth::{admit, store_failure};
use super::campaigns::{owned_campaign, plan_gate};
use super::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::context::Context;
use crate::lifecycle::{advance, update};
use http::StatusCode;
use reelforge_core::edit::check_edited_script;
use reelforge_core::limiter;
use reelforge_core::model::{
    Campaign, CampaignStatus, Principal, Stage, StageMessage, VideoStatus,
};
use reelforge_core::publish::{
    Destination, Publication, PublishRequest, ScriptEdit, DESTINATION_KIND,
    MAX_DESTINATIONS_PER_PUBLISH, MAX_EDITS_PER_VIDEO,
};
use reelforge_core::views::{campaign_json, video_json, video_links, LINK_TTL};
use serde_json::{json, Map, Value};
use uuid::Uuid;

fn conflict(message: &str) -> ApiResponse {
    ApiResponse::error(StatusCode::CONFLICT, message)
}

fn bad_request(message: &str) -> ApiResponse {
    ApiResponse::error(StatusCode::BAD_REQUEST, message)
}

fn too_large(req: &ApiRequest) -> Option<ApiResponse> {
    (req.body_too_large || req.body.len() > MAX_BODY_BYTES).then(|| {
        ApiResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is larger than 16 KiB",
        )
    })
}

/// The body as a JSON object (an empty body is an empty object when `empty_ok`); `Err`
/// is the message of a 400.
fn object(body: &[u8], empty_ok: bool) -> Result<Map<String, Value>, String> {
    if empty_ok && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("Request body must be a JSON object".into()),
    }
}

/// Refuses fields other than `allowed`, naming the first (cut to 40 characters).
fn only(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => {
            let shown: String = k.chars().take(40).collect();
            Err(format!(
                "Unknown field {shown:?}; allowed: {}",
                allowed.join(", ")
            ))
        }
    }
}

/// Why a request is refused: a 409 (with its message) or a 404.
enum Refusal {
    Conflict(String),
    NoVideo,
}

impl Refusal {
    fn response(&self) -> ApiResponse {
        match self {
            Refusal::Conflict(m) => conflict(m),
            Refusal::NoVideo => ApiResponse::error(StatusCode::NOT_FOUND, "Video not found"),
        }
    }
}

/// Why a campaign in this state takes no edit or publish request.
fn not_in_review(c: &Campaign, what: &str) -> String {
    format!(
        "Only a campaign in review can be {what}; this one is {}",
        c.status
    )
}

/// Queues a stage message, retrying a transient failure twice.
async fn hand_to(app: &Context, stage: Stage, campaign_id: Uuid) -> bool {
    let message = StageMessage::stage(stage, campaign_id);
    for tries in 0..3u64 {
        match app.ports.queue.send(&message, 0).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(error = %e, %campaign_id, stage = %stage, "queueing failed");
                tokio::time::sleep(std::time::Duration::from_millis(50 * (tries + 1))).await;
            }
        }
    }
    false
}

pub(super) async fn edit_script(
    app: &Context,
    req: &ApiRequest,
    principal: &Principal,
    id: &str,
    video_id: &str,
) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    if let Some(refused) = too_large(req) {
        return refused;
    }
    let body = match object(&req.body, false) {
        Ok(m) => m,
        Err(message) => return bad_request(&message),
    };
    if let Err(message) = only(&body, &["script"]) {
        return bad_request(&message);
    }
    let Some(script) = body.get("script").and_then(Value::as_str) else {
        return bad_request("script is required: a string of 1 to 1500 characters");
    };
    let campaign = match owned_campaign(app, principal, id).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let video_not_found = || ApiResponse::error(StatusCode::NOT_FOUND, "Video not found");
    let Ok(video_id) = Uuid::parse_str(video_id) else {
        return video_not_found();
    };
    let Some(video) = campaign.videos.iter().find(|v| v.id == video_id) else {
        return video_not_found();
    };
    let script = match check_edited_script(script, video.language) {
        Ok(s) => s,
        Err(e) => return bad_request(&e.0),
    };
    if let Err(refusal) = editable(&campaign, video_id) {
        return refusal.response();
    }
    // Metered like creation (SPEC §3's account layer), after the checks, as a create is.
    let window = limiter::account_window_key(&principal.account_id);
    if let Err(resp) = admit(app, &window, principal.plan.create_per_minute()).await {
        return resp.with_plan(principal.plan);
    }
    let now_ms = app.clock.now_ms();
    let mut refused: Option<Refusal> = None;
    let written = update(app, campaign.id, |c| {
        refused = editable(c, video_id).err();
        if refused.is_some() {
            return false;
        }
        let Some(v) = c.videos.iter_mut().find(|v| v.id == video_id) else {
            return false;
        };
        v.review.edits += 1;
        v.review.pending_edit = Some(ScriptEdit {
            number: v.review.edits,
            script: script.clone(),
            requested_at_ms: now_ms,
            render_job: None,
        });
        v.review.edit_error = None;
        v.status = VideoStatus::Rendering;
        true
    })
    .await;
    let stored = match written {
        Ok(Some(c)) => c,
        Ok(None) => return ApiResponse::error(StatusCode::NOT_FOUND, "Campaign not found"),
        Err(e) => {
            tracing::error!(error = %e, "storing a script edit failed");
            return ApiResponse::internal();
        }
    };
    if let Some(refusal) = refused {
        return refusal.response();
    }
    if !hand_to(app, Stage::Rerender, campaign.id).await {
        // No video may wait for a message that will never come: the edit is taken back
        // (it does not count) and the client told to retry.
        let _ = update(app, campaign.id, |c| {
            let Some(v) = c.videos.iter_mut().find(|v| v.id == video_id) else {
                return false;
            };
            let Some(edit) = &v.review.pending_edit else {
                return false;
            };
            if edit.render_job.is_some() {
                return false;
            }
            v.review.pending_edit = None;
            v.review.edits = v.review.edits.saturating_sub(1);
            v.status = VideoStatus::Ready;
            true
        })
        .await;
        return ApiResponse::internal();
    }
    tracing::info!(campaign_id = %campaign.id, %video_id, "script edit accepted");
    let links = match video_links(&*app.ports.media, &stored, LINK_TTL).await {
        Ok(l) => l,
        Err(e) => return store_failure(&e),
    };
    let video = stored.videos.iter().find(|v| v.id == video_id);
    ApiResponse::json(
        StatusCode::ACCEPTED,
        &json!({
            "success": true,
            "campaign_id": stored.id,
            "video": video.map(|v| video_json(v, links.get(&v.id))),
            "edits_left": video.map(|v| MAX_EDITS_PER_VIDEO.saturating_sub(v.review.edits)),
        }),
    )
}

/// Whether the campaign takes an edit of this video now (else the 409 that says why).
fn editable(c: &Campaign, video_id: Uuid) -> Result<(), Refusal> {
    if c.status != CampaignStatus::Review {
        return Err(Refusal::Conflict(not_in_review(c, "edited")));
    }
    if c.publish.is_some() {
        return Err(Refusal::Conflict(
            "The campaign is being published; its scripts can no longer be edited".into(),
        ));
    }
    let Some(v) = c.videos.iter().find(|v| v.id == video_id) else {
        return Err(Refusal::NoVideo);
    };
    if v.review.pending_edit.is_some() {
        return Err(Refusal::Conflict(
            "The video's previous edit is still rendering; edit it again when it is ready".into(),
        ));
    }
    if v.status != VideoStatus::Ready {
        return Err(Refusal::Conflict(format!(
            "Only a ready video can be edited; this one is {}",
            v.status
        )));
    }
    if v.review.edits >= MAX_EDITS_PER_VIDEO {
        return Err(Refusal::Conflict(format!(
            "A video can be edited at most {MAX_EDITS_PER_VIDEO} times"
        )));
    }
    Ok(())
}

/// The publish request's body, checked against the campaign and the account.
struct Chosen {
    video_ids: Vec<Uuid>,
    destinations: Vec<(String, Destination)>,
}

async fn choose(
    app: &Context,
    principal: &Principal,
    c: &Campaign,
    body: &Map<String, Value>,
) -> Result<Chosen, ApiResponse> {
    only(body, &["video_ids", "destinations"]).map_err(|m| bad_request(&m))?;
    let strings = |field: &str| -> Result<Option<Vec<String>>, String> {
        match body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| format!("{field} must be an array of strings")),
            Some(_) => Err(format!("{field} must be an array of strings")),
        }
    };
    let video_ids = match strings("video_ids").map_err(|m| bad_request(&m))? {
        None => c
            .videos
            .iter()
            .filter(|v| v.status == VideoStatus::Ready)
            .map(|v| v.id)
            .collect(),
        Some(ids) if ids.is_empty() => {
            return Err(bad_request("video_ids must name at least one video"))
        }
        Some(ids) => {
            let mut out: Vec<Uuid> = Vec::new();
            for raw in ids {
                let shown: String = raw.chars().take(40).collect();
                let id = Uuid::parse_str(&raw)
                    .ok()
                    .filter(|id| c.videos.iter().any(|v| v.id == *id))
                    .ok_or_else(|| {
                        bad_request(&format!(
                            "video_ids: {shown:?} is not a video of this campaign"
                        ))
                    })?;
                if out.contains(&id) {
                    return Err(bad_request(&format!("video_ids: {shown:?} is named twice")));
                }
                out.push(id);
            }
            out
        }
    };
    for id in &video_ids {
        if let Some(v) = c.videos.iter().find(|v| v.id == *id) {
            if v.status != VideoStatus::Ready {
                return Err(conflict(&format!(
                    "Video {id} is {}; only ready videos can be published",
                    v.status
                )));
            }
        }
    }
    if video_ids.is_empty() {
        return Err(conflict("The campaign has no ready video to publish"));
    }
    let mut destinations: Vec<(String, Destination)> = Vec::new();
    let names = strings("destinations")
        .map_err(|m| bad_request(&m))?
        .unwrap_or_default();
    if names.len() > MAX_DESTINATIONS_PER_PUBLISH {
        return Err(bad_request(&format!(
            "destinations may name at most {MAX_DESTINATIONS_PER_PUBLISH} destinations"
        )));
    }
    for name in names {
        let shown: String = name.chars().take(40).collect();
        if destinations.iter().any(|(d, _)| *d == name) {
            return Err(bad_request(&format!(
                "destinations: {shown:?} is named twice"
            )));
        }
        let record = app
            .ports
            .profiles
            .get_profile(&principal.account_id, DESTINATION_KIND, &name)
            .await
            .map_err(|e| store_failure(&e))?
            .ok_or_else(|| bad_request(&format!("destinations: {shown:?} does not exist")))?;
        let destination: Destination = serde_json::from_value(record.doc).map_err(|e| {
            tracing::error!(error = %e, "stored destination unreadable");
            ApiResponse::internal()
        })?;
        destinations.push((name, destination));
    }
    Ok(Chosen {
        video_ids,
        destinations,
    })
}

/// The campaign as the answer to a publish request (its current state: a repeat gets
/// the same).
async fn state(app: &Context, c: &Campaign) -> ApiResponse {
    match video_links(&*app.ports.media, c, LINK_TTL).await {
        Ok(links) => ApiResponse::json(StatusCode::ACCEPTED, &campaign_json(c, &links)),
        Err(e) => store_failure(&e),
    }
}

pub(super) async fn publish(
    app: &Context,
    req: &ApiRequest,
    principal: &Principal,
    id: &str,
) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    if let Some(refused) = too_large(req) {
        return refused;
    }
    let body = match object(&req.body, true) {
        Ok(m) => m,
        Err(message) => return bad_request(&message),
    };
    for _ in 0..8 {
        let campaign = match owned_campaign(app, principal, id).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        if campaign.publish.is_some() {
            return repeat(app, &campaign).await;
        }
        if campaign.status != CampaignStatus::Review {
            return conflict(&not_in_review(&campaign, "published"));
        }
        if campaign
            .videos
            .iter()
            .any(|v| v.review.pending_edit.is_some())
        {
            return conflict(
                "A video of this campaign is being rendered again after an edit; publish when it is ready",
            );
        }
        let chosen = match choose(app, principal, &campaign, &body).await {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        let request = PublishRequest {
            requested_at_ms: app.clock.now_ms(),
            video_ids: chosen.video_ids.clone(),
            destinations: chosen.destinations.iter().map(|(d, _)| d.clone()).collect(),
        };
        let now = app.clock.now();
        let written = if chosen.destinations.is_empty() {
            // The customer posts the files: published at once, with its event.
            advance(app, &campaign, CampaignStatus::Published, |c| {
                for v in &mut c.videos {
                    if request.video_ids.contains(&v.id) {
                        v.published_at = Some(now);
                    }
                }
                c.publish = Some(request.clone());
            })
            .await
        } else {
            crate::lifecycle::rewrite(app, &campaign, |c| {
                for v in &mut c.videos {
                    if request.video_ids.contains(&v.id) {
                        v.review.publications = chosen
                            .destinations
                            .iter()
                            .map(|(id, d)| Publication::pending(id, d.provider))
                            .collect();
                    }
                }
                c.publish = Some(request.clone());
            })
            .await
        };
        match written {
            Ok(true) => {}
            // Written meanwhile (a stage's claim, another request): look again.
            Ok(false) => continue,
            Err(e) => {
                tracing::error!(error = %e, "storing a publish request failed");
                return ApiResponse::internal();
            }
        }
        let stored = match app.ports.campaigns.get_campaign(campaign.id).await {
            Ok(Some(c)) => c,
            Ok(None) => return ApiResponse::internal(),
            Err(e) => return store_failure(&e),
        };
        if !chosen.destinations.is_empty() && !hand_to(app, Stage::Publish, campaign.id).await {
            // The request is recorded: a repeat queues it again (see `repeat`).
            return ApiResponse::internal();
        }
        tracing::info!(campaign_id = %campaign.id, destinations = chosen.destinations.len(), "publish accepted");
        return state(app, &stored).await;
    }
    ApiResponse::internal()
}

/// A publish request for a campaign already publishing or published: nothing is sent
/// again. While it is still publishing and no stage holds it, the hand-off may have been
/// lost, so the publisher's message is queued again (a copy is harmless: it waits for
/// the claim, and finished publications are never sent again).
async fn repeat(app: &Context, c: &Campaign) -> ApiResponse {
    let waiting = c.status == CampaignStatus::Review && c.lease.is_none();
    if waiting && !hand_to(app, Stage::Publish, c.id).await {
        return ApiResponse::internal();
    }
    state(app, c).await
}
