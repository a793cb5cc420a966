//! Fix availability: which package versions the target's own configured repositories
//! offer, read from the package managers' local index caches.
//!
//! A finding's fixed version is only actionable if the host can install it now: a fix
//! that the distribution has published but that the host's repositories (a pinned
//! snapshot, a missing `-security` suite, a stale mirror) do not carry is a different
//! situation from "run `apt-get upgrade`". This module reads what the package manager
//! last downloaded and answers "which versions of package X can this host install, and
//! from which index", without any network access.
//!
//! Owns: locating the index caches, decompressing them (plain, gzip, lz4 frame, xz,
//! lzma, zstd, bzip2, zchunk; each bounded to [`MAX_DECOMPRESSED`]) and parsing them:
//!
//! * apt: `var/lib/apt/lists/*_Packages[.lz4|.gz|.xz|.zst|.bz2|.lzma]`, deb822
//!   stanzas (`Package`, `Version`, `Architecture`); the origin is the list's file name
//!   without its compression suffix.
//! * apk: `var/cache/apk/APKINDEX.*.tar.gz`, a gzip tar (usually a signature segment
//!   and the index segment, two gzip members) holding an `APKINDEX` text of `P:`/`V:`/
//!   `A:` records; the origin is the file name. `lib/apk/db/installed` is not an index.
//! * dnf / yum: `var/cache/{dnf,libdnf5}/<repo>/repodata/*primary.xml[.gz|.xz|.zst|.zck|…]`
//!   and `*primary.sqlite[.*]`, and the same files anywhere a few levels below
//!   `var/cache/yum`; versions are `[epoch:]version-release` (epoch omitted when 0), as
//!   postwatch prints rpm versions; the origin is the repository id.
//!
//! Must not: decide whether a version fixes anything (that is the matcher's ordering),
//! read `sources.list` or `.repo` files, or touch the network. Every problem with one
//! file (unknown compression, corruption, truncation, a record without a version)
//! becomes a warning naming the file; a file that fails to decompress or parse
//! contributes nothing rather than a partial, possibly wrong, list.
//!
//! Indexes are parsed while they decompress, line by line or event by event, so the
//! 50 MB Debian main list never sits in memory as text; only name → versions is kept,
//! with origins and architectures interned.

use postwatch_model::PackageManager;
use postwatch_target::{FileTree, TreeError};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};

/// apt's downloaded package lists.
pub const APT_LISTS: &str = "var/lib/apt/lists";
/// apk's index cache.
pub const APK_CACHE: &str = "var/cache/apk";
/// dnf (4 and 5) metadata caches: `<dir>/<repoid>-<hash>/repodata/`.
pub const DNF_CACHES: &[&str] = &["var/cache/dnf", "var/cache/libdnf5"];
/// yum's metadata cache: `<dir>/<basearch>/<releasever>/<repoid>/...`.
pub const YUM_CACHE: &str = "var/cache/yum";

/// Largest decompressed size accepted for one index file (a bomb stops here).
pub const MAX_DECOMPRESSED: u64 = 1 << 30;
/// Longest line kept from a text index; longer lines are cut (and reported).
const MAX_LINE: usize = 1 << 20;
/// Memory liblzma may use to decode one xz/lzma stream (xz -9 needs about 65 MiB).
const XZ_MEMLIMIT: u64 = 256 << 20;
/// How deep below [`YUM_CACHE`] index files are looked for.
const YUM_MAX_DEPTH: usize = 5;
/// Problems reported per file; further ones are only counted.
const MAX_WARNINGS_PER_FILE: usize = 10;
/// Longest warning, in characters.
const MAX_WARNING_CHARS: usize = 300;

/// One version of one package that an index offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offer<'a> {
    pub version: &'a str,
    /// Where it comes from: an apt list name, an APKINDEX file name, a repository id.
    pub origin: &'a str,
    pub arch: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    version: Box<str>,
    origin: u32,
    arch: Option<u32>,
}

/// What [`collect`] found: for each package manager, package name → offered versions.
#[derive(Default)]
pub struct Available {
    sources: Vec<String>,
    origins: Vec<String>,
    archs: Vec<String>,
    arch_ids: HashMap<String, u32>,
    /// Indexed by [`manager_slot`]: dpkg, apk, rpm.
    packages: [HashMap<Box<str>, Vec<Entry>>; 3],
}

impl std::fmt::Debug for Available {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Available")
            .field("sources", &self.sources)
            .field("dpkg_names", &self.packages[0].len())
            .field("apk_names", &self.packages[1].len())
            .field("rpm_names", &self.packages[2].len())
            .finish()
    }
}

fn manager_slot(manager: PackageManager) -> Option<usize> {
    match manager {
        PackageManager::Dpkg => Some(0),
        PackageManager::Apk => Some(1),
        PackageManager::Rpm => Some(2),
        _ => None,
    }
}

impl Available {
    /// True when no index offered any package.
    pub fn is_empty(&self) -> bool {
        self.packages.iter().all(HashMap::is_empty)
    }

