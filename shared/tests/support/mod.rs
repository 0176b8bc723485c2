//! Shared helpers for the integration tests. Each test binary compiles this module on its
//! own, so a helper one binary does not use is not dead code.
#![allow(dead_code)]

pub mod api;
pub mod moto;
