//! Immutable on-disk blocks: one file per block holding one compressed chunk per series
//! and a zstd-compressed, checksummed index of the series (labels, chunk position, time
//! range) at the end.
//!
//! Layout: `"PWTSBLK1"`, the chunks, the compressed index, then a 40-byte footer
//! (`index offset u64, index length u64, min time i64, max time i64, CRC-32 of the
//! compressed index and those four fields u32, "PWTE"`). Every chunk carries its own CRC-32 in the index, checked when it is read.

use crate::encoding::{
    compress_bytes, decode_chunk, decompress_bytes, encode_chunk, put_uvarint, put_varint,
    ChunkEffort, DecodeError, Reader,
};
use crate::index::Postings;
use crate::wal::{put_labels, read_labels};
use crate::Error;
use postwatch_model::metrics::Labels;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PWTSBLK1";
const FOOTER_MAGIC: &[u8; 4] = b"PWTE";
const FOOTER_BYTES: usize = 40;
/// A block index never decompresses beyond this.
const MAX_INDEX_BYTES: u64 = 4 << 30;

/// One series in a block.
#[derive(Debug, Clone)]
pub(crate) struct BlockSeries {
    pub(crate) labels: Labels,
    offset: u64,
    len: u64,
    crc: u32,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) samples: u64,
}

/// What the index says about a block.
#[derive(Debug)]
pub(crate) struct BlockIndex {
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) level: u32,
    /// Sequence numbers of the blocks this one was compacted from.
    pub(crate) sources: Vec<u64>,
    pub(crate) series: Vec<BlockSeries>,
}

/// An open block.
pub(crate) struct Block {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    file: File,
    pub(crate) index: BlockIndex,
    pub(crate) postings: Postings,
    pub(crate) bytes: u64,
    pub(crate) samples: u64,
}

pub(crate) fn block_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:08}.block"))
}

/// Parses the footer and index of a block whose file is `file_len` bytes long; `read`
/// fetches `(offset, length)` ranges of the file.
fn parse_index(
    file_len: u64,
    mut read: impl FnMut(u64, usize) -> Result<Vec<u8>, DecodeError>,
) -> Result<BlockIndex, DecodeError> {
    if file_len < (MAGIC.len() + FOOTER_BYTES) as u64 {
        return Err(DecodeError(format!(
            "{file_len} bytes is too short for a block"
        )));
    }
    if read(0, MAGIC.len())? != MAGIC {
        return Err(DecodeError("not a block file (bad magic)".into()));
    }
    let footer = read(file_len - FOOTER_BYTES as u64, FOOTER_BYTES)?;
    let mut reader = Reader::new(&footer);
    let index_offset = reader.u64_le()?;
    let index_len = reader.u64_le()?;
    let mint = reader.u64_le()? as i64;
    let maxt = reader.u64_le()? as i64;
    let index_crc = reader.u32_le()?;
    if reader.bytes(4)? != FOOTER_MAGIC {
        return Err(DecodeError("bad footer magic (file cut short?)".into()));
    }
    let index_end = file_len - FOOTER_BYTES as u64;
    if index_offset < MAGIC.len() as u64
        || index_offset > index_end
        || index_len != index_end - index_offset
    {
        return Err(DecodeError(format!(
            "index at {index_offset}+{index_len} does not fit the file"
        )));
    }
    let compressed = read(index_offset, index_len as usize)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&compressed);
    hasher.update(&footer[..32]);
    if hasher.finalize() != index_crc {
        return Err(DecodeError("index checksum mismatch".into()));
    }
    let raw = decompress_bytes(&compressed, MAX_INDEX_BYTES)?;
    let mut reader = Reader::new(&raw);
    let level = u32::try_from(reader.uvarint()?)
        .map_err(|_| DecodeError("compaction level out of range".into()))?;
    let source_count = reader.count(1)?;
    let mut sources = Vec::with_capacity(source_count);
    for _ in 0..source_count {
        sources.push(reader.uvarint()?);
    }
    let series_count = reader.count(8)?;
    let mut series = Vec::with_capacity(series_count);
    let mut previous: Option<Labels> = None;
    for _ in 0..series_count {
        let labels = read_labels(&mut reader)?;
        let offset = reader.uvarint()?;
        let len = reader.uvarint()?;
        let crc = reader.u32_le()?;
        let s_mint = reader.varint()?;
        let s_maxt = reader.varint()?;
        let samples = reader.uvarint()?;
        let in_bounds = offset >= MAGIC.len() as u64
            && offset
                .checked_add(len)
                .is_some_and(|end| end <= index_offset);
        if !in_bounds {
            return Err(DecodeError(format!(
                "chunk of {labels} at {offset}+{len} lies outside the chunk area"
            )));
        }
        if previous.as_ref().is_some_and(|p| *p >= labels) {
            return Err(DecodeError(format!(
                "series {labels} out of order in index"
            )));
        }
        previous = Some(labels.clone());
        series.push(BlockSeries {
            labels,
            offset,
            len,
            crc,
            mint: s_mint,
            maxt: s_maxt,
            samples,
        });
    }
    if !reader.is_empty() {
        return Err(DecodeError("trailing bytes after the index".into()));
    }
    Ok(BlockIndex {
        mint,
        maxt,
        level,
        sources,
        series,
    })
}