    /// Index files read (paths relative to the root), for "fix availability from N
    /// repository indexes".
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Every version the indexes offer for a binary package name of that manager, with
    /// the index it came from; deduplicated and sorted as strings.
    pub fn versions(&self, manager: PackageManager, name: &str) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .offers(manager, name)
            .into_iter()
            .map(|o| (o.version, o.origin))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Like [`Available::versions`], with the architecture each index gives.
    pub fn offers(&self, manager: PackageManager, name: &str) -> Vec<Offer<'_>> {
        let Some(slot) = manager_slot(manager) else {
            return Vec::new();
        };
        let Some(entries) = self.packages[slot].get(name) else {
            return Vec::new();
        };
        let mut out: Vec<Offer<'_>> = entries
            .iter()
            .map(|e| Offer {
                version: &e.version,
                origin: self
                    .origins
                    .get(e.origin as usize)
                    .map_or("", String::as_str),
                arch: e
                    .arch
                    .and_then(|a| self.archs.get(a as usize))
                    .map(String::as_str),
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Number of distinct package names offered for a manager.
    pub fn package_count(&self, manager: PackageManager) -> usize {
        manager_slot(manager).map_or(0, |slot| self.packages[slot].len())
    }

    fn add_rows(&mut self, slot: usize, source: &str, origin: &str, rows: Vec<Row>) {
        self.sources.push(source.to_owned());
        let origin_id = match self.origins.iter().position(|o| o == origin) {
            Some(i) => i as u32,
            None => {
                self.origins.push(origin.to_owned());
                (self.origins.len() - 1) as u32
            }
        };
        for (name, version, arch) in rows {
            let arch = arch.map(|a| match self.arch_ids.get(&a) {
                Some(&id) => id,
                None => {
                    let id = self.archs.len() as u32;
                    self.archs.push(a.clone());
                    self.arch_ids.insert(a, id);
                    id
                }
            });
            let entry = Entry {
                version: version.into_boxed_str(),
                origin: origin_id,
                arch,
            };
            let map = &mut self.packages[slot];
            match map.get_mut(name.as_str()) {
                Some(list) => list.push(entry),
                None => {
                    map.insert(name.into_boxed_str(), vec![entry]);
                }
            }
        }
    }

    /// Drops duplicates (the same version from the same index), once, at the end: a
    /// check on every insert would be quadratic in a hostile index.
    fn dedup(&mut self) {
        for map in &mut self.packages {
            for list in map.values_mut() {
                list.sort_unstable();
                list.dedup();
                list.shrink_to_fit();
            }
        }
    }
}

/// (name, version, arch) as the parsers return them.
type Row = (String, String, Option<String>);

// ---------------------------------------------------------------------------------
// Which files

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Plain,
    Gzip,
    Lz4,
    Xz,
    Lzma,
    Zstd,
    Bzip2,
    /// zchunk: independently zstd-compressed chunks, optionally with a dictionary
    /// (dnf's `primary.xml.zck` on Fedora).
    Zchunk,
}

impl Compression {
    fn from_ext(ext: &str) -> Option<Compression> {
        Some(match ext {
            "gz" => Compression::Gzip,
            "lz4" => Compression::Lz4,
            "xz" => Compression::Xz,
            "lzma" => Compression::Lzma,
            "zst" => Compression::Zstd,
            "bz2" => Compression::Bzip2,
            "zck" => Compression::Zchunk,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Compression::Plain => "plain",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Zchunk => "zchunk",
        }
    }
}

/// How an index file is stored: a known compression, or an extension we cannot read.
type Storage<'a> = Result<Compression, &'a str>;

/// Splits `stem[.ext]` where `stem` ends with `suffix`: the compression of the rest.
fn split_index_name<'a>(name: &'a str, suffix: &str) -> Option<(&'a str, Storage<'a>)> {
    if name.ends_with(suffix) {
        return Some((name, Ok(Compression::Plain)));
    }
    let (stem, ext) = name.rsplit_once('.')?;
    if !stem.ends_with(suffix) {
        return None;
    }
    match Compression::from_ext(ext) {
        Some(c) => Some((stem, Ok(c))),
        // Only things that look like a compression suffix are reported as unreadable;
        // apt's own `.IndexDiff` / `.diff_Index` bookkeeping files are not indexes.
        None if !ext.is_empty()
            && ext.len() <= 5
            && ext.bytes().all(|b| b.is_ascii_alphanumeric())
            && ext != "IndexDiff" =>
        {
            Some((stem, Err(ext)))
        }
        None => None,
    }
}

/// An apt list of binary packages: its origin (the name without compression suffix).
fn apt_list_name(name: &str) -> Option<(&str, Storage<'_>)> {
    if name.contains('/') {
        return None;
    }
    split_index_name(name, "_Packages").filter(|(origin, _)| origin.len() > "_Packages".len())
}

/// `APKINDEX.<hash>.tar.gz`.
fn is_apkindex(name: &str) -> bool {
    name.starts_with("APKINDEX.") && name.ends_with(".tar.gz") && !name.contains('/')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RpmIndex {
    Xml,
    Sqlite,
}

/// A repodata primary index: `<checksum>-primary.xml[.ext]`, `primary.sqlite[.ext]`,
/// or yum's unpacked `primary_db.sqlite`.
fn rpm_primary_name(name: &str) -> Option<(RpmIndex, Storage<'_>)> {
    if name.contains('/') {
        return None;
    }
    if let Some((_, storage)) = split_index_name(name, "primary.xml") {
        return Some((RpmIndex::Xml, storage));
    }
    for suffix in ["primary.sqlite", "primary_db.sqlite"] {
        if let Some((_, storage)) = split_index_name(name, suffix) {
            return Some((RpmIndex::Sqlite, storage));
        }
    }
    None
}

fn readable(storage: Option<Storage<'_>>) -> bool {
    matches!(storage, Some(Ok(_)))
}

/// Paths whose contents the collector reads (image readers keep only these).
pub fn wants(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    if let Some(name) = path
        .strip_prefix(APT_LISTS)
        .and_then(|r| r.strip_prefix('/'))
    {
        return readable(apt_list_name(name).map(|(_, s)| s));
    }
    if let Some(name) = path
        .strip_prefix(APK_CACHE)
        .and_then(|r| r.strip_prefix('/'))
    {
        return is_apkindex(name);
    }
    for root in DNF_CACHES {
        if let Some(rest) = path.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
            let parts: Vec<&str> = rest.split('/').collect();
            return matches!(parts.as_slice(), [_, "repodata", file]
                if readable(rpm_primary_name(file).map(|(_, s)| s)));
        }
    }
    if let Some(rest) = path
        .strip_prefix(YUM_CACHE)
        .and_then(|r| r.strip_prefix('/'))
    {
        let parts: Vec<&str> = rest.split('/').collect();
        return parts.len() <= YUM_MAX_DEPTH + 1
            && parts
                .last()
                .is_some_and(|file| readable(rpm_primary_name(file).map(|(_, s)| s)));
    }
    false
}

// ---------------------------------------------------------------------------------
// Problems, limits, decompression

/// Warnings for one file, prefixed with its name and capped.
struct Problems<'a> {
    origin: &'a str,
    out: &'a mut Vec<String>,
    shown: usize,
    hidden: usize,
}

