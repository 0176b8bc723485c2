//! Black-box tests over HTTP against the real `reelforge serve` binary: the API contract,
//! the command line, estimates, webhooks, style profiles, and from review to published.

mod api;
mod browser;
mod cli;
mod dashboard;
mod estimate;
mod hardening;
mod profiles;
mod publish;
mod webhooks;
