//! What every benchmark reports besides its printed lines: when `BENCH_JSON` names a
//! file, the bench writes its figures there as JSON for `infra/bench.sh`'s report.
//! Included with `#[path]` by the benches of both crates.

/// The cores this process may use (the figure every result is quoted with).
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0)
}

/// Writes `value` (plus the machine's cores) to `$BENCH_JSON`, if set.
pub fn write_json(mut value: serde_json::Value) {
    let Ok(path) = std::env::var("BENCH_JSON") else {
        return;
    };
    value["machine_cores"] = serde_json::json!(cores());
    let text = serde_json::to_string_pretty(&value).expect("bench json");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {path}: {e}"));
}

/// The value at fraction `p` (0..=1) of an ascending list of microseconds, in ms.
pub fn pct_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// A latency distribution for charts: `[percentile, ms]` pairs from 0 to 100.
pub fn distribution_ms(sorted_us: &[u64]) -> serde_json::Value {
    let mut points: Vec<f64> = (0..=100).map(f64::from).collect();
    points.extend([99.5, 99.9]);
    points.sort_by(f64::total_cmp);
    serde_json::Value::Array(
        points
            .into_iter()
            .map(|p| serde_json::json!([p, pct_ms(sorted_us, p / 100.0)]))
            .collect(),
    )
}
