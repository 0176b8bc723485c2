//! reelforge on one machine: the SQLite store and queue, the media directory, the local
//! secret sealer, the stage workers, the HTTP server and the local stack (`serve`, `demo`).

mod sample_site;
mod secrets;
mod server;
mod stack;
mod store;
mod tools;
mod worker;

pub use sample_site::serve as serve_sample_site;
pub use secrets::LocalKeySealer;
pub use server::{serve, serve_with_limits, ServerLimits};
pub use stack::{LocalStack, LocalStackOptions, DEFAULT_STAGE_TIMEOUT_SECS};
pub use store::{LocalStore, Received, LINK_PATH_PREFIX};
pub use tools::{ffmpeg_settings, local_tools};
pub use worker::{WorkerSet, VISIBILITY_MS};
