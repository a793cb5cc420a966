//! The read-only file tree a target is turned into, and its two backends.

use crate::path::{normalize_entry_path, resolve, NodeKind};
use crate::TreeError;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest single file a tree hands out, so that a hostile target cannot make a
/// scanner allocate without bound. Real package databases stay far below it.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// A read-only view of a root filesystem. Paths are taken from the tree's root whether
/// or not they start with `/`; symlinks are followed but never leave the root.
pub trait FileTree: Send + Sync {
    /// Reads a regular file. `Ok(None)` when nothing (or not a regular file) is there.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError>;
    /// Names in a directory, sorted. Empty when the directory is absent.
    fn list_dir(&self, path: &str) -> Result<Vec<String>, TreeError>;
    /// The resolved path of `path` (symlinks followed) when it exists.
    fn canonical(&self, path: &str) -> Result<Option<String>, TreeError>;
    /// Visits every regular file (not following symlinks), with its size and mode,
    /// in no particular order. `skip_dir` is asked before descending into a directory.
    fn walk(
        &self,
        skip_dir: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(&str, u64, u32),
    ) -> Result<(), TreeError>;
    /// The result of `run` on a file's bytes. Images run it while their layers are
    /// read (see [`crate::Probe`]) and keep only the result; directories run it now.
    fn probe(&self, path: &str, run: &crate::ProbeFn) -> Result<Option<Vec<u8>>, TreeError>;
    /// A regular file opened for random access, when the tree is on disk, so that a
    /// collector can look at a few headers before reading a large file whole. Images
    /// answer `None`: their probes ran while the layers were read.
    fn open_file(&self, path: &str) -> Result<Option<fs::File>, TreeError> {
        let _ = path;
        Ok(None)
    }
}

/// A root filesystem in a directory on disk (an unpacked image, a chroot, or `/`).
pub struct DirTree {
    root: PathBuf,
}

impl DirTree {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirTree { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lookup(&self, key: &str) -> Result<NodeKind, TreeError> {
        let full = self.root.join(key);
        match fs::symlink_metadata(&full) {
            Err(e) if is_absent(&e) => Ok(NodeKind::Missing),
            Err(e) => Err(TreeError::io(&full, e)),
            Ok(meta) => {
                let ft = meta.file_type();
                Ok(if ft.is_symlink() {
                    let target = fs::read_link(&full).map_err(|e| TreeError::io(&full, e))?;
                    NodeKind::Symlink(target.to_string_lossy().into_owned())
                } else if ft.is_dir() {
                    NodeKind::Dir
                } else if ft.is_file() {
                    NodeKind::File
                } else {
                    NodeKind::Other
                })
            }
        }
    }

    fn resolve(&self, path: &str) -> Result<(String, NodeKind), TreeError> {
        resolve(path, &mut |key| self.lookup(key))
    }

    /// Opens a regular file for streaming (image layers in an OCI layout directory).
    pub fn open(&self, path: &str) -> Result<Option<(fs::File, u64)>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        if !matches!(kind, NodeKind::File) {
            return Ok(None);
        }
        let full = self.root.join(&key);
        let file = fs::File::open(&full).map_err(|e| TreeError::io(&full, e))?;
        let len = file.metadata().map_err(|e| TreeError::io(&full, e))?.len();
        Ok(Some((file, len)))
    }
}

fn is_absent(e: &std::io::Error) -> bool {
    // ENOTDIR: a file was used as a directory; for us that path simply does not exist.
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(20)
}

impl FileTree for DirTree {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError> {
        let Some((file, len)) = self.open(path)? else {
            return Ok(None);
        };
        let full = self.root.join(path.trim_start_matches('/'));
        if len > MAX_FILE_BYTES {
            return Err(TreeError::TooLarge {
                what: full.display().to_string(),
                limit: MAX_FILE_BYTES,
            });
        }
        let mut buf = Vec::with_capacity(len as usize);
        file.take(MAX_FILE_BYTES)
            .read_to_end(&mut buf)
            .map_err(|e| TreeError::io(&full, e))?;
        Ok(Some(buf))
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        if !matches!(kind, NodeKind::Dir) {
            return Ok(Vec::new());
        }
        let full = self.root.join(&key);
        let mut names = Vec::new();
        let entries = match fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(e) if is_absent(&e) => return Ok(names),
            Err(e) => return Err(TreeError::io(&full, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| TreeError::io(&full, e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn canonical(&self, path: &str) -> Result<Option<String>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        Ok((!matches!(kind, NodeKind::Missing)).then_some(key))
    }

    fn walk(
        &self,
        skip_dir: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(&str, u64, u32),
    ) -> Result<(), TreeError> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            let full = self.root.join(&dir);
            let entries = match fs::read_dir(&full) {
                Ok(e) => e,
                // Unreadable directories (permissions, races on a live host) are skipped.
                Err(_) => continue,
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    if !skip_dir(&rel) {
                        stack.push(rel);
                    }
                } else if ft.is_file() {
                    if let Ok(meta) = entry.metadata() {
                        visit(&rel, meta.size(), meta.permissions().mode());
                    }
                }
            }
        }
        Ok(())
    }

    fn probe(&self, path: &str, run: &crate::ProbeFn) -> Result<Option<Vec<u8>>, TreeError> {
        Ok(self.read(path)?.and_then(|bytes| run(path, &bytes)))
    }

    fn open_file(&self, path: &str) -> Result<Option<fs::File>, TreeError> {
        Ok(self.open(path)?.map(|(file, _)| file))
    }
}

