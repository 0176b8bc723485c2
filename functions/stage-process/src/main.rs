//! Lambda entry point: Pipeline stage `process` (Chromium screens of the collected pages). Its
//! own function, so the role Chromium runs under reaches only the S3 work prefix and the
//! items of its campaigns. Clients are built once at cold start.

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Process]).await
}