impl<'a> Problems<'a> {
    fn new(origin: &'a str, out: &'a mut Vec<String>) -> Self {
        Problems {
            origin,
            out,
            shown: 0,
            hidden: 0,
        }
    }

    fn push(&mut self, message: impl std::fmt::Display) {
        if self.shown < MAX_WARNINGS_PER_FILE {
            self.out.push(clean(&format!("{}: {message}", self.origin)));
            self.shown += 1;
        } else {
            self.hidden += 1;
        }
    }

    fn finish(self) {
        if self.hidden > 0 {
            self.out.push(clean(&format!(
                "{}: {} more problems not shown",
                self.origin, self.hidden
            )));
        }
    }
}

/// A warning fit for a terminal: one line, control characters escaped, at most
/// [`MAX_WARNING_CHARS`] characters (messages can quote hostile file contents).
fn clean(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_WARNING_CHARS + 8));
    for (count, c) in message.chars().enumerate() {
        if count >= MAX_WARNING_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A reader that fails once more than `limit` bytes came through.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(format!(
                "decompresses to more than {} bytes (a decompression bomb?)",
                MAX_DECOMPRESSED
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The decompressed bytes of an index as a buffered stream, bounded by
/// [`MAX_DECOMPRESSED`].
fn decoder(bytes: &[u8], compression: Compression) -> io::Result<Box<dyn BufRead + '_>> {
    let inner: Box<dyn Read + '_> = match compression {
        Compression::Plain => Box::new(bytes),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(bytes)),
        Compression::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEMLIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Box::new(liblzma::read::XzDecoder::new_stream(bytes, stream))
        }
        Compression::Lzma => {
            let stream =
                liblzma::stream::Stream::new_lzma_decoder(XZ_MEMLIMIT).map_err(io::Error::other)?;
            Box::new(liblzma::read::XzDecoder::new_stream(bytes, stream))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(bytes)?),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(bytes)),
        Compression::Zchunk => Box::new(zchunk::Reader::new(bytes)?),
    };
    Ok(Box::new(BufReader::with_capacity(
        64 << 10,
        Limited {
            inner,
            left: MAX_DECOMPRESSED,
        },
    )))
}

