//! The local HTTP server behind `reelforge serve`: hyper over TCP, translating each
//! request into an `ApiRequest` for the same router the Lambda functions use. The client
//! IP is the TCP peer address; bodies are read only up to the route's limit. It also
//! answers the local media store's signed download links (`/files/…`), streaming the
//! file from disk, and serves the dashboard's assets (`/`, `/app.js`, `/app.css`,
//! `/icon.svg`; docs/dashboard.md).
//!
//! Limits against slow or many clients ([`ServerLimits`]): a request's head must arrive
//! within `header_timeout` (also the longest an idle keep-alive connection is kept), its
//! body within `body_timeout` (else 408 and the connection is closed), and at most
//! `max_connections` are open at once; a connection beyond the cap is closed at once
//! rather than queued, so a flood can't hold the accept loop.

use crate::store::{LocalStore, LINK_PATH_PREFIX};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use reelforge_app::api::{body_limit, handle, ApiRequest, ApiResponse};
use reelforge_app::Context;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpListener;

/// Timeouts and the connection cap of the local server.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            // A 4 MiB end clip at 1 Mbit/s takes about 34 s.
            body_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// A file sent in chunks as it is read, never whole in memory.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
}

const FILE_CHUNK: usize = 64 * 1024;

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = FILE_CHUNK.min(usize::try_from(this.remaining).unwrap_or(FILE_CHUNK));
        this.buf.resize(want, 0);
        let mut read = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    // The file shrank while being sent: end with an error, not a short body.
                    return Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())));
                }
                this.remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(read.filled())))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

fn full(body: Bytes) -> ResponseBody {
    Full::new(body).map_err(|never| match never {}).boxed()
}

/// `Err` when the body did not arrive within `limits.body_timeout`.
async fn to_api_request(
    req: Request<Incoming>,
    peer: SocketAddr,
    limits: ServerLimits,
) -> Result<ApiRequest, ()> {
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
        let read = tokio::time::timeout(limits.body_timeout, Limited::new(body, limit).collect());
        match read.await {
            Err(_) => return Err(()),
            Ok(Ok(collected)) => (collected.to_bytes(), false),
            Ok(Err(_)) => (Bytes::new(), true),
        }
    };
    Ok(ApiRequest {
        method: parts.method,
        path: parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        ),
        headers: parts.headers,
        body,
        body_too_large,
        source_ip: Some(peer.ip()),
    })
}

fn to_hyper(resp: ApiResponse, close: bool) -> Response<ResponseBody> {
    let mut out = Response::new(full(resp.body));
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

/// The file a signed link names, streamed, or the same 404 for every kind of bad link
/// (unknown, tampered, expired), so a link can't be probed.
async fn serve_file(
    files: &LocalStore,
    method: &http::Method,
    uri: &http::Uri,
) -> Response<ResponseBody> {
    let not_found = || {
        to_hyper(
            ApiResponse::error(http::StatusCode::NOT_FOUND, "File not found"),
            false,
        )
    };
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
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return not_found();
    };
    let Ok(meta) = file.metadata().await else {
        return not_found();
    };
    if !meta.is_file() {
        return not_found();
    }
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("mp4") => "video/mp4",
        Some("jpg") => "image/jpeg",
        Some("png") => "image/png",
        Some("wav") => "audio/wav",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    let body = if method == http::Method::HEAD {
        full(Bytes::new())
    } else {
        FileBody {
            file,
            remaining: meta.len(),
            buf: Vec::new(),
        }
        .boxed()
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("private, max-age=300"),
    );
    if method == http::Method::HEAD {
        headers.insert(http::header::CONTENT_LENGTH, meta.len().into());
    }
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
    serve_with_limits(app, listener, files, ServerLimits::default(), shutdown).await
}

/// [`serve`] with explicit timeouts and connection cap.
pub async fn serve_with_limits(
    app: Arc<Context>,
    listener: TcpListener,
    files: Option<Arc<LocalStore>>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
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
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the cap: closed at once (queueing would let a flood hold every slot).
            tracing::warn!(%peer, max = limits.max_connections, "connection cap reached; connection closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let files = files.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                let files = files.clone();
                async move {
                    if let Some(files) = files.as_deref() {
                        if req.uri().path().starts_with(LINK_PATH_PREFIX) {
                            let resp = serve_file(files, req.method(), req.uri()).await;
                            return Ok::<_, Infallible>(resp);
                        }
                    }
                    // The dashboard's assets (`/`, `/app.js`, …; docs/dashboard.md).
                    if let Some(resp) =
                        reelforge_app::dashboard::serve(req.method(), req.uri().path())
                    {
                        return Ok::<_, Infallible>(to_hyper(resp, false));
                    }
                    let Ok(api_req) = to_api_request(req, peer, limits).await else {
                        let slow = ApiResponse::error(
                            http::StatusCode::REQUEST_TIMEOUT,
                            "The request body did not arrive in time",
                        );
                        return Ok(to_hyper(slow, true));
                    };
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
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
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
