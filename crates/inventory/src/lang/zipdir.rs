//! A zip archive's central directory, streamed: each entry's name is shown to the
//! caller once and only the entries it asks for are kept, then read one at a time.
//!
//! The `zip` crate keeps every entry of the directory in memory (about 250 bytes
//! each), so a 60,000-class jar cost 15 MB of an agent's peak just to find its few
//! `pom.properties`. Here memory is one entry name plus the wanted entries. Stored and
//! deflated entries are read (all that jar tools write); Zip64 sizes and offsets, and
//! data prepended to the archive (self-executing jars), are handled.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_END_OF_DIRECTORY: u32 = 0x0606_4b50;
const DIRECTORY_ENTRY: u32 = 0x0201_4b50;
const LOCAL_HEADER: u32 = 0x0403_4b50;
/// The end record is 22 bytes and may be followed by a comment of up to 64 KiB.
const MAX_END_SEARCH: u64 = 22 + 0xFFFF;

/// Why an archive or an entry cannot be read.
#[derive(Debug)]
pub enum ZipError {
    Io(io::Error),
    /// Not a zip archive, or a damaged one; the text says what is wrong.
    Format(&'static str),
    /// An entry compressed with a method other than stored or deflate.
    Method(u16),
    Encrypted,
}

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipError::Io(e) => write!(f, "{e}"),
            ZipError::Format(what) => f.write_str(what),
            ZipError::Method(m) => write!(f, "compression method {m} is not supported"),
            ZipError::Encrypted => f.write_str("encrypted"),
        }
    }
}

impl From<io::Error> for ZipError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => ZipError::Format("truncated"),
            _ => ZipError::Io(e),
        }
    }
}

/// An entry kept from the directory, enough to read its data later.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    method: u16,
    encrypted: bool,
    compressed_size: u64,
    /// Where the entry's local header starts, in the file (the prefix included).
    local_header: u64,
}

/// Where the central directory is, from the end records.
struct Directory {
    entries: u64,
    start: u64,
    /// Bytes before the archive proper (a launcher script): offsets in the
    /// directory are relative to the archive, not the file.
    prefix: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}

fn read_exact_at<R: Read + Seek>(r: &mut R, at: u64, buf: &mut [u8]) -> Result<(), ZipError> {
    r.seek(SeekFrom::Start(at))?;
    r.read_exact(buf)?;
    Ok(())
}

fn find_directory<R: Read + Seek>(r: &mut R, len: u64) -> Result<Directory, ZipError> {
    let tail_len = len.min(MAX_END_SEARCH);
    let tail_start = len - tail_len;
    let mut tail = vec![0u8; tail_len as usize];
    read_exact_at(r, tail_start, &mut tail)?;
    // The last signature whose comment length reaches exactly the end of the file.
    let end_at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| {
            u32_at(&tail, i) == END_OF_DIRECTORY
                && i + 22 + usize::from(u16_at(&tail, i + 20)) == tail.len()
        })
        .or_else(|| {
            (0..tail.len().saturating_sub(21))
                .rev()
                .find(|&i| u32_at(&tail, i) == END_OF_DIRECTORY)
        })
        .ok_or(ZipError::Format("no end of central directory record"))?;
    let end = &tail[end_at..];
    let end_pos = tail_start + end_at as u64;
    let mut entries = u64::from(u16_at(end, 10));
    let mut size = u64::from(u32_at(end, 12));
    let mut offset = u64::from(u32_at(end, 16));
    let mut directory_end = end_pos;
    if entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        if let Some(locator_pos) = end_pos.checked_sub(20) {
            let mut locator = [0u8; 20];
            read_exact_at(r, locator_pos, &mut locator)?;
            if u32_at(&locator, 0) == ZIP64_END_LOCATOR {
                // The zip64 record sits just before the locator (its stated offset
                // would need the prefix, not yet known).
                let mut record = [0u8; 56];
                let record_pos = locator_pos
                    .checked_sub(56)
                    .ok_or(ZipError::Format("zip64 end record outside the file"))?;
                read_exact_at(r, record_pos, &mut record)?;
                if u32_at(&record, 0) != ZIP64_END_OF_DIRECTORY {
                    return Err(ZipError::Format("zip64 end record missing"));
                }
                entries = u64_at(&record, 32);
                size = u64_at(&record, 40);
                offset = u64_at(&record, 48);
                directory_end = record_pos;
            }
        }
    }
    let start = directory_end
        .checked_sub(size)
        .ok_or(ZipError::Format("central directory larger than the file"))?;
    let prefix = start.checked_sub(offset).ok_or(ZipError::Format(
        "central directory offset past its position",
    ))?;
    Ok(Directory {
        entries,
        start,
        prefix,
    })
}