/// Reads one line without its `\n` (and `\r`) into `line`, keeping at most
/// [`MAX_LINE`] bytes. `None` at the end of input; `Some(true)` when the line was cut.
fn next_line<R: BufRead + ?Sized>(r: &mut R, line: &mut Vec<u8>) -> io::Result<Option<bool>> {
    line.clear();
    let mut cut = false;
    let mut any = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        any = true;
        let (chunk, used, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        if chunk.len() > room {
            cut = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        r.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(cut))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

mod zchunk {
    //! zchunk files (`\0ZCK1`): a lead (checksum type, header size, header
    //! checksum), a header (data checksum, flags, compression type, index,
    //! signatures), then an optional zstd dictionary chunk and the chunks, each
    //! compressed on its own (with the dictionary). Integers are "compressed": seven
    //! bits per byte, least significant first, the last byte marked by its top bit.
    //! Checksums are not verified (dnf did on download); sizes are.

    use std::io::{self, Read};

    /// Largest single chunk accepted, decompressed (createrepo_c makes one per package).
    const MAX_CHUNK: u64 = 256 << 20;
    const FLAG_STREAMS: u64 = 1;
    const FLAG_UNCOMPRESSED_CHECKSUMS: u64 = 4;

    fn bad(why: impl Into<String>) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zchunk: {}", why.into()),
        )
    }

    struct Cursor<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl<'a> Cursor<'a> {
        fn int(&mut self) -> io::Result<u64> {
            let mut value = 0u64;
            for shift in (0..64).step_by(7) {
                let byte = *self
                    .bytes
                    .get(self.pos)
                    .ok_or_else(|| bad("header ends inside a number"))?;
                self.pos += 1;
                let bits = u64::from(byte & 0x7f);
                if shift == 63 && bits > 1 {
                    return Err(bad("number too large"));
                }
                value |= bits << shift;
                if byte & 0x80 != 0 {
                    return Ok(value);
                }
            }
            Err(bad("number too large"))
        }

        fn take(&mut self, n: u64) -> io::Result<&'a [u8]> {
            let n = usize::try_from(n).map_err(|_| bad("length too large"))?;
            let end = self
                .pos
                .checked_add(n)
                .filter(|&end| end <= self.bytes.len())
                .ok_or_else(|| bad("header is truncated"))?;
            let out = &self.bytes[self.pos..end];
            self.pos = end;
            Ok(out)
        }
    }

    fn checksum_len(kind: u64) -> io::Result<u64> {
        match kind {
            0 => Ok(20), // SHA-1
            1 => Ok(32), // SHA-256
            2 => Ok(64), // SHA-512
            3 => Ok(16), // SHA-512/128
            other => Err(bad(format!("unknown checksum type {other}"))),
        }
    }

    struct Chunk {
        stream: u64,
        compressed: u64,
        size: u64,
    }

    /// The decompressed contents of stream 1, chunk by chunk.
    pub(super) struct Reader<'a> {
        data: &'a [u8],
        chunks: std::vec::IntoIter<Chunk>,
        zstd: Option<zstd::bulk::Decompressor<'static>>,
        current: Vec<u8>,
        offset: usize,
    }

    impl<'a> Reader<'a> {
        pub(super) fn new(bytes: &'a [u8]) -> io::Result<Reader<'a>> {
            let mut lead = Cursor { bytes, pos: 0 };
            if lead.take(5)? != b"\0ZCK1" {
                return Err(bad("not a zchunk file (bad magic)"));
            }
            let checksum = checksum_len(lead.int()?)?;
            let header_len = lead.int()?;
            lead.take(checksum)?;
            let header = lead.take(header_len)?;
            let data_start = lead.pos;

            let mut h = Cursor {
                bytes: header,
                pos: 0,
            };
            h.take(checksum)?; // data checksum
            let flags = h.int()?;
            if flags & !(FLAG_STREAMS | FLAG_UNCOMPRESSED_CHECKSUMS) != 0 {
                return Err(bad(format!("unsupported flags {flags:#x}")));
            }
            let compression = h.int()?;
            if compression != 0 && compression != 2 {
                return Err(bad(format!("unknown compression type {compression}")));
            }
            let index_len = h.int()?;
            let mut index = Cursor {
                bytes: h.take(index_len)?,
                pos: 0,
            };
            let chunk_checksum = checksum_len(index.int()?)?;
            let count = index.int()?;
            let mut chunks = Vec::new();
            let mut dict = None;
            let mut pos = 0u64;
            for i in 0..count {
                let stream = if flags & FLAG_STREAMS != 0 {
                    index.int()?
                } else {
                    1
                };
                index.take(chunk_checksum)?;
                if flags & FLAG_UNCOMPRESSED_CHECKSUMS != 0 {
                    index.take(chunk_checksum)?;
                }
                let compressed = index.int()?;
                let size = index.int()?;
                if size > MAX_CHUNK {
                    return Err(bad(format!("chunk {i} is larger than {MAX_CHUNK} bytes")));
                }
                let start = pos;
                pos = pos
                    .checked_add(compressed)
                    .ok_or_else(|| bad("chunk sizes overflow"))?;
                if i == 0 {
                    // The dictionary chunk, possibly empty.
                    dict = Some((start, compressed, size));
                } else {
                    chunks.push(Chunk {
                        stream,
                        compressed,
                        size,
                    });
                }
            }
            let data = &bytes[data_start..];
            if pos > data.len() as u64 {
                return Err(bad("data is truncated"));
            }
            let zstd = if compression == 2 {
                let mut plain = zstd::bulk::Decompressor::new()?;
                let dictionary = match dict {
                    Some((start, compressed, size)) if compressed > 0 => {
                        let raw = slice(data, start, compressed)?;
                        let bytes = decompress(&mut plain, raw, size)?;
                        Some(bytes)
                    }
                    _ => None,
                };
                Some(match dictionary {
                    Some(d) => zstd::bulk::Decompressor::with_dictionary(&d)?,
                    None => plain,
                })
            } else {
                None
            };
            let skip = dict.map_or(0, |(_, compressed, _)| compressed);
            Ok(Reader {
                data: slice(data, skip, pos - skip)?,
                chunks: chunks.into_iter(),
                zstd,
                current: Vec::new(),
                offset: 0,
            })
        }
    }

    fn slice(data: &[u8], start: u64, len: u64) -> io::Result<&[u8]> {
        let start = usize::try_from(start).map_err(|_| bad("offset too large"))?;
        let len = usize::try_from(len).map_err(|_| bad("length too large"))?;
        start
            .checked_add(len)
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| bad("data is truncated"))
    }

    fn decompress(
        zstd: &mut zstd::bulk::Decompressor<'static>,
        raw: &[u8],
        size: u64,
    ) -> io::Result<Vec<u8>> {
        let capacity = usize::try_from(size).map_err(|_| bad("chunk too large"))?;
        let out = zstd.decompress(raw, capacity)?;
        if out.len() != capacity {
            return Err(bad(format!(
                "chunk is {} bytes, the index says {size}",
                out.len()
            )));
        }
        Ok(out)
    }

    impl Read for Reader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            while self.offset >= self.current.len() {
                let Some(chunk) = self.chunks.next() else {
                    return Ok(0);
                };
                let raw = slice(self.data, 0, chunk.compressed)?;
                self.data = &self.data[raw.len()..];
                if chunk.stream != 1 {
                    continue;
                }
                self.current = match &mut self.zstd {
                    Some(zstd) if chunk.compressed > 0 => decompress(zstd, raw, chunk.size)?,
                    Some(_) if chunk.size == 0 => Vec::new(),
                    Some(_) => return Err(bad("empty chunk with a non-zero size")),
                    None if raw.len() as u64 == chunk.size => raw.to_vec(),
                    None => return Err(bad("stored chunk size does not match the index")),
                };
                self.offset = 0;
            }
            let n = buf.len().min(self.current.len() - self.offset);
            buf[..n].copy_from_slice(&self.current[self.offset..self.offset + n]);
            self.offset += n;
            Ok(n)
        }
    }
}

// ---------------------------------------------------------------------------------
// apt

#[derive(Default)]
struct Stanza {
    line: usize,
    started: bool,
    package: Option<String>,
    version: Option<String>,
    arch: Option<String>,
}

/// Parses a `Packages` list streaming; problems go to `problems`.
fn scan_apt<R: BufRead + ?Sized>(
    r: &mut R,
    problems: &mut Problems<'_>,
    out: &mut Vec<Row>,
) -> io::Result<bool> {
    let mut line = Vec::with_capacity(256);
    let mut number = 0usize;
    let mut stanza = Stanza::default();
    let mut seen = false;
    let mut bad_lines = 0usize;
    let mut first_bad = 0usize;
    let mut finish = |stanza: &mut Stanza, problems: &mut Problems<'_>| {
        let s = std::mem::take(stanza);
        if !s.started {
            return;
        }
        match (s.package, s.version) {
            (Some(name), Some(version)) => out.push((name, version, s.arch)),
            (Some(name), None) => problems.push(format_args!(
                "stanza at line {} (Package: {name}) has no Version; skipped",
                s.line
            )),
            (None, _) => problems.push(format_args!(
                "stanza at line {} has no Package; skipped",
                s.line
            )),
        }
    };
    while let Some(cut) = next_line(r, &mut line)? {
        number += 1;
        if cut {
            problems.push(format_args!(
                "line {number} is longer than {MAX_LINE} bytes; cut"
            ));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            finish(&mut stanza, problems);
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if !stanza.started {
                bad_lines += 1;
                if first_bad == 0 {
                    first_bad = number;
                }
            }
            continue;
        }
        let field = memchr::memchr(b':', &line)
            .filter(|&i| i > 0 && !line[..i].iter().any(|b| b.is_ascii_whitespace()));
        let Some(colon) = field else {
            bad_lines += 1;
            if first_bad == 0 {
                first_bad = number;
            }
            continue;
        };
        if !stanza.started {
            stanza.started = true;
            stanza.line = number;
            seen = true;
        }
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        let slot = if name.eq_ignore_ascii_case(b"Package") {
            &mut stanza.package
        } else if name.eq_ignore_ascii_case(b"Version") {
            &mut stanza.version
        } else if name.eq_ignore_ascii_case(b"Architecture") {
            &mut stanza.arch
        } else {
            continue;
        };
        *slot = (!value.is_empty()).then(|| text(value));
    }
    let saw_content = seen || bad_lines > 0;
    finish(&mut stanza, problems);
    if bad_lines > 0 {
        problems.push(format_args!(
            "{bad_lines} lines are not deb822 'Field: value' lines (first at line {first_bad}); ignored"
        ));
    }
    Ok(saw_content)
}

