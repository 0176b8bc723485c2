//! The pipeline end to end against the real `reelforge` binary: campaigns for the bundled
//! sample site (served on loopback in the test) run by `reelforge serve` and by
//! `reelforge demo`, checked over HTTP and with ffprobe/ffmpeg on the files they make.
//! Everything stays on loopback.

use reelforge_testkit::server as support;

use reelforge_testkit::media;

use hmac::{Hmac, Mac};
use media::{count, duration, frame, mask, mean_volume_db, probe, stream};
use reelforge_core::render::{caption_box, CaptionStyle, Captions, FrameSize, PixelRect};
use reelforge_core::storyboard::CLOSING_TAIL_MS;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};
use support::{bin, call, ffmpeg_file, temp_dir, upload, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The pipeline's statuses in order (SPEC §5).
const ORDER: [&str; 6] = [
    "collecting",
    "processing",
    "scripting",
    "voiceover",
    "rendering",
    "review",
];
/// A campaign takes 15–25 s here; these bound a hang, not the speed.
const CAMPAIGN_DEADLINE: Duration = Duration::from_secs(240);
const PORTRAIT: FrameSize = FrameSize {
    width: 1080,
    height: 1920,
};

fn rank(status: &str) -> usize {
    ORDER
        .iter()
        .position(|s| *s == status)
        .unwrap_or_else(|| panic!("unexpected status {status:?}"))
}

async fn get_campaign(server: &Server, key: &str, id: &str) -> Value {
    // A fresh client address per request: polling never meets the per-IP limit.
    let r = server
        .client()
        .get(&format!("/api/v1/campaigns/{id}"), Some(key))
        .await;
    assert_eq!(r.status, 200, "GET campaign: {:?}", r.json());
    r.json()
}

/// Polls the campaign until it reaches `target`, returning its GET body and the distinct
/// statuses seen. Panics if it fails (unless `target` is `failed`), moves past `target`,
/// goes backwards, or takes longer than `deadline`.
async fn follow(
    server: &Server,
    key: &str,
    id: &str,
    target: &str,
    deadline: Duration,
) -> (Value, Vec<String>) {
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let c = get_campaign(server, key, id).await;
        let status = c["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == target {
            return (c, seen);
        }
        assert!(
            status != "failed",
            "campaign failed in {}: {} (statuses {seen:?})",
            c["failed_stage"],
            c["error"]
        );
        if target != "failed" {
            assert!(
                rank(&status) < rank(target),
                "campaign went past {target}: {seen:?}"
            );
        }
        assert!(
            seen.windows(2).all(|w| rank(&w[0]) < rank(&w[1])),
            "status went backwards: {seen:?}"
        );
        assert!(
            started.elapsed() < deadline,
            "campaign not {target} within {deadline:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Creates a campaign; every new campaign is answered `collecting` (its first GET may
/// already see a later status: the workers can be that quick).
async fn create(server: &Server, key: &str, body: Value) -> String {
    let r = server.client().create(key, &body).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    assert_eq!(r.json()["status"], "collecting", "{:?}", r.json());
    r.json()["campaign_id"].as_str().unwrap().to_string()
}

/// GETs one of the server's absolute links (`http://addr/files/…?…`).
async fn fetch(server: &Server, url: &str) -> support::Response {
    let base = format!("http://{}", server.addr);
    let path = url
        .strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} is not a link to {base}"));
    server.client().get(path, None).await
}

/// `/files/{key}` with its own `expires` and `sig`, from the data dir's link secret.
fn signed_link(data: &Path, key: &str, expires: i64) -> String {
    let secret = std::fs::read(data.join("media-link.key")).expect("media-link.key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    mac.update(format!("{key}\n{expires}").as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    format!("/files/{key}?expires={expires}&sig={sig}")
}

/// An HTTP server on loopback answering every request with `html`.
async fn html_site(html: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = stream.write_all(resp.as_bytes()).await;
            });
        }
    });
    base
}

