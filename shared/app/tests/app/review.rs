//! Script edits and the campaign listing (SPEC §11) at the library level, on both
//! backends: an edited script is spoken and rendered again (counted tools stand in for
//! the voice engine and the renderer), once however often its message comes, under new
//! media keys with `video.ready` made in the same write; the listing pages newest first
//! and never repeats or skips a campaign while new ones are created.

use reelforge_testkit as support;

use async_trait::async_trait;
use http::Method;
use reelforge_app::api::handle;
use reelforge_app::pipeline::{self, rerender, Next};
use reelforge_app::{Context, Ports, Tools};
use reelforge_core::limiter::{account_window_key, WINDOW_MS};
use reelforge_core::model::{
    Campaign, CampaignStatus, Language, Platform, QuotaReservation, Stage, StageMessage, Video,
    VideoStatus,
};
use reelforge_core::plans::Plan;
use reelforge_core::ports::{
    JobStateChange, MediaStore, RenderJob, RenderStarted, ToolError, VideoRenderer,
};
use reelforge_core::voice::{Speech, VoiceError, WordTiming};
use reelforge_core::voice_engine::VoiceEngine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::api::{new_account, request};
use uuid::Uuid;

static IP: AtomicU32 = AtomicU32::new(1);

fn ip() -> u32 {
    100_000 + IP.fetch_add(1, Ordering::SeqCst)
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Local,
    Aws,
}

async fn ports(backend: Backend, tag: &str) -> Ports {
    match backend {
        Backend::Local => support::api::local_ports(&format!("review-{tag}-{}", Uuid::new_v4())),
        Backend::Aws => support::api::aws_ports().await,
    }
}

/// Speaks nothing: writes a stand-in WAV and two timed words, counting calls.
#[derive(Default)]
struct CountedVoice {
    calls: AtomicUsize,
    texts: Mutex<Vec<String>>,
}

#[async_trait]
impl VoiceEngine for CountedVoice {
    fn provider(&self) -> reelforge_core::styles::ProviderId {
        reelforge_core::styles::ProviderId::Espeak
    }

    async fn speak_as(
        &self,
        text: &str,
        _language: Language,
        _voice: Option<&str>,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.texts.lock().unwrap().push(text.to_string());
        tokio::fs::write(out_wav, b"RIFF-stand-in").await?;
        Ok(Speech {
            wav: out_wav.to_path_buf(),
            duration_seconds: 2.6,
            words: vec![
                WordTiming {
                    text: "Edited".into(),
                    start: 0.0,
                    end: 1.0,
                },
                WordTiming {
                    text: "script.".into(),
                    start: 1.0,
                    end: 2.6,
                },
            ],
        })
    }
}

/// Stores stand-in outputs (`{stem}.mp4`, `{stem}.jpg`) as a finished local render would.
async fn store_outputs(media: &dyn MediaStore, stem: &str) -> Result<RenderStarted, ToolError> {
    for (ext, ct) in [("mp4", "video/mp4"), ("jpg", "image/jpeg")] {
        media
            .put_media(
                &format!("{stem}.{ext}"),
                bytes::Bytes::from_static(b"rendered"),
                ct,
            )
            .await
            .map_err(|e| ToolError(e.to_string()))?;
    }
    Ok(RenderStarted::Finished { duration_ms: 2_600 })
}

/// Renders nothing: stores stand-in outputs under the job's stem (or submits a "job"),
/// recording every job.
struct CountedRenderer {
    media: Arc<dyn MediaStore>,
    jobs: Mutex<Vec<RenderJob>>,
    /// The job ids given up.
    cancelled: Mutex<Vec<String>>,
    submit: bool,
}

#[async_trait]
impl VideoRenderer for CountedRenderer {
    async fn start(&self, job: &RenderJob) -> Result<RenderStarted, ToolError> {
        let n = {
            let mut jobs = self.jobs.lock().unwrap();
            jobs.push(job.clone());
            jobs.len()
        };
        if self.submit {
            return Ok(RenderStarted::Submitted {
                job_id: format!("job-{n}"),
            });
        }
        store_outputs(&*self.media, &job.output_stem).await
    }

    async fn job_state(&self, _job_id: &str) -> Result<Option<JobStateChange>, ToolError> {
        Ok(None)
    }

    async fn cancel(&self, job_id: &str) -> Result<(), ToolError> {
        self.cancelled.lock().unwrap().push(job_id.to_string());
        Ok(())
    }
}

