//! Soak: `reelforge serve` (local backend) under a steady mixed load for a bounded time,
//! with the server's resident memory read from /proc every second. Flat memory means
//! no per-request leak: the figure is RSS at the start of the measured period (after a
//! warm-up), at its end, the peak, and the least-squares slope over the second half.
//!
//! The mix, per 20 requests: 10 GET campaign, 3 creates, 2 GET account, 1 font-profile
//! create + delete pair, 1 GET of an unknown campaign (404), 1 unauthenticated (401),
//! 2 from one hot client address (429 once its window is full). Every request opens a
//! fresh connection, so connection setup and teardown are soaked too.
//!
//! Run: `cargo bench -p reelforge-cli --bench soak`
//! (env BENCH_SOAK_SECONDS, default 120; BENCH_SOAK_RATE requests/s, default 200;
//! BENCH_JSON to write the figures as JSON).

use reelforge_testkit::server as support;

use reelforge_testkit::bench_report as common;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{call, Client, Server};

const WARM_UP: Duration = Duration::from_secs(10);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of `pid` in MiB (VmRSS).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb / 1024.0
}

/// Rotating client addresses, so the per-IP layer (120/min) never refuses mixed traffic.
fn source(n: u64) -> IpAddr {
    let n = n % 8192;
    Ipv4Addr::new(
        127,
        70 + (n / 65536) as u8,
        (n / 256 % 256) as u8,
        (n % 256) as u8 + 1,
    )
    .into()
}

fn font_profile() -> Value {
    json!({
        "profile_name": "Soak", "name": "Noto Sans", "size": 64, "bold": false,
        "italic": false, "underlined": false, "strikethrough": false,
        "caption_position": {"overlay_visualizer": "Custom", "x": "(main_w-overlay_w)/2", "y": "main_h*0.8"},
        "caption_style_color": "#FFFFFF", "caption_style_stroke_color": "#000000",
        "caption_style_stroke_thickness": 2, "caption_shadow_x_pos": 1,
        "caption_shadow_y_pos": 1, "caption_shadow_color": "#000000",
        "caption_shadow_blur": 1, "caption_lines": 2, "caption_highlighter": false,
        "caption_highlighter_color": "#FFFF00"
    })
}

struct Fixture {
    server: std::net::SocketAddr,
    keys: Vec<String>,
    campaigns: Vec<String>,
}

/// One request of the mix; returns the status codes it got.
async fn one(f: &Fixture, n: u64) -> Vec<u16> {
    let c = Client {
        server: f.server,
        source: source(n),
    };
    // Every account sees every kind of request: the kind follows n, the account n / 20.
    let i = (n as usize / 20) % f.keys.len();
    let key = &f.keys[i];
    let page = json!({"url": "https://93.184.216.34/", "languages": ["en", "ja"]});
    match n % 20 {
        0..=9 => {
            let path = format!("/api/v1/campaigns/{}", f.campaigns[i]);
            vec![c.get(&path, Some(key)).await.status]
        }
        10..=12 => vec![c.create(key, &page).await.status],
        13 | 14 => vec![c.get("/api/v1/account", Some(key)).await.status],
        15 => {
            let made = call(
                &c,
                "POST",
                "/api/v1/font-profiles",
                key,
                Some(&font_profile()),
            )
            .await;
            let mut statuses = vec![made.status];
            if let Some(id) = made.json()["font_profile"]["font_profile_id"].as_str() {
                let path = format!("/api/v1/font-profiles/{id}");
                statuses.push(call(&c, "DELETE", &path, key, None).await.status);
            }
            statuses
        }
        16 => {
            let path = "/api/v1/campaigns/00000000-0000-4000-8000-000000000000";
            vec![c.get(path, Some(key)).await.status]
        }
        17 => vec![c.get("/api/v1/account", None).await.status],
        _ => {
            let hot = c.from(Ipv4Addr::new(127, 69, 0, 1).into());
            vec![hot.get("/api/v1/account", Some(key)).await.status]
        }
    }
}

fn slope_per_minute(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var * 60.0
    }
}

