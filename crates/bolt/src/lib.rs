//! A small, read-only reader of bbolt (BoltDB) files: the key/value store in which
//! containerd keeps its metadata (`io.containerd.metadata.v1.bolt/meta.db`) and each
//! snapshotter its snapshots (`io.containerd.snapshotter.v1.*/metadata.db`).
//!
//! The format (go.etcd.io/bbolt, file version 2): fixed-size pages; pages 0 and 1 are
//! meta pages (magic, page size, root bucket, high-water page id, transaction id and an
//! FNV-1a checksum) of which the valid one with the higher transaction id is current;
//! every bucket is a B+tree of branch pages (keys → child page ids) and leaf pages
//! (key, value, flags); a leaf value with the bucket flag is a nested bucket's header,
//! whose root page id is 0 when the bucket is small enough to be stored inline, the
//! header then followed by a leaf page of its own. A page may span following
//! "overflow" pages.
//!
//! Only reading: no lock is taken (a running containerd holds the file's lock; bbolt
//! never overwrites pages a committed meta page points at, so reading the current
//! tree while it runs gives that transaction's view, unless pages are reused while we
//! read: such a read fails with an error, it never panics). Every offset, length,
//! page id and depth read from the file is checked: a damaged file gives
//! [`Error::Corrupt`] naming the file and the problem.
//!
//! Owns: the bbolt file format. Must not: know what containerd stores in it.

use std::collections::HashSet;
use std::fs::File;
use std::hash::Hasher;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// bbolt's magic number, at the start of each meta page's body.
const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version bbolt writes.
const FILE_VERSION: u32 = 2;
/// Page header: id u64, flags u16, count u16, overflow u32.
const PAGE_HEADER: usize = 16;
/// Branch elements (pos u32, ksize u32, pgid u64) and leaf elements (flags u32,
/// pos u32, ksize u32, vsize u32) are both 16 bytes.
const ELEMENT: usize = 16;
/// A bucket's header in its parent's leaf value: root page id u64, sequence u64.
const BUCKET_HEADER: usize = 16;
/// The meta body up to its checksum: magic, version, page size, flags, root bucket
/// (16), freelist, high-water page id, transaction id.
const META_SUMMED: usize = 56;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const META_PAGE: u16 = 0x04;
/// A leaf element's flag: its value is a nested bucket.
const BUCKET_LEAF: u32 = 0x01;
/// Page sizes tried for the second meta page when the first is damaged.
const PAGE_SIZES: [u64; 5] = [4096, 8192, 16384, 32768, 65536];
/// Deepest B+tree (or nesting of buckets) followed: real trees are a few levels.
const MAX_DEPTH: usize = 64;
/// Largest page with its overflow read at once: bounds memory on a damaged count.
const MAX_PAGE_SPAN: u64 = 64 << 20;

/// Why a bolt file cannot be read. Both name the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file} is not a readable bolt database: {problem}")]
    Corrupt { file: String, problem: String },
}

pub type Result<T> = std::result::Result<T, Error>;

enum Source {
    Bytes(Vec<u8>),
    File(File),
}

/// An open bolt file, read page by page on demand.
pub struct Db {
    name: String,
    source: Source,
    len: u64,
    page_size: u64,
    /// Pages at or above this id are not part of the current transaction.
    high_water: u64,
    root: u64,
    txid: u64,
}

/// A bucket: its root page, or (inline buckets) the leaf page held in its header.
#[derive(Clone)]
pub struct Bucket<'db> {
    db: &'db Db,
    root: Root,
}

#[derive(Clone)]
enum Root {
    Page(u64),
    /// The inline leaf page: page header and elements.
    Inline(Arc<[u8]>),
}

/// What a key of a bucket holds.
pub enum Item<'db> {
    Value(Vec<u8>),
    Bucket(Bucket<'db>),
}

