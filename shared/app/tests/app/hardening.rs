//! Findings of the security review that the shared router and handlers fix, checked
//! through `api::handle` (the code both the local server and every Lambda function run).

use reelforge_testkit as support;

use http::Method;
use reelforge_app::api::{handle, openapi, ApiRequest};
use reelforge_app::Context;
use reelforge_core::plans::Plan;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv6Addr};
use support::api::{local_ports, new_account, request};

fn from_v6(mut req: ApiRequest, ip: Ipv6Addr) -> ApiRequest {
    req.source_ip = Some(IpAddr::V6(ip));
    req
}

/// One IPv6 subscriber holds a whole /64: counting single addresses would give a client
/// 2^64 windows. Eleven keyless requests from eleven addresses of one /64 meet the
/// 10/min layer; another /64 is unaffected.
#[tokio::test]
async fn ipv6_clients_are_limited_per_64() {
    let app = Context::new(local_ports("ipv6-64"));
    let statuses = {
        let mut out = Vec::new();
        for i in 0..11u16 {
            let ip = Ipv6Addr::new(0x2001, 0xdb8, 0x1234, 0x5678, i, 0, 0, 1);
            let req = from_v6(request(Method::GET, "/api/v1/campaigns/x", None, 0, ""), ip);
            out.push(handle(&app, req).await.status.as_u16());
        }
        out
    };
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429, "the /64 shares one window: {statuses:?}");
    let other = Ipv6Addr::new(0x2001, 0xdb8, 0x1234, 0x5679, 0, 0, 0, 1);
    let req = from_v6(
        request(Method::GET, "/api/v1/campaigns/x", None, 0, ""),
        other,
    );
    assert_eq!(handle(&app, req).await.status, 401);
    // An IPv4-mapped address is its IPv4 client.
    let v4 = std::net::Ipv4Addr::new(192, 0, 2, 7);
    let mut mapped = Vec::new();
    for i in 0..11 {
        let mut req = request(Method::GET, "/api/v1/campaigns/x", None, 0, "");
        req.source_ip = Some(if i % 2 == 0 {
            IpAddr::V4(v4)
        } else {
            IpAddr::V6(v4.to_ipv6_mapped())
        });
        mapped.push(handle(&app, req).await.status.as_u16());
    }
    assert_eq!(mapped[10], 429, "{mapped:?}");
}

/// A trailing slash, an empty segment or a dot segment never routes to a handler: on
/// AWS each route is a function with its own role, and `$default` (api-campaign-get)
/// must not serve `POST /api/v1/campaigns/` as a create. The answer is the router's own
/// 404, after the IP layer and the key check like any unknown path.
#[tokio::test]
async fn non_canonical_paths_are_404_and_route_nowhere() {
    let ports = local_ports("canonical");
    let (_, key) = new_account(&ports, Plan::Enterprise, Some(1000)).await;
    let app = Context::new(ports);
    let create = json!({"url": "https://93.184.216.34/", "languages": ["en"]}).to_string();
    let cases = [
        (Method::POST, "/api/v1/campaigns/"),
        (Method::POST, "/api/v1//campaigns"),
        (Method::POST, "/api/v1/./campaigns"),
        (Method::POST, "/api/v1/x/../campaigns"),
        (Method::GET, "/api/v1/account/"),
        (Method::GET, "/api/v1/account//"),
        (Method::POST, "/api/v1/estimate/"),
        (Method::GET, "/api/v1/font-profiles/"),
        (Method::GET, "/api/v1/openapi.json/"),
        (Method::GET, "/api/v1/"),
        (Method::GET, "/api/v1"),
    ];
    for (i, (method, path)) in cases.iter().enumerate() {
        let req = request(method.clone(), path, Some(&key), i as u32 + 1, &create);
        let resp = handle(&app, req).await;
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(
            (resp.status.as_u16(), &body),
            (404, &json!({"success": false, "error": "Not found"})),
            "{method} {path}"
        );
    }
    // Without a key such a path is refused like any keyless request (metered, 401).
    let resp = handle(
        &app,
        request(Method::POST, "/api/v1/campaigns/", None, 99, &create),
    )
    .await;
    assert_eq!(resp.status, 401);
    // The canonical paths still work.
    let resp = handle(
        &app,
        request(Method::POST, "/api/v1/campaigns", Some(&key), 100, &create),
    )
    .await;
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let resp = handle(&app, request(Method::GET, openapi::PATH, None, 101, "")).await;
    assert_eq!(resp.status, 200);
}

/// The upload routes size their body limit from the canonical path only: a trailing
/// slash gets the ordinary 16 KiB limit, not the file's.
#[test]
fn body_limits_follow_canonical_paths_only() {
    use reelforge_app::api::{body_limit, MAX_BODY_BYTES};
    assert_eq!(
        body_limit("/api/v1/media-profiles/mp_1/end-clip"),
        4 * 1024 * 1024
    );
    assert_eq!(
        body_limit("/api/v1/media-profiles/mp_1/end-clip/"),
        MAX_BODY_BYTES
    );
}

