//! reelforge core: the records, plans, limiter, keys, pricing, request bodies, styles,
//! render plans, webhook signatures and the port traits every backend implements. Pure
//! data and rules: no async runtime, no AWS SDK, no SQLite.

pub mod clock;
pub mod create_body;
pub mod edit;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod ids;
pub mod keys;
pub mod layout;
pub mod limiter;
pub mod listing;
pub mod media_key;
pub mod model;
pub mod mp4;
pub mod page;
pub mod plans;
pub mod ports;
pub mod pricing;
pub mod publish;
pub mod render;
pub mod render_parts;
pub mod scratch;
pub mod script;
pub mod signature;
pub mod sound;
pub mod stats;
pub mod storyboard;
mod string_enum;
pub mod styles;
pub mod views;
pub mod voice;
pub mod voice_engine;
