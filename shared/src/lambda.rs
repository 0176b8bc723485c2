//! The Lambda adapter: API Gateway HTTP API (payload v2) events to the shared router.

use crate::api::Ports;
use crate::api::{handle, ApiRequest, ApiResponse, App, MAX_BODY_BYTES};
use crate::backend::aws::AwsStore;
use bytes::Bytes;
use lambda_http::request::RequestContext;
pub use lambda_http::Error;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use std::sync::Arc;

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
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body_too_large: body.len() > MAX_BODY_BYTES,
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

/// The app every API function runs: DynamoDB and SQS clients built once at cold start.
pub async fn aws_app() -> Arc<App> {
    let store = Arc::new(AwsStore::from_env().await);
    Arc::new(App::new(Ports::from_store(store)))
}

/// Runs the shared router as this function's handler until the runtime stops.
pub async fn run_api(app: Arc<App>) -> Result<(), Error> {
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(to_lambda_response(handle(&app, to_api_request(req)).await)) }
    }))
    .await
}
