//! A remote_write load for benchmarks (`bench/metrics-vs-prometheus.py`): node_exporter-like
//! series (hosts × CPU modes, memory, disks, network, load) with realistic value shapes,
//! encoded once to a file so every store receives byte-identical requests, then replayed.
//!
//!   remote_write_load generate --out FILE --series 10000 --hours 24 --start-ms MS
//!   remote_write_load send --in FILE --url URL [--bearer TOKEN] [--concurrency 2]
//!
//! `send` prints `{"samples":…,"requests":…,"seconds":…,"errors":…}`.

use postwatch_metricsio::remote_write::encode_write_request;
use postwatch_model::metrics::{Labels, Sample, Series};
use std::io::{BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const STEP_MS: i64 = 15_000;
/// Samples per series in one request, and series per request (Prometheus' sender sends
/// up to a few thousand samples per request).
const SAMPLES_PER_ENTRY: usize = 10;
const SERIES_PER_REQUEST: usize = 200;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// One series' shape: how its value moves each step.
enum Shape {
    /// A counter growing by `rate` per step with ±`noise` relative jitter, rounded to
    /// `quantum` (CPU seconds in 0.01, bytes in 1).
    Counter {
        rate: f64,
        noise: f64,
        quantum: f64,
    },
    /// A gauge wandering around `base` by ±`spread`, rounded to `quantum`.
    Gauge {
        base: f64,
        spread: f64,
        quantum: f64,
    },
    Constant(f64),
}

fn series_set(count: usize) -> Vec<(Labels, Shape)> {
    let mut out = Vec::with_capacity(count);
    let mut host = 0;
    while out.len() < count {
        let instance = format!("host-{host:03}:9100");
        let base = |name: &str| {
            vec![
                ("__name__", name.to_string()),
                ("instance", instance.clone()),
                ("job", "node".to_string()),
            ]
        };
        for cpu in 0..8 {
            for (mode, rate) in [
                ("idle", 12.0),
                ("user", 1.5),
                ("system", 0.6),
                ("iowait", 0.1),
                ("irq", 0.0),
                ("softirq", 0.05),
                ("steal", 0.01),
                ("nice", 0.0),
            ] {
                let mut l = base("node_cpu_seconds_total");
                l.push(("cpu", cpu.to_string()));
                l.push(("mode", mode.to_string()));
                out.push((
                    Labels::from_pairs(l),
                    Shape::Counter {
                        rate,
                        noise: 0.3,
                        quantum: 0.01,
                    },
                ));
            }
        }
        for (name, value) in [
            ("node_memory_MemTotal_bytes", 16.0e9),
            ("node_memory_SwapTotal_bytes", 2.0e9),
        ] {
            out.push((Labels::from_pairs(base(name)), Shape::Constant(value)));
        }
        for (name, value) in [
            ("node_memory_MemAvailable_bytes", 9.0e9),
            ("node_memory_MemFree_bytes", 3.0e9),
            ("node_memory_Cached_bytes", 5.0e9),
            ("node_memory_Buffers_bytes", 4.0e8),
        ] {
            out.push((
                Labels::from_pairs(base(name)),
                Shape::Gauge {
                    base: value,
                    spread: value * 0.02,
                    quantum: 4096.0,
                },
            ));
        }
        for (name, value) in [
            ("node_load1", 0.8),
            ("node_load5", 0.7),
            ("node_load15", 0.6),
        ] {
            out.push((
                Labels::from_pairs(base(name)),
                Shape::Gauge {
                    base: value,
                    spread: 0.3,
                    quantum: 0.01,
                },
            ));
        }
        for device in ["eth0", "eth1", "lo"] {
            for (name, rate) in [
                ("node_network_receive_bytes_total", 40_000.0),
                ("node_network_transmit_bytes_total", 20_000.0),
                ("node_network_receive_packets_total", 300.0),
                ("node_network_transmit_packets_total", 200.0),
                ("node_network_receive_errs_total", 0.0),
                ("node_network_receive_drop_total", 0.0),
            ] {
                let mut l = base(name);
                l.push(("device", device.to_string()));
                out.push((
                    Labels::from_pairs(l),
                    Shape::Counter {
                        rate,
                        noise: 0.5,
                        quantum: 1.0,
                    },
                ));
            }
        }
        for device in ["sda", "sdb"] {
            for (name, rate) in [
                ("node_disk_reads_completed_total", 20.0),
                ("node_disk_writes_completed_total", 60.0),
                ("node_disk_read_bytes_total", 400_000.0),
                ("node_disk_written_bytes_total", 900_000.0),
                ("node_disk_io_time_seconds_total", 0.4),
            ] {
                let mut l = base(name);
                l.push(("device", device.to_string()));
                out.push((
                    Labels::from_pairs(l),
                    Shape::Counter {
                        rate,
                        noise: 0.5,
                        quantum: if rate < 1.0 { 0.001 } else { 1.0 },
                    },
                ));
            }
        }
        host += 1;
    }
    out.truncate(count);
    out
}

/// A small deterministic generator (xorshift) so every run sends the same data.
struct Rng(u64);
impl Rng {
    fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn generate(args: &[String]) -> Result<(), String> {
    let out = arg(args, "--out").ok_or("--out FILE is required")?;
    let series: usize = arg(args, "--series")
        .unwrap_or("10000".into())
        .parse()
        .map_err(|e| format!("--series: {e}"))?;
    let hours: f64 = arg(args, "--hours")
        .unwrap_or("24".into())
        .parse()
        .map_err(|e| format!("--hours: {e}"))?;
    let start_ms: i64 = arg(args, "--start-ms")
        .ok_or("--start-ms is required")?
        .parse()
        .map_err(|e| format!("--start-ms: {e}"))?;
    let steps = (hours * 3_600_000.0 / STEP_MS as f64) as usize;
    let set = series_set(series);
    let mut values: Vec<f64> = set
        .iter()
        .map(|(_, s)| match s {
            Shape::Counter { rate, .. } => rate * 1000.0,
            Shape::Gauge { base, .. } => *base,
            Shape::Constant(v) => *v,
        })
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut file = BufWriter::new(std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?);
    let mut total = 0u64;
    let mut step = 0;
    while step < steps {
        let batch_steps = SAMPLES_PER_ENTRY.min(steps - step);
        // Advance every series through this batch of steps.
        let mut samples: Vec<Vec<Sample>> = vec![Vec::with_capacity(batch_steps); set.len()];
        for k in 0..batch_steps {
            let t = start_ms + (step + k) as i64 * STEP_MS;
            for (i, (_, shape)) in set.iter().enumerate() {
                let v = match shape {
                    Shape::Counter {
                        rate,
                        noise,
                        quantum,
                    } => {
                        let grown = values[i] + rate * (1.0 + noise * rng.next_unit()).max(0.0);
                        values[i] = grown;
                        (grown / quantum).floor() * quantum
                    }
                    Shape::Gauge {
                        base,
                        spread,
                        quantum,
                    } => {
                        let drift = (values[i] + spread * 0.1 * rng.next_unit())
                            .clamp(base - spread, base + spread);
                        values[i] = drift;
                        (drift / quantum).round() * quantum
                    }
                    Shape::Constant(v) => *v,
                };
                samples[i].push(Sample {
                    timestamp_ms: t,
                    value: v,
                });
            }
        }
        for chunk_start in (0..set.len()).step_by(SERIES_PER_REQUEST) {
            let chunk_end = (chunk_start + SERIES_PER_REQUEST).min(set.len());
            let batch: Vec<Series> = (chunk_start..chunk_end)
                .map(|i| Series {
                    labels: set[i].0.clone(),
                    samples: std::mem::take(&mut samples[i]),
                })
                .collect();
            let count: usize = batch.iter().map(|s| s.samples.len()).sum();
            let body = encode_write_request(&batch, &[]);
            file.write_all(&(body.len() as u32).to_le_bytes())
                .map_err(|e| e.to_string())?;
            file.write_all(&(count as u32).to_le_bytes())
                .map_err(|e| e.to_string())?;
            file.write_all(&body).map_err(|e| e.to_string())?;
            total += count as u64;
        }
        step += batch_steps;
    }
    file.flush().map_err(|e| e.to_string())?;
    println!("{{\"samples\":{total}}}");
    Ok(())
}

fn send(args: &[String]) -> Result<(), String> {
    let input = arg(args, "--in").ok_or("--in FILE is required")?;
    let url = arg(args, "--url").ok_or("--url is required")?;
    let bearer = arg(args, "--bearer");
    let concurrency: usize = arg(args, "--concurrency")
        .unwrap_or("2".into())
        .parse()
        .map_err(|e| format!("--concurrency: {e}"))?;
    let mut reader =
        BufReader::new(std::fs::File::open(&input).map_err(|e| format!("{input}: {e}"))?);
    let mut requests: Vec<(Vec<u8>, u32)> = Vec::new();
    loop {
        let mut header = [0u8; 8];
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
        requests.push((body, count));
    }
    // Requests go out in file order (each series' samples in time order), taken by
    // `concurrency` senders from a shared cursor.
    let requests = Arc::new(requests);
    let cursor = Arc::new(Mutex::new(0usize));
    let samples = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (requests, cursor, samples, errors, first_error) = (
                requests.clone(),
                cursor.clone(),
                samples.clone(),
                errors.clone(),
                first_error.clone(),
            );
            let (url, bearer) = (url.clone(), bearer.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                loop {
                    let index = {
                        let Ok(mut c) = cursor.lock() else { return };
                        let i = *c;
                        *c += 1;
                        i
                    };
                    let Some((body, count)) = requests.get(index) else {
                        return;
                    };
                    let mut request = agent
                        .post(&url)
                        .header("Content-Encoding", "snappy")
                        .header("Content-Type", "application/x-protobuf")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0");
                    if let Some(token) = &bearer {
                        request = request.header("Authorization", &format!("Bearer {token}"));
                    }
                    match request.send(&body[..]) {
                        Ok(response) if response.status().is_success() => {
                            samples.fetch_add(u64::from(*count), Ordering::Relaxed);
                        }
                        Ok(response) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert_with(|| format!("HTTP {}", response.status()));
                            }
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert_with(|| e.to_string());
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let seconds = started.elapsed().as_secs_f64();
    let first = first_error
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .unwrap_or_default();
    println!(
        "{{\"samples\":{},\"requests\":{},\"seconds\":{seconds:.3},\"errors\":{},\"first_error\":{:?}}}",
        samples.load(Ordering::Relaxed),
        requests.len(),
        errors.load(Ordering::Relaxed),
        first
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("generate") => generate(&args),
        Some("send") => send(&args),
        _ => Err("usage: remote_write_load generate|send … (see the file's header)".into()),
    };
    if let Err(e) = result {
        eprintln!("remote_write_load: {e}");
        std::process::exit(2);
    }
}