fn check_chunk(data: &[u8], series: &BlockSeries) -> Result<Vec<(i64, u64)>, DecodeError> {
    if crc32fast::hash(data) != series.crc {
        return Err(DecodeError(format!(
            "chunk checksum mismatch for {}",
            series.labels
        )));
    }
    decode_chunk(data).map_err(|e| DecodeError(format!("chunk of {}: {e}", series.labels)))
}

/// A series' labels and its `(timestamp_ms, value bits)` samples.
pub type DecodedSeries = (Labels, Vec<(i64, u64)>);

/// Decodes a whole block file from its bytes: every series and its samples. Used by the
/// fuzz target and tests; the store reads blocks piecewise.
pub fn decode_block_bytes(data: &[u8]) -> Result<Vec<DecodedSeries>, DecodeError> {
    let read = |offset: u64, len: usize| -> Result<Vec<u8>, DecodeError> {
        let start = usize::try_from(offset).map_err(|_| DecodeError("offset too large".into()))?;
        data.get(start..start.saturating_add(len))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| DecodeError(format!("range {offset}+{len} beyond the data")))
    };
    let index = parse_index(data.len() as u64, read)?;
    let mut out = Vec::with_capacity(index.series.len());
    for series in &index.series {
        let chunk = read(series.offset, series.len as usize)?;
        out.push((series.labels.clone(), check_chunk(&chunk, series)?));
    }
    Ok(out)
}

impl Block {
    /// Opens and checks a block's index (chunks are checked as they are read).
    pub(crate) fn open(path: &Path, seq: u64) -> Result<Block, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let index = parse_index(file_len, |offset, len| {
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, offset)
                .map_err(|e| DecodeError(format!("reading {len} bytes at {offset}: {e}")))?;
            Ok(buf)
        })
        .map_err(|e| Error::corrupt(path, e.0))?;
        let mut postings = Postings::default();
        for (i, series) in index.series.iter().enumerate() {
            postings.add(i as u64, &series.labels);
        }
        let samples = index.series.iter().map(|s| s.samples).sum();
        Ok(Block {
            seq,
            path: path.to_path_buf(),
            file,
            index,
            postings,
            bytes: file_len,
            samples,
        })
    }

    /// The samples of series number `i`.
    pub(crate) fn read_series(&self, i: usize) -> Result<Vec<(i64, u64)>, Error> {
        let Some(series) = self.index.series.get(i) else {
            return Err(Error::corrupt(&self.path, format!("no series number {i}")));
        };
        let mut buf = vec![0u8; series.len as usize];
        self.file
            .read_exact_at(&mut buf, series.offset)
            .map_err(|e| Error::io(&self.path, e))?;
        check_chunk(&buf, series).map_err(|e| Error::corrupt(&self.path, e.0))
    }
}

