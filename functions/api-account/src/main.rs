//! Lambda entry point: GET /api/v1/account: plan, usage, totals, keys, profiles, recent videos. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_api().await
}
