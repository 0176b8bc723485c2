//! The HTTP API as plain data in, plain data out. The local server (`server.rs`) and the
//! Lambda adapter (`lambda.rs`) both translate to `ApiRequest` and call `handle`, so the
//! local behaviour is the Lambda behaviour.

mod account;
mod auth;
mod campaigns;
mod deliveries;
mod destinations;
mod estimate;
mod extras;
mod listing;
pub mod openapi;
pub mod profiles;
mod response;
mod review;
pub mod uploads;

pub use response::ApiResponse;

/// How many campaigns `GET /api/v1/account` reads for its recent videos.
pub fn account_recent_campaigns() -> usize {
    account::RECENT_CAMPAIGNS as usize
}

use crate::context::Context;

use bytes::Bytes;
use http::{HeaderMap, Method};
use std::net::IpAddr;

/// Request bodies above this are refused with 413 before any parsing (file uploads have
/// their own limits: [`body_limit`]).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How much of a request's body the transports read: an upload route's file limit, else
/// [`MAX_BODY_BYTES`].
pub fn body_limit(path: &str) -> usize {
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["", "api", "v1", "media-profiles", _, file] => {
            uploads::Upload::from_segment(file).map_or(MAX_BODY_BYTES, |u| u.max_bytes())
        }
        _ => MAX_BODY_BYTES,
    }
}

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// The request target's path, with its query string (`?status=review`) when it has
    /// one.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Set when the transport stopped reading because the body exceeded `MAX_BODY_BYTES`.
    pub body_too_large: bool,
    /// The connection's source address (API Gateway `requestContext.http.sourceIp`),
    /// never a client-supplied header.
    pub source_ip: Option<IpAddr>,
}

/// The segments of a canonical `/api/v1/…` path: `None` for a trailing slash, an empty
/// segment (`//`) or a dot segment (`.`, `..`). Such a path is never trimmed or
/// normalised into another route: on AWS each route is its own function with its own
/// role, and a path that API Gateway sends to one function (`$default`) must not be
/// served as another function's route.
fn canonical_segments(rest: &str) -> Option<Vec<&str>> {
    let segments: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    segments
        .iter()
        .all(|s| !s.is_empty() && *s != "." && *s != "..")
        .then_some(segments)
}

/// Routes one request. Every `/api/v1` request passes the IP layer and key check first,
/// except the OpenAPI document, which is metered by the unauthenticated IP layer only.
pub async fn handle(app: &Context, req: ApiRequest) -> ApiResponse {
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let Some(rest) = path.strip_prefix("/api/v1") else {
        return ApiResponse::not_found();
    };
    let segments = canonical_segments(rest);
    if let Some(public) = segments.as_deref() {
        if let (["openapi.json"], &Method::GET) = (public, &req.method) {
            return openapi::serve(app, &auth::client_key(req.source_ip)).await;
        }
    }
    let principal = match auth::authenticate(app, &req).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Some(segments) = segments else {
        return ApiResponse::not_found().with_scopes(&principal.scopes);
    };
    let resp = match (segments.as_slice(), &req.method) {
        (["openapi.json"], _) => ApiResponse::method_not_allowed("GET"),
        (["campaigns"], &Method::POST) => campaigns::create(app, &req, &principal).await,
        (["campaigns"], &Method::GET) => listing::list(app, &principal, query).await,
        (["campaigns"], _) => ApiResponse::method_not_allowed("GET, POST"),
        (["campaigns", id], &Method::GET) => campaigns::get(app, &principal, id).await,
        (["campaigns", _], _) => ApiResponse::method_not_allowed("GET"),
        (["campaigns", id, "webhook-deliveries"], &Method::GET) => {
            deliveries::list(app, &principal, id).await
        }
        (["campaigns", _, "webhook-deliveries"], _) => ApiResponse::method_not_allowed("GET"),
        (["campaigns", id, "webhook-deliveries", "redeliver"], &Method::POST) => {
            deliveries::redeliver(app, &principal, id).await
        }
        (["campaigns", _, "webhook-deliveries", "redeliver"], _) => {
            ApiResponse::method_not_allowed("POST")
        }
        (["campaigns", id, "videos", video_id, "script"], &Method::PUT) => {
            review::edit_script(app, &req, &principal, id, video_id).await
        }
        (["campaigns", _, "videos", _, "script"], _) => ApiResponse::method_not_allowed("PUT"),
        (["campaigns", id, "publish"], &Method::POST) => {
            review::publish(app, &req, &principal, id).await
        }
        (["campaigns", _, "publish"], _) => ApiResponse::method_not_allowed("POST"),
        (["destinations"], &Method::GET) => destinations::route(app, &req, &principal, None).await,
        (["destinations"], &Method::POST) => destinations::route(app, &req, &principal, None).await,
        (["destinations"], _) => ApiResponse::method_not_allowed("GET, POST"),
        (["destinations", id], &Method::GET) => {
            destinations::route(app, &req, &principal, Some(id)).await
        }
        (["destinations", id], &Method::DELETE) => {
            destinations::route(app, &req, &principal, Some(id)).await
        }
        (["destinations", _], _) => ApiResponse::method_not_allowed("GET, DELETE"),
        (["estimate"], &Method::POST) => estimate::estimate(app, &req, &principal).await,
        (["estimate"], _) => ApiResponse::method_not_allowed("POST"),
        (["account"], &Method::GET) => account::get(app, &principal).await,
        (["account"], _) => ApiResponse::method_not_allowed("GET"),
        (["media-profiles", id, file], _) if uploads::Upload::from_segment(file).is_some() => {
            let upload = uploads::Upload::from_segment(file).expect("matched");
            uploads::put(app, &req, &principal, id, upload).await
        }
        ([segment], _) if profiles::Kind::from_segment(segment).is_some() => {
            let kind = profiles::Kind::from_segment(segment).expect("matched");
            profiles::route(app, &req, &principal, kind, None).await
        }
        ([segment, id], _) if profiles::Kind::from_segment(segment).is_some() => {
            let kind = profiles::Kind::from_segment(segment).expect("matched");
            profiles::route(app, &req, &principal, kind, Some(id)).await
        }
        _ => ApiResponse::not_found(),
    };
    resp.with_scopes(&principal.scopes)
}