/// Streams the central directory of the archive in `source`: `visit` sees each entry's
/// name in directory order and returns whether to keep it, and whether to go on.
/// Returns the kept entries.
pub fn scan<R: Read + Seek>(
    source: &mut R,
    mut visit: impl FnMut(&str) -> Visit,
) -> Result<Vec<Entry>, ZipError> {
    let len = source.seek(SeekFrom::End(0))?;
    let directory = find_directory(source, len)?;
    source.seek(SeekFrom::Start(directory.start))?;
    let mut reader = BufReader::with_capacity(32 << 10, &mut *source);
    let mut kept = Vec::new();
    let mut header = [0u8; 46];
    let mut name = Vec::new();
    let mut extra = Vec::new();
    for _ in 0..directory.entries {
        reader.read_exact(&mut header)?;
        if u32_at(&header, 0) != DIRECTORY_ENTRY {
            return Err(ZipError::Format("bad central directory entry"));
        }
        let name_len = usize::from(u16_at(&header, 28));
        let extra_len = usize::from(u16_at(&header, 30));
        let comment_len = i64::from(u16_at(&header, 32));
        name.resize(name_len, 0);
        reader.read_exact(&mut name)?;
        extra.resize(extra_len, 0);
        reader.read_exact(&mut extra)?;
        reader.seek_relative(comment_len)?;
        let text = String::from_utf8_lossy(&name);
        match visit(&text) {
            Visit::Skip => continue,
            Visit::Stop => break,
            Visit::Keep => {}
        }
        let mut compressed_size = u64::from(u32_at(&header, 20));
        let uncompressed_size = u32_at(&header, 24);
        let mut local_header = u64::from(u32_at(&header, 42));
        // The zip64 extra field holds, in this order, only the values whose 32-bit
        // field is saturated.
        let mut at = 0;
        while at + 4 <= extra.len() {
            let (id, size) = (u16_at(&extra, at), usize::from(u16_at(&extra, at + 2)));
            let body = extra.get(at + 4..at + 4 + size).unwrap_or_default();
            if id == 1 {
                let mut field = 0;
                if uncompressed_size == 0xFFFF_FFFF {
                    field += 8;
                }
                if compressed_size == 0xFFFF_FFFF {
                    compressed_size = u64_at(body, field);
                    field += 8;
                }
                if local_header == 0xFFFF_FFFF {
                    local_header = u64_at(body, field);
                }
            }
            at += 4 + size;
        }
        kept.push(Entry {
            name: text.into_owned(),
            method: u16_at(&header, 10),
            encrypted: u16_at(&header, 8) & 1 != 0,
            compressed_size,
            local_header: local_header.saturating_add(directory.prefix),
        });
    }
    Ok(kept)
}

/// What [`scan`]'s visitor wants done with an entry.
pub enum Visit {
    Keep,
    Skip,
    /// Ignore this entry and the rest of the directory.
    Stop,
}

