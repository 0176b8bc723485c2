//! Lambda entry point: Pipeline stages `collect` (fetch the page through the guard) and `process` (Chromium screens). Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let (app, store) = reelforge::lambda::aws_parts().await;
    reelforge::lambda::run_sqs(app, store).await
}
