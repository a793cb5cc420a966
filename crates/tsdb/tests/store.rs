//! The store through its public interface: round trips, every rejection reason, the
//! out-of-order window, cuts, compaction and retention, corrupt files, concurrency.

use postwatch_model::metrics::{
    stale_nan, LabelMatcher, Labels, MatchOp, MetricFamily, MetricType, Sample, SampleSink, Series,
    SeriesSource, STALE_NAN_BITS,
};
use postwatch_tsdb::{check_label_pairs, LabelLimits, MetricMetadata, Options, Store};
use std::fs;
use std::path::Path;

const HOUR: i64 = 3_600_000;
/// A fixed, past start time so the clock check never interferes.
const T0: i64 = 1_700_000_000_000 / (24 * HOUR) * (24 * HOUR);

fn options() -> Options {
    Options {
        background_maintenance: false,
        out_of_order_window_ms: 60_000,
        ..Options::default()
    }
}

fn labels(name: &str, instance: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("instance", instance), ("job", "node")])
}

fn series(labels: &Labels, samples: &[(i64, f64)]) -> Series {
    Series {
        labels: labels.clone(),
        samples: samples
            .iter()
            .map(|&(timestamp_ms, value)| Sample {
                timestamp_ms,
                value,
            })
            .collect(),
    }
}

fn select_all(store: &Store, name: &str) -> Vec<Series> {
    store
        .select(&[LabelMatcher::equal("__name__", name)], i64::MIN, i64::MAX)
        .unwrap()
}

fn bits(series: &Series) -> Vec<(i64, u64)> {
    series
        .samples
        .iter()
        .map(|s| (s.timestamp_ms, s.value.to_bits()))
        .collect()
}

#[test]
fn round_trip_through_reopen_with_stale_markers_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let a = labels("up", "a:9100");
    let b = labels("up", "b:9100");
    let written = vec![(T0, 1.0), (T0 + 15_000, stale_nan()), (T0 + 30_000, 0.5)];
    {
        let store = Store::open(dir.path(), options()).unwrap();
        let outcome = store
            .append(&[series(&a, &written), series(&b, &[(T0, 7.0)])])
            .unwrap();
        assert_eq!(outcome.accepted, 4);
        assert!(outcome.rejected.is_empty());
    }
    let store = Store::open(dir.path(), options()).unwrap();
    let got = select_all(&store, "up");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].labels, a);
    assert_eq!(got[0].samples[1].value.to_bits(), STALE_NAN_BITS);
    assert_eq!(bits(&got[0]), bits(&series(&a, &written)));
    assert_eq!(
        got[1].samples,
        vec![Sample {
            timestamp_ms: T0,
            value: 7.0
        }]
    );
    // Time bounds are inclusive.
    let window = store
        .select(
            &[LabelMatcher::equal("instance", "a:9100")],
            T0 + 15_000,
            T0 + 30_000,
        )
        .unwrap();
    assert_eq!(window[0].samples.len(), 2);
    // Flushed into a block and reopened: the same answer.
    store.flush().unwrap();
    assert_eq!(store.stats().head_samples, 0);
    assert_eq!(store.stats().blocks.len(), 1);
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(
        bits(&select_all(&store, "up")[0]),
        bits(&series(&a, &written))
    );
}

