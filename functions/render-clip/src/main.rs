//! Lambda entry point: one part of a video (a scene's clip, the end clip or the
//! soundtrack) rendered with ffmpeg per message; the run that completes the set joins the
//! parts and creates the MediaConvert stitch job (docs/video.md, "On AWS").

#[tokio::main]
async fn main() -> Result<(), reelforge_lambda::Error> {
    reelforge_lambda::init_logs();
    reelforge_lambda::run_render_clips().await
}
