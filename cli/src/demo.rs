//! `reelforge demo`: the main job end to end on this machine. Starts the local stack in
//! this process, serves the bundled sample product site (English, with `hreflang` pages
//! in Japanese and Korean) on loopback, creates an account and key, creates a campaign
//! over the real HTTP API, follows it stage by stage, downloads every MP4 and thumbnail
//! through its `file_url`, and draws a contact sheet. Progress goes to stderr; the
//! summary (files, per-stage timings) is the JSON on stdout.

use reelforge_app::Ports;
use reelforge_core::clock::SystemClock;
use reelforge_core::guard::{TargetPolicy, UrlKind};
use reelforge_core::model::CampaignStatus;
use reelforge_core::plans::Plan;
use reelforge_local::LocalStore;
use reelforge_local::{LocalStack, LocalStackOptions};
use reelforge_net::client::{self, FetchOptions};
use reelforge_net::SystemResolver;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn http_opts(max_body_bytes: usize) -> FetchOptions {
    FetchOptions {
        kind: UrlKind::Page,
        policy: TargetPolicy {
            allow_private: true,
        },
        timeout: Duration::from_secs(60),
        max_body_bytes,
        max_redirects: 0,
        user_agent: "reelforge-demo/0.1",
    }
}

async fn call(
    method: http::Method,
    url: &str,
    key: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let url = url::Url::parse(url).map_err(|e| e.to_string())?;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-api-key",
        http::HeaderValue::from_str(key).map_err(|e| e.to_string())?,
    );
    let body = match body {
        Some(b) => {
            headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            bytes::Bytes::from(b.to_string())
        }
        None => bytes::Bytes::new(),
    };
    let resp = client::request(
        method,
        &url,
        headers,
        body,
        &http_opts(1024 * 1024),
        &SystemResolver::default(),
    )
    .await
    .map_err(|e| format!("{url}: {}", e.summary()))?;
    let value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    Ok((resp.status, value))
}

async fn download(url: &str, to: &Path) -> Result<u64, String> {
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let resp = client::request(
        http::Method::GET,
        &parsed,
        http::HeaderMap::new(),
        bytes::Bytes::new(),
        &http_opts(512 * 1024 * 1024),
        &SystemResolver::default(),
    )
    .await
    .map_err(|e| format!("download: {}", e.summary()))?;
    if resp.status != 200 || resp.body_truncated {
        return Err(format!("download answered HTTP {}", resp.status));
    }
    tokio::fs::write(to, &resp.body)
        .await
        .map_err(|e| format!("{}: {e}", to.display()))?;
    Ok(resp.body.len() as u64)
}

/// One row per video (one frame per scene), stacked: `contact-sheet.png`. The frames are
/// taken `cores` at a time, each by its own short ffmpeg run (a scene's clip starts with a
/// key frame and the frame is taken soon after, so each run decodes a few frames), and
/// one last run lays them out.
async fn contact_sheet(videos: &[(PathBuf, Vec<f64>)], out: &Path) -> Result<(), String> {
    const WIDTH: usize = 180;
    let dir = out.join(".contact-frames");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| e.to_string())?;
    let widest = videos
        .iter()
        .map(|(_, at)| at.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let slots = Arc::new(tokio::sync::Semaphore::new(cores));
    let mut runs = tokio::task::JoinSet::new();
    let mut rows: Vec<Vec<PathBuf>> = Vec::new();
    for (i, (video, at)) in videos.iter().enumerate() {
        let mut row = Vec::new();
        for (k, t) in at.iter().enumerate() {
            let frame = dir.join(format!("{i}-{k}.png"));
            let args: Vec<String> = vec![
                "-threads".into(),
                "1".into(),
                "-ss".into(),
                format!("{t:.3}"),
                "-i".into(),
                format!("file:{}", video.display()),
                "-frames:v".into(),
                "1".into(),
                "-vf".into(),
                format!("scale={WIDTH}:-2"),
                format!("file:{}", frame.display()),
            ];
            let slots = slots.clone();
            runs.spawn(async move {
                let _slot = slots.acquire_owned().await;
                ffmpeg(&args).await
            });
            row.push(frame);
        }
        rows.push(row);
    }
    while let Some(done) = runs.join_next().await {
        done.map_err(|e| format!("contact sheet: {e}"))??;
    }
    // Every row as wide as the longest (rows of fewer scenes padded), rows stacked.
    let mut args = Vec::new();
    let mut graph = String::new();
    let mut n = 0;
    for (i, row) in rows.iter().enumerate() {
        let first = n;
        for frame in row {
            args.push("-i".to_string());
            args.push(format!("file:{}", frame.display()));
            n += 1;
        }
        let labels: String = (first..n).map(|k| format!("[{k}:v]")).collect();
        let pad = format!("pad={}:ih", WIDTH * widest);
        // Every row has a frame at least (a video without a storyboard gets four).
        graph.push_str(&match row.len() {
            1 => format!("{labels}{pad}[r{i}];"),
            len => format!("{labels}hstack=inputs={len},{pad}[r{i}];"),
        });
    }
    let stacked: String = (0..rows.len()).map(|i| format!("[r{i}]")).collect();
    if rows.len() > 1 {
        graph.push_str(&format!("{stacked}vstack=inputs={}[sheet]", rows.len()));
    } else {
        graph.push_str(&format!("{stacked}null[sheet]"));
    }
    let sheet = out.join("contact-sheet.png");
    args.extend([
        "-filter_complex".into(),
        graph,
        "-map".into(),
        "[sheet]".into(),
        "-frames:v".into(),
        "1".into(),
        format!("file:{}", sheet.display()),
    ]);
    ffmpeg(&args).await?;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(())
}

