//! Lambda entry point: Style profiles: CRUD under /api/v1/font-profiles, media-profiles, voice-profiles, playlists and voices. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_api().await
}
