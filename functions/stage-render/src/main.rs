//! Lambda entry point: Pipeline stage `render`: one MediaConvert job per video, and the periodic check of unfinished jobs. Clients are built once at cold start.

#[tokio::main]
async fn main() -> Result<(), reelforge::lambda::Error> {
    reelforge::telemetry::init_json();
    let (app, store) = reelforge::lambda::aws_parts().await;
    reelforge::lambda::run_sqs(app, store).await
}
