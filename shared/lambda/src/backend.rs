//! The adapters of the functions that keep records and queues (the `store` feature):
//! the shared router ([`run_api`]), the pipeline stages ([`run_stages`]), dead letters
//! ([`run_dead_letters`]) and MediaConvert events ([`run_render_events`]), each with the
//! [`context`] it builds once at cold start.

use crate::{env, to_api_request, to_lambda_response, Error, Stage};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{service_fn, Request};
use reelforge_app::api::handle;
use reelforge_app::pipeline;
use reelforge_app::policy::{run_message, Disposition, RetrySchedule};
use reelforge_app::{Context, Ports, Tools};
use reelforge_aws::store::AwsStore;
use reelforge_core::model::StageMessage;
#[cfg(not(feature = "s3"))]
use reelforge_core::ports::StoreError;
use reelforge_core::ports::{MediaStore, StoreResult};
use reelforge_core::styles::secrets::SecretSealer;
use reelforge_core::styles::ProviderId;
use std::sync::Arc;

/// The context a function runs with, built once at cold start from its environment:
/// DynamoDB and SQS always; S3, KMS, Bedrock, Polly, MediaConvert and Chromium only when
/// the function was built with that feature (each function's `Cargo.toml` names what it
/// calls, so it links no other SDK). A part a function was built without answers with a
/// clear error instead.
///
/// Environment: the store's names ([`AwsNames::from_env`]), `REELFORGE_STAGE_TIMEOUT_SECS`
/// (a stage's claim, the function's timeout), `REELFORGE_VOICE_ENGINE` (the deployment's
/// voice engine, `polly` by default: the API checks voice profiles against it without a
/// Polly client), `REELFORGE_KMS_KEY_ID` (without it, storing a provider key is refused),
/// `REELFORGE_BEDROCK_MODEL_ID`, `REELFORGE_MEDIACONVERT_ROLE_ARN`,
/// `REELFORGE_MEDIACONVERT_QUEUE_ARN`, `REELFORGE_STAGE`, `REELFORGE_CHROMIUM`, and the
/// publisher's provider endpoints and retry settings (`PublishConfig::from_env`).
pub async fn context() -> (Arc<Context>, Arc<AwsStore>) {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = Arc::new(AwsStore::from_config(&config));
    let media = media_store(&config);
    let mut app = Context::new(Ports::new(store.clone(), store.clone(), media.clone()))
        .with_tools(tools(&config, media))
        .with_publishing(reelforge_app::PublishConfig::from_env());
    if let Some(sealer) = sealer(&config) {
        app = app.with_sealer(sealer);
    }
    (Arc::new(app), store)
}

#[cfg(feature = "s3")]
fn media_store(config: &aws_config::SdkConfig) -> Arc<dyn MediaStore> {
    Arc::new(reelforge_aws::s3::S3Media::from_config(config))
}

#[cfg(not(feature = "s3"))]
fn media_store(_config: &aws_config::SdkConfig) -> Arc<dyn MediaStore> {
    Arc::new(NoMedia)
}

/// The media store of a function built without S3.
#[cfg(not(feature = "s3"))]
struct NoMedia;

#[cfg(not(feature = "s3"))]
#[async_trait::async_trait]
impl MediaStore for NoMedia {
    async fn put_media(&self, _key: &str, _body: bytes::Bytes, _ct: &str) -> StoreResult<()> {
        Err(NoMedia::error())
    }
    async fn get_media(&self, _key: &str) -> StoreResult<Option<bytes::Bytes>> {
        Err(NoMedia::error())
    }
    async fn download_url(&self, _key: &str, _ttl: std::time::Duration) -> StoreResult<String> {
        Err(NoMedia::error())
    }
    async fn delete_media(&self, _key: &str) -> StoreResult<()> {
        Err(NoMedia::error())
    }
}

