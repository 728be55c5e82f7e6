//! Small pieces the benchmark drivers under `crates/gantry/benches` share.

use std::future::Future;

/// The `p`th percentile (0–100, nearest rank) of `sorted`; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The count a bench runs with: `var` from the environment, else `default`.
pub fn count_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs a bench on a two-worker runtime; exits 1 listing the problems it returns (leaks,
/// failed checks), so a bench that finds one fails like a test.
pub fn run_checked<F: Future<Output = Vec<String>>>(bench: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("binary: {}", crate::gantry_bin().display());
    let problems = rt.block_on(bench);
    if !problems.is_empty() {
        eprintln!("FAILED: {problems:#?}");
        std::process::exit(1);
    }
}