async fn ffmpeg(args: &[String]) -> Result<(), String> {
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .await
        .map_err(|e| format!("ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

pub async fn run(
    store: Arc<LocalStore>,
    out: &Path,
    languages: &[String],
    timeout: Duration,
) -> Result<Value, String> {
    let started = Instant::now();
    tokio::fs::create_dir_all(out)
        .await
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let stack = LocalStack::start(
        store.clone(),
        LocalStackOptions {
            addr: "127.0.0.1:0".parse().expect("address"),
            allow_private_targets: true,
            ..LocalStackOptions::default()
        },
    )
    .await
    .map_err(|e| format!("local stack: {e}"))?;
    let result = drive(&stack, store, out, languages, timeout, started).await;
    let _ = stack.shutdown().await;
    result
}

async fn drive(
    stack: &LocalStack,
    store: Arc<LocalStore>,
    out: &Path,
    languages: &[String],
    timeout: Duration,
    started: Instant,
) -> Result<Value, String> {
    let site = reelforge_local::serve_sample_site()
        .await
        .map_err(|e| format!("sample site: {e}"))?;
    eprintln!("sample site   {site}/ (hreflang: ja, ko)");
    eprintln!("api           {}", stack.url);
    let ports = Ports::from_store(store);
    let clock = SystemClock;
    let account = reelforge_app::admin::create_account(
        &*ports.accounts,
        &clock,
        "reelforge demo",
        Plan::Scale,
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    let (key, _) =
        reelforge_app::admin::create_key(&*ports.accounts, &*ports.keys, &clock, &account.id)
            .await
            .map_err(|e| e.to_string())?;
    let key = key.secret;

    // A playlist with the built-in music bed under the voice.
    let (status, media) = call(
        http::Method::POST,
        &format!("{}/api/v1/media-profiles", stack.url),
        &key,
        Some(&json!({"profile_name": "Demo", "music": "default"})),
    )
    .await?;
    if status != 201 {
        return Err(format!(
            "POST /api/v1/media-profiles answered {status}: {media}"
        ));
    }
    let (status, playlist) = call(
        http::Method::POST,
        &format!("{}/api/v1/playlists", stack.url),
        &key,
        Some(&json!({
            "playlist_name": "Demo",
            "media_profile_id": media["media_profile"]["media_profile_id"],
        })),
    )
    .await?;
    if status != 201 {
        return Err(format!(
            "POST /api/v1/playlists answered {status}: {playlist}"
        ));
    }
    let (status, created) = call(
        http::Method::POST,
        &format!("{}/api/v1/campaigns", stack.url),
        &key,
        Some(&json!({
            "url": format!("{site}/"),
            "languages": languages,
            "title": "Lumen Notes",
            "playlist_id": playlist["playlist"]["playlist_id"],
        })),
    )
    .await?;
    if status != 201 {
        return Err(format!(
            "POST /api/v1/campaigns answered {status}: {created}"
        ));
    }
    let id = created["campaign_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!("campaign      {id}");

    // Progress is read from the store in-process (fine-grained, and no load on the API's
    // rate limits); the result is read over HTTP like any client would.
    let campaign_id: uuid::Uuid = id.parse().map_err(|_| format!("campaign id {id:?}"))?;
    let mut current = String::new();
    let stored = loop {
        let stored = ports
            .campaigns
            .get_campaign(campaign_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the campaign disappeared")?;
        if stored.status.as_str() != current {
            current = stored.status.as_str().to_string();
            eprintln!("{:>6.1}s  {current}", started.elapsed().as_secs_f64());
        }
        if stored.status.is_terminal() || stored.status == CampaignStatus::Review {
            break stored;
        }
        if started.elapsed() > timeout {
            return Err(format!(
                "the campaign did not finish within {timeout:?} (last status {current})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Time in each status, from the transitions the pipeline recorded.
    let mut stages = Vec::new();
    let mut since = (
        CampaignStatus::Collecting,
        stored.created_at.timestamp_millis(),
    );
    for entered in &stored.history {
        let seconds = (entered.at_ms - since.1) as f64 / 1000.0;
        stages.push(json!({"stage": since.0, "seconds": seconds}));
        since = (entered.status, entered.at_ms);
    }
    let stage_line: Vec<String> = stages
        .iter()
        .map(|s| format!("{} {} s", s["stage"].as_str().unwrap_or("?"), s["seconds"]))
        .collect();
    eprintln!("per stage: {}", stage_line.join(", "));
    let (status, campaign) = call(
        http::Method::GET,
        &format!("{}/api/v1/campaigns/{id}", stack.url),
        &key,
        None,
    )
    .await?;
    if status != 200 {
        return Err(format!("GET answered {status}: {campaign}"));
    }
    if current == "failed" {
        return Err(format!(
            "the campaign failed in {}: {}",
            campaign["failed_stage"], campaign["error"]
        ));
    }

    let mut files = Vec::new();
    let mut for_sheet = Vec::new();
    let mut failed = 0;
    for v in campaign["videos"].as_array().into_iter().flatten() {
        let name = format!(
            "{}_{}",
            v["language"].as_str().unwrap_or("xx"),
            v["platform"].as_str().unwrap_or("video")
        );
        let (Some(file_url), "ready") =
            (v["file_url"].as_str(), v["status"].as_str().unwrap_or(""))
        else {
            failed += 1;
            eprintln!("video {name}: {}", v["status"]);
            continue;
        };
        let mp4 = out.join(format!("{name}.mp4"));
        let bytes = download(file_url, &mp4).await?;
        if let Some(thumb) = v["thumbnail_url"].as_str() {
            download(thumb, &out.join(format!("{name}.jpg"))).await?;
        }
        let duration = v["duration_seconds"].as_f64().unwrap_or(0.0);
        eprintln!(
            "video {name}: {duration:.1} s, {:.1} MB, {} credits, script: {}",
            bytes as f64 / 1e6,
            v["credits_cost"],
            v["script_source"].as_str().unwrap_or("?")
        );
        // The storyboard the render stage left: what each scene shows and why.
        let mut frames_at = Vec::new();
        let key = format!(
            "work/{id}/storyboards/{}.json",
            v["id"].as_str().unwrap_or_default()
        );
        if let Ok(Some(bytes)) = ports.media.get_media(&key).await {
            let board: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            for scene in board["scenes"].as_array().into_iter().flatten() {
                let start = scene["start_ms"].as_f64().unwrap_or(0.0) / 1000.0;
                let length = scene["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
                eprintln!(
                    "  {start:>5.1}s {length:>4.1}s  {:<8} {}",
                    scene["transition"]["kind"].as_str().unwrap_or(""),
                    scene["note"].as_str().unwrap_or("")
                );
                // A camera scene just after its transition (0.35 s), a card a second
                // in (its text has come in); the middle of a shorter scene. Each clip
                // starts with a key frame, so the earlier, the fewer frames to decode.
                let settled = if scene["shot"] == "card" { 1.0 } else { 0.45 };
                frames_at.push(start + (length / 2.0).min(settled));
            }
        }
        if frames_at.is_empty() {
            frames_at = (0..4).map(|k| duration * (k as f64 + 0.5) / 4.0).collect();
        }
        files.push(json!({
            "file": mp4,
            "language": v["language"],
            "platform": v["platform"],
            "duration_seconds": duration,
            "bytes": bytes,
            "credits_cost": v["credits_cost"],
            "script_source": v["script_source"],
        }));
        for_sheet.push((mp4, frames_at));
    }
    if !for_sheet.is_empty() {
        contact_sheet(&for_sheet, out).await?;
    }
    let total = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    eprintln!("done in {total:.1} s; files in {}", out.display());
    let summary = json!({
        "campaign_id": id,
        "status": current,
        "videos": files,
        "contact_sheet": out.join("contact-sheet.png"),
        "stage_seconds": stages,
        "total_seconds": total,
        "peak_rss_mib": peak_rss_mib(),
    });
    if failed > 0 {
        return Err(format!("{failed} video(s) failed: {summary}"));
    }
    Ok(summary)
}

/// This process's peak resident memory (VmHWM) in MiB; Chromium, ffmpeg and espeak-ng are
/// child processes and not counted. `None` where /proc is not there.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}
