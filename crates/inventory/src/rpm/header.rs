//! The rpm header blob as stored in the database: `il` index entries of 16 bytes
//! (tag, type, offset, count) followed by a `dl`-byte data store, all big-endian.

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_VENDOR: u32 = 1011;
const TAG_ARCH: u32 = 1022;
const TAG_OLDFILENAMES: u32 = 1027;
const TAG_SOURCERPM: u32 = 1044;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;
const TAG_MODULARITYLABEL: u32 = 5096;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own bounds (`hdrblob` checks): at most 0xffff tags and 256 MiB of data.
const MAX_INDEX_ENTRIES: usize = 0xffff;
const MAX_DATA_BYTES: usize = 256 << 20;

/// The fields postwatch uses from one header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpmHeader {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: Option<String>,
    pub source_rpm: Option<String>,
    pub license: Option<String>,
    pub vendor: Option<String>,
    pub modularity_label: Option<String>,
    pub files: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("header blob is {0} bytes, too short")]
    TooShort(usize),
    #[error("header declares {entries} entries and {data} data bytes, more than the blob or rpm's limits allow")]
    BadSize { entries: usize, data: usize },
    #[error("tag {tag}: offset or count points outside the data store")]
    OutOfBounds { tag: u32 },
    #[error("tag {tag}: string is not terminated")]
    Unterminated { tag: u32 },
    #[error("no {0} tag")]
    Missing(&'static str),
}

struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

impl<'a> Header<'a> {
    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    fn strings(&self, tag: u32) -> Result<Vec<String>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(Vec::new());
        };
        if !matches!(e.kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Ok(Vec::new());
        }
        let count = if e.kind == TYPE_STRING { 1 } else { e.count };
        let mut out = Vec::with_capacity(count.min(1 << 16));
        let mut at = e.offset;
        for _ in 0..count {
            let rest = self
                .data
                .get(at..)
                .ok_or(HeaderError::OutOfBounds { tag })?;
            let len = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(HeaderError::Unterminated { tag })?;
            out.push(String::from_utf8_lossy(&rest[..len]).into_owned());
            at += len + 1;
        }
        Ok(out)
    }

    fn string(&self, tag: u32) -> Result<Option<String>, HeaderError> {
        Ok(self.strings(tag)?.into_iter().next())
    }

    fn int32s(&self, tag: u32) -> Result<Vec<u32>, HeaderError> {
        let Some(e) = self.entry(tag) else {
            return Ok(Vec::new());
        };
        if e.kind != TYPE_INT32 {
            return Ok(Vec::new());
        }
        let end = e
            .count
            .checked_mul(4)
            .and_then(|n| n.checked_add(e.offset))
            .filter(|&end| end <= self.data.len())
            .ok_or(HeaderError::OutOfBounds { tag })?;
        Ok(self.data[e.offset..end]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// Parses one header blob.
pub fn parse_header(blob: &[u8]) -> Result<RpmHeader, HeaderError> {
    if blob.len() < 8 {
        return Err(HeaderError::TooShort(blob.len()));
    }
    let il = be32(blob, 0) as usize;
    let dl = be32(blob, 4) as usize;
    let bad = HeaderError::BadSize {
        entries: il,
        data: dl,
    };
    if il > MAX_INDEX_ENTRIES || dl > MAX_DATA_BYTES {
        return Err(bad);
    }
    let data_start = 8 + il * 16;
    if data_start + dl > blob.len() {
        return Err(bad);
    }
    let entries = (0..il)
        .map(|i| {
            let at = 8 + i * 16;
            Entry {
                tag: be32(blob, at),
                kind: be32(blob, at + 4),
                offset: be32(blob, at + 8) as usize,
                count: be32(blob, at + 12) as usize,
            }
        })
        .collect();
    let header = Header {
        entries,
        data: &blob[data_start..data_start + dl],
    };
    let name = header
        .string(TAG_NAME)?
        .ok_or(HeaderError::Missing("NAME"))?;
    let version = header
        .string(TAG_VERSION)?
        .ok_or(HeaderError::Missing("VERSION"))?;
    let release = header
        .string(TAG_RELEASE)?
        .ok_or(HeaderError::Missing("RELEASE"))?;
    let mut files = header.strings(TAG_OLDFILENAMES)?;
    if files.is_empty() {
        let basenames = header.strings(TAG_BASENAMES)?;
        let dirnames = header.strings(TAG_DIRNAMES)?;
        let indexes = header.int32s(TAG_DIRINDEXES)?;
        files.reserve(basenames.len());
        for (base, dir_index) in basenames.iter().zip(indexes) {
            let dir = dirnames
                .get(dir_index as usize)
                .ok_or(HeaderError::OutOfBounds {
                    tag: TAG_DIRINDEXES,
                })?;
            files.push(format!("{dir}{base}"));
        }
    }
    Ok(RpmHeader {
        name,
        epoch: header.int32s(TAG_EPOCH)?.first().copied(),
        version,
        release,
        arch: header.string(TAG_ARCH)?,
        source_rpm: header.string(TAG_SOURCERPM)?,
        license: header.string(TAG_LICENSE)?,
        vendor: header.string(TAG_VENDOR)?,
        modularity_label: header.string(TAG_MODULARITYLABEL)?,
        files,
    })
}
