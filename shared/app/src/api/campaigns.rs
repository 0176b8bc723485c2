//! POST /api/v1/campaigns and GET /api/v1/campaigns/:id (SPEC §4, §5).

use super::auth::{admit, store_failure};
use super::{ApiRequest, ApiResponse, MAX_BODY_BYTES};
use crate::context::Context;
use http::StatusCode;
use reelforge_core::clock::quota_period;
use reelforge_core::create_body::{parse_create_body, CreateBody};
use reelforge_core::limiter;
use reelforge_core::model::CampaignStyle;
use reelforge_core::model::VoiceChoice;
use reelforge_core::model::{
    videos_quota, Campaign, CampaignStatus, IdempotencyRecord, Principal, QuotaReservation, Stage,
    StageMessage, Video, VideoStatus, IDEMPOTENCY_TTL_MS, SCOPE_CAMPAIGNS_CREATE,
};
use reelforge_core::ports::CreateOutcome;
use reelforge_core::styles::{
    FontProfile, MediaProfile, Playlist, ProviderId, Voice, VoiceProfile,
};
use reelforge_core::views::{campaign_json, video_links, LINK_TTL};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// A repeat's body matches the first when it is the same JSON value, whatever the key
/// order or white space; a body that is not JSON is compared byte for byte.
fn body_fingerprint(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<Value>(body)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    hex::encode(Sha256::digest(&canonical))
}

/// The request's `Idempotency-Key`, if any; `Err` when the header is present but unusable.
fn idempotency_key(req: &ApiRequest) -> Result<Option<String>, &'static str> {
    let Some(raw) = req.headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    match raw.to_str() {
        Ok(k)
            if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b)) =>
        {
            Ok(Some(k.to_string()))
        }
        _ => Err("Idempotency-Key must be 1 to 255 visible ASCII characters"),
    }
}

/// The first response again. If the first request's campaign still sits unclaimed in
/// `collecting` at its first revision, its first message may never have been sent (the
/// write's answer was lost, or the first request died before queueing): it is queued
/// again, so no campaign waits for a message that will not come. A duplicate is
/// harmless: stages claim the campaign.
async fn replay(app: &Context, record: &IdempotencyRecord) -> ApiResponse {
    if let Ok(id) = Uuid::parse_str(&record.campaign_id) {
        let waiting = match app.ports.campaigns.get_campaign(id).await {
            Ok(Some(c)) => {
                c.status == CampaignStatus::Collecting && c.revision == 0 && c.lease.is_none()
            }
            Ok(None) => false,
            Err(e) => return store_failure(&e),
        };
        if waiting {
            if let Err(e) = hand_to_collect(app, id).await {
                tracing::error!(error = %e, campaign_id = %id, "re-queue of collect on replay failed");
                return ApiResponse::internal();
            }
        }
    }
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::CREATED);
    let body: Value = serde_json::from_str(&record.response_body).unwrap_or(Value::Null);
    ApiResponse::json(status, &body).header("idempotent-replayed", "true")
}

pub(super) async fn create(app: &Context, req: &ApiRequest, principal: &Principal) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    create_on_plan(app, req, principal)
        .await
        .with_plan(principal.plan)
}