#[cfg(not(feature = "s3"))]
impl NoMedia {
    fn error() -> StoreError {
        StoreError::Other("this function was built without S3".into())
    }
}

#[cfg(feature = "kms")]
fn sealer(config: &aws_config::SdkConfig) -> Option<Arc<dyn SecretSealer>> {
    let key_id = env("REELFORGE_KMS_KEY_ID")?;
    Some(Arc::new(reelforge_aws::kms::KmsSealer::new(
        aws_sdk_kms_client(config),
        key_id,
    )))
}

#[cfg(feature = "kms")]
fn aws_sdk_kms_client(config: &aws_config::SdkConfig) -> reelforge_aws::kms::Client {
    reelforge_aws::kms::Client::new(config)
}

#[cfg(not(feature = "kms"))]
fn sealer(_config: &aws_config::SdkConfig) -> Option<Arc<dyn SecretSealer>> {
    None
}

/// `REELFORGE_STAGE_TIMEOUT_SECS` (1..=900, default 300) in milliseconds.
fn stage_lease_ms() -> i64 {
    env("REELFORGE_STAGE_TIMEOUT_SECS")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| (1..=900).contains(v))
        .unwrap_or(300)
        * 1000
}

/// The deployment's voice engine: `REELFORGE_VOICE_ENGINE`, `polly` by default.
fn voice_provider() -> ProviderId {
    env("REELFORGE_VOICE_ENGINE")
        .and_then(|v| ProviderId::try_from(v).ok())
        .unwrap_or(ProviderId::Polly)
}

#[allow(unused_variables, unused_mut)]
fn tools(config: &aws_config::SdkConfig, media: Arc<dyn MediaStore>) -> Tools {
    let mut tools = Tools::none(voice_provider());
    tools.lease_ms = stage_lease_ms();
    #[cfg(feature = "bedrock")]
    {
        tools.writer = Arc::new(reelforge_aws::bedrock::BedrockWriter::new(
            reelforge_aws::bedrock::Client::new(config),
            env("REELFORGE_BEDROCK_MODEL_ID")
                .unwrap_or_else(|| reelforge_aws::bedrock::DEFAULT_MODEL_ID.into()),
        ));
    }
    #[cfg(feature = "polly")]
    {
        tools.voice = Arc::new(reelforge_aws::polly::PollyVoice::new(
            reelforge_aws::polly::Client::new(config),
        ));
    }
    #[cfg(feature = "mediaconvert")]
    {
        let bucket = env("REELFORGE_MEDIA_BUCKET").unwrap_or_default();
        tools.renderer = Arc::new(reelforge_aws::fanout::FanOutRenderer {
            media,
            parts: reelforge_aws::fanout::PartQueue::from_config(
                config,
                env("REELFORGE_QUEUE_URL_PARTS").unwrap_or_default(),
            ),
            stitcher: reelforge_aws::fanout::Stitcher {
                client: reelforge_aws::mediaconvert::Client::new(config),
                role_arn: env("REELFORGE_MEDIACONVERT_ROLE_ARN").unwrap_or_default(),
                queue_arn: env("REELFORGE_MEDIACONVERT_QUEUE_ARN"),
                bucket,
                deployment_stage: env("REELFORGE_STAGE").unwrap_or_else(|| "local".into()),
            },
        });
    }
    #[cfg(feature = "capture")]
    {
        tools.capture = Arc::new(reelforge_studio::ChromiumCapture {
            options: reelforge_studio::CaptureOptions::from_env(),
        });
    }
    tools
}

/// Handles one "MediaConvert Job State Change" event (EventBridge): the job's video is
/// ready, or its campaign fails. An error makes Lambda retry the event; the render
/// message's periodic check catches anything that still slips through.
pub async fn handle_render_event(app: &Context, event: serde_json::Value) -> Result<(), Error> {
    let change = reelforge_aws::mediaconvert_events::parse_job_state_change(&event)?;
    // A script edit's job (SPEC §11) carries its edit number; the campaign is in review.
    if change
        .user_metadata
        .contains_key(reelforge_app::pipeline::rerender::EDIT_METADATA)
    {
        reelforge_app::pipeline::rerender::job_finished(app, &change).await?;
    } else {
        reelforge_app::pipeline::render::job_finished(app, &change).await?;
    }
    Ok(())
}