/// Writes a block atomically (temporary file, fsync, rename, fsync of the directory)
/// from series sorted by labels, and opens it. Returns `None` when there is nothing to
/// write.
pub(crate) fn write_block(
    dir: &Path,
    seq: u64,
    level: u32,
    sources: &[u64],
    series: impl IntoIterator<Item = Result<(Labels, Vec<(i64, u64)>), Error>>,
    zstd_level: i32,
) -> Result<Option<Block>, Error> {
    let final_path = block_path(dir, seq);
    let temp_path = dir.join(format!(".{seq:08}.block.tmp"));
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp_path)
        .map_err(|e| Error::io(&temp_path, e))?;
    let result = write_contents(file, &temp_path, level, sources, series, zstd_level);
    match result {
        Ok(true) => {}
        Ok(false) => {
            let _ = fs::remove_file(&temp_path);
            return Ok(None);
        }
        Err(e) => {
            let _ = fs::remove_file(&temp_path);
            return Err(e);
        }
    }
    fs::rename(&temp_path, &final_path).map_err(|e| Error::io(&final_path, e))?;
    crate::sync_dir(dir)?;
    Block::open(&final_path, seq).map(Some)
}

fn write_contents(
    file: File,
    path: &Path,
    level: u32,
    sources: &[u64],
    series: impl IntoIterator<Item = Result<(Labels, Vec<(i64, u64)>), Error>>,
    zstd_level: i32,
) -> Result<bool, Error> {
    let io = |e| Error::io(path, e);
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(MAGIC).map_err(io)?;
    let mut offset = MAGIC.len() as u64;
    let mut index = Vec::new();
    put_uvarint(&mut index, u64::from(level));
    put_uvarint(&mut index, sources.len() as u64);
    for &source in sources {
        put_uvarint(&mut index, source);
    }
    let mut entries = Vec::new();
    let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
    let mut previous: Option<Labels> = None;
    for item in series {
        let (labels, samples) = item?;
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            continue;
        };
        if previous.as_ref().is_some_and(|p| *p >= labels) {
            return Err(Error::corrupt(
                path,
                format!("series {labels} given out of order while writing"),
            ));
        }
        // Level-0 blocks (cut from the head) are rewritten by compaction: cut them fast.
        let effort = if level == 0 {
            ChunkEffort::Quick
        } else {
            ChunkEffort::Smallest
        };
        let chunk = encode_chunk(&samples, zstd_level, effort);
        out.write_all(&chunk).map_err(io)?;
        let mut entry = Vec::new();
        put_labels(&mut entry, &labels);
        put_uvarint(&mut entry, offset);
        put_uvarint(&mut entry, chunk.len() as u64);
        entry.extend_from_slice(&crc32fast::hash(&chunk).to_le_bytes());
        put_varint(&mut entry, first.0);
        put_varint(&mut entry, last.0);
        put_uvarint(&mut entry, samples.len() as u64);
        entries.push(entry);
        offset += chunk.len() as u64;
        mint = mint.min(first.0);
        maxt = maxt.max(last.0);
        previous = Some(labels);
    }
    if entries.is_empty() {
        return Ok(false);
    }
    put_uvarint(&mut index, entries.len() as u64);
    for entry in entries {
        index.extend_from_slice(&entry);
    }
    let compressed = compress_bytes(&index, 9);
    out.write_all(&compressed).map_err(io)?;
    let mut footer = Vec::with_capacity(FOOTER_BYTES);
    footer.extend_from_slice(&offset.to_le_bytes());
    footer.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
    footer.extend_from_slice(&mint.to_le_bytes());
    footer.extend_from_slice(&maxt.to_le_bytes());
    // The checksum covers the footer's offsets and time range too.
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&compressed);
    hasher.update(&footer);
    footer.extend_from_slice(&hasher.finalize().to_le_bytes());
    footer.extend_from_slice(FOOTER_MAGIC);
    out.write_all(&footer).map_err(io)?;
    let file = out
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(true)
}