async fn create_on_plan(app: &Context, req: &ApiRequest, principal: &Principal) -> ApiResponse {
    if !principal.scopes.iter().any(|s| s == SCOPE_CAMPAIGNS_CREATE) {
        return ApiResponse::error(
            StatusCode::FORBIDDEN,
            "This API key lacks the campaigns:create scope",
        );
    }
    if req.body_too_large || req.body.len() > MAX_BODY_BYTES {
        return ApiResponse::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is larger than 16 KiB",
        );
    }
    let idem_key = match idempotency_key(req) {
        Ok(k) => k,
        Err(message) => return ApiResponse::error(StatusCode::BAD_REQUEST, message),
    };
    let fingerprint = body_fingerprint(&req.body);
    let now_ms = app.clock.now_ms();
    if let Some(key) = &idem_key {
        match app
            .ports
            .campaigns
            .get_idempotency(&principal.account_id, key, now_ms)
            .await
        {
            Ok(Some(rec)) if rec.body_sha256 == fingerprint => return replay(app, &rec).await,
            Ok(Some(_)) => return idempotency_conflict(),
            Ok(None) => {}
            Err(e) => return store_failure(&e),
        }
    }
    let body = match parse_create_body(&req.body, principal.plan, app.policy, &*app.resolver).await
    {
        Ok(b) => b,
        Err(message) => return ApiResponse::error(StatusCode::BAD_REQUEST, &message),
    };
    let style = match &body.playlist_id {
        None => None,
        Some(id) => match playlist_style(app, principal, id).await {
            Ok(style) => Some(style),
            Err(resp) => return resp,
        },
    };
    let window = limiter::account_window_key(&principal.account_id);
    let decision = match admit(app, &window, principal.plan.create_per_minute()).await {
        Ok(d) => d,
        Err(resp) => {
            // A concurrent first request with this key may have finished while we were
            // metered: a replay takes no rate slot, so answer with it rather than 429.
            if let Some(key) = &idem_key {
                if let Ok(Some(rec)) = app
                    .ports
                    .campaigns
                    .get_idempotency(&principal.account_id, key, now_ms)
                    .await
                {
                    return if rec.body_sha256 == fingerprint {
                        replay(app, &rec).await
                    } else {
                        idempotency_conflict()
                    };
                }
            }
            return resp;
        }
    };
    let mut campaign = new_campaign(app, principal, body);
    campaign.style = style;
    let reservation = QuotaReservation {
        account_id: principal.account_id.clone(),
        period: campaign.quota_period.clone(),
        videos: campaign.videos_reserved,
        quota: videos_quota(principal.plan, principal.videos_per_month),
    };
    let response_body = json!({
        "success": true,
        "campaign_id": campaign.id,
        "job_id": campaign.job_id,
        "status": campaign.status,
    });
    let record = idem_key.map(|key| IdempotencyRecord {
        account_id: principal.account_id.clone(),
        key,
        body_sha256: fingerprint,
        status: StatusCode::CREATED.as_u16(),
        response_body: response_body.to_string(),
        campaign_id: campaign.id.to_string(),
        created_at_ms: now_ms,
        expires_at_ms: now_ms + IDEMPOTENCY_TTL_MS,
    });
    let outcome = match app
        .ports
        .campaigns
        .create_campaign(&campaign, &reservation, record.as_ref())
        .await
    {
        // The write may have taken effect with its answer lost (a timeout, a dropped
        // connection): the campaign's id is new, so if it is there, this request wrote it,
        // and it must be queued like any other.
        Err(e) => match app.ports.campaigns.get_campaign(campaign.id).await {
            Ok(Some(_)) => Ok(CreateOutcome::Created),
            _ => Err(e),
        },
        written => written,
    };
    match outcome {
        Ok(CreateOutcome::Created) => {}
        Ok(CreateOutcome::QuotaExceeded { used }) => {
            return ApiResponse::json(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({
                    "success": false,
                    "error": "Monthly video quota exceeded",
                    "videos_used": used,
                    "videos_quota": reservation.quota,
                }),
            )
        }
        Ok(CreateOutcome::IdempotencyTaken) => {
            // A concurrent request with the same key won; answer as its repeat would be.
            let Some(mine) = record.as_ref() else {
                return ApiResponse::internal();
            };
            return match app
                .ports
                .campaigns
                .get_idempotency(&mine.account_id, &mine.key, now_ms)
                .await
            {
                Ok(Some(rec)) if rec.body_sha256 == mine.body_sha256 => replay(app, &rec).await,
                Ok(_) => idempotency_conflict(),
                Err(e) => store_failure(&e),
            };
        }
        Err(e) => return store_failure(&e),
    }
    if let Err(e) = hand_to_collect(app, campaign.id).await {
        // No campaign may wait for a message that will never come: fail it now (its
        // videos go back to the quota) and tell the client to retry.
        tracing::error!(error = %e, campaign_id = %campaign.id, "enqueue of collect failed");
        let reason = "The campaign could not be queued for processing; nothing was charged";
        match crate::lifecycle::fail(app, campaign.id, CampaignStatus::Collecting, reason).await {
            // The client is told to retry: with its Idempotency-Key that retry must create
            // anew, not replay the 201 of the campaign just failed.
            Ok(()) => {
                if let Some(rec) = &record {
                    if let Err(e) = app
                        .ports
                        .campaigns
                        .release_idempotency(&rec.account_id, &rec.key, campaign.id)
                        .await
                    {
                        tracing::error!(error = %e, campaign_id = %campaign.id, "could not release the idempotency key of the unqueued campaign");
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, campaign_id = %campaign.id, "could not fail the unqueued campaign");
            }
        }
        return ApiResponse::internal();
    }
    tracing::info!(campaign_id = %campaign.id, account_id = %principal.account_id, videos = campaign.videos_reserved, "campaign created");
    crate::metrics::count("CampaignsCreated", None);
    ApiResponse::json(StatusCode::CREATED, &response_body)
        .header("x-ratelimit-remaining", decision.remaining)
        .header("x-ratelimit-reset", decision.reset_ms)
}

