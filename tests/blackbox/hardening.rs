//! `reelforge serve` against slow and many clients, streamed downloads, retention and
//! upload deletion (findings of the security review).

use reelforge_testkit::server as support;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use support::{call, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A signed download link the way the server makes them (`store::media`).
fn link(data: &Path, key: &str) -> String {
    let secret = std::fs::read(data.join("media-link.key")).expect("media-link.key");
    let expires = chrono::Utc::now().timestamp() + 600;
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    mac.update(format!("{key}\n{expires}").as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    format!("/files/{key}?expires={expires}&sig={sig}")
}

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Reads until the peer closes; `true` when it closed within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let mut got = Vec::new();
    let result = tokio::time::timeout(within, stream.read_to_end(&mut got)).await;
    (result.is_ok(), got)
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let s = Server::api(&["--header-timeout-secs", "2"]);
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"GET /api/v1/account HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (closed, _) = closed_within(&mut slow, Duration::from_secs(8)).await;
    assert!(closed, "the server kept a half-sent head open");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // An idle connection that never sends anything goes the same way.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    let (closed, _) = closed_within(&mut idle, Duration::from_secs(8)).await;
    assert!(closed, "the server kept an idle connection open");
}

#[tokio::test]
async fn a_body_that_never_ends_is_408() {
    let s = Server::api(&["--body-timeout-secs", "2"]);
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(
        b"POST /api/v1/estimate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_live_0123456789abcdef0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"kind\":",
    )
    .await
    .unwrap();
    let (closed, got) = closed_within(&mut slow, Duration::from_secs(8)).await;
    assert!(closed, "the server waited for the body forever");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// One `GET /healthz` on `stream` (kept alive); `true` when it was answered 200.
async fn healthz(stream: &mut TcpStream) -> bool {
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once() {
    let s = Server::api(&["--max-connections", "3"]);
    // Three connections, each answered once (so the server has accepted and holds them).
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        assert!(
            healthz(&mut c).await,
            "a connection under the cap was not served"
        );
        held.push(c);
    }
    let mut extra = TcpStream::connect(s.addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (closed, got) = closed_within(&mut extra, Duration::from_secs(3)).await;
    assert!(
        closed && got.is_empty(),
        "a 4th connection was served: {got:?}"
    );
    // A slot frees when a connection ends: a new connection is served once the server
    // has seen the close (polled with a deadline).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        if healthz(&mut c).await {
            break;
        }
        assert!(Instant::now() < deadline, "no slot freed after a close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn downloads_are_streamed_not_read_whole() {
    let s = Server::api(&[]);
    let key = "videos/00000000-0000-4000-8000-000000000000/vertical_en_big.mp4";
    let path = s.data.join("media").join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let size: usize = 96 * 1024 * 1024;
    std::fs::write(&path, vec![7u8; size]).unwrap();
    let before = peak_kib(s.pid());
    let r = s.client().get(&link(&s.data, key), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), size);
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    let grew = peak_kib(s.pid()).saturating_sub(before);
    // Read whole, the peak would grow by the file's 96 MiB; streamed, by a few chunks.
    assert!(grew < 24 * 1024, "server peak memory grew by {grew} KiB");
}

#[tokio::test]
async fn videos_past_the_retention_are_deleted_and_their_links_stop_working() {
    let data = support::temp_dir("retention");
    std::fs::create_dir_all(&data).unwrap();
    let old = "videos/00000000-0000-4000-8000-000000000001/vertical_en_a.mp4";
    let new = "videos/00000000-0000-4000-8000-000000000002/vertical_en_b.mp4";
    for key in [old, new] {
        let p = data.join("media").join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"mp4").unwrap();
    }
    let three_days_ago = SystemTime::now() - Duration::from_secs(3 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(data.join("media").join(old))
        .unwrap()
        .set_modified(three_days_ago)
        .unwrap();
    let s = Server::start_in(
        data.clone(),
        &["--stage-workers", "0", "--video-retention-days", "2"],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while data.join("media").join(old).exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!data.join("media").join(old).exists(), "expired video kept");
    assert!(data.join("media").join(new).exists(), "a young video went");
    assert_eq!(s.client().get(&link(&data, old), None).await.status, 404);
    assert_eq!(s.client().get(&link(&data, new), None).await.status, 200);
}

#[tokio::test]
async fn deleting_a_media_profile_deletes_its_uploads() {
    let s = Server::api(&[]);
    let (account, key) = s.account("scale", &[]);
    let c = s.client();
    let created = call(
        &c,
        "POST",
        "/api/v1/media-profiles",
        &key,
        Some(&json!({"profile_name": "Brand"})),
    )
    .await;
    assert_eq!(created.status, 201);
    let id = created.json()["media_profile"]["media_profile_id"]
        .as_str()
        .unwrap()
        .to_string();
    let png = support::ffmpeg_file(
        &["-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1"],
        "png",
    );
    let up = support::upload(
        &c,
        &key,
        &format!("/api/v1/media-profiles/{id}/watermark"),
        "image/png",
        &png,
    )
    .await;
    assert_eq!(up.status, 200, "{:?}", up.json());
    let stored = s
        .data
        .join("media")
        .join(format!("uploads/{account}/{id}/watermark.png"));
    assert!(stored.exists());
    let deleted = call(
        &c,
        "DELETE",
        &format!("/api/v1/media-profiles/{id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(deleted.status, 200);
    assert!(!stored.exists(), "the watermark outlived its profile");
}
