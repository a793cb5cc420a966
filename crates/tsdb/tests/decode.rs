//! The decoders the fuzz target drives, on real files with random damage: intact files
//! decode to what was written; damaged ones give an error or a prefix, never a panic.

use postwatch_model::metrics::{Labels, Sample, SampleSink, Series};
use postwatch_tsdb::{decode_block_bytes, decode_segment, Options, Store, WalRecord};
use std::fs;

const T0: i64 = 1_700_000_000_000;

fn mutate(rng: &mut fastrand::Rng, original: &[u8]) -> Vec<u8> {
    let mut data = original.to_vec();
    for _ in 0..rng.usize(1..4) {
        if data.is_empty() {
            break;
        }
        let at = rng.usize(..data.len());
        match rng.u8(..4) {
            0 => data[at] ^= 1 << rng.u8(..8),
            1 => data[at] = rng.u8(..),
            2 => data.truncate(at),
            _ => data.insert(at, rng.u8(..)),
        }
    }
    data
}

#[test]
fn real_wal_and_block_files_survive_random_damage() {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options {
        background_maintenance: false,
        ..Options::default()
    };
    let store = Store::open(dir.path(), options()).unwrap();
    let written: Vec<Series> = (0..5)
        .map(|i| Series {
            labels: Labels::from_pairs([("__name__", "d".to_string()), ("i", i.to_string())]),
            samples: (0..50)
                .map(|n| Sample {
                    timestamp_ms: T0 + n * 15_000,
                    value: (n * i) as f64 * 0.5,
                })
                .collect(),
        })
        .collect();
    store.append(&written).unwrap();
    let mut segments: Vec<_> = fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let segment = segments.last().unwrap().clone();
    // While the store is open, zeros written ahead follow the records: not damage.
    let open_wal = fs::read(&segment).unwrap();
    let (open_records, stop) = decode_segment(&open_wal);
    assert!(stop.is_none());
    // A clean close leaves just the records.
    drop(store);
    let wal = fs::read(&segment).unwrap();
    assert!(wal.len() < open_wal.len(), "the zeros are trimmed on close");
    assert_eq!(open_wal[..wal.len()], wal[..]);
    let (records, stop) = decode_segment(&wal);
    assert!(stop.is_none());
    assert_eq!(records, open_records);
    let sample_count: usize = records
        .iter()
        .map(|r| match r {
            WalRecord::Samples(groups) => groups.iter().map(|(_, s)| s.len()).sum(),
            WalRecord::Series(_) => 0,
        })
        .sum();
    assert_eq!(sample_count, 250);

    let store = Store::open(dir.path(), options()).unwrap();
    store.flush().unwrap();
    let block_path = fs::read_dir(dir.path().join("blocks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let block = fs::read(&block_path).unwrap();
    let decoded = decode_block_bytes(&block).unwrap();
    let expected: Vec<(Labels, Vec<(i64, u64)>)> = written
        .iter()
        .map(|s| {
            (
                s.labels.clone(),
                s.samples
                    .iter()
                    .map(|x| (x.timestamp_ms, x.value.to_bits()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(decoded, expected);
    // Seeds for the `tsdb_files` fuzz target: its first byte picks the decoder.
    if let Some(seeds) = std::env::var_os("POSTWATCH_FUZZ_SEEDS") {
        fs::create_dir_all(&seeds).unwrap();
        for (kind, bytes, name) in [(0u8, &wal, "wal"), (1u8, &block, "block")] {
            let mut seed = vec![kind];
            seed.extend_from_slice(bytes);
            fs::write(std::path::Path::new(&seeds).join(name), seed).unwrap();
        }
    }

    let mut rng = fastrand::Rng::with_seed(7);
    let (mut wal_errors, mut block_errors) = (0, 0);
    for _ in 0..3000 {
        let damaged = mutate(&mut rng, &wal);
        let (records, stop) = decode_segment(&damaged);
        if stop.is_some() {
            wal_errors += 1;
        }
        assert!(records.len() <= 2);
        if decode_block_bytes(&mutate(&mut rng, &block)).is_err() {
            block_errors += 1;
        }
    }
    // Checksums catch nearly every change (an inserted byte at the very end of a WAL
    // is the one kind of damage that can read as a torn tail with intact records).
    assert!(wal_errors > 2500, "{wal_errors}");
    assert!(block_errors > 2900, "{block_errors}");
}
