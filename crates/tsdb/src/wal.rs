//! The write-ahead log: numbered segment files of checksummed records.
//!
//! Record framing: `u32 length, u32 CRC-32 of the payload, payload`. A payload is either
//! series definitions (`id → labels`) or samples (`id → (timestamp, value bits)…`). Each
//! segment starts by defining every live series, so a segment never depends on an
//! earlier one: whole segments whose samples all went into blocks are simply deleted.
//! A record cut short or failing its checksum at the end of the newest segment is the
//! torn write of a crash (never acknowledged) and is cut off; anywhere else it is
//! corruption and an error naming the file.
//!
//! The segment being written is extended ahead of its records with zeros (a few MiB at a
//! time) and records overwrite them in place: the fsync that acknowledges a write then
//! flushes only data, not a new file size and extent map, which costs several times
//! less on ext4. A zero header (no record is empty) marks the end of the written part;
//! a closed segment is truncated to its records.

use crate::encoding::{put_str, put_uvarint, put_varint, DecodeError, Reader};
use crate::Error;
use postwatch_model::metrics::Labels;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const RECORD_SERIES: u8 = 1;
const RECORD_SAMPLES: u8 = 2;
const HEADER_BYTES: usize = 8;
/// No single record is larger; a corrupt length cannot make replay allocate more.
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 30;

/// One decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub enum WalRecord {
    /// Series ids defined (valid until the end of the segment).
    Series(Vec<(u64, Labels)>),
    /// Samples per series id, each `(timestamp_ms, value bits)`.
    Samples(Vec<(u64, Vec<(i64, u64)>)>),
}

impl WalRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        // The header goes in front of the payload once the payload is known; sized up
        // front, the record is written in one buffer without growing it.
        let estimate = match self {
            WalRecord::Series(series) => 16 + series.len() * 128,
            WalRecord::Samples(groups) => {
                16 + groups
                    .iter()
                    .map(|(_, samples)| 12 + samples.len() * 13)
                    .sum::<usize>()
            }
        };
        let mut record = Vec::with_capacity(HEADER_BYTES + estimate);
        record.resize(HEADER_BYTES, 0);
        let payload = &mut record;
        match self {
            WalRecord::Series(series) => {
                payload.push(RECORD_SERIES);
                put_uvarint(payload, series.len() as u64);
                for (id, labels) in series {
                    put_uvarint(payload, *id);
                    put_labels(payload, labels);
                }
            }
            WalRecord::Samples(groups) => {
                payload.push(RECORD_SAMPLES);
                put_uvarint(payload, groups.len() as u64);
                for (id, samples) in groups {
                    put_uvarint(payload, *id);
                    put_uvarint(payload, samples.len() as u64);
                    let mut previous = 0i64;
                    for &(ts, bits) in samples {
                        put_varint(payload, ts.wrapping_sub(previous));
                        previous = ts;
                        payload.extend_from_slice(&bits.to_le_bytes());
                    }
                }
            }
        }
        let length = (record.len() - HEADER_BYTES) as u32;
        let crc = crc32fast::hash(&record[HEADER_BYTES..]);
        record[..4].copy_from_slice(&length.to_le_bytes());
        record[4..HEADER_BYTES].copy_from_slice(&crc.to_le_bytes());
        record
    }

    fn decode(payload: &[u8]) -> Result<WalRecord, DecodeError> {
        let mut reader = Reader::new(payload);
        let record = match reader.u8()? {
            RECORD_SERIES => {
                let n = reader.count(2)?;
                let mut series = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = reader.uvarint()?;
                    series.push((id, read_labels(&mut reader)?));
                }
                WalRecord::Series(series)
            }
            RECORD_SAMPLES => {
                let n = reader.count(2)?;
                let mut groups = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = reader.uvarint()?;
                    let count = reader.count(9)?;
                    let mut samples = Vec::with_capacity(count);
                    let mut ts = 0i64;
                    for _ in 0..count {
                        ts = ts.wrapping_add(reader.varint()?);
                        samples.push((ts, reader.u64_le()?));
                    }
                    groups.push((id, samples));
                }
                WalRecord::Samples(groups)
            }
            other => return Err(DecodeError(format!("unknown record type {other}"))),
        };
        if !reader.is_empty() {
            return Err(DecodeError(format!(
                "{} bytes after the record's content",
                reader.remaining()
            )));
        }
        Ok(record)
    }
}

pub(crate) fn put_labels(buf: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(buf, labels.len() as u64);
    for label in labels.iter() {
        put_str(buf, &label.name);
        put_str(buf, &label.value);
    }
}

