//! From review to published (SPEC §11) at the library level, on both backends (SQLite,
//! and DynamoDB/SQS/S3 on moto): destinations, the publish request, and the publisher
//! stage against loopback fakes of Google's token endpoint, YouTube's resumable upload and
//! TikTok's Content Posting API (`reelforge_testkit::providers`, written from the
//! providers' documentation). The YouTube request is checked against the official
//! discovery document's extract (`shared/testkit/fixtures/youtube-insert-extract.json`).

use reelforge_testkit as support;

use http::Method;
use reelforge_app::api::handle;
use reelforge_app::pipeline::{self, Next};
use reelforge_app::{Context, Ports, PublishConfig};
use reelforge_core::guard::TargetPolicy;
use reelforge_core::model::{
    Campaign, CampaignStatus, Language, Platform, QuotaReservation, Stage, StageMessage, Video,
    VideoStatus,
};
use reelforge_core::plans::Plan;
use reelforge_core::publish::{Destination, PublicationStatus, DESTINATION_KIND};
use reelforge_core::styles::secrets::SecretOwner;
use reelforge_local::LocalKeySealer;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::api::{new_account, request};
use support::providers::{
    ChunkFault, StartFault, TikTokFake, UploadFault, YouTubeFake, TT_CLIENT_KEY, TT_CLIENT_SECRET,
    TT_REFRESH_TOKEN, YT_CLIENT_ID, YT_CLIENT_SECRET, YT_REFRESH_TOKEN,
};
use uuid::Uuid;

/// A file of this size: more than two YouTube chunk units, so partial accepts and
/// resumes land inside it.
const FILE_BYTES: usize = 700 * 1024;
const UNIT: usize = 256 * 1024;

static IP: AtomicU32 = AtomicU32::new(1);

fn ip() -> u32 {
    IP.fetch_add(1, Ordering::SeqCst)
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Local,
    Aws,
}

async fn ports(backend: Backend, tag: &str) -> Ports {
    match backend {
        Backend::Local => support::api::local_ports(&format!("publish-{tag}-{}", Uuid::new_v4())),
        Backend::Aws => support::api::aws_ports().await,
    }
}

/// The publisher's settings for the fakes: no waits between attempts, short backoffs.
fn config(yt: Option<&YouTubeFake>, tt: Option<&TikTokFake>) -> PublishConfig {
    let mut c = PublishConfig::default();
    if let Some(yt) = yt {
        c.google_token_url = yt.token_url();
        c.youtube_upload_url = yt.upload_url();
    }
    if let Some(tt) = tt {
        c.tiktok_api_base = tt.base_url();
    }
    c.retry_delays = vec![0, 0];
    c.backoff = Duration::from_millis(10);
    c.tiktok_poll = Duration::from_millis(10);
    c
}

struct Rig {
    app: Arc<Context>,
    account: String,
    key: String,
}

/// A claim long enough that no test depends on how fast the machine is: copies of a
/// message wait for the holder, which gives the claim back when it is done.
const LEASE_MS: i64 = 60_000;

async fn rig(backend: Backend, tag: &str, publishing: PublishConfig) -> Rig {
    rig_with_lease(backend, tag, publishing, LEASE_MS).await
}

/// A rig whose claims run out after `lease_ms` (the crash test: a killed worker's claim
/// must expire for the next run to take over).
async fn rig_with_lease(
    backend: Backend,
    tag: &str,
    publishing: PublishConfig,
    lease_ms: i64,
) -> Rig {
    let ports = ports(backend, tag).await;
    let (account, key) = new_account(&ports, Plan::Scale, None).await;
    let mut tools = reelforge_app::Tools::none(reelforge_core::styles::ProviderId::Espeak);
    tools.lease_ms = lease_ms;
    let app = Context::new(ports)
        .with_policy(TargetPolicy {
            allow_private: true,
        })
        .with_sealer(Arc::new(LocalKeySealer::from_key(&[9; 32]).unwrap()))
        .with_publishing(publishing)
        .with_tools(tools);
    Rig {
        app: Arc::new(app),
        account,
        key,
    }
}

async fn call(r: &Rig, method: Method, path: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let resp = handle(&r.app, request(method, path, Some(&r.key), ip(), &body)).await;
    (
        resp.status.as_u16(),
        serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
    )
}

