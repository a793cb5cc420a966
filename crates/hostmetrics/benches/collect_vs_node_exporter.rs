//! One `collect()` against one node_exporter scrape: wall time, CPU time, allocations
//! and RSS, printed side by side with the ratios.
//!
//! `cargo bench -p postwatch-hostmetrics`. node_exporter runs twice: with its default
//! collectors (what people deploy) and restricted to the collectors we implement (the
//! like-for-like cost). Its CPU time is the delta of its own utime + stime over the
//! scrapes (HTTP and text encoding included: that is what a scrape costs it); ours is
//! the process CPU clock around `collect()` (no encoding: the agent ships samples, not
//! text).

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use postwatch_hostmetrics::{Collector, Options};
use support::{node_exporter_available, process_rss_bytes, NodeExporter};

/// Counts allocations so the report can say how many one collection makes.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator that allocated `ptr`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const ROUNDS: u32 = 100;

/// CPU seconds this process has used (nanosecond clock, unlike /proc's ticks).
fn own_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

struct Cost {
    wall_ms: f64,
    cpu_ms: f64,
    rss_mib: f64,
}

fn scrape_cost(exporter: &NodeExporter) -> Cost {
    for _ in 0..3 {
        exporter.scrape();
    }
    let cpu_before = exporter.cpu_seconds();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        exporter.scrape();
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = exporter.cpu_seconds() - cpu_before;
    Cost {
        wall_ms: wall * 1000.0 / ROUNDS as f64,
        cpu_ms: cpu * 1000.0 / ROUNDS as f64,
        rss_mib: exporter.rss_bytes() / (1024.0 * 1024.0),
    }
}

fn main() {
    let mut collector = Collector::new(Options::default()).expect("default options");
    let (mut series, mut pids, mut threads) = (0, 0.0, 0.0);
    for _ in 0..3 {
        let families = collector.collect().expect("collect");
        series = families.iter().map(|f| f.samples.len()).sum::<usize>();
        let scalar = |name: &str| {
            families
                .iter()
                .find(|f| f.name == name)
                .and_then(|f| f.samples.first())
                .map_or(0.0, |s| s.value)
        };
        (pids, threads) = (
            scalar("node_processes_pids"),
            scalar("node_processes_threads"),
        );
    }
    let (allocs_before, bytes_before) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    let cpu_before = own_cpu_seconds();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let families = collector.collect().expect("collect");
        std::hint::black_box(&families);
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = own_cpu_seconds() - cpu_before;
    let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - allocs_before) / ROUNDS as u64;
    let alloc_kib =
        (ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes_before) as f64 / ROUNDS as f64 / 1024.0;
    let ours = Cost {
        wall_ms: wall * 1000.0 / ROUNDS as f64,
        cpu_ms: cpu * 1000.0 / ROUNDS as f64,
        rss_mib: process_rss_bytes(std::process::id()) / (1024.0 * 1024.0),
    };
    println!(
        "postwatch-hostmetrics collect(), {ROUNDS} rounds, {series} series per collection \
         ({pids} processes, {threads} threads on the host):"
    );
    println!(
        "  wall {:.3} ms  cpu {:.3} ms  {allocs} allocations ({alloc_kib:.1} KiB) per collection  RSS of the whole bench process {:.1} MiB",
        ours.wall_ms, ours.cpu_ms, ours.rss_mib
    );
    if !node_exporter_available("the node_exporter side of the benchmark") {
        return;
    }
    let same_collectors = [
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.stat",
        "--collector.loadavg",
        "--collector.meminfo",
        "--collector.diskstats",
        "--collector.filesystem",
        "--collector.netdev",
        "--collector.uname",
        "--collector.time",
        "--collector.processes",
    ];
    for (what, args) in [
        ("node_exporter, default collectors", &[][..]),
        (
            "node_exporter, the collectors we implement (+ processes)",
            &same_collectors[..],
        ),
    ] {
        let exporter = NodeExporter::start(args);
        let theirs = scrape_cost(&exporter);
        println!("{what}, {ROUNDS} scrapes of /metrics:");
        println!(
            "  wall {:.3} ms  cpu {:.3} ms per scrape  RSS {:.1} MiB",
            theirs.wall_ms, theirs.cpu_ms, theirs.rss_mib
        );
        println!(
            "  ratio ours/theirs: wall {:.2}  cpu {:.2}  RSS {:.2}",
            ours.wall_ms / theirs.wall_ms,
            ours.cpu_ms / theirs.cpu_ms,
            ours.rss_mib / theirs.rss_mib
        );
    }
}