struct Meta {
    page_size: u64,
    root: u64,
    high_water: u64,
    txid: u64,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The meta page at the start of `page`, when it is one and its checksum holds.
fn parse_meta(page: &[u8]) -> Option<Meta> {
    let flags = u16_at(page, 8)?;
    if flags & META_PAGE == 0 {
        return None;
    }
    let body = page.get(PAGE_HEADER..PAGE_HEADER + META_SUMMED + 8)?;
    if u32_at(body, 0)? != MAGIC || u32_at(body, 4)? != FILE_VERSION {
        return None;
    }
    let mut hash = fnv::FnvHasher::default();
    hash.write(body.get(..META_SUMMED)?);
    if hash.finish() != u64_at(body, META_SUMMED)? {
        return None;
    }
    let page_size = u64::from(u32_at(body, 8)?);
    if !(512..=(1 << 20)).contains(&page_size) || !page_size.is_power_of_two() {
        return None;
    }
    Some(Meta {
        page_size,
        root: u64_at(body, 16)?,
        high_water: u64_at(body, 40)?,
        txid: u64_at(body, 48)?,
    })
}

impl Db {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> Result<Db> {
        let name = path.display().to_string();
        let io = |source| Error::Io {
            file: name.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Db::new(name.clone(), Source::File(file), len)
    }

    /// A bolt file held in memory; `name` is what errors call it.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<Db> {
        let len = bytes.len() as u64;
        Db::new(name.to_owned(), Source::Bytes(bytes), len)
    }

    fn new(name: String, source: Source, len: u64) -> Result<Db> {
        let mut db = Db {
            name,
            source,
            len,
            page_size: 0,
            high_water: 0,
            root: 0,
            txid: 0,
        };
        let first = db.read_at(0, (len.min(4096)) as usize)?;
        let meta0 = parse_meta(&first);
        // The second meta page sits one page in; its size comes from the first meta
        // page, or is guessed among the usual sizes when that one is damaged.
        let sizes: Vec<u64> = match &meta0 {
            Some(m) => vec![m.page_size],
            None => PAGE_SIZES.to_vec(),
        };
        let mut meta1 = None;
        for size in sizes {
            if size + (PAGE_HEADER + META_SUMMED + 8) as u64 > len {
                continue;
            }
            let page = db.read_at(size, PAGE_HEADER + META_SUMMED + 8)?;
            if let Some(m) = parse_meta(&page).filter(|m| m.page_size == size) {
                meta1 = Some(m);
                break;
            }
        }
        let meta = match (meta0, meta1) {
            (Some(a), Some(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Some(m), None) | (None, Some(m)) => m,
            (None, None) => {
                return Err(db.corrupt("no valid meta page (bad magic, version or checksum)"))
            }
        };
        db.page_size = meta.page_size;
        db.high_water = meta.high_water;
        db.root = meta.root;
        db.txid = meta.txid;
        if meta.root < 2 || meta.root >= meta.high_water {
            return Err(db.corrupt(format!(
                "the root bucket's page {} is out of range",
                meta.root
            )));
        }
        Ok(db)
    }

    /// The file's name as errors give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the transaction whose view is read.
    pub fn txid(&self) -> u64 {
        self.txid
    }

    /// The top-level bucket, whose keys are the database's buckets.
    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            db: self,
            root: Root::Page(self.root),
        }
    }

    fn corrupt(&self, problem: impl Into<String>) -> Error {
        Error::Corrupt {
            file: self.name.clone(),
            problem: problem.into(),
        }
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len as u64)
            .filter(|end| *end <= self.len)
            .ok_or_else(|| {
                self.corrupt(format!(
                    "{len} bytes at offset {offset} lie beyond its end ({} bytes)",
                    self.len
                ))
            })?;
        match &self.source {
            Source::Bytes(bytes) => {
                let (start, end) = (offset as usize, end as usize);
                bytes
                    .get(start..end)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| self.corrupt("a read lies beyond its end"))
            }
            Source::File(file) => {
                let mut buf = vec![0; len];
                file.read_exact_at(&mut buf, offset)
                    .map_err(|source| Error::Io {
                        file: self.name.clone(),
                        source,
                    })?;
                Ok(buf)
            }
        }
    }

    /// Page `id` with its overflow pages.
    fn page(&self, id: u64) -> Result<Vec<u8>> {
        if id < 2 || id >= self.high_water {
            return Err(self.corrupt(format!(
                "page {id} is out of range (the file has {} pages)",
                self.high_water
            )));
        }
        let offset = id
            .checked_mul(self.page_size)
            .ok_or_else(|| self.corrupt(format!("page {id} is out of range")))?;
        let header = self.read_at(offset, PAGE_HEADER)?;
        let (Some(stored_id), Some(overflow)) = (u64_at(&header, 0), u32_at(&header, 12)) else {
            return Err(self.corrupt(format!("page {id} has no header")));
        };
        if stored_id != id {
            return Err(self.corrupt(format!(
                "page {id} says it is page {stored_id} (was the file written while it was read?)"
            )));
        }
        let span = (u64::from(overflow) + 1)
            .checked_mul(self.page_size)
            .filter(|span| *span <= MAX_PAGE_SPAN)
            .ok_or_else(|| self.corrupt(format!("page {id} claims {overflow} overflow pages")))?;
        if id.saturating_add(u64::from(overflow)) >= self.high_water {
            return Err(self.corrupt(format!(
                "page {id} with {overflow} overflow pages runs past the last page"
            )));
        }
        self.read_at(offset, span as usize)
    }
}