/// Queues the campaign's first stage, retrying a transient failure twice.
async fn hand_to_collect(
    app: &Context,
    campaign_id: Uuid,
) -> Result<(), reelforge_core::ports::StoreError> {
    let message = StageMessage::stage(Stage::Collect, campaign_id);
    let mut tries = 0;
    loop {
        match app.ports.queue.send(&message, 0).await {
            Ok(()) => return Ok(()),
            Err(e) if tries == 2 => return Err(e),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
            }
        }
    }
}

/// Free and Starter keys are answered 403 on every route, with the plan headers.
pub(super) fn plan_gate(principal: &Principal) -> Option<ApiResponse> {
    let plan = principal.plan;
    (!plan.api_access()).then(|| {
        ApiResponse::error(
            StatusCode::FORBIDDEN,
            &format!("The {plan} plan does not include API access; API access starts on Growth"),
        )
        .with_plan(plan)
    })
}

/// The playlist's styles, snapshotted for a new campaign; 400 when the playlist (or a
/// profile it names) does not exist in the account.
async fn playlist_style(
    app: &Context,
    principal: &Principal,
    id: &str,
) -> Result<CampaignStyle, ApiResponse> {
    let missing =
        |what: &str| ApiResponse::error(StatusCode::BAD_REQUEST, &format!("{what} does not exist"));
    let profiles = &app.ports.profiles;
    let account = principal.account_id.as_str();
    let record = profiles
        .get_profile(account, "playlist", id)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| missing(&format!("playlist_id {id:?}")))?;
    let playlist: Playlist = serde_json::from_value(record.doc).map_err(|e| {
        tracing::error!(error = %e, "stored playlist unreadable");
        ApiResponse::internal()
    })?;
    let font_profile = match &playlist.font_profile_id {
        None => None,
        Some(fp) => {
            let record = profiles
                .get_profile(account, "font_profile", fp)
                .await
                .map_err(|e| store_failure(&e))?
                .ok_or_else(|| missing(&format!("The playlist's font profile {fp:?}")))?;
            Some(
                serde_json::from_value::<FontProfile>(record.doc).map_err(|e| {
                    tracing::error!(error = %e, "stored font profile unreadable");
                    ApiResponse::internal()
                })?,
            )
        }
    };
    let media_profile = match &playlist.media_profile_id {
        None => None,
        Some(mp) => {
            let record = profiles
                .get_profile(account, "media_profile", mp)
                .await
                .map_err(|e| store_failure(&e))?
                .ok_or_else(|| missing(&format!("The playlist's media profile {mp:?}")))?;
            Some(
                serde_json::from_value::<MediaProfile>(record.doc).map_err(|e| {
                    tracing::error!(error = %e, "stored media profile unreadable");
                    ApiResponse::internal()
                })?,
            )
        }
    };
    let voice = match &playlist.voice_profile_id {
        None => None,
        Some(vp) => {
            let record = profiles
                .get_profile(account, "voice_profile", vp)
                .await
                .map_err(|e| store_failure(&e))?
                .ok_or_else(|| missing(&format!("The playlist's voice profile {vp:?}")))?;
            let profile: VoiceProfile = serde_json::from_value(record.doc).map_err(|e| {
                tracing::error!(error = %e, "stored voice profile unreadable");
                ApiResponse::internal()
            })?;
            let here = app.tools.voice_provider;
            if profile.provider_id != here {
                return Err(ApiResponse::error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "The playlist's voice profile uses {}, and this deployment speaks with {}",
                        profile.provider_id.display_name(),
                        here.display_name()
                    ),
                ));
            }
            let voices = profiles
                .list_profiles(account, "voice")
                .await
                .map_err(|e| store_failure(&e))?;
            let provider_voice_id = voices
                .into_iter()
                .filter_map(|r| serde_json::from_value::<Voice>(r.doc).ok())
                .find(|v| &v.voice_profile_id == vp)
                .map(|v| v.provider_voice_id);
            if let Some(v) = &provider_voice_id {
                let usable = match here {
                    ProviderId::Espeak => reelforge_core::voice::is_espeak_voice_name(v),
                    ProviderId::Polly => {
                        (2..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphabetic())
                    }
                    _ => false,
                };
                if !usable {
                    let example = match here {
                        ProviderId::Polly => "an Amazon Polly voice id such as Matthew",
                        _ => "an espeak-ng voice name such as en-us+f3",
                    };
                    return Err(ApiResponse::error(
                        StatusCode::BAD_REQUEST,
                        &format!("The playlist's voice {v:?} is not {example}"),
                    ));
                }
            }
            Some(VoiceChoice {
                voice_profile_id: vp.clone(),
                provider: profile.provider_id,
                provider_voice_id,
            })
        }
    };
    Ok(CampaignStyle {
        playlist_id: id.to_string(),
        font_profile,
        media_profile,
        voice,
    })
}