/// Runs the render-events function until the runtime stops.
pub async fn run_render_events() -> Result<(), Error> {
    let (app, _) = context().await;
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
pub async fn handle_dead_letters(app: &Context, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let (id, message) = read_record(&record);
        let Some(message) = message else {
            // Unreadable even here: never dropped. Reported as failed, it stays in the
            // dead-letter queue, whose own redrive moves it to the parking queue after a
            // few receives, where a person can read it (docs/deploy.md).
            tracing::error!(message_id = %id, "unreadable dead letter; left for the parking queue");
            response.add_failure(id);
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
pub async fn run_dead_letters() -> Result<(), Error> {
    let (app, _) = context().await;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let app = app.clone();
            async move { Ok::<_, Error>(handle_dead_letters(&app, event.payload).await) }
        },
    ))
    .await
}

/// Runs the shared router as this function's handler until the runtime stops.
pub async fn run_api() -> Result<(), Error> {
    let (app, _) = context().await;
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
        stage: Stage,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> StoreResult<()>;
}

#[async_trait::async_trait]
impl RetryReceived for AwsStore {
    async fn retry_received(
        &self,
        stage: Stage,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> StoreResult<()> {
        AwsStore::retry_received(self, stage, receipt_handle, delay_secs).await
    }
}

/// Runs one SQS batch through the queue-outcome policy. Failed records are reported
/// individually (`ReportBatchItemFailures`), so only they come back; after the queue's
/// `maxReceiveCount` SQS moves them to the dead-letter queue. A stage that failed (rather
/// than the function dying mid-stage) released its claim, so its message is made visible
/// again after the policy's backoff instead of the queue's visibility timeout, which must
/// outlast a whole stage.
pub async fn handle_sqs_batch(
    app: &Context,
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
        let receives = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1);
        match run_message(app, &message, receives, RetrySchedule::AWS).await {
            Disposition::Delete => {}
            Disposition::Keep => response.add_failure(id),
            Disposition::RetryAfter(delay_ms) => {
                let delay_secs = u32::try_from(delay_ms / 1000).unwrap_or(u32::MAX);
                if let Some(receipt) = record.receipt_handle.as_deref() {
                    if let Err(e) = retry
                        .retry_received(message.stage, receipt, delay_secs)
                        .await
                    {
                        // The queue's visibility timeout brings it back instead.
                        tracing::warn!(error = %e, campaign_id = %message.campaign_id, "could not shorten the failed message's visibility");
                    }
                }
                response.add_failure(id);
            }
        }
    }
    response
}

/// Runs the consumer of the queues of `stages` until the runtime stops. A message of
/// another stage (a queue wired to the wrong function) is logged and left to the
/// dead-letter queue rather than run where its tools may be missing.
pub async fn run_stages(stages: &'static [Stage]) -> Result<(), Error> {
    let (app, store) = context().await;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let (app, store) = (app.clone(), store.clone());
            async move {
                let mut batch = event.payload;
                let (mine, foreign): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut batch.records).into_iter().partition(|r| {
                        read_record(r).1.is_none_or(|m| stages.contains(&m.stage))
                    });
                batch.records = mine;
                let mut response = handle_sqs_batch(&app, batch, &*store).await;
                for record in foreign {
                    tracing::error!(message_id = ?record.message_id, expected = ?stages, "a message of another stage reached this function");
                    response.add_failure(record.message_id.unwrap_or_default());
                }
                Ok::<_, Error>(response)
            }
        },
    ))
    .await
}
