//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) and every saved crash
//! (`fuzz/regressions/<target>/`) through the same checks the fuzz targets run
//! (`reelforge_core::fuzzing`), on the stable toolchain and without the fuzz crate. See
//! docs/fuzzing.md.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The regular files of `dir` (none when it does not exist), in name order.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read corpus entry").path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

/// Runs every corpus and regression input of `target` through `check`; fails listing each
/// input whose check failed, and fails if the corpus is missing or empty.
fn replay(target: &str, check: fn(&[u8])) {
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is missing or empty: the corpus is checked in"
    );
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    let mut failures = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("read corpus input");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs failed:\n{}",
        failures.len(),
        corpus.len() + regressions.len(),
        failures.join("\n")
    );
}

#[test]
fn create_body_corpus() {
    replay("create_body", reelforge_core::fuzzing::create_body);
}

#[test]
fn api_key_corpus() {
    replay("api_key", reelforge_core::fuzzing::api_key);
}

#[test]
fn url_guard_corpus() {
    replay("url_guard", reelforge_core::fuzzing::url_guard);
}

#[test]
fn position_expr_corpus() {
    replay("position_expr", reelforge_core::fuzzing::position_expr);
}

#[test]
fn mp4_duration_corpus() {
    replay("mp4_duration", reelforge_core::fuzzing::mp4_duration);
}