fn idempotency_conflict() -> ApiResponse {
    ApiResponse::error(
        StatusCode::CONFLICT,
        "Idempotency-Key was already used with a different request body",
    )
}

fn new_campaign(app: &Context, principal: &Principal, body: CreateBody) -> Campaign {
    let now = app.clock.now();
    let videos: Vec<Video> = body
        .languages
        .iter()
        .flat_map(|&language| {
            body.platforms.iter().map(move |&platform| Video {
                id: Uuid::new_v4(),
                platform,
                language,
                status: VideoStatus::Queued,
                file_key: None,
                duration_seconds: None,
                published_at: None,
                credits_cost: None,
                thumbnail_key: None,
                script_source: None,
                render_job: None,
                review: Default::default(),
            })
        })
        .collect();
    Campaign {
        // Time-ordered and monotonic within the process: campaigns created in the same
        // millisecond (the clock's resolution) still list newest first (SPEC §11).
        id: Uuid::now_v7(),
        job_id: ulid::Ulid::generate().to_string(),
        account_id: principal.account_id.clone(),
        status: CampaignStatus::Collecting,
        url: body.url,
        title: body.title,
        languages: body.languages,
        platforms: body.platforms,
        webhook_url: body.webhook_url,
        playlist_id: body.playlist_id,
        created_at: now,
        updated_at: now,
        videos_reserved: videos.len() as u32,
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
        videos,
        error: None,
        failed_stage: None,
        quota_period: quota_period(now),
    }
}

/// The caller's campaign, or the one 404 used for unknown, malformed and foreign ids
/// alike, so ids can't be probed.
pub(super) async fn owned_campaign(
    app: &Context,
    principal: &Principal,
    id: &str,
) -> Result<Campaign, ApiResponse> {
    let not_found = || ApiResponse::error(StatusCode::NOT_FOUND, "Campaign not found");
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(not_found());
    };
    match app.ports.campaigns.get_campaign(id).await {
        Ok(Some(c)) if c.account_id == principal.account_id => Ok(c),
        Ok(_) => Err(not_found()),
        Err(e) => Err(store_failure(&e)),
    }
}

pub(super) async fn get(app: &Context, principal: &Principal, id: &str) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    match owned_campaign(app, principal, id).await {
        Ok(c) => match video_links(&*app.ports.media, &c, LINK_TTL).await {
            Ok(links) => {
                let mut body = campaign_json(&c, &links);
                super::extras::enrich(app, &c, &mut body).await;
                ApiResponse::json(StatusCode::OK, &body)
            }
            Err(e) => store_failure(&e),
        },
        Err(resp) => resp,
    }
}
