//! How long a `/proc` snapshot of every process on this machine takes.
//!
//! `cargo run --release -p postwatch-inuse --example snapshot_cost [-- RUNS]`: takes the
//! snapshot RUNS times (default 20) and prints the median and worst wall time with the
//! number of processes and files seen; exits non-zero when the median is over 100 ms.

use postwatch_inuse::snapshot;
use std::time::{Duration, Instant};

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let snap = snapshot::take(&snapshot::proc_root());
        times.push(started.elapsed());
        last = Some(snap);
    }
    times.sort();
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    let snap = last.unwrap_or_default();
    let files: usize = snap.processes.iter().map(|p| p.uses.len()).sum();
    println!(
        "snapshot: {} processes ({} unreadable), {} file uses; median {:.1} ms, worst {:.1} ms over {runs} runs (goal < 100 ms)",
        snap.processes.len(),
        snap.unreadable,
        files,
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    if median >= Duration::from_millis(100) {
        std::process::exit(1);
    }
}
