//! reelforge's outbound network: the operating system resolver and the HTTP client that
//! connects only to the public addresses it checked (pinned, every redirect hop re-checked).

pub mod client;
mod resolver;

pub use resolver::SystemResolver;
