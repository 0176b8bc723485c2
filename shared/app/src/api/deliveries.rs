//! The webhook delivery log and manual redelivery (SPEC §6 extensions):
//! GET  /api/v1/campaigns/:id/webhook-deliveries
//! POST /api/v1/campaigns/:id/webhook-deliveries/redeliver

use super::auth::{admit, store_failure};
use super::campaigns::{owned_campaign, plan_gate};
use super::ApiResponse;
use crate::context::Context;
use chrono::{SecondsFormat, TimeZone, Utc};
use http::StatusCode;
use reelforge_core::limiter;
use reelforge_core::model::{Principal, WebhookEvent, WEBHOOK_ATTEMPTS};
use serde_json::{json, Value};

fn time(ms: i64) -> Value {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map_or(Value::Null, |t| {
            json!(t.to_rfc3339_opts(SecondsFormat::Millis, true))
        })
}

fn delivery_json(e: &WebhookEvent) -> Value {
    json!({
        "event_id": e.id,
        "event": e.event,
        "url": e.url,
        "state": e.state,
        "created_at": time(e.created_at_ms),
        "attempts": e.attempts.iter().map(|a| {
            // An unfinished attempt with a later one after it was interrupted (its
            // worker died mid-send); the store keeps it as claimed.
            let interrupted = !a.finished && a.number < e.attempts.len() as u32;
            json!({
                "attempt": a.number,
                "at": time(a.started_at_ms),
                "status_code": a.status_code,
                "error": if interrupted { Some("interrupted".to_string()) } else { a.error.clone() },
                "latency_ms": a.latency_ms,
                "finished": a.finished || interrupted,
            })
        }).collect::<Vec<_>>(),
    })
}

pub(super) async fn list(app: &Context, principal: &Principal, id: &str) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    let campaign = match owned_campaign(app, principal, id).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match app.ports.webhooks.list_events(campaign.id).await {
        Ok(events) => ApiResponse::json(
            StatusCode::OK,
            &json!({
                "success": true,
                "campaign_id": campaign.id,
                "deliveries": events.iter().map(delivery_json).collect::<Vec<_>>(),
            }),
        ),
        Err(e) => store_failure(&e),
    }
}

pub(super) async fn redeliver(app: &Context, principal: &Principal, id: &str) -> ApiResponse {
    if let Some(refused) = plan_gate(principal) {
        return refused;
    }
    // Metered like creation: the account's window, at the plan's rate.
    let window = limiter::account_window_key(&principal.account_id);
    if let Err(resp) = admit(app, &window, principal.plan.create_per_minute()).await {
        return resp.with_plan(principal.plan);
    }
    let campaign = match owned_campaign(app, principal, id).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let events = match app.ports.webhooks.list_events(campaign.id).await {
        Ok(e) => e,
        Err(e) => return store_failure(&e),
    };
    let Some(latest) = events.last() else {
        return ApiResponse::error(
            StatusCode::CONFLICT,
            "This campaign has no webhook event to redeliver: it has no webhook_url or has not finished",
        );
    };
    let now = app.clock.now_ms();
    match app
        .ports
        .webhooks
        .reopen_event(campaign.id, &latest.id, WEBHOOK_ATTEMPTS, now)
        .await
    {
        Ok(Some(event)) => ApiResponse::json(
            StatusCode::ACCEPTED,
            &json!({"success": true, "event_id": event.id, "state": event.state}),
        )
        .with_plan(principal.plan),
        Ok(None) => ApiResponse::error(
            StatusCode::CONFLICT,
            "A delivery of this event is still in progress",
        ),
        Err(e) => store_failure(&e),
    }
}
