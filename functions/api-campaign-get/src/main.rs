//! Lambda entry point: builds the clients once at cold start and runs the shared router.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let app = reelforge::lambda::aws_app().await;
    reelforge::lambda::run_api(app).await
}
