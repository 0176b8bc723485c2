//! Lambda entry point: Pipeline stage `collect` (fetch the page and its `hreflang` pages
//! through the public-address guard). Capture runs in `stage-process`. Clients are built
//! once at cold start.

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Collect]).await
}
