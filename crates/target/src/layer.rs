//! Applying one image layer (a tar, plain, gzip or zstd) onto a [`LayeredTree`],
//! with OCI whiteouts, under a bound on how much it may expand.

use crate::tree::{entry_key, LayeredTree, Node};
use crate::{Limits, TreeError};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// How a layer blob is compressed, from its first bytes (media types lie often enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Counts bytes through a reader and fails once `limit` is passed: the defence against
/// decompression bombs. The error is an `io::Error` carrying [`BombError`] so that
/// the caller can tell it apart from a broken archive.
pub(crate) struct Bounded<R> {
    inner: R,
    seen: u64,
    limit: u64,
}

#[derive(Debug)]
pub(crate) struct BombError;

impl std::fmt::Display for BombError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("expansion limit reached")
    }
}

impl std::error::Error for BombError {}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if self.seen > self.limit {
            return Err(io::Error::other(BombError));
        }
        Ok(n)
    }
}

/// Reports bytes as they are read, for a progress bar over compressed input.
pub(crate) struct Counting<'a, R> {
    pub inner: R,
    pub progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// Everything [`apply_layer`] needs to know besides the bytes.
pub(crate) struct LayerJob<'a> {
    /// Position of the layer, bottom first.
    pub index: usize,
    /// How the layer is named in messages (`layer 2 (sha256:…)`).
    pub label: String,
    /// Which files' contents to keep.
    pub wanted: &'a dyn Fn(&str) -> bool,
    /// Which files to reduce while reading, and how.
    pub probe: Option<&'a crate::Probe<'a>>,
    pub limits: &'a Limits,
    /// Bytes of uncompressed tar this image may still expand to.
    pub budget: &'a mut u64,
}

/// Reads one layer blob and merges it into `tree`. Returns its compression.
pub(crate) fn apply_layer(
    tree: &mut LayeredTree,
    blob: impl Read,
    job: LayerJob<'_>,
    warnings: &mut Vec<String>,
) -> Result<Compression, TreeError> {
    let mut buffered = BufReader::with_capacity(128 * 1024, blob);
    let head = buffered
        .fill_buf()
        .map_err(|e| TreeError::corrupt(&job.label, e))?;
    let compression = Compression::sniff(head);
    let decompressed: Box<dyn Read> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered)
                .map_err(|e| TreeError::corrupt(&job.label, e))?,
        ),
    };
    let bounded = Bounded {
        inner: decompressed,
        seen: 0,
        limit: *job.budget,
    };
    let mut archive = tar::Archive::new(bounded);
    let result = merge_entries(tree, &mut archive, &job, warnings);
    let used = archive.into_inner().seen;
    *job.budget = job.budget.saturating_sub(used);
    result.map(|()| compression)
}

fn merge_entries<R: Read>(
    tree: &mut LayeredTree,
    archive: &mut tar::Archive<R>,
    job: &LayerJob<'_>,
    warnings: &mut Vec<String>,
) -> Result<(), TreeError> {
    let map_err = |e: io::Error| -> TreeError {
        if e.get_ref().is_some_and(|inner| inner.is::<BombError>()) {
            TreeError::TooLarge {
                what: format!("{} (uncompressed image content)", job.label),
                limit: job.limits.max_image_bytes,
            }
        } else {
            TreeError::corrupt(&job.label, e)
        }
    };
    for entry in archive.entries().map_err(map_err)? {
        let mut entry = entry.map_err(map_err)?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let key = match entry_key(&raw_path) {
            Ok(key) => key,
            Err(why) => {
                warnings.push(format!("{}: skipped entry: {why}", job.label));
                continue;
            }
        };
        if raw_path.starts_with('/') {
            warnings.push(format!(
                "{}: entry {raw_path:?} has an absolute path; read as relative to the image root",
                job.label
            ));
        }
        let (dir, base) = match key.rsplit_once('/') {
            Some((d, b)) => (d, b),
            None => ("", key.as_str()),
        };
        if base == OPAQUE_MARKER {
            tree.remove_lower_children(dir, job.index);
            continue;
        }
        if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                warnings.push(format!("{}: skipped bad whiteout {raw_path:?}", job.label));
                continue;
            }
            let target = if dir.is_empty() {
                hidden.to_owned()
            } else {
                format!("{dir}/{hidden}")
            };
            tree.remove_lower(&target, job.index);
            continue;
        }
        if key.is_empty() {
            continue; // the root directory itself
        }
        let header_type = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0);
        let size = entry.size();
        let node = match header_type {
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let probe = job
                    .probe
                    .filter(|p| (p.applies)(&key, mode, size) && size <= job.limits.max_file_bytes);
                if let (Some(probe), false) = (probe, (job.wanted)(&key)) {
                    let mut buf = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut buf).map_err(map_err)?;
                    match (probe.run)(&key, &buf) {
                        Some(result) => Node::Probed(Arc::from(result)),
                        None => Node::File(None),
                    }
                } else if (job.wanted)(&key) {
                    let size = entry.size();
                    if size > job.limits.max_file_bytes {
                        warnings.push(format!(
                            "{}: {key} is {size} bytes, over the {} byte limit; not read",
                            job.label, job.limits.max_file_bytes
                        ));
                        Node::File(None)
                    } else {
                        let mut buf = Vec::with_capacity(size as usize);
                        entry.read_to_end(&mut buf).map_err(map_err)?;
                        Node::File(Some(Arc::from(buf)))
                    }
                } else {
                    Node::File(None)
                }
            }
            tar::EntryType::Symlink => match entry.link_name_bytes() {
                Some(target) => Node::Symlink(String::from_utf8_lossy(&target).into_owned()),
                None => {
                    warnings.push(format!("{}: symlink {key} has no target", job.label));
                    continue;
                }
            },
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                match entry_key(&target).ok().and_then(|t| tree.file_bytes(&t)) {
                    Some(bytes) => Node::File(bytes),
                    None => {
                        warnings.push(format!(
                            "{}: hardlink {key} points to {target:?}, which is not a file in the image",
                            job.label
                        ));
                        continue;
                    }
                }
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            _ => Node::Other,
        };
        tree.insert(key, job.index, node, size, mode);
    }
    Ok(())
}
