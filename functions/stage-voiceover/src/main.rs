//! Lambda entry point: Pipeline stage `voiceover`: Amazon Polly audio and word timings. Clients are built once at cold start.

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Voiceover]).await
}
