//! The reliability suite: the pipeline of the real `reelforge serve` binary under faults,
//! with every production tool behind a logging wrapper (`REELFORGE_FFMPEG`,
//! `REELFORGE_CHROMIUM`, `espeak-ng` first on `PATH`), webhooks to a loopback receiver
//! and products served by a loopback site that counts page fetches.
//!
//! - A poison message among good ones: only it is retried, then dead-lettered; its
//!   campaign fails once, refunded once, one `campaign.failed` event.
//! - A stage outliving its visibility timeout does its work once (tools made slower than
//!   the timeout here; `tests/pipeline.rs::a_stage_outliving_its_timeout_is_not_done_twice`
//!   covers a render that is naturally longer than a 2 s timeout).
//! - SIGKILL at random points (seeded: `RELIABILITY_SEED=<n>` replays a schedule) during
//!   three campaigns, each kill followed by a restart on the same data dir: every
//!   campaign ends `review` or `failed`, quota matches, one event id each.
//! - The disk filling up during a render (a private tmpfs: needs root): a clean failure.
//!
//! Deadlines below bound a hang; none of them measures speed.

use reelforge_testkit::server as support;

use reelforge_app::policy::MAX_RECEIVES;
use reelforge_testkit::faults::{
    entries_named, is_render, is_voice, logging_wrapper, media_files, pid, product_page,
    runs_by_scratch, tool_runs, which, Launch, Site, ToolRun,
};
use reelforge_testkit::receiver::{Receiver, Reply};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{call, temp_dir, Server};

/// Bounds a hang (a campaign takes 10–40 s here), not the speed.
const DEADLINE: Duration = Duration::from_secs(300);
/// One test at a time: each runs several campaigns on a 2-core machine, and the kill
/// schedule of the SIGKILL test is drawn against a campaign's unshared running time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The pipeline's statuses in order; `failed` may follow any of the first five.
const ORDER: [&str; 6] = [
    "collecting",
    "processing",
    "scripting",
    "voiceover",
    "rendering",
    "review",
];

/// Prints the test's running time (after waiting its turn) when it ends.
struct Timer(Instant);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let name = std::thread::current().name().unwrap_or("test").to_string();
        eprintln!("{name}: {:.1} s", self.0.elapsed().as_secs_f64());
    }
}

fn rank(status: &str) -> usize {
    ORDER
        .iter()
        .position(|s| *s == status)
        .unwrap_or_else(|| panic!("unexpected status {status:?}"))
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "review" | "failed")
}

async fn create(server: &Server, key: &str, body: Value) -> String {
    let r = server.client().create(key, &body).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    r.json()["campaign_id"].as_str().unwrap().to_string()
}

async fn get_json(server: &Server, key: &str, path: &str) -> Value {
    // A fresh client address per request: polling never meets the per-IP limit.
    let r = call(&server.client(), "GET", path, key, None).await;
    assert_eq!(r.status, 200, "GET {path}: {:?}", r.json());
    r.json()
}

async fn campaign(server: &Server, key: &str, id: &str) -> Value {
    get_json(server, key, &format!("/api/v1/campaigns/{id}")).await
}

async fn videos_used(server: &Server, key: &str) -> u64 {
    get_json(server, key, "/api/v1/account").await["usage"]["videos_used"]
        .as_u64()
        .expect("usage.videos_used")
}

/// The statuses each campaign was seen in, in order: never backwards, nothing after a
/// terminal status.
#[derive(Default)]
struct Statuses(BTreeMap<String, Vec<String>>);

impl Statuses {
    fn observe(&mut self, id: &str, status: &str) {
        let seen = self.0.entry(id.to_string()).or_default();
        if seen.last().map(String::as_str) == Some(status) {
            return;
        }
        if let Some(last) = seen.last() {
            assert!(
                !is_terminal(last) && (status == "failed" || rank(status) > rank(last)),
                "{id}: status went from {last} to {status} (seen {seen:?})"
            );
        }
        seen.push(status.to_string());
    }

    async fn poll(
        &mut self,
        server: &Server,
        key: &str,
        ids: &[String],
    ) -> BTreeMap<String, Value> {
        let mut now = BTreeMap::new();
        for id in ids {
            let c = campaign(server, key, id).await;
            self.observe(id, c["status"].as_str().expect("status"));
            now.insert(id.clone(), c);
        }
        now
    }

