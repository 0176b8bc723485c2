//! Lambda entry point: Pipeline stages `collect` (fetch the page through the guard) and `process` (Chromium screens). Clients are built once at cold start.

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Collect, Stage::Process]).await
}
