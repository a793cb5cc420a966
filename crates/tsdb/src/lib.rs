//! postwatch's embedded time-series store.
//!
//! Samples enter an in-memory **head** after their batch is written to the
//! **write-ahead log** (`wal/`) and fsynced — appenders running at the same time share
//! one fsync (group commit). Once the head spans one and a half block durations (or the
//! out-of-order window, if longer), its oldest block-aligned range is cut into an
//! immutable **block** (`blocks/NNNNNNNN.block`: compressed chunks plus a checksummed
//! index), and WAL segments wholly covered by blocks are deleted. **Compaction** merges
//! the blocks of a complete `max_block_duration` window into one, re-encoding each series
//! as one long chunk that zstd compresses far better. **Retention** drops the oldest
//! blocks by age and by total size.
//!
//! Queries go through an inverted index (label name → value → sorted series ids) in the
//! head and in every block, so a selector reads only the chunks of the series it returns.
//!
//! Crash safety: every file is written to a temporary name, fsynced, renamed and its
//! directory fsynced; on open the WAL is replayed, a torn record at the end of the newest
//! segment (a write that was never acknowledged) is cut off, and a block that fails its
//! checks is moved to `quarantine/` while the rest of the store keeps working. Nothing a
//! file contains can make the store panic; errors name the file.
//!
//! Samples are validated with reasons ([`Rejection`]): Prometheus' name rules, label
//! limits, timestamps outside years 1–9999 or too far ahead of the clock, samples older
//! than the out-of-order window relative to the series' newest sample (inside the
//! window they are merged in order), samples older than what is already in blocks, and
//! a repeated timestamp with a different value. Values are stored bit-exact, so the
//! staleness marker survives.

mod block;
mod encoding;
mod head;
mod index;
mod validate;
mod wal;

pub use block::{decode_block_bytes, DecodedSeries};
pub use encoding::DecodeError;
pub use validate::{
    check_label_pairs, check_labels, is_valid_label_name, is_valid_metric_name, LabelLimits,
};
pub use wal::{decode_segment, WalRecord};

use block::{write_block, Block};
use head::HeadSeries;
use index::Postings;
use postwatch_model::metrics::{
    AppendOutcome, LabelMatcher, Labels, MetricFamily, MetricType, MetricsError, Rejection, Sample,
    SampleSink, Series, SeriesSource,
};
use serde::{Deserialize, Serialize};
// foldhash: label sets are hashed once or twice per series in every write; SipHash was
// a visible part of the receive path. Seeded per process like std's hasher.
use foldhash::{HashMap, HashMapExt};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wal::{list_segments, segment_path, SegmentInfo, WalWriter};

/// Errors of the store; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: the store is already open in another process")]
    Locked { path: PathBuf },
    #[error("invalid store options: {0}")]
    InvalidOptions(String),
    #[error("batch too large: {0}")]
    BatchTooLarge(String),
    #[error("the store refuses writes after a failed WAL write or fsync: {0}")]
    Failed(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: anything outside is a broken clock
/// or a unit mistake.
const MIN_TIMESTAMP_MS: i64 = -62_135_596_800_000;
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// How the store behaves. [`Options::default`] suits a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Blocks whose newest sample is older than this (relative to the newest sample
    /// stored) are deleted. `None` keeps them.
    pub retention_time_ms: Option<i64>,
    /// The oldest blocks are deleted while blocks and WAL together exceed this.
    pub retention_bytes: Option<u64>,
    /// How far behind its series' newest sample a sample may be and still be accepted.
    pub out_of_order_window_ms: i64,
    /// How far ahead of the system clock a timestamp may be. `None` disables the check.
    pub max_future_ms: Option<i64>,
    /// Limits on label sets.
    pub limits: LabelLimits,
    /// The time range of a block cut from the head.
    pub block_duration_ms: i64,
    /// The time range compaction merges blocks into (a multiple of `block_duration_ms`).
    pub max_block_duration_ms: i64,
    /// A WAL segment is closed once it reaches this size.
    pub wal_segment_bytes: u64,
    /// Run cuts, compaction and retention on a background thread. Without it they run
    /// only when [`Store::maintain`] (or `flush`/`compact_all`) is called.
    pub background_maintenance: bool,
    /// `None` (the default): an append returns once its samples are fsynced, so an
    /// acknowledged sample survives a power cut. `Some(interval)`: it returns once they
    /// are written to the WAL file (they survive `kill -9`, the process' death, as in
    /// Prometheus), and a background thread fsyncs every `interval`; a power cut can
    /// lose up to that much. Faster when fsync is slow (a busy or networked disk).
    pub wal_sync_interval: Option<Duration>,
    /// zstd level for blocks cut from the head (fast) and compacted blocks (small).
    pub head_zstd_level: i32,
    pub compacted_zstd_level: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_time_ms: Some(15 * DAY_MS),
            retention_bytes: None,
            out_of_order_window_ms: 10 * MINUTE_MS,
            max_future_ms: Some(HOUR_MS),
            limits: LabelLimits::default(),
            block_duration_ms: 2 * HOUR_MS,
            max_block_duration_ms: DAY_MS,
            wal_segment_bytes: 64 << 20,
            background_maintenance: true,
            wal_sync_interval: None,
            head_zstd_level: 3,
            compacted_zstd_level: 12,
        }
    }
}

impl Options {
    fn check(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::InvalidOptions(what.to_string()));
        if self.block_duration_ms < 1000 {
            return bad("block duration must be at least one second");
        }
        if self.max_block_duration_ms < self.block_duration_ms
            || self.max_block_duration_ms % self.block_duration_ms != 0
        {
            return bad("max block duration must be a multiple of the block duration");
        }
        if self.out_of_order_window_ms < 0 {
            return bad("out-of-order window must not be negative");
        }
        if self.retention_time_ms.is_some_and(|t| t <= 0) {
            return bad("retention time must be positive");
        }
        if self.wal_segment_bytes < 4096 {
            return bad("WAL segments must be at least 4 KiB");
        }
        if self
            .wal_sync_interval
            .is_some_and(|d| d.is_zero() || d > Duration::from_secs(60))
        {
            return bad("the WAL sync interval must be between 1 ms and 60 s");
        }
        Ok(())
    }
}

