//! Lambda entry point: Messages that exhausted their receives: the campaign fails in its stage (quota refunded once), or the webhook event is marked failed. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_dead_letters().await
}
