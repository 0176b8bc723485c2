//! Lambda entry point: Messages that exhausted their receives: the campaign fails in its stage (quota refunded once), or the webhook event is marked failed. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let app = reelforge::lambda::aws_app().await;
    reelforge::lambda::run_dead_letters(app).await
}
