//! Lambda entry point: "MediaConvert Job State Change" events (EventBridge): videos ready, or the campaign failed. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let app = reelforge::lambda::aws_app().await;
    reelforge::lambda::run_render_events(app).await
}