pub(crate) fn read_labels(reader: &mut Reader<'_>) -> Result<Labels, DecodeError> {
    let n = reader.count(2)?;
    let mut pairs = Vec::with_capacity(n);
    for _ in 0..n {
        pairs.push((reader.string()?, reader.string()?));
    }
    Ok(Labels::from_pairs(pairs))
}

/// The records of one segment's bytes, and where and why decoding stopped early, if it
/// did. Zeros after the last record are the segment's unwritten space, not damage.
pub fn decode_segment(data: &[u8]) -> (Vec<WalRecord>, Option<(usize, String)>) {
    let (records, stop, _) = decode_records(data);
    (records, stop)
}

/// The records, where and why decoding stopped early, and where the records end (zeros
/// may follow).
pub(crate) fn decode_records(data: &[u8]) -> (Vec<WalRecord>, Option<(usize, String)>, usize) {
    let (records, stop) = decode_until_damage(data);
    match stop {
        Some((offset, _)) if is_zero_tail(data, offset) => (records, None, offset),
        Some((offset, reason)) => (records, Some((offset, reason)), offset),
        None => (records, None, data.len()),
    }
}

fn decode_until_damage(data: &[u8]) -> (Vec<WalRecord>, Option<(usize, String)>) {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.len() < HEADER_BYTES {
            return (records, Some((offset, "record header cut short".into())));
        }
        let mut reader = Reader::new(rest);
        let (Ok(len), Ok(crc)) = (reader.u32_le(), reader.u32_le()) else {
            return (records, Some((offset, "record header cut short".into())));
        };
        let len = len as usize;
        if len > MAX_RECORD_BYTES || len > rest.len() - HEADER_BYTES {
            return (
                records,
                Some((offset, format!("record of {len} bytes cut short"))),
            );
        }
        let payload = &rest[HEADER_BYTES..HEADER_BYTES + len];
        if crc32fast::hash(payload) != crc {
            return (records, Some((offset, "record checksum mismatch".into())));
        }
        match WalRecord::decode(payload) {
            Ok(record) => records.push(record),
            Err(e) => return (records, Some((offset, format!("bad record: {e}")))),
        }
        offset += HEADER_BYTES + len;
    }
    (records, None)
}

/// A closed segment still on disk.
#[derive(Debug, Clone)]
pub(crate) struct SegmentInfo {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
    /// Newest sample timestamp in the segment; `None` when it holds no samples.
    pub(crate) max_ts: Option<i64>,
}

/// The appending end of the log.
pub(crate) struct WalWriter {
    dir: PathBuf,
    pub(crate) current: SegmentInfo,
    pub(crate) file: Arc<File>,
    /// Length of the current segment file: its records, then zeros written ahead.
    capacity: u64,
    pub(crate) closed: Vec<SegmentInfo>,
    segment_limit: u64,
}

/// Zeros written ahead of the records at a time: a sixteenth of a segment, between
/// 4 KiB and 4 MiB.
fn zero_extension(segment_limit: u64) -> u64 {
    (segment_limit / 16).clamp(4 << 10, 4 << 20)
}

/// True when `data` from `offset` on is all zeros: the unwritten space of a segment
/// (only ever after its last record), not damage.
fn is_zero_tail(data: &[u8], offset: usize) -> bool {
    data.get(offset..)
        .is_some_and(|rest| rest.iter().all(|&b| b == 0))
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:08}"))
}

