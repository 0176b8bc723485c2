//! The OpenAPI document against the router: every documented operation is answered by a
//! handler (not the router's fall-through 404 or a 405), every other method on a
//! documented path is a 405 naming exactly the documented ones, the document is served
//! without a key (metered by the unauthenticated IP window), and `docs/openapi.json` is
//! the document the code builds. The template test checks that the router's match arms
//! name exactly the documented routes.
//!
//! `UPDATE_OPENAPI=1 cargo test -p reelforge-app --test app openapi` rewrites
//! `docs/openapi.json` after a route or schema changed.

use reelforge_testkit as support;

use http::Method;
use reelforge_app::api::{handle, openapi};
use reelforge_app::Context;
use reelforge_core::plans::Plan;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use support::api::{local_ports, new_account, request};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

#[test]
fn the_checked_in_document_is_the_one_the_code_builds() {
    let path = root().join("docs/openapi.json");
    let built = openapi::document_text();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, built).expect("write docs/openapi.json");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == built,
        "docs/openapi.json differs from reelforge_app::api::openapi::document(); \
         rerun with UPDATE_OPENAPI=1 to rewrite it"
    );
    let doc: Value = serde_json::from_str(built).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    // Every $ref names a component that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// Documented methods per documented path.
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, path) in openapi::routes() {
        out.entry(path).or_default().insert(method);
    }
    out
}

fn is_fall_through(status: u16, body: &Value) -> bool {
    status == 405 || (status == 404 && body["error"] == "Not found")
}

#[tokio::test]
async fn every_documented_operation_is_served_and_every_other_method_is_405() {
    let ports = local_ports("openapi-routes");
    let (_, key) = new_account(&ports, Plan::Enterprise, Some(1000)).await;
    let app = Context::new(ports);
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut ip = 0;
    for (path, allowed) in documented() {
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "nosuchid"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods {
            ip += 1;
            let req = request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                Some(&key),
                ip,
                "",
            );
            let resp = handle(&app, req).await;
            let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            if allowed.contains(method) {
                assert!(
                    !is_fall_through(resp.status.as_u16(), &body),
                    "{method} {path} is documented but the router does not serve it: {} {body}",
                    resp.status
                );
            } else {
                assert_eq!(
                    resp.status, 405,
                    "{method} {path} is not documented, yet answered {} {body}",
                    resp.status
                );
                let allow: BTreeSet<String> = resp
                    .headers
                    .get("allow")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .collect();
                assert_eq!(&allow, &allowed, "Allow of {path}");
            }
        }
    }
}

#[tokio::test]
async fn the_document_is_served_without_a_key_in_the_unauthenticated_window() {
    let app = Context::new(local_ports("openapi-served"));
    for i in 0..10 {
        let resp = handle(&app, request(Method::GET, openapi::PATH, None, 1, "")).await;
        assert_eq!(resp.status, 200, "request {i}");
        assert_eq!(
            resp.headers.get("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(&resp.body[..], openapi::document_text().as_bytes());
    }
    // The eleventh in a minute is refused like any keyless request, and so is a keyless
    // request to another route from the same client: one window.
    let resp = handle(&app, request(Method::GET, openapi::PATH, None, 1, "")).await;
    assert_eq!(resp.status, 429);
    let other = handle(&app, request(Method::GET, "/api/v1/account", None, 1, "")).await;
    assert_eq!(other.status, 429);
    // Another client is unaffected.
    let resp = handle(&app, request(Method::GET, openapi::PATH, None, 2, "")).await;
    assert_eq!(resp.status, 200);
}
