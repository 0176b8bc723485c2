//! From review to published (SPEC §11) against the real `reelforge serve` over HTTP: the
//! listing, destinations, the refusals of script edits and publish requests, a publish to
//! loopback fakes of YouTube and TikTok (the server's provider URLs set by environment),
//! and a script edit spoken by espeak-ng and rendered by ffmpeg, with `video.ready` and
//! `campaign.published` delivered signed to a receiver.
//!
//! A campaign in `review` is put into the server's SQLite store directly (with its video
//! files and screens in the media directory), as the pipeline would leave it: the tests
//! here are about what happens after review.

use reelforge_testkit::server as support;

use hmac::{Hmac, Mac};
use reelforge_core::model::{Campaign, CampaignStatus, Language, Platform, Video, VideoStatus};
use reelforge_testkit::providers::{
    TikTokFake, YouTubeFake, TT_CLIENT_KEY, TT_CLIENT_SECRET, TT_REFRESH_TOKEN, YT_CLIENT_ID,
    YT_CLIENT_SECRET, YT_REFRESH_TOKEN,
};
use reelforge_testkit::receiver::{Received, Receiver, Reply};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{call, Client, Server};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

fn page() -> Value {
    json!({"url": "https://93.184.216.34/product", "languages": ["en"]})
}

