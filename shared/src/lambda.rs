//! The Lambda adapter: API Gateway HTTP API (payload v2) events to the shared router.

use crate::api::Ports;
use crate::api::{handle, ApiRequest, ApiResponse, App, MAX_BODY_BYTES};
use crate::backend::aws::AwsStore;
use crate::model::StageMessage;
use crate::pipeline::{self, Next};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
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

/// Runs one SQS batch through the pipeline. Failed records are reported individually
/// (`ReportBatchItemFailures`), so only they come back; after the queue's
/// `maxReceiveCount` SQS moves them to the dead-letter queue.
pub async fn handle_sqs_batch(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let message: Option<StageMessage> = record
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let Some(message) = message else {
            // Unreadable: let it go to the dead-letter queue for a person to look at.
            tracing::error!(message_id = %id, "unreadable stage message");
            response.add_failure(id);
            continue;
        };
        let ok = match pipeline::process(app, &message).await {
            Ok(Next::Done) => true,
            Ok(Next::RetryIn(secs)) => app.ports.queue.send(&message, secs).await.is_ok(),
            Err(e) => {
                tracing::warn!(error = %e, stage = %message.stage, campaign_id = %message.campaign_id, "stage failed; SQS will retry");
                false
            }
        };
        if !ok {
            response.add_failure(id);
        }
    }
    response
}

/// Runs a queue consumer function until the runtime stops.
pub async fn run_sqs(app: Arc<App>) -> Result<(), Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let app = app.clone();
            async move { Ok::<_, Error>(handle_sqs_batch(&app, event.payload).await) }
        },
    ))
    .await
}
