//! Webhook delivery (SPEC §6): one attempt per call. The attempt is claimed in the store
//! before the request goes out, so a duplicated or redelivered queue message can never
//! send an attempt twice, and the event id, body and budget of three attempts are fixed
//! when the terminal transition creates the event.

use super::Next;
use crate::context::Context;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use reelforge_core::guard::UrlKind;
use reelforge_core::model::{DeliveryAttempt, DeliveryState, WebhookEvent, ATTEMPT_STALE_AFTER_MS};
use reelforge_core::ports::StoreError;
use reelforge_core::signature::{clipus_signature, standard_signature_header};
use reelforge_net::client::{self, FetchOptions};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A receiver must answer within this.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Success is decided on the status line (SPEC §6: a 2xx within 10 s), so the
/// receiver's body is never read.
const MAX_RESPONSE_BYTES: usize = 0;
pub use crate::context::DEFAULT_RETRY_DELAYS;

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// The headers of one attempt: both signature forms, signed with every active secret.
pub fn delivery_headers(event: &WebhookEvent, secrets: &[&str], timestamp: i64) -> HeaderMap {
    let mut h = HeaderMap::new();
    insert(&mut h, "content-type", "application/json");
    insert(&mut h, "user-agent", "reelforge-webhooks/0.1");
    insert(&mut h, "x-clipus-event-id", &event.id);
    insert(&mut h, "x-clipus-timestamp", &timestamp.to_string());
    insert(&mut h, "x-clipus-signature-alg", "HMAC-SHA256");
    let body = event.body.as_bytes();
    if let Some(current) = secrets.first() {
        insert(
            &mut h,
            "x-clipus-signature",
            &clipus_signature(current, timestamp, &event.id, body),
        );
    }
    if let Some(previous) = secrets.get(1) {
        insert(
            &mut h,
            "x-clipus-signature-previous",
            &clipus_signature(previous, timestamp, &event.id, body),
        );
    }
    insert(&mut h, "webhook-id", &event.id);
    insert(&mut h, "webhook-timestamp", &timestamp.to_string());
    if let Ok(sig) = standard_signature_header(secrets, &event.id, timestamp, body) {
        insert(&mut h, "webhook-signature", &sig);
    }
    h
}

/// Seconds to wait after failed attempt `number` of a round of three.
fn retry_delay(app: &Context, event: &WebhookEvent, number: u32) -> u32 {
    let round_start = event
        .attempt_budget
        .saturating_sub(reelforge_core::model::WEBHOOK_ATTEMPTS);
    let index = number.saturating_sub(round_start + 1) as usize;
    let delays = &app.webhook_retry_delays;
    delays
        .get(index)
        .or(delays.last())
        .copied()
        .unwrap_or(DEFAULT_RETRY_DELAYS[0])
}

