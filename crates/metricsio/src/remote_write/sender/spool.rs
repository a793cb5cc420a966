//! The forward queue on disk: what the server stored and must still send to a
//! remote_write destination survives a restart of the server and an outage of the
//! destination as long as the spool's bounds allow.
//!
//! Layout of the spool directory:
//!
//! ```text
//! 00000000000000000007.seg   records, appended; a new segment every SEGMENT_BYTES and
//!                            on every open (so a torn tail is only ever in an old one)
//! cursor                     "SEGMENT OFFSET": the first record not yet sent; written
//!                            atomically after a send the destination acknowledged
//! ```
//!
//! A record is `length u32 LE | samples u32 LE | crc32 u32 LE | body`, the body being a
//! whole remote_write request (snappy around protobuf). Records are written with one
//! `write(2)` under a lock, so a process crash (even `kill -9`) loses nothing written
//! before it; the file is fsynced by [`Spool::sync`] (the sender calls it every second
//! and on shutdown), which bounds what a power loss can take. Delivery is at least
//! once: after a crash between a send and the cursor's update, a record is sent again
//! (Prometheus-compatible stores accept a repeated sample with the same value).
//!
//! Bounds: `max_bytes` over all segments and `max_age` of a segment's newest record;
//! beyond them whole segments are dropped oldest first, each drop counted and warned
//! about.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

/// A new segment is started once the current one holds this much.
const SEGMENT_BYTES: u64 = 8 << 20;
const HEADER_BYTES: usize = 12;
/// Largest record read back: a corrupt length is not followed further.
const MAX_RECORD_BYTES: u32 = 256 << 20;
const CURSOR: &str = "cursor";
const SUFFIX: &str = ".seg";

/// Bounds of a spool.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    pub dir: PathBuf,
    /// Bytes of all segments together.
    pub max_bytes: u64,
    /// Segments whose newest record is older than this are dropped, sent or not.
    pub max_age: Duration,
}

/// One record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoolRecord {
    pub body: Vec<u8>,
    pub samples: u32,
}

/// A position in the spool: the first byte of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    bytes: u64,
}

#[derive(Debug)]
struct State {
    segments: VecDeque<Segment>,
    writer: File,
    dirty: bool,
    /// Where the next unsent record is.
    cursor: Position,
    total_bytes: u64,
    dropped_bytes: u64,
}

/// The spool; share it behind an `Arc`.
#[derive(Debug)]
pub struct Spool {
    options: SpoolOptions,
    state: Mutex<State>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}{SUFFIX}"))
}

fn io_error(action: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{action} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing directory", dir, e))
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error("opening", path, e))
}

impl Spool {
    /// Opens (creating it if needed) the spool and starts a new segment.
    pub fn open(options: SpoolOptions) -> io::Result<Spool> {
        let dir = &options.dir;
        fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| io_error("listing", dir, e))? {
            let entry = entry.map_err(|e| io_error("listing", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(digits) = name.strip_suffix(SUFFIX) else {
                continue;
            };
            if let Ok(seq) = digits.parse::<u64>() {
                let bytes = entry
                    .metadata()
                    .map_err(|e| io_error("reading", &entry.path(), e))?
                    .len();
                found.push(Segment { seq, bytes });
            }
        }
        found.sort_by_key(|s| s.seq);
        let next = found.last().map_or(1, |s| s.seq + 1);
        let writer_path = segment_path(dir, next);
        let writer = open_append(&writer_path)?;
        sync_dir(dir)?;
        found.push(Segment {
            seq: next,
            bytes: 0,
        });
        let first = found.first().map_or(next, |s| s.seq);
        let cursor = read_cursor(&dir.join(CURSOR))
            .filter(|c| found.iter().any(|s| s.seq == c.segment))
            .unwrap_or(Position {
                segment: first,
                offset: 0,
            });
        let total_bytes = found.iter().map(|s| s.bytes).sum();
        let spool = Spool {
            options,
            state: Mutex::new(State {
                segments: found.into(),
                writer,
                dirty: false,
                cursor,
                total_bytes,
                dropped_bytes: 0,
            }),
        };
        // Segments wholly before the cursor were sent before the restart.
        spool.release_sent(&mut spool.lock())?;
        Ok(spool)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn dir(&self) -> &Path {
        &self.options.dir
    }

    /// Appends one request body carrying `samples` samples.
    pub fn append(&self, body: &[u8], samples: u32) -> io::Result<()> {
        let length = u32::try_from(body.len())
            .ok()
            .filter(|&n| n <= MAX_RECORD_BYTES)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a forward batch of {} bytes is too large", body.len()),
                )
            })?;
        let mut record = Vec::with_capacity(HEADER_BYTES + body.len());
        record.extend_from_slice(&length.to_le_bytes());
        record.extend_from_slice(&samples.to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        record.extend_from_slice(body);
        let mut state = self.lock();
        let current = state.segments.back().map_or(0, |s| s.seq);
        let path = segment_path(&self.options.dir, current);
        state
            .writer
            .write_all(&record)
            .map_err(|e| io_error("writing", &path, e))?;
        state.dirty = true;
        let size = record.len() as u64;
        state.total_bytes += size;
        let rotate = match state.segments.back_mut() {
            Some(segment) => {
                segment.bytes += size;
                segment.bytes >= SEGMENT_BYTES
            }
            None => false,
        };
        if rotate {
            self.rotate(&mut state)?;
        }
        self.enforce_bounds(&mut state)
    }

