//! Black-box tests over HTTP against `reelforge serve` (SPEC §1–§5, §7).

use reelforge_testkit::server as support;

use serde_json::{json, Value};
use std::collections::HashSet;
use support::{now_ms, Server};

const PAGE: &str = "https://93.184.216.34/product";

fn page() -> Value {
    json!({"url": PAGE, "languages": ["en"]})
}

fn assert_error(r: &support::Response, status: u16, message_part: &str) {
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["success"], json!(false), "{v}");
    let msg = v["error"].as_str().expect("error string");
    assert!(msg.contains(message_part), "{msg:?} lacks {message_part:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// `sent`: the client's clock just before the request went out.
fn assert_429_headers(r: &support::Response, sent: i64, limit: i64) {
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"success": false, "error": "Too many requests"})
    );
    assert_eq!(r.header_i64("x-ratelimit-limit"), limit);
    assert_eq!(r.header_i64("x-ratelimit-remaining"), 0);
    let reset = r.header_i64("x-ratelimit-reset");
    let received = now_ms();
    assert!(
        reset > sent && reset <= received + 60_000,
        "reset {reset} vs sent {sent}, received {received}"
    );
    let retry = r.header_i64("retry-after");
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    // Honest: Retry-After is the wait until X-RateLimit-Reset, rounded up to a second,
    // from the moment the server answered (between `sent` and `received`). Bounded by
    // both ends, so a slow machine cannot fail it and a dishonest header cannot pass.
    assert!(
        retry * 1000 >= reset - received && retry * 1000 < reset - sent + 1_000,
        "retry {retry}s, reset {}..{} ms away",
        reset - received,
        reset - sent
    );
}

#[tokio::test]
async fn unauthenticated_ip_layer_admits_ten_then_429_with_honest_headers() {
    let s = Server::api(&[]);
    let c = s.client();
    let first = now_ms();
    for i in 0..10 {
        let r = c.get("/api/v1/campaigns/x", None).await;
        assert_error(&r, 401, "Missing API key");
        assert!(r.header("x-clipus-api-scopes").is_none(), "request {i}");
    }
    let sent = now_ms();
    let r = c.get("/api/v1/campaigns/x", None).await;
    assert_429_headers(&r, sent, 10);
    let reset = r.header_i64("x-ratelimit-reset");
    assert!(reset >= first + 60_000 && reset <= now_ms() + 60_000);
    // Malformed, unknown and revoked keys are all unauthenticated: refused here too.
    let sent = now_ms();
    let bad = c.get("/api/v1/campaigns/x", Some("sk_live_nothex")).await;
    assert_429_headers(&bad, sent, 10);
    let sent = now_ms();
    let unknown = c
        .get(
            "/api/v1/campaigns/x",
            Some("sk_live_0123456789abcdef0123456789abcdef"),
        )
        .await;
    assert_429_headers(&unknown, sent, 10);
    // Another client IP is not affected.
    let other = s.client();
    assert_eq!(other.get("/api/v1/campaigns/x", None).await.status, 401);
}

#[tokio::test]
async fn client_ip_is_the_connection_source_not_a_header() {
    let s = Server::api(&[]);
    let c = s.client();
    for i in 0..11 {
        let fake = format!("203.0.113.{i}");
        let r = c
            .request(
                "GET",
                "/api/v1/campaigns/x",
                &[("X-Forwarded-For", &fake), ("X-Real-IP", &fake)],
                None,
            )
            .await;
        assert_eq!(r.status, if i < 10 { 401 } else { 429 }, "request {i}");
    }
}

