//! The AWS render path: MediaConvert jobs submitted by the render stage, their completion
//! events (`render-events`), the periodic check that finds finished jobs without an
//! event, and the dead-letter handler — on both backends where a store is involved,
//! with MediaConvert answered by a loopback stub that records the requests.

use reelforge_core::model::Stage;
use reelforge_testkit as support;

use reelforge_app::pipeline::render::job_finished;
use reelforge_app::pipeline::Next;
use reelforge_app::{Context, Ports};
use reelforge_core::clock::SystemClock;
use reelforge_core::model::{
    Campaign, CampaignStatus, Language, Platform, QuotaReservation, Video, VideoStatus,
};
use reelforge_core::plans::Plan;
use reelforge_core::ports::JobStateChange;
use reelforge_core::ports::{
    AccountStore, CampaignStore, CreateOutcome, MediaStore, StageQueue, WebhookStore,
};
use reelforge_local::LocalStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

trait Store: AccountStore + CampaignStore + WebhookStore + MediaStore + StageQueue {}
impl<T: AccountStore + CampaignStore + WebhookStore + MediaStore + StageQueue> Store for T {}

fn local_store() -> Arc<LocalStore> {
    let dir = std::env::temp_dir().join(format!("reelforge-render-events-{}", Uuid::new_v4()));
    Arc::new(LocalStore::open(&dir).expect("local store"))
}

fn app<S>(store: Arc<S>) -> Context
where
    S: Store
        + reelforge_core::ports::KeyStore
        + reelforge_core::ports::WindowCounters
        + reelforge_core::ports::ProfileStore
        + 'static,
{
    Context::new(Ports::from_store(store))
}

