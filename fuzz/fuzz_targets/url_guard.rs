//! Fuzzes the URL / public-address guard without DNS (shared/src/guard.rs).
//! The checks live in `reelforge_core::fuzzing::url_guard`, shared with shared/core/tests/core/fuzz_corpus.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reelforge_core::fuzzing::url_guard(data));