#[tokio::test]
async fn malformed_unknown_and_revoked_keys_are_401_and_count_as_unauthenticated() {
    let s = Server::api(&[]);
    let (_acct, key) = s.account("scale", &[]);
    let c = s.client();
    assert_error(
        &c.get("/api/v1/campaigns/x", Some("sk_live_123")).await,
        401,
        "Invalid API key",
    );
    assert_error(
        &c.get(
            "/api/v1/campaigns/x",
            Some("sk_live_0123456789abcdef0123456789abcdef"),
        )
        .await,
        401,
        "Invalid API key",
    );
    assert_error(
        &c.request(
            "GET",
            "/api/v1/campaigns/x",
            &[("Authorization", "Token abc")],
            None,
        )
        .await,
        401,
        "Invalid API key",
    );
    // Valid now; revoked takes effect on the very next request.
    let ok = c.get("/api/v1/campaigns/x", Some(&key)).await;
    assert_eq!(ok.status, 404);
    assert_eq!(ok.header("x-clipus-api-scopes"), Some("campaigns:create"));
    let id = support::cli(&s.data, &["keys", "list", "--account", &_acct]).unwrap()["keys"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.cli(&["keys", "revoke", "--id", &id]).unwrap();
    assert_error(
        &c.get("/api/v1/campaigns/x", Some(&key)).await,
        401,
        "revoked",
    );
    // 4 unauthenticated so far from this IP; 6 more are admitted, the 11th is limited.
    for _ in 0..6 {
        assert_eq!(c.get("/api/v1/campaigns/x", Some(&key)).await.status, 401);
    }
    let sent = now_ms();
    assert_429_headers(&c.get("/api/v1/campaigns/x", Some(&key)).await, sent, 10);
}

#[tokio::test]
async fn all_three_key_transports_are_accepted() {
    use base64::Engine;
    let s = Server::api(&[]);
    let (_, key) = s.account("growth", &[]);
    let c = s.client();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("anyone:{key}"))
    );
    for headers in [
        vec![("Authorization", format!("Bearer {key}"))],
        vec![("X-API-Key", key.clone())],
        vec![("Authorization", basic)],
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = c
            .request(
                "GET",
                "/api/v1/campaigns/00000000-0000-0000-0000-000000000000",
                &h,
                None,
            )
            .await;
        assert_eq!(r.status, 404, "{headers:?}");
        assert_eq!(r.header("x-clipus-api-scopes"), Some("campaigns:create"));
    }
}

