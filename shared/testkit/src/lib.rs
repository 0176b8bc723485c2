//! Test helpers shared by the integration tests of every crate (a dev-dependency only).

pub mod api;
pub mod bench_report;
pub mod fault_proxy;
pub mod faults;
pub mod media;
pub mod moto;
pub mod openapi;
pub mod providers;
pub mod receiver;
pub mod server;
pub mod sqlite_lock;
pub mod stub_aws;
