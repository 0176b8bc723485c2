//! Lambda entry point for webhook deliveries (SQS, ReportBatchItemFailures): clients are
//! built once at cold start; each batch runs through the shared pipeline.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let (app, store) = reelforge::lambda::aws_parts().await;
    reelforge::lambda::run_sqs(app, store).await
}