/// An MP4 made by ffmpeg from its `lavfi` sources.
fn clip(seconds: u32, extra: &[&str]) -> Vec<u8> {
    let color = format!("color=c=blue:s=64x64:r=1:d={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", color.as_str(), "-c:v", "libx264"];
    args.extend_from_slice(extra);
    support::server::ffmpeg_file(&args, "mp4")
}

/// On AWS no ffprobe runs beside the API (`Tools::none`): the end clip's length must
/// come from the file itself. A 4 MiB MP4 of still frames can run for an hour and be
/// appended to every video; here a 40 s clip of one frame a second (a few KB) is refused
/// and a 10 s one stored.
#[tokio::test]
async fn end_clips_longer_than_15_s_are_refused_without_ffprobe() {
    let ports = local_ports("end-clip-length");
    let (_, key) = new_account(&ports, Plan::Enterprise, Some(1000)).await;
    let app = Context::new(ports); // Tools::none: what the api-profiles function runs with
    let created = handle(
        &app,
        request(
            Method::POST,
            "/api/v1/media-profiles",
            Some(&key),
            1,
            r#"{"profile_name":"Brand"}"#,
        ),
    )
    .await;
    assert_eq!(created.status, 201);
    let body: Value = serde_json::from_slice(&created.body).unwrap();
    let id = body["media_profile"]["media_profile_id"].as_str().unwrap();
    let path = format!("/api/v1/media-profiles/{id}/end-clip");
    let put = |bytes: Vec<u8>, ip: u32| {
        let mut req = request(Method::PUT, &path, Some(&key), ip, "");
        req.headers
            .insert("content-type", "video/mp4".parse().unwrap());
        req.body = bytes.into();
        handle(&app, req)
    };
    let long = clip(40, &[]);
    assert!(
        long.len() < 64 * 1024,
        "a still clip is small: {}",
        long.len()
    );
    let resp = put(long, 2).await;
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(resp.status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("at most 15 s"),
        "{body}"
    );
    let resp = put(clip(10, &["-movflags", "+faststart"]), 3).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    // A fragmented MP4 spreads its length over fragments: refused with a reason.
    let resp = put(clip(5, &["-movflags", "frag_keyframe+empty_moov"]), 4).await;
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(resp.status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("fragmented"),
        "{body}"
    );
}

/// `GET /api/v1/account` must not read every campaign the account ever made: on AWS its
/// campaign query asks DynamoDB for at most the recent campaigns it shows (`Limit`), and
/// its totals come from counters (one bounded query), whatever the account's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_overview_reads_a_bounded_number_of_campaigns() {
    use reelforge_app::Ports;
    use std::sync::Arc;
    use support::fault_proxy::FaultProxy;
    let direct = Arc::new(support::moto::aws_store().await);
    let proxy = FaultProxy::start(support::moto::endpoint()).await;
    let through = Arc::new(proxy.aws_store(direct.names().clone()).await);
    let writer = Context::new(Ports::from_store(direct.clone()));
    let (_, key) = new_account(&Ports::from_store(direct), Plan::Enterprise, Some(1000)).await;
    let campaigns = reelforge_app::api::account_recent_campaigns() + 5;
    for i in 0..campaigns {
        let body = json!({"url": "https://93.184.216.34/", "languages": ["en"]}).to_string();
        let resp = handle(
            &writer,
            request(
                Method::POST,
                "/api/v1/campaigns",
                Some(&key),
                1000 + i as u32,
                &body,
            ),
        )
        .await;
        assert_eq!(resp.status, 201);
    }
    let reader = Context::new(Ports::from_store(through));
    let before = proxy.seen().len();
    let resp = handle(
        &reader,
        request(Method::GET, "/api/v1/account", Some(&key), 1, ""),
    )
    .await;
    assert_eq!(resp.status, 200);
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        body["videos"].as_array().unwrap().len(),
        reelforge_app::api::account_recent_campaigns()
    );
    let campaign_queries: Vec<Value> = proxy.seen()[before..]
        .iter()
        .filter(|s| s.target.ends_with(".Query"))
        .map(|s| serde_json::from_str(&s.body).unwrap())
        .filter(|q: &Value| q.to_string().contains("CAMPAIGN#"))
        .collect();
    assert!(!campaign_queries.is_empty());
    for q in campaign_queries {
        // The listing's first page: one more than shown tells whether more follow.
        let limit = q["Limit"].as_u64().unwrap_or(u64::MAX);
        assert!(
            limit <= reelforge_app::api::account_recent_campaigns() as u64 + 1,
            "an unbounded campaign query: {q}"
        );
    }
}
