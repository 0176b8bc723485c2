//! The local HTTP server behind `reelforge serve`: hyper over TCP, translating each
//! request into an `ApiRequest` for the same router the Lambda functions use. The client
//! IP is the TCP peer address; bodies are read only up to the 16 KiB limit. It also
//! answers the local media store's signed download links (`/files/…`) and serves the
//! dashboard's assets (`/`, `/app.js`, `/app.css`, `/icon.svg`).

use crate::store::{LocalStore, LINK_PATH_PREFIX};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reelforge_app::api::{body_limit, handle, ApiRequest, ApiResponse};
use reelforge_app::Context;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

async fn to_api_request(req: Request<Incoming>, peer: SocketAddr) -> ApiRequest {
    let (parts, body) = req.into_parts();
    let limit = body_limit(parts.uri.path());
    let declared_too_large = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > limit);
    let (body, body_too_large) = if declared_too_large {
        (Bytes::new(), true)
    } else {
        match Limited::new(body, limit).collect().await {
            Ok(collected) => (collected.to_bytes(), false),
            Err(_) => (Bytes::new(), true),
        }
    };
    ApiRequest {
        method: parts.method,
        path: parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        ),
        headers: parts.headers,
        body,
        body_too_large,
        source_ip: Some(peer.ip()),
    }
}

fn to_hyper(resp: ApiResponse, close: bool) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(resp.body));
    *out.status_mut() = resp.status;
    *out.headers_mut() = resp.headers;
    if close {
        // The rest of an oversized body was never read; don't reuse the connection.
        out.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    out
}

/// The file a signed link names, or the same 404 for every kind of bad link (unknown,
/// tampered, expired), so a link can't be probed.
async fn serve_file(files: &LocalStore, method: &http::Method, uri: &http::Uri) -> ApiResponse {
    let not_found = || ApiResponse::error(http::StatusCode::NOT_FOUND, "File not found");
    if method != http::Method::GET && method != http::Method::HEAD {
        return not_found();
    }
    let key = uri.path().strip_prefix(LINK_PATH_PREFIX).unwrap_or("");
    let (mut expires, mut sig) = (None, None);
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("expires", v)) => expires = v.parse::<i64>().ok(),
            Some(("sig", v)) => sig = Some(v),
            _ => {}
        }
    }
    let (Some(expires), Some(sig)) = (expires, sig) else {
        return not_found();
    };
    let now = chrono::Utc::now().timestamp();
    let Some(path) = files.resolve_media_link(key, expires, sig, now) else {
        return not_found();
    };
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return not_found();
    };
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("mp4") => "video/mp4",
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("wav") => "audio/wav",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    let mut resp = ApiResponse {
        status: http::StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: if method == http::Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(bytes)
        },
    };
    resp.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp.headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("private, max-age=300"),
    );
    resp
}

/// Serves until `shutdown` resolves, then stops accepting and lets open requests finish.
/// With `files`, also answers that store's signed media links.
pub async fn serve(
    app: Arc<Context>,
    listener: TcpListener,
    files: Option<Arc<LocalStore>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let files = files.clone();
        connections.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                let files = files.clone();
                async move {
                    if let Some(files) = files.as_deref() {
                        if req.uri().path().starts_with(LINK_PATH_PREFIX) {
                            let resp = serve_file(files, req.method(), req.uri()).await;
                            return Ok::<_, Infallible>(to_hyper(resp, false));
                        }
                    }
                    // The dashboard's assets (`/`, `/app.js`, …; docs/dashboard.md).
                    if let Some(resp) =
                        reelforge_app::dashboard::serve(req.method(), req.uri().path())
                    {
                        return Ok::<_, Infallible>(to_hyper(resp, false));
                    }
                    let api_req = to_api_request(req, peer).await;
                    let close = api_req.body_too_large;
                    let resp = if api_req.path == "/healthz" {
                        ApiResponse::json(http::StatusCode::OK, &serde_json::json!({"ok": true}))
                    } else {
                        handle(&app, api_req).await
                    };
                    Ok::<_, Infallible>(to_hyper(resp, close))
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}