/// One element of a leaf page.
struct LeafElement<'p> {
    flags: u32,
    key: &'p [u8],
    value: &'p [u8],
}

fn page_kind(page: &[u8]) -> (u16, usize) {
    (
        u16_at(page, 8).unwrap_or(0),
        usize::from(u16_at(page, 10).unwrap_or(0)),
    )
}

/// The `i`th element's fields and the start of its key (relative to the page).
fn element(page: &[u8], i: usize) -> Option<(u32, u32, u32, u32, usize)> {
    let base = PAGE_HEADER.checked_add(i.checked_mul(ELEMENT)?)?;
    let a = u32_at(page, base)?;
    let b = u32_at(page, base + 4)?;
    let c = u32_at(page, base + 8)?;
    let d = u32_at(page, base + 12)?;
    Some((a, b, c, d, base))
}

fn leaf_element(page: &[u8], i: usize) -> Option<LeafElement<'_>> {
    let (flags, pos, ksize, vsize, base) = element(page, i)?;
    let key_start = base.checked_add(pos as usize)?;
    let key_end = key_start.checked_add(ksize as usize)?;
    let value_end = key_end.checked_add(vsize as usize)?;
    Some(LeafElement {
        flags,
        key: page.get(key_start..key_end)?,
        value: page.get(key_end..value_end)?,
    })
}

fn branch_element(page: &[u8], i: usize) -> Option<(&[u8], u64)> {
    let (pos, ksize, low, high, base) = element(page, i)?;
    let key_start = base.checked_add(pos as usize)?;
    let key_end = key_start.checked_add(ksize as usize)?;
    let child = u64::from(low) | (u64::from(high) << 32);
    Some((page.get(key_start..key_end)?, child))
}

impl<'db> Bucket<'db> {
    fn item(&self, element: &LeafElement<'_>) -> Result<Item<'db>> {
        if element.flags & BUCKET_LEAF == 0 {
            return Ok(Item::Value(element.value.to_vec()));
        }
        let Some(root) = u64_at(element.value, 0) else {
            return Err(self.db.corrupt(format!(
                "the bucket {:?} has a header of {} bytes",
                String::from_utf8_lossy(element.key),
                element.value.len()
            )));
        };
        let root = if root == 0 {
            Root::Inline(Arc::from(element.value.get(BUCKET_HEADER..).unwrap_or(&[])))
        } else {
            Root::Page(root)
        };
        Ok(Item::Bucket(Bucket { db: self.db, root }))
    }

    /// What `key` holds, if anything.
    pub fn get(&self, key: &[u8]) -> Result<Option<Item<'db>>> {
        let mut id = match &self.root {
            Root::Inline(page) => return self.find_in_leaf(page, key),
            Root::Page(id) => *id,
        };
        for _ in 0..MAX_DEPTH {
            let page = self.db.page(id)?;
            let (flags, count) = page_kind(&page);
            if flags & LEAF_PAGE != 0 {
                return self.find_in_leaf(&page, key);
            }
            if flags & BRANCH_PAGE == 0 {
                return Err(self
                    .db
                    .corrupt(format!("page {id} is neither branch nor leaf")));
            }
            // The last child whose first key is at most `key` (else the first child).
            let mut next = None;
            for i in 0..count {
                let (first, child) = branch_element(&page, i).ok_or_else(|| {
                    self.db
                        .corrupt(format!("branch page {id}: element {i} is out of bounds"))
                })?;
                if next.is_none() || first <= key {
                    next = Some(child);
                }
                if first > key {
                    break;
                }
            }
            id = next.ok_or_else(|| self.db.corrupt(format!("branch page {id} is empty")))?;
        }
        Err(self
            .db
            .corrupt(format!("the tree is deeper than {MAX_DEPTH} pages")))
    }

