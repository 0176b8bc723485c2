//! reelforge on one machine: the SQLite store and queue, the media directory, the local
//! secret sealer, the stage workers, the HTTP server and the local stack (`serve`, `demo`).

pub mod sample_site;
pub mod secrets;
pub mod server;
pub mod stack;
pub mod store;
pub mod tools;
pub mod worker;
