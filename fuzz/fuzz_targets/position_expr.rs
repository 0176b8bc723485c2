//! Fuzzes the overlay position-expression parser (shared/src/styles/expr.rs).
//! The checks live in `reelforge_core::fuzzing::position_expr`, shared with shared/core/tests/core/fuzz_corpus.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reelforge_core::fuzzing::position_expr(data));
