//! Fuzzes the end-clip duration reader (shared/core/src/mp4.rs): any bytes end with a
//! duration or an error, never a panic, a hang or a fragmented file measured.
//! The checks live in `reelforge_core::fuzzing::mp4_duration`, shared with shared/core/tests/core/fuzz_corpus.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reelforge_core::fuzzing::mp4_duration(data));