    /// Polls until every campaign is `review` or `failed`; returns their GET bodies.
    async fn until_terminal(
        &mut self,
        server: &Server,
        key: &str,
        ids: &[String],
        deadline: Duration,
    ) -> BTreeMap<String, Value> {
        let started = Instant::now();
        loop {
            let now = self.poll(server, key, ids).await;
            if now
                .values()
                .all(|c| is_terminal(c["status"].as_str().unwrap()))
            {
                return now;
            }
            assert!(
                started.elapsed() < deadline,
                "campaigns stuck after {deadline:?}: {:?}",
                self.0
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The campaign's webhook events (server side) once none is pending any more.
async fn settled_deliveries(
    server: &Server,
    key: &str,
    id: &str,
    deadline: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let body = get_json(
            server,
            key,
            &format!("/api/v1/campaigns/{id}/webhook-deliveries"),
        )
        .await;
        let deliveries = body["deliveries"].as_array().cloned().unwrap_or_default();
        if !deliveries.is_empty() && deliveries.iter().all(|d| d["state"] != "pending") {
            return deliveries;
        }
        assert!(
            started.elapsed() < deadline,
            "{id}: webhook not settled after {deadline:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every request the receiver has had so far, as (campaign id → [(event id, body)]).
fn received_events(receiver: &mut Receiver) -> BTreeMap<String, Vec<(String, Value)>> {
    let mut by = BTreeMap::<String, Vec<(String, Value)>>::new();
    while let Some(r) = receiver.try_next() {
        let body: Value = serde_json::from_slice(&r.body).expect("webhook body is JSON");
        let id = r.headers.get("webhook-id").cloned().unwrap_or_default();
        assert_eq!(
            r.headers.get("x-clipus-event-id"),
            Some(&id),
            "one event id in both headers"
        );
        let campaign = body["campaign_id"].as_str().unwrap_or_default().to_string();
        by.entry(campaign).or_default().push((id, body));
    }
    by
}

/// The server log as records (a record's continuation lines joined to it).
fn log_records(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut records: Vec<String> = Vec::new();
    for line in text.lines() {
        let starts_record = line.len() > 4 && line[..4].chars().all(|c| c.is_ascii_digit());
        match records.last_mut() {
            Some(last) if !starts_record => {
                last.push('\n');
                last.push_str(line);
            }
            _ => records.push(line.to_string()),
        }
    }
    records
}

fn records_with<'a>(records: &'a [String], needle: &str) -> Vec<&'a String> {
    records.iter().filter(|r| r.contains(needle)).collect()
}

/// Wrappers around ffmpeg, Chromium and espeak-ng (each logging `$PWD<TAB>$*`), with
/// extra shell before the `exec` of the real tool.
struct Tools {
    ffmpeg: PathBuf,
    chromium: PathBuf,
    /// A directory holding `espeak-ng`, to put first on the server's `PATH`.
    bin: PathBuf,
    ffmpeg_log: PathBuf,
    chromium_log: PathBuf,
    espeak_log: PathBuf,
}

impl Tools {
    fn new(dir: &Path, ffmpeg_body: &str, chromium_body: &str, espeak_body: &str) -> Tools {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let (ffmpeg_log, chromium_log, espeak_log) = (
            dir.join("ffmpeg.log"),
            dir.join("chromium.log"),
            dir.join("espeak.log"),
        );
        Tools {
            ffmpeg: logging_wrapper(
                &dir.join("ffmpeg"),
                &ffmpeg_log,
                ffmpeg_body,
                &which("ffmpeg"),
            ),
            chromium: logging_wrapper(
                &dir.join("chromium"),
                &chromium_log,
                chromium_body,
                &which("chromium"),
            ),
            bin: logging_wrapper(
                &bin.join("espeak-ng"),
                &espeak_log,
                espeak_body,
                &which("espeak-ng"),
            )
            .parent()
            .unwrap()
            .to_path_buf(),
            ffmpeg_log,
            chromium_log,
            espeak_log,
        }
    }

    fn env(&self, launch: Launch) -> Launch {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        launch
            .env("REELFORGE_FFMPEG", &self.ffmpeg)
            .env("REELFORGE_CHROMIUM", &self.chromium)
            .env("PATH", path)
    }

    fn ffmpeg(&self) -> Vec<ToolRun> {
        tool_runs(&self.ffmpeg_log)
    }
    fn chromium(&self) -> Vec<ToolRun> {
        tool_runs(&self.chromium_log)
    }
    fn espeak(&self) -> Vec<ToolRun> {
        tool_runs(&self.espeak_log)
    }
}

/// The process stage of `campaign` ran once: one scratch directory and one Chromium launch
/// in it (one browser session captures every page at every size). Returns the captures
/// it stored (`{page}/{width}x{height}`).
fn captured_once(tools: &Tools, data: &Path, campaign: &str) -> BTreeSet<String> {
    let runs = tools.chromium();
    let by = runs_by_scratch(&runs, "process", campaign);
    assert_eq!(
        by.len(),
        1,
        "{campaign}: process stage runs {:#?}",
        by.keys()
    );
    let launches = by.values().next().unwrap();
    assert_eq!(
        launches.len(),
        1,
        "{campaign}: Chromium launches {launches:#?}"
    );
    let file = data.join(format!("media/work/{campaign}/captures.json"));
    let captures: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    captures.as_object().unwrap().keys().cloned().collect()
}

/// The voiceover stage of `campaign` ran once and spoke each of its `languages` once.
fn spoken_once(tools: &Tools, campaign: &str, languages: usize) {
    let runs: Vec<ToolRun> = tools.espeak().into_iter().filter(is_voice).collect();
    let by = runs_by_scratch(&runs, "voiceover", campaign);
    assert_eq!(
        by.len(),
        1,
        "{campaign}: voiceover stage runs {:#?}",
        by.keys()
    );
    assert_eq!(
        by.values().next().unwrap().len(),
        languages,
        "{campaign}: voiceovers {by:#?}"
    );
}

/// Render runs of `campaign`, by stage run (scratch dir) and by video id (the last part of
/// the working directory).
fn renders(tools: &Tools, campaign: &str) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let runs: Vec<ToolRun> = tools.ffmpeg().into_iter().filter(is_render).collect();
    let mut by_video = BTreeMap::<String, usize>::new();
    let by_run = runs_by_scratch(&runs, "render", campaign)
        .into_iter()
        .map(|(dir, runs)| {
            for r in &runs {
                let video = r.cwd.rsplit('/').next().unwrap_or_default().to_string();
                *by_video.entry(video).or_default() += 1;
            }
            (dir, runs.len())
        })
        .collect();
    (by_run, by_video)
}

fn video_ids(c: &Value) -> Vec<String> {
    c["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

fn ready_ids(c: &Value) -> Vec<String> {
    c["videos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == "ready")
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// Exactly one MP4 per ready video, none for another, and no half-written file.
fn one_mp4_per_ready_video(data: &Path, c: &Value) {
    let id = c["campaign_id"].as_str().unwrap();
    one_mp4_per_ready_video_besides_temporary_files(data, c);
    let tmps = media_files(data, id).1;
    assert!(tmps.is_empty(), "{id}: half-written files {tmps:?}");
}

/// Exactly one MP4 per ready video, none for another. (A server killed while writing a
/// file leaves its hidden `.tmp` beside the key; the file itself is renamed into place
/// whole or not at all.)
fn one_mp4_per_ready_video_besides_temporary_files(data: &Path, c: &Value) {
    let id = c["campaign_id"].as_str().unwrap();
    let mp4s = media_files(data, id).0;
    let ready = ready_ids(c);
    assert_eq!(
        mp4s.len(),
        ready.len(),
        "{id}: {mp4s:?} for ready {ready:?}"
    );
    for v in &ready {
        assert_eq!(
            mp4s.iter().filter(|n| n.contains(v.as_str())).count(),
            1,
            "{id}: {v} in {mp4s:?}"
        );
    }
}

/// A customer-facing error: a sentence, no paths, no tool output, no internal names.
fn assert_customer_error(error: &str) {
    assert!(error.len() > 20, "{error:?}");
    for internal in [
        "/",
        "\\",
        "os error",
        "ffmpeg",
        "stderr",
        "Error",
        "::",
        "tmp",
        "reelforge-",
    ] {
        assert!(!error.contains(internal), "not for customers: {error:?}");
    }
}

/// Four campaigns at once on one server with the default 600 s stage timeout; one
/// product's render fails every time (its ffmpeg wrapper exits 1 when the captions name
/// it). Only its render message is retried — each retry after a short backoff, not a
/// whole stage timeout — and after `MAX_RECEIVES` runs it is dead-lettered: its campaign
/// fails once in `rendering`, both its videos go back to the quota once, and one
/// `campaign.failed` event reaches the receiver. Every other stage of every campaign, and
/// the poisoned campaign's earlier stages, ran their tools exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_retried_alone_then_dead_lettered_and_fails_its_campaign_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _timer = Timer::start();
    let started = Instant::now();
    let products = [
        "Alder Kettle",
        "Birchway Desk",
        "Cobalt Tent",
        "Quorblax Lamp",
    ];
    let site = Site::serve(
        products
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("/p/{i}"), product_page(name)))
            .collect(),
    )
    .await;
    let dir = temp_dir("poison");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let poison = r#"case "$*" in
  *thumb.jpg*) ;;
  *out.mp4*) if cat clip*.ass 2>/dev/null | grep -q Quorblax; then echo 'poisoned input' >&2; exit 1; fi ;;
esac"#;
    let tools = Tools::new(&dir, poison, "", "");
    let log = dir.join("serve.log");
    let server = tools
        .env(Launch::new(
            &dir.join("data"),
            // The default stage timeout: a failed stage must not wait it out.
            &["--allow-private-targets", "--stage-timeout-secs", "600"],
        ))
        .env("TMPDIR", &tmp)
        .log(&log)
        .start();
    let (_, key) = server.account("scale", &[]);
    let mut receiver = Receiver::start(vec![Reply::Status(200)]).await;
    let mut ids = Vec::new();
    for (i, name) in products.iter().enumerate() {
        let mut body = json!({"url": site.url(&format!("/p/{i}")), "languages": ["en"], "webhook_url": receiver.url()});
        if name.starts_with("Quorblax") {
            // Two videos (two platforms at one size), both poisoned.
            body["platforms"] = json!(["youtube_shorts", "tiktok"]);
        }
        ids.push(create(&server, &key, body).await);
    }
    let poisoned = ids[3].clone();
    assert_eq!(videos_used(&server, &key).await, 5);

    let mut statuses = Statuses::default();
    let end = statuses.until_terminal(&server, &key, &ids, DEADLINE).await;
    let settled_in = started.elapsed();
    for (id, c) in &end {
        if *id == poisoned {
            assert_eq!(c["status"], "failed", "{c}");
            assert_eq!(c["failed_stage"], "rendering", "{c}");
            assert_customer_error(c["error"].as_str().expect("error"));
            assert!(c["videos"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["status"] == "failed" && v["file_url"].is_null()));
        } else {
            assert_eq!(c["status"], "review", "{c}");
            assert!(c["videos"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["status"] == "ready"));
        }
        one_mp4_per_ready_video(&server.data, c);
    }

    // Every stage of every campaign did its work once, except the poisoned render.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(site.hits(&format!("/p/{i}")), 1, "{id}: page fetches");
        assert_eq!(
            captured_once(&tools, &server.data, id),
            BTreeSet::from(["page/1080x1920".to_string()]),
            "{id}: one page at the one portrait size"
        );
        spoken_once(&tools, id, 1);
        let (by_run, by_video) = renders(&tools, id);
        let expected = if *id == poisoned {
            MAX_RECEIVES as usize
        } else {
            1
        };
        let videos = video_ids(&end[id]);
        // Each stage run renders every video not yet ready, each in a scratch directory
        // of its own.
        assert_eq!(
            by_run.len(),
            expected * videos.len(),
            "{id}: render stage runs {by_run:?}"
        );
        assert!(
            by_run.values().all(|n| *n == 1),
            "{id}: renders per scratch directory {by_run:?}"
        );
        assert_eq!(
            by_video.keys().cloned().collect::<Vec<_>>(),
            {
                let mut v = videos.clone();
                v.sort();
                v
            },
            "{id}: rendered videos"
        );
        assert!(
            by_video.values().all(|n| *n == expected),
            "{id}: renders per video {by_video:?}"
        );
    }
    // The server's own account: the poisoned render failed MAX_RECEIVES times, nothing
    // else failed, and one message was dead-lettered.
    let records = log_records(&log);
    let failures = records_with(&records, "stage failed; will retry");
    assert_eq!(
        failures.len(),
        MAX_RECEIVES as usize,
        "stage failures: {failures:#?}"
    );
    assert!(
        failures
            .iter()
            .all(|r| r.contains(&poisoned) && r.contains("stage=render")),
        "{failures:#?}"
    );
    let dead = records_with(&records, "message dead-lettered");
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert!(dead[0].contains(&poisoned), "{dead:#?}");

    // Refunded once: 3 good videos remain used (twice would leave 1).
    assert_eq!(videos_used(&server, &key).await, 3);

    // One event per campaign, delivered once.
    let mut server_events = BTreeMap::new();
    for id in &ids {
        let d = settled_deliveries(&server, &key, id, DEADLINE).await;
        assert_eq!(d.len(), 1, "{id}: {d:?}");
        assert_eq!(d[0]["state"], "delivered", "{id}: {d:?}");
        server_events.insert(id.clone(), d[0]["event_id"].as_str().unwrap().to_string());
    }
    let got = received_events(&mut receiver);
    assert_eq!(
        got.keys().collect::<BTreeSet<_>>(),
        ids.iter().collect::<BTreeSet<_>>()
    );
    for (id, events) in &got {
        assert_eq!(events.len(), 1, "{id}: {events:?}");
        let (event_id, body) = &events[0];
        assert_eq!(event_id, &server_events[id]);
        if *id == poisoned {
            assert_eq!(body["event"], "campaign.failed", "{body}");
            assert_eq!(body["failed_stage"], "rendering", "{body}");
        } else {
            assert_eq!(body["event"], "campaign.completed", "{body}");
        }
    }
    // Every stage run cleaned its scratch directory.
    assert_eq!(entries_named(&tmp, "reelforge-"), BTreeSet::new());
    eprintln!(
        "poison: all four campaigns settled {:.1} s after the first was created",
        settled_in.as_secs_f64()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A 2 s stage timeout and tools that each take longer than that (Chromium and the
/// voiceover 3 s, every render 5 s: a deliberate delay in the tool, not test timing). The
/// claims and messages are renewed while the stages run, so nothing is handed to the
/// second worker: one capture run, one voiceover per language, one render per video, one
/// MP4 per video, and no stage failure in the server's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_with_tools_slower_than_the_stage_timeout_do_their_work_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _timer = Timer::start();
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let dir = temp_dir("slow-tools");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let tools = Tools::new(
        &dir,
        r#"case "$*" in *thumb.jpg*) ;; *out.mp4*) sleep 5 ;; esac"#,
        "sleep 3",
        r#"case "$*" in *" -w "*) sleep 3 ;; esac"#,
    );
    let log = dir.join("serve.log");
    let server = tools
        .env(Launch::new(
            &dir.join("data"),
            &[
                "--allow-private-targets",
                "--stage-timeout-secs",
                "2",
                "--stage-workers",
                "2",
            ],
        ))
        .env("TMPDIR", &tmp)
        .log(&log)
        .start();
    let (_, key) = server.account("scale", &[]);
    let id = create(
        &server,
        &key,
        json!({"url": format!("{site}/"), "languages": ["en", "ja"]}),
    )
    .await;
    let end = Statuses::default()
        .until_terminal(&server, &key, std::slice::from_ref(&id), DEADLINE)
        .await;
    let c = &end[&id];
    assert_eq!(c["status"], "review", "{c}");
    // en and ja each have their own page, each captured whole once.
    assert_eq!(
        captured_once(&tools, &server.data, &id),
        BTreeSet::from(["ja/1080x1920".to_string(), "page/1080x1920".to_string()])
    );
    spoken_once(&tools, &id, 2);
    let (by_run, by_video) = renders(&tools, &id);
    // One stage run: one render (one scratch directory) per video.
    assert_eq!(by_run.len(), 2, "render stage runs {by_run:?}");
    assert_eq!(by_video.len(), 2, "{by_video:?}");
    assert!(by_video.values().all(|n| *n == 1), "{by_video:?}");
    one_mp4_per_ready_video(&server.data, c);
    let records = log_records(&log);
    assert_eq!(
        records_with(&records, "stage failed").len()
            + records_with(&records, "dead-lettered").len(),
        0,
        "{records:#?}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// splitmix64: a tiny seeded generator, so a kill schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Three campaigns (four videos) on one server that is
/// killed with SIGKILL 4–6 times at random moments within their expected run and started
/// again on the same data dir each time. Afterwards every campaign is `review` or
/// `failed` (none stuck), the quota holds exactly the ready videos, every ready video has
/// one MP4, each campaign has exactly one terminal event id on the server and at the
/// receiver (the same id may arrive again after a kill between send and record:
/// at-least-once, receivers dedupe by `webhook-id`; those redeliveries are counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_and_restarts_leave_no_campaign_stuck_or_doubled() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _timer = Timer::start();
    let seed = std::env::var("RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("sigkill: seed {seed} (replay the schedule with RELIABILITY_SEED={seed})");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let products = ["Dunmore Lantern", "Elmfield Kettle", "Fernhill Stove"];
    let site = Site::serve(
        products
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("/p/{i}"), product_page(name)))
            .collect(),
    )
    .await;
    let dir = temp_dir("sigkill");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let log = dir.join("serve.log");
    // A short stage timeout: an interrupted stage is resumed within 3 s of a restart.
    let launch = Launch::new(
        &dir.join("data"),
        &["--allow-private-targets", "--stage-timeout-secs", "3"],
    )
    .env("TMPDIR", &tmp)
    .env("RUST_LOG", "info")
    .log(&log);
    let mut server = launch.start();
    let (_, key) = server.account("scale", &[]);
    let mut receiver = Receiver::start(vec![Reply::Status(200)]).await;
    let hook = receiver.url();
    let bodies = [
        json!({"url": site.url("/p/0"), "languages": ["en"], "webhook_url": hook}),
        json!({"url": site.url("/p/1"), "languages": ["en", "de"], "webhook_url": hook}),
        json!({"url": site.url("/p/2"), "languages": ["en"], "webhook_url": hook}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(create(&server, &key, body).await);
    }
    let created = Instant::now();
    // The three take about 55 s together on a busy 2-core machine without faults (15 s
    // alone): the kills fall within their first 40 s.
    let span_ms = 40_000;
    let kills = match std::env::var("RELIABILITY_KILLS") {
        Ok(n) => n.parse().expect("RELIABILITY_KILLS is a number"),
        Err(_) => 4 + rng.below(3) as usize,
    };
    let mut at_ms: Vec<u64> = (0..kills).map(|_| rng.below(span_ms)).collect();
    at_ms.sort_unstable();
    eprintln!("sigkill: {kills} kills at {at_ms:?} ms after the campaigns were created");
    let mut statuses = Statuses::default();
    let mut orphans = 0;
    for (n, at) in at_ms.iter().enumerate() {
        let at = Duration::from_millis(*at);
        // Watch the campaigns until the kill point (polling; the kill time itself is the
        // schedule, not a wait for anything).
        loop {
            let now = statuses.poll(&server, &key, &ids).await;
            let left = at.saturating_sub(created.elapsed());
            if left.is_zero() {
                let summary: Vec<&str> = now
                    .values()
                    .map(|c| c["status"].as_str().unwrap())
                    .collect();
                eprintln!(
                    "sigkill: kill {} at {:.1} s: {summary:?}",
                    n + 1,
                    created.elapsed().as_secs_f64()
                );
                break;
            }
            tokio::time::sleep(left.min(Duration::from_millis(200))).await;
        }
        drop(server); // SIGKILL
        orphans += processes_working_in(&tmp);
        server = launch.start();
    }
    let end = statuses.until_terminal(&server, &key, &ids, DEADLINE).await;
    eprintln!(
        "sigkill: all terminal {:.1} s after creation: {:?}",
        created.elapsed().as_secs_f64(),
        statuses.0
    );

    let mut ready_videos = 0u64;
    for c in end.values() {
        ready_videos += ready_ids(c).len() as u64;
        match c["status"].as_str().unwrap() {
            "review" => assert!(c["videos"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v["status"] == "ready")),
            _ => {
                assert!(c["failed_stage"].is_string(), "{c}");
                assert_customer_error(c["error"].as_str().expect("error"));
            }
        }
        one_mp4_per_ready_video_besides_temporary_files(&server.data, c);
    }
    // Failed campaigns gave their videos back; ready ones stay used.
    assert_eq!(videos_used(&server, &key).await, ready_videos);

    // One terminal event per campaign, matching its status; the receiver saw only it.
    let mut server_events = BTreeMap::new();
    for id in &ids {
        let d = settled_deliveries(&server, &key, id, DEADLINE).await;
        assert_eq!(d.len(), 1, "{id}: {d:?}");
        assert_eq!(d[0]["state"], "delivered", "{id}: {d:?}");
        let expected = match end[id]["status"].as_str().unwrap() {
            "review" => "campaign.completed",
            _ => "campaign.failed",
        };
        assert_eq!(d[0]["event"], expected, "{id}: {d:?}");
        server_events.insert(id.clone(), d[0]["event_id"].as_str().unwrap().to_string());
    }
    let got = received_events(&mut receiver);
    let mut redeliveries = 0;
    for id in &ids {
        let events = got.get(id).cloned().unwrap_or_default();
        let distinct: BTreeSet<&String> = events.iter().map(|(e, _)| e).collect();
        assert_eq!(
            distinct,
            BTreeSet::from([&server_events[id]]),
            "{id}: event ids at the receiver"
        );
        redeliveries += events.len() - 1;
    }
    assert_eq!(
        got.len(),
        ids.len(),
        "events for unknown campaigns: {got:?}"
    );
    let leftover_scratch = entries_named(&tmp, "reelforge-");
    let leftover_tmp: usize = ids
        .iter()
        .map(|id| media_files(&server.data, id).1.len())
        .sum();
    eprintln!(
        "sigkill: seed {seed}: {} review, {} failed; {redeliveries} same-id webhook redeliveries; \
         {} scratch dirs left by killed stage runs; {leftover_tmp} temporary media files; \
         {orphans} tool processes still running right after the kills; {:.1} s in all",
        end.values().filter(|c| c["status"] == "review").count(),
        end.values().filter(|c| c["status"] == "failed").count(),
        leftover_scratch.len(),
        started.elapsed().as_secs_f64()
    );
    drop(server);
    if std::env::var_os("RELIABILITY_KEEP").is_some() {
        eprintln!("sigkill: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Processes whose working directory is under `dir` (tool runs in stage scratch dirs).
fn processes_working_in(dir: &Path) -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .filter(|e| {
                    std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Whether this process may give a child a private tmpfs (root, or CAP_SYS_ADMIN).
fn private_tmpfs_check(dir: &Path) -> Result<(), String> {
    let out = Command::new("unshare")
        .args([
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs -o size=1m tmpfs \"$0\"",
        ])
        .arg(dir)
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The server's TMPDIR (where stages keep their scratch files) is a private 64 MiB tmpfs;
/// a campaign with room on it completes. Then the ffmpeg wrapper fills the tmpfs (all but
/// 256 KiB) just before each render of a second campaign, so ffmpeg runs into ENOSPC
/// while writing the MP4. The render is retried up to the dead-letter limit (`MAX_RECEIVES`
/// runs, each hitting the full disk) and the campaign fails cleanly: `failed` in
/// `rendering` with a customer-readable error, its videos refunded once, one
/// `campaign.failed` event, no MP4 or partial file in the media dir, every scratch
/// directory removed. The server keeps serving, and once there is room again a third
/// campaign completes.
///
/// Sizes measured on the sample page (two videos): the capture stage peaks at ~9.5 MB of
/// scratch (three Chromium profiles and the screens), the render at ~11 MB (per video
/// ~1 MB of screens, ~1 MB of WAV, a 3.3–3.7 MB MP4): 64 MiB leaves a wide margin for
/// every stage, and the filler makes the render's disk full whatever the sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_filling_up_during_a_render_fails_the_campaign_cleanly() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _timer = Timer::start();
    let site = Site::serve(vec![
        ("/p/0".into(), product_page("Gorse Mug")),
        ("/p/1".into(), product_page("Heron Lamp")),
        ("/p/2".into(), product_page("Ivybridge Clock")),
    ])
    .await;
    let dir = temp_dir("disk-full");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    if let Err(e) = private_tmpfs_check(&tmp) {
        panic!(
            "this test gives the server a small private disk with `unshare --mount` and \
             `mount -t tmpfs`, which needs root (or CAP_SYS_ADMIN); it cannot run here: {e}"
        );
    }
    let flag = dir.join("fill-the-disk");
    let fills = dir.join("fills.log");
    // Before a render (not a thumbnail): fill the tmpfs up to its last 256 KiB. One
    // render at a time (two concurrent fallocates of the free space would both fail).
    let fill = format!(
        r#"case "$*" in
  *thumb.jpg*) ;;
  *out.mp4*) if [ -e '{flag}' ]; then
      exec 9>'{lock}'; flock 9
      free=$(( $(stat -f -c %a "$TMPDIR") * $(stat -f -c %S "$TMPDIR") - 262144 ))
      if [ "$free" -gt 0 ] && fallocate -l "$free" "$TMPDIR/.filler-$$"; then echo "$free" >> '{fills}'; fi
      flock -u 9; exec 9>&-
    fi ;;
esac"#,
        flag = flag.display(),
        lock = dir.join("fill.lock").display(),
        fills = fills.display()
    );
    let tools = Tools::new(&dir, &fill, "", "");
    let log = dir.join("serve.log");
    let server = tools
        .env(Launch::new(
            &dir.join("data"),
            &["--allow-private-targets", "--stage-timeout-secs", "2"],
        ))
        .env("TMPDIR", &tmp)
        .log(&log)
        .wrap(&[
            "unshare",
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64m,mode=1777 tmpfs \"$0\" && exec \"$@\"",
            tmp.to_str().unwrap(),
        ])
        .start();
    // The tmpfs as the server sees it (it is mounted in the server's namespace only).
    let disk =
        PathBuf::from(format!("/proc/{}/root", pid(&server))).join(tmp.strip_prefix("/").unwrap());
    let fs_type = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(&disk)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&fs_type.stdout).trim(), "tmpfs");
    let (_, key) = server.account("scale", &[]);
    let mut receiver = Receiver::start(vec![Reply::Status(200)]).await;
    let mut statuses = Statuses::default();

    // With room: one video, completed (the tmpfs is big enough for every stage).
    let first = create(
        &server,
        &key,
        json!({"url": site.url("/p/0"), "languages": ["en"], "webhook_url": receiver.url()}),
    )
    .await;
    let end = statuses
        .until_terminal(&server, &key, std::slice::from_ref(&first), DEADLINE)
        .await;
    assert_eq!(end[&first]["status"], "review", "{}", end[&first]);

    // The disk fills up at each render of two videos.
    std::fs::write(&flag, b"").unwrap();
    let full = create(
        &server,
        &key,
        json!({"url": site.url("/p/1"), "languages": ["en"], "platforms": ["youtube_shorts", "tiktok"], "webhook_url": receiver.url()}),
    )
    .await;
    assert_eq!(videos_used(&server, &key).await, 3);
    let end = statuses
        .until_terminal(&server, &key, std::slice::from_ref(&full), DEADLINE)
        .await;
    let c = &end[&full];
    assert_eq!(c["status"], "failed", "{c}");
    assert_eq!(c["failed_stage"], "rendering", "{c}");
    assert_customer_error(c["error"].as_str().expect("error"));
    assert!(c["videos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["status"] == "failed" && v["file_url"].is_null()));
    // Refunded once: the first campaign's video is still used (twice would leave 0).
    assert_eq!(videos_used(&server, &key).await, 1);
    // It ran out of space in ffmpeg, was retried up to the limit, then dead-lettered.
    assert!(
        std::fs::read_to_string(&fills)
            .unwrap_or_default()
            .lines()
            .count()
            >= 1,
        "the disk was never filled"
    );
    let records = log_records(&log);
    let failures = records_with(&records, "stage failed; will retry");
    assert_eq!(failures.len(), MAX_RECEIVES as usize, "{failures:#?}");
    assert!(
        failures
            .iter()
            .all(|r| r.contains(&full) && r.contains("stage=render")),
        "{failures:#?}"
    );
    assert!(
        failures
            .iter()
            .any(|r| r.contains("No space left on device")),
        "no ENOSPC in {failures:#?}"
    );
    assert_eq!(records_with(&records, "message dead-lettered").len(), 1);
    // Every stage run tried both videos: one render scratch directory per video per run,
    // each with ffmpeg runs in it (the disk stays full after the first fill, so later
    // runs fail at their first scene clip rather than at the join).
    let ffmpeg_runs = tools.ffmpeg();
    let by_run = runs_by_scratch(&ffmpeg_runs, "render", &full);
    eprintln!(
        "disk full: ffmpeg runs per render {:?}; the first failure: {}",
        by_run.values().map(Vec::len).collect::<Vec<_>>(),
        failures[0]
    );
    assert_eq!(
        by_run.len(),
        MAX_RECEIVES as usize * video_ids(c).len(),
        "{by_run:?}"
    );
    // Nothing half-made is left: no MP4 or temporary file in the media dir, no scratch.
    one_mp4_per_ready_video(&server.data, c);
    assert!(media_files(&server.data, &full).0.is_empty());
    assert_eq!(entries_named(&disk, "reelforge-"), BTreeSet::new());
    let d = settled_deliveries(&server, &key, &full, DEADLINE).await;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["event"], "campaign.failed");

    // Room again: the server carries on.
    std::fs::remove_file(&flag).unwrap();
    for filler in entries_named(&disk, ".filler-") {
        std::fs::remove_file(disk.join(filler)).unwrap();
    }
    let last = create(
        &server,
        &key,
        json!({"url": site.url("/p/2"), "languages": ["en"], "webhook_url": receiver.url()}),
    )
    .await;
    let end = statuses
        .until_terminal(&server, &key, std::slice::from_ref(&last), DEADLINE)
        .await;
    assert_eq!(end[&last]["status"], "review", "{}", end[&last]);
    one_mp4_per_ready_video(&server.data, &end[&last]);
    assert_eq!(videos_used(&server, &key).await, 2);

    // Webhooks: one event each, the failed campaign's saying so.
    for id in [&first, &last] {
        settled_deliveries(&server, &key, id, DEADLINE).await;
    }
    let got = received_events(&mut receiver);
    for (id, event) in [
        (&first, "campaign.completed"),
        (&full, "campaign.failed"),
        (&last, "campaign.completed"),
    ] {
        let events = &got[id.as_str()];
        assert_eq!(events.len(), 1, "{id}: {events:?}");
        assert_eq!(events[0].1["event"], event);
    }
    assert_eq!(entries_named(&disk, "reelforge-"), BTreeSet::new());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
