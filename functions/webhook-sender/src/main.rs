//! Lambda entry point for webhook deliveries (SQS, ReportBatchItemFailures): clients are

use reelforge_lambda::Stage;

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_stages(&[Stage::Webhook]).await
}