/// A campaign in `rendering` with one video per language, stored with its reservation.
pub(crate) async fn rendering_campaign(
    app: &Context,
    id: Uuid,
    videos: &[(Uuid, Language)],
) -> Campaign {
    let account = reelforge_app::admin::create_account(
        &*app.ports.accounts,
        &SystemClock,
        "Render events",
        Plan::Scale,
        None,
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let campaign = Campaign {
        id,
        job_id: ulid::Ulid::generate().to_string(),
        account_id: account.id.clone(),
        status: CampaignStatus::Rendering,
        url: "https://example.com/".into(),
        title: "example.com Campaign".into(),
        languages: videos.iter().map(|(_, l)| *l).collect(),
        platforms: vec![Platform::YoutubeShorts],
        webhook_url: Some("https://hooks.example.com/reelforge".into()),
        playlist_id: None,
        created_at: now,
        updated_at: now,
        videos: videos
            .iter()
            .map(|(vid, language)| Video {
                id: *vid,
                platform: Platform::YoutubeShorts,
                language: *language,
                status: VideoStatus::Rendering,
                file_key: None,
                duration_seconds: None,
                published_at: None,
                credits_cost: None,
                thumbnail_key: None,
                script_source: Some("machine_translated".into()),
                render_job: None,
                review: Default::default(),
            })
            .collect(),
        error: None,
        failed_stage: None,
        quota_period: "2026-11".into(),
        videos_reserved: videos.len() as u32,
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
    };
    let reservation = QuotaReservation {
        account_id: account.id,
        period: "2026-11".into(),
        videos: videos.len() as u32,
        quota: 100,
    };
    assert_eq!(
        app.ports
            .campaigns
            .create_campaign(&campaign, &reservation, None)
            .await
            .unwrap(),
        CreateOutcome::Created
    );
    campaign
}

fn change(campaign: Uuid, video: Uuid, status: &str) -> JobStateChange {
    JobStateChange {
        job_id: format!("job-{video}"),
        status: status.into(),
        user_metadata: BTreeMap::from([
            ("campaign_id".into(), campaign.to_string()),
            ("video_id".into(), video.to_string()),
        ]),
        output_duration_ms: Some(35_040),
        error_message: (status == "ERROR").then(|| "1010: bad input".into()),
    }
}

pub(crate) async fn stored(app: &Context, id: Uuid) -> Campaign {
    app.ports.campaigns.get_campaign(id).await.unwrap().unwrap()
}

macro_rules! on_both_backends {
    ($($check:ident => $local:ident, $aws:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $local() {
            $check(app(local_store())).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $aws() {
            $check(app(Arc::new(support::moto::aws_store().await))).await;
        }
    )*};
}

on_both_backends! {
    completions_mark_videos_ready_and_the_last_completes => local_completions_mark_videos_ready_and_the_last_completes, aws_completions_mark_videos_ready_and_the_last_completes;
    a_failed_job_fails_the_campaign_and_refunds_once => local_a_failed_job_fails_the_campaign_and_refunds_once, aws_a_failed_job_fails_the_campaign_and_refunds_once;
    concurrent_completions_complete_once => local_concurrent_completions_complete_once, aws_concurrent_completions_complete_once;
}

async fn completions_mark_videos_ready_and_the_last_completes(app: Context) {
    let (id, en, ja) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    rendering_campaign(&app, id, &[(en, Language::En), (ja, Language::Ja)]).await;

    job_finished(&app, &change(id, en, "COMPLETE"))
        .await
        .unwrap();
    let c = stored(&app, id).await;
    assert_eq!(c.status, CampaignStatus::Rendering);
    let v = c.videos.iter().find(|v| v.id == en).unwrap();
    assert_eq!(v.status, VideoStatus::Ready);
    assert_eq!(
        v.file_key.as_deref(),
        Some(format!("videos/{id}/vertical_en_{en}.mp4").as_str())
    );
    assert_eq!(v.duration_seconds, Some(35.04));
    assert!(v.credits_cost.unwrap_or(0) > 0);
    assert_eq!(
        c.videos.iter().find(|v| v.id == ja).unwrap().status,
        VideoStatus::Rendering
    );

    // The same event again (EventBridge delivers at least once): nothing changes.
    job_finished(&app, &change(id, en, "COMPLETE"))
        .await
        .unwrap();
    assert_eq!(stored(&app, id).await.revision, c.revision);

    job_finished(&app, &change(id, ja, "COMPLETE"))
        .await
        .unwrap();
    let c = stored(&app, id).await;
    assert_eq!(c.status, CampaignStatus::Review);
    assert!(c.videos.iter().all(|v| v.status == VideoStatus::Ready));
    let events = app.ports.webhooks.list_events(id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "campaign.completed");
    let body: Value = serde_json::from_str(&events[0].body).unwrap();
    for v in body["videos"].as_array().unwrap() {
        assert_eq!(v["status"], "ready");
        assert!(v["file_url"].as_str().is_some(), "{v}");
    }
    // A late duplicate after review changes nothing and adds no event.
    job_finished(&app, &change(id, ja, "COMPLETE"))
        .await
        .unwrap();
    assert_eq!(app.ports.webhooks.list_events(id).await.unwrap().len(), 1);
}

async fn a_failed_job_fails_the_campaign_and_refunds_once(app: Context) {
    let (id, en, ja) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let c = rendering_campaign(&app, id, &[(en, Language::En), (ja, Language::Ja)]).await;
    assert_eq!(
        app.ports
            .campaigns
            .quota_used(&c.account_id, "2026-11")
            .await
            .unwrap(),
        2
    );
    job_finished(&app, &change(id, en, "ERROR")).await.unwrap();
    job_finished(&app, &change(id, en, "ERROR")).await.unwrap();
    job_finished(&app, &change(id, ja, "COMPLETE"))
        .await
        .unwrap();
    let c = stored(&app, id).await;
    assert_eq!(c.status, CampaignStatus::Failed);
    assert_eq!(
        c.failed_stage,
        Some(reelforge_core::model::CampaignStatus::Rendering)
    );
    let error = c.error.clone().unwrap();
    assert!(error.contains("could not be rendered"), "{error}");
    assert!(!error.contains("1010"), "no internal detail: {error}");
    assert_eq!(
        app.ports
            .campaigns
            .quota_used(&c.account_id, "2026-11")
            .await
            .unwrap(),
        0
    );
    let events = app.ports.webhooks.list_events(id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "campaign.failed");
}

async fn concurrent_completions_complete_once(app: Context) {
    let app = Arc::new(app);
    let id = Uuid::new_v4();
    let videos: Vec<(Uuid, Language)> = [Language::En, Language::Ja, Language::Ko, Language::De]
        .into_iter()
        .map(|l| (Uuid::new_v4(), l))
        .collect();
    rendering_campaign(&app, id, &videos).await;
    // Every completion twice, all at once.
    let runs: Vec<_> = videos
        .iter()
        .chain(videos.iter())
        .map(|(vid, _)| {
            let app = app.clone();
            let vid = *vid;
            tokio::spawn(async move { job_finished(&app, &change(id, vid, "COMPLETE")).await })
        })
        .collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    let c = stored(&app, id).await;
    assert_eq!(c.status, CampaignStatus::Review);
    assert!(c.videos.iter().all(|v| v.status == VideoStatus::Ready));
    assert_eq!(app.ports.webhooks.list_events(id).await.unwrap().len(), 1);
}

/// A stage that wrote the next status but whose hand-off was lost: the retried (or any
/// stale) message of the earlier stage queues the current stage's message again, once the
/// campaign has no stage holding it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_hand_off_is_resumed_by_the_earlier_stages_message() {
    let store = local_store();
    let app = app(store.clone());
    let (id, en) = (Uuid::new_v4(), Uuid::new_v4());
    // In `rendering`, nothing queued: the `render` hand-off was lost.
    rendering_campaign(&app, id, &[(en, Language::En)]).await;
    let stages = Stage::PIPELINE;
    assert!(store.receive(&stages, 60_000).unwrap().is_none());
    // The earlier stages' messages (retries, duplicates) find it further along.
    for stale in [Stage::Collect, Stage::Voiceover] {
        let next = reelforge_app::pipeline::process(
            &app,
            &reelforge_core::model::StageMessage::stage(stale, id),
        )
        .await
        .unwrap();
        assert_eq!(next, Next::Done);
    }
    let mut queued = Vec::new();
    while let Some(r) = store.receive(&stages, 60_000).unwrap() {
        queued.push(r.message.stage);
        store.ack(&r).unwrap();
    }
    assert_eq!(queued, vec![Stage::Render, Stage::Render]);
}
