//! The local backend's own parts: the secret sealer.

mod permissions;
mod secrets;