    fn find_in_leaf(&self, page: &[u8], key: &[u8]) -> Result<Option<Item<'db>>> {
        let (flags, count) = page_kind(page);
        if flags & LEAF_PAGE == 0 {
            return Err(self.db.corrupt("a bucket's page is not a leaf page"));
        }
        for i in 0..count {
            let element = leaf_element(page, i).ok_or_else(|| {
                self.db
                    .corrupt(format!("leaf element {i} is out of bounds"))
            })?;
            if element.key == key {
                return self.item(&element).map(Some);
            }
        }
        Ok(None)
    }

    /// The nested bucket `key`; `None` when the key is absent or holds a value.
    pub fn bucket(&self, key: &[u8]) -> Result<Option<Bucket<'db>>> {
        Ok(match self.get(key)? {
            Some(Item::Bucket(b)) => Some(b),
            _ => None,
        })
    }

    /// The value of `key`; `None` when the key is absent or holds a bucket.
    pub fn value(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(match self.get(key)? {
            Some(Item::Value(v)) => Some(v),
            _ => None,
        })
    }

    /// The bucket at the end of `keys`, one nested bucket per key.
    pub fn path(&self, keys: &[&[u8]]) -> Result<Option<Bucket<'db>>> {
        let mut here = self.clone();
        for key in keys {
            match here.bucket(key)? {
                Some(next) => here = next,
                None => return Ok(None),
            }
        }
        Ok(Some(here))
    }

    /// Every key of the bucket with what it holds, in key order.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Item<'db>)>> {
        let mut out = Vec::new();
        match &self.root {
            Root::Inline(page) => self.collect_leaf(page, &mut out)?,
            Root::Page(id) => {
                // Depth-first, children in order; a page seen twice is a damaged file
                // (and would make a loop or an exponential walk).
                let mut seen = HashSet::new();
                let mut stack = vec![(*id, 0usize)];
                while let Some((id, depth)) = stack.pop() {
                    if depth > MAX_DEPTH {
                        return Err(self
                            .db
                            .corrupt(format!("the tree is deeper than {MAX_DEPTH} pages")));
                    }
                    if !seen.insert(id) {
                        return Err(self.db.corrupt(format!("page {id} is reached twice")));
                    }
                    let page = self.db.page(id)?;
                    let (flags, count) = page_kind(&page);
                    if flags & LEAF_PAGE != 0 {
                        self.collect_leaf(&page, &mut out)?;
                    } else if flags & BRANCH_PAGE != 0 {
                        let mut children = Vec::with_capacity(count);
                        for i in 0..count {
                            let (_, child) = branch_element(&page, i).ok_or_else(|| {
                                self.db.corrupt(format!(
                                    "branch page {id}: element {i} is out of bounds"
                                ))
                            })?;
                            children.push((child, depth + 1));
                        }
                        stack.extend(children.into_iter().rev());
                    } else {
                        return Err(self
                            .db
                            .corrupt(format!("page {id} is neither branch nor leaf")));
                    }
                }
            }
        }
        Ok(out)
    }

    fn collect_leaf(&self, page: &[u8], out: &mut Vec<(Vec<u8>, Item<'db>)>) -> Result<()> {
        let (flags, count) = page_kind(page);
        if flags & LEAF_PAGE == 0 {
            return Err(self.db.corrupt("a bucket's page is not a leaf page"));
        }
        for i in 0..count {
            let element = leaf_element(page, i).ok_or_else(|| {
                self.db
                    .corrupt(format!("leaf element {i} is out of bounds"))
            })?;
            out.push((element.key.to_vec(), self.item(&element)?));
        }
        Ok(())
    }

    /// The names of the nested buckets.
    pub fn bucket_names(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .entries()?
            .into_iter()
            .filter_map(|(k, item)| matches!(item, Item::Bucket(_)).then_some(k))
            .collect())
    }
}