/// Parses an apt `Packages` list: (name, version, arch) of each stanza. Stanzas without
/// `Package` or `Version` are reported (naming `origin` and the line) and skipped.
pub fn parse_apt_packages(
    text: &str,
    origin: &str,
    warnings: &mut Vec<String>,
) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    let mut problems = Problems::new(origin, warnings);
    if let Err(e) = scan_apt(&mut text.as_bytes(), &mut problems, &mut out) {
        problems.push(e);
    }
    problems.finish();
    out
}

// ---------------------------------------------------------------------------------
// apk

#[derive(Default)]
struct ApkRecord {
    line: usize,
    started: bool,
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
}

fn scan_apkindex<R: BufRead + ?Sized>(
    r: &mut R,
    problems: &mut Problems<'_>,
    out: &mut Vec<Row>,
) -> io::Result<()> {
    let mut line = Vec::with_capacity(128);
    let mut number = 0usize;
    let mut record = ApkRecord::default();
    let mut bad_lines = 0usize;
    let mut first_bad = 0usize;
    let mut finish = |record: &mut ApkRecord, problems: &mut Problems<'_>| {
        let rec = std::mem::take(record);
        if !rec.started {
            return;
        }
        match (rec.name, rec.version) {
            (Some(name), Some(version)) => out.push((name, version, rec.arch)),
            (Some(name), None) => problems.push(format_args!(
                "record {name} at line {} has no version (V:); skipped",
                rec.line
            )),
            (None, _) => problems.push(format_args!(
                "record at line {} has no name (P:); skipped",
                rec.line
            )),
        }
    };
    while let Some(cut) = next_line(r, &mut line)? {
        number += 1;
        if cut {
            problems.push(format_args!(
                "line {number} is longer than {MAX_LINE} bytes; cut"
            ));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            finish(&mut record, problems);
            continue;
        }
        let (key, value) = match line.as_slice() {
            [key, b':', value @ ..] => (*key, trim(value)),
            _ => {
                bad_lines += 1;
                if first_bad == 0 {
                    first_bad = number;
                }
                continue;
            }
        };
        if !record.started {
            record.started = true;
            record.line = number;
        }
        let slot = match key {
            b'P' => &mut record.name,
            b'V' => &mut record.version,
            b'A' => &mut record.arch,
            _ => continue,
        };
        *slot = (!value.is_empty()).then(|| text(value));
    }
    finish(&mut record, problems);
    if bad_lines > 0 {
        problems.push(format_args!(
            "{bad_lines} lines are not 'K:value' lines (first at line {first_bad}); ignored"
        ));
    }
    Ok(())
}

/// Parses the `APKINDEX` text of an apk repository index: (name, version) of each
/// record. Records without `P:` or `V:` are reported and skipped.
pub fn parse_apkindex(
    text: &str,
    origin: &str,
    warnings: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut problems = Problems::new(origin, warnings);
    if let Err(e) = scan_apkindex(&mut text.as_bytes(), &mut problems, &mut out) {
        problems.push(e);
    }
    problems.finish();
    out.into_iter().map(|(n, v, _)| (n, v)).collect()
}

/// The `APKINDEX` member of an `APKINDEX.tar.gz`: gzip members holding tar segments
/// (the signature segment has no end-of-archive blocks, so zero blocks are skipped).
fn read_apkindex_archive(bytes: &[u8], problems: &mut Problems<'_>) -> io::Result<Vec<Row>> {
    let mut archive = tar::Archive::new(decoder(bytes, Compression::Gzip)?);
    archive.set_ignore_zeros(true);
    for entry in archive.entries()? {
        let entry = entry?;
        let is_index = entry
            .path_bytes()
            .strip_prefix(b"./")
            .unwrap_or(&entry.path_bytes())
            == b"APKINDEX";
        if !is_index || !entry.header().entry_type().is_file() {
            continue;
        }
        let mut out = Vec::new();
        let mut reader = BufReader::new(entry);
        scan_apkindex(&mut reader, problems, &mut out)?;
        return Ok(out);
    }
    Err(io::Error::other("no APKINDEX member in the archive"))
}

// ---------------------------------------------------------------------------------
// rpm repodata

