//! Webhooks end to end against `reelforge serve`: a campaign whose page can't be reached
//! fails in `collecting`, and its `campaign.failed` event reaches a scripted receiver.
//! Signatures are checked here with the hmac crate directly, independently of the
//! sender's signing code.

use reelforge_testkit::server as support;

use base64::Engine;
use hmac::{Hmac, Mac};
use reelforge_testkit::receiver::{Received, Receiver, Reply};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;
use support::Server;

/// A page address nothing listens on: the collect stage fails fast (connection refused).
const DEAD_PAGE: &str = "http://127.0.0.1:9/product";
const WAIT: Duration = Duration::from_secs(30);

fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks both signature forms of one delivery against `secret`.
fn assert_signed(r: &Received, secret: &str, clipus_header: &str) {
    let id = &r.headers["x-clipus-event-id"];
    let ts = &r.headers["x-clipus-timestamp"];
    let mut msg = format!("{ts}.{id}.").into_bytes();
    msg.extend_from_slice(&r.body);
    assert_eq!(
        r.headers[clipus_header],
        hmac_hex(secret.as_bytes(), &msg),
        "{clipus_header}"
    );
    assert_eq!(r.headers["x-clipus-signature-alg"], "HMAC-SHA256");
    // Standard Webhooks: keyed by the base64 part of the secret, "{id}.{ts}.{body}".
    assert_eq!(&r.headers["webhook-id"], id);
    assert_eq!(&r.headers["webhook-timestamp"], ts);
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut std_msg = format!("{id}.{ts}.").into_bytes();
    std_msg.extend_from_slice(&r.body);
    let expected = format!("v1,{}", hmac_b64(&key, &std_msg));
    assert!(
        r.headers["webhook-signature"]
            .split(' ')
            .any(|s| s == expected),
        "{} lacks {expected}",
        r.headers["webhook-signature"]
    );
}

struct Setup {
    server: Server,
    key: String,
    secret: String,
    account: String,
}

fn setup(delays: &str) -> Setup {
    let server = Server::start(&["--allow-private-targets", "--webhook-retry-delays", delays]);
    let acct = server
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Hooks",
            "--plan",
            "enterprise",
            "--videos-per-month",
            "1",
        ])
        .unwrap();
    let account = acct["account_id"].as_str().unwrap().to_string();
    let secret = acct["webhook_secret"].as_str().unwrap().to_string();
    let key = server
        .cli(&["keys", "create", "--account", &account])
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    Setup {
        server,
        key,
        secret,
        account,
    }
}

