//! The core crate: style profiles, webhook signature snippets, the fuzz corpus replayed.

mod fuzz_corpus;
mod styles;
mod webhook_snippets;
