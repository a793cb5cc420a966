//! A durable FIFO of items waiting for the server, one file per item: the inventory
//! reports ([`Queue<Report>`](Queue)) and the host metrics batches
//! ([`Queue<MetricsBatch>`](Queue)), each in a directory of its own.
//!
//! Layout of a queue directory:
//!
//! ```text
//! lock                              flock(2)ed by the agent that owns the queue
//! 00000000000000000042.json         one item (a serialized Report here); the number
//!                                   orders the queue, the suffix is the item kind's
//! .tmp-…                            an item being written (removed on open: never queued)
//! quarantine/00000000000000000017.json   an item that could not be read back
//! ```
//!
//! An item is written to a temp name, fsync'd, renamed to its final name and the
//! directory fsync'd, so after a crash it is either whole or absent. [`Queue::ack`]
//! deletes it. Reopening the directory finds every item again, in order.
//!
//! The queue is bounded by the bytes of its items (and optionally by their number).
//! When an item does not fit, what happens is the item kind's [`Overflow`] policy:
//! reports drop only the queued reports a newer one makes redundant and are otherwise
//! refused with [`PushOutcome::QueueFull`] ([`Queue::status`] says so until one is
//! queued again); metrics batches drop the oldest batches, since the newest samples are
//! worth the most. Nothing is ever dropped silently: drops are in the outcome, refusals
//! in the status.

use crate::fsutil::{create_dir, read_limited, sync_dir, write_atomic, TEMP_PREFIX};
use crate::AgentError;
use postwatch_model::fleet::{AssetRef, InventoryPayload, Report};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Default bound on the bytes of queued reports.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
/// Largest item file read back; anything larger is corrupt.
const MAX_ITEM_BYTES: u64 = 1 << 30;
const QUARANTINE: &str = "quarantine";
const LOCK: &str = "lock";

/// What a queue does when a new item does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop queued items the new one makes redundant; refuse it if that is not enough.
    RefuseUnlessRedundant,
    /// Drop the oldest queued items until the new one fits.
    DropOldest,
}

/// Something a [`Queue`] holds: how it is written to its file and read back, and what
/// the queue remembers of it without reading it again.
pub trait QueueItem: Sized {
    /// What the queue keeps in memory per item, to decide what is redundant.
    type Summary: Clone + std::fmt::Debug;
    /// The item files' name suffix.
    const SUFFIX: &'static str;
    /// What an item is called in warnings.
    const NOUN: &'static str;
    const OVERFLOW: Overflow;

    fn to_bytes(&self) -> Result<Vec<u8>, String>;
    /// Reads an item back; an error says why the file is unusable (it is quarantined).
    fn from_bytes(bytes: &[u8]) -> Result<Self, String>;
    fn summary(&self) -> Self::Summary;
    /// Whether `newer` (queued later) carries everything `older` does, so that `older`
    /// may be dropped when room is needed.
    fn superseded_by(older: &Self::Summary, newer: &Self::Summary) -> bool;
}

/// Names a queued item; ordered like the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(u64);

impl ItemId {
    fn file_name(self, suffix: &str) -> String {
        format!("{:020}{suffix}", self.0)
    }