async fn create_failing_campaign(s: &Setup, hook: &str) -> String {
    let r = s
        .server
        .client()
        .create(
            &s.key,
            &json!({"url": DEAD_PAGE, "languages": ["en"], "webhook_url": hook}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    r.json()["campaign_id"].as_str().unwrap().to_string()
}

async fn deliveries(s: &Setup, id: &str) -> Value {
    let r = s
        .server
        .client()
        .get(
            &format!("/api/v1/campaigns/{id}/webhook-deliveries"),
            Some(&s.key),
        )
        .await;
    assert_eq!(r.status, 200);
    r.json()
}

/// Polls the delivery log until the event leaves `pending` (bounded by `WAIT`).
async fn settled(s: &Setup, id: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let d = deliveries(s, id).await;
        let state = &d["deliveries"][0]["state"];
        if !state.is_null() && state != "pending" {
            return d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "delivery never settled: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_campaign_notifies_with_retries_one_event_id_and_valid_signatures() {
    let s = setup("1,1");
    let mut rx = Receiver::start(vec![
        Reply::Status(500),
        Reply::Status(500),
        Reply::Status(200),
    ])
    .await;
    let id = create_failing_campaign(&s, &rx.url()).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(rx.next(WAIT).await.expect("attempt arrived"));
    }
    let d = settled(&s, &id).await;
    assert!(rx.try_next().is_none(), "a fourth request arrived");

    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.headers["x-clipus-event-id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "one event id across retries");
    for r in &got {
        assert_signed(r, &s.secret, "x-clipus-signature");
        assert_eq!(r.body, got[0].body, "every attempt sends the same body");
    }
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["event"], "campaign.failed");
    assert_eq!(body["campaign_id"], id.as_str());
    assert_eq!(body["status"], "failed");
    assert_eq!(body["failed_stage"], "collecting");
    assert_eq!(body["videos"][0]["status"], "failed");
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());

    let log = &d["deliveries"][0];
    assert_eq!(log["state"], "delivered");
    assert_eq!(
        log["event_id"].as_str().unwrap(),
        ids.iter().next().unwrap()
    );
    let codes: Vec<_> = log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, vec![json!(500), json!(500), json!(200)]);

    // The campaign reports its failure, and its unproduced video went back to the quota
    // (the account's whole monthly quota is one video).
    let c = s
        .server
        .client()
        .get(&format!("/api/v1/campaigns/{id}"), Some(&s.key))
        .await
        .json();
    assert_eq!(c["status"], "failed");
    assert_eq!(c["failed_stage"], "collecting");
    assert!(
        c["error"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{c}"
    );
    let again = s
        .server
        .client()
        .create(&s.key, &json!({"url": DEAD_PAGE, "languages": ["en"]}))
        .await;
    assert_eq!(
        again.status,
        201,
        "refunded video is available: {:?}",
        again.json()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_failing_receiver_sees_exactly_three_attempts_then_redelivery_resends_the_same_event(
) {
    let s = setup("1,1");
    let mut rx = Receiver::start(vec![Reply::Status(500)]).await;
    let id = create_failing_campaign(&s, &rx.url()).await;
    let d = settled(&s, &id).await;
    assert_eq!(d["deliveries"][0]["state"], "failed");
    assert_eq!(d["deliveries"][0]["attempts"].as_array().unwrap().len(), 3);
    let mut first = Vec::new();
    while let Some(r) = rx.try_next() {
        first.push(r);
    }
    assert_eq!(first.len(), 3);
    assert_eq!(rx.connection_count(), 3);

    // Manual redelivery: same event id, three more attempts at most.
    let r = s
        .server
        .client()
        .request(
            "POST",
            &format!("/api/v1/campaigns/{id}/webhook-deliveries/redeliver"),
            &[("Authorization", &format!("Bearer {}", s.key))],
            Some(b""),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.json());
    let resent = rx.next(WAIT).await.expect("redelivered");
    assert_eq!(
        resent.headers["x-clipus-event-id"],
        first[0].headers["x-clipus-event-id"]
    );
    assert_eq!(resent.body, first[0].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_count_as_failures() {
    let s = setup("1,1");
    let mut elsewhere = Receiver::start(vec![Reply::Status(200)]).await;
    let rx = Receiver::start(vec![Reply::Redirect(elsewhere.addr)]).await;
    let id = create_failing_campaign(&s, &rx.url()).await;
    let d = settled(&s, &id).await;
    let log = &d["deliveries"][0];
    assert_eq!(log["state"], "failed");
    for a in log["attempts"].as_array().unwrap() {
        assert_eq!(a["status_code"], 302);
    }
    assert_eq!(elsewhere.connection_count(), 0);
    assert!(elsewhere.try_next().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_hangs_past_ten_seconds_is_a_failed_attempt() {
    let s = setup("1,1");
    let mut rx = Receiver::start(vec![Reply::Hang, Reply::Status(204)]).await;
    let id = create_failing_campaign(&s, &rx.url()).await;
    let first = rx.next(WAIT).await.expect("first attempt");
    let second = rx
        .next(WAIT)
        .await
        .expect("second attempt after the timeout");
    assert_eq!(
        first.headers["x-clipus-event-id"],
        second.headers["x-clipus-event-id"]
    );
    let d = settled(&s, &id).await;
    let attempts = d["deliveries"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(d["deliveries"][0]["state"], "delivered");
    assert_eq!(attempts.len(), 2);
    assert!(
        // A timeout reads like a refused connection (no port-scanning oracle).
        attempts[0]["error"].as_str().unwrap() == "no answer (connection failed or timed out)",
        "{attempts:?}"
    );
    assert!(attempts[0]["latency_ms"].as_u64().unwrap() >= 10_000);
    assert_eq!(attempts[1]["status_code"], 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_status_in_time_is_success_even_if_the_body_trickles() {
    let s = setup("1,1");
    let mut rx = Receiver::start(vec![Reply::SlowBody, Reply::Status(500)]).await;
    let id = create_failing_campaign(&s, &rx.url()).await;
    rx.next(WAIT).await.expect("delivery");
    let d = settled(&s, &id).await;
    let attempts = d["deliveries"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(d["deliveries"][0]["state"], "delivered", "{d}");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 200);
    assert!(attempts[0]["latency_ms"].as_u64().unwrap() < 10_000);
    assert_eq!(rx.connection_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secret_signs_beside_the_old_one() {
    let s = setup("1,1");
    let rotated = s
        .server
        .cli(&["accounts", "rotate-webhook-secret", "--account", &s.account])
        .unwrap();
    let new_secret = rotated["webhook_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, s.secret);
    assert!(rotated["previous_secret_valid_until"].is_string());
    let mut rx = Receiver::start(vec![Reply::Status(200)]).await;
    create_failing_campaign(&s, &rx.url()).await;
    let r = rx.next(WAIT).await.expect("delivery");
    assert_signed(&r, &new_secret, "x-clipus-signature");
    assert_signed(&r, &s.secret, "x-clipus-signature-previous");
    assert_eq!(r.headers["webhook-signature"].split(' ').count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_log_and_redelivery_are_per_account_and_rate_limited_like_creation() {
    let s = setup("1,1");
    let rx = Receiver::start(vec![Reply::Status(200)]).await;
    let id = create_failing_campaign(&s, &rx.url()).await;
    // Another account's key gets the same 404 as for an unknown id.
    let (_, growth) = s.server.account("growth", &[]);
    let c = s.server.client();
    let r = c
        .get(
            &format!("/api/v1/campaigns/{id}/webhook-deliveries"),
            Some(&growth),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"success": false, "error": "Campaign not found"})
    );
    // A campaign without webhook_url has nothing to redeliver: 409.
    let plain = c
        .create(&growth, &json!({"url": DEAD_PAGE, "languages": ["en"]}))
        .await;
    let plain_id = plain.json()["campaign_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/campaigns/{plain_id}/webhook-deliveries/redeliver");
    // Growth creates 10 per minute; the create above took one slot, so nine redeliveries
    // are admitted (and refused with 409), and the tenth is limited like a create.
    for i in 0..9 {
        let r = c
            .request("POST", &path, &[("X-API-Key", &growth)], Some(b""))
            .await;
        assert_eq!(r.status, 409, "redelivery {i}: {:?}", r.json());
    }
    let r = c
        .request("POST", &path, &[("X-API-Key", &growth)], Some(b""))
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
    assert_eq!(r.header("x-ratelimit-plan"), Some("growth"));
}
