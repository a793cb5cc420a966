//! Opens what `postwatch scan` is pointed at — a root filesystem directory, the live
//! host, a `docker save` tarball, an OCI layout directory or an OCI archive — as one
//! read-only [`FileTree`].
//!
//! Owns: target detection, image manifests and configs, layer decompression (plain,
//! gzip, zstd), whiteouts, and path resolution that never leaves the target's root.
//! Must not: write anywhere, unpack to disk, or know what a package database is —
//! collectors say which paths they want through [`OpenOptions::wanted`].
//!
//! Images are read in one streaming pass per layer. The merged tree keeps every path
//! with its type, but file contents only for the wanted paths, so memory stays small
//! whatever the image size.

mod image;
mod layer;
pub mod path;
mod tree;

pub use layer::Compression;
pub use tree::{DirTree, FileTree, LayeredTree, MAX_FILE_BYTES};

use image::{load_image, ArchiveIndex, BlobStore, Layout};
use postwatch_model::{ImageMetadata, TargetKind};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a target could not be read. Each variant names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{what} is corrupt or truncated: {source}")]
    Corrupt {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: {why}")]
    BadMetadata { what: String, why: String },
    #[error("{0} is missing from the image")]
    MissingMember(String),
    #[error(
        "{what} is larger than the {limit} byte limit (a decompression bomb, or raise the limit)"
    )]
    TooLarge { what: String, limit: u64 },
    #[error("too many levels of symbolic links resolving {0:?} (a symlink loop)")]
    SymlinkLoop(String),
    #[error("{0} was not kept in memory while reading the image (postwatch bug: the collector did not ask for it)")]
    NotCaptured(String),
    #[error("{path}: {why}")]
    Unrecognised { path: String, why: String },
}

impl TreeError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> TreeError {
        TreeError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn corrupt(what: &str, source: std::io::Error) -> TreeError {
        TreeError::Corrupt {
            what: what.to_owned(),
            source,
        }
    }
}

/// Bounds that keep a hostile image from exhausting memory or time.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Uncompressed bytes all layers of one image may expand to.
    pub max_image_bytes: u64,
    /// Largest single file kept in memory.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_image_bytes: 64 << 30,
            max_file_bytes: MAX_FILE_BYTES,
        }
    }
}

/// Progress through an image's compressed bytes, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    Start { total_bytes: u64 },
    Advance { bytes: u64 },
    Finish,
}

/// Extracts what a collector keeps from a file's bytes (path, bytes), or `None`.
pub type ProbeFn = dyn Fn(&str, &[u8]) -> Option<Vec<u8>>;

/// Files an image reader hands to a collector while reading its layers, keeping only
/// what the collector extracts (e.g. a Go binary's build info) instead of the file.
pub struct Probe<'a> {
    /// Whether a file (path, tar mode, size) is a candidate.
    pub applies: &'a dyn Fn(&str, u32, u64) -> bool,
    /// Extracts what to keep, or `None` when the file holds nothing of interest.
    pub run: &'a ProbeFn,
}

/// How to open a target.
pub struct OpenOptions<'a> {
    /// Force a target type instead of detecting it.
    pub kind: Option<TargetKind>,
    /// Which image paths (relative, e.g. `var/lib/dpkg/status`) to keep contents of.
    pub wanted: &'a dyn Fn(&str) -> bool,
    /// Files to reduce while image layers are read.
    pub probe: Option<Probe<'a>>,
    pub limits: Limits,
    pub progress: &'a dyn Fn(Progress),
}

/// An opened target.
pub struct OpenedTarget {
    pub kind: TargetKind,
    pub tree: Box<dyn FileTree>,
    pub image: Option<ImageMetadata>,
    /// Problems that did not stop reading, each naming what it concerns.
    pub warnings: Vec<String>,
}

/// The name `postwatch scan host` uses for the live machine.
pub const HOST: &str = "host";

/// Works out what kind of target `name` is.
pub fn detect(name: &str) -> Result<TargetKind, TreeError> {
    let path = Path::new(name);
    if name == HOST && !path.exists() {
        return Ok(TargetKind::Host);
    }
    let meta = std::fs::metadata(path).map_err(|e| TreeError::io(path, e))?;
    if meta.is_dir() {
        if path == Path::new("/") {
            return Ok(TargetKind::Host);
        }
        return Ok(if image::is_oci_layout_dir(path) {
            TargetKind::OciLayout
        } else {
            TargetKind::Rootfs
        });
    }
    let mut head = [0u8; 512];
    let mut file = std::fs::File::open(path).map_err(|e| TreeError::io(path, e))?;
    let n = read_up_to(&mut file, &mut head).map_err(|e| TreeError::io(path, e))?;
    let unrecognised = |why: &str| TreeError::Unrecognised {
        path: name.to_owned(),
        why: why.to_owned(),
    };
    match Compression::sniff(&head[..n]) {
        Compression::None => {}
        c => {
            return Err(unrecognised(&format!(
                "the archive itself is {}-compressed; decompress it first (docker save and OCI archives are plain tar)",
                c.as_str()
            )))
        }
    }
    if n < 512 || &head[257..262] != b"ustar" {
        return Err(unrecognised(
            "not a directory, a docker save tarball or an OCI archive (no tar header)",
        ));
    }
    let index = ArchiveIndex::build(path)?;
    if index.contains("manifest.json") {
        Ok(TargetKind::DockerArchive)
    } else if index.contains("index.json") {
        Ok(TargetKind::OciArchive)
    } else {
        Err(unrecognised(
            "a tar, but neither a docker save tarball (manifest.json) nor an OCI archive (index.json)",
        ))
    }
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Opens a target for reading.
pub fn open(name: &str, options: &OpenOptions<'_>) -> Result<OpenedTarget, TreeError> {
    let kind = match options.kind {
        Some(kind) => kind,
        None => detect(name)?,
    };
    let mut warnings = Vec::new();
    let path = PathBuf::from(if kind == TargetKind::Host && name == HOST {
        "/"
    } else {
        name
    });
    let (tree, image): (Box<dyn FileTree>, _) = match kind {
        TargetKind::Rootfs | TargetKind::Host => {
            if !path.is_dir() {
                return Err(TreeError::Unrecognised {
                    path: name.to_owned(),
                    why: "not a directory".into(),
                });
            }
            (Box::new(DirTree::new(path)), None)
        }
        TargetKind::OciLayout => {
            let store = BlobStore::Dir(DirTree::new(path));
            let (tree, meta) = load_image(store, Layout::Oci, options, &mut warnings)?;
            (Box::new(tree), Some(meta))
        }
        TargetKind::DockerArchive | TargetKind::OciArchive => {
            let store = BlobStore::Archive(ArchiveIndex::build(&path)?);
            let layout = if kind == TargetKind::DockerArchive {
                Layout::Docker
            } else {
                Layout::Oci
            };
            let (tree, meta) = load_image(store, layout, options, &mut warnings)?;
            (Box::new(tree), Some(meta))
        }
    };
    Ok(OpenedTarget {
        kind,
        tree,
        image,
        warnings,
    })
}
