//! reelforge: turns a product page into short demo videos. This library holds everything
//! the Lambda functions and the local `reelforge` command share: the API, the ports and
//! their two backends.

pub mod admin;
pub mod api;
pub mod backend;
pub mod capture;
pub mod clock;
pub mod create_body;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod keys;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod limiter;
pub mod local_stack;
pub mod media;
pub mod model;
pub mod net;
pub mod page;
pub mod pipeline;
pub mod plans;
pub mod ports;
pub mod pricing;
pub mod sample_site;
pub mod script;
pub mod server;
pub mod styles;
pub mod telemetry;
pub mod views;
pub mod webhooks;