    /// Starts a new segment (the finished one is fsynced first).
    fn rotate(&self, state: &mut State) -> io::Result<()> {
        let next = state.segments.back().map_or(1, |s| s.seq + 1);
        if state.dirty {
            state
                .writer
                .sync_data()
                .map_err(|e| io_error("syncing", &segment_path(&self.options.dir, next - 1), e))?;
            state.dirty = false;
        }
        state.writer = open_append(&segment_path(&self.options.dir, next))?;
        sync_dir(&self.options.dir)?;
        state.segments.push_back(Segment {
            seq: next,
            bytes: 0,
        });
        Ok(())
    }

    /// Drops the oldest finished segments past the size or age bound.
    fn enforce_bounds(&self, state: &mut State) -> io::Result<()> {
        loop {
            if state.segments.len() < 2 {
                return Ok(());
            }
            let Some(oldest) = state.segments.front() else {
                return Ok(());
            };
            let path = segment_path(&self.options.dir, oldest.seq);
            let too_big = state.total_bytes > self.options.max_bytes;
            let too_old = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > self.options.max_age);
            if !(too_big || too_old) {
                return Ok(());
            }
            let seq = oldest.seq;
            let unsent = if state.cursor.segment == seq {
                oldest.bytes.saturating_sub(state.cursor.offset)
            } else if state.cursor.segment < seq {
                oldest.bytes
            } else {
                0
            };
            self.remove_oldest(state)?;
            if unsent > 0 {
                state.dropped_bytes += unsent;
                eprintln!(
                    "postwatch: WARNING: remote_write spool {} is over its {} ({} bytes): dropped {unsent} bytes of samples not yet forwarded (segment {seq})",
                    self.options.dir.display(),
                    if too_big { "size bound" } else { "age bound" },
                    if too_big { self.options.max_bytes } else { self.options.max_age.as_secs() },
                );
            }
        }
    }

    fn remove_oldest(&self, state: &mut State) -> io::Result<()> {
        let Some(oldest) = state.segments.pop_front() else {
            return Ok(());
        };
        let path = segment_path(&self.options.dir, oldest.seq);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("removing", &path, e)),
        }
        state.total_bytes = state.total_bytes.saturating_sub(oldest.bytes);
        if state.cursor.segment <= oldest.seq {
            if let Some(next) = state.segments.front() {
                state.cursor = Position {
                    segment: next.seq,
                    offset: 0,
                };
            }
        }
        Ok(())
    }

    /// Removes segments wholly before the cursor.
    fn release_sent(&self, state: &mut State) -> io::Result<()> {
        let mut removed = false;
        while state.segments.len() > 1
            && state
                .segments
                .front()
                .is_some_and(|s| s.seq < state.cursor.segment)
        {
            self.remove_oldest(state)?;
            removed = true;
        }
        if removed {
            sync_dir(&self.options.dir)?;
        }
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&self) -> io::Result<()> {
        let mut state = self.lock();
        if state.dirty {
            let seq = state.segments.back().map_or(0, |s| s.seq);
            state
                .writer
                .sync_data()
                .map_err(|e| io_error("syncing", &segment_path(&self.options.dir, seq), e))?;
            state.dirty = false;
        }
        Ok(())
    }

    /// Reads unsent records from the cursor on, at most `max_samples` samples and
    /// `max_bytes` of bodies (but always one record, however large). Returns them with the position after the
    /// last; nothing when everything is sent. A damaged record ends its segment: the
    /// rest of it is skipped with a warning.
    pub fn read_batch(
        &self,
        max_samples: usize,
        max_bytes: usize,
    ) -> io::Result<(Vec<SpoolRecord>, Position)> {
        let (mut position, last) = {
            let state = self.lock();
            let last = state.segments.back().map_or(0, |s| s.seq);
            (state.cursor, last)
        };
        let mut records = Vec::new();
        let (mut samples, mut bytes) = (0usize, 0usize);
        'segments: while position.segment <= last {
            let path = segment_path(&self.options.dir, position.segment);
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    position = Position {
                        segment: position.segment + 1,
                        offset: 0,
                    };
                    continue;
                }
                Err(e) => return Err(io_error("opening", &path, e)),
            };
            file.seek(SeekFrom::Start(position.offset))
                .map_err(|e| io_error("reading", &path, e))?;
            loop {
                match read_record(&mut file) {
                    Ok(Some(record)) => {
                        let over = samples + record.samples as usize > max_samples
                            || bytes + record.body.len() > max_bytes;
                        if over && !records.is_empty() {
                            // Left for the next batch: the position stays before it.
                            break 'segments;
                        }
                        position.offset += (HEADER_BYTES + record.body.len()) as u64;
                        samples += record.samples as usize;
                        bytes += record.body.len();
                        records.push(record);
                        continue;
                    }
                    Ok(None) if position.segment == last => break 'segments,
                    Ok(None) => {}
                    Err(why) => {
                        eprintln!(
                            "postwatch: WARNING: remote_write spool {} at byte {}: {why}; skipping the rest of that segment",
                            path.display(),
                            position.offset
                        );
                        if position.segment == last {
                            // The segment being written: start a fresh one so that
                            // new records are readable again.
                            let mut state = self.lock();
                            self.rotate(&mut state)?;
                        }
                    }
                }
                position = Position {
                    segment: position.segment + 1,
                    offset: 0,
                };
                continue 'segments;
            }
        }
        Ok((records, position))
    }

    /// Records that everything before `position` was delivered (or given up on).
    pub fn commit(&self, position: Position) -> io::Result<()> {
        let mut state = self.lock();
        if position <= state.cursor {
            return Ok(());
        }
        state.cursor = position;
        let path = self.options.dir.join(CURSOR);
        let temp = self.options.dir.join(".cursor.tmp");
        let text = format!("{} {}\n", position.segment, position.offset);
        fs::write(&temp, text)
            .and_then(|()| File::open(&temp)?.sync_all())
            .map_err(|e| io_error("writing", &temp, e))?;
        fs::rename(&temp, &path).map_err(|e| io_error("renaming", &path, e))?;
        self.release_sent(&mut state)?;
        sync_dir(&self.options.dir)
    }

    /// Bytes of records not yet sent.
    pub fn pending_bytes(&self) -> u64 {
        let state = self.lock();
        state
            .segments
            .iter()
            .map(|s| {
                if s.seq < state.cursor.segment {
                    0
                } else if s.seq == state.cursor.segment {
                    s.bytes.saturating_sub(state.cursor.offset)
                } else {
                    s.bytes
                }
            })
            .sum()
    }

    /// Bytes of unsent records dropped by the bounds since the spool was opened.
    pub fn dropped_bytes(&self) -> u64 {
        self.lock().dropped_bytes
    }
}

