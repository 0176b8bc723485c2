//! Lambda entry point: GET /api/v1/account: plan, usage, totals, keys, profiles, recent videos. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let app = reelforge::lambda::aws_app().await;
    reelforge::lambda::run_api(app).await
}
