//! The local HTTP server behind `reelforge serve`: hyper over TCP, translating each
//! request into an `ApiRequest` for the same router the Lambda functions use. The client
//! IP is the TCP peer address; bodies are read only up to the 16 KiB limit.

use crate::api::{handle, ApiRequest, ApiResponse, App, MAX_BODY_BYTES};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

async fn to_api_request(req: Request<Incoming>, peer: SocketAddr) -> ApiRequest {
    let (parts, body) = req.into_parts();
    let declared_too_large = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    let (body, body_too_large) = if declared_too_large {
        (Bytes::new(), true)
    } else {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => (collected.to_bytes(), false),
            Err(_) => (Bytes::new(), true),
        }
    };
    ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
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

/// Serves until `shutdown` resolves, then stops accepting and lets open requests finish.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
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
        connections.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                async move {
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