/// `[epoch:]version-release`, the epoch omitted when 0 or absent.
fn rpm_evr(epoch: Option<&str>, ver: &str, rel: Option<&str>) -> Result<String, String> {
    let epoch = match epoch.map(str::trim).filter(|e| !e.is_empty()) {
        None => 0,
        Some(e) => e
            .parse::<u32>()
            .map_err(|_| format!("epoch {e:?} is not a number"))?,
    };
    let mut out = String::with_capacity(ver.len() + 16);
    if epoch > 0 {
        out.push_str(&epoch.to_string());
        out.push(':');
    }
    out.push_str(ver);
    if let Some(rel) = rel.filter(|r| !r.is_empty()) {
        out.push('-');
        out.push_str(rel);
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum XmlField {
    None,
    Name,
    Arch,
}

#[derive(Default)]
struct XmlPackage {
    ordinal: usize,
    name: String,
    arch: String,
    version: Option<Result<String, String>>,
}

/// Streams a `primary.xml`: the `<package>` elements' name, arch and version. An XML
/// syntax error is an `Err` (the caller drops the whole file).
fn scan_primary_xml<R: BufRead>(
    r: R,
    problems: &mut Problems<'_>,
    out: &mut Vec<Row>,
) -> Result<(), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(r);
    let mut buf = Vec::new();
    let mut depth = 0usize;
    let mut package: Option<(usize, XmlPackage)> = None;
    let mut field = XmlField::None;
    let mut ordinal = 0usize;
    let position = |reader: &quick_xml::Reader<R>| reader.buffer_position();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("XML error near byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let local = local.as_ref();
                match &mut package {
                    None if local == "package" => {
                        ordinal += 1;
                        if !empty {
                            package = Some((
                                depth,
                                XmlPackage {
                                    ordinal,
                                    ..XmlPackage::default()
                                },
                            ));
                        } else {
                            problems.push(format_args!("package #{ordinal} is empty; skipped"));
                        }
                    }
                    Some((pkg_depth, pkg)) if depth == *pkg_depth + 1 => match local {
                        "name" if !empty => field = XmlField::Name,
                        "arch" if !empty => field = XmlField::Arch,
                        "version" => {
                            let attr = |key: &str| -> Result<Option<String>, String> {
                                match e.try_get_attribute(key) {
                                    Ok(Some(a)) => a
                                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                        .map(|v| Some(v.into_owned()))
                                        .map_err(|err| err.to_string()),
                                    Ok(None) => Ok(None),
                                    Err(err) => Err(err.to_string()),
                                }
                            };
                            let version = (|| {
                                let epoch = attr("epoch")?;
                                let ver = attr("ver")?
                                    .filter(|v| !v.is_empty())
                                    .ok_or_else(|| "no ver attribute".to_owned())?;
                                let rel = attr("rel")?;
                                rpm_evr(epoch.as_deref(), &ver, rel.as_deref())
                            })();
                            pkg.version = Some(version);
                        }
                        _ => {}
                    },
                    _ => {}
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                field = XmlField::None;
                if package.as_ref().is_some_and(|(d, _)| *d == depth) {
                    if let Some((_, pkg)) = package.take() {
                        let name = pkg.name.trim();
                        let arch = pkg.arch.trim();
                        match (name.is_empty(), pkg.version) {
                            (false, Some(Ok(version))) => out.push((
                                name.to_owned(),
                                version,
                                (!arch.is_empty()).then(|| arch.to_owned()),
                            )),
                            (true, _) => problems.push(format_args!(
                                "package #{} (ending at byte {}) has no name; skipped",
                                pkg.ordinal,
                                position(&reader)
                            )),
                            (false, None) => problems
                                .push(format_args!("package {name} has no <version>; skipped")),
                            (false, Some(Err(why))) => problems.push(format_args!(
                                "package {name}: bad <version>: {why}; skipped"
                            )),
                        }
                    }
                }
            }
            Event::Text(ref t) if field != XmlField::None => {
                if let Some((_, pkg)) = &mut package {
                    let target = if field == XmlField::Name {
                        &mut pkg.name
                    } else {
                        &mut pkg.arch
                    };
                    target.push_str(&t.xml10_content());
                }
            }
            Event::CData(ref t) if field != XmlField::None => {
                if let Some((_, pkg)) = &mut package {
                    let target = if field == XmlField::Name {
                        &mut pkg.name
                    } else {
                        &mut pkg.arch
                    };
                    target.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(ref r) if field != XmlField::None => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(r).map(str::to_owned),
                    Err(_) => None,
                };
                let Some(resolved) = resolved else {
                    return Err(format!(
                        "unknown entity &{}; at byte {}",
                        &**r,
                        position(&reader)
                    ));
                };
                if let Some((_, pkg)) = &mut package {
                    let target = if field == XmlField::Name {
                        &mut pkg.name
                    } else {
                        &mut pkg.arch
                    };
                    target.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if package.is_some() || depth > 0 {
        return Err("XML ends inside an element (truncated?)".to_owned());
    }
    Ok(())
}

/// Parses a repodata `primary.xml`: (name, `[epoch:]version-release`, arch) of each
/// `<package>`. Packages without a name or version are reported and skipped; a
/// malformed document is reported and yields nothing.
pub fn parse_rpm_primary_xml(
    bytes: &[u8],
    origin: &str,
    warnings: &mut Vec<String>,
) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    let mut problems = Problems::new(origin, warnings);
    if let Err(e) = scan_primary_xml(bytes, &mut problems, &mut out) {
        problems.push(format_args!("{e}; file ignored"));
        out.clear();
    }
    problems.finish();
    out
}

/// Reads createrepo's `primary.sqlite` (table `packages`) from its bytes.
fn read_primary_sqlite(bytes: &[u8], problems: &mut Problems<'_>) -> Result<Vec<Row>, String> {
    use rusqlite::{Connection, MAIN_DB};
    if bytes.len() < 100 || !bytes.starts_with(b"SQLite format 3\0") {
        return Err("not an SQLite database (bad magic)".to_owned());
    }
    let mut image = bytes.to_vec();
    // A WAL-mode file cannot be opened from memory; mark it as rollback-journal.
    image[18] = 1;
    image[19] = 1;
    let sql = |e: rusqlite::Error| format!("SQLite: {e}");
    let mut conn = Connection::open_in_memory().map_err(sql)?;
    conn.deserialize_read_exact(MAIN_DB, &image[..], image.len(), true)
        .map_err(sql)?;
    let mut stmt = conn
        .prepare("SELECT name, arch, epoch, version, release FROM packages")
        .map_err(sql)?;
    let mut rows = stmt.query([]).map_err(sql)?;
    let mut out = Vec::new();
    let column = |row: &rusqlite::Row<'_>, i: usize| -> Option<String> {
        match row.get_ref(i).ok()? {
            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                Some(text(t))
            }
            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let mut index = 0usize;
    while let Some(row) = rows.next().map_err(sql)? {
        index += 1;
        let name = column(row, 0).filter(|n| !n.is_empty());
        let arch = column(row, 1).filter(|a| !a.is_empty());
        let ver = column(row, 3).filter(|v| !v.is_empty());
        let (Some(name), Some(ver)) = (name, ver) else {
            problems.push(format_args!(
                "packages row {index} has no name or version; skipped"
            ));
            continue;
        };
        match rpm_evr(column(row, 2).as_deref(), &ver, column(row, 4).as_deref()) {
            Ok(version) => out.push((name, version, arch)),
            Err(why) => problems.push(format_args!("package {name}: {why}; skipped")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Collecting

/// Every repository index found in `tree`. Problems (an unreadable directory, a
/// corrupt file, an unknown compression) become warnings naming the path; one bad file
/// never stops the others. (The `Result` is for tree failures that should end a scan;
/// none currently do.)
pub fn collect(tree: &dyn FileTree, warnings: &mut Vec<String>) -> Result<Available, TreeError> {
    let mut available = Available::default();
    collect_apt(tree, &mut available, warnings);
    collect_apk(tree, &mut available, warnings);
    collect_rpm(tree, &mut available, warnings);
    available.dedup();
    Ok(available)
}

fn list(tree: &dyn FileTree, dir: &str, warnings: &mut Vec<String>) -> Vec<String> {
    match tree.list_dir(dir) {
        Ok(names) => names,
        Err(e) => {
            warnings.push(clean(&format!(
                "{dir}: cannot list repository indexes: {e}"
            )));
            Vec::new()
        }
    }
}

fn read(tree: &dyn FileTree, path: &str, warnings: &mut Vec<String>) -> Option<Vec<u8>> {
    match tree.read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            warnings.push(clean(&format!("{path}: {e}")));
            None
        }
    }
}

fn unreadable(path: &str, ext: &str, warnings: &mut Vec<String>) {
    warnings.push(clean(&format!(
        "{path}: unknown compression '.{ext}'; repository index ignored"
    )));
}

fn collect_apt(tree: &dyn FileTree, available: &mut Available, warnings: &mut Vec<String>) {
    for name in list(tree, APT_LISTS, warnings) {
        let Some((origin, storage)) = apt_list_name(&name) else {
            continue;
        };
        let path = format!("{APT_LISTS}/{name}");
        let compression = match storage {
            Ok(c) => c,
            Err(ext) => {
                unreadable(&path, ext, warnings);
                continue;
            }
        };
        let Some(bytes) = read(tree, &path, warnings) else {
            continue;
        };
        let mut rows = Vec::new();
        let mut problems = Problems::new(&path, warnings);
        let result = decoder(&bytes, compression)
            .and_then(|mut r| scan_apt(&mut *r, &mut problems, &mut rows));
        match result {
            Err(e) => {
                problems.push(format_args!(
                    "corrupt or truncated {} data: {e}; list ignored",
                    compression.name()
                ));
                problems.finish();
                continue;
            }
            Ok(true) if rows.is_empty() => {
                problems.push("no package stanzas found; list ignored");
                problems.finish();
                continue;
            }
            Ok(_) => problems.finish(),
        }
        available.add_rows(0, &path, origin, rows);
    }
}

fn collect_apk(tree: &dyn FileTree, available: &mut Available, warnings: &mut Vec<String>) {
    for name in list(tree, APK_CACHE, warnings) {
        if !is_apkindex(&name) {
            continue;
        }
        let path = format!("{APK_CACHE}/{name}");
        let Some(bytes) = read(tree, &path, warnings) else {
            continue;
        };
        let mut problems = Problems::new(&path, warnings);
        match read_apkindex_archive(&bytes, &mut problems) {
            Ok(rows) => {
                problems.finish();
                available.add_rows(1, &path, &name, rows);
            }
            Err(e) => {
                problems.push(format_args!(
                    "corrupt or truncated APKINDEX archive: {e}; index ignored"
                ));
                problems.finish();
            }
        }
    }
}

/// A dnf cache directory is `<repoid>-<16 hex digits>`; the repo id is the label.
fn repo_label(dir: &str) -> &str {
    match dir.rsplit_once('-') {
        Some((id, hash))
            if !id.is_empty()
                && hash.len() == 16
                && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            id
        }
        _ => dir,
    }
}

fn collect_rpm(tree: &dyn FileTree, available: &mut Available, warnings: &mut Vec<String>) {
    // (path of the index file, its name, repository label)
    let mut found: Vec<(String, String, String)> = Vec::new();
    for root in DNF_CACHES {
        for repo in list(tree, root, warnings) {
            let dir = format!("{root}/{repo}/repodata");
            for file in list(tree, &dir, warnings) {
                if rpm_primary_name(&file).is_some() {
                    found.push((format!("{dir}/{file}"), file, repo_label(&repo).to_owned()));
                }
            }
        }
    }
    // yum: <basearch>/<releasever>/<repoid>/ holds the index, or its repodata/ or gen/.
    let mut stack = vec![(YUM_CACHE.to_owned(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        for name in list(tree, &dir, warnings) {
            let path = format!("{dir}/{name}");
            if rpm_primary_name(&name).is_some() {
                let parent = dir.rsplit('/').next().unwrap_or_default();
                let label = if matches!(parent, "repodata" | "gen") {
                    dir.rsplit('/').nth(1).unwrap_or(parent)
                } else {
                    parent
                };
                found.push((path, name, label.to_owned()));
            } else if depth < YUM_MAX_DEPTH && name != "packages" && !name.ends_with(".rpm") {
                stack.push((path, depth + 1));
            }
        }
    }
    found.sort();
    for (path, name, label) in found {
        let Some((kind, storage)) = rpm_primary_name(&name) else {
            continue;
        };
        let compression = match storage {
            Ok(c) => c,
            Err(ext) => {
                unreadable(&path, ext, warnings);
                continue;
            }
        };
        let Some(bytes) = read(tree, &path, warnings) else {
            continue;
        };
        let mut problems = Problems::new(&path, warnings);
        let mut rows = Vec::new();
        let result = match kind {
            RpmIndex::Xml => match decoder(&bytes, compression) {
                Ok(r) => scan_primary_xml(r, &mut problems, &mut rows),
                Err(e) => Err(e.to_string()),
            },
            RpmIndex::Sqlite => {
                let mut image = Vec::new();
                match decoder(&bytes, compression).and_then(|mut r| r.read_to_end(&mut image)) {
                    Ok(_) => read_primary_sqlite(&image, &mut problems).map(|r| rows = r),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        if let Err(e) = result {
            problems.push(format_args!(
                "corrupt or truncated {} repository index: {e}; index ignored",
                compression.name()
            ));
            problems.finish();
            continue;
        }
        problems.finish();
        available.add_rows(2, &path, &label, rows);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names() {
        let apt = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";
        assert_eq!(apt_list_name(apt), Some((apt, Ok(Compression::Plain))));
        assert_eq!(
            apt_list_name(&format!("{apt}.lz4")),
            Some((apt, Ok(Compression::Lz4)))
        );
        assert_eq!(
            apt_list_name(&format!("{apt}.zz9")),
            Some((apt, Err("zz9")))
        );
        assert_eq!(apt_list_name(&format!("{apt}.IndexDiff")), None);
        assert_eq!(apt_list_name(&format!("{apt}.diff_Index")), None);
        assert_eq!(apt_list_name("x_Sources.xz"), None);
        assert_eq!(apt_list_name("_Packages"), None);
        assert_eq!(apt_list_name("lock"), None);
        assert!(wants(&format!("var/lib/apt/lists/{apt}.xz")));
        assert!(!wants(&format!("var/lib/apt/lists/partial/{apt}.xz")));
        assert!(!wants(&format!("var/lib/apt/lists/{apt}.zz9")));
        assert!(wants("var/cache/apk/APKINDEX.66df3ca6.tar.gz"));
        assert!(!wants("lib/apk/db/installed"));
        assert!(wants(
            "var/cache/dnf/baseos-8f5ab1b1c6e0b5f2/repodata/ab12-primary.xml.gz"
        ));
        assert!(wants(
            "var/cache/libdnf5/fedora-1/repodata/ab12-primary.xml.zst"
        ));
        assert!(wants(
            "var/cache/dnf/baseos-8f5ab1b1c6e0b5f2/repodata/ab12-primary.xml.zck"
        ));
        assert!(!wants(
            "var/cache/dnf/baseos-8f5ab1b1c6e0b5f2/repodata/ab12-primary.xml.zz9"
        ));
        assert!(!wants(
            "var/cache/dnf/baseos-8f5ab1b1c6e0b5f2/repodata/ab12-filelists.xml.gz"
        ));
        assert!(wants("var/cache/yum/x86_64/7/base/ab12-primary.sqlite.bz2"));
        assert!(wants("var/cache/yum/x86_64/7/base/gen/primary_db.sqlite"));
        assert_eq!(repo_label("baseos-8f5ab1b1c6e0b5f2"), "baseos");
        assert_eq!(repo_label("my-repo"), "my-repo");
    }

    #[test]
    fn decompressed_size_is_bounded() {
        let mut limited = Limited {
            inner: &[7u8; 64][..],
            left: 10,
        };
        let mut out = Vec::new();
        let err = limited.read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("decompression bomb"), "{err}");
        let mut exact = Limited {
            inner: &[7u8; 10][..],
            left: 10,
        };
        assert_eq!(exact.read_to_end(&mut Vec::new()).unwrap(), 10);
    }

    #[test]
    fn long_lines_and_control_characters() {
        let mut text = String::from("Package: a\x1b[31m\nVersion: ");
        text.push_str(&"9".repeat(MAX_LINE + 5));
        text.push('\n');
        let mut w = Vec::new();
        let rows = parse_apt_packages(&text, "L", &mut w);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1.len(), MAX_LINE - "Version: ".len());
        assert!(w[0].contains("longer than"), "{w:?}");
        assert_eq!(clean("a\x1bb\nc"), "a\\u{1b}b\\nc");
        assert_eq!(
            clean(&"x".repeat(1000)).chars().count(),
            MAX_WARNING_CHARS + 1
        );
    }

    #[test]
    fn evr() {
        assert_eq!(
            rpm_evr(Some("0"), "1.0", Some("1.el9")).as_deref(),
            Ok("1.0-1.el9")
        );
        assert_eq!(
            rpm_evr(Some("2"), "1.0", Some("1")).as_deref(),
            Ok("2:1.0-1")
        );
        assert_eq!(rpm_evr(None, "1.0", None).as_deref(), Ok("1.0"));
        assert!(rpm_evr(Some("x"), "1.0", Some("1")).is_err());
    }

    #[test]
    fn apt_stanzas() {
        let mut w = Vec::new();
        let text = "Package: a\nVersion: 1\nArchitecture: all\nDescription: x\n continued\n\n\
                    Package: b\nArchitecture: amd64\n\npackage: c\nversion: 2\r\n\r\n  stray\nnot a field\n";
        let rows = parse_apt_packages(text, "L", &mut w);
        assert_eq!(
            rows,
            vec![
                ("a".into(), "1".into(), Some("all".into())),
                ("c".into(), "2".into(), None)
            ]
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("L: stanza at line 7 (Package: b) has no Version"));
        assert!(w[1].contains("2 lines are not deb822"), "{w:?}");
    }

    #[test]
    fn primary_xml_entities_and_nesting() {
        let xml = br#"<?xml version="1.0"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
<package type="rpm"><name>a&amp;b</name><arch>x86_64</arch><version epoch="1" ver="2" rel="3"/>
<format><rpm:provides><rpm:entry name="z" epoch="9" ver="9" rel="9"/></rpm:provides></format></package>
<package type="rpm"><name>nov</name></package>
</metadata>"#;
        let mut w = Vec::new();
        let rows = parse_rpm_primary_xml(xml, "P", &mut w);
        assert_eq!(
            rows,
            vec![("a&b".into(), "1:2-3".into(), Some("x86_64".into()))]
        );
        assert_eq!(
            w,
            vec!["P: package nov has no <version>; skipped".to_owned()]
        );
        let mut w = Vec::new();
        assert!(parse_rpm_primary_xml(&xml[..xml.len() - 20], "P", &mut w).is_empty());
        assert!(w[0].contains("file ignored"), "{w:?}");
    }
}