#[test]
fn every_rejection_reason_is_reported_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            limits: LabelLimits {
                max_labels: 4,
                max_name_len: 20,
                max_value_len: 30,
            },
            max_future_ms: Some(HOUR),
            ..options()
        },
    )
    .unwrap();
    let ok = labels("m", "a");
    store.append(&[series(&ok, &[(T0, 1.0)])]).unwrap();
    let long_value = "v".repeat(31);
    let cases: Vec<(Series, &str)> = vec![
        (series(&Labels::default(), &[(T0, 1.0)]), "empty label set"),
        (
            series(&Labels::from_pairs([("job", "x")]), &[(T0, 1.0)]),
            "no metric name",
        ),
        (
            series(
                &Labels::from_pairs([("__name__", "NaN name")]),
                &[(T0, 1.0)],
            ),
            "invalid metric name",
        ),
        (
            series(
                &Labels::from_pairs([("__name__", "m"), ("a-b", "1")]),
                &[(T0, 1.0)],
            ),
            "invalid label name",
        ),
        (
            series(
                &Labels::from_pairs([
                    ("__name__", "m"),
                    ("a", "1"),
                    ("b", "1"),
                    ("c", "1"),
                    ("d", "1"),
                ]),
                &[(T0, 1.0)],
            ),
            "more than the limit of 4",
        ),
        (
            series(
                &Labels::from_pairs([("__name__", "m"), ("x".repeat(21).as_str(), "1")]),
                &[(T0, 1.0)],
            ),
            "label name of 21 bytes",
        ),
        (
            series(
                &Labels::from_pairs([("__name__", "m"), ("v", long_value.as_str())]),
                &[(T0, 1.0)],
            ),
            "has 31 bytes",
        ),
        (series(&ok, &[(i64::MAX, 1.0)]), "outside the years"),
        (
            series(
                &ok,
                &[(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis() as i64
                        + 2 * HOUR,
                    1.0,
                )],
            ),
            "ahead of the clock",
        ),
        (series(&ok, &[(T0, 2.0)]), "different value"),
    ];
    for (bad, expected) in &cases {
        let outcome = store.append(std::slice::from_ref(bad)).unwrap();
        assert_eq!(outcome.accepted, 0, "{expected}");
        assert_eq!(outcome.rejected.len(), 1, "{expected}");
        assert!(
            outcome.rejected[0].reason.contains(expected),
            "{expected:?} not in {:?}",
            outcome.rejected[0].reason
        );
        assert_eq!(outcome.rejected[0].labels, bad.labels);
    }
    // Only the first good sample is stored, with its original value.
    let all = store
        .select(
            &[LabelMatcher::new("__name__", MatchOp::RegexMatch, ".+").unwrap()],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].samples,
        vec![Sample {
            timestamp_ms: T0,
            value: 1.0
        }]
    );
    assert_eq!(store.stats().samples_rejected_total, cases.len() as u64);
    // Duplicate names can only be seen before a Labels is built; decoders check pairs.
    let pairs = vec![
        ("__name__".to_string(), "m".to_string()),
        ("a".to_string(), "1".to_string()),
        ("a".to_string(), "2".to_string()),
    ];
    let reason = check_label_pairs(&pairs, &LabelLimits::default()).unwrap_err();
    assert!(reason.contains("duplicate label name \"a\""), "{reason}");
    // A repeated identical sample is accepted and stored once.
    let again = store.append(&[series(&ok, &[(T0, 1.0)])]).unwrap();
    assert_eq!((again.accepted, again.rejected.len()), (1, 0));
    assert_eq!(select_all(&store, "m")[0].samples.len(), 1);
}

#[test]
fn out_of_order_window_accepts_and_merges_inside_rejects_beyond() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let s = labels("g", "a");
    store
        .append(&[series(&s, &[(T0, 0.0), (T0 + 120_000, 120.0)])])
        .unwrap();
    // 30 s and 59 s behind the newest: inside the 60 s window.
    let inside = store
        .append(&[series(&s, &[(T0 + 90_000, 90.0), (T0 + 61_000, 61.0)])])
        .unwrap();
    assert_eq!((inside.accepted, inside.rejected.len()), (2, 0));
    // 61 s behind: beyond.
    let beyond = store
        .append(&[series(&s, &[(T0 + 59_000, 59.0), (T0 + 130_000, 130.0)])])
        .unwrap();
    assert_eq!(beyond.accepted, 1);
    assert!(
        beyond.rejected[0].reason.contains("out-of-order window"),
        "{:?}",
        beyond.rejected
    );
    assert!(beyond.rejected[0].reason.starts_with("1 sample(s)"));
    let got: Vec<i64> = select_all(&store, "g")[0]
        .samples
        .iter()
        .map(|x| x.timestamp_ms - T0)
        .collect();
    assert_eq!(got, [0, 61_000, 90_000, 120_000, 130_000]);
    // The order survives a WAL replay.
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    let got: Vec<i64> = select_all(&store, "g")[0]
        .samples
        .iter()
        .map(|x| x.timestamp_ms - T0)
        .collect();
    assert_eq!(got, [0, 61_000, 90_000, 120_000, 130_000]);
}