/// A metric family's metadata, for a metadata API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricMetadata {
    #[serde(rename = "type")]
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

/// One block, for a status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockStats {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub series: usize,
    pub samples: u64,
    pub bytes: u64,
    /// 0 for a block cut from the head, +1 for each compaction.
    pub level: u32,
}

/// The store's state, for a status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub head_series: usize,
    pub head_samples: u64,
    /// Memory the head's samples take (compressed chunks and open chunk buffers).
    pub head_sample_bytes: u64,
    /// Time range of the head's samples, when it has any.
    pub head_min_time_ms: Option<i64>,
    pub head_max_time_ms: Option<i64>,
    pub blocks: Vec<BlockStats>,
    pub block_samples: u64,
    pub block_bytes: u64,
    pub wal_bytes: u64,
    pub wal_segments: usize,
    /// Blocks, WAL and metadata.
    pub bytes_on_disk: u64,
    pub samples_appended_total: u64,
    pub samples_rejected_total: u64,
    /// Block files moved aside because they failed their checks.
    pub quarantined: Vec<PathBuf>,
    /// The last background maintenance error, if the last run failed.
    pub maintenance_error: Option<String>,
}

struct Head {
    series: HashMap<u64, HeadSeries>,
    by_labels: HashMap<Labels, u64>,
    postings: Postings,
    next_id: u64,
    /// Samples older than this are in blocks; the head refuses them.
    min_valid_ms: i64,
    min_ts: i64,
    max_ts: i64,
    samples: u64,
    wal: WalWriter,
    records_written: u64,
}

impl Head {
    fn live_series(&self) -> Vec<(u64, Labels)> {
        let mut live: Vec<(u64, Labels)> = self
            .series
            .iter()
            .map(|(&id, s)| (id, s.labels.clone()))
            .collect();
        live.sort_unstable_by_key(|&(id, _)| id);
        live
    }

    /// Adds a series the head does not hold yet.
    fn create(&mut self, labels: &Labels) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.by_labels.insert(labels.clone(), id);
        self.postings.add(id, labels);
        self.series.insert(id, HeadSeries::new(labels.clone()));
        id
    }

    fn insert(&mut self, id: u64, samples: &[(i64, u64)], block_ms: i64) {
        let Some(series) = self.series.get_mut(&id) else {
            return;
        };
        for &(ts, bits) in samples {
            if series.insert(ts, bits, block_ms) {
                self.samples += 1;
                self.min_ts = self.min_ts.min(ts);
                self.max_ts = self.max_ts.max(ts);
            }
        }
    }

    /// The end of the next range to cut into a block, if the head has grown past it.
    fn due_cut(&self, options: &Options) -> Option<i64> {
        if self.samples == 0 {
            return None;
        }
        let duration = options.block_duration_ms;
        let end = self.min_ts.div_euclid(duration) * duration + duration;
        let margin = (duration / 2).max(options.out_of_order_window_ms);
        (self.max_ts >= end.saturating_add(margin)).then_some(end)
    }

    fn recompute_min(&mut self) {
        self.min_ts = self
            .series
            .values()
            .filter_map(HeadSeries::first_ts)
            .min()
            .unwrap_or(i64::MAX);
        if self.samples == 0 {
            self.max_ts = i64::MIN;
        }
    }
}

/// What the group commit tracks: how many WAL records exist and how many are durable.
struct Durability {
    written: u64,
    synced: u64,
    syncing: bool,
    file: Arc<File>,
    path: PathBuf,
    failed: Option<String>,
}

struct Inner {
    dir: PathBuf,
    blocks_dir: PathBuf,
    metadata_path: PathBuf,
    options: Options,
    head: RwLock<Head>,
    blocks: RwLock<Vec<Arc<Block>>>,
    durability: Mutex<Durability>,
    durable: Condvar,
    maintenance: Mutex<()>,
    next_block_seq: AtomicU64,
    metadata: Mutex<BTreeMap<String, MetricMetadata>>,
    appended: AtomicU64,
    rejected: AtomicU64,
    quarantined: Mutex<Vec<PathBuf>>,
    maintenance_error: Mutex<Option<String>>,
    /// `true` once the store is being dropped; the condvar wakes the maintenance thread.
    shutdown: Mutex<bool>,
    wake: Condvar,
    _lock: File,
}

