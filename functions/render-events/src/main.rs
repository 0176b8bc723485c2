//! Lambda entry point: "MediaConvert Job State Change" events (EventBridge): videos ready, or the campaign failed. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_render_events().await
}