/// Writes `hours` of 15 s samples for `n` series (three shapes), batch per scrape.
fn write_hours(store: &Store, n: usize, from_hour: i64, hours: i64) -> usize {
    let mut total = 0;
    for step in 0..(hours * 240) {
        let ts = T0 + from_hour * HOUR + step * 15_000;
        let batch: Vec<Series> = (0..n)
            .map(|i| {
                let value = match i % 3 {
                    0 => (ts - T0) as f64 / 1000.0 * (i + 1) as f64,
                    1 => 42.0,
                    _ => ((ts / 15_000 + i as i64) % 17) as f64 * 0.25,
                };
                series(
                    &labels(&format!("m{}", i % 3), &format!("h{i}")),
                    &[(ts, value)],
                )
            })
            .collect();
        let outcome = store.append(&batch).unwrap();
        assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
        total += outcome.accepted;
    }
    total
}

fn everything(store: &Store) -> Vec<Series> {
    store
        .select(
            &[LabelMatcher::new("__name__", MatchOp::RegexMatch, "m.*").unwrap()],
            i64::MIN,
            i64::MAX,
        )
        .unwrap()
}

#[test]
fn cuts_and_compaction_keep_query_results_identical() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration_ms: HOUR,
        max_block_duration_ms: 4 * HOUR,
        retention_time_ms: None,
        wal_segment_bytes: 64 << 10,
        ..options()
    };
    let store = Store::open(dir.path(), opts.clone()).unwrap();
    let written = write_hours(&store, 30, 0, 6);
    assert_eq!(written, 30 * 6 * 240);
    let before = everything(&store);
    assert_eq!(
        before.iter().map(|s| s.samples.len()).sum::<usize>(),
        written
    );
    store.maintain().unwrap();
    let stats = store.stats();
    // Head spans 6 h; ranges are cut while the head reaches 1.5 h past their end: five
    // one-hour blocks. The first four-hour window is complete (the head refuses samples
    // before 5 h), so its four blocks were compacted into one.
    let levels: Vec<u32> = stats.blocks.iter().map(|b| b.level).collect();
    assert_eq!(levels, [1, 0], "{stats:?}");
    assert_eq!(stats.blocks[0].max_time_ms, T0 + 4 * HOUR - 15_000);
    assert_eq!(stats.block_samples + stats.head_samples, written as u64);
    assert_eq!(everything(&store), before);
    // Samples older than the block boundary are now refused with a reason.
    let late = store
        .append(&[series(&labels("m0", "h0"), &[(T0 + 3 * HOUR + 1, 1.0)])])
        .unwrap();
    assert!(
        late.rejected[0]
            .reason
            .contains("already written to a block"),
        "{late:?}"
    );
    drop(store);
    let store = Store::open(dir.path(), opts).unwrap();
    assert_eq!(everything(&store), before);
    store.flush().unwrap();
    store.compact_all().unwrap();
    assert_eq!(store.stats().head_samples, 0);
    assert_eq!(everything(&store), before);
    // Old WAL segments went with the cuts.
    assert!(store.stats().wal_segments <= 2, "{:?}", store.stats());
    // Selective queries agree with filtering everything.
    let picked = store
        .select(
            &[
                LabelMatcher::equal("__name__", "m1"),
                LabelMatcher::new("instance", MatchOp::RegexMatch, "h(1|4|7)").unwrap(),
            ],
            T0 + HOUR,
            T0 + 2 * HOUR,
        )
        .unwrap();
    assert_eq!(picked.len(), 3);
    assert!(picked.iter().all(|s| s.samples.len() == 241));
    let names = store.label_names(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(names, ["__name__", "instance", "job"]);
    let values = store
        .label_values(
            "__name__",
            &[LabelMatcher::new("instance", MatchOp::RegexMatch, "h[01]").unwrap()],
            i64::MIN,
            i64::MAX,
        )
        .unwrap();
    assert_eq!(values, ["m0", "m1"]);
}