/// Segment numbers in `dir`, sorted; other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, Error> {
    let mut seqs = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if let Some(seq) = entry
            .file_name()
            .to_str()
            .filter(|n| n.len() == 8)
            .and_then(|n| n.parse::<u64>().ok())
        {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

impl WalWriter {
    /// Starts segment `seq` in `dir`, defining `live` series first.
    pub(crate) fn create(
        dir: &Path,
        seq: u64,
        closed: Vec<SegmentInfo>,
        segment_limit: u64,
        live: Vec<(u64, Labels)>,
    ) -> Result<WalWriter, Error> {
        let (file, info) = new_segment(dir, seq, &live)?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            capacity: info.bytes,
            current: info,
            file: Arc::new(file),
            closed,
            segment_limit,
        })
    }

    /// Appends an encoded record (not yet durable: see the group commit in the store).
    pub(crate) fn write(&mut self, record: &[u8], max_ts: Option<i64>) -> Result<(), Error> {
        let end = self.current.bytes + record.len() as u64;
        if end > self.capacity {
            self.extend_with_zeros(end + zero_extension(self.segment_limit))?;
        }
        self.file
            .write_all_at(record, self.current.bytes)
            .map_err(|e| Error::io(&self.current.path, e))?;
        self.current.bytes = end;
        if let Some(ts) = max_ts {
            self.current.max_ts = Some(self.current.max_ts.map_or(ts, |m| m.max(ts)));
        }
        Ok(())
    }

    /// Writes zeros up to `new_capacity`. They become durable with the next fsync, the
    /// only one that then has to record a new file size.
    fn extend_with_zeros(&mut self, new_capacity: u64) -> Result<(), Error> {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let mut at = self.capacity;
        while at < new_capacity {
            let n = (new_capacity - at).min(ZEROS.len() as u64) as usize;
            self.file
                .write_all_at(&ZEROS[..n], at)
                .map_err(|e| Error::io(&self.current.path, e))?;
            at += n as u64;
        }
        self.capacity = new_capacity;
        Ok(())
    }

    /// Forgets a failed write: cuts the segment back to `bytes` (zeros and all), so no
    /// partial record hides the records written after it.
    pub(crate) fn cut_back(&mut self, bytes: u64) -> std::io::Result<()> {
        self.current.bytes = bytes;
        self.capacity = bytes;
        self.file.set_len(bytes)
    }

    /// Drops the zeros after the records (a clean close leaves an exact file).
    pub(crate) fn trim(&mut self) -> std::io::Result<()> {
        if self.capacity > self.current.bytes {
            self.file.sync_data()?;
            self.file.set_len(self.current.bytes)?;
            self.file.sync_data()?;
            self.capacity = self.current.bytes;
        }
        Ok(())
    }

    pub(crate) fn wants_rotation(&self) -> bool {
        self.current.bytes >= self.segment_limit
    }

    /// Closes the current segment (durably) and starts the next, defining `live` first.
    pub(crate) fn rotate(&mut self, live: Vec<(u64, Labels)>) -> Result<(), Error> {
        // The records are durable before the zeros after them go.
        self.file
            .sync_data()
            .and_then(|()| self.file.set_len(self.current.bytes))
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&self.current.path, e))?;
        let (file, info) = new_segment(&self.dir, self.current.seq + 1, &live)?;
        self.capacity = info.bytes;
        let old = std::mem::replace(&mut self.current, info);
        self.closed.push(old);
        self.file = Arc::new(file);
        Ok(())
    }

    /// Deletes closed segments whose samples are all older than `boundary_ms`.
    pub(crate) fn delete_before(&mut self, boundary_ms: i64) -> Result<(), Error> {
        let mut kept = Vec::new();
        let mut deleted = false;
        for segment in std::mem::take(&mut self.closed) {
            if segment.max_ts.is_none_or(|ts| ts < boundary_ms) {
                match fs::remove_file(&segment.path) {
                    Ok(()) => deleted = true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        kept.push(segment.clone());
                        self.closed = kept;
                        return Err(Error::io(&segment.path, e));
                    }
                }
            } else {
                kept.push(segment);
            }
        }
        self.closed = kept;
        if deleted {
            crate::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    pub(crate) fn total_bytes(&self) -> u64 {
        self.current.bytes + self.closed.iter().map(|s| s.bytes).sum::<u64>()
    }

    pub(crate) fn segment_count(&self) -> usize {
        self.closed.len() + 1
    }
}

fn new_segment(dir: &Path, seq: u64, live: &[(u64, Labels)]) -> Result<(File, SegmentInfo), Error> {
    let path = segment_path(dir, seq);
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let mut bytes = 0;
    if !live.is_empty() {
        let record = WalRecord::Series(live.to_vec()).encode();
        file.write_all(&record).map_err(|e| Error::io(&path, e))?;
        bytes = record.len() as u64;
    }
    file.sync_data().map_err(|e| Error::io(&path, e))?;
    crate::sync_dir(dir)?;
    Ok((
        file,
        SegmentInfo {
            seq,
            path,
            bytes,
            max_ts: None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_tails_are_reported() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        let records = vec![
            WalRecord::Series(vec![(7, labels)]),
            WalRecord::Samples(vec![(7, vec![(-5, 1), (1000, u64::MAX)]), (8, vec![])]),
        ];
        let mut bytes: Vec<u8> = records.iter().flat_map(|r| r.encode()).collect();
        let (decoded, stop) = decode_segment(&bytes);
        assert_eq!(decoded, records);
        assert!(stop.is_none());
        let whole = bytes.len();
        bytes.truncate(whole - 3);
        let (decoded, stop) = decode_segment(&bytes);
        assert_eq!(decoded, records[..1]);
        let first_len = records[0].encode().len();
        assert_eq!(stop.map(|(offset, _)| offset), Some(first_len));
        for cut in 0..whole - 3 {
            let _ = decode_segment(&bytes[..cut]);
        }
    }
}
