//! reelforge's use cases over the ports: the API handlers, the campaign lifecycle, the
//! pipeline stages and the webhook sender. Backends come in as trait objects.

pub mod admin;
pub mod api;
mod context;
pub mod dashboard;
pub mod lifecycle;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod telemetry;

pub use context::{
    Context, Ports, PublishConfig, Tools, DEFAULT_LEASE_MS, DEFAULT_RENDER_DEADLINE_MS,
    DEFAULT_RETRY_DELAYS, YOUTUBE_CHUNK_UNIT,
};
