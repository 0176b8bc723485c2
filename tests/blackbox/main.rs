//! Black-box tests over HTTP against the real `reelforge serve` binary: the API contract,
//! the command line, estimates, webhooks and style profiles.

mod api;
mod cli;
mod estimate;
mod hardening;
mod profiles;
mod webhooks;
