//! Lambda entry point: Style profiles: CRUD under /api/v1/font-profiles, media-profiles, voice-profiles, playlists and voices. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let app = reelforge::lambda::aws_app().await;
    reelforge::lambda::run_api(app).await
}
