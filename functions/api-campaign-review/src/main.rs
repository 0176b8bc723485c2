//! Lambda entry point: review actions (SPEC §11): PUT a video's script, POST publish. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_api().await
}
