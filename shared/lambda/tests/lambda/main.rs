//! The Lambda adapters driven by the sample events in `events/`.

mod dashboard;
mod fanout;
mod lambda_events;
mod render_events;