#[test]
fn retention_by_time_and_by_size_drops_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration_ms: HOUR,
        max_block_duration_ms: HOUR,
        retention_time_ms: Some(3 * HOUR),
        ..options()
    };
    let store = Store::open(dir.path(), opts).unwrap();
    write_hours(&store, 10, 0, 8);
    store.flush().unwrap();
    let stats = store.stats();
    // Newest sample at 8 h − 15 s; blocks whose newest sample is older than 5 h − 15 s
    // are gone: the 4–5 h block (newest at exactly 5 h − 15 s) is the oldest kept.
    let oldest = stats.blocks.iter().map(|b| b.min_time_ms).min().unwrap();
    assert_eq!(oldest, T0 + 4 * HOUR, "{stats:?}");
    assert_eq!(stats.blocks.len(), 4);
    let kept = everything(&store);
    assert!(kept
        .iter()
        .all(|s| s.samples[0].timestamp_ms == T0 + 4 * HOUR));
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            block_duration_ms: HOUR,
            max_block_duration_ms: HOUR,
            retention_time_ms: None,
            ..options()
        },
    )
    .unwrap();
    write_hours(&store, 10, 0, 6);
    store.flush().unwrap();
    let stats = store.stats();
    assert_eq!(stats.blocks.len(), 6);
    drop(store);
    let three_blocks: u64 = stats.blocks[3..].iter().map(|b| b.bytes).sum();
    let store = Store::open(
        dir.path(),
        Options {
            block_duration_ms: HOUR,
            max_block_duration_ms: HOUR,
            retention_time_ms: None,
            retention_bytes: Some(three_blocks + 4096),
            ..options()
        },
    )
    .unwrap();
    store.maintain().unwrap();
    let after = store.stats();
    assert!(
        after.bytes_on_disk <= three_blocks + 4096 + 4096,
        "{after:?}"
    );
    assert_eq!(
        after.blocks,
        stats.blocks[stats.blocks.len() - after.blocks.len()..]
    );
    assert!(after.blocks.len() >= 3);
}

#[test]
fn corrupt_blocks_are_quarantined_and_the_rest_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        block_duration_ms: HOUR,
        max_block_duration_ms: HOUR,
        retention_time_ms: None,
        ..options()
    };
    {
        let store = Store::open(dir.path(), opts.clone()).unwrap();
        write_hours(&store, 5, 0, 3);
        store.flush().unwrap();
        assert_eq!(store.stats().blocks.len(), 3);
    }
    let mut blocks: Vec<_> = fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    blocks.sort();
    // First block cut short, second with a flipped index byte, third intact.
    let first = fs::read(&blocks[0]).unwrap();
    fs::write(&blocks[0], &first[..first.len() / 2]).unwrap();
    let mut second = fs::read(&blocks[1]).unwrap();
    let n = second.len();
    second[n - 50] ^= 0xff;
    fs::write(&blocks[1], &second).unwrap();
    let store = Store::open(dir.path(), opts.clone()).unwrap();
    let stats = store.stats();
    assert_eq!(stats.quarantined.len(), 2, "{stats:?}");
    assert!(stats
        .quarantined
        .iter()
        .all(|p| p.starts_with(dir.path().join("quarantine"))));
    assert_eq!(stats.blocks.len(), 1);
    let kept = everything(&store);
    assert_eq!(kept.len(), 5);
    assert!(kept
        .iter()
        .all(|s| s.samples.len() == 240 && s.samples[0].timestamp_ms == T0 + 2 * HOUR));
    drop(store);

    // A chunk damaged inside a block whose index is fine: a query error naming the file.
    let mut third = fs::read(&blocks[2]).unwrap();
    third[20] ^= 0xff;
    fs::write(&blocks[2], &third).unwrap();
    let store = Store::open(dir.path(), opts).unwrap();
    let err = store
        .select_series(&[LabelMatcher::equal("__name__", "m0")], i64::MIN, i64::MAX)
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&blocks[2].display().to_string()) && message.contains("checksum"),
        "{message}"
    );
}

fn wal_segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut segments: Vec<_> = fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    segments
}

