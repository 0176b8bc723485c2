//! Lambda entry point: Pipeline stage `render`: one MediaConvert job per video, and the periodic check of unfinished jobs. Clients are built once at cold start.

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Render]).await
}
