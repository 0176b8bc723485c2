//! The Lambda handlers, driven by the sample events in `events/` (the same files
//! `cargo lambda invoke --data-file` uses), on the local backend.

use reelforge_core::model::Stage;
use reelforge_testkit as support;

use reelforge_app::api::handle;
use reelforge_app::{Context, Ports};
use reelforge_core::keys::hash_key;
use reelforge_core::limiter::{ip_window_key, WINDOW_MS};
use reelforge_core::model::{Account, ApiKeyRecord, Campaign, CampaignStatus, QuotaReservation};
use reelforge_core::plans::Plan;
use reelforge_core::ports::{AccountStore, CampaignStore, KeyStore, WindowCounters};
use reelforge_lambda::{to_api_request, to_lambda_response};
use reelforge_local::LocalStore;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

const EVENT_KEY: &str = "sk_live_0123456789abcdef0123456789abcdef";

fn event(name: &str) -> lambda_http::Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("read event");
    let raw: lambda_http::request::LambdaRequest =
        serde_json::from_str(&text).expect("event parses");
    lambda_http::Request::from(raw)
}

async fn setup(tag: &str) -> (Arc<LocalStore>, Context) {
    let dir = std::env::temp_dir().join(format!("reelforge-events-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(LocalStore::open(&dir).unwrap());
    let now = chrono::Utc::now();
    store
        .create_account(&Account {
            id: "acct_events".into(),
            name: "Events".into(),
            plan: Plan::Scale,
            videos_per_month: None,
            webhook_secret: "whsec_dGVzdA==".into(),
            previous_webhook_secret: None,
            previous_webhook_secret_expires_at: None,
            created_at: now,
        })
        .await
        .unwrap();
    store
        .create_key(
            &ApiKeyRecord {
                id: hash_key(EVENT_KEY),
                account_id: "acct_events".into(),
                display: "sk_live_0123…cdef".into(),
                scopes: vec!["campaigns:create".into()],
                created_at: now,
                revoked_at: None,
            },
            None,
        )
        .await
        .unwrap();
    let app = Context::new(Ports::from_store(store.clone()));
    (store, app)
}

fn body(resp: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap()
}

#[tokio::test]
async fn create_event_creates_a_campaign_and_meters_the_source_ip() {
    let (store, app) = setup("create").await;
    let req = to_api_request(event("api-campaign-create"));
    assert_eq!(req.source_ip, Some("198.51.100.7".parse().unwrap()));
    let resp = to_lambda_response(handle(&app, req).await);
    assert_eq!(resp.status(), 201);
    assert!(
        matches!(resp.body(), lambda_http::Body::Text(_)),
        "JSON goes out as text, not base64"
    );
    assert_eq!(resp.headers()["x-ratelimit-plan"], "scale");
    assert_eq!(resp.headers()["x-clipus-api-scopes"], "campaigns:create");
    let v = body(&resp);
    let id = v["campaign_id"].as_str().unwrap().parse().unwrap();
    let c = store.get_campaign(id).await.unwrap().unwrap();
    assert_eq!(c.languages.len(), 2);
    assert_eq!(c.url, "https://93.184.216.34/product");

    // The request was metered on requestContext.http.sourceIp, not X-Forwarded-For.
    let now = chrono::Utc::now().timestamp_millis();
    let d = store
        .admit(&ip_window_key(true, "198.51.100.7"), 120, WINDOW_MS, now)
        .await
        .unwrap();
    assert_eq!(d.remaining, 118);
    let d = store
        .admit(&ip_window_key(true, "203.0.113.99"), 120, WINDOW_MS, now)
        .await
        .unwrap();
    assert_eq!(d.remaining, 119);

    // The event carries an Idempotency-Key: replaying the same event creates nothing new.
    let again =
        to_lambda_response(handle(&app, to_api_request(event("api-campaign-create"))).await);
    assert_eq!(again.status(), 201);
    assert_eq!(body(&again), v);
    assert_eq!(
        store
            .quota_used("acct_events", &c.quota_period)
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn get_event_reads_the_campaign() {
    let (store, app) = setup("get").await;
    // Unknown id first: the same 404 as any other.
    let resp = to_lambda_response(handle(&app, to_api_request(event("api-campaign-get"))).await);
    assert_eq!(resp.status(), 404);
    assert_eq!(
        body(&resp),
        json!({"success": false, "error": "Campaign not found"})
    );

    let now = chrono::Utc::now();
    let campaign = Campaign {
        id: "8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d".parse().unwrap(),
        job_id: "01JDG0000000000000000000AA".into(),
        account_id: "acct_events".into(),
        status: CampaignStatus::Collecting,
        url: "https://93.184.216.34/product".into(),
        title: "93.184.216.34 Campaign".into(),
        languages: vec![],
        platforms: vec![],
        webhook_url: None,
        playlist_id: None,
        created_at: now,
        updated_at: now,
        videos: vec![],
        error: None,
        failed_stage: None,
        quota_period: "2026-11".into(),
        videos_reserved: 0,
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
    };
    let reservation = QuotaReservation {
        account_id: "acct_events".into(),
        period: "2026-11".into(),
        videos: 0,
        quota: 100,
    };
    store
        .create_campaign(&campaign, &reservation, None)
        .await
        .unwrap();
    let resp = to_lambda_response(handle(&app, to_api_request(event("api-campaign-get"))).await);
    assert_eq!(resp.status(), 200);
    let v = body(&resp);
    assert_eq!(v["campaign_id"], "8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d");
    assert_eq!(v["status"], "collecting");
}

/// The origin the template gives the dashboard for the sample's bucket and region.
pub const SAMPLE_MEDIA_ORIGIN: &str =
    "https://reelforge-prod-media-123456789012-us-east-1.s3.us-east-1.amazonaws.com";

/// The dashboard's sample event (`ANY /`, a browser's GET): the page, its type and a
/// policy that allows the media bucket's origin for images and media.
#[test]
fn dashboard_event_serves_the_page_with_the_media_origin_in_its_policy() {
    let origin = reelforge_lambda::dashboard_media_origin(Some(SAMPLE_MEDIA_ORIGIN))
        .expect("a valid origin")
        .expect("set");
    let resp = reelforge_lambda::handle_dashboard(Some(&origin), &event("api-dashboard"));
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("img-src 'self' {SAMPLE_MEDIA_ORIGIN};"))
            && csp.contains(&format!("media-src 'self' {SAMPLE_MEDIA_ORIGIN};")),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self';") && csp.contains("connect-src 'self';"));
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let lambda_http::Body::Text(page) = resp.body() else {
        panic!("the page is text: {:?}", resp.body());
    };
    assert!(page.starts_with("<!doctype html>"), "{page:.40}");
}

#[test]
fn every_function_has_an_event() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for entry in std::fs::read_dir(root.join("functions")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            root.join("events").join(format!("{name}.json")).exists(),
            "events/{name}.json missing"
        );
    }
}

/// The campaign the pipeline sample events name, in `status` with the render event's video.
async fn sample_campaign(store: &LocalStore, status: CampaignStatus) {
    let now = chrono::Utc::now();
    let video = reelforge_core::model::Video {
        id: "3d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d".parse().unwrap(),
        platform: reelforge_core::model::Platform::YoutubeShorts,
        language: reelforge_core::model::Language::Ja,
        status: reelforge_core::model::VideoStatus::Rendering,
        file_key: None,
        duration_seconds: None,
        published_at: None,
        credits_cost: None,
        thumbnail_key: None,
        script_source: None,
        render_job: Some("1795320372112-q8x2vn".into()),
        review: Default::default(),
    };
    let campaign = Campaign {
        id: "8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d".parse().unwrap(),
        job_id: "01JDG0000000000000000000AB".into(),
        account_id: "acct_events".into(),
        status,
        url: "https://93.184.216.34/product".into(),
        title: "93.184.216.34 Campaign".into(),
        languages: vec![video.language],
        platforms: vec![video.platform],
        webhook_url: None,
        playlist_id: None,
        created_at: now,
        updated_at: now,
        videos: vec![video],
        error: None,
        failed_stage: None,
        quota_period: "2026-11".into(),
        videos_reserved: 1,
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
    };
    let reservation = QuotaReservation {
        account_id: "acct_events".into(),
        period: "2026-11".into(),
        videos: 1,
        quota: 100,
    };
    store
        .create_campaign(&campaign, &reservation, None)
        .await
        .unwrap();
}

fn raw_event(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn render_event_marks_its_video_ready_and_completes_the_campaign() {
    let (store, app) = setup("render-events").await;
    sample_campaign(&store, CampaignStatus::Rendering).await;
    reelforge_lambda::handle_render_event(&app, raw_event("render-events"))
        .await
        .unwrap();
    let c = store
        .get_campaign("8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.status, CampaignStatus::Review);
    assert_eq!(c.videos[0].duration_seconds, Some(35.04));
    // Not an event of ours: an error (Lambda retries; it never matches), nothing written.
    assert!(
        reelforge_lambda::handle_render_event(&app, json!({"detail-type": "Something else"}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn dead_letters_fail_the_campaign_in_its_stage_and_refund() {
    let (store, app) = setup("dead-letters").await;
    sample_campaign(&store, CampaignStatus::Rendering).await;
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(raw_event("dead-letters")).unwrap();
    let response = reelforge_lambda::handle_dead_letters(&app, event).await;
    assert!(response.batch_item_failures.is_empty());
    let c = store
        .get_campaign("8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.status, CampaignStatus::Failed);
    assert_eq!(
        c.failed_stage,
        Some(reelforge_core::model::CampaignStatus::Rendering)
    );
    assert_eq!(store.quota_used("acct_events", "2026-11").await.unwrap(), 0);
}

/// A dead letter nobody can read is not deleted (dropped) but reported as failed, so the
/// dead-letter queue's own redrive parks it for a person.
#[tokio::test]
async fn unreadable_dead_letters_are_kept_for_the_parking_queue() {
    let (_store, app) = setup("dead-letters-unreadable").await;
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(json!({
        "Records": [{"messageId": "m-garbage", "body": "not a stage message", "eventSource": "aws:sqs"}]
    }))
    .unwrap();
    let response = reelforge_lambda::handle_dead_letters(&app, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-garbage"]);
}

/// What a queue consumer handed back to SQS, in order: (stage, receipt, delay seconds).
#[derive(Default)]
struct Handed(std::sync::Mutex<Vec<(Stage, String, u32)>>);

#[async_trait::async_trait]
impl reelforge_lambda::RetryReceived for Handed {
    async fn retry_received(
        &self,
        stage: Stage,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> reelforge_core::ports::StoreResult<()> {
        self.0
            .lock()
            .unwrap()
            .push((stage, receipt_handle.to_string(), delay_secs));
        Ok(())
    }
}

/// A stage that fails (here: a script stage whose page was never collected) is reported as a batch
/// item failure and its message handed back to show again after 30, 60, 120 and 240 s
/// by receive count, then at once on the fifth (SQS dead-letters it on the next
/// receive), instead of after the queue's 720 s visibility timeout. A body that is not a stage
/// message is only reported: there is no stage to retry.
#[tokio::test]
async fn a_failed_stage_comes_back_after_a_short_backoff_then_is_dead_lettered() {
    let (store, app) = setup("backoff").await;
    sample_campaign(&store, CampaignStatus::Scripting).await;
    let handed = Handed::default();
    let message = json!({"stage": "script", "campaign_id": "8f6a1c2e-4b7d-4e0a-9c3f-2d1e0b9a8c7d"});
    for (receives, delay) in [(1, 30), (2, 60), (3, 120), (4, 240), (5, 0)] {
        let mut raw = raw_event("stage-render");
        let record = &mut raw["Records"][0];
        record["body"] = json!(message.to_string());
        record["attributes"]["ApproximateReceiveCount"] = json!(receives.to_string());
        let receipt = record["receiptHandle"].as_str().unwrap().to_string();
        let id = record["messageId"].as_str().unwrap().to_string();
        let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(raw).unwrap();
        let response = reelforge_lambda::handle_sqs_batch(&app, event, &handed).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, vec![id]);
        assert_eq!(
            handed.0.lock().unwrap().pop(),
            Some((Stage::Script, receipt, delay)),
            "receive {receives}"
        );
    }
    let mut raw = raw_event("stage-render");
    raw["Records"][0]["body"] = json!("not a stage message");
    let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(raw).unwrap();
    let response = reelforge_lambda::handle_sqs_batch(&app, event, &handed).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(handed.0.lock().unwrap().is_empty());
}

/// On SQS itself (moto): a message handed back with no delay is received again at once,
/// with its receive count kept (so `maxReceiveCount` still dead-letters it); handed back
/// with a delay, it stays hidden.
#[tokio::test]
async fn handing_a_message_back_sets_its_visibility_on_sqs() {
    use reelforge_core::ports::StageQueue;
    let store = support::moto::aws_store().await;
    let campaign_id = uuid::Uuid::new_v4();
    store
        .send(
            &reelforge_core::model::StageMessage::stage(
                reelforge_core::model::Stage::Render,
                campaign_id,
            ),
            0,
        )
        .await
        .unwrap();
    let receive = || async {
        store
            .sqs_client()
            .receive_message()
            .queue_url(store.names().queue_for(Stage::Render))
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .visibility_timeout(600)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    };
    let first = receive().await;
    assert_eq!(first.len(), 1);
    assert!(receive().await.is_empty(), "hidden while received");
    store
        .retry_received(Stage::Render, first[0].receipt_handle().unwrap(), 0)
        .await
        .unwrap();
    let again = receive().await;
    assert_eq!(again.len(), 1, "visible again at once");
    assert_eq!(again[0].message_id(), first[0].message_id());
    let count = again[0]
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        })
        .cloned();
    assert_eq!(count.as_deref(), Some("2"));
    store
        .retry_received(Stage::Render, again[0].receipt_handle().unwrap(), 600)
        .await
        .unwrap();
    assert!(receive().await.is_empty(), "hidden for the delay");
}
