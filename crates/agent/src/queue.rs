//! A durable FIFO of reports waiting for the server, one file per report.
//!
//! Layout of the queue directory:
//!
//! ```text
//! lock                              flock(2)ed by the agent that owns the queue
//! 00000000000000000042.json         one serialized Report; the number orders the queue
//! .tmp-…                            an item being written (removed on open: never queued)
//! quarantine/00000000000000000017.json   an item that could not be read back
//! ```
//!
//! An item is written to a temp name, fsync'd, renamed to its final name and the
//! directory fsync'd, so after a crash it is either whole or absent. [`Queue::ack`]
//! deletes it. Reopening the directory finds every item again, in order.
//!
//! The queue is bounded by the bytes of its items. When a report does not fit, the
//! items it or a queued report makes redundant are dropped first (see
//! [`Queue::push`]); if it still does not fit it is refused with
//! [`PushOutcome::QueueFull`], and [`Queue::status`] says so until a report is queued
//! again. Nothing is ever dropped silently: drops are in the outcome, refusals in the
//! status.

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
const SUFFIX: &str = ".json";

/// Names a queued report; ordered like the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(u64);

impl ItemId {
    fn file_name(self) -> String {
        format!("{:020}{SUFFIX}", self.0)
    }

    fn parse(name: &str) -> Option<ItemId> {
        let digits = name.strip_suffix(SUFFIX)?;
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
    /// The report is queued. `dropped` lists queued reports removed to make room
    /// because a newer queued report made them redundant.
    Queued { id: ItemId, dropped: Vec<ItemId> },
    /// The report was not queued: the queue holds `bytes` of its `limit` and the
    /// report needs `report_bytes` more.
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
    /// Reports refused since the last one queued.
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
struct Entry {
    id: ItemId,
    bytes: u64,
    asset: AssetRef,
    /// `None` for a full inventory, else the delta's base.
    base: Option<String>,
}

impl Entry {
    fn of(id: ItemId, bytes: u64, report: &Report) -> Entry {
        Entry {
            id,
            bytes,
            asset: report.asset.clone(),
            base: match &report.inventory {
                InventoryPayload::Full { .. } => None,
                InventoryPayload::Delta { base, .. } => Some(base.clone()),
            },
        }
    }

    /// Whether `newer` (same asset, queued later) carries everything this item does:
    /// a full inventory does; so does a delta from the same base (the agent's deltas
    /// are cumulative from the last acknowledged report).
    fn superseded_by(&self, newer: &Entry) -> bool {
        crate::same_asset(&newer.asset, &self.asset)
            && newer.id > self.id
            && match (&newer.base, &self.base) {
                (None, _) => true,
                (Some(new_base), Some(old_base)) => new_base == old_base,
                (Some(_), None) => false,
            }
    }
}

/// The queue directory, locked for this process while the value lives.
pub struct Queue {
    dir: PathBuf,
    limit: u64,
    items: Vec<Entry>,
    bytes: u64,
    next: u64,
    refused: u64,
    warnings: Vec<String>,
    _lock: File,
}

impl Queue {
    /// Opens (creating it if needed) the queue in `dir`, bounded to `max_bytes` of
    /// queued reports. Items that cannot be read back are moved to `quarantine/`, each
    /// with a warning ([`Queue::take_warnings`]).
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Queue, AgentError> {
        create_dir(dir, 0o700)?;
        let lock = lock(dir)?;
        let mut queue = Queue {
            dir: dir.to_owned(),
            limit: max_bytes,
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
                // A write that never reached its rename: the report was never queued.
                let path = entry.path();
                fs::remove_file(&path).map_err(|e| AgentError::io("removing", &path, e))?;
            } else if let Some(id) = ItemId::parse(&name) {
                ids.push(id);
            }
        }
        ids.sort();
        for id in ids {
            queue.next = queue.next.max(id.0 + 1);
            if let Some((report, bytes)) = queue.read_item(id)? {
                queue.bytes += bytes;
                queue.items.push(Entry::of(id, bytes, &report));
            }
        }
        Ok(queue)
    }

    /// Appends a report. When it does not fit, queued reports it makes redundant (older
    /// ones of the same asset, if this is a full inventory) and those other queued
    /// reports make redundant are dropped first, oldest first; if it still does not
    /// fit it is refused.
    pub fn push(&mut self, report: &Report) -> Result<PushOutcome, AgentError> {
        let bytes = serde_json::to_vec(report).map_err(|e| AgentError::Corrupt {
            path: self.dir.clone(),
            why: format!("cannot serialize report {}: {e}", report.report_id),
        })?;
        let size = bytes.len() as u64;
        let id = ItemId(self.next);
        let entry = Entry::of(id, size, report);
        let mut dropped = Vec::new();
        if self.bytes + size > self.limit {
            let redundant: Vec<ItemId> = self
                .items
                .iter()
                .filter(|old| {
                    old.superseded_by(&entry) || self.items.iter().any(|n| old.superseded_by(n))
                })
                .map(|e| e.id)
                .collect();
            for old in redundant {
                if self.bytes + size <= self.limit {
                    break;
                }
                self.remove(old)?;
                dropped.push(old);
            }
        }
        if self.bytes + size > self.limit {
            self.refused += 1;
            return Ok(PushOutcome::QueueFull {
                bytes: self.bytes,
                limit: self.limit,
                report_bytes: size,
            });
        }
        write_atomic(&self.dir.join(id.file_name()), &bytes, 0o600)?;
        self.next += 1;
        self.bytes += size;
        self.items.push(entry);
        self.refused = 0;
        Ok(PushOutcome::Queued { id, dropped })
    }

    /// The oldest queued report, read back from disk. Items that no longer parse are
    /// quarantined (with a warning) and skipped.
    pub fn peek(&mut self) -> Result<Option<(ItemId, Report)>, AgentError> {
        while let Some(first) = self.items.first() {
            let (id, bytes) = (first.id, first.bytes);
            match self.read_item(id)? {
                Some((report, _)) => return Ok(Some((id, report))),
                None => {
                    self.items.remove(0);
                    self.bytes -= bytes;
                }
            }
        }
        Ok(None)
    }

    /// Deletes an item the server acknowledged. Acknowledging an item that is gone
    /// (dropped as redundant meanwhile) is not an error.
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
        let path = self.dir.join(id.file_name());
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
    fn read_item(&mut self, id: ItemId) -> Result<Option<(Report, u64)>, AgentError> {
        let path = self.dir.join(id.file_name());
        let why = match read_limited(&path, MAX_ITEM_BYTES) {
            Ok(None) => return Ok(None),
            Ok(Some(bytes)) => match serde_json::from_slice::<Report>(&bytes) {
                Ok(report) => return Ok(Some((report, bytes.len() as u64))),
                Err(e) => e.to_string(),
            },
            Err(AgentError::Corrupt { why, .. }) => why,
            Err(e) => return Err(e),
        };
        let moved = self.quarantine(&path)?;
        self.warnings.push(format!(
            "queued report {} is unreadable ({why}); moved it to {} and skipped it",
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

/// Takes the queue directory's lock so that two agents never share a queue.
fn lock(dir: &Path) -> Result<File, AgentError> {
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
        let second = dir.path().join(ItemId(2).file_name());
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
        fs::write(dir.path().join(ItemId(1).file_name()), b"not json").unwrap();
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
        let old = Entry::of(ItemId(1), 1, &image("i-1", "sha256:aa"));
        let moved = Entry::of(ItemId(2), 1, &image("i-2", "sha256:bb"));
        assert!(old.superseded_by(&moved));
        assert!(!moved.superseded_by(&old));
        let on = |id: u64, host: &str| {
            let mut r = full("c", &"3f".repeat(32));
            r.asset.kind = AssetKind::Container;
            r.asset.host = Some(host.to_owned());
            Entry::of(ItemId(id), 1, &r)
        };
        assert!(!on(1, "web-1").superseded_by(&on(2, "web-2")));
        assert!(on(1, "web-1").superseded_by(&on(2, "web-1")));
    }

    #[test]
    fn a_queue_has_one_owner() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
        match Queue::open(dir.path(), DEFAULT_MAX_BYTES) {
            Err(AgentError::Locked { path }) => assert_eq!(path, dir.path().join(LOCK)),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened twice"),
        }
        drop(q);
        Queue::open(dir.path(), DEFAULT_MAX_BYTES).unwrap();
    }
}
