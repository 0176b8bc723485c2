//! DynamoDB and SQS round trips per request on the aws backend, counted by the store
//! itself (`AwsStore::round_trips`) while the real API router handles each request
//! against moto's server (the local AWS emulator). Round trips, not milliseconds: the
//! latency of each trip is AWS's, and the count is what this code decides.
//!
//! Run: `MOTO_SERVER=.venv/bin/moto_server cargo bench -p reelforge-app --bench aws_round_trips`
//! (env BENCH_JSON to write the figures as JSON).

use reelforge_testkit as support;

use reelforge_testkit::bench_report as common;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use reelforge_app::api::{handle, ApiRequest};
use reelforge_app::{Context, Ports};
use reelforge_aws::store::AwsStore;
use reelforge_core::clock::SystemClock;
use reelforge_core::plans::Plan;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

const BODY: &str = r#"{"url":"https://93.184.216.34/","languages":["en","ja"]}"#;

fn request(
    method: Method,
    path: &str,
    key: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> ApiRequest {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).expect("header"),
    );
    for (k, v) in extra {
        let name = http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
        headers.insert(name, HeaderValue::from_str(v).expect("header"));
    }
    ApiRequest {
        method,
        path: path.into(),
        headers,
        body: Bytes::from(body.to_string()),
        body_too_large: false,
        source_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
    }
}

/// Handles `req` and returns (status, round trips it took, the response body).
async fn trips(app: &Context, store: &AwsStore, req: ApiRequest) -> (u16, u64, serde_json::Value) {
    let before = store.round_trips();
    let r = handle(app, req).await;
    let body = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status.as_u16(), store.round_trips() - before, body)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rows = rt.block_on(async {
        let store = Arc::new(support::moto::aws_store().await);
        let ports = Ports::from_store(store.clone());
        let account = reelforge_app::admin::create_account(
            &*ports.accounts,
            &SystemClock,
            "Bench",
            Plan::Scale,
            None,
        )
        .await
        .expect("account");
        let (minted, _) = reelforge_app::admin::create_key(
            &*ports.accounts,
            &*ports.keys,
            &SystemClock,
            &account.id,
        )
        .await
        .expect("key");
        let key = minted.secret;
        let app = Context::new(ports);
        let create =
            |extra: &[(&str, &str)]| request(Method::POST, "/api/v1/campaigns", &key, extra, BODY);
        let mut rows = Vec::new();
        let mut row = |name: &str, (status, n, _): &(u16, u64, serde_json::Value), expect: u16| {
            assert_eq!(*status, expect, "{name}");
            println!("{name:<58} {n:>2} round trips");
            rows.push(json!({"request": name, "round_trips": n}));
        };
        let first = trips(&app, &store, create(&[])).await;
        row("create, first request of a new instance", &first, 201);
        let warm = trips(&app, &store, create(&[])).await;
        row("create, warm instance", &warm, 201);
        let keyed = trips(&app, &store, create(&[("idempotency-key", "bench-1")])).await;
        row("create with Idempotency-Key, warm", &keyed, 201);
        let replay = trips(&app, &store, create(&[("idempotency-key", "bench-1")])).await;
        row("create replayed by its Idempotency-Key", &replay, 201);
        let id = warm.2["campaign_id"]
            .as_str()
            .expect("campaign id")
            .to_string();
        let path = format!("/api/v1/campaigns/{id}");
        let get = trips(&app, &store, request(Method::GET, &path, &key, &[], "")).await;
        row("GET /api/v1/campaigns/:id, warm", &get, 200);
        // The listing (SPEC §11): one Query on gsi1 per page; the account is read only
        // for a cursor (to verify one, or to sign the next).
        let list = |query: &str| {
            request(
                Method::GET,
                &format!("/api/v1/campaigns{query}"),
                &key,
                &[],
                "",
            )
        };
        let whole = trips(&app, &store, list("")).await;
        row(
            "GET /api/v1/campaigns, one page holds all, warm",
            &whole,
            200,
        );
        let first_page = trips(&app, &store, list("?limit=2")).await;
        row(
            "GET /api/v1/campaigns?limit=2, a next page exists",
            &first_page,
            200,
        );
        let cursor = first_page.2["next_cursor"]
            .as_str()
            .expect("next_cursor")
            .to_string();
        let next_page = trips(&app, &store, list(&format!("?limit=2&cursor={cursor}"))).await;
        row(
            "GET /api/v1/campaigns?limit=2&cursor=…, next page",
            &next_page,
            200,
        );
        let filtered = trips(&app, &store, list("?status=collecting")).await;
        row("GET /api/v1/campaigns?status=collecting", &filtered, 200);
        // Another instance (a second Lambda container) on windows this one wrote.
        let other = Arc::new(support::moto::aws_store_sharing(&store).await);
        let other_app = Context::new(Ports::from_store(other.clone()));
        let cold = trips(&other_app, &other, create(&[])).await;
        row(
            "create, new instance on windows another instance wrote",
            &cold,
            201,
        );
        rows
    });
    common::write_json(json!({ "backend": "aws (DynamoDB + SQS on moto)", "requests": rows }));
}