/// Deterministic, incompressible-looking bytes standing in for an MP4.
fn file_bytes(seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..FILE_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A campaign already in `review`, its videos ready with their files stored.
async fn review_campaign(r: &Rig, platforms: &[Platform], languages: &[Language]) -> Campaign {
    let now = chrono::Utc::now();
    let id = Uuid::new_v4();
    let mut videos = Vec::new();
    for &language in languages {
        for &platform in platforms {
            let mut v = Video {
                id: Uuid::new_v4(),
                platform,
                language,
                status: VideoStatus::Ready,
                file_key: None,
                duration_seconds: Some(31.5),
                published_at: None,
                credits_cost: Some(12),
                thumbnail_key: None,
                script_source: Some("page_language".into()),
                render_job: None,
                review: Default::default(),
            };
            let stem = v.media_stem(id);
            v.file_key = Some(format!("{stem}.mp4"));
            let seed = videos.len() as u8;
            r.app
                .ports
                .media
                .put_media(&format!("{stem}.mp4"), file_bytes(seed).into(), "video/mp4")
                .await
                .unwrap();
            videos.push(v);
        }
    }
    let c = Campaign {
        id,
        job_id: "01JDG0000000000000000000PB".into(),
        account_id: r.account.clone(),
        status: CampaignStatus::Review,
        url: "https://acme.example/notes".into(),
        title: "acme.example Campaign".into(),
        languages: languages.to_vec(),
        platforms: platforms.to_vec(),
        webhook_url: Some("https://hooks.example.com/reelforge".into()),
        playlist_id: None,
        created_at: now,
        updated_at: now,
        videos_reserved: videos.len() as u32,
        videos,
        error: None,
        failed_stage: None,
        quota_period: reelforge_core::clock::quota_period(now),
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
        quota: 1000,
    };
    r.app
        .ports
        .campaigns
        .create_campaign(&c, &reservation, None)
        .await
        .unwrap();
    c
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

async fn youtube_destination(r: &Rig, privacy: &str) -> String {
    let (status, body) = call(
        r,
        Method::POST,
        "/api/v1/destinations",
        &json!({"provider": "youtube", "name": "Acme channel", "client_id": YT_CLIENT_ID,
                "client_secret": YT_CLIENT_SECRET, "refresh_token": YT_REFRESH_TOKEN,
                "privacy": privacy}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["destination_id"].as_str().unwrap().to_string()
}

async fn tiktok_destination(r: &Rig, privacy: &str) -> String {
    let (status, body) = call(
        r,
        Method::POST,
        "/api/v1/destinations",
        &json!({"provider": "tiktok", "name": "Acme TikTok", "client_id": TT_CLIENT_KEY,
                "client_secret": TT_CLIENT_SECRET, "refresh_token": TT_REFRESH_TOKEN,
                "privacy": privacy}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["destination_id"].as_str().unwrap().to_string()
}

async fn publish(r: &Rig, c: &Campaign, body: Value) -> (u16, Value) {
    call(
        r,
        Method::POST,
        &format!("/api/v1/campaigns/{}/publish", c.id),
        &body,
    )
    .await
}

/// Runs the publish message as a worker would, until it is done (a `RetryIn` is run
/// again at once: the attempts' delays are zero here).
async fn run_publisher(r: &Rig, id: Uuid) {
    for _ in 0..400 {
        match pipeline::process(&r.app, &StageMessage::stage(Stage::Publish, id))
            .await
            .unwrap_or_else(|e| panic!("publish stage failed: {e}"))
        {
            Next::Done => return,
            Next::RetryIn(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("the publisher never finished");
}

fn the_publication(c: &Campaign, video: usize) -> &reelforge_core::publish::Publication {
    &c.videos[video].review.publications[0]
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
    destinations_are_sealed_masked_and_owned => local_destinations_are_sealed_masked_and_owned, aws_destinations_are_sealed_masked_and_owned;
    publish_without_destinations_is_at_once => local_publish_without_destinations_is_at_once, aws_publish_without_destinations_is_at_once;
    youtube_upload_matches_the_discovery_document => local_youtube_upload_matches_the_discovery_document, aws_youtube_upload_matches_the_discovery_document;
    youtube_resumes_from_the_offset_the_server_reports => local_youtube_resumes_from_the_offset_the_server_reports, aws_youtube_resumes_from_the_offset_the_server_reports;
    youtube_lost_final_answer_never_makes_a_second_video => local_youtube_lost_final_answer_never_makes_a_second_video, aws_youtube_lost_final_answer_never_makes_a_second_video;
    publish_message_three_times_uploads_once => local_publish_message_three_times_uploads_once, aws_publish_message_three_times_uploads_once;
    tiktok_direct_post_rotates_and_stores_the_refresh_token => local_tiktok_direct_post_rotates_and_stores_the_refresh_token, aws_tiktok_direct_post_rotates_and_stores_the_refresh_token;
}

// ---------------------------------------------------------------------------------------
// Destinations

async fn destinations_are_sealed_masked_and_owned(backend: Backend) {
    let r = rig(backend, "dest", PublishConfig::default()).await;
    let id = youtube_destination(&r, "unlisted").await;
    assert!(id.starts_with("ds_"), "{id}");
    let (status, one) = call(
        &r,
        Method::GET,
        &format!("/api/v1/destinations/{id}"),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["provider"], "youtube");
    assert_eq!(one["privacy"], "unlisted");
    // At most the last four characters of each credential.
    assert_eq!(one["client_id"], "….com");
    assert_eq!(one["client_secret"], "…cret");
    assert_eq!(one["refresh_token"], "…6789");
    let text = one.to_string();
    for secret in [YT_CLIENT_SECRET, YT_REFRESH_TOKEN, YT_CLIENT_ID] {
        assert!(!text.contains(secret), "{text}");
    }
    // Stored sealed: the record holds no plaintext, and opens only for its owner.
    let record = r
        .app
        .ports
        .profiles
        .get_profile(&r.account, DESTINATION_KIND, &id)
        .await
        .unwrap()
        .unwrap();
    assert!(!record.doc.to_string().contains(YT_REFRESH_TOKEN));
    let d: Destination = serde_json::from_value(record.doc).unwrap();
    let opened = r
        .app
        .sealer
        .open(&d.refresh_token, &SecretOwner::new(&r.account, &id))
        .await
        .unwrap();
    assert_eq!(opened.expose(), YT_REFRESH_TOKEN);
    assert!(r
        .app
        .sealer
        .open(&d.refresh_token, &SecretOwner::new("acct_other", &id))
        .await
        .is_err());

    let (status, list) = call(&r, Method::GET, "/api/v1/destinations", &Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(list["destinations"].as_array().map(Vec::len), Some(1));

    // Refusals name the field and never echo a secret.
    for (body, field) in [
        (
            json!({"provider": "vimeo", "name": "x", "client_id": "a", "client_secret": "b", "refresh_token": "c"}),
            "provider",
        ),
        (
            json!({"provider": "tiktok", "name": "x", "client_id": "a", "client_secret": "b", "refresh_token": "c", "privacy": "unlisted"}),
            "unlisted",
        ),
        (
            json!({"provider": "youtube", "name": "x", "client_id": "a", "client_secret": 12345678, "refresh_token": "c"}),
            "client_secret",
        ),
        (
            json!({"provider": "youtube", "name": "x", "client_id": "a", "client_secret": "b"}),
            "refresh_token",
        ),
        (
            json!({"provider": "youtube", "name": "x", "client_id": "a", "client_secret": "b", "refresh_token": "c", "scope": "all"}),
            "scope",
        ),
    ] {
        let (status, answer) = call(&r, Method::POST, "/api/v1/destinations", &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(field), "{error}");
        assert!(!error.contains("12345678"), "{error}");
    }

    // Another account's destination is not found, cannot be deleted, cannot be used.
    let other = Rig {
        app: r.app.clone(),
        account: String::new(),
        key: new_account(&r.app.ports, Plan::Scale, None).await.1,
    };
    let (status, _) = call(
        &other,
        Method::GET,
        &format!("/api/v1/destinations/{id}"),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &other,
        Method::DELETE,
        &format!("/api/v1/destinations/{id}"),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 404);

    let (status, _) = call(
        &r,
        Method::DELETE,
        &format!("/api/v1/destinations/{id}"),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &r,
        Method::GET,
        &format!("/api/v1/destinations/{id}"),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 404);
}

// ---------------------------------------------------------------------------------------
// Publishing without destinations, and the request's refusals

async fn publish_without_destinations_is_at_once(backend: Backend) {
    let r = rig(backend, "now", PublishConfig::default()).await;
    let c = review_campaign(
        &r,
        &[Platform::YoutubeShorts],
        &[Language::En, Language::Ja],
    )
    .await;
    let chosen = c.videos[0].id;
    // Refusals first: unknown video, wrong type, unknown field, unknown destination.
    for body in [
        json!({"video_ids": [Uuid::new_v4()]}),
        json!({"video_ids": "all"}),
        json!({"videos": []}),
        json!({"destinations": ["ds_nothing"]}),
        json!({"video_ids": [chosen, chosen]}),
    ] {
        let (status, answer) = publish(&r, &c, body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
    }
    let (status, answer) = publish(&r, &c, json!({"video_ids": [chosen]})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "published");
    let published = stored(&r, c.id).await;
    assert_eq!(published.status, CampaignStatus::Published);
    assert!(published.videos[0].published_at.is_some());
    assert!(published.videos[1].published_at.is_none(), "not chosen");
    // campaign.published, once, made with the transition.
    let events = r.app.ports.webhooks.list_events(c.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        vec!["campaign.published"]
    );
    let body: Value = serde_json::from_str(&events[0].body).unwrap();
    assert_eq!(body["status"], "published");
    assert_eq!(body["videos"].as_array().map(Vec::len), Some(2));
    // A repeat answers with the same state and changes nothing.
    let (status, again) = publish(&r, &c, json!({})).await;
    assert_eq!(status, 202);
    // The same videos and state; the download links are signed again per answer (their
    // date may differ by a second), so they are left out of the comparison.
    let without_links = |v: &Value| {
        let mut v = v.clone();
        for video in v.as_array_mut().into_iter().flatten() {
            if let Some(o) = video.as_object_mut() {
                o.remove("file_url");
                o.remove("thumbnail_url");
            }
        }
        v
    };
    assert_eq!(
        without_links(&again["videos"]),
        without_links(&answer["videos"])
    );
    assert_eq!(stored(&r, c.id).await.revision, published.revision);
    assert_eq!(
        r.app.ports.webhooks.list_events(c.id).await.unwrap().len(),
        1
    );
    // Published campaigns take no script edit.
    let (status, _) = call(
        &r,
        Method::PUT,
        &format!("/api/v1/campaigns/{}/videos/{chosen}/script", c.id),
        &json!({"script": "A new script."}),
    )
    .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn publish_refuses_campaigns_not_in_review_and_videos_not_ready() {
    let r = rig(Backend::Local, "refuse", PublishConfig::default()).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En, Language::Ko]).await;
    let mut not_ready = stored(&r, c.id).await;
    not_ready.videos[1].status = VideoStatus::Rendering;
    not_ready.revision += 1;
    r.app
        .ports
        .campaigns
        .commit_transition(&not_ready, CampaignStatus::Review, 0, None)
        .await
        .unwrap();
    let (status, answer) = publish(&r, &c, json!({"video_ids": [c.videos[1].id]})).await;
    assert_eq!(status, 409, "{answer}");
    let other = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let mut rendering = stored(&r, other.id).await;
    rendering.status = CampaignStatus::Rendering;
    rendering.revision += 1;
    r.app
        .ports
        .campaigns
        .commit_transition(&rendering, CampaignStatus::Review, 0, None)
        .await
        .unwrap();
    let (status, answer) = publish(&r, &other, json!({})).await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("review"));
    let (status, _) = call(
        &r,
        Method::POST,
        &format!("/api/v1/campaigns/{}/publish", Uuid::new_v4()),
        &json!({}),
    )
    .await;
    assert_eq!(status, 404);
}

// ---------------------------------------------------------------------------------------
// YouTube

/// The extract of the official discovery document (google-api-python-client 2.202.0).
fn discovery() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testkit/fixtures/youtube-insert-extract.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn youtube_upload_matches_the_discovery_document(backend: Backend) {
    let yt = YouTubeFake::start().await;
    let r = rig(backend, "yt", config(Some(&yt), None)).await;
    let c = review_campaign(
        &r,
        &[Platform::YoutubeShorts, Platform::Youtube],
        &[Language::Ja],
    )
    .await;
    let dest = youtube_destination(&r, "private").await;
    let (status, answer) = publish(&r, &c, json!({"destinations": [dest]})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["status"], "review");
    for v in answer["videos"].as_array().unwrap() {
        assert_eq!(v["publications"][0]["status"], "pending", "{v}");
        assert_eq!(v["publications"][0]["provider"], "youtube");
        assert_eq!(v["publications"][0]["destination_id"], dest.as_str());
    }
    run_publisher(&r, c.id).await;

    let done = stored(&r, c.id).await;
    assert_eq!(done.status, CampaignStatus::Published);
    let videos = yt.videos();
    assert_eq!(videos.len(), 2, "one YouTube video per chosen video");
    for (i, v) in done.videos.iter().enumerate() {
        let p = the_publication(&done, i);
        assert_eq!(p.status, PublicationStatus::Published, "{p:?}");
        let made = videos
            .iter()
            .find(|m| Some(&m.id) == p.external_id.as_ref())
            .expect("the recorded id is a video the fake made");
        assert_eq!(made.bytes, file_bytes(i as u8), "the file arrived whole");
        let url = p.url.clone().unwrap();
        match v.platform {
            Platform::Youtube => {
                assert_eq!(url, format!("https://www.youtube.com/watch?v={}", made.id))
            }
            _ => assert_eq!(url, format!("https://www.youtube.com/shorts/{}", made.id)),
        }
        assert!(v.published_at.is_some());
        assert_eq!(p.attempts.len(), 1);
        assert!(p.attempts[0].finished && p.attempts[0].error.is_none());
        assert!(
            p.attempts[0].status_codes.contains(&201),
            "{:?}",
            p.attempts[0]
        );
    }

    // The wire, against the discovery document.
    let d = discovery();
    let log = yt.log();
    let tokens: Vec<_> = log.iter().filter(|q| q.path() == "/token").collect();
    assert_eq!(tokens.len(), 1, "one refresh grant per run and destination");
    let form = tokens[0].form();
    assert_eq!(
        form.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["client_id", "client_secret", "grant_type", "refresh_token"])
    );
    assert_eq!(form["grant_type"], "refresh_token");
    let starts: Vec<_> = log
        .iter()
        .filter(|q| q.method == "POST" && q.path() == "/upload/youtube/v3/videos")
        .collect();
    assert_eq!(starts.len(), 2);
    let params = d["parameters"].as_object().unwrap();
    for start in &starts {
        assert_eq!(start.method, d["httpMethod"].as_str().unwrap());
        assert_eq!(
            start.path(),
            d["simplePath"].as_str().unwrap(),
            "the /upload/ form of the path"
        );
        assert!(start.path().ends_with(d["path"].as_str().unwrap()));
        let query = start.query();
        assert_eq!(query["uploadType"], "resumable");
        for name in query.keys().filter(|k| *k != "uploadType") {
            assert!(
                params.contains_key(name),
                "{name} is not a parameter of videos.insert"
            );
        }
        assert_eq!(params["part"]["required"], true);
        let parts: BTreeSet<&str> = query["part"].split(',').collect();
        assert_eq!(parts, BTreeSet::from(["snippet", "status"]));
        assert!(start
            .header("authorization")
            .unwrap()
            .starts_with("Bearer ya29.fake-"));
        assert_eq!(
            start.header("x-upload-content-length"),
            Some(FILE_BYTES.to_string().as_str())
        );
        let accept: Vec<&str> = d["mediaUpload"]["accept"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(accept.contains(&"video/*"));
        assert!(start
            .header("x-upload-content-type")
            .unwrap()
            .starts_with("video/"));
        let body = start.json();
        let top: BTreeSet<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(top, BTreeSet::from(["snippet", "status"]));
        let snippet_fields: HashSet<&str> = d["snippetFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let status_fields: HashSet<&str> = d["statusFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for (k, _) in body["snippet"].as_object().unwrap() {
            assert!(
                snippet_fields.contains(k.as_str()),
                "snippet.{k} is not in the discovery document"
            );
        }
        for (k, _) in body["status"].as_object().unwrap() {
            assert!(
                status_fields.contains(k.as_str()),
                "status.{k} is not in the discovery document"
            );
        }
        let privacy = d["statusEnums"]["privacyStatus"].as_array().unwrap();
        assert!(privacy.contains(&body["status"]["privacyStatus"]));
        assert_eq!(body["status"]["privacyStatus"], "private");
        assert_eq!(body["status"]["selfDeclaredMadeForKids"], false);
        assert_eq!(body["snippet"]["defaultLanguage"], "ja");
        assert_eq!(body["snippet"]["defaultAudioLanguage"], "ja");
        assert!(body["snippet"]["title"].as_str().unwrap().chars().count() <= 100);
        let description = body["snippet"]["description"].as_str().unwrap();
        assert!(
            description.contains("https://acme.example/notes"),
            "{description}"
        );
        assert!(body["snippet"]["categoryId"].is_string());
    }
    // #Shorts marks the vertical video only.
    let descriptions: Vec<String> = starts
        .iter()
        .map(|s| {
            s.json()["snippet"]["description"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        descriptions
            .iter()
            .filter(|d| d.contains("#Shorts"))
            .count(),
        1
    );

    // campaign.published carries the publications.
    let events = r.app.ports.webhooks.list_events(c.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "campaign.published");
    let body: Value = serde_json::from_str(&events[0].body).unwrap();
    for v in body["videos"].as_array().unwrap() {
        let p = &v["publications"][0];
        assert_eq!(p["status"], "published");
        assert!(p["external_id"].is_string() && p["url"].is_string(), "{p}");
        let keys: BTreeSet<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        for k in [
            "destination_id",
            "provider",
            "status",
            "external_id",
            "url",
            "error",
        ] {
            assert!(keys.contains(k), "{k} missing in {p}");
        }
    }
}

async fn youtube_resumes_from_the_offset_the_server_reports(backend: Backend) {
    let yt = YouTubeFake::start().await;
    // The first request keeps only one 256 KiB unit (308, Range 0-262143); the second
    // keeps one more, then answers 503: the client must ask where it stands (308, Range
    // 0-524287) and continue from byte 524288, never from its own idea of the offset.
    yt.fail_put(1, UploadFault::PartialAccept { keep: UNIT });
    yt.fail_put(
        2,
        UploadFault::ServerError {
            keep: UNIT,
            status: 503,
            retry_after: None,
        },
    );
    let r = rig(backend, "resume", config(Some(&yt), None)).await;
    let c = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "public").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;

    let done = stored(&r, c.id).await;
    assert_eq!(
        the_publication(&done, 0).status,
        PublicationStatus::Published
    );
    assert_eq!(yt.sessions_started(), 1, "one session, resumed");
    let videos = yt.videos();
    assert_eq!(videos.len(), 1);
    assert_eq!(videos[0].bytes, file_bytes(0));
    assert_eq!(videos[0].metadata["status"]["privacyStatus"], "public");
    let puts: Vec<_> = yt.log().into_iter().filter(|q| q.method == "PUT").collect();
    let ranges: Vec<String> = puts
        .iter()
        .map(|q| q.header("content-range").unwrap_or("").to_string())
        .collect();
    let last = FILE_BYTES - 1;
    assert_eq!(
        ranges,
        vec![
            format!("bytes 0-{last}/{FILE_BYTES}"),
            format!("bytes {UNIT}-{last}/{FILE_BYTES}"),
            format!("bytes */{FILE_BYTES}"),
            format!("bytes {}-{last}/{FILE_BYTES}", 2 * UNIT),
        ],
        "after the 503 the status is asked before any byte is sent again"
    );
    assert_eq!(yt.noncontiguous_puts(), 0);
    let codes = &the_publication(&done, 0).attempts[0].status_codes;
    assert!(codes.contains(&308) && codes.contains(&503), "{codes:?}");
}

async fn youtube_lost_final_answer_never_makes_a_second_video(backend: Backend) {
    let yt = YouTubeFake::start().await;
    // The whole file arrives and the video is made, but the answer is lost; then the
    // status questions fail for a while (this attempt gives up), and the next attempt's
    // question is answered with the video made the first time.
    yt.fail_put(1, UploadFault::LostFinalAnswer);
    yt.fail_status_queries(5);
    let r = rig(backend, "lost", config(Some(&yt), None)).await;
    let c = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;

    let done = stored(&r, c.id).await;
    let p = the_publication(&done, 0);
    assert_eq!(p.status, PublicationStatus::Published, "{p:?}");
    assert_eq!(yt.videos().len(), 1, "never a second video");
    assert_eq!(yt.sessions_started(), 1);
    assert_eq!(yt.data_puts(), 1, "no byte sent twice");
    assert_eq!(p.external_id.as_deref(), Some(yt.videos()[0].id.as_str()));
    assert_eq!(p.attempts.len(), 2, "{:?}", p.attempts);
    assert!(p.attempts[0].error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn youtube_worker_killed_after_the_last_byte_leaves_one_video() {
    let yt = YouTubeFake::start().await;
    // The last bytes arrive and the video is made; the worker waits for the answer and
    // is killed there. The claim runs out; the next run finds the attempt interrupted
    // and the session stored, asks it, and records the video made the first time.
    yt.fail_put(1, UploadFault::Hang);
    let r = rig_with_lease(Backend::Local, "crash", config(Some(&yt), None), 1_500).await;
    let c = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    let app = r.app.clone();
    let worker = tokio::spawn(async move {
        pipeline::process(&app, &StageMessage::stage(Stage::Publish, c.id)).await
    });
    // Waits for the fake to have made the video (up to 20 s, for a slow machine).
    for _ in 0..800 {
        if yt.videos().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(yt.videos().len(), 1);
    worker.abort();
    let _ = worker.await;
    let mid = stored(&r, c.id).await;
    let p = the_publication(&mid, 0);
    assert_eq!(p.status, PublicationStatus::Pending);
    assert!(
        p.upload.as_ref().is_some_and(|u| u.final_bytes_sent),
        "{p:?}"
    );
    assert!(!p.attempts[0].finished);

    run_publisher(&r, c.id).await;
    let done = stored(&r, c.id).await;
    let p = the_publication(&done, 0);
    assert_eq!(p.status, PublicationStatus::Published, "{p:?}");
    assert_eq!(p.external_id.as_deref(), Some(yt.videos()[0].id.as_str()));
    assert_eq!(yt.videos().len(), 1);
    assert_eq!(yt.sessions_started(), 1);
    assert_eq!(yt.data_puts(), 1);
    assert_eq!(p.attempts[0].error.as_deref(), Some("interrupted"));
    assert_eq!(done.status, CampaignStatus::Published);
}

async fn publish_message_three_times_uploads_once(backend: Backend) {
    let yt = YouTubeFake::start().await;
    let r = rig(backend, "dup", config(Some(&yt), None)).await;
    let c = review_campaign(
        &r,
        &[Platform::YoutubeShorts],
        &[Language::En, Language::De],
    )
    .await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let r = Rig {
            app: r.app.clone(),
            account: r.account.clone(),
            key: r.key.clone(),
        };
        runs.spawn(async move { run_publisher(&r, c.id).await });
    }
    while let Some(joined) = runs.join_next().await {
        joined.unwrap();
    }
    // Late copies find nothing to do.
    for _ in 0..3 {
        assert_eq!(
            pipeline::process(&r.app, &StageMessage::stage(Stage::Publish, c.id))
                .await
                .unwrap(),
            Next::Done
        );
    }
    let done = stored(&r, c.id).await;
    assert_eq!(done.status, CampaignStatus::Published);
    assert_eq!(yt.videos().len(), 2, "one per video, whatever the copies");
    assert_eq!(yt.sessions_started(), 2);
    for i in 0..2 {
        assert_eq!(the_publication(&done, i).attempts.len(), 1);
    }
    let events = r.app.ports.webhooks.list_events(c.id).await.unwrap();
    assert_eq!(events.len(), 1, "campaign.published once");
    // A repeated publish request sends nothing again.
    let (status, answer) = publish(&r, &c, json!({"destinations": [dest]})).await;
    assert_eq!(status, 202);
    assert_eq!(answer["status"], "published");
    run_publisher(&r, c.id).await;
    assert_eq!(yt.videos().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn youtube_refusals_are_final_and_send_no_bytes() {
    // quotaExceeded at the session start: failed at once (no retry), nothing uploaded.
    let yt = YouTubeFake::start().await;
    yt.fail_start(StartFault::QuotaExceeded);
    let r = rig(Backend::Local, "quota", config(Some(&yt), None)).await;
    let c = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let done = stored(&r, c.id).await;
    let p = the_publication(&done, 0);
    assert_eq!(p.status, PublicationStatus::Failed);
    assert_eq!(p.attempts.len(), 1);
    assert!(
        p.error.as_deref().unwrap().contains("quotaExceeded"),
        "{p:?}"
    );
    assert_eq!(yt.data_puts(), 0);
    // Every publication finished: the campaign is published, the video is not.
    assert_eq!(done.status, CampaignStatus::Published);
    assert!(done.videos[0].published_at.is_none());

    // A revoked refresh token: one token request, failed, no upload, no loop.
    let yt = YouTubeFake::start().await;
    yt.revoke(YT_REFRESH_TOKEN);
    let r = rig(Backend::Local, "revoked", config(Some(&yt), None)).await;
    let c = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let done = stored(&r, c.id).await;
    let p = the_publication(&done, 0);
    assert_eq!(p.status, PublicationStatus::Failed);
    assert!(
        p.error.as_deref().unwrap().contains("invalid_grant"),
        "{p:?}"
    );
    assert_eq!(yt.token_calls(), 1);
    assert_eq!(yt.sessions_started(), 0);
    // Errors carry no secret.
    let text = serde_json::to_string(&done).unwrap();
    for secret in [YT_CLIENT_SECRET, YT_REFRESH_TOKEN, "ya29.fake"] {
        assert!(!text.contains(secret), "{secret} in the record");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn youtube_sustained_5xx_gives_up_after_three_attempts() {
    let yt = YouTubeFake::start().await;
    for n in 1..=40 {
        yt.fail_put(
            n,
            UploadFault::ServerError {
                keep: 0,
                status: 503,
                retry_after: None,
            },
        );
    }
    let r = rig(Backend::Local, "5xx", config(Some(&yt), None)).await;
    let c = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let done = stored(&r, c.id).await;
    let p = the_publication(&done, 0);
    assert_eq!(p.status, PublicationStatus::Failed);
    assert_eq!(p.attempts.len(), 3, "{:?}", p.attempts);
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .starts_with("Gave up after 3 attempts"),
        "{p:?}"
    );
    assert_eq!(
        yt.sessions_started(),
        1,
        "the session is kept across attempts"
    );
    assert!(yt.videos().is_empty());
    for a in &p.attempts {
        assert!(a.status_codes.contains(&503), "{a:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn youtube_chunked_upload_and_an_expired_access_token() {
    let yt = YouTubeFake::start().await;
    // Chunks of one 256 KiB unit; the second is answered 401 (the access token expired):
    // one refresh, then the status question, then the upload continues.
    yt.fail_put(2, UploadFault::Unauthorized);
    yt.answer_200();
    let mut c = config(Some(&yt), None);
    c.youtube_chunk_bytes = Some(UNIT);
    let r = rig(Backend::Local, "chunks", c).await;
    let campaign = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &campaign, json!({"destinations": [dest]}))
            .await
            .0,
        202
    );
    run_publisher(&r, campaign.id).await;
    let done = stored(&r, campaign.id).await;
    assert_eq!(
        the_publication(&done, 0).status,
        PublicationStatus::Published
    );
    assert_eq!(yt.token_calls(), 2);
    let ranges: Vec<String> = yt
        .log()
        .into_iter()
        .filter(|q| q.method == "PUT")
        .map(|q| q.header("content-range").unwrap_or("").to_string())
        .collect();
    let last = FILE_BYTES - 1;
    assert_eq!(
        ranges,
        vec![
            format!("bytes 0-{}/{FILE_BYTES}", UNIT - 1),
            format!("bytes {UNIT}-{}/{FILE_BYTES}", 2 * UNIT - 1),
            format!("bytes */{FILE_BYTES}"),
            format!("bytes {UNIT}-{}/{FILE_BYTES}", 2 * UNIT - 1),
            format!("bytes {}-{last}/{FILE_BYTES}", 2 * UNIT),
        ]
    );
    assert_eq!(yt.videos()[0].bytes, file_bytes(0));
}

// ---------------------------------------------------------------------------------------
// TikTok

async fn tiktok_direct_post_rotates_and_stores_the_refresh_token(backend: Backend) {
    let tt = TikTokFake::start().await;
    let r = rig(backend, "tt", config(None, Some(&tt))).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let dest = tiktok_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;

    let done = stored(&r, c.id).await;
    let p = the_publication(&done, 0);
    assert_eq!(p.status, PublicationStatus::Published, "{p:?}");
    // A SELF_ONLY post never gets a public post id: the publish id stands in, no URL.
    assert_eq!(p.external_id.as_deref(), Some("v_pub_file~v2-1.1"));
    assert_eq!(p.url, None);
    assert_eq!(tt.posts(), 1);
    assert_eq!(tt.uploads().values().next().unwrap(), &file_bytes(0));
    // creator info before init, then one PUT of the whole file, then the status polls.
    let paths: Vec<String> = tt.log().iter().map(|q| q.path().to_string()).collect();
    let first = |p: &str| paths.iter().position(|x| x == p).unwrap();
    assert!(first("/v2/oauth/token/") < first("/v2/post/publish/creator_info/query/"));
    assert!(first("/v2/post/publish/creator_info/query/") < first("/v2/post/publish/video/init/"));
    assert!(first("/v2/post/publish/video/init/") < first("/upload/"));
    assert!(first("/upload/") < first("/v2/post/publish/status/fetch/"));
    let init = &tt.init_bodies()[0];
    assert_eq!(init["source_info"]["source"], "FILE_UPLOAD");
    assert_eq!(init["source_info"]["video_size"], FILE_BYTES);
    assert_eq!(init["source_info"]["chunk_size"], FILE_BYTES);
    assert_eq!(init["source_info"]["total_chunk_count"], 1);
    assert_eq!(init["post_info"]["privacy_level"], "SELF_ONLY");
    assert_eq!(init["post_info"]["brand_content_toggle"], false);
    let put = tt
        .log()
        .into_iter()
        .find(|q| q.path() == "/upload/")
        .unwrap();
    assert_eq!(
        put.header("content-range"),
        Some(format!("bytes 0-{}/{FILE_BYTES}", FILE_BYTES - 1).as_str())
    );
    assert_eq!(
        put.header("authorization"),
        None,
        "the documented PUT has none"
    );
    // The refresh token rotated: the stored one is the one that works now.
    let record = r
        .app
        .ports
        .profiles
        .get_profile(&r.account, DESTINATION_KIND, &dest)
        .await
        .unwrap()
        .unwrap();
    let d: Destination = serde_json::from_value(record.doc).unwrap();
    let stored_token = r
        .app
        .sealer
        .open(&d.refresh_token, &SecretOwner::new(&r.account, &dest))
        .await
        .unwrap();
    assert_eq!(stored_token.expose(), tt.current_refresh_token());
    assert_ne!(stored_token.expose(), TT_REFRESH_TOKEN);
    assert_eq!(tt.calls("/v2/oauth/token/"), 1);

    // A second campaign to the same destination refreshes with the rotated token.
    let c2 = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    assert_eq!(
        publish(&r, &c2, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c2.id).await;
    assert_eq!(
        the_publication(&stored(&r, c2.id).await, 0).status,
        PublicationStatus::Published
    );
    assert_eq!(tt.posts(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tiktok_public_post_gets_its_int64_id_and_url() {
    let tt = TikTokFake::start().await;
    tt.public_and_audited();
    let r = rig(Backend::Local, "ttpub", config(None, Some(&tt))).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let dest = tiktok_destination(&r, "public").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let done = stored(&r, c.id).await;
    let p = the_publication(&done, 0);
    // 7301234567890123456 > 2^53: read as an integer, never through a float.
    assert_eq!(p.external_id.as_deref(), Some("7301234567890123456"));
    assert_eq!(
        p.url.as_deref(),
        Some("https://www.tiktok.com/@acme_official/video/7301234567890123456")
    );
    assert_eq!(
        tt.init_bodies()[0]["post_info"]["privacy_level"],
        "PUBLIC_TO_EVERYONE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tiktok_chunk_stored_but_unanswered_continues_where_tiktok_is() {
    let tt = TikTokFake::start().await;
    // The chunk is stored and the connection dropped: the resend is answered 416 with
    // TikTok's progress, which says the file is complete; no second init.
    tt.fail_put(1, ChunkFault::StoredThenDropped);
    let r = rig(Backend::Local, "tt416", config(None, Some(&tt))).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let dest = tiktok_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let p = the_publication(&stored(&r, c.id).await, 0).clone();
    assert_eq!(p.status, PublicationStatus::Published, "{p:?}");
    assert_eq!(tt.calls("/v2/post/publish/video/init/"), 1);
    assert!(
        p.attempts[0].status_codes.contains(&416),
        "{:?}",
        p.attempts[0]
    );
    assert_eq!(tt.posts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tiktok_refusals_are_final() {
    // spam_risk_too_many_posts comes with HTTP 200: still a refusal, and no init.
    let tt = TikTokFake::start().await;
    tt.creator_info_error("spam_risk_too_many_posts");
    let r = rig(Backend::Local, "ttspam", config(None, Some(&tt))).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let dest = tiktok_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let p = the_publication(&stored(&r, c.id).await, 0).clone();
    assert_eq!(p.status, PublicationStatus::Failed);
    assert!(p
        .error
        .as_deref()
        .unwrap()
        .contains("spam_risk_too_many_posts"));
    assert_eq!(tt.calls("/v2/post/publish/video/init/"), 0);

    // A post TikTok failed for a reason not worth retrying: failed, never re-initialised.
    let tt = TikTokFake::start().await;
    tt.status_script(
        &["PROCESSING_UPLOAD", "FAILED"],
        Some("duration_check_failed"),
    );
    let r = rig(Backend::Local, "ttfail", config(None, Some(&tt))).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let dest = tiktok_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let p = the_publication(&stored(&r, c.id).await, 0).clone();
    assert_eq!(p.status, PublicationStatus::Failed);
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .contains("duration_check_failed"),
        "{p:?}"
    );
    assert_eq!(tt.calls("/v2/post/publish/video/init/"), 1);

    // An unaudited client may post only to private accounts (T-F9): no upload.
    let tt = TikTokFake::start().await;
    tt.public_account();
    let r = rig(Backend::Local, "ttaudit", config(None, Some(&tt))).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let dest = tiktok_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let p = the_publication(&stored(&r, c.id).await, 0).clone();
    assert_eq!(p.status, PublicationStatus::Failed);
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .contains("unaudited_client_can_only_post_to_private_accounts"),
        "{p:?}"
    );
    assert_eq!(tt.calls("/upload/"), 0);

    // A rotated-out refresh token: one refresh attempt, failed, asks to reconnect.
    let tt = TikTokFake::start().await;
    tt.fail_token_once(support::providers::TokenFault::InvalidGrant);
    let r = rig(Backend::Local, "ttgrant", config(None, Some(&tt))).await;
    let c = review_campaign(&r, &[Platform::Tiktok], &[Language::En]).await;
    let dest = tiktok_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    run_publisher(&r, c.id).await;
    let p = the_publication(&stored(&r, c.id).await, 0).clone();
    assert_eq!(p.status, PublicationStatus::Failed);
    assert!(
        p.error
            .as_deref()
            .unwrap()
            .contains("connect the destination again"),
        "{p:?}"
    );
    assert_eq!(tt.calls("/v2/oauth/token/"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_lettered_publish_message_finishes_the_campaign() {
    let yt = YouTubeFake::start().await;
    let r = rig(Backend::Local, "dlq", config(Some(&yt), None)).await;
    let c = review_campaign(&r, &[Platform::YoutubeShorts], &[Language::En]).await;
    let dest = youtube_destination(&r, "private").await;
    assert_eq!(
        publish(&r, &c, json!({"destinations": [dest]})).await.0,
        202
    );
    pipeline::dead_letter(&r.app, &StageMessage::stage(Stage::Publish, c.id))
        .await
        .unwrap();
    let done = stored(&r, c.id).await;
    assert_eq!(done.status, CampaignStatus::Published);
    let p = the_publication(&done, 0);
    assert_eq!(p.status, PublicationStatus::Failed);
    assert!(p.error.is_some());
    assert!(yt.log().is_empty(), "nothing was sent");
}
