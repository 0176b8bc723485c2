//! Requests for the shared handler (`reelforge_app::api::handle`), built the way the server
//! and the Lambda adapter build them, and the stores and accounts to send them to.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use reelforge_app::api::ApiRequest;
use reelforge_app::Ports;
use reelforge_core::clock::SystemClock;
use reelforge_core::plans::Plan;
use reelforge_local::LocalStore;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// A request from client address `10.0.0.0 + ip`, with the key as a bearer token.
pub fn request(method: Method, path: &str, key: Option<&str>, ip: u32, body: &str) -> ApiRequest {
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
    }
    ApiRequest {
        method,
        path: path.to_string(),
        headers,
        body: Bytes::from(body.to_string()),
        body_too_large: false,
        source_ip: Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + ip))),
    }
}

/// A fresh directory for a local store, unique to this call (two tests that pick the same
/// `tag` still get a store each). `tag` only makes the name readable.
pub fn local_dir(tag: &str) -> std::path::PathBuf {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("reelforge-ports-{}-{n}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The ports of a new local store (SQLite in [`local_dir`]).
pub fn local_ports(tag: &str) -> Ports {
    Ports::from_store(Arc::new(LocalStore::open(&local_dir(tag)).unwrap()))
}

/// The ports of a new aws store on moto (a table and queue of its own).
pub async fn aws_ports() -> Ports {
    Ports::from_store(Arc::new(crate::moto::aws_store().await))
}

/// A new account on `plan` and a key for it: (account id, key secret).
pub async fn new_account(ports: &Ports, plan: Plan, videos: Option<u32>) -> (String, String) {
    let account =
        reelforge_app::admin::create_account(&*ports.accounts, &SystemClock, "Test", plan, videos)
            .await
            .unwrap();
    let (minted, _) =
        reelforge_app::admin::create_key(&*ports.accounts, &*ports.keys, &SystemClock, &account.id)
            .await
            .unwrap();
    (account.id, minted.secret)
}
