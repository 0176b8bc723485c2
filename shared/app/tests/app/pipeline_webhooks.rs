//! Pipeline and delivery guarantees at the library level (local backend, real loopback
//! receivers): one event per terminal transition however often it is delivered, one
//! request per attempt however often its message is, and a hook that resolves to a
//! private address at send time is never connected to.

use async_trait::async_trait;
use reelforge_app::pipeline;
use reelforge_app::{Context, Ports};
use reelforge_core::clock::SystemClock;
use reelforge_core::guard::{Resolver, TargetPolicy};
use reelforge_core::model::{
    Campaign, CampaignStatus, DeliveryState, QuotaReservation, Stage, StageMessage, Video,
    VideoStatus,
};
use reelforge_core::plans::Plan;
use reelforge_core::ports::{CampaignStore, CreateOutcome, WebhookStore};
use reelforge_local::LocalStore;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

struct Fixture {
    store: Arc<LocalStore>,
    app: Arc<Context>,
    account_id: String,
}

async fn fixture(tag: &str, policy: TargetPolicy, resolver: Option<Arc<dyn Resolver>>) -> Fixture {
    let dir = std::env::temp_dir().join(format!("reelforge-pw-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(LocalStore::open(&dir).unwrap());
    let mut app = Context::new(Ports::from_store(store.clone()))
        .with_policy(policy)
        .with_webhook_retry_delays(vec![1, 1]);
    if let Some(r) = resolver {
        app = app.with_resolver(r);
    }
    let account =
        reelforge_app::admin::create_account(&*store, &SystemClock, "PW", Plan::Scale, None)
            .await
            .unwrap();
    Fixture {
        store,
        app: Arc::new(app),
        account_id: account.id,
    }
}

async fn campaign(f: &Fixture, id: Uuid, webhook_url: &str) -> Campaign {
    let now = chrono::Utc::now();
    let c = Campaign {
        id,
        job_id: "01JDG0000000000000000000AA".into(),
        account_id: f.account_id.clone(),
        status: CampaignStatus::Collecting,
        url: "https://93.184.216.34/".into(),
        title: "t".into(),
        languages: vec![
            reelforge_core::model::Language::En,
            reelforge_core::model::Language::Ja,
        ],
        platforms: vec![reelforge_core::model::Platform::YoutubeShorts],
        webhook_url: Some(webhook_url.to_string()),
        playlist_id: None,
        created_at: now,
        updated_at: now,
        videos: [
            reelforge_core::model::Language::En,
            reelforge_core::model::Language::Ja,
        ]
        .into_iter()
        .map(|language| Video {
            id: Uuid::new_v4(),
            platform: reelforge_core::model::Platform::YoutubeShorts,
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
        .collect(),
        error: None,
        failed_stage: None,
        quota_period: "2026-11".into(),
        videos_reserved: 2,
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
    };
    let r = QuotaReservation {
        account_id: f.account_id.clone(),
        period: "2026-11".into(),
        videos: 2,
        quota: 100,
    };
    assert_eq!(
        f.store.create_campaign(&c, &r, None).await.unwrap(),
        CreateOutcome::Created
    );
    c
}

/// A loopback receiver answering `status` to everything and counting connections.
async fn receiver(status: u16) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (addr, count)
}

fn webhook_messages(store: &LocalStore) -> Vec<StageMessage> {
    store
        .pending_messages()
        .unwrap()
        .into_iter()
        .filter(|m| m.stage == Stage::Webhook)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_transition_delivered_three_times_creates_one_event_and_refunds_once() {
    let f = fixture(
        "dup",
        TargetPolicy {
            allow_private: true,
        },
        None,
    )
    .await;
    let c = campaign(&f, Uuid::new_v4(), "http://127.0.0.1:9/hook").await;
    assert_eq!(
        f.store.quota_used(&f.account_id, "2026-11").await.unwrap(),
        2
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let app = f.app.clone();
        tasks.spawn(async move {
            reelforge_app::lifecycle::fail(
                &app,
                c.id,
                CampaignStatus::Collecting,
                "The page could not be reached",
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    let events = f.store.list_events(c.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "campaign.failed");
    assert_eq!(
        f.store.quota_used(&f.account_id, "2026-11").await.unwrap(),
        0
    );
    // Extra hand-offs of an unstarted event may be queued; they name the one event.
    let messages = webhook_messages(&f.store);
    assert!(!messages.is_empty());
    assert!(messages
        .iter()
        .all(|m| m.event_id.as_deref() == Some(events[0].id.as_str())));
    let stored = f.store.get_campaign(c.id).await.unwrap().unwrap();
    assert_eq!(stored.status, CampaignStatus::Failed);
    assert_eq!(stored.videos_reserved, 0);
    assert!(stored
        .videos
        .iter()
        .all(|v| v.status == VideoStatus::Failed));
    // A late duplicate of a *stage* message changes nothing either.
    assert_eq!(
        pipeline::process(
            &f.app,
            &StageMessage::stage(reelforge_core::model::Stage::Collect, c.id)
        )
        .await
        .unwrap(),
        pipeline::Next::Done
    );
    assert_eq!(f.store.list_events(c.id).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_message_processed_three_times_sends_one_request() {
    let (addr, count) = receiver(200).await;
    let f = fixture(
        "once",
        TargetPolicy {
            allow_private: true,
        },
        None,
    )
    .await;
    let c = campaign(&f, Uuid::new_v4(), &format!("http://{addr}/hook")).await;
    reelforge_app::lifecycle::fail(&f.app, c.id, CampaignStatus::Collecting, "x")
        .await
        .unwrap();
    let event = f.store.list_events(c.id).await.unwrap().remove(0);
    let message = StageMessage::webhook(c.id, &event.id);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let app = f.app.clone();
        let m = message.clone();
        tasks.spawn(async move { pipeline::process(&app, &m).await.unwrap() });
    }
    while let Some(r) = tasks.join_next().await {
        // The winner is done; a loser that found attempt 1 in flight looks again later
        // (by then the event is delivered and it stops) instead of sending beside it.
        assert!(matches!(
            r.unwrap(),
            pipeline::Next::Done | pipeline::Next::RetryIn(_)
        ));
    }
    let stored = f.store.get_event(c.id, &event.id).await.unwrap().unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 1, "{stored:#?}");
    let event = stored;
    assert_eq!(event.state, DeliveryState::Delivered);
    assert_eq!(event.attempts.len(), 1);
    // The delayed look-again finds it settled and sends nothing.
    assert_eq!(
        pipeline::process(&f.app, &message).await.unwrap(),
        pipeline::Next::Done
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// Resolves every name to loopback: a hook that was public at creation and points
/// somewhere private by the time it is sent.
struct Rebinding;

#[async_trait]
impl Resolver for Rebinding {
    async fn resolve(&self, _host: &str, _port: u16) -> std::io::Result<Vec<IpAddr>> {
        Ok(vec!["127.0.0.1".parse().unwrap()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_resolving_to_a_private_address_at_send_time_is_never_connected() {
    let (addr, count) = receiver(200).await;
    let f = fixture(
        "rebind",
        TargetPolicy {
            allow_private: false,
        },
        Some(Arc::new(Rebinding)),
    )
    .await;
    let hook = format!("https://hooks.example.com:{}/hook", addr.port());
    let c = campaign(&f, Uuid::new_v4(), &hook).await;
    reelforge_app::lifecycle::fail(&f.app, c.id, CampaignStatus::Collecting, "x")
        .await
        .unwrap();
    let event = f.store.list_events(c.id).await.unwrap().remove(0);
    let next = pipeline::process(&f.app, &StageMessage::webhook(c.id, &event.id))
        .await
        .unwrap();
    assert_eq!(next, pipeline::Next::RetryIn(1));
    let event = f.store.get_event(c.id, &event.id).await.unwrap().unwrap();
    let attempt = &event.attempts[0];
    assert!(
        attempt.error.as_deref().unwrap().contains("refused"),
        "{attempt:?}"
    );
    assert_eq!(attempt.status_code, None);
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "the private address was connected to"
    );
}

/// For a batch where no stage fails: nothing may be handed back to the queue.
struct NothingFails;

#[async_trait::async_trait]
impl reelforge_lambda::RetryReceived for NothingFails {
    async fn retry_received(
        &self,
        stage: reelforge_core::model::Stage,
        _receipt_handle: &str,
        _delay_secs: u32,
    ) -> reelforge_core::ports::StoreResult<()> {
        panic!("a {stage} message was handed back, but no stage failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_sender_event_delivers_and_reports_only_the_bad_record() {
    use aws_lambda_events::event::sqs::SqsEvent;
    let (addr, count) = receiver(200).await;
    let f = fixture(
        "sqs",
        TargetPolicy {
            allow_private: true,
        },
        None,
    )
    .await;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/webhook-sender.json");
    let event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let first: StageMessage =
        serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    // The stored event the sample message names: created by a terminal transition, with
    // the id the sample carries.
    let c = campaign(&f, first.campaign_id, &format!("http://{addr}/hook")).await;
    reelforge_app::lifecycle::fail(&f.app, c.id, CampaignStatus::Collecting, "x")
        .await
        .unwrap();
    let mut stored = f.store.list_events(c.id).await.unwrap().remove(0);
    let message = StageMessage::webhook(c.id, &stored.id);
    // Point the sample at the real event id (ids are minted at transition time).
    let mut event = event;
    event.records[0].body = Some(serde_json::to_string(&message).unwrap());
    let response = reelforge_lambda::handle_sqs_batch(&f.app, event.clone(), &NothingFails).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|b| b.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![event.records[1].message_id.clone().unwrap()]);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    stored = f.store.get_event(c.id, &stored.id).await.unwrap().unwrap();
    assert_eq!(stored.state, DeliveryState::Delivered);
}

#[tokio::test]
async fn reaching_review_creates_one_completed_event_and_refunds_nothing() {
    let f = fixture(
        "review",
        TargetPolicy {
            allow_private: true,
        },
        None,
    )
    .await;
    let mut c = campaign(&f, Uuid::new_v4(), "http://127.0.0.1:9/hook").await;
    use CampaignStatus::*;
    for to in [Processing, Scripting, Voiceover, Rendering, Review] {
        let applied = reelforge_app::lifecycle::advance(&f.app, &c, to, |next| {
            if to == Review {
                for v in next.videos.iter_mut() {
                    v.status = VideoStatus::Ready;
                }
            }
        })
        .await
        .unwrap();
        assert!(applied, "{to}");
        // The same step again (a duplicate message) is refused and writes nothing.
        assert!(!reelforge_app::lifecycle::advance(&f.app, &c, to, |_| {})
            .await
            .unwrap());
        c = f.store.get_campaign(c.id).await.unwrap().unwrap();
        assert_eq!(c.status, to);
    }
    let events = f.store.list_events(c.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "campaign.completed");
    let body: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(body["status"], "review");
    assert!(body.get("error").is_none());
    assert_eq!(body["videos"].as_array().unwrap().len(), 2);
    assert_eq!(
        f.store.quota_used(&f.account_id, "2026-11").await.unwrap(),
        2
    );
}