/// One entry of a merged image filesystem.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Dir,
    /// A regular file; its bytes are kept only when a collector asked for the path.
    File(Option<Arc<[u8]>>),
    /// A regular file reduced by a [`crate::Probe`] while its layer was read: only the
    /// probe's result is kept.
    Probed(Arc<[u8]>),
    Symlink(String),
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Index of the layer that wrote the entry; whiteouts only hide lower layers.
    pub layer: usize,
    pub node: Node,
    pub size: u64,
    pub mode: u32,
}

/// An image's layers merged into one tree, held in memory: every path with its type,
/// and the contents of the files the collectors want.
#[derive(Default)]
pub struct LayeredTree {
    pub(crate) entries: BTreeMap<String, Entry>,
}

impl LayeredTree {
    fn lookup(&self, key: &str) -> NodeKind {
        match self.entries.get(key).map(|e| &e.node) {
            // Layers often omit parent directory entries: a path with children is a directory.
            None if self.has_children(key) => NodeKind::Dir,
            None => NodeKind::Missing,
            Some(Node::Dir) => NodeKind::Dir,
            Some(Node::File(_) | Node::Probed(_)) => NodeKind::File,
            Some(Node::Symlink(t)) => NodeKind::Symlink(t.clone()),
            Some(Node::Other) => NodeKind::Other,
        }
    }

    fn resolve(&self, path: &str) -> Result<(String, NodeKind), TreeError> {
        resolve(path, &mut |key| Ok(self.lookup(key)))
    }

    fn has_children(&self, key: &str) -> bool {
        let prefix = format!("{key}/");
        self.entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Removes `key` and everything below it that lower layers than `layer` wrote.
    pub(crate) fn remove_lower(&mut self, key: &str, layer: usize) {
        if key.is_empty() {
            self.entries.retain(|_, e| e.layer >= layer);
            return;
        }
        if self.entries.get(key).is_some_and(|e| e.layer < layer) {
            self.entries.remove(key);
        }
        self.remove_lower_children(key, layer);
    }

    /// Removes everything strictly below directory `key` written by lower layers.
    pub(crate) fn remove_lower_children(&mut self, key: &str, layer: usize) {
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        let doomed: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, e)| e.layer < layer)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    pub(crate) fn insert(&mut self, key: String, layer: usize, node: Node, size: u64, mode: u32) {
        // A non-directory replaces whatever a lower layer had below the same path.
        if !matches!(node, Node::Dir) {
            self.remove_lower_children(&key, layer);
        } else if let Some(existing) = self.entries.get(&key) {
            if matches!(existing.node, Node::Dir) {
                // Directories merge; keep the lowest layer so that an opaque marker
                // in a higher layer still sees the directory as its own.
                return;
            }
        }
        self.entries.insert(
            key,
            Entry {
                layer,
                node,
                size,
                mode,
            },
        );
    }

    /// Looks up a hardlink target as it stands now, for copying its contents.
    pub(crate) fn file_bytes(&self, key: &str) -> Option<Option<Arc<[u8]>>> {
        match self.entries.get(key).map(|e| &e.node) {
            Some(Node::File(bytes)) => Some(bytes.clone()),
            _ => None,
        }
    }

    /// Number of paths in the merged tree.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FileTree for LayeredTree {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        if !matches!(kind, NodeKind::File) {
            return Ok(None);
        }
        match self.entries.get(&key).map(|e| &e.node) {
            Some(Node::File(Some(bytes))) => Ok(Some(bytes.to_vec())),
            Some(Node::File(None) | Node::Probed(_)) => Err(TreeError::NotCaptured(key)),
            _ => Ok(None),
        }
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        if !matches!(kind, NodeKind::Dir) {
            return Ok(Vec::new());
        }
        let prefix = if key.is_empty() {
            String::new()
        } else {
            format!("{key}/")
        };
        let names = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| {
                let rest = &k[prefix.len()..];
                (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_owned())
            })
            .collect();
        Ok(names)
    }

    fn canonical(&self, path: &str) -> Result<Option<String>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        Ok((!matches!(kind, NodeKind::Missing)).then_some(key))
    }

    fn walk(
        &self,
        skip_dir: &dyn Fn(&str) -> bool,
        visit: &mut dyn FnMut(&str, u64, u32),
    ) -> Result<(), TreeError> {
        let mut skipped: Option<String> = None;
        for (key, entry) in &self.entries {
            if let Some(prefix) = &skipped {
                if key.starts_with(prefix.as_str()) {
                    continue;
                }
                skipped = None;
            }
            match entry.node {
                Node::Dir if skip_dir(key) => skipped = Some(format!("{key}/")),
                Node::File(_) | Node::Probed(_) => visit(key, entry.size, entry.mode),
                _ => {}
            }
        }
        Ok(())
    }

    fn probe(&self, path: &str, run: &crate::ProbeFn) -> Result<Option<Vec<u8>>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        if !matches!(kind, NodeKind::File) {
            return Ok(None);
        }
        Ok(match self.entries.get(&key).map(|e| &e.node) {
            Some(Node::Probed(result)) => Some(result.to_vec()),
            Some(Node::File(Some(bytes))) => run(path, bytes),
            _ => None,
        })
    }
}

/// Normalises an archive path, mapping refusal to a warning-ready message.
pub(crate) fn entry_key(raw: &str) -> Result<String, String> {
    normalize_entry_path(raw)
}
