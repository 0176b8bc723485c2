//! Deliveries per second through the local webhook sender: N campaigns fail at once,
//! their `campaign.failed` events are queued by the terminal transitions, and the
//! `reelforge serve` worker set (4 webhook workers) delivers them to a loopback receiver
//! that answers 204. Every delivery is claimed, signed (both forms), sent over a fresh
//! pinned connection, and recorded.
//!
//! Run: `cargo bench -p reelforge --bench webhook_delivery` (env BENCH_EVENTS, default 2000).

use reelforge_testkit::bench_report as common;

use reelforge_app::{Context, Ports};
use reelforge_core::clock::SystemClock;
use reelforge_core::guard::TargetPolicy;
use reelforge_core::model::{Campaign, CampaignStatus, DeliveryState, QuotaReservation};
use reelforge_core::plans::Plan;
use reelforge_core::ports::{CampaignStore, WebhookStore};
use reelforge_local::LocalStore;
use reelforge_local::WorkerSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(AtomicUsize::new(0));
        let seen = received.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16384];
                    let _ = s.read(&mut buf).await;
                    seen.fetch_add(1, Ordering::Relaxed);
                    let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").await;
                });
            }
        });

        let dir = std::env::temp_dir().join(format!("reelforge-bench-webhooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(LocalStore::open(&dir).expect("store"));
        let app = Arc::new(
            Context::new(Ports::from_store(store.clone())).with_policy(TargetPolicy { allow_private: true }),
        );
        let account = reelforge_app::admin::create_account(&*store, &SystemClock, "Bench", Plan::Enterprise, Some(10_000_000))
            .await
            .expect("account");
        let now = chrono::Utc::now();
        let mut ids = Vec::with_capacity(events);
        for _ in 0..events {
            let c = Campaign {
                id: Uuid::new_v4(),
                job_id: "01JDG0000000000000000000AA".into(),
                account_id: account.id.clone(),
                status: CampaignStatus::Collecting,
                url: "https://93.184.216.34/".into(),
                title: "bench".into(),
                languages: vec![],
                platforms: vec![],
                webhook_url: Some(format!("http://{addr}/hook")),
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
            let r = QuotaReservation { account_id: account.id.clone(), period: "2026-11".into(), videos: 0, quota: 1 };
            store.create_campaign(&c, &r, None).await.expect("campaign");
            reelforge_app::lifecycle::fail(&app, c.id, CampaignStatus::Collecting, "bench").await.expect("fail");
            ids.push(c.id);
        }

        let start = Instant::now();
        let workers = WorkerSet::start(app.clone(), store.clone(), 0, 4);
        let deadline = start + Duration::from_secs(300);
        while received.load(Ordering::Relaxed) < events && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = start.elapsed();
        workers.shutdown().await;
        let mut delivered = 0;
        for id in &ids {
            if let Some(e) = store.list_events(*id).await.expect("events").first() {
                if e.state == DeliveryState::Delivered && e.attempts.len() == 1 {
                    delivered += 1;
                }
            }
        }
        let got = received.load(Ordering::Relaxed);
        println!(
            "webhook deliveries: {got} requests for {events} events in {:.2} s = {:.0} deliveries/s ({} cores, 4 workers); recorded delivered once: {delivered}",
            elapsed.as_secs_f64(),
            got as f64 / elapsed.as_secs_f64(),
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        );
        assert_eq!(got, events, "every event delivered exactly once");
        assert_eq!(delivered, events);
        common::write_json(serde_json::json!({
            "events": events,
            "workers": 4,
            "seconds": elapsed.as_secs_f64(),
            "deliveries_per_s": got as f64 / elapsed.as_secs_f64(),
            "delivered_once": delivered,
        }));
    });
}