struct Rig {
    app: Arc<Context>,
    account: String,
    key: String,
    voice: Arc<CountedVoice>,
    renderer: Arc<CountedRenderer>,
}

async fn rig(backend: Backend, tag: &str, submit: bool) -> Rig {
    let ports = ports(backend, tag).await;
    let (account, key) = new_account(&ports, Plan::Scale, None).await;
    let voice = Arc::new(CountedVoice::default());
    let renderer = Arc::new(CountedRenderer {
        media: ports.media.clone(),
        jobs: Mutex::new(Vec::new()),
        cancelled: Mutex::new(Vec::new()),
        submit,
    });
    let mut tools = Tools::none(reelforge_core::styles::ProviderId::Espeak);
    tools.voice = voice.clone();
    tools.renderer = renderer.clone();
    // Long enough that no test depends on the machine's speed: copies of a message wait
    // for the holder, which gives the claim back when it is done.
    tools.lease_ms = 60_000;
    Rig {
        app: Arc::new(Context::new(ports).with_tools(tools)),
        account,
        key,
        voice,
        renderer,
    }
}

async fn call(r: &Rig, key: &str, method: Method, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let resp = handle(&r.app, request(method, path, Some(key), ip(), &body)).await;
    (
        resp.status.as_u16(),
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

/// A campaign in `status` at `created_at`, its videos ready and stored, the
/// page's facts and capture stored (as collect and process leave them).
async fn campaign_at(
    r: &Rig,
    status: CampaignStatus,
    created_at: chrono::DateTime<chrono::Utc>,
    languages: &[Language],
) -> Campaign {
    let id = Uuid::new_v4();
    let mut videos = Vec::new();
    for &language in languages {
        let mut v = Video {
            id: Uuid::new_v4(),
            platform: Platform::YoutubeShorts,
            language,
            status: VideoStatus::Ready,
            file_key: None,
            duration_seconds: Some(30.0),
            published_at: None,
            credits_cost: Some(10),
            thumbnail_key: None,
            script_source: Some("page_language".into()),
            render_job: None,
            review: Default::default(),
        };
        let stem = v.media_stem(id);
        v.file_key = Some(format!("{stem}.mp4"));
        v.thumbnail_key = Some(format!("{stem}.jpg"));
        r.app
            .ports
            .media
            .put_media(
                &format!("{stem}.mp4"),
                bytes::Bytes::from_static(b"first"),
                "video/mp4",
            )
            .await
            .unwrap();
        videos.push(v);
    }
    // What collect and process leave for the render stage: the page's facts and its
    // capture at the video's size (the storyboard reads both; an edit renders from them).
    let captures = json!({"page/1080x1920": {
        "image": format!("work/{id}/captures/page/1080x1920.png"),
        "layout": reelforge_core::layout::PageLayout::default(),
    }});
    let collected = json!({
        "url": "https://acme.example/",
        "facts": reelforge_core::page::PageFacts::default(),
        "alternates": {},
    });
    for (key, doc) in [
        (reelforge_app::pipeline::artifacts::captures(id), captures),
        (reelforge_app::pipeline::artifacts::collected(id), collected),
    ] {
        r.app
            .ports
            .media
            .put_media(&key, doc.to_string().into(), "application/json")
            .await
            .unwrap();
    }
    let c = Campaign {
        id,
        job_id: "01JDG0000000000000000000RV".into(),
        account_id: r.account.clone(),
        status,
        url: "https://acme.example/".into(),
        title: "acme.example Campaign".into(),
        languages: languages.to_vec(),
        platforms: vec![Platform::YoutubeShorts],
        webhook_url: Some("https://hooks.example.com/reelforge".into()),
        playlist_id: None,
        created_at,
        updated_at: created_at,
        videos_reserved: videos.len() as u32,
        videos,
        error: None,
        failed_stage: None,
        quota_period: "2026-11".into(),
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
    };
    let reservation = QuotaReservation {
        account_id: r.account.clone(),
        period: c.quota_period.clone(),
        videos: c.videos_reserved,
        quota: 100_000,
    };
    r.app
        .ports
        .campaigns
        .create_campaign(&c, &reservation, None)
        .await
        .unwrap();
    c
}

async fn review_campaign(r: &Rig, languages: &[Language]) -> Campaign {
    campaign_at(r, CampaignStatus::Review, chrono::Utc::now(), languages).await
}

async fn stored(r: &Rig, id: Uuid) -> Campaign {
    r.app
        .ports
        .campaigns
        .get_campaign(id)
        .await
        .unwrap()
        .unwrap()
}

async fn edit(r: &Rig, c: Uuid, video: &str, script: &str) -> (u16, Value) {
    call(
        r,
        &r.key,
        Method::PUT,
        &format!("/api/v1/campaigns/{c}/videos/{video}/script"),
        &json!({"script": script}),
    )
    .await
}

/// Runs the rerender message until it is done.
async fn run_rerender(app: &Context, id: Uuid) {
    for _ in 0..400 {
        match pipeline::process(app, &StageMessage::stage(Stage::Rerender, id))
            .await
            .unwrap_or_else(|e| panic!("rerender failed: {e}"))
        {
            Next::Done => return,
            Next::RetryIn(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the rerender stage never finished");
}

macro_rules! on_both_backends {
    ($($check:ident => $local:ident, $aws:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $local() {
            $check(Backend::Local).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $aws() {
            $check(Backend::Aws).await;
        }
    )*};
}

on_both_backends! {
    an_edit_is_spoken_and_rendered_once_under_new_keys => local_an_edit_is_spoken_and_rendered_once_under_new_keys, aws_an_edit_is_spoken_and_rendered_once_under_new_keys;
    listing_pages_never_repeat_or_skip_while_campaigns_are_created => local_listing_pages_never_repeat_or_skip_while_campaigns_are_created, aws_listing_pages_never_repeat_or_skip_while_campaigns_are_created;
}

// ---------------------------------------------------------------------------------------
// Script edits

async fn an_edit_is_spoken_and_rendered_once_under_new_keys(backend: Backend) {
    let r = rig(backend, "edit", false).await;
    let c = review_campaign(&r, &[Language::En, Language::Ja]).await;
    let video = &c.videos[0];
    let old_key = video.file_key.clone().unwrap();
    let (status, answer) = edit(&r, c.id, &video.id.to_string(), "  Edited script.  ").await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["video"]["status"], "rendering");
    assert!(
        answer["video"]["file_url"].is_string(),
        "the old file stays downloadable"
    );
    assert_eq!(answer["edits_left"], 4);
    let (status, got) = call(
        &r,
        &r.key,
        Method::GET,
        &format!("/api/v1/campaigns/{}", c.id),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["status"], "review", "the campaign stays in review");
    assert_eq!(got["videos"][0]["status"], "rendering");
    let old_url = got["videos"][0]["file_url"].as_str().unwrap();
    assert!(
        !old_url.contains("edit1"),
        "the old file's link until the new one is ready"
    );

    // Three copies of the message at once: one voice call, one render.
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let app = r.app.clone();
        runs.spawn(async move { run_rerender(&app, c.id).await });
    }
    while let Some(joined) = runs.join_next().await {
        joined.unwrap();
    }
    assert_eq!(r.voice.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        *r.voice.texts.lock().unwrap(),
        vec!["Edited script.".to_string()]
    );
    let jobs = r.renderer.jobs.lock().unwrap().clone();
    assert_eq!(jobs.len(), 1);
    let stem = video.media_stem(c.id);
    assert_eq!(jobs[0].output_stem, format!("{stem}-edit1"));
    assert_eq!(
        jobs[0].plan.voiceover.path.to_string_lossy(),
        format!("work/{}/voice/en-{}-edit1.wav", c.id, video.id)
    );
    assert_eq!(jobs[0].metadata.get("edit").map(String::as_str), Some("1"));
    assert_eq!(jobs[0].plan.voiceover.duration_ms, 2_600);

    let done = stored(&r, c.id).await;
    assert_eq!(done.status, CampaignStatus::Review);
    let v = &done.videos[0];
    assert_eq!(v.status, VideoStatus::Ready);
    assert_eq!(
        v.file_key.as_deref(),
        Some(format!("{stem}-edit1.mp4").as_str())
    );
    assert_eq!(
        v.thumbnail_key.as_deref(),
        Some(format!("{stem}-edit1.jpg").as_str())
    );
    assert_eq!(v.script_source.as_deref(), Some("edited"));
    assert_eq!(v.duration_seconds, Some(2.6));
    assert_eq!(v.review.edits, 1);
    assert!(v.review.pending_edit.is_none());
    assert_eq!(done.videos[1], c.videos[1], "the other video is untouched");
    assert!(
        r.app
            .ports
            .media
            .get_media(&old_key)
            .await
            .unwrap()
            .is_some(),
        "old file kept"
    );
    assert!(r
        .app
        .ports
        .media
        .get_media(&format!("work/{}/voice/en-{}-edit1.json", c.id, video.id))
        .await
        .unwrap()
        .is_some());

    // video.ready, once, with the §11 body.
    let events = r.app.ports.webhooks.list_events(c.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        vec!["video.ready"]
    );
    let body: Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(
        body.as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["event", "campaign_id", "video", "timestamp"])
    );
    assert_eq!(body["campaign_id"], c.id.to_string());
    assert_eq!(body["video"]["id"], video.id.to_string());
    assert_eq!(body["video"]["status"], "ready");
    assert_eq!(body["video"]["script_source"], "edited");
    assert!(body["video"]["file_url"]
        .as_str()
        .unwrap()
        .contains("edit1"));
    // Queued for delivery like every event (the local store queues it in the write).
    assert_eq!(events[0].attempts.len(), 0);

    // The edit counted in the account's creation window, not in the quota.
    let probe = r
        .app
        .ports
        .windows
        .admit(
            &account_window_key(&r.account),
            60,
            WINDOW_MS,
            r.app.clock.now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(probe.remaining, 58, "the edit and this probe");
    assert_eq!(
        r.app
            .ports
            .campaigns
            .quota_used(&r.account, "2026-11")
            .await
            .unwrap(),
        2,
        "only the campaign's own reservation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_are_refused_clearly_and_at_most_five_per_video() {
    let r = rig(Backend::Local, "refuse", false).await;
    let c = review_campaign(&r, &[Language::En, Language::Ja]).await;
    let (en, ja) = (c.videos[0].id.to_string(), c.videos[1].id.to_string());
    for (video, body, status, says) in [
        (&en, json!({"script": ""}), 400, "empty"),
        (&en, json!({"script": "a".repeat(1_501)}), 400, "1500"),
        (&ja, json!({"script": "This is English."}), 400, "Japanese"),
        (&en, json!({"script": 5}), 400, "script"),
        (&en, json!({"script": "Fine.", "lang": "en"}), 400, "lang"),
        (&en, json!([]), 400, "JSON object"),
    ] {
        let (got, answer) = call(
            &r,
            &r.key,
            Method::PUT,
            &format!("/api/v1/campaigns/{}/videos/{video}/script", c.id),
            &body,
        )
        .await;
        assert_eq!(got, status, "{body} → {answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    for video in [Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let (status, answer) = edit(&r, c.id, &video, "Fine.").await;
        assert_eq!(status, 404, "{answer}");
        assert_eq!(answer["error"], "Video not found");
    }
    // Another account's campaign is not found.
    let (_, other_key) = new_account(&r.app.ports, Plan::Scale, None).await;
    let (status, _) = call(
        &r,
        &other_key,
        Method::PUT,
        &format!("/api/v1/campaigns/{}/videos/{en}/script", c.id),
        &json!({"script": "Fine."}),
    )
    .await;
    assert_eq!(status, 404);
    // Refusals did not count in the creation window.
    let probe = r
        .app
        .ports
        .windows
        .admit(
            &account_window_key(&r.account),
            60,
            WINDOW_MS,
            r.app.clock.now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(probe.remaining, 59);

    // A campaign outside review: 409.
    let rendering = campaign_at(
        &r,
        CampaignStatus::Rendering,
        chrono::Utc::now(),
        &[Language::En],
    )
    .await;
    let (status, answer) = edit(
        &r,
        rendering.id,
        &rendering.videos[0].id.to_string(),
        "Fine.",
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("review"));

    // Five edits; one while the previous renders is refused; the sixth is refused.
    for n in 1..=5 {
        let (status, answer) = edit(&r, c.id, &en, &format!("Edit number {n}.")).await;
        assert_eq!(status, 202, "edit {n}: {answer}");
        let (status, answer) = edit(&r, c.id, &en, "Too soon.").await;
        assert_eq!(status, 409, "{answer}");
        assert!(answer["error"]
            .as_str()
            .unwrap()
            .contains("still rendering"));
        run_rerender(&r.app, c.id).await;
        let v = stored(&r, c.id).await.videos[0].clone();
        assert_eq!(
            v.file_key,
            Some(format!("{}-edit{n}.mp4", v.media_stem(c.id)))
        );
    }
    let (status, answer) = edit(&r, c.id, &en, "Sixth.").await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("at most 5"));
    // The other video still takes edits.
    assert_eq!(edit(&r, c.id, &ja, "新しい台本です。").await.0, 202);
    // An edit rendering blocks publishing.
    let (status, answer) = call(
        &r,
        &r.key,
        Method::POST,
        &format!("/api/v1/campaigns/{}/publish", c.id),
        &json!({}),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    let events = r.app.ports.webhooks.list_events(c.id).await.unwrap();
    assert_eq!(events.len(), 5, "one video.ready per finished edit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_rendered_by_a_job_is_finished_by_its_event() {
    let r = rig(Backend::Local, "job", true).await;
    let c = review_campaign(&r, &[Language::En]).await;
    let video = c.videos[0].clone();
    assert_eq!(
        edit(&r, c.id, &video.id.to_string(), "A job's script.")
            .await
            .0,
        202
    );
    let next = pipeline::process(&r.app, &StageMessage::stage(Stage::Rerender, c.id))
        .await
        .unwrap();
    assert_eq!(
        next,
        Next::RetryIn(pipeline::render::RECHECK_SECS),
        "it looks at the job later"
    );
    let waiting = stored(&r, c.id).await;
    let pending = waiting.videos[0].review.pending_edit.clone().unwrap();
    assert_eq!(pending.render_job.as_deref(), Some("job-1"));
    assert_eq!(waiting.videos[0].status, VideoStatus::Rendering);
    // Another look while the job runs submits nothing again.
    pipeline::process(&r.app, &StageMessage::stage(Stage::Rerender, c.id))
        .await
        .unwrap();
    assert_eq!(r.renderer.jobs.lock().unwrap().len(), 1);

    // The job's completion, as the render-events function gets it from EventBridge.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/render-events.json"),
        )
        .unwrap(),
    )
    .unwrap();
    event["detail"]["jobId"] = json!("job-1");
    event["detail"]["userMetadata"] = json!({
        "reelforge_stage": "prod", "campaign_id": c.id, "video_id": video.id, "edit": "1",
        "thumbnail_key": format!("{}-edit1.0000001.jpg", video.media_stem(c.id)),
    });
    reelforge_lambda::handle_render_event(&r.app, event.clone())
        .await
        .unwrap();
    reelforge_lambda::handle_render_event(&r.app, event)
        .await
        .unwrap();
    let done = stored(&r, c.id).await;
    let v = &done.videos[0];
    assert_eq!(v.status, VideoStatus::Ready);
    assert_eq!(
        v.file_key,
        Some(format!("{}-edit1.mp4", video.media_stem(c.id)))
    );
    assert_eq!(
        v.thumbnail_key,
        Some(format!("{}-edit1.0000001.jpg", video.media_stem(c.id))),
        "the stitch job's frame capture"
    );
    assert_eq!(v.duration_seconds, Some(35.04));
    assert_eq!(done.status, CampaignStatus::Review);
    assert_eq!(
        r.app.ports.webhooks.list_events(c.id).await.unwrap().len(),
        1
    );

    // A job that fails gives the video back with its previous file.
    assert_eq!(
        edit(&r, c.id, &video.id.to_string(), "Another script.")
            .await
            .0,
        202
    );
    pipeline::process(&r.app, &StageMessage::stage(Stage::Rerender, c.id))
        .await
        .unwrap();
    let change = JobStateChange {
        job_id: "job-2".into(),
        status: "ERROR".into(),
        user_metadata: BTreeMap::from([
            ("campaign_id".to_string(), c.id.to_string()),
            ("video_id".to_string(), video.id.to_string()),
            ("edit".to_string(), "2".to_string()),
        ]),
        output_duration_ms: None,
        error_message: Some("1010: bad input".into()),
    };
    rerender::job_finished(&r.app, &change).await.unwrap();
    let back = stored(&r, c.id).await.videos[0].clone();
    assert_eq!(back.status, VideoStatus::Ready);
    assert_eq!(back.file_key, v.file_key, "the previous edit's file");
    assert!(back.review.edit_error.is_some());
    assert!(back.review.pending_edit.is_none());
    assert_eq!(back.review.edits, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_lettered_edit_keeps_the_previous_file() {
    let r = rig(Backend::Local, "dlq", false).await;
    let c = review_campaign(&r, &[Language::En]).await;
    assert_eq!(
        edit(&r, c.id, &c.videos[0].id.to_string(), "Never rendered.")
            .await
            .0,
        202
    );
    pipeline::dead_letter(&r.app, &StageMessage::stage(Stage::Rerender, c.id))
        .await
        .unwrap();
    let v = stored(&r, c.id).await.videos[0].clone();
    assert_eq!(v.status, VideoStatus::Ready);
    assert_eq!(v.file_key, c.videos[0].file_key);
    assert!(v.review.edit_error.is_some());
    assert_eq!(
        stored(&r, c.id).await.status,
        CampaignStatus::Review,
        "never failed"
    );
    assert_eq!(r.renderer.jobs.lock().unwrap().len(), 0);
}

// ---------------------------------------------------------------------------------------
// The listing

async fn list(r: &Rig, key: &str, query: &str) -> (u16, Value) {
    call(
        r,
        key,
        Method::GET,
        &format!("/api/v1/campaigns{query}"),
        &Value::Null,
    )
    .await
}

async fn listing_pages_never_repeat_or_skip_while_campaigns_are_created(backend: Backend) {
    let r = rig(backend, "list", false).await;
    let base = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut made = Vec::new();
    for i in 0..9 {
        // Three share a creation time: the id decides their order.
        let at = base + chrono::Duration::seconds(if i < 3 { 0 } else { i });
        let status = if i % 2 == 0 {
            CampaignStatus::Review
        } else {
            CampaignStatus::Failed
        };
        made.push(campaign_at(&r, status, at, &[Language::En]).await);
    }
    // Another account's campaigns (in the same store) never show.
    let (other_account, other_key) = new_account(&r.app.ports, Plan::Scale, None).await;
    let other = Rig {
        app: r.app.clone(),
        account: other_account,
        key: other_key,
        voice: r.voice.clone(),
        renderer: r.renderer.clone(),
    };
    campaign_at(&other, CampaignStatus::Review, base, &[Language::En]).await;
    let mut expected = made.clone();
    expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let expected: Vec<String> = expected.iter().map(|c| c.id.to_string()).collect();

    // On AWS the listing reads an eventually consistent index: wait until it shows all.
    for _ in 0..50 {
        let (_, page) = list(&r, &r.key, "?limit=100").await;
        if page["campaigns"].as_array().map(Vec::len) == Some(9) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=4&cursor={c}"),
            None => "?limit=4".to_string(),
        };
        let (status, page) = list(&r, &r.key, &query).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for c in page["campaigns"].as_array().unwrap() {
            assert!(c.get("success").is_none());
            assert!(c["videos"].is_array() && c["created_at"].is_string(), "{c}");
            seen.push(c["campaign_id"].as_str().unwrap().to_string());
        }
        // New campaigns created mid-listing are newer than every cursor: never on a
        // later page.
        campaign_at(
            &r,
            CampaignStatus::Review,
            chrono::Utc::now(),
            &[Language::En],
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(next) => {
                // A cursor of another account, or an edited one, is refused.
                let (status, _) = list(&other, &other.key, &format!("?cursor={next}")).await;
                assert_eq!(status, 400);
                let mut edited = next.to_string();
                let last = edited.pop().unwrap();
                edited.push(if last == 'A' { 'B' } else { 'A' });
                let (status, _) = list(&r, &r.key, &format!("?cursor={edited}")).await;
                assert_eq!(status, 400);
                cursor = Some(next.to_string());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3, "9 campaigns, 4 a page");
    assert_eq!(seen, expected, "newest first, none repeated or skipped");

    // The status filter pages over matching campaigns only (the AWS backend reads past
    // the filter until the page is full).
    let mut reviewed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?status=failed&limit=2&cursor={c}"),
            None => "?status=failed&limit=2".to_string(),
        };
        let (status, page) = list(&r, &r.key, &query).await;
        assert_eq!(status, 200, "{page}");
        for c in page["campaigns"].as_array().unwrap() {
            assert_eq!(c["status"], "failed");
            reviewed.push(c["campaign_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let failed: Vec<String> = expected
        .iter()
        .filter(|id| {
            made.iter()
                .any(|c| c.id.to_string() == **id && c.status == CampaignStatus::Failed)
        })
        .cloned()
        .collect();
    assert_eq!(reviewed, failed);

    for bad in [
        "?limit=0",
        "?limit=101",
        "?status=done",
        "?cursor=abc",
        "?page=2",
    ] {
        let (status, answer) = list(&r, &r.key, bad).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["success"], false);
    }
    let (status, page) = list(&r, &r.key, "").await;
    assert_eq!(status, 200);
    assert!(page["campaigns"].as_array().unwrap().len() >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_render_past_its_deadline_fails_the_campaign_and_gives_the_videos_back() {
    let r = rig(Backend::Local, "deadline", true).await;
    let started = chrono::Utc::now() - chrono::Duration::minutes(20);
    let c = campaign_at(
        &r,
        CampaignStatus::Rendering,
        started,
        &[Language::En, Language::Ja],
    )
    .await;
    // English is ready; Japanese was submitted and its job never ended.
    let ja = c.videos[1].id;
    reelforge_app::lifecycle::rewrite(&r.app, &c, |c| {
        let v = c.videos.iter_mut().find(|v| v.id == ja).unwrap();
        v.status = VideoStatus::Rendering;
        v.render_job = Some("job-lost".into());
        v.file_key = None;
    })
    .await
    .unwrap();
    let used = |r: &Rig| {
        let (store, account) = (r.app.ports.campaigns.clone(), r.account.clone());
        async move { store.quota_used(&account, "2026-11").await.unwrap() }
    };
    assert_eq!(used(&r).await, 2);

    // 20 minutes in, under the 30-minute deadline: it keeps looking at the job.
    let msg = StageMessage::stage(Stage::Render, c.id);
    let next = pipeline::process(&r.app, &msg).await.unwrap();
    assert_eq!(next, Next::RetryIn(pipeline::render::RECHECK_SECS));
    assert_eq!(stored(&r, c.id).await.status, CampaignStatus::Rendering);
    assert!(
        r.renderer.jobs.lock().unwrap().is_empty(),
        "nothing submitted again"
    );
    assert!(r.renderer.cancelled.lock().unwrap().is_empty());

    // The next look, 11 minutes later (past the 30-minute deadline; the message's claim
    // long expired): the campaign fails, the unproduced video is given back, the ready
    // one is kept.
    let late = minutes_later(&r, 11);
    assert_eq!(pipeline::process(&late, &msg).await.unwrap(), Next::Done);
    let failed = stored(&r, c.id).await;
    assert_eq!(failed.status, CampaignStatus::Failed);
    assert_eq!(failed.failed_stage, Some(CampaignStatus::Rendering));
    assert_eq!(
        failed.error.as_deref(),
        Some(pipeline::render::RENDER_DEADLINE_ERROR)
    );
    assert_eq!(
        used(&r).await,
        1,
        "the unproduced video went back to the quota"
    );
    // Its job was given up (what is still queued for it does nothing); the ready
    // video's was not.
    assert_eq!(*r.renderer.cancelled.lock().unwrap(), ["job-lost"]);
    // A copy of the message afterwards changes nothing.
    assert_eq!(pipeline::process(&late, &msg).await.unwrap(), Next::Done);
    assert_eq!(used(&r).await, 1);
    assert_eq!(r.renderer.cancelled.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_whose_render_outlives_the_deadline_is_given_up() {
    let r = rig(Backend::Local, "edit-deadline", true).await;
    let c = review_campaign(&r, &[Language::En]).await;
    let video = c.videos[0].clone();
    assert_eq!(
        edit(
            &r,
            c.id,
            &video.id.to_string(),
            "A script that never renders."
        )
        .await
        .0,
        202
    );
    let msg = StageMessage::stage(Stage::Rerender, c.id);
    assert_eq!(
        pipeline::process(&r.app, &msg).await.unwrap(),
        Next::RetryIn(pipeline::render::RECHECK_SECS)
    );
    let waiting = stored(&r, c.id).await.videos[0].clone();
    assert_eq!(waiting.status, VideoStatus::Rendering);
    assert!(waiting.review.pending_edit.is_some());

    // 31 minutes later the job still has not ended: the edit is given up.
    let late = minutes_later(&r, 31);
    assert_eq!(pipeline::process(&late, &msg).await.unwrap(), Next::Done);
    let back = stored(&r, c.id).await.videos[0].clone();
    assert_eq!(back.status, VideoStatus::Ready);
    assert!(back.review.pending_edit.is_none());
    assert_eq!(back.file_key, video.file_key, "the previous file stays");
    assert!(back.review.edit_error.is_some());
    assert_eq!(
        r.renderer.jobs.lock().unwrap().len(),
        1,
        "not submitted again"
    );
    assert_eq!(
        *r.renderer.cancelled.lock().unwrap(),
        ["job-1"],
        "the edit's job given up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn campaigns_created_in_one_millisecond_list_in_the_order_made() {
    // The clock stands still: every campaign gets the same `created_at`, so only the id
    // can keep them in creation order (random ids did not: CI once listed two swapped).
    let r = rig(Backend::Local, "same-ms", false).await;
    let frozen = Rig {
        app: Arc::new(minutes_later(&r, 0)),
        account: r.account.clone(),
        key: r.key.clone(),
        voice: r.voice.clone(),
        renderer: r.renderer.clone(),
    };
    let mut made = Vec::new();
    for _ in 0..8 {
        let (status, answer) = call(
            &frozen,
            &frozen.key,
            Method::POST,
            "/api/v1/campaigns",
            &json!({"url": "https://93.184.216.34/", "languages": ["en"]}),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        made.push(answer["campaign_id"].as_str().unwrap().to_string());
    }
    made.reverse();
    let (status, page) = list(&frozen, &frozen.key, "?limit=100").await;
    assert_eq!(status, 200, "{page}");
    let campaigns = page["campaigns"].as_array().unwrap();
    let times: BTreeSet<&str> = campaigns
        .iter()
        .map(|c| c["created_at"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 1, "one creation time: {times:?}");
    let listed: Vec<&str> = campaigns
        .iter()
        .map(|c| c["campaign_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, made, "newest first even within one millisecond");
}

/// The rig's app with its clock `minutes` ahead of now.
fn minutes_later(r: &Rig, minutes: i64) -> Context {
    let later = chrono::Utc::now() + chrono::Duration::minutes(minutes);
    Context::new(r.app.ports.clone())
        .with_tools(r.app.tools.clone())
        .with_clock(Arc::new(reelforge_core::clock::ManualClock::new(
            later.timestamp_millis(),
        )))
}

/// Renders every video but one, which fails as a full disk would.
struct AllButOne {
    media: Arc<dyn MediaStore>,
    fails: Uuid,
}

#[async_trait]
impl VideoRenderer for AllButOne {
    async fn start(&self, job: &RenderJob) -> Result<RenderStarted, ToolError> {
        if job.metadata.get("video_id") == Some(&self.fails.to_string()) {
            return Err(ToolError("No space left on device".into()));
        }
        store_outputs(&*self.media, &job.output_stem).await
    }

    async fn job_state(&self, _job_id: &str) -> Result<Option<JobStateChange>, ToolError> {
        Ok(None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_render_run_that_fails_keeps_no_file_of_the_videos_it_did_render() {
    let r = rig(Backend::Local, "half", false).await;
    let c = campaign_at(
        &r,
        CampaignStatus::Rendering,
        chrono::Utc::now(),
        &[Language::En, Language::Ja],
    )
    .await;
    reelforge_app::lifecycle::rewrite(&r.app, &c, |c| {
        for v in &mut c.videos {
            v.status = VideoStatus::Rendering;
            v.file_key = None;
            v.thumbnail_key = None;
        }
    })
    .await
    .unwrap();
    for v in &c.videos {
        let stem = v.media_stem(c.id);
        r.app
            .ports
            .media
            .delete_media(&format!("{stem}.mp4"))
            .await
            .unwrap();
        let track = reelforge_app::pipeline::voiceover::VoiceTrack {
            duration_seconds: 3.0,
            words: vec![reelforge_core::voice::WordTiming {
                text: "Hello.".into(),
                start: 0.2,
                end: 0.8,
            }],
            sentences: vec!["Hello.".into()],
        };
        reelforge_app::pipeline::artifacts::put_json(
            &r.app,
            &reelforge_app::pipeline::artifacts::voice_words(c.id, v.language),
            &track,
        )
        .await
        .unwrap();
    }
    let mut tools = r.app.tools.clone();
    tools.renderer = Arc::new(AllButOne {
        media: r.app.ports.media.clone(),
        fails: c.videos[1].id,
    });
    let app = Context::new(r.app.ports.clone()).with_tools(tools);
    let err = pipeline::process(&app, &StageMessage::stage(Stage::Render, c.id))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    let after = stored(&r, c.id).await;
    assert_eq!(after.status, CampaignStatus::Rendering);
    assert!(after
        .videos
        .iter()
        .all(|v| v.status == VideoStatus::Rendering));
    for v in &c.videos {
        let stem = v.media_stem(c.id);
        for ext in ["mp4", "jpg"] {
            assert_eq!(
                r.app
                    .ports
                    .media
                    .get_media(&format!("{stem}.{ext}"))
                    .await
                    .unwrap(),
                None,
                "{stem}.{ext} kept after a failed run"
            );
        }
    }
}