fn read_cursor(path: &Path) -> Option<Position> {
    let text = fs::read_to_string(path).ok()?;
    let (segment, offset) = text.trim().split_once(' ')?;
    Some(Position {
        segment: segment.parse().ok()?,
        offset: offset.parse().ok()?,
    })
}

/// The next record: `None` at the clean end of the file, an error for a torn or
/// damaged one.
fn read_record(file: &mut File) -> Result<Option<SpoolRecord>, String> {
    let mut header = [0u8; HEADER_BYTES];
    let mut got = 0;
    while got < HEADER_BYTES {
        match file.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err("a record header is cut short".to_owned()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let word = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&header[at..at + 4]);
        u32::from_le_bytes(b)
    };
    let (length, samples, crc) = (word(0), word(4), word(8));
    if length > MAX_RECORD_BYTES {
        return Err(format!("a record claims {length} bytes"));
    }
    let mut body = vec![0u8; length as usize];
    file.read_exact(&mut body)
        .map_err(|_| "a record is cut short".to_owned())?;
    if crc32fast::hash(&body) != crc {
        return Err("a record fails its checksum".to_owned());
    }
    Ok(Some(SpoolRecord { body, samples }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path, max_bytes: u64) -> SpoolOptions {
        SpoolOptions {
            dir: dir.to_owned(),
            max_bytes,
            max_age: Duration::from_secs(3600),
        }
    }

    fn bodies(records: &[SpoolRecord]) -> Vec<Vec<u8>> {
        records.iter().map(|r| r.body.clone()).collect()
    }

    #[test]
    fn records_survive_reopening_and_the_cursor_says_what_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(options(dir.path(), 1 << 30)).unwrap();
            for n in 1..=5u8 {
                spool.append(&[n; 10], u32::from(n)).unwrap();
            }
            let (records, after) = spool.read_batch(3, usize::MAX).unwrap();
            // 1 + 2 samples fill the bound of 3; the third record would pass it.
            assert_eq!(bodies(&records), [vec![1; 10], vec![2; 10]]);
            spool.commit(after).unwrap();
            // Not synced explicitly: dropping without sync still leaves the data in
            // the file, as a killed process would.
        }
        let spool = Spool::open(options(dir.path(), 1 << 30)).unwrap();
        spool.append(&[6; 10], 6).unwrap();
        let (records, after) = spool.read_batch(1000, usize::MAX).unwrap();
        assert_eq!(
            bodies(&records),
            [vec![3; 10], vec![4; 10], vec![5; 10], vec![6; 10]]
        );
        assert_eq!(
            records.iter().map(|r| r.samples).collect::<Vec<_>>(),
            [3, 4, 5, 6]
        );
        assert_eq!(spool.pending_bytes(), 4 * (HEADER_BYTES as u64 + 10));
        spool.commit(after).unwrap();
        assert_eq!(spool.pending_bytes(), 0);
        assert!(spool.read_batch(1000, usize::MAX).unwrap().0.is_empty());
        // The segment of the first run was sent whole: it is gone.
        let segments = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(SUFFIX)
            })
            .count();
        assert_eq!(segments, 1);
    }

    #[test]
    fn a_damaged_record_skips_the_rest_of_its_segment_only() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(options(dir.path(), 1 << 30)).unwrap();
            spool.append(&[1; 10], 1).unwrap();
            spool.append(&[2; 10], 1).unwrap();
        }
        // Flip a body byte of the second record of segment 1.
        let first = segment_path(dir.path(), 1);
        let mut bytes = fs::read(&first).unwrap();
        let at = 2 * HEADER_BYTES + 10 + 3;
        bytes[at] ^= 0xff;
        fs::write(&first, bytes).unwrap();
        let spool = Spool::open(options(dir.path(), 1 << 30)).unwrap();
        spool.append(&[3; 10], 1).unwrap();
        let (records, _) = spool.read_batch(1000, usize::MAX).unwrap();
        assert_eq!(bodies(&records), [vec![1; 10], vec![3; 10]]);
    }

    #[test]
    fn the_size_bound_drops_the_oldest_unsent_segment_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let spool = Spool::open(options(dir.path(), 1 << 30)).unwrap();
            spool.append(&[1; 100], 1).unwrap();
        }
        {
            let spool = Spool::open(options(dir.path(), 1 << 30)).unwrap();
            spool.append(&[2; 100], 1).unwrap();
        }
        // Two segments of 112 bytes and a new one of 22: a bound of 100 keeps only
        // the one being written.
        let spool = Spool::open(options(dir.path(), 100)).unwrap();
        spool.append(&[3; 10], 1).unwrap();
        assert_eq!(spool.dropped_bytes(), 224);
        let (records, _) = spool.read_batch(1000, usize::MAX).unwrap();
        assert_eq!(bodies(&records), [vec![3; 10]]);
    }

    #[test]
    fn segments_past_the_age_bound_are_dropped_sent_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let hour = Duration::from_secs(3600);
        {
            let spool = Spool::open(options(dir.path(), 1 << 30)).unwrap();
            spool.append(&[1; 10], 1).unwrap();
        }
        // The first segment's newest record was written two hours ago.
        let old = File::options()
            .write(true)
            .open(segment_path(dir.path(), 1))
            .unwrap();
        old.set_modified(SystemTime::now() - 2 * hour).unwrap();
        drop(old);
        let spool = Spool::open(SpoolOptions {
            dir: dir.path().to_owned(),
            max_bytes: 1 << 30,
            max_age: hour,
        })
        .unwrap();
        spool.append(&[2; 10], 1).unwrap();
        assert_eq!(spool.dropped_bytes(), HEADER_BYTES as u64 + 10);
        assert!(!segment_path(dir.path(), 1).exists());
        let (records, _) = spool.read_batch(1000, usize::MAX).unwrap();
        assert_eq!(bodies(&records), [vec![2; 10]]);
    }
}