/// The store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Store {
    inner: Arc<Inner>,
    maintenance_thread: Option<JoinHandle<()>>,
    sync_thread: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// fsync of a directory, so a rename or unlink in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn create_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: loads blocks (quarantining broken
    /// ones), replays the WAL and starts a fresh WAL segment.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Store, Error> {
        options.check()?;
        let dir = dir.as_ref().to_path_buf();
        let blocks_dir = dir.join("blocks");
        let wal_dir = dir.join("wal");
        let quarantine_dir = dir.join("quarantine");
        for d in [&dir, &blocks_dir, &wal_dir] {
            create_dir(d)?;
        }
        let lock_path = dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock_file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(Error::Locked { path: dir });
        }

        let metadata_path = dir.join("metadata.json");
        let metadata = match fs::read(&metadata_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::corrupt(&metadata_path, e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io(&metadata_path, e)),
        };

        let (blocks, quarantined, max_seq) = load_blocks(&blocks_dir, &quarantine_dir)?;
        let min_valid_ms = blocks
            .iter()
            .map(|b| b.index.maxt.saturating_add(1))
            .max()
            .unwrap_or(i64::MIN);

        let mut head = replay_wal(&wal_dir, &options, min_valid_ms)?;
        let durability = Durability {
            written: 0,
            synced: 0,
            syncing: false,
            file: head.wal.file.clone(),
            path: head.wal.current.path.clone(),
            failed: None,
        };
        head.records_written = 0;
        let inner = Arc::new(Inner {
            dir,
            blocks_dir,
            metadata_path,
            options,
            head: RwLock::new(head),
            blocks: RwLock::new(blocks),
            durability: Mutex::new(durability),
            durable: Condvar::new(),
            maintenance: Mutex::new(()),
            next_block_seq: AtomicU64::new(max_seq + 1),
            metadata: Mutex::new(metadata),
            appended: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            quarantined: Mutex::new(quarantined),
            maintenance_error: Mutex::new(None),
            shutdown: Mutex::new(false),
            wake: Condvar::new(),
            _lock: lock_file,
        });
        let maintenance_thread = if inner.options.background_maintenance {
            let worker = Arc::clone(&inner);
            let handle = std::thread::Builder::new()
                .name("tsdb-maintenance".into())
                .spawn(move || worker.maintenance_loop())
                .map_err(|e| Error::io(&inner.dir, e))?;
            Some(handle)
        } else {
            None
        };
        let sync_thread = match inner.options.wal_sync_interval {
            Some(interval) => {
                let worker = Arc::clone(&inner);
                let handle = std::thread::Builder::new()
                    .name("tsdb-wal-sync".into())
                    .spawn(move || worker.sync_loop(interval))
                    .map_err(|e| Error::io(&inner.dir, e))?;
                Some(handle)
            }
            None => None,
        };
        Ok(Store {
            inner,
            maintenance_thread,
            sync_thread,
        })
    }

    /// Appends a batch; see [`SampleSink::append`].
    pub fn append_batch(&self, batch: &[Series]) -> Result<AppendOutcome, Error> {
        self.inner.append(batch)
    }

    /// Cuts due head ranges into blocks, compacts complete windows, applies retention.
    pub fn maintain(&self) -> Result<(), Error> {
        self.inner.maintain(false, false)
    }

    /// Cuts the whole head into blocks now. Afterwards samples older than the newest one
    /// flushed are refused (they would land in a block).
    pub fn flush(&self) -> Result<(), Error> {
        self.inner.maintain(true, false)
    }

    /// Merges every window's blocks now, complete or not, then applies retention.
    pub fn compact_all(&self) -> Result<(), Error> {
        self.inner.maintain(false, true)
    }

    /// The store's counters and sizes.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Records metadata of metric families (type, help, unit); persists when it changed.
    /// Families with invalid names are skipped.
    pub fn record_metadata(&self, families: &[MetricFamily]) -> Result<(), Error> {
        self.set_metadata(families.iter().map(|f| {
            (
                f.name.clone(),
                MetricMetadata {
                    metric_type: f.metric_type,
                    help: f.help.clone().unwrap_or_default(),
                    unit: f.unit.clone().unwrap_or_default(),
                },
            )
        }))
    }

    /// Sets metadata per metric name; persists (atomically) when anything changed.
    pub fn set_metadata(
        &self,
        entries: impl IntoIterator<Item = (String, MetricMetadata)>,
    ) -> Result<(), Error> {
        let mut metadata = lock(&self.inner.metadata);
        let mut changed = false;
        for (name, entry) in entries {
            if !is_valid_metric_name(&name) {
                continue;
            }
            if metadata.get(&name) != Some(&entry) {
                metadata.insert(name, entry);
                changed = true;
            }
        }
        if changed {
            let json = serde_json::to_vec(&*metadata)
                .map_err(|e| Error::corrupt(&self.inner.metadata_path, e.to_string()))?;
            write_atomically(&self.inner.dir, &self.inner.metadata_path, &json)?;
        }
        Ok(())
    }

    /// Metadata per metric name.
    pub fn metadata(&self) -> BTreeMap<String, MetricMetadata> {
        lock(&self.inner.metadata).clone()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Selects series; see [`SeriesSource::select`].
    pub fn select_series(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, Error> {
        self.inner.select(matchers, start_ms, end_ms)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        *lock(&self.inner.shutdown) = true;
        self.inner.wake.notify_all();
        if let Some(handle) = self.maintenance_thread.take() {
            let _ = handle.join();
        }
        if let Some(handle) = self.sync_thread.take() {
            let _ = handle.join();
        }
        // Leave an exact WAL file; if this fails, replay still stops at the zeros.
        let _ = write(&self.inner.head).wal.trim();
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let temp = path.with_extension("tmp");
    let mut file = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&temp, e))?;
    fs::rename(&temp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(dir)
}

/// Open blocks, quarantined files, highest block number seen.
type LoadedBlocks = (Vec<Arc<Block>>, Vec<PathBuf>, u64);

/// Opens every block; broken ones go to `quarantine/`. Blocks that a compacted block
/// lists as its sources (a crash between writing it and deleting them) are deleted.
fn load_blocks(blocks_dir: &Path, quarantine_dir: &Path) -> Result<LoadedBlocks, Error> {
    let mut blocks = Vec::new();
    let mut quarantined = Vec::new();
    let mut max_seq = 0;
    let entries = fs::read_dir(blocks_dir).map_err(|e| Error::io(blocks_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(blocks_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.starts_with('.') && name.ends_with(".tmp") {
            // An unfinished write from before a crash.
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            continue;
        }
        let Some(seq) = name
            .strip_suffix(".block")
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        max_seq = max_seq.max(seq);
        match Block::open(&path, seq) {
            Ok(block) => blocks.push(block),
            Err(Error::Corrupt { .. }) => {
                create_dir(quarantine_dir)?;
                let target = quarantine_dir.join(name);
                fs::rename(&path, &target).map_err(|e| Error::io(&path, e))?;
                sync_dir(blocks_dir)?;
                quarantined.push(target);
            }
            Err(e) => return Err(e),
        }
    }
    let replaced: BTreeSet<u64> = blocks
        .iter()
        .flat_map(|b| b.index.sources.iter().copied())
        .collect();
    let mut kept = Vec::new();
    for block in blocks {
        if replaced.contains(&block.seq) {
            fs::remove_file(&block.path).map_err(|e| Error::io(&block.path, e))?;
        } else {
            kept.push(Arc::new(block));
        }
    }
    kept.sort_by_key(|b| (b.index.mint, b.seq));
    Ok((kept, quarantined, max_seq))
}

/// Rebuilds the head from the WAL and opens a new segment for writing.
fn replay_wal(wal_dir: &Path, options: &Options, min_valid_ms: i64) -> Result<Head, Error> {
    let seqs = list_segments(wal_dir)?;
    let mut head_series: HashMap<u64, HeadSeries> = HashMap::new();
    let mut by_labels: HashMap<Labels, u64> = HashMap::new();
    let mut postings = Postings::default();
    let mut next_id = 1u64;
    let mut closed = Vec::new();
    let mut samples = 0u64;
    let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
    for (position, &seq) in seqs.iter().enumerate() {
        let path = segment_path(wal_dir, seq);
        let data = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let (records, stop, end) = wal::decode_records(&data);
        let mut bytes = data.len() as u64;
        // Zeros written ahead of the records, or the torn tail of the last write before a
        // crash (never acknowledged): both only ever in the newest segment (rotation
        // truncates a segment before the next one exists), and cut off there.
        let stop = match stop {
            None if end < data.len() => Some((end, "zeros after the last record".to_string())),
            other => other,
        };
        if let Some((offset, reason)) = stop {
            if position + 1 == seqs.len() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::io(&path, e))?;
                file.set_len(offset as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::io(&path, e))?;
                bytes = offset as u64;
            } else {
                return Err(Error::corrupt(
                    &path,
                    format!("WAL record at byte {offset}: {reason}; later segments exist, so acknowledged samples would be lost (move the file away to accept that)"),
                ));
            }
        }
        // Ids are valid within one segment only.
        let mut ids: HashMap<u64, u64> = HashMap::new();
        let mut segment_max: Option<i64> = None;
        for record in records {
            match record {
                WalRecord::Series(defs) => {
                    for (wal_id, labels) in defs {
                        let id = match by_labels.get(&labels) {
                            Some(&id) => id,
                            None => {
                                let id = next_id;
                                next_id += 1;
                                postings.add(id, &labels);
                                by_labels.insert(labels.clone(), id);
                                head_series.insert(id, HeadSeries::new(labels));
                                id
                            }
                        };
                        ids.insert(wal_id, id);
                    }
                }
                WalRecord::Samples(groups) => {
                    for (wal_id, group) in groups {
                        let Some(series) = ids.get(&wal_id).and_then(|id| head_series.get_mut(id))
                        else {
                            return Err(Error::corrupt(
                                &path,
                                format!("samples for series id {wal_id}, which the segment never defines"),
                            ));
                        };
                        for (ts, bits) in group {
                            segment_max = Some(segment_max.map_or(ts, |m: i64| m.max(ts)));
                            series.newest = series.newest.max(ts);
                            if ts >= min_valid_ms
                                && series.insert(ts, bits, options.block_duration_ms)
                            {
                                samples += 1;
                                min_ts = min_ts.min(ts);
                                max_ts = max_ts.max(ts);
                            }
                        }
                    }
                }
            }
        }
        closed.push(SegmentInfo {
            seq,
            path,
            bytes,
            max_ts: segment_max,
        });
    }
    // Series whose samples are all in blocks are not carried into the new segment.
    let stale: Vec<u64> = head_series
        .iter()
        .filter(|(_, s)| s.is_empty())
        .map(|(&id, _)| id)
        .collect();
    for id in stale {
        if let Some(series) = head_series.remove(&id) {
            postings.remove(id, &series.labels);
            by_labels.remove(&series.labels);
        }
    }
    let mut live: Vec<(u64, Labels)> = head_series
        .iter()
        .map(|(&id, s)| (id, s.labels.clone()))
        .collect();
    live.sort_unstable_by_key(|&(id, _)| id);
    let next_seq = seqs.last().map_or(1, |s| s + 1);
    let mut writer = WalWriter::create(wal_dir, next_seq, closed, options.wal_segment_bytes, live)?;
    writer.delete_before(min_valid_ms)?;
    Ok(Head {
        series: head_series,
        by_labels,
        postings,
        next_id,
        min_valid_ms,
        min_ts,
        max_ts,
        samples,
        wal: writer,
        records_written: 0,
    })
}

/// Rejections of one series, grouped by kind so a batch of a thousand late samples is
/// one line with a count and the first example.
#[derive(Default)]
struct SeriesRejections {
    by_kind: BTreeMap<&'static str, (usize, String)>,
}

impl SeriesRejections {
    fn add(&mut self, kind: &'static str, example: impl FnOnce() -> String) {
        self.by_kind
            .entry(kind)
            .and_modify(|(count, _)| *count += 1)
            .or_insert_with(|| (1, example()));
    }
}

/// A series' accepted samples in one write, with its head id when it already exists.
type AcceptedGroup<'a> = (&'a Labels, Option<u64>, Vec<(i64, u64)>);