/// The decompressed bytes of `entry`, reading at most `limit + 1` of them so that the
/// caller can tell an entry over the limit.
pub fn read<R: Read + Seek>(
    source: &mut R,
    entry: &Entry,
    limit: u64,
) -> Result<Vec<u8>, ZipError> {
    if entry.encrypted {
        return Err(ZipError::Encrypted);
    }
    let mut local = [0u8; 30];
    read_exact_at(source, entry.local_header, &mut local)?;
    if u32_at(&local, 0) != LOCAL_HEADER {
        return Err(ZipError::Format("bad local header"));
    }
    let skip = 30 + u64::from(u16_at(&local, 26)) + u64::from(u16_at(&local, 28));
    source.seek(SeekFrom::Start(entry.local_header.saturating_add(skip)))?;
    let raw = source.take(entry.compressed_size);
    let mut data = Vec::new();
    let cap = limit.saturating_add(1);
    match entry.method {
        0 => raw.take(cap).read_to_end(&mut data)?,
        8 => flate2::read::DeflateDecoder::new(raw)
            .take(cap)
            .read_to_end(&mut data)
            .map_err(|e| match e.kind() {
                io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                    ZipError::Format("corrupt deflate stream")
                }
                _ => ZipError::from(e),
            })?,
        other => return Err(ZipError::Method(other)),
    };
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn archive(entries: &[(&str, &[u8], zip::CompressionMethod)], prefix: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, method) in entries {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(*method)
                .large_file(name.starts_with("big"));
            w.start_file(*name, options).unwrap();
            w.write_all(data).unwrap();
        }
        let mut bytes = prefix.to_vec();
        bytes.extend(w.finish().unwrap().into_inner());
        bytes
    }

    fn all(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut c = Cursor::new(bytes);
        let entries = scan(&mut c, |_| Visit::Keep).unwrap();
        entries
            .iter()
            .map(|e| (e.name.clone(), read(&mut c, e, u64::MAX - 1).unwrap()))
            .collect()
    }

    #[test]
    fn stored_deflated_zip64_and_prefixed_archives_read_back() {
        use zip::CompressionMethod::{Deflated, Stored};
        let text = b"groupId=g\nartifactId=a\nversion=1\n".repeat(50);
        let entries: [(&str, &[u8], _); 3] = [
            ("a/pom.properties", &text, Deflated),
            ("b.txt", b"plain", Stored),
            ("big/zip64.bin", &text, Deflated),
        ];
        let expected: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(n, d, _)| (n.to_string(), d.to_vec()))
            .collect();
        let plain = archive(&entries, b"");
        // The big entry's directory record defers its sizes to the zip64 extra field.
        let record = plain
            .windows(4)
            .rposition(|w| w == DIRECTORY_ENTRY.to_le_bytes())
            .unwrap();
        assert_eq!(u32_at(&plain, record + 20), 0xFFFF_FFFF);
        assert_eq!(all(&plain), expected);
        // A launcher script before the archive: offsets are relative to the archive.
        assert_eq!(
            all(&archive(&entries, b"#!/bin/sh\nexec java -jar $0\n")),
            expected
        );
    }

    #[test]
    fn more_than_65535_entries_use_the_zip64_end_records() {
        use zip::CompressionMethod::Stored;
        let names: Vec<String> = (0..70_000).map(|i| format!("c/{i}.class")).collect();
        let mut entries: Vec<(&str, &[u8], _)> = names
            .iter()
            .map(|n| (n.as_str(), &b""[..], Stored))
            .collect();
        entries.push(("META-INF/maven/g/a/pom.properties", b"version=2\n", Stored));
        let bytes = archive(&entries, b"");
        assert!(bytes
            .windows(4)
            .any(|w| w == ZIP64_END_LOCATOR.to_le_bytes()));
        let mut c = Cursor::new(&bytes[..]);
        let mut seen = 0;
        let kept = scan(&mut c, |n| {
            seen += 1;
            match n.ends_with("pom.properties") {
                true => Visit::Keep,
                false => Visit::Skip,
            }
        })
        .unwrap();
        assert_eq!(seen, 70_001);
        assert_eq!(read(&mut c, &kept[0], 100).unwrap(), b"version=2\n");
    }

    #[test]
    fn visit_skips_and_stops_and_limits_cut_reads() {
        use zip::CompressionMethod::Deflated;
        let bytes = archive(
            &[
                ("one", b"1111", Deflated),
                ("two", b"2222", Deflated),
                ("three", b"3333", Deflated),
            ],
            b"",
        );
        let mut c = Cursor::new(&bytes[..]);
        let kept = scan(&mut c, |n| match n {
            "one" => Visit::Skip,
            "two" => Visit::Keep,
            _ => Visit::Stop,
        })
        .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(read(&mut c, &kept[0], 2).unwrap(), b"222");
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        use zip::CompressionMethod::Deflated;
        let bytes = archive(&[("x/pom.properties", b"version=1\n", Deflated)], b"");
        assert!(scan(&mut Cursor::new(&b"not a zip"[..]), |_| Visit::Keep).is_err());
        for cut in 0..bytes.len() {
            let mut c = Cursor::new(&bytes[..cut]);
            if let Ok(entries) = scan(&mut c, |_| Visit::Keep) {
                for e in &entries {
                    let _ = read(&mut c, e, 1 << 20);
                }
            }
        }
        for flip in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[flip] ^= 0xA5;
            let mut c = Cursor::new(&damaged[..]);
            if let Ok(entries) = scan(&mut c, |_| Visit::Keep) {
                for e in &entries {
                    let _ = read(&mut c, e, 1 << 20);
                }
            }
        }
    }
}