    fn parse(name: &str, suffix: &str) -> Option<ItemId> {
        let digits = name.strip_suffix(suffix)?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(ItemId)
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What [`Queue::push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The item is queued. `dropped` lists queued items removed to make room: made
    /// redundant by a newer item, or (for [`Overflow::DropOldest`]) the oldest.
    Queued { id: ItemId, dropped: Vec<ItemId> },
    /// The item was not queued: the queue holds `bytes` of its `limit` and the
    /// item needs `report_bytes` more.
    QueueFull {
        bytes: u64,
        limit: u64,
        report_bytes: u64,
    },
}

/// How full the queue is, for the agent's status and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    pub items: usize,
    pub bytes: u64,
    pub limit: u64,
    /// Items refused since the last one queued.
    pub refused: u64,
}

impl QueueStatus {
    /// A warning to show while reports are being refused.
    pub fn warning(&self, dir: &Path) -> Option<String> {
        (self.refused > 0).then(|| {
            format!(
                "report queue {} is full ({} of {} bytes in {} reports): {} report(s) were not \
                 queued; the server has not acknowledged reports for a while — check that it is \
                 reachable, or raise the queue limit",
                dir.display(),
                self.bytes,
                self.limit,
                self.items,
                self.refused
            )
        })
    }
}

/// What the queue remembers of an item without reading it again.
#[derive(Debug, Clone)]
struct Entry<S> {
    id: ItemId,
    bytes: u64,
    summary: S,
}

/// A report's asset and, for a delta, its base (`None` for a full inventory).
#[derive(Debug, Clone)]
pub struct ReportSummary {
    asset: AssetRef,
    base: Option<String>,
}

impl QueueItem for Report {
    type Summary = ReportSummary;
    const SUFFIX: &'static str = ".json";
    const NOUN: &'static str = "report";
    const OVERFLOW: Overflow = Overflow::RefuseUnlessRedundant;

    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self)
            .map_err(|e| format!("cannot serialize report {}: {e}", self.report_id))
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    fn summary(&self) -> ReportSummary {
        ReportSummary {
            asset: self.asset.clone(),
            base: match &self.inventory {
                InventoryPayload::Full { .. } => None,
                InventoryPayload::Delta { base, .. } => Some(base.clone()),
            },
        }
    }

    /// Same asset, and a full inventory; or a delta from the same base (the agent's
    /// deltas are cumulative from the last acknowledged report).
    fn superseded_by(older: &ReportSummary, newer: &ReportSummary) -> bool {
        crate::same_asset(&newer.asset, &older.asset)
            && match (&newer.base, &older.base) {
                (None, _) => true,
                (Some(new_base), Some(old_base)) => new_base == old_base,
                (Some(_), None) => false,
            }
    }
}

/// One collection of host metrics: the body of a remote_write request (snappy block
/// format around a protobuf `WriteRequest`), sent as it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsBatch {
    pub body: Vec<u8>,
}

impl QueueItem for MetricsBatch {
    type Summary = ();
    const SUFFIX: &'static str = ".rw";
    const NOUN: &'static str = "metrics batch";
    const OVERFLOW: Overflow = Overflow::DropOldest;

    fn to_bytes(&self) -> Result<Vec<u8>, String> {
        Ok(self.body.clone())
    }

    /// Decodes the body as the server will, so a damaged file is quarantined here
    /// instead of being refused by the server.
    fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        postwatch_metricsio::remote_write::decode_write_request(bytes, &Default::default())
            .map_err(|e| format!("not a remote_write body: {e}"))?;
        Ok(MetricsBatch {
            body: bytes.to_vec(),
        })
    }

    fn summary(&self) {}

    /// Every collection carries samples of its own time: none replaces another.
    fn superseded_by(_: &(), _: &()) -> bool {
        false
    }
}

/// The queue directory, locked for this process while the value lives.
pub struct Queue<T: QueueItem = Report> {
    dir: PathBuf,
    limit: u64,
    max_items: usize,
    items: Vec<Entry<T::Summary>>,
    bytes: u64,
    next: u64,
    refused: u64,
    warnings: Vec<String>,
    _lock: File,
}

impl<T: QueueItem> Queue<T> {
    /// Opens (creating it if needed) the queue in `dir`, bounded to `max_bytes` of
    /// queued items. Items that cannot be read back are moved to `quarantine/`, each
    /// with a warning ([`Queue::take_warnings`]).
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Queue<T>, AgentError> {
        create_dir(dir, 0o700)?;
        let lock = lock(dir)?;
        let mut queue: Queue<T> = Queue {
            dir: dir.to_owned(),
            limit: max_bytes,
            max_items: usize::MAX,
            items: Vec::new(),
            bytes: 0,
            next: 1,
            refused: 0,
            warnings: Vec::new(),
            _lock: lock,
        };
        let entries = fs::read_dir(dir).map_err(|e| AgentError::io("listing", dir, e))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| AgentError::io("listing", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                // A write that never reached its rename: the item was never queued.
                let path = entry.path();
                fs::remove_file(&path).map_err(|e| AgentError::io("removing", &path, e))?;
            } else if let Some(id) = ItemId::parse(&name, T::SUFFIX) {
                ids.push(id);
            }
        }
        ids.sort();
        for id in ids {
            queue.next = queue.next.max(id.0 + 1);
            if let Some((item, bytes)) = queue.read_item(id)? {
                queue.bytes += bytes;
                queue.items.push(Entry {
                    id,
                    bytes,
                    summary: item.summary(),
                });
            }
        }
        Ok(queue)
    }

    /// Also bounds the number of queued items (for metrics: a time window, in
    /// collections). Applies from the next push.
    pub fn with_max_items(mut self, max_items: usize) -> Queue<T> {
        self.max_items = max_items.max(1);
        self
    }

    fn fits(&self, size: u64) -> bool {
        self.bytes + size <= self.limit && self.items.len() < self.max_items
    }

    /// Appends an item. When it does not fit, queued items it makes redundant and
    /// those other queued items make redundant are dropped first, oldest first; then,
    /// for [`Overflow::DropOldest`], the oldest items; if it still does not fit it is
    /// refused.
    pub fn push(&mut self, item: &T) -> Result<PushOutcome, AgentError> {
        let bytes = item.to_bytes().map_err(|why| AgentError::Corrupt {
            path: self.dir.clone(),
            why,
        })?;
        let size = bytes.len() as u64;
        let id = ItemId(self.next);
        let summary = item.summary();
        let mut dropped = Vec::new();
        if !self.fits(size) {
            let redundant: Vec<ItemId> =
                self.items
                    .iter()
                    .filter(|old| {
                        T::superseded_by(&old.summary, &summary)
                            || self.items.iter().any(|n| {
                                n.id > old.id && T::superseded_by(&old.summary, &n.summary)
                            })
                    })
                    .map(|e| e.id)
                    .collect();
            for old in redundant {
                if self.fits(size) {
                    break;
                }
                self.remove(old)?;
                dropped.push(old);
            }
        }
        // Room is made only for an item that fits the bound at all.
        if T::OVERFLOW == Overflow::DropOldest && size <= self.limit {
            while !self.fits(size) {
                let Some(oldest) = self.items.first().map(|e| e.id) else {
                    break;
                };
                self.remove(oldest)?;
                dropped.push(oldest);
            }
        }
        if !self.fits(size) {
            self.refused += 1;
            return Ok(PushOutcome::QueueFull {
                bytes: self.bytes,
                limit: self.limit,
                report_bytes: size,
            });
        }
        write_atomic(&self.dir.join(id.file_name(T::SUFFIX)), &bytes, 0o600)?;
        self.next += 1;
        self.bytes += size;
        self.items.push(Entry {
            id,
            bytes: size,
            summary,
        });
        self.refused = 0;
        Ok(PushOutcome::Queued { id, dropped })
    }

    /// The oldest queued item, read back from disk. Items that no longer parse are
    /// quarantined (with a warning) and skipped.
    pub fn peek(&mut self) -> Result<Option<(ItemId, T)>, AgentError> {
        while let Some(first) = self.items.first() {
            let (id, bytes) = (first.id, first.bytes);
            match self.read_item(id)? {
                Some((item, _)) => return Ok(Some((id, item))),
                None => {
                    self.items.remove(0);
                    self.bytes -= bytes;
                }
            }
        }
        Ok(None)
    }

    /// Deletes an item the server acknowledged. Acknowledging an item that is gone
    /// (dropped meanwhile) is not an error.
    pub fn ack(&mut self, id: ItemId) -> Result<(), AgentError> {
        self.remove(id)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn status(&self) -> QueueStatus {
        QueueStatus {
            items: self.items.len(),
            bytes: self.bytes,
            limit: self.limit,
            refused: self.refused,
        }
    }

    /// Warnings about quarantined items since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn remove(&mut self, id: ItemId) -> Result<(), AgentError> {
        let path = self.dir.join(id.file_name(T::SUFFIX));
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(AgentError::io("removing", &path, e)),
        }
        if let Some(at) = self.items.iter().position(|e| e.id == id) {
            self.bytes -= self.items[at].bytes;
            self.items.remove(at);
        }
        Ok(())
    }

    /// Reads an item: `None` when it vanished or was quarantined.
    fn read_item(&mut self, id: ItemId) -> Result<Option<(T, u64)>, AgentError> {
        let path = self.dir.join(id.file_name(T::SUFFIX));
        let why = match read_limited(&path, MAX_ITEM_BYTES) {
            Ok(None) => return Ok(None),
            Ok(Some(bytes)) => match T::from_bytes(&bytes) {
                Ok(item) => return Ok(Some((item, bytes.len() as u64))),
                Err(why) => why,
            },
            Err(AgentError::Corrupt { why, .. }) => why,
            Err(e) => return Err(e),
        };
        let moved = self.quarantine(&path)?;
        self.warnings.push(format!(
            "queued {} {} is unreadable ({why}); moved it to {} and skipped it",
            T::NOUN,
            path.display(),
            moved.display()
        ));
        Ok(None)
    }

    fn quarantine(&self, path: &Path) -> Result<PathBuf, AgentError> {
        let dir = self.dir.join(QUARANTINE);
        create_dir(&dir, 0o700)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut target = dir.join(&name);
        let mut n = 1;
        while target.exists() {
            target = dir.join(format!("{name}.{n}"));
            n += 1;
        }
        fs::rename(path, &target).map_err(|e| AgentError::io("quarantining", path, e))?;
        sync_dir(&self.dir)?;
        Ok(target)
    }
}

/// Takes the directory's lock so that two agents never share a queue (or, for the
/// state directory, a state).
pub(crate) fn lock(dir: &Path) -> Result<File, AgentError> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| AgentError::io("opening", &path, e))?;
    // SAFETY: flock on a file descriptor this function owns (kept open in the File).
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(AgentError::Locked { path });
        }
        return Err(AgentError::io("locking", &path, e));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use postwatch_model::fleet::{AssetKind, FLEET_PROTOCOL_VERSION};
    use postwatch_model::{Target, TargetKind};

    const SUFFIX: &str = <Report as QueueItem>::SUFFIX;

    fn asset(name: &str) -> AssetRef {
        AssetRef {
            kind: AssetKind::Host,
            name: name.to_owned(),
            host: None,
            image_digest: None,
        }
    }

    fn full(id: &str, host: &str) -> Report {
        report(
            id,
            host,
            InventoryPayload::Full {
                target: Target {
                    name: "host".into(),
                    kind: TargetKind::Host,
                    image: None,
                },
                os: None,
                packages: vec![],
            },
        )
    }

    fn delta(id: &str, host: &str, base: &str) -> Report {
        report(
            id,
            host,
            InventoryPayload::Delta {
                base: base.to_owned(),
                os: None,
                added: vec![],
                removed: vec![format!("pkg:deb/debian/{id}@1|/var/lib/dpkg/status")],
            },
        )
    }

    fn report(id: &str, host: &str, inventory: InventoryPayload) -> Report {
        Report {
            protocol: FLEET_PROTOCOL_VERSION.to_owned(),
            report_id: id.to_owned(),
            taken_at: "2026-01-02T03:04:05Z".to_owned(),
            asset: asset(host),
            facts: None,
            container: None,
            inventory,
            in_use: None,
        }
    }

    fn size(r: &Report) -> u64 {
        serde_json::to_vec(r).unwrap().len() as u64
    }

    fn queued(outcome: PushOutcome) -> ItemId {
        match outcome {
            PushOutcome::Queued { id, .. } => id,
            other => panic!("not queued: {other:?}"),
        }
    }

    fn ids(q: &mut Queue) -> Vec<String> {
        let mut out = Vec::new();
        while let Some((id, r)) = q.peek().unwrap() {
            out.push(r.report_id);
            q.ack(id).unwrap();
        }
        out
    }

    #[test]
    fn first_in_first_out_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = Queue::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
            assert!(q.peek().unwrap().is_none());
            for n in 1..=3 {
                queued(q.push(&delta(&format!("a-{n}"), "web-1", "a-0")).unwrap());
            }
            let (id, first) = q.peek().unwrap().unwrap();
            assert_eq!(first.report_id, "a-1");
            // Peeking twice gives the same item until it is acknowledged.
            assert_eq!(q.peek().unwrap().unwrap().0, id);
            q.ack(id).unwrap();
            assert_eq!(q.len(), 2);
        }
        // A new process: the rest is still there, in order, and new items go after.
        let mut q = Queue::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(q.len(), 2);
        queued(q.push(&full("a-4", "web-1")).unwrap());
        assert_eq!(ids(&mut q), ["a-2", "a-3", "a-4"]);
        assert!(q.is_empty());
        assert_eq!(q.status().bytes, 0);
        // Items are files with sortable names, written with owner-only permissions.
        // Numbering only orders what is queued: an emptied queue starts again at 1.
        drop(q);
        let mut q = Queue::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
        queued(q.push(&full("a-5", "web-1")).unwrap());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(SUFFIX))
            .collect();
        assert_eq!(names, ["00000000000000000001.json"]);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(dir.path().join(&names[0]))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    fn corrupt_items_are_quarantined_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = Queue::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
            for n in 1..=3 {
                queued(q.push(&full(&format!("a-{n}"), "web-1")).unwrap());
            }
        }
        // A torn write from some other tool, and a leftover temp file of a crash.
        let second = dir.path().join(ItemId(2).file_name(SUFFIX));
        let text = fs::read(&second).unwrap();
        fs::write(&second, &text[..text.len() / 2]).unwrap();
        fs::write(dir.path().join(".tmp-00000000000000000004.json.1.0"), b"{").unwrap();
        let mut q = Queue::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
        let warnings = q.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("00000000000000000002.json"),
            "{warnings:?}"
        );
        assert!(dir
            .path()
            .join("quarantine/00000000000000000002.json")
            .exists());
        assert!(!dir
            .path()
            .join(".tmp-00000000000000000004.json.1.0")
            .exists());
        // Corrupted after opening: found when peeked.
        fs::write(dir.path().join(ItemId(1).file_name(SUFFIX)), b"not json").unwrap();
        assert_eq!(ids(&mut q), ["a-3"]);
        assert_eq!(q.take_warnings().len(), 1);
        assert_eq!(
            fs::read_dir(dir.path().join(QUARANTINE)).unwrap().count(),
            2
        );
    }

    #[test]
    fn a_full_queue_refuses_deltas_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let one = size(&delta("a-1", "web-1", "a-0"));
        let mut q = Queue::open(dir.path(), one * 2 + one / 2).unwrap();
        // Deltas on different bases (a chain): none makes another redundant.
        let first = queued(q.push(&delta("a-1", "web-1", "a-0")).unwrap());
        queued(q.push(&delta("a-2", "web-1", "a-1")).unwrap());
        match q.push(&delta("a-3", "web-1", "a-2")).unwrap() {
            PushOutcome::QueueFull {
                bytes,
                limit,
                report_bytes,
            } => {
                assert_eq!((bytes, report_bytes), (2 * one, one));
                assert_eq!(limit, one * 2 + one / 2);
            }
            other => panic!("{other:?}"),
        }
        let status = q.status();
        assert_eq!((status.items, status.refused), (2, 1));
        let warning = status.warning(dir.path()).unwrap();
        assert!(warning.contains("full") && warning.contains("reachable"));
        // Sending one makes room again; the warning clears once a report is queued.
        q.ack(first).unwrap();
        queued(q.push(&delta("a-3", "web-1", "a-2")).unwrap());
        assert_eq!(q.status().refused, 0);
        assert!(q.status().warning(dir.path()).is_none());
        // A report larger than the whole queue is refused even when it is empty.
        let mut small = Queue::open(&dir.path().join("small"), 10).unwrap();
        assert!(matches!(
            small.push(&full("b-1", "web-2")).unwrap(),
            PushOutcome::QueueFull { .. }
        ));
    }

    #[test]
    fn a_full_inventory_replaces_older_reports_of_its_asset_when_room_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let unit = size(&delta("a-1", "web-1", "a-0")).max(size(&full("a-9", "web-1")));
        let mut q = Queue::open(dir.path(), unit * 4).unwrap();
        queued(q.push(&delta("a-1", "web-1", "a-0")).unwrap());
        queued(q.push(&delta("b-1", "web-2", "b-0")).unwrap());
        queued(q.push(&delta("a-2", "web-1", "a-1")).unwrap());
        queued(q.push(&delta("b-2", "web-2", "b-1")).unwrap());
        match q.push(&full("a-3", "web-1")).unwrap() {
            PushOutcome::Queued { dropped, .. } => assert_eq!(dropped, [ItemId(1)]),
            other => panic!("{other:?}"),
        }
        assert_eq!(ids(&mut q), ["b-1", "a-2", "b-2", "a-3"]);
    }

    #[test]
    fn a_cumulative_delta_replaces_older_ones_from_the_same_base() {
        let dir = tempfile::tempdir().unwrap();
        let unit = size(&delta("a-1", "web-1", "a-0"));
        let mut q = Queue::open(dir.path(), unit * 2).unwrap();
        queued(q.push(&delta("a-1", "web-1", "a-0")).unwrap());
        queued(q.push(&delta("a-2", "web-1", "a-0")).unwrap());
        match q.push(&delta("a-3", "web-1", "a-0")).unwrap() {
            PushOutcome::Queued { dropped, .. } => assert_eq!(dropped, [ItemId(1)]),
            other => panic!("{other:?}"),
        }
        // Another asset's delta from a base of the same name is not redundant.
        assert!(matches!(
            q.push(&delta("a-4", "web-2", "a-0")).unwrap(),
            PushOutcome::Queued { .. }
        ));
        assert_eq!(ids(&mut q), ["a-3", "a-4"]);
    }

    #[test]
    fn assets_are_named_by_kind_name_and_host_not_digest() {
        let image = |id: &str, digest: &str| {
            let mut r = full(id, "nginx:1.25");
            r.asset.kind = AssetKind::Image;
            r.asset.image_digest = Some(digest.to_owned());
            r
        };
        let old = image("i-1", "sha256:aa").summary();
        let moved = image("i-2", "sha256:bb").summary();
        // Either full inventory carries everything: the queue's order decides which
        // one is the newer.
        assert!(Report::superseded_by(&old, &moved));
        assert!(Report::superseded_by(&moved, &old));
        let on = |host: &str| {
            let mut r = full("c", &"3f".repeat(32));
            r.asset.kind = AssetKind::Container;
            r.asset.host = Some(host.to_owned());
            r.summary()
        };
        assert!(!Report::superseded_by(&on("web-1"), &on("web-2")));
        assert!(Report::superseded_by(&on("web-1"), &on("web-1")));
    }

    #[test]
    fn a_queue_has_one_owner() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::<Report>::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
        match Queue::<Report>::open(dir.path(), DEFAULT_MAX_BYTES) {
            Err(AgentError::Locked { path }) => assert_eq!(path, dir.path().join(LOCK)),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened twice"),
        }
        drop(q);
        Queue::<Report>::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    }

    fn batch(timestamp_ms: i64) -> MetricsBatch {
        use postwatch_model::metrics::{Labels, Sample, Series};
        MetricsBatch {
            body: postwatch_metricsio::remote_write::encode_write_request(
                &[Series {
                    labels: Labels::from_pairs([("__name__", "node_load1"), ("job", "node")]),
                    samples: vec![Sample {
                        timestamp_ms,
                        value: 0.25,
                    }],
                }],
                &[],
            ),
        }
    }

    fn timestamps(q: &mut Queue<MetricsBatch>) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some((id, b)) = q.peek().unwrap() {
            let decoded = postwatch_metricsio::remote_write::decode_write_request(
                &b.body,
                &Default::default(),
            )
            .unwrap();
            out.push(decoded.series[0].samples[0].timestamp_ms);
            q.ack(id).unwrap();
        }
        out
    }

    #[test]
    fn metrics_batches_keep_their_order_and_drop_the_oldest_when_full() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = Queue::<MetricsBatch>::open(dir.path(), DEFAULT_MAX_BYTES)
                .unwrap()
                .with_max_items(3);
            for t in 1..=3 {
                assert_eq!(
                    q.push(&batch(t * 1000)).unwrap(),
                    PushOutcome::Queued {
                        id: ItemId(t as u64),
                        dropped: vec![]
                    }
                );
            }
            // A fourth collection: the oldest goes, and the outcome says which.
            match q.push(&batch(4000)).unwrap() {
                PushOutcome::Queued { id, dropped } => {
                    assert_eq!((id, dropped), (ItemId(4), vec![ItemId(1)]))
                }
                other => panic!("{other:?}"),
            }
        }
        // Across a restart, in order; the files carry the metrics suffix.
        assert!(dir.path().join("00000000000000000002.rw").is_file());
        let mut q = Queue::<MetricsBatch>::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(timestamps(&mut q), [2000, 3000, 4000]);

        // The byte bound drops the oldest too; a batch larger than the bound is refused.
        let one = batch(1).body.len() as u64;
        let mut q = Queue::<MetricsBatch>::open(&dir.path().join("small"), one * 2).unwrap();
        for t in 1..=5 {
            q.push(&batch(t)).unwrap();
        }
        assert_eq!(timestamps(&mut q), [4, 5]);
        let mut tiny = Queue::<MetricsBatch>::open(&dir.path().join("tiny"), one - 1).unwrap();
        assert!(matches!(
            tiny.push(&batch(1)).unwrap(),
            PushOutcome::QueueFull { .. }
        ));
    }

    #[test]
    fn a_damaged_metrics_batch_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = Queue::<MetricsBatch>::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
            q.push(&batch(1000)).unwrap();
            q.push(&batch(2000)).unwrap();
        }
        let first = dir.path().join("00000000000000000001.rw");
        let bytes = fs::read(&first).unwrap();
        fs::write(&first, &bytes[..bytes.len() - 3]).unwrap();
        let mut q = Queue::<MetricsBatch>::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
        let warnings = q.take_warnings();
        assert!(
            warnings.len() == 1 && warnings[0].contains("metrics batch"),
            "{warnings:?}"
        );
        assert_eq!(timestamps(&mut q), [2000]);
        assert!(dir
            .path()
            .join("quarantine/00000000000000000001.rw")
            .is_file());
    }
}