fn main() {
    let seconds = env_u64("BENCH_SOAK_SECONDS", 120);
    let rate = env_u64("BENCH_SOAK_RATE", 200).max(1);
    let server = Server::api(&[]);
    let pid = server.pid();
    // 100 enterprise accounts: 3 creates per 20 requests at 200/s is 18 per account per
    // minute, under each account's 120.
    let keys: Vec<String> = (0..100)
        .map(|_| {
            server
                .account("enterprise", &["--videos-per-month", "100000000"])
                .1
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = server.addr;
    let result = rt.block_on(async move {
        let mut campaigns = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let c = Client {
                server: addr,
                source: source(10_000 + i as u64),
            };
            let r = c
                .create(
                    key,
                    &json!({"url": "https://93.184.216.34/", "languages": ["en"]}),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));
            campaigns.push(r.json()["campaign_id"].as_str().expect("id").to_string());
        }
        let fixture = Arc::new(Fixture {
            server: addr,
            keys,
            campaigns,
        });
        let statuses: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
        let sent = Arc::new(AtomicU64::new(0));
        let samples: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
        let start = Instant::now();
        let total = WARM_UP + Duration::from_secs(seconds);
        let sampler = {
            let samples = samples.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                while start.elapsed() <= total {
                    tick.tick().await;
                    samples
                        .lock()
                        .unwrap()
                        .push((start.elapsed().as_secs_f64(), rss_mib(pid)));
                }
            })
        };
        // At most 64 requests in flight: a stalled server shows as a lower rate, not as
        // an unbounded pile of tasks in this process.
        let gate = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        while start.elapsed() < total {
            tick.tick().await;
            let permit = gate.clone().acquire_owned().await.expect("gate");
            let (fixture, statuses, sent) = (fixture.clone(), statuses.clone(), sent.clone());
            tokio::spawn(async move {
                for s in one(&fixture, n).await {
                    *statuses.lock().unwrap().entry(s).or_insert(0) += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                drop(permit);
            });
            n += 1;
        }
        let _ = gate.acquire_many(64).await;
        sampler.await.expect("sampler");
        let statuses = statuses.lock().unwrap().clone();
        let samples = samples.lock().unwrap().clone();
        (
            statuses,
            sent.load(Ordering::Relaxed),
            samples,
            start.elapsed(),
        )
    });
    let (statuses, sent, samples, elapsed) = result;
    let measured: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t >= WARM_UP.as_secs_f64())
        .collect();
    let start_mib = measured.first().map_or(0.0, |p| p.1);
    let end_mib = measured.last().map_or(0.0, |p| p.1);
    let peak_mib = measured.iter().map(|p| p.1).fold(0.0, f64::max);
    let second_half = &measured[measured.len() / 2..];
    let slope = slope_per_minute(second_half);
    let server_errors: u64 = statuses
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    println!(
        "soak: {sent} requests in {:.0} s ({:.0}/s) after {} s warm-up; statuses {statuses:?}",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        WARM_UP.as_secs()
    );
    println!(
        "soak: server RSS {start_mib:.1} MiB at start, {end_mib:.1} MiB at end, peak {peak_mib:.1} MiB; second-half slope {slope:+.2} MiB/min ({} cores)",
        common::cores()
    );
    assert_eq!(server_errors, 0, "server errors under soak: {statuses:?}");
    // Only the hot address's 429s and the deliberate 401s and 404s are refusals; a 400
    // would mean the mix itself is wrong (e.g. profiles piling up to their cap).
    assert!(
        !statuses.contains_key(&400),
        "unexpected 400s: {statuses:?}"
    );
    common::write_json(json!({
        "seconds": seconds,
        "warm_up_seconds": WARM_UP.as_secs(),
        "target_rate": rate,
        "requests": sent,
        "req_per_s": sent as f64 / elapsed.as_secs_f64(),
        "statuses": statuses,
        "rss_start_mib": start_mib,
        "rss_end_mib": end_mib,
        "rss_peak_mib": peak_mib,
        "rss_slope_mib_per_min": slope,
        "rss_samples": samples,
    }));
    drop(server);
}
