//! A real crash: a child process (this test binary, re-run on one test) appends batches
//! and prints each one the store acknowledged; the parent kills it with SIGKILL at a
//! random moment, reopens the store and checks every acknowledged sample is there.
//! Blocks are one minute long and maintenance runs in the background, so kills also land
//! during cuts, WAL rotations and compactions. Run twice: fsync before each
//! acknowledgement (the default), and with `wal_sync_interval` (acknowledged once in the
//! WAL file, fsynced in the background), which must survive the process' death as well.

use postwatch_model::metrics::{LabelMatcher, Labels, Sample, SampleSink, Series, SeriesSource};
use postwatch_tsdb::{Options, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const T0: i64 = 1_700_000_000_000;
const SERIES: usize = 20;
const CHILD_ENV: &str = "POSTWATCH_TSDB_CRASH_DIR";
/// Milliseconds of `wal_sync_interval` for the child; unset: fsync each append.
const CHILD_SYNC_ENV: &str = "POSTWATCH_TSDB_CRASH_SYNC_MS";

fn options() -> Options {
    let sync_ms: Option<u64> = std::env::var(CHILD_SYNC_ENV)
        .ok()
        .and_then(|ms| ms.parse().ok());
    Options {
        wal_sync_interval: sync_ms.map(std::time::Duration::from_millis),
        block_duration_ms: 60_000,
        max_block_duration_ms: 600_000,
        out_of_order_window_ms: 0,
        wal_segment_bytes: 16 << 10,
        retention_time_ms: None,
        background_maintenance: true,
        ..Options::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "crash_counter".to_string()),
        ("instance", format!("i{i}")),
    ])
}

/// Batch `n`: every series gets the sample `(T0 + n·15 s, n)`.
fn batch(n: i64) -> Vec<Series> {
    (0..SERIES)
        .map(|i| Series {
            labels: labels(i),
            samples: vec![Sample {
                timestamp_ms: T0 + n * 15_000,
                value: n as f64 + i as f64 / 100.0,
            }],
        })
        .collect()
}

/// The child: continues after whatever the store already holds, forever.
#[test]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful when started by the parent below.
    };
    let store = Store::open(&dir, options()).unwrap();
    let stored = store
        .select(
            &[LabelMatcher::equal("__name__", "crash_counter")],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    let mut next = stored
        .iter()
        .filter_map(|s| s.samples.last())
        .map(|s| (s.timestamp_ms - T0) / 15_000 + 1)
        .max()
        .unwrap_or(0);
    let stdout = std::io::stdout();
    loop {
        let outcome = store.append(&batch(next)).unwrap();
        assert_eq!(outcome.accepted, SERIES, "{:?}", outcome.rejected);
        let mut out = stdout.lock();
        writeln!(out, "ACK {next}").unwrap();
        out.flush().unwrap();
        next += 1;
    }
}

#[test]
fn kill_9_loses_no_acknowledged_sample() {
    kill_rounds(None);
}

#[test]
fn kill_9_loses_no_acknowledged_sample_with_background_fsync() {
    kill_rounds(Some(200));
}

fn kill_rounds(sync_ms: Option<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut highest_acked: Option<i64> = None;
    for round in 0..4 {
        let mut child = Command::new(&exe)
            .args([
                "crash_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(
                CHILD_SYNC_ENV,
                sync_ms.map(|ms| ms.to_string()).unwrap_or_default(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let kill_after = 150 + fastrand::usize(0..400);
        let mut acks_this_round = 0;
        while acks_this_round < kill_after {
            let Some(line) = lines.next() else {
                panic!("child stopped early in round {round}: {:?}", child.wait());
            };
            if let Some(n) = line.unwrap().strip_prefix("ACK ") {
                highest_acked = Some(n.parse().unwrap());
                acks_this_round += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // Acknowledgements already in the pipe still count.
        for line in lines {
            if let Some(n) = line.unwrap().strip_prefix("ACK ") {
                highest_acked = Some(n.parse().unwrap());
            }
        }
        child.wait().unwrap();

        let Some(highest) = highest_acked else {
            panic!("no acknowledgements in round {round}");
        };
        let store = Store::open(
            dir.path(),
            Options {
                background_maintenance: false,
                ..options()
            },
        )
        .unwrap();
        let stored = store
            .select(
                &[LabelMatcher::equal("__name__", "crash_counter")],
                i64::MIN,
                i64::MAX,
            )
            .unwrap();
        assert_eq!(stored.len(), SERIES, "round {round}");
        for series in &stored {
            let i: usize = series
                .labels
                .get("instance")
                .and_then(|v| v.strip_prefix('i'))
                .and_then(|v| v.parse().ok())
                .unwrap();
            assert_eq!(series.labels, labels(i));
            // Every acknowledged batch is there, in order, with its value; at most the
            // one batch in flight at the kill may also be there.
            let expected: Vec<Sample> = (0..=highest)
                .map(|n| Sample {
                    timestamp_ms: T0 + n * 15_000,
                    value: n as f64 + i as f64 / 100.0,
                })
                .collect();
            assert!(
                series.samples.len() as i64 <= highest + 2,
                "round {round}: {} samples for {} acks",
                series.samples.len(),
                highest + 1
            );
            assert_eq!(
                series.samples[..expected.len()],
                expected[..],
                "round {round}, series {i}"
            );
        }
        let stats = store.stats();
        assert!(stats.quarantined.is_empty(), "{stats:?}");
        eprintln!(
            "round {round}: {} batches acknowledged, {} blocks, {} WAL segments",
            highest + 1,
            stats.blocks.len(),
            stats.wal_segments
        );
    }
}