impl Inner {
    fn append(&self, batch: &[Series]) -> Result<AppendOutcome, Error> {
        let mut outcome = AppendOutcome::default();
        // One entry per label set, even if the batch repeats a series.
        let mut grouped: Vec<(&Labels, Vec<(i64, u64)>)> = Vec::with_capacity(batch.len());
        let mut position: HashMap<&Labels, usize> = HashMap::with_capacity(batch.len());
        for series in batch {
            let samples = series
                .samples
                .iter()
                .map(|s| (s.timestamp_ms, s.value.to_bits()));
            match position.get(&series.labels) {
                Some(&i) => grouped[i].1.extend(samples),
                None => {
                    position.insert(&series.labels, grouped.len());
                    grouped.push((&series.labels, samples.collect()));
                }
            }
        }
        let now = now_ms();
        let options = &self.options;
        let written_seq;
        let cut_due;
        {
            let mut head = write(&self.head);
            if let Some(failure) = &lock(&self.durability).failed {
                return Err(Error::Failed(failure.clone()));
            }
            let mut accepted_groups: Vec<AcceptedGroup<'_>> = Vec::with_capacity(grouped.len());
            for (labels, mut samples) in grouped {
                if samples.is_empty() {
                    continue;
                }
                let existing_id = head.by_labels.get(labels).copied();
                let existing = existing_id.and_then(|id| head.series.get(&id));
                // A series already in the head passed these checks when it was created.
                let checked = match existing {
                    Some(_) => Ok(()),
                    None => check_labels(labels, &options.limits),
                };
                if let Err(reason) = checked {
                    outcome.rejected.push(Rejection {
                        labels: labels.clone(),
                        reason: format!("{} sample(s) rejected: {reason}", samples.len()),
                    });
                    self.rejected
                        .fetch_add(samples.len() as u64, Ordering::Relaxed);
                    continue;
                }
                samples.sort_by_key(|&(ts, _)| ts);
                let mut newest = existing.map_or(i64::MIN, |s| s.newest);
                let mut rejections = SeriesRejections::default();
                let mut accepted: Vec<(i64, u64)> = Vec::with_capacity(samples.len());
                let mut duplicates = 0usize;
                for (ts, bits) in samples {
                    if !(MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&ts) {
                        rejections.add("timestamp", || {
                            format!("timestamp {ts} ms is outside the years 1 to 9999")
                        });
                        continue;
                    }
                    if let Some(max_future) = options.max_future_ms {
                        if ts > now.saturating_add(max_future) {
                            rejections.add("future", || {
                                format!("timestamp {ts} ms is more than {max_future} ms ahead of the clock ({now})")
                            });
                            continue;
                        }
                    }
                    if ts < head.min_valid_ms {
                        let min_valid = head.min_valid_ms;
                        rejections.add("too old", || {
                            format!("timestamp {ts} ms is older than {min_valid} ms, a time range already written to a block")
                        });
                        continue;
                    }
                    let window = options.out_of_order_window_ms;
                    if newest != i64::MIN && ts < newest.saturating_sub(window) {
                        rejections.add("out of order", || {
                            format!("timestamp {ts} ms is more than the out-of-order window of {window} ms older than the series' newest sample ({newest} ms)")
                        });
                        continue;
                    }
                    let previous = accepted
                        .last()
                        .filter(|&&(t, _)| t == ts)
                        .map(|&(_, b)| b)
                        .or_else(|| existing.and_then(|s| s.value_at(ts)));
                    match previous {
                        Some(b) if b == bits => {
                            duplicates += 1;
                            continue;
                        }
                        Some(b) => {
                            rejections.add("duplicate", || {
                                format!("timestamp {ts} ms already has the different value {} (new value {})", f64::from_bits(b), f64::from_bits(bits))
                            });
                            continue;
                        }
                        None => {}
                    }
                    newest = newest.max(ts);
                    accepted.push((ts, bits));
                }
                for (_, (count, example)) in rejections.by_kind {
                    self.rejected.fetch_add(count as u64, Ordering::Relaxed);
                    outcome.rejected.push(Rejection {
                        labels: labels.clone(),
                        reason: format!("{count} sample(s) rejected: {example}"),
                    });
                }
                outcome.accepted += duplicates;
                if !accepted.is_empty() {
                    accepted_groups.push((labels, existing_id, accepted));
                }
            }
            if accepted_groups.is_empty() {
                return Ok(outcome);
            }
            // Write the WAL first, apply to the head only once it is written.
            let mut new_series = Vec::new();
            let mut groups = Vec::with_capacity(accepted_groups.len());
            let mut max_ts = i64::MIN;
            let mut count = 0;
            for (labels, existing_id, samples) in accepted_groups {
                let id = match existing_id {
                    Some(id) => id,
                    None => {
                        let id = head.create(labels);
                        new_series.push((id, labels.clone()));
                        id
                    }
                };
                max_ts = samples.iter().map(|&(t, _)| t).fold(max_ts, i64::max);
                count += samples.len();
                groups.push((id, samples));
            }
            let created_ids: Vec<u64> = new_series.iter().map(|&(id, _)| id).collect();
            let samples_record = WalRecord::Samples(groups);
            let record = if new_series.is_empty() {
                samples_record.encode()
            } else {
                let mut record = WalRecord::Series(new_series).encode();
                record.extend_from_slice(&samples_record.encode());
                record
            };
            let written = if record.len() > wal::MAX_RECORD_BYTES {
                Err(Error::BatchTooLarge(format!(
                    "{} WAL bytes exceed the {} byte record limit; send smaller batches",
                    record.len(),
                    wal::MAX_RECORD_BYTES
                )))
            } else {
                let before = head.wal.current.bytes;
                let result = head.wal.write(&record, Some(max_ts));
                if result.is_err() {
                    // Cut off a partial record so later records are not hidden behind it.
                    if head.wal.cut_back(before).is_err() {
                        lock(&self.durability).failed = Some(format!(
                            "{}: cannot cut off a failed write",
                            head.wal.current.path.display()
                        ));
                    }
                }
                result
            };
            if let Err(e) = written {
                // Series whose definition never reached the WAL must not stay in the head:
                // later records would refer to an id the log never defined.
                for id in created_ids {
                    if let Some(series) = head.series.remove(&id) {
                        head.postings.remove(id, &series.labels);
                        head.by_labels.remove(&series.labels);
                    }
                }
                return Err(e);
            }
            if let WalRecord::Samples(groups) = samples_record {
                for (id, samples) in groups {
                    head.insert(id, &samples, options.block_duration_ms);
                }
            }
            outcome.accepted += count;
            self.appended.fetch_add(count as u64, Ordering::Relaxed);
            head.records_written += 1;
            written_seq = head.records_written;
            if head.wal.wants_rotation() {
                let live = head.live_series();
                head.wal.rotate(live)?;
            }
            let mut durability = lock(&self.durability);
            durability.written = written_seq;
            durability.file = head.wal.file.clone();
            durability.path = head.wal.current.path.clone();
            drop(durability);
            cut_due = head.due_cut(options).is_some();
        }
        if cut_due {
            self.wake.notify_all();
        }
        if self.options.wal_sync_interval.is_none() {
            self.wait_durable(written_seq)?;
        }
        Ok(outcome)
    }