#[tokio::test]
async fn authenticated_ip_layer_is_120_per_minute() {
    let s = Server::api(&[]);
    let (_, key) = s.account("enterprise", &[]);
    let c = s.client();
    for i in 0..120 {
        let r = c.get("/api/v1/campaigns/nope", Some(&key)).await;
        assert_eq!(r.status, 404, "request {i}");
    }
    let sent = now_ms();
    let r = c.get("/api/v1/campaigns/nope", Some(&key)).await;
    assert_429_headers(&r, sent, 120);
    // The same key from another address is fine: the layer is per client IP.
    assert_eq!(
        s.client()
            .get("/api/v1/campaigns/nope", Some(&key))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn account_layer_uses_the_plan_rate_and_creation_headers() {
    let s = Server::api(&[]);
    let (_, key) = s.account("growth", &[]);
    for i in 0..10 {
        // Spread over addresses: only the account layer can be the one that limits.
        let r = s.client().create(&key, &page()).await;
        assert_eq!(r.status, 201, "create {i}: {:?}", r.json());
        assert_eq!(r.header("x-ratelimit-plan"), Some("growth"));
        assert_eq!(r.header_i64("x-ratelimit-limit"), 10);
        assert_eq!(r.header_i64("x-ratelimit-remaining"), 9 - i);
    }
    let sent = now_ms();
    let r = s.client().create(&key, &page()).await;
    assert_429_headers(&r, sent, 10);
    assert_eq!(r.header("x-ratelimit-plan"), Some("growth"));
}

#[tokio::test]
async fn free_and_starter_keys_get_403_on_every_route_with_plan_headers() {
    let s = Server::api(&[]);
    for plan in ["free", "starter"] {
        let (_, key) = s.account(plan, &[]);
        let c = s.client();
        let r = c.create(&key, &page()).await;
        assert_error(&r, 403, "does not include API access");
        assert_eq!(r.header("x-ratelimit-plan"), Some(plan));
        assert_eq!(r.header_i64("x-ratelimit-limit"), 0);
        let r = c
            .get(
                "/api/v1/campaigns/00000000-0000-0000-0000-000000000000",
                Some(&key),
            )
            .await;
        assert_error(&r, 403, "does not include API access");
        assert_eq!(r.header("x-ratelimit-plan"), Some(plan));
    }
}

#[tokio::test]
async fn success_body_and_get_shape() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let r = c
        .create(&key, &json!({"url": "93.184.216.34/p", "languages": ["en", "ja"], "platforms": ["youtube_shorts", "youtube"]}))
        .await;
    assert_eq!(r.status, 201);
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
    assert_eq!(v["success"], json!(true));
    assert_eq!(v["status"], json!("collecting"));
    let id = v["campaign_id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    let job = v["job_id"].as_str().unwrap();
    assert_eq!(job.len(), 26, "ULID");

    let g = c.get(&format!("/api/v1/campaigns/{id}"), Some(&key)).await;
    assert_eq!(g.status, 200);
    let g = g.json();
    assert_eq!(g["success"], json!(true));
    assert_eq!(g["campaign_id"], json!(id));
    assert_eq!(g["status"], json!("collecting"));
    assert_eq!(g["url"], json!("https://93.184.216.34/p"));
    assert_eq!(g["title"], json!("93.184.216.34 Campaign"));
    assert_eq!(g["languages"], json!(["en", "ja"]));
    let created = g["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );
    assert!(g.get("error").is_none() && g.get("failed_stage").is_none());
    let videos = g["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 4);
    let mut combos = HashSet::new();
    for v in videos {
        let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            HashSet::from([
                "id",
                "platform",
                "language",
                "status",
                "file_url",
                "duration_seconds",
                "published_at",
                "credits_cost",
                // Extensions: download link of the thumbnail, how the script was written.
                "thumbnail_url",
                "script_source",
                // The dashboard's extension (GET only): the text the video speaks.
                "script"
            ])
        );
        assert_eq!(v["status"], json!("queued"));
        assert_eq!(v["file_url"], Value::Null);
        assert_eq!(v["published_at"], Value::Null);
        combos.insert((
            v["language"].as_str().unwrap().to_string(),
            v["platform"].as_str().unwrap().to_string(),
        ));
    }
    assert_eq!(combos.len(), 4);
}

#[tokio::test]
async fn not_found_is_identical_for_unknown_malformed_and_foreign_ids() {
    let s = Server::api(&[]);
    let (_, mine) = s.account("scale", &[]);
    let (_, theirs) = s.account("scale", &[]);
    let c = s.client();
    let foreign = c.create(&theirs, &page()).await.json()["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut bodies = Vec::new();
    for path in [
        "/api/v1/campaigns/6a0b3f7e-0000-4000-8000-000000000000".to_string(),
        "/api/v1/campaigns/not-a-uuid".to_string(),
        "/api/v1/campaigns/%27%20OR%201=1".to_string(),
        format!("/api/v1/campaigns/{foreign}"),
    ] {
        let r = c.get(&path, Some(&mine)).await;
        bodies.push((r.status, r.body));
    }
    for b in &bodies {
        assert_eq!(b, &bodies[0]);
    }
    assert_eq!(bodies[0].0, 404);
    // The owner sees it.
    assert_eq!(
        c.get(&format!("/api/v1/campaigns/{foreign}"), Some(&theirs))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn language_and_platform_rules() {
    let s = Server::api(&[]);
    let (_, growth) = s.account("growth", &[]);
    let (_, scale) = s.account("scale", &[]);
    let c = s.client();
    let six = json!({"url": PAGE, "languages": ["en","ja","ko","zh","es","fr"]});
    assert_error(&c.create(&growth, &six).await, 400, "at most 5 languages");
    let eight = json!({"url": PAGE, "languages": ["en","ja","ko","zh","es","fr","de","pt"]});
    assert_eq!(c.create(&scale, &eight).await.status, 201);
    let cases = [
        (
            json!({"url": PAGE, "languages": ["en", "xx"]}),
            "en, ja, ko, zh, es, fr, de, pt",
        ),
        (
            json!({"url": PAGE, "languages": ["en", "en"]}),
            "more than once",
        ),
        (json!({"url": PAGE, "languages": []}), "non-empty"),
        (json!({"url": PAGE, "languages": "en"}), "non-empty array"),
        (json!({"url": PAGE, "languages": [1]}), "non-empty array"),
        (
            json!({"url": PAGE, "platforms": ["vine"]}),
            "youtube_shorts, tiktok, instagram_reels, youtube",
        ),
        (json!({"url": PAGE, "title": ""}), "title"),
        (json!({"url": PAGE, "title": "x".repeat(201)}), "title"),
        (json!({"url": PAGE, "title": 5}), "title must be a string"),
        (json!({"url": PAGE, "playlist_id": "pl_1"}), "playlist_id"),
        (json!({"url": PAGE, "colour": "red"}), "Unknown field"),
        (json!({"languages": ["en"]}), "url is required"),
        (json!({"url": 42}), "url must be a string"),
        (json!(["not", "an", "object"]), "JSON object"),
    ];
    for (body, msg) in cases {
        assert_error(&c.create(&scale, &body).await, 400, msg);
    }
    // Default languages are en, ja, ko; default title is the domain.
    let r = c
        .create(&scale, &json!({"url": "https://www.example.com/x"}))
        .await;
    let id = r.json()["campaign_id"].as_str().unwrap().to_string();
    let g = c
        .get(&format!("/api/v1/campaigns/{id}"), Some(&scale))
        .await
        .json();
    assert_eq!(g["languages"], json!(["en", "ja", "ko"]));
    assert_eq!(g["title"], json!("example.com Campaign"));
    assert_eq!(g["videos"].as_array().unwrap().len(), 3);
    assert!(g["videos"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["platform"] == json!("youtube_shorts")));
}

#[tokio::test]
async fn malformed_json_and_oversized_bodies() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    let auth = format!("Bearer {key}");
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    for raw in [&b"{\"url\":"[..], b"", b"nope", b"{\"url\": \"a\",}"] {
        let r = c.request("POST", "/api/v1/campaigns", &h, Some(raw)).await;
        assert_error(&r, 400, "JSON");
    }
    let mut big = json!({"url": PAGE, "title": "t"}).to_string().into_bytes();
    big.resize(16 * 1024 + 1, b' ');
    let r = c.request("POST", "/api/v1/campaigns", &h, Some(&big)).await;
    assert_error(&r, 413, "16 KiB");
    assert_eq!(r.header("x-ratelimit-plan"), Some("scale"));
    // Exactly 16 KiB is fine.
    big.truncate(16 * 1024);
    assert_eq!(
        c.request("POST", "/api/v1/campaigns", &h, Some(&big))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn quota_429_reports_usage_and_failed_reservations_write_nothing() {
    let s = Server::api(&[]);
    let (_, key) = s.account("enterprise", &["--videos-per-month", "5"]);
    let c = s.client();
    let three = json!({"url": PAGE, "languages": ["en", "ja", "ko"]});
    assert_eq!(c.create(&key, &three).await.status, 201);
    let r = c.create(&key, &three).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json(),
        json!({"success": false, "error": "Monthly video quota exceeded", "videos_used": 3, "videos_quota": 5})
    );
    // Two videos are still available: one language on two platforms fits exactly.
    let two = json!({"url": PAGE, "languages": ["en"], "platforms": ["tiktok", "youtube"]});
    assert_eq!(c.create(&key, &two).await.status, 201);
    let r = c.create(&key, &page()).await;
    assert_eq!(r.json()["videos_used"], json!(5));
}

#[tokio::test]
async fn idempotent_replay_uses_no_slot_or_quota_and_conflicts_on_a_new_body() {
    let s = Server::api(&[]);
    let (_, key) = s.account("growth", &[]);
    let c = s.client();
    let idem = [("Idempotency-Key", "order-42")];
    let first = c.create_with(&key, &page(), &idem).await;
    assert_eq!(first.status, 201);
    // Same body with keys in another order and other white space is the same request.
    let reordered = json!({"languages": ["en"], "url": PAGE});
    for _ in 0..15 {
        let again = c.create_with(&key, &reordered, &idem).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.json(), first.json());
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }
    let other = json!({"url": PAGE, "languages": ["ja"]});
    assert_error(
        &c.create_with(&key, &other, &idem).await,
        409,
        "Idempotency-Key",
    );
    // Replays took no account slot: nine more creates fit in the 10/min window.
    for i in 0..9 {
        assert_eq!(c.create(&key, &page()).await.status, 201, "create {i}");
    }
    assert_eq!(c.create(&key, &page()).await.status, 429);
    // A bad key header is a 400.
    let long = "k".repeat(256);
    assert_error(
        &c.create_with(&key, &page(), &[("Idempotency-Key", &long)])
            .await,
        400,
        "Idempotency-Key",
    );
}

#[tokio::test]
async fn refused_url_forms() {
    let s = Server::api(&[]);
    let (_, key) = s.account("enterprise", &[]);
    let long = format!("https://example.com/{}", "a".repeat(2048));
    let refused = [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://017700000001/",
        "http://127.1/",
        "http://0/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "localhost",
        "http://localhost:8080/",
        "http://foo.localhost/",
        "http://metadata/",
        "http://metadata.google.internal/",
        "file:///etc/passwd",
        "ftp://example.com/",
        "gopher://example.com/",
        "javascript:alert(1)",
        "http://user:pass@example.com/",
        "http://example.com@127.0.0.1/",
        "http://exa mple.com/",
        "http:///",
        "",
        long.as_str(),
    ];
    let c = s.client();
    for (i, url) in refused.iter().enumerate() {
        // Fresh address every 100 requests keeps the IP layer out of the way.
        let c = if i % 100 == 99 { s.client() } else { c };
        let r = c
            .create(&key, &json!({"url": url, "languages": ["en"]}))
            .await;
        assert_eq!(r.status, 400, "{url:?} -> {:?}", r.json());
        assert!(
            r.json()["error"].as_str().unwrap().starts_with("url"),
            "{url}: {}",
            r.json()
        );
    }
    for hook in [
        "http://93.184.216.34/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/h",
        "https://10.1.2.3/h",
    ] {
        let r = c
            .create(&key, &json!({"url": PAGE, "webhook_url": hook}))
            .await;
        assert_eq!(r.status, 400, "{hook}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("webhook_url"));
    }
    // Nothing was created: the whole quota is still there (enterprise default 1000).
    let r = s
        .client()
        .create(
            &key,
            &json!({"url": PAGE, "languages": ["en"], "webhook_url": "https://93.184.216.34/h"}),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn allow_private_targets_lifts_the_address_rule_for_development() {
    let s = Server::api(&["--allow-private-targets"]);
    let (_, key) = s.account("scale", &[]);
    let r = s
        .client()
        .create(
            &key,
            &json!({"url": "http://127.0.0.1:9/site", "webhook_url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    let r = s
        .client()
        .create(&key, &json!({"url": "file:///etc/passwd"}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn routing_errors_are_json() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    assert_error(
        &c.get("/api/v1/nothing", Some(&key)).await,
        404,
        "Not found",
    );
    let r = c
        .request("DELETE", "/api/v1/campaigns", &[("X-API-Key", &key)], None)
        .await;
    assert_error(&r, 405, "Method not allowed");
    // GET lists the campaigns (SPEC §11).
    assert_eq!(r.header("allow"), Some("GET, POST"));
    assert_error(&c.get("/elsewhere", None).await, 404, "Not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_parallel_creates_against_ten_per_minute_admit_exactly_ten() {
    let s = Server::api(&[]);
    let (_, key) = s.account("growth", &[]);
    let clients: Vec<_> = (0..10).map(|_| s.client()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let c = clients[i % 10];
        let key = key.clone();
        tasks.spawn(async move { c.create(&key, &page()).await.status });
    }
    let mut counts = std::collections::BTreeMap::new();
    while let Some(status) = tasks.join_next().await {
        *counts.entry(status.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(
        counts,
        std::collections::BTreeMap::from([(201, 10), (429, 190)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_creates_never_reserve_past_the_quota() {
    let s = Server::api(&[]);
    let (_, key) = s.account("enterprise", &["--videos-per-month", "10"]);
    let c = s.client();
    let six = json!({"url": PAGE, "languages": ["en","ja","ko","zh","es","fr"]});
    assert_eq!(c.create(&key, &six).await.status, 201);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let c = if i % 2 == 0 { s.client() } else { c };
        let key = key.clone();
        tasks.spawn(async move { c.create(&key, &page()).await });
    }
    let mut created = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        match r.status {
            201 => created += 1,
            429 => assert!(r.json()["videos_used"].as_u64().unwrap() <= 10),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 4);
    assert_eq!(
        c.create(&key, &page()).await.json()["videos_used"],
        json!(10)
    );
}

#[tokio::test]
async fn limiter_store_unreachable_is_503_never_a_pass() {
    let s = Server::api(&[]);
    let (_, key) = s.account("scale", &[]);
    let c = s.client();
    assert_eq!(c.get("/api/v1/campaigns/x", Some(&key)).await.status, 404);
    // Another process takes the database's write lock and holds it: the limiter cannot
    // record anything, so nothing may pass.
    let db = rusqlite::Connection::open(s.data.join("reelforge.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for r in [
        c.get("/api/v1/campaigns/x", Some(&key)).await,
        c.get("/api/v1/campaigns/x", None).await,
        c.create(&key, &page()).await,
    ] {
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["success"], json!(false));
        assert!(r.header_i64("retry-after") >= 1);
        let text = String::from_utf8_lossy(&r.body).to_lowercase();
        assert!(
            !text.contains("sqlite") && !text.contains("locked"),
            "{text}"
        );
    }
    db.execute_batch("COMMIT").unwrap();
    assert_eq!(c.get("/api/v1/campaigns/x", Some(&key)).await.status, 404);
}