/// Puts a campaign in `review` into the server's store: one ready video per language
/// (a YouTube Shorts MP4 of `file` bytes), the page's capture (`screen`, a 1080x1920
/// PNG) and facts for a re-render, and `webhook_url`.
fn review_campaign(
    s: &Server,
    account: &str,
    languages: &[Language],
    file: &[u8],
    screen: &[u8],
    webhook_url: Option<String>,
) -> Campaign {
    let id = Uuid::new_v4();
    let now = chrono::Utc::now();
    let media = s.data.join("media");
    let mut videos = Vec::new();
    for &language in languages {
        let mut v = Video {
            id: Uuid::new_v4(),
            platform: Platform::YoutubeShorts,
            language,
            status: VideoStatus::Ready,
            file_key: None,
            duration_seconds: Some(3.0),
            published_at: None,
            credits_cost: Some(10),
            thumbnail_key: None,
            script_source: Some("page_language".into()),
            render_job: None,
            review: Default::default(),
        };
        let key = format!("{}.mp4", v.media_stem(id));
        write(&media.join(&key), file);
        v.file_key = Some(key);
        videos.push(v);
    }
    // The page's capture at the video's size and its facts, as process and collect
    // leave them: an edit renders its storyboard from these.
    let image_key = format!("work/{id}/captures/page/1080x1920.png");
    write(&media.join(&image_key), screen);
    let layout = reelforge_core::layout::PageLayout {
        viewport: Some(reelforge_core::render::FrameSize::PORTRAIT_1080),
        image_height: 1920,
        ..Default::default()
    };
    write(
        &media.join(reelforge_app::pipeline::artifacts::captures(id)),
        json!({"page/1080x1920": {"image": image_key, "layout": layout}})
            .to_string()
            .as_bytes(),
    );
    write(
        &media.join(reelforge_app::pipeline::artifacts::collected(id)),
        json!({
            "url": "https://acme.example/notes",
            "facts": reelforge_core::page::PageFacts::default(),
            "alternates": {},
        })
        .to_string()
        .as_bytes(),
    );
    let c = Campaign {
        id,
        job_id: "01JDG0000000000000000000BB".into(),
        account_id: account.to_string(),
        status: CampaignStatus::Review,
        url: "https://acme.example/notes".into(),
        title: "acme.example Campaign".into(),
        languages: languages.to_vec(),
        platforms: vec![Platform::YoutubeShorts],
        webhook_url,
        playlist_id: None,
        created_at: now,
        updated_at: now,
        videos_reserved: videos.len() as u32,
        videos,
        error: None,
        failed_stage: None,
        quota_period: now.format("%Y-%m").to_string(),
        revision: 0,
        lease: None,
        history: Vec::new(),
        style: None,
        publish: None,
    };
    let db = rusqlite::Connection::open(s.data.join("reelforge.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute(
        "INSERT INTO campaigns (id, account_id, status, doc, created_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            id.to_string(),
            account,
            "review",
            serde_json::to_string(&c).unwrap(),
            now.timestamp_nanos_opt().unwrap()
        ],
    )
    .unwrap();
    c
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn file_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

async fn get_campaign(c: &Client, key: &str, id: Uuid) -> Value {
    let r = c.get(&format!("/api/v1/campaigns/{id}"), Some(key)).await;
    assert_eq!(r.status, 200);
    r.json()
}

/// Polls the campaign until `done` holds (bounded by `WAIT`).
async fn until(c: &Client, key: &str, id: Uuid, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = get_campaign(c, key, id).await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never reached: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_id(r: &Received) -> Value {
    Value::String(r.headers["x-clipus-event-id"].clone())
}

fn assert_signed(r: &Received, secret: &str) {
    let id = &r.headers["x-clipus-event-id"];
    let ts = &r.headers["x-clipus-timestamp"];
    let mut msg = format!("{ts}.{id}.").into_bytes();
    msg.extend_from_slice(&r.body);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&msg);
    assert_eq!(
        r.headers["x-clipus-signature"],
        hex::encode(mac.finalize().into_bytes())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_newest_first_and_is_metered_per_ip_only() {
    let s = Server::api(&[]);
    let (_, key) = s.account("growth", &[]);
    let (_, other) = s.account("growth", &[]);
    let c = s.client();
    let mut created = Vec::new();
    for _ in 0..5 {
        let r = c.create(&key, &page()).await;
        assert_eq!(r.status, 201);
        created.push(r.json()["campaign_id"].as_str().unwrap().to_string());
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut path = "/api/v1/campaigns?limit=2".to_string();
    loop {
        let r = c.get(&path, Some(&key)).await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        let body = r.json();
        for campaign in body["campaigns"].as_array().unwrap() {
            let keys: HashSet<&str> = campaign
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for k in [
                "campaign_id",
                "status",
                "url",
                "title",
                "languages",
                "created_at",
                "videos",
            ] {
                assert!(keys.contains(k), "{k} missing: {campaign}");
            }
            seen.push(campaign["campaign_id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(
                    c.get(&format!("/api/v1/campaigns?cursor={cursor}"), Some(&other))
                        .await
                        .status,
                    400,
                    "another account's cursor"
                );
                path = format!("/api/v1/campaigns?limit=2&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen, created);
    let r = c
        .get("/api/v1/campaigns?status=collecting&limit=100", Some(&key))
        .await;
    assert_eq!(r.json()["campaigns"].as_array().unwrap().len(), 5);
    assert_eq!(r.json()["next_cursor"], Value::Null);
    for bad in [
        "?limit=0",
        "?limit=1000",
        "?status=nope",
        "?cursor=%%%",
        "?sort=asc",
    ] {
        let r = c.get(&format!("/api/v1/campaigns{bad}"), Some(&key)).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["success"], json!(false));
    }
    let r = c
        .request(
            "PATCH",
            "/api/v1/campaigns",
            &[("Authorization", &format!("Bearer {key}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    // Reads are metered by the IP layers only: a growth account (10 creates a minute)
    // that listed 20 times can still create (5 creates so far).
    let reader = s.client();
    for _ in 0..20 {
        assert_eq!(
            reader.get("/api/v1/campaigns", Some(&key)).await.status,
            200
        );
    }
    assert_eq!(c.create(&key, &page()).await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_are_masked_and_never_logged() {
    let (s, log) = Server::api_logged(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let body = json!({"provider": "youtube", "name": "Acme channel", "client_id": YT_CLIENT_ID,
                      "client_secret": YT_CLIENT_SECRET, "refresh_token": YT_REFRESH_TOKEN});
    let r = call(&c, "POST", "/api/v1/destinations", &key, Some(&body)).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let created = r.json();
    let id = created["destination_id"].as_str().unwrap().to_string();
    assert_eq!(created["privacy"], "private", "the default");
    assert_eq!(created["refresh_token"], "…6789");
    let listed = call(&c, "GET", "/api/v1/destinations", &key, None)
        .await
        .json();
    assert_eq!(listed["destinations"][0]["destination_id"], id.as_str());
    let one = call(&c, "GET", &format!("/api/v1/destinations/{id}"), &key, None).await;
    assert_eq!(one.status, 200);
    for text in [
        String::from_utf8_lossy(&r.body).to_string(),
        listed.to_string(),
        String::from_utf8_lossy(&one.body).to_string(),
    ] {
        for secret in [YT_CLIENT_SECRET, YT_REFRESH_TOKEN] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    let bad = json!({"provider": "tiktok", "name": "x", "client_id": "a", "client_secret": "b",
                     "refresh_token": "c", "privacy": "unlisted"});
    assert_eq!(
        call(&c, "POST", "/api/v1/destinations", &key, Some(&bad))
            .await
            .status,
        400
    );
    assert_eq!(
        call(
            &c,
            "PUT",
            &format!("/api/v1/destinations/{id}"),
            &key,
            Some(&body)
        )
        .await
        .status,
        405
    );
    assert_eq!(
        call(
            &c,
            "DELETE",
            &format!("/api/v1/destinations/{id}"),
            &key,
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(&c, "GET", &format!("/api/v1/destinations/{id}"), &key, None)
            .await
            .status,
        404
    );
    // The sealed file on disk and the server's log never hold the plaintext.
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let db = std::fs::read(s.data.join("reelforge.db")).unwrap_or_default();
    let wal = std::fs::read(s.data.join("reelforge.db-wal")).unwrap_or_default();
    for secret in [YT_CLIENT_SECRET, YT_REFRESH_TOKEN] {
        assert!(!logged.contains(secret), "secret in the log");
        for bytes in [&db, &wal] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "plaintext secret stored"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_publish_requests_are_refused_outside_review() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let created = c.create(&key, &page()).await.json();
    let id = created["campaign_id"].as_str().unwrap();
    let video = get_campaign(&c, &key, id.parse().unwrap()).await["videos"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let script = json!({"script": "A better script."});
    let path = format!("/api/v1/campaigns/{id}/videos/{video}/script");
    let r = call(&c, "PUT", &path, &key, Some(&script)).await;
    assert_eq!(r.status, 409, "collecting: {:?}", r.json());
    let r = call(&c, "PUT", &path, &key, Some(&json!({"script": ""}))).await;
    assert_eq!(r.status, 400);
    let r = call(
        &c,
        "PUT",
        &format!("/api/v1/campaigns/{id}/videos/{}/script", Uuid::new_v4()),
        &key,
        Some(&script),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        call(&c, "POST", &path, &key, Some(&script)).await.status,
        405
    );
    let publish = format!("/api/v1/campaigns/{id}/publish");
    let r = call(&c, "POST", &publish, &key, None).await;
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert_eq!(call(&c, "GET", &publish, &key, None).await.status, 405);
    let r = call(
        &c,
        "POST",
        &format!("/api/v1/campaigns/{}/publish", Uuid::new_v4()),
        &key,
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "Campaign not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_to_youtube_and_tiktok_fakes_end_to_end() {
    let yt = YouTubeFake::start().await;
    let tt = TikTokFake::start().await;
    let (token_url, upload_url, tiktok) = (yt.token_url(), yt.upload_url(), tt.base_url());
    let (s, server_log) = Server::start_env_logged(
        &["--allow-private-targets", "--webhook-retry-delays", "1,1"],
        &[
            ("REELFORGE_GOOGLE_TOKEN_URL", token_url.as_str()),
            ("REELFORGE_YOUTUBE_UPLOAD_URL", upload_url.as_str()),
            ("REELFORGE_TIKTOK_API_BASE", tiktok.as_str()),
            ("REELFORGE_PUBLISH_RETRY_DELAYS", "1,1"),
            ("REELFORGE_PUBLISH_BACKOFF_MS", "20"),
            ("REELFORGE_TIKTOK_POLL_MS", "20"),
        ],
    );
    let acct = s
        .cli(&["accounts", "create", "--name", "Pub", "--plan", "scale"])
        .unwrap();
    let account = acct["account_id"].as_str().unwrap().to_string();
    let secret = acct["webhook_secret"].as_str().unwrap().to_string();
    let key = s.cli(&["keys", "create", "--account", &account]).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut rx = Receiver::start(vec![Reply::Status(200)]).await;
    let file = file_bytes(400 * 1024);
    let campaign = review_campaign(&s, &account, &[Language::En], &file, b"png", Some(rx.url()));
    let c = s.client();
    let yt_dest = call(&c, "POST", "/api/v1/destinations", &key, Some(&json!({
        "provider": "youtube", "name": "Channel", "client_id": YT_CLIENT_ID,
        "client_secret": YT_CLIENT_SECRET, "refresh_token": YT_REFRESH_TOKEN, "privacy": "unlisted"})))
        .await
        .json()["destination_id"]
        .as_str()
        .unwrap()
        .to_string();
    let tt_dest = call(
        &c,
        "POST",
        "/api/v1/destinations",
        &key,
        Some(&json!({
        "provider": "tiktok", "name": "TikTok", "client_id": TT_CLIENT_KEY,
        "client_secret": TT_CLIENT_SECRET, "refresh_token": TT_REFRESH_TOKEN})),
    )
    .await
    .json()["destination_id"]
        .as_str()
        .unwrap()
        .to_string();
    let publish = format!("/api/v1/campaigns/{}/publish", campaign.id);
    let body = json!({"destinations": [yt_dest, tt_dest]});
    let r = call(&c, "POST", &publish, &key, Some(&body)).await;
    assert_eq!(r.status, 202, "{:?}", r.json());
    assert_eq!(
        r.json()["videos"][0]["publications"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let done = until(&c, &key, campaign.id, |v| v["status"] == "published").await;
    let publications = done["videos"][0]["publications"]
        .as_array()
        .unwrap()
        .clone();
    for p in &publications {
        assert_eq!(p["status"], "published", "{p}");
    }
    let youtube = publications
        .iter()
        .find(|p| p["provider"] == "youtube")
        .unwrap();
    assert_eq!(youtube["external_id"], yt.videos()[0].id.as_str());
    assert_eq!(yt.videos()[0].bytes, file);
    assert_eq!(
        yt.videos()[0].metadata["status"]["privacyStatus"],
        "unlisted"
    );
    assert_eq!(tt.posts(), 1);
    assert!(done["videos"][0]["published_at"].is_string());
    // A repeat sends nothing again.
    let again = call(&c, "POST", &publish, &key, Some(&body)).await;
    assert_eq!(again.status, 202);
    assert_eq!(
        again.json()["videos"][0]["publications"],
        json!(publications)
    );
    // campaign.published, signed, with the publications.
    let delivered = rx.next(WAIT).await.expect("campaign.published delivered");
    assert_signed(&delivered, &secret);
    let event: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(event["event"], "campaign.published");
    assert_eq!(event["status"], "published");
    assert_eq!(
        event["videos"][0]["publications"].as_array().unwrap().len(),
        2
    );
    // The repeat found the campaign `published` and queued nothing: nothing can be
    // uploaded after it, and the delivery log holds the one event (an event is stored in
    // the write that makes it, so a second one would be listed here).
    assert_eq!(yt.videos().len(), 1);
    assert_eq!(tt.posts(), 1);
    let log = call(
        &c,
        "GET",
        &format!("/api/v1/campaigns/{}/webhook-deliveries", campaign.id),
        &key,
        None,
    )
    .await
    .json();
    let events: Vec<&Value> = log["deliveries"].as_array().unwrap().iter().collect();
    assert_eq!(events.len(), 1, "{log}");
    assert_eq!(events[0]["event"], "campaign.published");
    assert_eq!(events[0]["event_id"], event_id(&delivered));
    assert!(rx.try_next().is_none(), "one event");
    // Neither the destinations' credentials nor the access tokens the publisher got
    // (YouTube's `ya29.fake-…`, TikTok's `act.fake-…` and its rotated refresh token
    // `rft.fake-1`) are in the server's log (debug level) or the campaign.
    let logged = std::fs::read_to_string(&server_log).unwrap();
    assert!(logged.contains("publish"), "the log was written: {logged}");
    let campaign_text = done.to_string();
    for secret in [
        YT_CLIENT_SECRET,
        YT_REFRESH_TOKEN,
        TT_CLIENT_SECRET,
        TT_REFRESH_TOKEN,
        "rft.fake-1",
        "ya29.fake-",
        "act.fake-",
    ] {
        assert!(!logged.contains(secret), "{secret} in the server's log");
        assert!(!campaign_text.contains(secret), "{secret} in the campaign");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_edit_is_spoken_rendered_and_announced() {
    let s = Server::start(&["--allow-private-targets", "--webhook-retry-delays", "1,1"]);
    let acct = s
        .cli(&["accounts", "create", "--name", "Edit", "--plan", "scale"])
        .unwrap();
    let account = acct["account_id"].as_str().unwrap().to_string();
    let secret = acct["webhook_secret"].as_str().unwrap().to_string();
    let key = s.cli(&["keys", "create", "--account", &account]).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut rx = Receiver::start(vec![Reply::Status(200)]).await;
    let screen = support::ffmpeg_file(
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=0x2255aa:s=1080x1920",
            "-frames:v",
            "1",
        ],
        "png",
    );
    let old_file = b"the first render".to_vec();
    let campaign = review_campaign(
        &s,
        &account,
        &[Language::En],
        &old_file,
        &screen,
        Some(rx.url()),
    );
    let c = s.client();
    let video = campaign.videos[0].id;
    let before = get_campaign(&c, &key, campaign.id).await;
    let old_url = before["videos"][0]["file_url"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("/api/v1/campaigns/{}/videos/{video}/script", campaign.id);
    let r = call(
        &c,
        "PUT",
        &path,
        &key,
        Some(&json!({"script": "Acme Notes keeps every idea. Try it today!"})),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.json());
    assert_eq!(r.json()["video"]["status"], "rendering");
    let done = until(&c, &key, campaign.id, |v| {
        v["videos"][0]["status"] == "ready"
    })
    .await;
    let v = &done["videos"][0];
    assert_eq!(done["status"], "review");
    assert_eq!(v["script_source"], "edited");
    let new_url = v["file_url"].as_str().unwrap();
    assert_ne!(new_url, old_url);
    assert!(new_url.contains("-edit1.mp4"), "{new_url}");
    assert!(v["duration_seconds"].as_f64().unwrap() > 1.0);
    // Both files download: the new render, and the old one still.
    let fetch = |url: &str| {
        let path = url
            .split_once("/files/")
            .map(|(_, p)| format!("/files/{p}"))
            .unwrap();
        async move { c.get(&path, None).await }
    };
    let new = fetch(new_url).await;
    assert_eq!(new.status, 200);
    assert!(
        new.body.len() > 1_000 && &new.body[4..8] == b"ftyp",
        "an MP4"
    );
    let old = fetch(&old_url).await;
    assert_eq!(old.status, 200);
    assert_eq!(old.body, old_file);
    // video.ready, signed, with the §11 body.
    let delivered = rx.next(WAIT).await.expect("video.ready delivered");
    assert_signed(&delivered, &secret);
    let event: Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(event["event"], "video.ready");
    assert_eq!(event["campaign_id"], campaign.id.to_string());
    assert_eq!(event["video"]["id"], video.to_string());
    assert_eq!(event["video"]["status"], "ready");
    let log = call(
        &c,
        "GET",
        &format!("/api/v1/campaigns/{}/webhook-deliveries", campaign.id),
        &key,
        None,
    )
    .await;
    assert_eq!(log.json()["deliveries"][0]["event"], "video.ready");
}
