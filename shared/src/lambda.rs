//! The Lambda adapter: API Gateway HTTP API (payload v2) events to the shared router.

use crate::api::Ports;
use crate::api::{body_limit, handle, ApiRequest, ApiResponse, App};
use crate::backend::aws::AwsStore;
use crate::model::StageMessage;
use crate::pipeline::studio::Studio;
use crate::pipeline::worker::retry_backoff_ms;
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

/// The app every function runs (API and stages): DynamoDB, SQS and S3 clients, and the
/// stages' tools (Bedrock, Polly, MediaConvert), built once at cold start; a stage's claim
/// on a campaign lasts `REELFORGE_STAGE_TIMEOUT_SECS` (the function's timeout). Provider
/// keys are sealed with the KMS key `REELFORGE_KMS_KEY_ID` when it is set (without it,
/// storing a provider key is refused).
pub async fn aws_app() -> Arc<App> {
    aws_parts().await.0
}

/// [`aws_app`] and the store under it (queue consumers also hand failed messages back to
/// SQS through it).
pub async fn aws_parts() -> (Arc<App>, Arc<AwsStore>) {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // One config load (credentials, region) for every client.
    let store = Arc::new(AwsStore::from_config(&config));
    // The AWS tools, so what the API checks (a voice profile's provider) is what the
    // stages will use. Clients connect lazily: this costs nothing at cold start.
    let studio = Studio::aws(&config, &store.names().media_bucket, stage_lease_ms());
    let mut app = App::new(Ports::from_store(store.clone())).with_studio(studio);
    if let Some(key_id) = std::env::var("REELFORGE_KMS_KEY_ID")
        .ok()
        .filter(|k| !k.is_empty())
    {
        app = app.with_sealer(Arc::new(crate::styles::kms::KmsSealer::new(
            aws_sdk_kms::Client::new(&config),
            key_id,
        )));
    }
    (Arc::new(app), store)
}

/// `REELFORGE_STAGE_TIMEOUT_SECS` (1..=900, default 300) in milliseconds.
fn stage_lease_ms() -> i64 {
    std::env::var("REELFORGE_STAGE_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| (1..=900).contains(v))
        .unwrap_or(300)
        * 1000
}

/// Handles one "MediaConvert Job State Change" event (EventBridge): the job's video is
/// ready, or its campaign fails. An error makes Lambda retry the event; the render
/// message's periodic check catches anything that still slips through.
pub async fn handle_render_event(app: &App, event: serde_json::Value) -> Result<(), Error> {
    let change = crate::media::mediaconvert::parse_job_state_change(&event)?;
    crate::pipeline::render::job_finished(app, &change).await?;
    Ok(())
}

/// Runs the render-events function until the runtime stops.
pub async fn run_render_events(app: Arc<App>) -> Result<(), Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let app = app.clone();
            async move { handle_render_event(&app, event.payload).await }
        },
    ))
    .await
}

/// One batch from the dead-letter queues: each message's campaign fails in its stage
/// (refunding unproduced videos, once) or its webhook event is marked failed.
pub async fn handle_dead_letters(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let (id, message) = read_record(&record);
        let Some(message) = message else {
            // Unreadable even here: drop it (it is logged; nothing can act on it).
            tracing::error!(message_id = %id, "unreadable dead letter dropped");
            continue;
        };
        if let Err(e) = pipeline::dead_letter(app, &message).await {
            tracing::warn!(error = %e, campaign_id = %message.campaign_id, "dead-letter handling failed; will retry");
            response.add_failure(id);
        }
    }
    response
}

/// Runs the dead-letter function until the runtime stops.
pub async fn run_dead_letters(app: Arc<App>) -> Result<(), Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let app = app.clone();
            async move { Ok::<_, Error>(handle_dead_letters(&app, event.payload).await) }
        },
    ))
    .await
}

/// Runs the shared router as this function's handler until the runtime stops.
pub async fn run_api(app: Arc<App>) -> Result<(), Error> {
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, Error>(to_lambda_response(handle(&app, to_api_request(req)).await)) }
    }))
    .await
}

/// A record's message id and, when its body is one, its stage message.
fn read_record(
    record: &aws_lambda_events::event::sqs::SqsMessage,
) -> (String, Option<StageMessage>) {
    let id = record.message_id.clone().unwrap_or_default();
    let message = record
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok());
    (id, message)
}

/// Hands a received message back to its queue early: SQS shows it again after
/// `delay_secs` instead of after the queue's visibility timeout.
#[async_trait::async_trait]
pub trait RetryReceived: Send + Sync {
    async fn retry_received(
        &self,
        stage: &str,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> crate::ports::StoreResult<()>;
}

/// Runs one SQS batch through the pipeline. Failed records are reported individually
/// (`ReportBatchItemFailures`), so only they come back; after the queue's
/// `maxReceiveCount` SQS moves them to the dead-letter queue. A stage that failed (rather
/// than the function dying mid-stage) released its claim, so its message is made visible
/// again after a backoff (30, 60, 120, 240 s by receive count, then at once, to be
/// dead-lettered) instead of the queue's visibility timeout, which must outlast a whole
/// stage: a campaign that fails every time is failed and refunded in about 7.5 minutes,
/// not after five visibility timeouts (an hour with the template's 720 s).
pub async fn handle_sqs_batch(
    app: &App,
    event: SqsEvent,
    retry: &dyn RetryReceived,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let (id, message) = read_record(&record);
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
                let receives = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(1);
                let delay_ms = retry_backoff_ms(FAILED_RETRY_MS, receives, MAX_VISIBILITY_MS);
                let delay_secs = u32::try_from(delay_ms / 1000).unwrap_or(0);
                tracing::warn!(error = %e, stage = %message.stage, campaign_id = %message.campaign_id, receives, retry_in_secs = delay_secs, "stage failed; SQS will retry");
                if let Some(receipt) = record.receipt_handle.as_deref() {
                    if let Err(e) = retry
                        .retry_received(&message.stage, receipt, delay_secs)
                        .await
                    {
                        // The queue's visibility timeout brings it back instead.
                        tracing::warn!(error = %e, campaign_id = %message.campaign_id, "could not shorten the failed message's visibility");
                    }
                }
                false
            }
        };
        if !ok {
            response.add_failure(id);
        }
    }
    response
}

/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY_MS: i64 = 12 * 3600 * 1000;
/// The first retry of a failed stage on AWS: 30 s, then 60, 120 and 240 s. Longer than
/// the local server's 2 s because most failures there are a service's (Bedrock or Polly
/// throttling, a DynamoDB outage): the five receives span 7.5 minutes of trouble before
/// the campaign is failed and refunded, where the 720 s visibility timeout made it an
/// hour.
const FAILED_RETRY_MS: i64 = 30_000;

/// Runs a queue consumer function until the runtime stops.
pub async fn run_sqs(app: Arc<App>, store: Arc<AwsStore>) -> Result<(), Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let (app, store) = (app.clone(), store.clone());
            async move { Ok::<_, Error>(handle_sqs_batch(&app, event.payload, &*store).await) }
        },
    ))
    .await
}