    /// With `wal_sync_interval`: fsyncs what was written, every interval and once more
    /// at shutdown. A failed fsync is recorded in `durability.failed`, after which
    /// appends are refused.
    fn sync_loop(&self, interval: Duration) {
        loop {
            let stop = {
                let shutdown = lock(&self.shutdown);
                *shutdown || {
                    let (shutdown, _) = self
                        .wake
                        .wait_timeout(shutdown, interval)
                        .unwrap_or_else(PoisonError::into_inner);
                    *shutdown
                }
            };
            let written = lock(&self.durability).written;
            let _ = self.wait_durable(written);
            if stop {
                return;
            }
        }
    }

    /// Group commit: the first waiter fsyncs everything written so far; the others wait
    /// for it and return if their record is covered.
    fn wait_durable(&self, seq: u64) -> Result<(), Error> {
        let mut state = lock(&self.durability);
        loop {
            if let Some(failure) = &state.failed {
                return Err(Error::Failed(failure.clone()));
            }
            if state.synced >= seq {
                return Ok(());
            }
            if state.syncing {
                state = self
                    .durable
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.syncing = true;
            let target = state.written;
            let file = Arc::clone(&state.file);
            let path = state.path.clone();
            drop(state);
            let result = file.sync_data();
            state = lock(&self.durability);
            state.syncing = false;
            match result {
                Ok(()) => state.synced = state.synced.max(target),
                Err(e) => {
                    // After a failed fsync the page cache may have dropped the data:
                    // refuse further writes rather than acknowledge on top of a hole.
                    state.failed = Some(format!("fsync of {}: {e}", path.display()));
                }
            }
            self.durable.notify_all();
        }
    }

    fn maintenance_loop(&self) {
        loop {
            {
                let shutdown = lock(&self.shutdown);
                if *shutdown {
                    return;
                }
                let (shutdown, _) = self
                    .wake
                    .wait_timeout(shutdown, Duration::from_secs(30))
                    .unwrap_or_else(PoisonError::into_inner);
                if *shutdown {
                    return;
                }
            }
            let result = self.maintain(false, false);
            *lock(&self.maintenance_error) = result.err().map(|e| e.to_string());
        }
    }

    fn maintain(&self, flush_all: bool, compact_all: bool) -> Result<(), Error> {
        let _only_one = lock(&self.maintenance);
        loop {
            let end = {
                let head = read(&self.head);
                match head.due_cut(&self.options) {
                    Some(end) => end,
                    None if flush_all && head.samples > 0 => {
                        let duration = self.options.block_duration_ms;
                        let aligned = head.min_ts.div_euclid(duration) * duration + duration;
                        aligned.min(head.max_ts.saturating_add(1))
                    }
                    None => break,
                }
            };
            self.cut(end)?;
        }
        self.compact(compact_all)?;
        self.apply_retention()
    }

    /// Moves the head's samples older than `end` into a new block.
    fn cut(&self, end: i64) -> Result<(), Error> {
        // Compressed chunks are copied under the lock and decoded one series at a time
        // while the block is written.
        let mut snapshot: Vec<head::SeriesSnapshot> = {
            let mut head = write(&self.head);
            head.min_valid_ms = head.min_valid_ms.max(end);
            head.series
                .values()
                .filter_map(|s| s.snapshot_before(end))
                .collect()
        };
        snapshot.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        let seq = self.next_block_seq.fetch_add(1, Ordering::Relaxed);
        let block = write_block(
            &self.blocks_dir,
            seq,
            0,
            &[],
            snapshot.into_iter().map(|s| {
                let samples = s.samples();
                Ok((s.labels, samples))
            }),
            self.options.head_zstd_level,
        )?;
        if let Some(block) = block {
            let mut blocks = write(&self.blocks);
            blocks.push(Arc::new(block));
            blocks.sort_by_key(|b| (b.index.mint, b.seq));
        }
        // Readers see the block before the head lets go of the samples (duplicates are
        // merged away), never neither.
        let mut head = write(&self.head);
        let mut removed = 0u64;
        let mut gone = Vec::new();
        for (&id, series) in head.series.iter_mut() {
            removed += series.drop_before(end);
            if series.is_empty() && series.newest < end {
                gone.push(id);
            }
        }
        for id in gone {
            if let Some(series) = head.series.remove(&id) {
                head.postings.remove(id, &series.labels);
                head.by_labels.remove(&series.labels);
            }
        }
        head.samples -= removed;
        head.recompute_min();
        let live = head.live_series();
        head.wal.rotate(live)?;
        let mut durability = lock(&self.durability);
        durability.file = head.wal.file.clone();
        durability.path = head.wal.current.path.clone();
        // Rotation fsynced everything written before it.
        durability.synced = durability.synced.max(head.records_written);
        drop(durability);
        self.durable.notify_all();
        head.wal.delete_before(end)
    }

    /// Merges the blocks of each `max_block_duration` window once the head has moved past
    /// the window (or always, when `force`).
    fn compact(&self, force: bool) -> Result<(), Error> {
        let range = self.options.max_block_duration_ms;
        loop {
            let min_valid = read(&self.head).min_valid_ms;
            let blocks: Vec<Arc<Block>> = read(&self.blocks).clone();
            let mut windows: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
            for block in blocks {
                windows
                    .entry(block.index.mint.div_euclid(range))
                    .or_default()
                    .push(block);
            }
            let group = windows.into_iter().find(|(window, group)| {
                let window_end = window.saturating_add(1).saturating_mul(range);
                group.len() > 1 && (force || min_valid >= window_end)
            });
            let Some((_, group)) = group else {
                return Ok(());
            };
            self.merge(&group)?;
        }
    }

    fn merge(&self, group: &[Arc<Block>]) -> Result<(), Error> {
        let mut by_labels: BTreeMap<&Labels, Vec<(usize, usize)>> = BTreeMap::new();
        for (b, block) in group.iter().enumerate() {
            for (s, series) in block.index.series.iter().enumerate() {
                by_labels.entry(&series.labels).or_default().push((b, s));
            }
        }
        let merged = by_labels.into_iter().map(|(labels, parts)| {
            let mut samples = Vec::new();
            for (b, s) in parts {
                samples.extend(group[b].read_series(s)?);
            }
            sort_dedup(&mut samples);
            Ok((labels.clone(), samples))
        });
        let seq = self.next_block_seq.fetch_add(1, Ordering::Relaxed);
        let level = group.iter().map(|b| b.index.level).max().unwrap_or(0) + 1;
        let sources: Vec<u64> = group.iter().map(|b| b.seq).collect();
        let block = write_block(
            &self.blocks_dir,
            seq,
            level,
            &sources,
            merged,
            self.options.compacted_zstd_level,
        )?;
        {
            let mut blocks = write(&self.blocks);
            blocks.retain(|b| !sources.contains(&b.seq));
            if let Some(block) = block {
                blocks.push(Arc::new(block));
            }
            blocks.sort_by_key(|b| (b.index.mint, b.seq));
        }
        for old in group {
            fs::remove_file(&old.path).map_err(|e| Error::io(&old.path, e))?;
        }
        sync_dir(&self.blocks_dir)
    }

    fn apply_retention(&self) -> Result<(), Error> {
        let mut doomed: Vec<Arc<Block>> = Vec::new();
        {
            let head_max = read(&self.head).max_ts;
            let wal_bytes = read(&self.head).wal.total_bytes();
            let mut blocks = write(&self.blocks);
            if let Some(retention) = self.options.retention_time_ms {
                let newest = blocks
                    .iter()
                    .map(|b| b.index.maxt)
                    .chain([head_max])
                    .max()
                    .unwrap_or(i64::MIN);
                let cutoff = newest.saturating_sub(retention);
                blocks.retain(|b| {
                    let keep = b.index.maxt >= cutoff;
                    if !keep {
                        doomed.push(Arc::clone(b));
                    }
                    keep
                });
            }
            if let Some(limit) = self.options.retention_bytes {
                let mut total = wal_bytes + blocks.iter().map(|b| b.bytes).sum::<u64>();
                while total > limit && !blocks.is_empty() {
                    let oldest = blocks.remove(0);
                    total -= oldest.bytes;
                    doomed.push(oldest);
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        for block in &doomed {
            match fs::remove_file(&block.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&block.path, e)),
            }
        }
        sync_dir(&self.blocks_dir)
    }

    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, Error> {
        let mut out = Vec::new();
        self.select_each(matchers, start_ms, end_ms, &mut |series| {
            out.push(series);
            std::ops::ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// The matching series with their samples in the window, one at a time in label
    /// order; only the series being decoded is held.
    fn select_each(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
        each: &mut dyn FnMut(Series) -> std::ops::ControlFlow<()>,
    ) -> Result<(), Error> {
        /// Where a series' samples are: taken from the head, or a chunk still to read.
        enum Piece {
            Head(Vec<(i64, u64)>),
            Block(Arc<Block>, usize),
        }
        // First where each series' samples are, then each series decoded straight into
        // one vector sized from the index's counts: collecting pieces and joining them
        // held up to twice a long query's samples.
        let mut found: HashMap<Labels, Vec<(i64, Piece)>> = HashMap::new();
        // Head first, then blocks: a concurrent cut publishes its block before the head
        // drops the samples, so nothing falls between the two reads.
        {
            let head = read(&self.head);
            for id in head.postings.select(matchers) {
                let Some(series) = head.series.get(&id) else {
                    continue;
                };
                let samples = series.range(start_ms, end_ms);
                if let Some(&(first, _)) = samples.first() {
                    found
                        .entry(series.labels.clone())
                        .or_default()
                        .push((first, Piece::Head(samples)));
                }
            }
        }
        let blocks: Vec<Arc<Block>> = read(&self.blocks).clone();
        for block in blocks
            .iter()
            .filter(|b| b.index.maxt >= start_ms && b.index.mint <= end_ms)
        {
            for i in block.postings.select(matchers) {
                let Some(meta) = block.index.series.get(i as usize) else {
                    continue;
                };
                if meta.maxt < start_ms || meta.mint > end_ms {
                    continue;
                }
                found
                    .entry(meta.labels.clone())
                    .or_default()
                    .push((meta.mint, Piece::Block(Arc::clone(block), i as usize)));
            }
        }
        let mut found: Vec<(Labels, Vec<(i64, Piece)>)> = found.into_iter().collect();
        found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (labels, mut pieces) in found {
            // Blocks and head hold disjoint, increasing time ranges almost always.
            pieces.sort_by_key(|&(first, _)| first);
            let capacity = pieces
                .iter()
                .map(|(_, piece)| match piece {
                    Piece::Head(samples) => samples.len(),
                    Piece::Block(block, i) => {
                        block.index.series.get(*i).map_or(0, |s| s.samples as usize)
                    }
                })
                .sum();
            let mut samples: Vec<Sample> = Vec::with_capacity(capacity);
            let in_range = |&&(t, _): &&(i64, u64)| t >= start_ms && t <= end_ms;
            for (_, piece) in pieces {
                let decoded = match piece {
                    Piece::Head(samples) => samples,
                    Piece::Block(block, i) => block.read_series(i)?,
                };
                samples.extend(decoded.iter().filter(in_range).map(|&(t, bits)| Sample {
                    timestamp_ms: t,
                    value: f64::from_bits(bits),
                }));
            }
            if samples
                .windows(2)
                .any(|w| w[0].timestamp_ms >= w[1].timestamp_ms)
            {
                samples.sort_by_key(|s| s.timestamp_ms);
                samples.dedup_by_key(|s| s.timestamp_ms);
            }
            if each(Series { labels, samples }).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Label sets of the matching series with samples in the window.
    fn matching_labels(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<Labels> {
        let mut out: BTreeSet<Labels> = BTreeSet::new();
        {
            let head = read(&self.head);
            for id in head.postings.select(matchers) {
                if let Some(series) = head.series.get(&id) {
                    if series.has_in_range(start_ms, end_ms) {
                        out.insert(series.labels.clone());
                    }
                }
            }
        }
        let blocks: Vec<Arc<Block>> = read(&self.blocks).clone();
        for block in blocks
            .iter()
            .filter(|b| b.index.maxt >= start_ms && b.index.mint <= end_ms)
        {
            for i in block.postings.select(matchers) {
                if let Some(meta) = block.index.series.get(i as usize) {
                    if meta.maxt >= start_ms && meta.mint <= end_ms {
                        out.insert(meta.labels.clone());
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    fn label_names(&self, matchers: &[LabelMatcher], start_ms: i64, end_ms: i64) -> Vec<String> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        if matchers.is_empty() {
            // Whole blocks from their index; the head too (it holds recent data only).
            names.extend(read(&self.head).postings.names());
            for block in read(&self.blocks)
                .iter()
                .filter(|b| b.index.maxt >= start_ms && b.index.mint <= end_ms)
            {
                names.extend(block.postings.names());
            }
            return names.into_iter().collect();
        }
        for labels in self.matching_labels(matchers, start_ms, end_ms) {
            names.extend(labels.iter().map(|l| l.name.clone()));
        }
        names.into_iter().collect()
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<String> {
        let mut values: BTreeSet<String> = BTreeSet::new();
        if matchers.is_empty() {
            values.extend(read(&self.head).postings.values(name));
            for block in read(&self.blocks)
                .iter()
                .filter(|b| b.index.maxt >= start_ms && b.index.mint <= end_ms)
            {
                values.extend(block.postings.values(name));
            }
            return values.into_iter().collect();
        }
        for labels in self.matching_labels(matchers, start_ms, end_ms) {
            if let Some(value) = labels.get(name) {
                values.insert(value.to_string());
            }
        }
        values.into_iter().collect()
    }

    fn stats(&self) -> Stats {
        let (
            head_series,
            head_samples,
            head_sample_bytes,
            head_min,
            head_max,
            wal_bytes,
            wal_segments,
        ) = {
            let head = read(&self.head);
            (
                head.postings.len(),
                head.samples,
                head.series.values().map(|s| s.sample_bytes() as u64).sum(),
                (head.samples > 0).then_some(head.min_ts),
                (head.samples > 0).then_some(head.max_ts),
                head.wal.total_bytes(),
                head.wal.segment_count(),
            )
        };
        let blocks: Vec<BlockStats> = read(&self.blocks)
            .iter()
            .map(|b| BlockStats {
                min_time_ms: b.index.mint,
                max_time_ms: b.index.maxt,
                series: b.index.series.len(),
                samples: b.samples,
                bytes: b.bytes,
                level: b.index.level,
            })
            .collect();
        let block_bytes = blocks.iter().map(|b| b.bytes).sum::<u64>();
        let metadata_bytes = fs::metadata(&self.metadata_path).map_or(0, |m| m.len());
        Stats {
            head_series,
            head_samples,
            head_sample_bytes,
            head_min_time_ms: head_min,
            head_max_time_ms: head_max,
            block_samples: blocks.iter().map(|b| b.samples).sum(),
            block_bytes,
            blocks,
            wal_bytes,
            wal_segments,
            bytes_on_disk: block_bytes + wal_bytes + metadata_bytes,
            samples_appended_total: self.appended.load(Ordering::Relaxed),
            samples_rejected_total: self.rejected.load(Ordering::Relaxed),
            quarantined: lock(&self.quarantined).clone(),
            maintenance_error: lock(&self.maintenance_error).clone(),
        }
    }
}

fn sort_dedup(samples: &mut Vec<(i64, u64)>) {
    if samples.windows(2).any(|w| w[0].0 >= w[1].0) {
        samples.sort_by_key(|&(t, _)| t);
        samples.dedup_by_key(|&mut (t, _)| t);
    }
}

impl SampleSink for Store {
    fn append(&self, batch: &[Series]) -> Result<AppendOutcome, MetricsError> {
        Ok(self.inner.append(batch)?)
    }
}

impl SeriesSource for Store {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<Series>, MetricsError> {
        Ok(self.inner.select(matchers, start_ms, end_ms)?)
    }

    fn select_each(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
        each: &mut dyn FnMut(Series) -> std::ops::ControlFlow<()>,
    ) -> Result<(), MetricsError> {
        Ok(self.inner.select_each(matchers, start_ms, end_ms, each)?)
    }

    fn label_names(
        &self,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, MetricsError> {
        Ok(self.inner.label_names(matchers, start_ms, end_ms))
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[LabelMatcher],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<String>, MetricsError> {
        Ok(self.inner.label_values(name, matchers, start_ms, end_ms))
    }
}