fn is_mp4(bytes: &[u8]) -> bool {
    bytes.len() > 8 && &bytes[4..8] == b"ftyp"
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// The stored voiceover of `language` (what the video's audio is made of).
fn voice_wav(data: &Path, campaign: &str, language: &str) -> PathBuf {
    let wav = data
        .join("media/work")
        .join(campaign)
        .join(format!("voice/{language}.wav"));
    assert!(wav.is_file(), "{} missing", wav.display());
    wav
}

/// The closing card holds this long after the last word.
const TAIL_S: f64 = CLOSING_TAIL_MS as f64 / 1000.0;

/// A portrait video made from a voiceover: 1080x1920 H.264 + AAC, as long as the
/// voiceover plus the closing card's tail (no end clip) within 0.5 s, audible, with
/// captions drawn.
fn assert_video(mp4: &Path, wav: &Path, language: &str) {
    let json = probe(mp4);
    let v = stream(&json, "video");
    assert_eq!(v["codec_name"], "h264", "{language}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(1080), Some(1920)),
        "{language}"
    );
    assert_eq!(stream(&json, "audio")["codec_name"], "aac", "{language}");
    let got = duration(&json);
    let voice = duration(&probe(wav));
    assert!(voice > 3.0, "{language}: voiceover only {voice} s");
    assert!(
        (got - (voice + TAIL_S)).abs() <= 0.5,
        "{language}: video {got} s, voiceover {voice} s + {TAIL_S} s closing card"
    );
    let vol = mean_volume_db(mp4);
    assert!(vol > -40.0, "{language}: audio is silent (mean {vol} dB)");
    assert_captions(mp4, got, language);
}

/// Frames spread over the video show the caption in its box (centred at 70 % height):
/// the spoken word in the highlight yellow, and no yellow anywhere else (the sample site
/// has none of its own), with white caption text beside it. (White alone proves little:
/// the page behind the caption is often white; a page can also hold just one word.)
fn assert_captions(mp4: &Path, seconds: f64, language: &str) {
    let style = CaptionStyle::default();
    let captions = Captions {
        language: language.into(),
        style: style.clone(),
        cues: Vec::new(),
    };
    let boxr = caption_box(&captions, PORTRAIT, style.lines as usize);
    let whole = PixelRect {
        x: 0,
        y: 0,
        width: PORTRAIT.width,
        height: PORTRAIT.height,
    };
    let mut report = Vec::new();
    for at in [0.2, 0.4, 0.6, 0.8] {
        let rgb = frame(mp4, seconds * at, PORTRAIT);
        let white = count(&mask(&rgb, PORTRAIT, boxr, style.color));
        let yellow = count(&mask(&rgb, PORTRAIT, boxr, style.highlight_color));
        let yellow_outside = count(&mask(&rgb, PORTRAIT, whole, style.highlight_color)) - yellow;
        report.push((white, yellow, yellow_outside));
    }
    let highlighted = report
        .iter()
        .filter(|(_, yellow, outside)| *yellow > 200 && *outside < 100)
        .count();
    let with_text = report.iter().filter(|(white, _, _)| *white > 1500).count();
    assert!(
        highlighted >= 3 && with_text >= 2,
        "{language}: captions missing in {boxr:?}; (white, yellow, yellow outside) per frame: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_campaign_links_checked_videos_with_durations_credits_and_script_sources() {
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let server = Server::start(&["--allow-private-targets"]);
    let (_, key) = server.account("scale", &[]);
    // en, ja and ko have pages on the sample site; de does not.
    let id = create(
        &server,
        &key,
        json!({"url": format!("{site}/"), "languages": ["en", "ja", "ko", "de"]}),
    )
    .await;
    let (c, _) = follow(&server, &key, &id, "review", CAMPAIGN_DEADLINE).await;
    let videos = c["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 4, "{c}");
    let dir = temp_dir("e2e-files");
    let mut links = Vec::new();
    for v in videos {
        let language = v["language"].as_str().unwrap();
        assert_eq!(v["status"], "ready", "{v}");
        assert_eq!(v["platform"], "youtube_shorts");
        let expected_source = if language == "de" {
            "localized_template"
        } else {
            "page_language"
        };
        assert_eq!(v["script_source"], expected_source, "{language}");
        assert!(
            v["credits_cost"].as_f64().is_some_and(|c| c > 0.0),
            "{language}: credits_cost {}",
            v["credits_cost"]
        );
        let file_url = v["file_url"].as_str().expect("file_url");
        let thumb_url = v["thumbnail_url"].as_str().expect("thumbnail_url");
        for url in [file_url, thumb_url] {
            assert!(
                url.starts_with(&format!("http://{}/files/", server.addr))
                    && url.contains("?expires=")
                    && url.contains("&sig="),
                "{url}"
            );
        }
        let mp4 = fetch(&server, file_url).await;
        assert_eq!(mp4.status, 200, "{file_url}");
        assert!(is_mp4(&mp4.body), "{language}: not an MP4");
        let thumb = fetch(&server, thumb_url).await;
        assert_eq!(thumb.status, 200, "{thumb_url}");
        assert!(is_jpeg(&thumb.body), "{language}: thumbnail is not a JPEG");

        let file = dir.join(format!("{language}.mp4"));
        std::fs::write(&file, &mp4.body).unwrap();
        let probed = duration(&probe(&file));
        let reported = v["duration_seconds"].as_f64().expect("duration_seconds");
        assert!(
            (probed - reported).abs() <= 0.1,
            "{language}: duration_seconds {reported}, ffprobe {probed}"
        );
        assert_video(&file, &voice_wav(&server.data, &id, language), language);
        links.push(file_url.to_string());
    }

    // Links can't be forged or probed: a changed signature, an expired link and a
    // correctly signed link to a key that doesn't exist all get the same 404.
    let link = &links[0];
    let base = format!("http://{}", server.addr);
    let path = link.strip_prefix(&base).unwrap();
    let (file_path, query) = path.split_once('?').unwrap();
    let media_key = file_path.strip_prefix("/files/").unwrap();
    let sig = query.split("sig=").nth(1).unwrap();
    let flipped = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    let tampered = path.replace(sig, &flipped);
    let later = chrono::Utc::now().timestamp() + 600;
    // Our own signature on the real key works: the other links fail for what they name.
    let own = server
        .client()
        .get(&signed_link(&server.data, media_key, later), None)
        .await;
    assert_eq!(own.status, 200);
    assert!(is_mp4(&own.body));
    let unknown_key = media_key.replace(".mp4", "-missing.mp4");
    let bad = [
        tampered,
        signed_link(&server.data, &unknown_key, later),
        signed_link(&server.data, media_key, later - 1200),
        format!("{file_path}?expires={later}"),
    ];
    let mut bodies = BTreeSet::new();
    for p in &bad {
        let r = server.client().get(p, None).await;
        assert_eq!(r.status, 404, "{p}");
        assert_eq!(r.json()["success"], false);
        bodies.insert(r.body.clone());
    }
    assert_eq!(bodies.len(), 1, "404 bodies differ: {bodies:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let data = server.data.clone();
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_render_finishes_the_campaign_after_a_restart() {
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let data = temp_dir("restart");
    let args = ["--allow-private-targets", "--stage-timeout-secs", "15"];
    let server = Server::start_in(data.clone(), &args);
    let (_, key) = server.account("scale", &[]);
    let id = create(
        &server,
        &key,
        json!({"url": format!("{site}/"), "languages": ["en", "ja"]}),
    )
    .await;
    let (at_kill, _) = follow(&server, &key, &id, "rendering", CAMPAIGN_DEADLINE).await;
    assert!(
        at_kill["videos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["status"] != "ready"),
        "{at_kill}"
    );
    // Dropping a `Server` is `Child::kill`: SIGKILL, no shutdown of any kind.
    drop(server);

    let server = Server::start_in(data.clone(), &args);
    let (c, seen) = follow(&server, &key, &id, "review", CAMPAIGN_DEADLINE).await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("rendering"),
        "{seen:?}"
    );
    let videos = c["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 2);
    for v in videos {
        assert_eq!(v["status"], "ready", "{v}");
        let url = v["file_url"].as_str().expect("file_url");
        let r = fetch(&server, url).await;
        assert_eq!(r.status, 200, "{url}");
        assert!(is_mp4(&r.body), "{url} is not an MP4");
    }
    // Exactly one MP4 per video: the render that was cut off left no second file.
    let mp4s: Vec<String> = std::fs::read_dir(data.join("media/videos").join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mp4"))
        .collect();
    assert_eq!(mp4s.len(), videos.len(), "{mp4s:?}");
    for v in videos {
        let vid = v["id"].as_str().unwrap();
        assert_eq!(
            mp4s.iter().filter(|n| n.contains(vid)).count(),
            1,
            "{vid} in {mp4s:?}"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_with_nothing_to_say_fails_in_scripting_and_gives_its_video_back() {
    let page = html_site("<html><body></body></html>").await;
    let server = Server::start(&["--allow-private-targets"]);
    let (_, key) = server.account("enterprise", &["--videos-per-month", "1"]);
    let id = create(
        &server,
        &key,
        json!({"url": format!("{page}/"), "languages": ["en"]}),
    )
    .await;
    // The one video of the month is taken while the campaign runs.
    let r = server
        .client()
        .create(
            &key,
            &json!({"url": format!("{page}/other"), "languages": ["en"]}),
        )
        .await;
    assert_eq!(r.status, 429, "{:?}", r.json());
    assert_eq!(r.json()["videos_used"], 1);

    // (`scripting` itself lasts milliseconds here: too short to be seen by polling.)
    let (c, _) = follow(&server, &key, &id, "failed", CAMPAIGN_DEADLINE).await;
    assert_eq!(c["failed_stage"], "scripting", "{c}");
    let error = c["error"].as_str().expect("error");
    assert!(error.contains("script"), "{error}");
    for internal in ["Error", "::", "stage input", "{", "NothingToWrite"] {
        assert!(!error.contains(internal), "not for customers: {error}");
    }
    assert!(c["videos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["status"] == "failed" && v["file_url"].is_null()));
    // The unproduced video went back to the quota: the month's one video can be used.
    let r = server
        .client()
        .create(
            &key,
            &json!({"url": "http://127.0.0.1:9/", "languages": ["en"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let data = server.data.clone();
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

fn demo(languages: &str) -> (std::process::Output, PathBuf, PathBuf) {
    let root = temp_dir("demo");
    let (data, out) = (root.join("data"), root.join("out"));
    let output = Command::new(bin())
        .arg("--data")
        .arg(&data)
        .args([
            "demo",
            "--timeout-secs",
            "120",
            "--languages",
            languages,
            "--out",
        ])
        .arg(&out)
        .env_remove("REELFORGE_BACKEND")
        .output()
        .expect("run reelforge demo");
    (output, data, out)
}

#[test]
fn demo_writes_three_videos_thumbnails_a_contact_sheet_and_a_summary() {
    let (output, _data, out) = demo("en,ja,ko");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed: {stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("stdout: {}", String::from_utf8_lossy(&output.stdout)));
    assert_eq!(summary["status"], "review");
    let videos = summary["videos"].as_array().expect("videos");
    assert_eq!(videos.len(), 3, "{summary}");
    let languages: BTreeSet<&str> = videos
        .iter()
        .map(|v| v["language"].as_str().unwrap())
        .collect();
    assert_eq!(languages, BTreeSet::from(["en", "ja", "ko"]));
    for v in videos {
        let language = v["language"].as_str().unwrap();
        let mp4 = out.join(format!("{language}_youtube_shorts.mp4"));
        assert_eq!(v["file"].as_str().map(Path::new), Some(mp4.as_path()));
        let json = probe(&mp4);
        assert_eq!(stream(&json, "video")["codec_name"], "h264");
        assert_eq!(stream(&json, "audio")["codec_name"], "aac");
        let reported = v["duration_seconds"].as_f64().unwrap();
        assert!((duration(&json) - reported).abs() <= 0.1, "{language}");
        assert_eq!(v["script_source"], "page_language", "{language}");
        // What a viewer notices (docs/video.md): every second moves, a new shot at least
        // every 6 s on average, loudness as the platforms normalise to.
        let stills = media::frozen_stretches(&mp4, -50.0, 0.5);
        let frozen = stills.iter().sum::<f64>() + 0.0;
        assert!(
            frozen <= 0.10 * reported && stills.iter().all(|s| *s < 1.5),
            "{language}: still stretches {stills:?} in {reported} s"
        );
        let cuts = media::scene_changes(&mp4, 10.0);
        assert!(
            cuts.len() as f64 >= reported / 6.0,
            "{language}: {} scene changes in {reported} s",
            cuts.len()
        );
        let loud = media::loudness(&mp4);
        assert!(
            (loud.integrated_lufs + 14.0).abs() <= 1.0 && loud.true_peak_db <= -1.0,
            "{language}: {loud:?}"
        );
        println!(
            "{language}: {reported:.1} s, frozen {frozen:.2} s, {} scene changes, {:.1} LUFS, true peak {:.1} dBFS",
            cuts.len(),
            loud.integrated_lufs,
            loud.true_peak_db
        );
        let jpg = out.join(format!("{language}_youtube_shorts.jpg"));
        assert_eq!(
            stream(&probe(&jpg), "video")["codec_name"],
            "mjpeg",
            "{language}"
        );
    }
    let sheet = out.join("contact-sheet.png");
    assert_eq!(
        summary["contact_sheet"].as_str().map(Path::new),
        Some(sheet.as_path())
    );
    let png = probe(&sheet);
    let s = stream(&png, "video");
    assert_eq!(s["codec_name"], "png");
    // One row of frames per video, one 180 px frame per scene of the storyboard the demo
    // printed (a line per scene: start, length, transition, what it shows).
    let (w, h) = (s["width"].as_u64().unwrap(), s["height"].as_u64().unwrap());
    assert!(w > 0 && h > 0 && h % 3 == 0, "{w}x{h}");
    let mut scenes: Vec<u64> = Vec::new();
    for line in stderr.lines() {
        if line.starts_with("video ") {
            scenes.push(0);
        } else if let (Some(n), true) = (scenes.last_mut(), line.starts_with(' ')) {
            let seconds = |c: Option<&str>| {
                c.and_then(|c| c.strip_suffix('s'))
                    .is_some_and(|c| c.parse::<f64>().is_ok())
            };
            let mut cols = line.split_whitespace();
            if seconds(cols.next()) && seconds(cols.next()) {
                *n += 1;
            }
        }
    }
    assert_eq!(scenes.len(), 3, "{stderr}");
    let widest = scenes.iter().copied().max().unwrap();
    assert!(widest >= 8, "{scenes:?}");
    assert_eq!(w, 180 * widest, "{scenes:?}");
    assert!(std::fs::read(&sheet)
        .unwrap()
        .starts_with(b"\x89PNG\r\n\x1a\n"));
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}

#[test]
fn demo_with_an_unknown_language_fails_and_names_it() {
    let (output, _data, out) = demo("en,xx");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "demo accepted xx: {stderr}");
    assert!(
        stderr.contains("xx"),
        "error does not name the language: {stderr}"
    );
    assert!(
        stderr.contains("en, ja, ko"),
        "error does not list the allowed languages: {stderr}"
    );
    let written = std::fs::read_dir(&out)
        .map(|d| d.count())
        .unwrap_or_default();
    assert_eq!(written, 0, "files written for a refused campaign");
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}

/// A playlist's font profile styles the burned-in captions: green text with a magenta
/// spoken word in the upper half of the frame (inside the safe zone), where the default
/// draws white and yellow in the lower part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlists_font_profile_styles_the_captions() {
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let server = Server::start(&["--allow-private-targets"]);
    let (_, key) = server.account("scale", &[]);
    let profile = json!({
        "profile_name": "Brand",
        "name": "Noto Sans",
        "size": 72,
        "bold": true,
        "caption_position": {"overlay_visualizer": "Custom", "x": "(main_w-overlay_w)/2", "y": "main_h*0.15"},
        "caption_style_color": "#00FF00",
        "caption_style_stroke_color": "#000000",
        "caption_style_stroke_thickness": 4,
        "caption_lines": 2,
        "caption_highlighter": true,
        "caption_highlighter_color": "#FF00FF"
    });
    let c = server.client();
    let created = |r: support::Response, path: &str, field: &str| {
        assert_eq!(r.status, 201, "{path}: {:?}", r.json());
        r.json()[field][format!("{field}_id")]
            .as_str()
            .unwrap()
            .to_string()
    };
    let path = "/api/v1/font-profiles";
    let fp_id = created(
        call(&c, "POST", path, &key, Some(&profile)).await,
        path,
        "font_profile",
    );
    // Its voice profile picks espeak-ng's voice `en-us+f3`.
    let path = "/api/v1/voice-profiles";
    let body = json!({"profile_name": "Narrator", "provider_id": "espeak"});
    let vp_id = created(
        call(&c, "POST", path, &key, Some(&body)).await,
        path,
        "voice_profile",
    );
    let path = "/api/v1/voices";
    let body =
        json!({"voice_name": "F3", "voice_profile_id": vp_id, "provider_voice_id": "en-us+f3"});
    created(
        call(&c, "POST", path, &key, Some(&body)).await,
        path,
        "voice",
    );
    let path = "/api/v1/playlists";
    let body =
        json!({"playlist_name": "Brand", "font_profile_id": fp_id, "voice_profile_id": vp_id});
    let pl_id = created(
        call(&c, "POST", path, &key, Some(&body)).await,
        path,
        "playlist",
    );
    let id = create(
        &server,
        &key,
        json!({"url": format!("{site}/"), "languages": ["en"], "playlist_id": pl_id}),
    )
    .await;
    let (c, _) = follow(&server, &key, &id, "review", CAMPAIGN_DEADLINE).await;
    let v = &c["videos"][0];
    let mp4 = temp_dir("playlist").join("en.mp4");
    std::fs::create_dir_all(mp4.parent().unwrap()).unwrap();
    let got = fetch(&server, v["file_url"].as_str().unwrap()).await;
    assert_eq!(got.status, 200);
    std::fs::write(&mp4, &got.body).unwrap();
    let seconds = v["duration_seconds"].as_f64().unwrap();

    let style: reelforge_core::styles::FontProfile = serde_json::from_value(profile).unwrap();
    let style = style.caption_style_for(PORTRAIT);
    let captions = Captions {
        language: "en".into(),
        style: style.clone(),
        cues: Vec::new(),
    };
    let top = caption_box(&captions, PORTRAIT, style.lines as usize);
    assert!(top.y + top.height < PORTRAIT.height / 2, "{top:?}");
    let default_box = caption_box(
        &Captions {
            language: "en".into(),
            style: CaptionStyle::default(),
            cues: Vec::new(),
        },
        PORTRAIT,
        2,
    );
    assert!(
        default_box.y + default_box.height / 2 > PORTRAIT.height / 2
            && default_box.y > top.y + top.height,
        "{default_box:?}"
    );
    let whole = PixelRect {
        x: 0,
        y: 0,
        width: PORTRAIT.width,
        height: PORTRAIT.height,
    };
    let default = CaptionStyle::default();
    let mut report = Vec::new();
    for at in [0.2, 0.4, 0.6, 0.8] {
        let rgb = frame(&mp4, seconds * at, PORTRAIT);
        let green = count(&mask(&rgb, PORTRAIT, top, style.color));
        let magenta = count(&mask(&rgb, PORTRAIT, top, style.highlight_color));
        let yellow = count(&mask(&rgb, PORTRAIT, whole, default.highlight_color));
        report.push((green, magenta, yellow));
    }
    let styled = report
        .iter()
        .filter(|(green, magenta, _)| *green > 1500 && *magenta > 200)
        .count();
    assert!(
        styled >= 3 && report.iter().all(|(_, _, yellow)| *yellow < 100),
        "(green, magenta in {top:?}, yellow anywhere) per frame: {report:?}"
    );

    // The voiceover is the script spoken by `en-us+f3`, byte for byte (espeak-ng is
    // deterministic), and not what the default voice says.
    let scripts: Value = serde_json::from_slice(
        &std::fs::read(server.data.join(format!("media/work/{id}/scripts.json"))).unwrap(),
    )
    .unwrap();
    let text = scripts[0]["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let stored = std::fs::read(voice_wav(&server.data, &id, "en")).unwrap();
    let speak = |voice: &str| {
        use std::io::Write;
        let out = mp4.with_file_name(format!("{voice}.wav"));
        let mut child = Command::new("espeak-ng")
            .args(["-v", voice, "-b", "1", "--stdin", "-w"])
            .arg(&out)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
        std::fs::read(out).unwrap()
    };
    assert!(
        stored == speak("en-us+f3"),
        "the voiceover is not en-us+f3's"
    );
    assert!(
        stored != speak("en-us"),
        "the default voice would say the same"
    );
}

/// A playlist's media profile adds its watermark at its corner and appends its end clip:
/// the video grows by the clip's length and ends on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlists_media_profile_adds_the_watermark_and_the_end_clip() {
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let server = Server::start(&["--allow-private-targets"]);
    let (_, key) = server.account("scale", &[]);
    let c = server.client();
    let created = |r: support::Response, field: &str| {
        assert_eq!(r.status, 201, "{field}: {:?}", r.json());
        r.json()[field][format!("{field}_id")]
            .as_str()
            .unwrap()
            .to_string()
    };
    let body = json!({"profile_name": "Brand", "watermark_position": "bottom_left", "watermark_width_fraction": 0.25});
    let mp_id = created(
        call(&c, "POST", "/api/v1/media-profiles", &key, Some(&body)).await,
        "media_profile",
    );
    let files = temp_dir("media-profile");
    std::fs::create_dir_all(&files).unwrap();
    let png = ffmpeg_file(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=0x0000FF:s=200x100",
            "-frames:v",
            "1",
        ],
        "png",
    );
    let clip = ffmpeg_file(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=0xFF0000:s=540x960:d=2:r=15",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:duration=2",
            "-shortest",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ],
        "mp4",
    );
    for (file, content_type, body) in [
        ("watermark", "image/png", &png),
        ("end-clip", "video/mp4", &clip),
    ] {
        let path = format!("/api/v1/media-profiles/{mp_id}/{file}");
        let r = upload(&c, &key, &path, content_type, body).await;
        assert_eq!(r.status, 200, "{file}: {:?}", r.json());
    }
    let body = json!({"playlist_name": "Brand", "media_profile_id": mp_id});
    let pl_id = created(
        call(&c, "POST", "/api/v1/playlists", &key, Some(&body)).await,
        "playlist",
    );
    let id = create(
        &server,
        &key,
        json!({"url": format!("{site}/"), "languages": ["en"], "playlist_id": pl_id}),
    )
    .await;
    let (c, _) = follow(&server, &key, &id, "review", CAMPAIGN_DEADLINE).await;
    let v = &c["videos"][0];
    let mp4 = files.join("en.mp4");
    let got = fetch(&server, v["file_url"].as_str().unwrap()).await;
    assert_eq!(got.status, 200);
    std::fs::write(&mp4, &got.body).unwrap();

    let total = duration(&probe(&mp4));
    let voice = duration(&probe(&voice_wav(&server.data, &id, "en")));
    assert!(
        (total - (voice + TAIL_S + 2.0)).abs() < 0.5,
        "video {total} s, voiceover {voice} s + {TAIL_S} s closing card + 2 s end clip"
    );
    // The watermark: 25 % of the width, in the bottom-left corner, during the main part.
    let blue = reelforge_core::render::Rgb::from_str("#0000FF").unwrap();
    let red = reelforge_core::render::Rgb::from_str("#FF0000").unwrap();
    let corner = |x: u32, y: u32| PixelRect {
        x,
        y,
        width: 300,
        height: 300,
    };
    let rgb = frame(&mp4, voice * 0.5, PORTRAIT);
    let bottom_left = count(&mask(
        &rgb,
        PORTRAIT,
        corner(0, PORTRAIT.height - 300),
        blue,
    ));
    let top_right = count(&mask(&rgb, PORTRAIT, corner(PORTRAIT.width - 300, 0), blue));
    assert!(
        bottom_left > 10_000 && top_right < 100,
        "blue pixels: bottom left {bottom_left}, top right {top_right}"
    );
    // The end clip: the last second is the red clip.
    let whole = PixelRect {
        x: 0,
        y: 0,
        width: PORTRAIT.width,
        height: PORTRAIT.height,
    };
    let end = frame(&mp4, total - 0.7, PORTRAIT);
    let reds = count(&mask(&end, PORTRAIT, whole, red));
    assert!(
        reds > (PORTRAIT.width * PORTRAIT.height / 4) as usize,
        "red pixels in the end clip frame: {reds}"
    );
    let _ = std::fs::remove_dir_all(&files);
}

/// A stage that runs longer than the stage timeout keeps its claim and its message (both
/// renewed while it runs): the second worker never takes it over, so every video is
/// rendered once. (Before renewals, a 2 s timeout made the other worker redo each stage.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_outliving_its_timeout_is_not_done_twice() {
    let site = reelforge_local::serve_sample_site().await.unwrap();
    let dir = temp_dir("renewal");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("ffmpeg.log");
    let wrapper = dir.join("ffmpeg");
    std::fs::write(
        &wrapper,
        format!(
            // Each video's final run outlasts the stage timeout however fast the
            // machine: a deliberate delay in the tool, so the renewals are what is tested.
            "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$*\" in *thumb.jpg*) ;; *out.mp4*) sleep 3 ;; esac\nexec ffmpeg \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let server = Server::start_env(
        &[
            "--allow-private-targets",
            "--stage-timeout-secs",
            "2",
            "--stage-workers",
            "2",
        ],
        &[("REELFORGE_FFMPEG", wrapper.to_str().unwrap())],
    );
    let (_, key) = server.account("scale", &[]);
    let id = create(
        &server,
        &key,
        json!({"url": format!("{site}/"), "languages": ["en", "ja"]}),
    )
    .await;
    let (c, _) = follow(&server, &key, &id, "review", CAMPAIGN_DEADLINE).await;
    assert!(c["videos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["status"] == "ready"));
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    let renders = calls
        .lines()
        .filter(|l| l.contains("out.mp4") && !l.contains("thumb.jpg"))
        .count();
    assert_eq!(renders, 2, "one render per video, no takeover:\n{calls}");
    let _ = std::fs::remove_dir_all(&dir);
}
