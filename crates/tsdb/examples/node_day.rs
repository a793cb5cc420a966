//! Benchmark: node_exporter-like series (100 hosts × 100 series by default) scraped every
//! 15 s for a simulated day, appended in remote_write-sized batches from several threads,
//! then flushed and compacted. Reports append rate, bytes on disk per sample, select
//! latency and peak RSS.
//!
//! ```text
//! cargo run --release -p postwatch-tsdb --example node_day -- [--hosts 100] [--hours 24]
//!     [--threads 2] [--batch 1000] [--dir PATH]
//! ```
//!
//! Value shapes follow what node_exporter exposes: CPU seconds counters in 1/100 s steps
//! with noisy rates, byte and packet counters with bursty integer increments, error
//! counters that stay at zero, memory and filesystem gauges moving in 4 KiB pages, load
//! averages with two decimals, and constants (info metrics, sizes, boot time).
//! Timestamps are exact 15 s steps with a fixed per-host offset, as Prometheus'
//! scrape scheduler produces.

use postwatch_model::metrics::{LabelMatcher, Labels, MatchOp, Sample, Series, SeriesSource};
use postwatch_tsdb::{Options, Store};
use std::time::{Duration, Instant};

const STEP_MS: i64 = 15_000;
const SERIES_PER_HOST: usize = 100;

#[derive(Clone, Copy)]
enum Shape {
    /// Counter: increment per step around `rate`, with relative noise, rounded to 10^-decimals.
    Counter {
        rate: f64,
        noise: f64,
        decimals: i32,
    },
    /// Gauge: random walk of ±`step` around a base, rounded to multiples of `quantum`.
    Gauge {
        base: f64,
        step: f64,
        quantum: f64,
    },
    Constant(f64),
}

struct SimSeries {
    labels: Labels,
    shape: Shape,
    value: f64,
    rng: fastrand::Rng,
}

impl SimSeries {
    fn next(&mut self) -> f64 {
        match self.shape {
            Shape::Counter {
                rate,
                noise,
                decimals,
            } => {
                let scale = 10f64.powi(decimals);
                let increment = (rate * (1.0 + noise * (self.rng.f64() * 2.0 - 1.0))).max(0.0);
                self.value = ((self.value + increment) * scale).round() / scale;
            }
            Shape::Gauge {
                base,
                step,
                quantum,
            } => {
                let moved = self.value + step * (self.rng.f64() * 2.0 - 1.0);
                // Drift back towards the base so gauges stay in range all day.
                let pulled = moved + (base - moved) * 0.01;
                // Fractional quanta as decimal text parses them (k / 100, not k × 0.01).
                self.value = if quantum < 1.0 {
                    let inverse = (1.0 / quantum).round();
                    (pulled * inverse).round() / inverse
                } else {
                    (pulled / quantum).round() * quantum
                };
            }
            Shape::Constant(v) => self.value = v,
        }
        self.value
    }
}