pub async fn deliver(app: &Context, campaign_id: Uuid, event_id: &str) -> Result<Next, StoreError> {
    let Some(event) = app.ports.webhooks.get_event(campaign_id, event_id).await? else {
        return Ok(Next::Done);
    };
    if event.state != DeliveryState::Pending {
        return Ok(Next::Done);
    }
    let now = app.clock.now_ms();
    if event.next_attempt_at_ms > now {
        let wait = (event.next_attempt_at_ms - now + 999) / 1000;
        return Ok(Next::RetryIn(wait.clamp(1, 900) as u32));
    }
    // Everything that can fail before sending is done before the attempt is claimed,
    // so a store hiccup never spends one of the three attempts.
    let account = app.ports.accounts.get_account(&event.account_id).await?;
    let number = event.attempts.len() as u32 + 1;
    let mut attempt = DeliveryAttempt::starting(number, now);
    let Some(event) = app
        .ports
        .webhooks
        .claim_attempt(campaign_id, event_id, &attempt)
        .await?
    else {
        return not_claimed(app, campaign_id, event_id, now).await;
    };
    let started = Instant::now();
    let result = match (&account, url::Url::parse(&event.url)) {
        (Some(account), Ok(url)) => {
            let secrets = account.signing_secrets(app.clock.now());
            let headers = delivery_headers(&event, &secrets, now / 1000);
            let opts = FetchOptions {
                kind: UrlKind::Webhook,
                policy: app.policy,
                timeout: DELIVERY_TIMEOUT,
                max_body_bytes: MAX_RESPONSE_BYTES,
                max_redirects: 0,
                user_agent: "reelforge-webhooks/0.1",
            };
            let body = bytes::Bytes::from(event.body.clone());
            match client::request(Method::POST, &url, headers, body, &opts, &*app.resolver).await {
                Ok(resp) if (200..300).contains(&resp.status) => Ok(resp.status),
                Ok(resp) => Err((Some(resp.status), format!("HTTP {}", resp.status))),
                Err(e) => Err((None, e.summary())),
            }
        }
        (None, _) => Err((None, "account no longer exists".to_string())),
        (_, Err(_)) => Err((None, "invalid webhook URL".to_string())),
    };
    attempt.finished = true;
    attempt.latency_ms = Some(started.elapsed().as_millis() as u64);
    crate::metrics::count("WebhookAttempts", None);
    let (state, next) = match result {
        Ok(status) => {
            attempt.status_code = Some(status);
            (DeliveryState::Delivered, Next::Done)
        }
        Err((status, error)) => {
            crate::metrics::count("WebhookAttemptsFailed", None);
            attempt.status_code = status;
            attempt.error = Some(error);
            if number >= event.attempt_budget {
                (DeliveryState::Failed, Next::Done)
            } else {
                (
                    DeliveryState::Pending,
                    Next::RetryIn(retry_delay(app, &event, number)),
                )
            }
        }
    };
    let next_at = match next {
        Next::RetryIn(s) => now + i64::from(s) * 1000,
        Next::Done => now,
    };
    app.ports
        .webhooks
        .finish_attempt(campaign_id, event_id, &attempt, state, next_at)
        .await?;
    tracing::info!(%campaign_id, event_id, attempt = number, state = %state, "webhook attempt");
    Ok(next)
}

/// The claim was refused. If the event still waits on an attempt in flight (or on one
/// whose worker may have died), look again once that attempt can be judged stale rather
/// than dropping the message; otherwise another worker has it, or it is settled.
async fn not_claimed(
    app: &Context,
    campaign_id: Uuid,
    event_id: &str,
    now: i64,
) -> Result<Next, StoreError> {
    let Some(event) = app.ports.webhooks.get_event(campaign_id, event_id).await? else {
        return Ok(Next::Done);
    };
    if event.state != DeliveryState::Pending {
        return Ok(Next::Done);
    }
    let wait_until = match event.attempts.last() {
        Some(last) if !last.finished => last.started_at_ms + ATTEMPT_STALE_AFTER_MS,
        _ => event.next_attempt_at_ms,
    };
    let wait = (wait_until - now + 999) / 1000;
    Ok(Next::RetryIn(wait.clamp(1, 900) as u32))
}

/// Gives up on an event whose queue message kept failing: an unfinished attempt is
/// recorded as interrupted and the event as failed (a manual redelivery can reopen it).
pub async fn abandon(app: &Context, campaign_id: Uuid, event_id: &str) -> Result<(), StoreError> {
    let Some(event) = app.ports.webhooks.get_event(campaign_id, event_id).await? else {
        return Ok(());
    };
    if event.state != DeliveryState::Pending {
        return Ok(());
    }
    let now = app.clock.now_ms();
    let attempt = match event.attempts.last() {
        Some(last) if !last.finished => DeliveryAttempt {
            finished: true,
            error: Some("interrupted".into()),
            ..last.clone()
        },
        _ => {
            // Claim one more so the failure is on record; if that's impossible, the
            // event is out of budget and is marked failed through its last attempt.
            let number = event.attempts.len() as u32 + 1;
            let claimed = DeliveryAttempt::starting(number, now);
            match app
                .ports
                .webhooks
                .claim_attempt(campaign_id, event_id, &claimed)
                .await?
            {
                Some(_) => DeliveryAttempt {
                    finished: true,
                    error: Some("not attempted: delivery kept failing internally".into()),
                    ..claimed
                },
                None => match event.attempts.last() {
                    Some(last) => last.clone(),
                    None => return Ok(()),
                },
            }
        }
    };
    app.ports
        .webhooks
        .finish_attempt(campaign_id, event_id, &attempt, DeliveryState::Failed, now)
        .await
}
