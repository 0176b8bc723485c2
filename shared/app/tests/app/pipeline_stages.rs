//! The pipeline's stages at the library level, driven by hand through the local queue the
//! way `pipeline::worker` drives them, with every production tool counted: ffmpeg and
//! Chromium through logging wrapper scripts (which exec the real tools), the voice engine
//! through a counting wrapper around espeak-ng. The page is the bundled sample site on
//! loopback; nothing leaves the machine (the campaign's webhook is never delivered here:
//! only pipeline stages are received).

use async_trait::async_trait;
use bytes::Bytes;
use reelforge_app::api::{self, ApiRequest};
use reelforge_app::pipeline::{self, Next};
use reelforge_app::{Context, Ports, Tools as StageTools};
use reelforge_core::clock::SystemClock;
use reelforge_core::guard::TargetPolicy;
use reelforge_core::model::Stage;
use reelforge_core::model::{Campaign, CampaignStatus, Language, StageMessage, VideoStatus};
use reelforge_core::plans::Plan;
use reelforge_core::voice::{Speech, VoiceError};
use reelforge_core::voice_engine::VoiceEngine;
use reelforge_local::LocalStore;
use reelforge_studio::EspeakVoice;
use reelforge_studio::FfmpegRenderer;
use reelforge_studio::{CaptureOptions, ChromiumCapture};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a received message stays hidden, and a stage's claim (as in the worker, the
/// two are equal). Longer than any stage takes here, so no claim ever expires mid-run.
const VISIBILITY_MS: i64 = 60_000;
/// Copies of every stage message delivered.
const COPIES: usize = 3;
/// A campaign takes ~20 s on this machine; this bounds a hang, not the speed.
const DEADLINE: Duration = Duration::from_secs(180);

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reelforge-stages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A shell script at `dir/name` that runs `body` (with `$LOG` set) and execs `real`.
fn wrapper(dir: &Path, name: &str, log: &Path, body: &str, real: &str) -> PathBuf {
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\nLOG='{}'\n{body}\nexec {real} \"$@\"\n",
        log.display()
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// espeak-ng, counting calls per language.
#[derive(Default)]
struct CountingVoice {
    calls: Mutex<BTreeMap<Language, usize>>,
}

#[async_trait]
impl VoiceEngine for CountingVoice {
    fn provider(&self) -> reelforge_core::styles::ProviderId {
        reelforge_core::styles::ProviderId::Espeak
    }

    async fn speak_as(
        &self,
        text: &str,
        language: Language,
        voice: Option<&str>,
        out_wav: &Path,
    ) -> Result<Speech, VoiceError> {
        *self.calls.lock().unwrap().entry(language).or_default() += 1;
        EspeakVoice.speak_as(text, language, voice, out_wav).await
    }
}

struct Tools {
    /// One line per ffmpeg run: its last argument (the output file).
    ffmpeg_log: PathBuf,
    /// One line per Chromium run: its `--screenshot=` file.
    chromium_log: PathBuf,
    voice: Arc<CountingVoice>,
}

fn counted_tools(dir: &Path, store: Arc<LocalStore>) -> (StageTools, Tools) {
    let ffmpeg_log = dir.join("ffmpeg.log");
    let chromium_log = dir.join("chromium.log");
    let ffmpeg = wrapper(
        dir,
        "ffmpeg-counted",
        &ffmpeg_log,
        "for last; do :; done\nprintf '%s\\n' \"$last\" >> \"$LOG\"",
        "ffmpeg",
    );
    let chromium = wrapper(
        dir,
        "chromium-counted",
        &chromium_log,
        "printf '%s\\n' \"$PWD\" >> \"$LOG\"",
        "chromium",
    );
    let voice = Arc::new(CountingVoice::default());
    let mut stage_tools = reelforge_local::local_tools(store.clone());
    let mut settings = reelforge_local::ffmpeg_settings();
    settings.ffmpeg = ffmpeg;
    stage_tools.renderer = Arc::new(FfmpegRenderer::new(store, settings));
    stage_tools.capture = Arc::new(ChromiumCapture {
        options: CaptureOptions {
            chromium,
            ..CaptureOptions::from_env()
        },
    });
    stage_tools.voice = voice.clone();
    stage_tools.lease_ms = VISIBILITY_MS;
    (
        stage_tools,
        Tools {
            ffmpeg_log,
            chromium_log,
            voice,
        },
    )
}

/// Creates the campaign through the API (as a client would), returning its id.
async fn create_campaign(app: &Context, key: &str, body: Value) -> Uuid {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    let resp = api::handle(
        app,
        ApiRequest {
            method: http::Method::POST,
            path: "/api/v1/campaigns".into(),
            headers,
            body: Bytes::from(body.to_string()),
            body_too_large: false,
            source_ip: Some("127.0.0.1".parse().unwrap()),
        },
    )
    .await;
    let json: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(resp.status, http::StatusCode::CREATED, "{json}");
    json["campaign_id"].as_str().unwrap().parse().unwrap()
}

async fn stored(app: &Context, id: Uuid) -> Campaign {
    app.ports.campaigns.get_campaign(id).await.unwrap().unwrap()
}

/// What the runs of one batch of received messages asked for.
#[derive(Default)]
struct Outcomes {
    retried: usize,
    errors: Vec<String>,
}

/// Runs the received messages at the same time and settles each one as the worker does:
/// `Done` acks it, `RetryIn` sends it again with that delay and acks it, an error leaves
/// it to come back after its visibility timeout.
async fn run_batch(
    app: &Arc<Context>,
    store: &LocalStore,
    batch: Vec<reelforge_local::Received>,
    out: &mut Outcomes,
) {
    let mut runs = tokio::task::JoinSet::new();
    for received in batch {
        let app = app.clone();
        runs.spawn(async move {
            let result = pipeline::process(&app, &received.message).await;
            (received, result)
        });
    }
    while let Some(joined) = runs.join_next().await {
        let (received, result) = joined.expect("stage task panicked");
        match result {
            Ok(Next::Done) => {
                store.ack(&received).unwrap();
            }
            Ok(Next::RetryIn(secs)) => {
                app.ports.queue.send(&received.message, secs).await.unwrap();
                store.ack(&received).unwrap();
                out.retried += 1;
            }
            Err(e) => out.errors.push(format!("{}: {e}", received.message.stage)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_stage_message_delivered_three_times_does_each_piece_of_work_once() {
    let dir = workdir("dup");
    let store = Arc::new(LocalStore::open(&dir.join("data")).unwrap());
    let (stage_tools, tools) = counted_tools(&dir, store.clone());
    let app = Arc::new(
        Context::new(Ports::from_store(store.clone()))
            .with_policy(TargetPolicy {
                allow_private: true,
            })
            .with_tools(stage_tools),
    );
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let account =
        reelforge_app::admin::create_account(&*store, &SystemClock, "Dup", Plan::Scale, None)
            .await
            .unwrap();
    let (key, _) = reelforge_app::admin::create_key(&*store, &*store, &SystemClock, &account.id)
        .await
        .unwrap();
    // The hook is never called here (no webhook worker runs); its event is checked in
    // the store.
    let id = create_campaign(
        &app,
        &key.secret,
        json!({"url": format!("{site}/"), "languages": ["en", "ja"],
               "webhook_url": "http://127.0.0.1:9/hook"}),
    )
    .await;

    let mut path = vec![stored(&app, id).await.status];
    let mut duplicated = BTreeSet::new();
    let mut outcomes = Outcomes::default();
    // Received, not yet run: another stage's message taken while gathering copies.
    let mut held = VecDeque::new();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < DEADLINE,
            "campaign stuck; statuses {path:?}, errors {:?}",
            outcomes.errors
        );
        let first = match held.pop_front() {
            Some(r) => r,
            None => match store.receive(&Stage::PIPELINE, VISIBILITY_MS).unwrap() {
                Some(r) => r,
                None => {
                    let c = stored(&app, id).await;
                    if c.status == CampaignStatus::Review || c.status.is_terminal() {
                        break;
                    }
                    // Nothing visible yet (a retry not due, or a message whose run failed).
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        // The first delivery of each stage's message comes with two duplicates.
        if duplicated.insert(first.message.stage) {
            for _ in 1..COPIES {
                app.ports.queue.send(&first.message, 0).await.unwrap();
            }
        }
        // Every visible copy of this message runs at the same time; other messages
        // received meanwhile wait for their turn.
        let mut batch = vec![first];
        while batch.len() < COPIES {
            match store.receive(&Stage::PIPELINE, VISIBILITY_MS).unwrap() {
                Some(r) if r.message.stage == batch[0].message.stage => batch.push(r),
                Some(r) => held.push_back(r),
                None => break,
            }
        }
        run_batch(&app, &store, batch, &mut outcomes).await;
        let status = stored(&app, id).await.status;
        if path.last() != Some(&status) {
            path.push(status);
        }
    }
    assert!(
        outcomes.errors.is_empty(),
        "stage runs failed: {:?}",
        outcomes.errors
    );
    assert_eq!(
        duplicated,
        Stage::PIPELINE.iter().copied().collect(),
        "every stage's message was delivered three times"
    );
    // The duplicates found the work claimed and asked to look again later.
    assert!(outcomes.retried > 0, "no duplicate ever waited for a claim");

    // Late copies (the retries still delayed in the queue) arrive after the campaign is
    // done: each is a no-op.
    let late: Vec<StageMessage> = store
        .pending_messages()
        .unwrap()
        .into_iter()
        .filter(|m| Stage::PIPELINE.contains(&m.stage))
        .collect();
    let mut runs = tokio::task::JoinSet::new();
    for m in late.iter().chain(late.iter()).chain(late.iter()).cloned() {
        let app = app.clone();
        runs.spawn(async move { (pipeline::process(&app, &m).await, m) });
    }
    while let Some(joined) = runs.join_next().await {
        let (result, m) = joined.unwrap();
        assert_eq!(
            result.unwrap_or_else(|e| panic!("late {} failed: {e}", m.stage)),
            Next::Done,
            "late {} copy",
            m.stage
        );
    }

    let c = stored(&app, id).await;
    if c.status != path[path.len() - 1] {
        path.push(c.status);
    }
    assert_eq!(
        path,
        vec![
            CampaignStatus::Collecting,
            CampaignStatus::Processing,
            CampaignStatus::Scripting,
            CampaignStatus::Voiceover,
            CampaignStatus::Rendering,
            CampaignStatus::Review,
        ],
        "status path; error {:?} in {:?}",
        c.error,
        c.failed_stage
    );
    assert_eq!(c.videos.len(), 2);
    for v in &c.videos {
        assert_eq!(v.status, VideoStatus::Ready, "{:?}", v.language);
        let file = v.file_key.as_deref().expect("file_key");
        assert!(
            store.media_root().join(file).is_file(),
            "{file} is not in the media store"
        );
    }

    // One finished render (the ffmpeg run writing out.mp4, after one run per scene
    // clip) and one thumbnail per video; each render's files sit in a directory
    // named after its video.
    let ffmpeg_runs = log_lines(&tools.ffmpeg_log);
    let per_video = |ext: &str| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for line in ffmpeg_runs.iter().filter(|l| l.ends_with(ext)) {
            let video = Path::new(line.trim_start_matches("file:"))
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            *m.entry(video).or_insert(0) += 1;
        }
        m
    };
    let expected: BTreeMap<String, usize> =
        c.videos.iter().map(|v| (v.id.to_string(), 1)).collect();
    assert_eq!(
        per_video("/out.mp4"),
        expected,
        "renders; ffmpeg runs: {ffmpeg_runs:#?}"
    );
    // No scene clip was rendered twice either.
    let clips: Vec<&String> = ffmpeg_runs
        .iter()
        .filter(|l| l.contains("/parts/scene-"))
        .collect();
    let distinct: BTreeSet<&String> = clips.iter().copied().collect();
    assert!(!clips.is_empty(), "no clip renders: {ffmpeg_runs:#?}");
    assert_eq!(
        clips.len(),
        distinct.len(),
        "a clip rendered twice: {clips:#?}"
    );
    assert_eq!(
        per_video(".jpg"),
        expected,
        "thumbnails; ffmpeg runs: {ffmpeg_runs:#?}"
    );

    // One Chromium run for the whole capture (the page and its Japanese hreflang page,
    // each captured whole), however many copies of the message arrived.
    let launches = log_lines(&tools.chromium_log);
    assert_eq!(launches.len(), 1, "Chromium runs: {launches:#?}");
    let captures: reelforge_app::pipeline::process::Captures = serde_json::from_slice(
        &app.ports
            .media
            .get_media(&format!("work/{id}/captures.json"))
            .await
            .unwrap()
            .expect("captures"),
    )
    .unwrap();
    assert_eq!(
        captures.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["ja/1080x1920".to_string(), "page/1080x1920".to_string()])
    );
    for c in captures.values() {
        assert!(c.layout.hero().is_some(), "{:?}", c.layout);
        assert!(c.layout.image_height > 1920);
    }

    // One voice call per language.
    assert_eq!(
        *tools.voice.calls.lock().unwrap(),
        BTreeMap::from([(Language::En, 1), (Language::Ja, 1)])
    );

    // One completion event, made with the transition to review.
    let events = app.ports.webhooks.list_events(id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        vec!["campaign.completed"]
    );
    let body: Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(body["status"], "review");
    assert_eq!(body["videos"].as_array().map(Vec::len), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