fn host_series(host: usize, seed: u64) -> Vec<SimSeries> {
    let instance = format!("host-{host}:9100");
    let mut out = Vec::with_capacity(SERIES_PER_HOST);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut add = |name: &str, extra: &[(&str, String)], shape: Shape, rng: &mut fastrand::Rng| {
        let mut pairs: Vec<(String, String)> = vec![
            ("__name__".into(), name.into()),
            ("instance".into(), instance.clone()),
            ("job".into(), "node".into()),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let start = match shape {
            Shape::Counter { rate, .. } => (rate * rng.f64() * 1e6).round(),
            Shape::Gauge { base, quantum, .. } => (base / quantum).round() * quantum,
            Shape::Constant(v) => v,
        };
        out.push(SimSeries {
            labels: Labels::from_pairs(pairs),
            shape,
            value: start,
            rng: fastrand::Rng::with_seed(rng.u64(..)),
        });
    };
    let modes = [
        ("idle", 13.0),
        ("user", 1.2),
        ("system", 0.5),
        ("iowait", 0.05),
        ("irq", 0.0),
        ("softirq", 0.02),
        ("steal", 0.0),
        ("nice", 0.0),
    ];
    for cpu in 0..4 {
        for (mode, rate) in modes {
            let shape = if rate == 0.0 {
                Shape::Constant(0.0)
            } else {
                Shape::Counter {
                    rate,
                    noise: 0.3,
                    decimals: 2,
                }
            };
            add(
                "node_cpu_seconds_total",
                &[("cpu", cpu.to_string()), ("mode", mode.to_string())],
                shape,
                &mut rng,
            );
        }
    }
    let memory = [
        "MemTotal",
        "MemFree",
        "MemAvailable",
        "Buffers",
        "Cached",
        "SwapCached",
        "Active",
        "Inactive",
        "Dirty",
        "Writeback",
        "AnonPages",
        "Mapped",
        "Shmem",
        "Slab",
        "SReclaimable",
        "SUnreclaim",
        "KernelStack",
        "PageTables",
        "Committed_AS",
        "SwapFree",
    ];
    for (i, field) in memory.iter().enumerate() {
        let base = (1u64 << (24 + i % 10)) as f64;
        let shape = match i {
            0 | 19 => Shape::Constant(base),
            _ => Shape::Gauge {
                base,
                step: 4096.0 * (1 + i % 5) as f64 * 8.0,
                quantum: 4096.0,
            },
        };
        add(&format!("node_memory_{field}_bytes"), &[], shape, &mut rng);
    }
    for device in ["eth0", "eth1", "lo", "docker0"] {
        let busy = if device == "eth0" { 1.0 } else { 0.05 };
        for (metric, rate) in [
            ("receive_bytes", 2e6 * busy),
            ("transmit_bytes", 8e5 * busy),
            ("receive_packets", 1.5e3 * busy),
        ] {
            add(
                &format!("node_network_{metric}_total"),
                &[("device", device.to_string())],
                Shape::Counter {
                    rate,
                    noise: 0.8,
                    decimals: 0,
                },
                &mut rng,
            );
        }
        add(
            "node_network_receive_errs_total",
            &[("device", device.to_string())],
            Shape::Constant(0.0),
            &mut rng,
        );
    }
    for device in ["sda", "nvme0n1"] {
        for (metric, rate, decimals) in [
            ("reads_completed", 40.0, 0),
            ("writes_completed", 120.0, 0),
            ("read_bytes", 4096.0 * 300.0, 0),
            ("written_bytes", 4096.0 * 900.0, 0),
            ("io_time_seconds", 0.8, 3),
            ("read_time_seconds", 0.2, 3),
            ("write_time_seconds", 0.9, 3),
            ("discards_completed", 0.0, 0),
        ] {
            let shape = if rate == 0.0 {
                Shape::Constant(0.0)
            } else {
                Shape::Counter {
                    rate,
                    noise: 0.9,
                    decimals,
                }
            };
            add(
                &format!("node_disk_{metric}_total"),
                &[("device", device.to_string())],
                shape,
                &mut rng,
            );
        }
    }
    for mountpoint in ["/", "/var", "/home"] {
        let size = 107_374_182_400.0;
        let extra = [
            ("mountpoint", mountpoint.to_string()),
            ("fstype", "ext4".to_string()),
        ];
        add(
            "node_filesystem_size_bytes",
            &extra,
            Shape::Constant(size),
            &mut rng,
        );
        add(
            "node_filesystem_avail_bytes",
            &extra,
            Shape::Gauge {
                base: size * 0.4,
                step: 4096.0 * 64.0,
                quantum: 4096.0,
            },
            &mut rng,
        );
        add(
            "node_filesystem_files",
            &extra,
            Shape::Constant(6_553_600.0),
            &mut rng,
        );
        add(
            "node_filesystem_files_free",
            &extra,
            Shape::Gauge {
                base: 5_000_000.0,
                step: 20.0,
                quantum: 1.0,
            },
            &mut rng,
        );
    }
    for load in ["node_load1", "node_load5", "node_load15"] {
        add(
            load,
            &[],
            Shape::Gauge {
                base: 1.5,
                step: 0.1,
                quantum: 0.01,
            },
            &mut rng,
        );
    }
    add(
        "node_uname_info",
        &[("release", "6.1.0-18-amd64".to_string())],
        Shape::Constant(1.0),
        &mut rng,
    );
    out
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn time_select(
    store: &Store,
    matchers: &[LabelMatcher],
    start: i64,
    end: i64,
) -> (Duration, usize, usize) {
    let mut best = Duration::MAX;
    let mut shape = (0, 0);
    for _ in 0..5 {
        let begin = Instant::now();
        let result = store.select(matchers, start, end).expect("select");
        best = best.min(begin.elapsed());
        shape = (result.len(), result.iter().map(|s| s.samples.len()).sum());
    }
    (best, shape.0, shape.1)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let hosts: usize = arg(&args, "--hosts").map_or(Ok(100), |v| v.parse())?;
    let hours: i64 = arg(&args, "--hours").map_or(Ok(24), |v| v.parse())?;
    let threads: usize = arg(&args, "--threads").map_or(Ok(2), |v| v.parse())?;
    let batch_size: usize = arg(&args, "--batch").map_or(Ok(1000), |v| v.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = arg(&args, "--dir").map_or_else(|| temp.path().to_path_buf(), Into::into);

    let steps = hours * 3600 * 1000 / STEP_MS;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start = (now - hours * 3_600_000) / STEP_MS * STEP_MS;
    let store = std::sync::Arc::new(Store::open(
        &dir,
        Options {
            out_of_order_window_ms: 0,
            retention_time_ms: None,
            ..Options::default()
        },
    )?);
    let mut all: Vec<SimSeries> = (0..hosts)
        .flat_map(|h| host_series(h, h as u64 + 1))
        .collect();
    let total_series = all.len();
    println!(
        "{total_series} series, {steps} steps of 15 s ({hours} h), {threads} appending threads, batches of {batch_size}"
    );
    // Each thread owns a slice of the hosts, as separate remote_write senders would.
    let per_thread = total_series.div_ceil(threads);
    let mut parts: Vec<Vec<SimSeries>> = Vec::new();
    while !all.is_empty() {
        let rest = all.split_off(per_thread.min(all.len()));
        parts.push(std::mem::replace(&mut all, rest));
    }
    let began = Instant::now();
    let handles: Vec<_> = parts
        .into_iter()
        .map(|mut part| {
            let store = store.clone();
            std::thread::spawn(move || -> Result<usize, String> {
                let mut appended = 0;
                for step in 0..steps {
                    let mut batch = Vec::with_capacity(batch_size);
                    for (i, sim) in part.iter_mut().enumerate() {
                        let host_offset = (i / SERIES_PER_HOST) as i64 * 37 % STEP_MS;
                        batch.push(Series {
                            labels: sim.labels.clone(),
                            samples: vec![Sample {
                                timestamp_ms: start + step * STEP_MS + host_offset,
                                value: sim.next(),
                            }],
                        });
                        if batch.len() == batch_size {
                            let outcome = store.append_batch(&batch).map_err(|e| e.to_string())?;
                            if !outcome.rejected.is_empty() {
                                return Err(format!("{:?}", outcome.rejected[0]));
                            }
                            appended += outcome.accepted;
                            batch.clear();
                        }
                    }
                    if !batch.is_empty() {
                        let outcome = store.append_batch(&batch).map_err(|e| e.to_string())?;
                        appended += outcome.accepted;
                    }
                }
                Ok(appended)
            })
        })
        .collect();
    let mut appended = 0;
    for handle in handles {
        appended += handle.join().map_err(|_| "appender panicked")??;
    }
    let ingest = began.elapsed();
    println!(
        "appended {appended} samples in {:.1} s: {:.0} samples/s (WAL fsync per batch, background cuts)",
        ingest.as_secs_f64(),
        appended as f64 / ingest.as_secs_f64()
    );
    let before = store.stats();
    println!(
        "before flush: {} blocks, head {} samples, {:.1} MiB on disk",
        before.blocks.len(),
        before.head_samples,
        before.bytes_on_disk as f64 / 1048576.0
    );
    let began = Instant::now();
    store.flush()?;
    store.compact_all()?;
    let stats = store.stats();
    println!(
        "flush + compaction: {:.1} s; {} blocks ({} samples), WAL {} bytes",
        began.elapsed().as_secs_f64(),
        stats.blocks.len(),
        stats.block_samples,
        stats.wal_bytes
    );
    println!(
        "bytes on disk: {} = {:.3} bytes/sample (blocks alone {:.3})",
        stats.bytes_on_disk,
        stats.bytes_on_disk as f64 / appended as f64,
        stats.block_bytes as f64 / appended as f64
    );
    println!(
        "peak RSS through ingest and compaction: {:.0} MiB",
        peak_rss_mib()
    );
    let end = start + steps * STEP_MS;
    let host = LabelMatcher::equal("instance", "host-7:9100");
    let (t, n, samples) = time_select(&store, &[host], start, end);
    println!(
        "select one host's {n} series over the whole range ({samples} samples): {:.1} ms",
        t.as_secs_f64() * 1000.0
    );
    let cpu = LabelMatcher::equal("__name__", "node_cpu_seconds_total");
    let (t, n, samples) = time_select(&store, std::slice::from_ref(&cpu), start, end);
    println!("select all {n} node_cpu_seconds_total series over the whole range ({samples} samples): {:.1} ms", t.as_secs_f64() * 1000.0);
    let idle = LabelMatcher::new("mode", MatchOp::Equal, "idle")?;
    let (t, n, samples) = time_select(&store, &[cpu, idle], end - 3_600_000, end);
    println!(
        "select {n} idle CPU series, last hour ({samples} samples): {:.1} ms",
        t.as_secs_f64() * 1000.0
    );
    println!(
        "peak RSS including query results: {:.0} MiB",
        peak_rss_mib()
    );
    Ok(())
}
