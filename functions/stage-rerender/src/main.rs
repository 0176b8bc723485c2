//! Lambda entry point: Stage `rerender`: an edited script spoken with Polly and rendered again with MediaConvert. Clients are built once at cold start.

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Rerender]).await
}
