//! Range-query latency on the benchmark shape: `sum by (mode) (rate(node_cpu_seconds_total[5m]))`
//! over 10,000 in-memory series × one day at 15 s, 60 s step. `POSTWATCH_BENCH_SERIES`
//! changes the series count.

use criterion::{criterion_group, criterion_main, Criterion};
use postwatch_promql::{Engine, Labels, MemorySource, Sample, Value};
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;
const SCRAPE_MS: i64 = 15_000;
const MODES: [&str; 8] = [
    "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
];

fn source(series: usize) -> MemorySource {
    let mut source = MemorySource::new();
    for i in 0..series {
        let mode = MODES[i % MODES.len()];
        let labels = Labels::from_pairs([
            ("__name__", "node_cpu_seconds_total".to_string()),
            ("instance", format!("host-{}:9100", i / 64)),
            ("cpu", format!("{}", (i / MODES.len()) % 8)),
            ("mode", mode.to_string()),
        ]);
        let rate = 0.01 + (i % 97) as f64 * 0.001;
        let samples = (0..=DAY_MS / SCRAPE_MS).map(|k| Sample {
            timestamp_ms: k * SCRAPE_MS,
            value: k as f64 * 15.0 * rate,
        });
        source.add(labels, samples);
    }
    source
}

fn bench(c: &mut Criterion) {
    let series = std::env::var("POSTWATCH_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let source = source(series);
    let engine = Engine::default();
    let query = "sum by (mode) (rate(node_cpu_seconds_total[5m]))";
    let result = engine
        .range_query(&source, query, 0, DAY_MS, 60_000)
        .expect("benchmark query");
    match result {
        Value::Matrix(m) => assert_eq!(m.len(), MODES.len().min(series)),
        other => panic!("unexpected result {other:?}"),
    }
    let mut group = c.benchmark_group("range_query");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function(
        format!("{series} series x 1 day @15s, step 60s: {query}"),
        |b| b.iter(|| engine.range_query(&source, query, 0, DAY_MS, 60_000)),
    );
    group.bench_function(format!("{series} series instant: {query}"), |b| {
        b.iter(|| engine.instant_query(&source, query, DAY_MS / 2))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
