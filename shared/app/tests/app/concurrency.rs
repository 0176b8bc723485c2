//! The request path under concurrency, on both backends, through the same router the
//! server and the Lambda functions use: the account window never over-admits, the quota
//! is never oversold, an unreachable store is a 503, and a warm create on AWS takes at
//! most five store/queue round trips.

use reelforge_testkit as support;

use support::api::{aws_ports, local_ports, new_account, request};

use http::Method;
use reelforge_app::api::{handle, ApiRequest};
use reelforge_app::{Context, Ports};
use reelforge_aws::store::AwsStore;
use reelforge_core::plans::Plan;
use std::collections::BTreeMap;
use std::sync::Arc;

async fn account_key(ports: &Ports, plan: Plan, videos: Option<u32>) -> String {
    new_account(ports, plan, videos).await.1
}

fn create_request(key: &str, ip_n: u32, body: &str) -> ApiRequest {
    request(Method::POST, "/api/v1/campaigns", Some(key), ip_n, body)
}

async fn statuses(app: Arc<Context>, requests: Vec<ApiRequest>) -> BTreeMap<u16, usize> {
    let mut tasks = tokio::task::JoinSet::new();
    for req in requests {
        let app = app.clone();
        tasks.spawn(async move { handle(&app, req).await.status.as_u16() });
    }
    let mut counts = BTreeMap::new();
    while let Some(s) = tasks.join_next().await {
        *counts.entry(s.unwrap()).or_insert(0) += 1;
    }
    counts
}

const ONE: &str = r#"{"url":"https://93.184.216.34/","languages":["en"]}"#;

async fn two_hundred_creates_admit_exactly_ten(ports: Ports) {
    let key = account_key(&ports, Plan::Growth, None).await;
    let app = Arc::new(Context::new(ports));
    // 20 client IPs x 10 requests: no IP layer is near its limit; only the account's is.
    let reqs = (0..200)
        .map(|i| create_request(&key, i % 20, ONE))
        .collect();
    assert_eq!(
        statuses(app, reqs).await,
        BTreeMap::from([(201, 10), (429, 190)])
    );
}

async fn four_videos_left_are_never_oversold(ports: Ports) {
    let key = account_key(&ports, Plan::Enterprise, Some(10)).await;
    let app = Arc::new(Context::new(ports));
    let six = r#"{"url":"https://93.184.216.34/","languages":["en","ja","ko","zh","es","fr"]}"#;
    assert_eq!(handle(&app, create_request(&key, 0, six)).await.status, 201);
    // Mixed sizes: one-video and two-video campaigns race for the last four videos.
    let two = r#"{"url":"https://93.184.216.34/","languages":["en","ja"]}"#;
    let reqs = (0..60)
        .map(|i| create_request(&key, i % 30, if i % 3 == 0 { two } else { ONE }))
        .collect();
    let counts = statuses(app.clone(), reqs).await;
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        vec![201, 429],
        "{counts:?}"
    );
    let resp = handle(&app, create_request(&key, 99, ONE)).await;
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        body["videos_used"], 10,
        "exactly the quota is reserved: {body}"
    );
    assert_eq!(body["videos_quota"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_two_hundred_creates_admit_exactly_ten() {
    two_hundred_creates_admit_exactly_ten(local_ports("200")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_two_hundred_creates_admit_exactly_ten() {
    let _turn = support::moto::turn().await;
    two_hundred_creates_admit_exactly_ten(aws_ports().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_four_videos_left_are_never_oversold() {
    four_videos_left_are_never_oversold(local_ports("quota")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_four_videos_left_are_never_oversold() {
    let _turn = support::moto::turn().await;
    four_videos_left_are_never_oversold(aws_ports().await).await;
}

#[tokio::test]
async fn aws_unreachable_store_is_503_for_every_request() {
    let app = Context::new(Ports::from_store(Arc::new(
        support::moto::dead_aws_store().await,
    )));
    let mut anonymous = create_request("x", 1, ONE);
    anonymous.headers.clear();
    for req in [
        create_request("sk_live_0123456789abcdef0123456789abcdef", 1, ONE),
        anonymous,
    ] {
        let resp = handle(&app, req).await;
        assert_eq!(resp.status, 503);
        let text = String::from_utf8_lossy(&resp.body);
        assert!(
            !text.contains("dynamodb") && !text.contains("127.0.0.1"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn aws_warm_create_takes_at_most_five_round_trips() {
    let store: Arc<AwsStore> = Arc::new(support::moto::aws_store().await);
    let ports = Ports::from_store(store.clone());
    let key = account_key(&ports, Plan::Scale, None).await;
    let app = Context::new(ports);
    // The first request from a client warms this instance's window cache.
    assert_eq!(handle(&app, create_request(&key, 7, ONE)).await.status, 201);
    let before = store.round_trips();
    assert_eq!(handle(&app, create_request(&key, 7, ONE)).await.status, 201);
    let trips = store.round_trips() - before;
    println!("round trips per warm create on the aws backend: {trips}");
    assert!(trips <= 5, "{trips} round trips");
}

#[tokio::test]
async fn aws_a_create_whose_first_message_cannot_be_queued_fails_and_gives_the_videos_back() {
    let base = support::moto::aws_store().await;
    // Same table, no queue: every send fails as SQS being unreachable would.
    let store = Arc::new(support::moto::aws_store_with_queue(&base, "").await);
    let ports = Ports::from_store(store.clone());
    let (account_id, key) = new_account(&ports, Plan::Enterprise, Some(1)).await;
    let app = Context::new(ports);
    let resp = handle(&app, create_request(&key, 5, ONE)).await;
    assert_eq!(resp.status, 500);
    let period = reelforge_core::clock::quota_period(chrono::Utc::now());
    use reelforge_core::ports::CampaignStore;
    assert_eq!(
        store.quota_used(&account_id, &period).await.unwrap(),
        0,
        "the reservation was given back"
    );
}
