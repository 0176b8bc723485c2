//! Fuzzes the POST /api/v1/campaigns body parser (shared/src/create_body.rs).
//! The checks live in `reelforge_core::fuzzing::create_body`, shared with shared/core/tests/core/fuzz_corpus.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reelforge_core::fuzzing::create_body(data));
