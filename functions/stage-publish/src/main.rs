//! Lambda entry point: Stage `publish`: uploads to YouTube and TikTok destinations (the only function that may decrypt their credentials). Clients are built once at cold start.

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Publish]).await
}
