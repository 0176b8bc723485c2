//! Lambda entry point: the dashboard's page, script, style sheet and icon (`/`, `/index.html`, `/app.js`, `/app.css`, `/icon.svg`), with a policy that also allows the media bucket's origin. No AWS client at all.

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_dashboard().await
}
