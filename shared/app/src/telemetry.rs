//! Logging set-up: JSON lines on Lambda (CloudWatch parses them), compact text locally.
//! `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .without_time()
        .try_init();
}

pub fn init_text() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
}
