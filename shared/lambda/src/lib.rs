//! The Lambda adapters: API Gateway HTTP API (payload v2) events to the shared router
//! (`run_api`) or to the dashboard's assets ([`run_dashboard`]), SQS batches to the
//! pipeline stages (`run_stages`), dead letters (`run_dead_letters`) and MediaConvert
//! events (`run_render_events`).
//!
//! Everything that keeps records and queues (DynamoDB, SQS, `aws-config`, and each
//! function's `context()`, built once at cold start) is behind the `store` feature, which
//! every function but `api-dashboard` is built with: the dashboard's function links no
//! AWS SDK at all.

use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use reelforge_app::api::{body_limit, ApiRequest, ApiResponse};

#[cfg(feature = "store")]
mod backend;
#[cfg(feature = "clips")]
mod clips;
mod dashboard;

#[cfg(feature = "store")]
pub use backend::*;
#[cfg(feature = "clips")]
pub use clips::*;
pub use dashboard::*;

pub use lambda_http::Error;
/// JSON logs for CloudWatch, filtered by `RUST_LOG` (default `info`).
pub use reelforge_app::telemetry::init_json as init_logs;
pub use reelforge_core::model::Stage;

/// Turns a Lambda HTTP request into the router's request. The client IP is
/// `requestContext.http.sourceIp`, which API Gateway sets from the connection.
pub fn to_api_request(req: Request) -> ApiRequest {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok())
        }
        _ => None,
    };
    let (parts, body) = req.into_parts();
    let body = Bytes::copy_from_slice(body.as_ref());
    ApiRequest {
        method: parts.method,
        path: parts.uri.path_and_query().map_or_else(
            || parts.uri.path().to_string(),
            |pq| pq.as_str().to_string(),
        ),
        headers: parts.headers,
        body_too_large: body.len() > body_limit(parts.uri.path()),
        body,
        source_ip,
    }
}

pub fn to_lambda_response(resp: ApiResponse) -> Response<Body> {
    let body = match String::from_utf8(resp.body.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let mut out = Response::new(body);
    *out.status_mut() = resp.status;
    *out.headers_mut() = resp.headers;
    out
}

/// An environment variable's value; unset and empty are the same.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
