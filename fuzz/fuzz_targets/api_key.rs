//! Fuzzes the API key format, hash, display form and header reading (shared/src/keys.rs).
//! The checks live in `reelforge_core::fuzzing::api_key`, shared with shared/core/tests/core/fuzz_corpus.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reelforge_core::fuzzing::api_key(data));
