//! Lambda entry point: builds the clients once at cold start and runs the shared router.

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_api().await
}