#[test]
fn torn_wal_tail_is_cut_off_and_corruption_elsewhere_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = labels("w", "a");
    {
        let store = Store::open(dir.path(), options()).unwrap();
        for i in 0..10 {
            store
                .append(&[series(&s, &[(T0 + i * 1000, i as f64)])])
                .unwrap();
        }
    }
    let segment = wal_segments(dir.path()).pop().unwrap();
    let bytes = fs::read(&segment).unwrap();
    // Every possible torn tail: never a panic, always a prefix of what was written.
    for cut in (0..bytes.len()).rev().step_by(7) {
        fs::write(&segment, &bytes[..cut]).unwrap();
        let store = Store::open(dir.path(), options()).unwrap();
        let got = select_all(&store, "w");
        let n = got.first().map_or(0, |s| s.samples.len());
        assert!(n <= 10);
        if let Some(series) = got.first() {
            assert!(series
                .samples
                .iter()
                .enumerate()
                .all(|(i, x)| x.value == i as f64));
        }
        drop(store);
        // Reopening wrote a new segment; remove it so the damaged one stays last.
        for extra in wal_segments(dir.path()) {
            if extra != segment {
                fs::remove_file(extra).unwrap();
            }
        }
    }
    // A damaged record in a segment that is not the last is an error naming it.
    fs::write(&segment, &bytes).unwrap();
    let mut damaged = bytes.clone();
    let last = damaged.len() - 3;
    damaged[last] ^= 0xff;
    fs::write(&segment, &damaged).unwrap();
    Store::open(dir.path(), options()).unwrap();
    let newer = wal_segments(dir.path());
    assert_eq!(newer.len(), 2);
    // The first open cut the tail; damage it again now that a newer segment exists.
    let mut damaged = fs::read(&segment).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    fs::write(&segment, &damaged).unwrap();
    let err = Store::open(dir.path(), options()).err().unwrap();
    let message = err.to_string();
    assert!(
        message.contains(&segment.display().to_string()),
        "{message}"
    );
}

#[test]
fn concurrent_appenders_and_readers_share_fsyncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), options()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let s = labels("c", &format!("t{t}"));
                    let outcome = store
                        .append(&[series(&s, &[(T0 + i * 1000, i as f64)])])
                        .unwrap();
                    assert_eq!(outcome.accepted, 1);
                    let seen = store
                        .select(
                            &[LabelMatcher::equal("instance", format!("t{t}"))],
                            i64::MIN,
                            i64::MAX,
                        )
                        .unwrap();
                    assert_eq!(seen[0].samples.len() as i64, i + 1);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(store.stats().samples_appended_total, 800);
    let store = std::sync::Arc::try_unwrap(store).ok().unwrap();
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert_eq!(
        select_all(&store, "c")
            .iter()
            .map(|s| s.samples.len())
            .sum::<usize>(),
        800
    );
    // A second open of the same directory is refused while one is live.
    let err = Store::open(dir.path(), options()).err().unwrap();
    assert!(err.to_string().contains("already open"), "{err}");
}

#[test]
fn metadata_is_stored_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), options()).unwrap();
        store
            .record_metadata(&[MetricFamily {
                name: "node_cpu_seconds_total".into(),
                metric_type: MetricType::Counter,
                help: Some("Seconds the CPUs spent in each mode.".into()),
                unit: Some("seconds".into()),
                samples: vec![],
            }])
            .unwrap();
    }
    let store = Store::open(dir.path(), options()).unwrap();
    let metadata = store.metadata();
    assert_eq!(
        metadata.get("node_cpu_seconds_total"),
        Some(&MetricMetadata {
            metric_type: MetricType::Counter,
            help: "Seconds the CPUs spent in each mode.".into(),
            unit: "seconds".into(),
        })
    );
    assert!(store.stats().bytes_on_disk > 0);
}

#[test]
fn background_maintenance_cuts_blocks_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        Options {
            block_duration_ms: HOUR,
            max_block_duration_ms: HOUR,
            background_maintenance: true,
            retention_time_ms: None,
            ..options()
        },
    )
    .unwrap();
    write_hours(&store, 3, 0, 3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // Three hours of one-hour blocks: 0–1 h and 1–2 h are due (the head reaches 1.5 h
    // past their ends); 2–3 h is not.
    while store.stats().blocks.len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(store.stats().blocks.len(), 2, "{:?}", store.stats());
    assert_eq!(
        everything(&store)
            .iter()
            .map(|s| s.samples.len())
            .sum::<usize>(),
        3 * 3 * 240
    );
}
