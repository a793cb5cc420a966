//! An image's (or container's) filesystem as a container runtime stores it: a stack
//! of layer directories (docker's `overlay2/<id>/diff`, containers/storage's
//! `overlay/<id>/diff`) read as the one tree overlayfs would show, without mounting.
//!
//! Whiteouts follow overlayfs' on-disk format — a character device 0:0 hides a lower
//! name, a directory with the `trusted.overlay.opaque` (or `user.overlay.opaque`)
//! attribute hides everything lower below it — and the OCI tar names (`.wh.NAME`,
//! `.wh..wh..opq`) that some drivers keep. Paths resolve with `postwatch-target`'s
//! resolver, so symlinks never leave the merged root.

use postwatch_target::path::{resolve, NodeKind};
use postwatch_target::{FileTree, ProbeFn, TreeError, MAX_FILE_BYTES};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{self, Metadata};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Layer directories merged top-down.
pub struct OverlayTree {
    /// The highest layer first.
    layers: Vec<PathBuf>,
}

impl OverlayTree {
    /// `layers` lowest first, the order images list them in.
    pub fn new(mut layers: Vec<PathBuf>) -> OverlayTree {
        layers.reverse();
        OverlayTree { layers }
    }

    fn lookup(&self, key: &str) -> Result<NodeKind, TreeError> {
        for layer in &self.layers {
            let full = layer.join(key);
            match fs::symlink_metadata(&full) {
                Ok(meta) if is_whiteout(&meta) => return Ok(NodeKind::Missing),
                Ok(meta) => return node_kind(&full, &meta),
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(io_error(&full, e)),
            }
            if hides_lower(layer, key) {
                return Ok(NodeKind::Missing);
            }
        }
        Ok(NodeKind::Missing)
    }

    fn resolve(&self, path: &str) -> Result<(String, NodeKind), TreeError> {
        resolve(path, &mut |key| self.lookup(key))
    }

    /// The visible entries of directory `key`, each with the metadata of the highest
    /// layer that has it.
    fn entries(&self, key: &str) -> Result<BTreeMap<String, (PathBuf, Metadata)>, TreeError> {
        let mut visible: BTreeMap<String, (PathBuf, Metadata)> = BTreeMap::new();
        let mut hidden: Vec<String> = Vec::new();
        for layer in &self.layers {
            let dir = layer.join(key);
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.is_dir() => {}
                // A file or whiteout in this layer hides the directory below it.
                Ok(_) => break,
                Err(e) if is_absent(&e) && hides_lower(layer, key) => break,
                Err(e) if is_absent(&e) => continue,
                Err(e) => return Err(io_error(&dir, e)),
            }
            let mut opaque = is_opaque(&dir);
            let mut here: Vec<String> = Vec::new();
            let listing = fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
            for entry in listing {
                let entry = entry.map_err(|e| io_error(&dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name == OPAQUE_MARKER {
                    opaque = true;
                    continue;
                }
                if let Some(gone) = name.strip_prefix(WHITEOUT_PREFIX) {
                    here.push(gone.to_owned());
                    continue;
                }
                let path = entry.path();
                let Ok(meta) = fs::symlink_metadata(&path) else {
                    continue;
                };
                if is_whiteout(&meta) {
                    here.push(name);
                    continue;
                }
                if !hidden.contains(&name) {
                    visible.entry(name.clone()).or_insert((path, meta));
                }
                here.push(name);
            }
            hidden.extend(here);
            if opaque || hides_lower(layer, key) {
                break;
            }
        }
        Ok(visible)
    }

    /// The highest layer's copy of the regular file `key`.
    fn top_file(&self, key: &str) -> Option<PathBuf> {
        self.layers
            .iter()
            .map(|layer| layer.join(key))
            .find(|full| fs::symlink_metadata(full).is_ok_and(|m| m.is_file()))
    }

    fn open(&self, path: &str) -> Result<Option<(fs::File, u64, PathBuf)>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        if !matches!(kind, NodeKind::File) {
            return Ok(None);
        }
        let Some(full) = self.top_file(&key) else {
            return Ok(None);
        };
        let file = fs::File::open(&full).map_err(|e| io_error(&full, e))?;
        let len = file.metadata().map_err(|e| io_error(&full, e))?.len();
        Ok(Some((file, len, full)))
    }
}

impl FileTree for OverlayTree {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, TreeError> {
        let Some((file, len, full)) = self.open(path)? else {
            return Ok(None);
        };
        if len > MAX_FILE_BYTES {
            return Err(TreeError::TooLarge {
                what: full.display().to_string(),
                limit: MAX_FILE_BYTES,
            });
        }
        let mut buf = Vec::with_capacity(len as usize);
        file.take(MAX_FILE_BYTES)
            .read_to_end(&mut buf)
            .map_err(|e| io_error(&full, e))?;
        Ok(Some(buf))
    }

    fn list_dir(&self, path: &str) -> Result<Vec<String>, TreeError> {
        let (key, kind) = self.resolve(path)?;
        if !matches!(kind, NodeKind::Dir) {
            return Ok(Vec::new());
        }
        Ok(self.entries(&key)?.into_keys().collect())
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
        let mut stack = vec![String::new()];
        while let Some(dir) = stack.pop() {
            // Unreadable directories are skipped, as on a live root.
            let Ok(entries) = self.entries(&dir) else {
                continue;
            };
            for (name, (_, meta)) in entries {
                let rel = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                if meta.is_dir() {
                    if !skip_dir(&rel) {
                        stack.push(rel);
                    }
                } else if meta.is_file() {
                    visit(&rel, meta.size(), meta.mode());
                }
            }
        }
        Ok(())
    }

    fn probe(&self, path: &str, run: &ProbeFn) -> Result<Option<Vec<u8>>, TreeError> {
        Ok(self.read(path)?.and_then(|bytes| run(path, &bytes)))
    }

    fn open_file(&self, path: &str) -> Result<Option<fs::File>, TreeError> {
        Ok(self.open(path)?.map(|(file, _, _)| file))
    }
}

/// Whether `layer` hides the lower layers' `key`: an OCI whiteout beside `key` or
/// one of its parents, an opaque parent directory, or a parent that this layer
/// replaced with something other than a directory (a file, an overlayfs whiteout).
fn hides_lower(layer: &Path, key: &str) -> bool {
    let mut end = 0;
    while end < key.len() {
        end = key[end..].find('/').map_or(key.len(), |slash| end + slash);
        let prefix = &key[..end];
        let (parent, name) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let parent_dir = layer.join(parent);
        if parent_dir
            .join(format!("{WHITEOUT_PREFIX}{name}"))
            .symlink_metadata()
            .is_ok()
            || (!parent.is_empty() && is_opaque(&parent_dir))
        {
            return true;
        }
        if end < key.len() && fs::symlink_metadata(layer.join(prefix)).is_ok_and(|m| !m.is_dir()) {
            return true;
        }
        end += 1;
    }
    false
}

fn node_kind(full: &Path, meta: &Metadata) -> Result<NodeKind, TreeError> {
    let ft = meta.file_type();
    Ok(if ft.is_symlink() {
        let target = fs::read_link(full).map_err(|e| io_error(full, e))?;
        NodeKind::Symlink(target.to_string_lossy().into_owned())
    } else if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_file() {
        NodeKind::File
    } else {
        NodeKind::Other
    })
}

/// overlayfs' whiteout: a character device with device number 0:0.
fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether a layer's directory hides the lower layers' contents of it.
fn is_opaque(dir: &Path) -> bool {
    if dir.join(OPAQUE_MARKER).symlink_metadata().is_ok() {
        return true;
    }
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|attr| xattr_is_y(dir, attr))
}

fn xattr_is_y(path: &Path, attr: &str) -> bool {
    let (Ok(path), Ok(attr)) = (
        CString::new(path.as_os_str().as_bytes()),
        CString::new(attr),
    ) else {
        return false;
    };
    let mut value = [0u8; 4];
    // SAFETY: both strings are NUL-terminated and outlive the call; the buffer's
    // length is passed with it, so the kernel writes at most that many bytes.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            attr.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

fn is_absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

fn io_error(path: &Path, source: std::io::Error) -> TreeError {
    TreeError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn upper_layers_replace_and_hide_lower_files() {
        let dir = tempfile::tempdir().unwrap();
        let (low, high) = (dir.path().join("low"), dir.path().join("high"));
        write(&low.join("etc/os-release"), "ID=debian\n");
        write(&low.join("etc/gone"), "x");
        write(&low.join("opt/app/old"), "x");
        write(&low.join("var/lib/dpkg/status"), "old");
        std::os::unix::fs::symlink("usr/lib", low.join("lib")).unwrap();
        write(&low.join("usr/lib/a.so"), "a");
        write(&high.join("var/lib/dpkg/status"), "new");
        write(&high.join("etc/.wh.gone"), "");
        write(&high.join("opt/app/.wh..wh..opq"), "");
        write(&high.join("opt/app/new"), "x");
        write(&high.join("usr/lib/b.so"), "b");
        // Whited out in a middle layer, made anew in the top one: only the new content.
        let (base, middle, top) = (
            dir.path().join("base"),
            dir.path().join("middle"),
            dir.path().join("top"),
        );
        write(&base.join("srv/data/old"), "x");
        write(&middle.join("srv/.wh.data"), "");
        write(&top.join("srv/data/new"), "x");
        let stacked = OverlayTree::new(vec![base, middle, top]);
        assert_eq!(stacked.list_dir("srv/data").unwrap(), ["new"]);
        assert_eq!(stacked.read("srv/data/old").unwrap(), None);
        let tree = OverlayTree::new(vec![low, high]);
        assert_eq!(
            tree.read("var/lib/dpkg/status").unwrap().as_deref(),
            Some(&b"new"[..])
        );
        assert_eq!(tree.read("/etc/gone").unwrap(), None);
        assert_eq!(tree.list_dir("etc").unwrap(), ["os-release"]);
        assert_eq!(tree.list_dir("opt/app").unwrap(), ["new"]);
        assert_eq!(tree.read("opt/app/old").unwrap(), None);
        // A symlink of a lower layer leads into a directory both layers fill.
        assert_eq!(tree.read("/lib/b.so").unwrap().as_deref(), Some(&b"b"[..]));
        assert_eq!(tree.canonical("lib").unwrap().as_deref(), Some("usr/lib"));
        let mut files = Vec::new();
        tree.walk(&|_| false, &mut |path, _, _| files.push(path.to_owned()))
            .unwrap();
        files.sort();
        assert_eq!(
            files,
            [
                "etc/os-release",
                "opt/app/new",
                "usr/lib/a.so",
                "usr/lib/b.so",
                "var/lib/dpkg/status"
            ]
        );
    }

    #[test]
    fn overlayfs_whiteouts_and_opaque_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (low, high) = (dir.path().join("low"), dir.path().join("high"));
        write(&low.join("etc/gone"), "x");
        write(&low.join("etc/kept"), "x");
        write(&low.join("srv/old"), "x");
        write(&high.join("srv/new"), "x");
        let device = CString::new(high.join("etc/gone").as_os_str().as_bytes()).unwrap();
        fs::create_dir_all(high.join("etc")).unwrap();
        // SAFETY: a NUL-terminated path; mknod only creates the node.
        let made = unsafe { libc::mknod(device.as_ptr(), libc::S_IFCHR | 0o600, 0) } == 0;
        let srv = CString::new(high.join("srv").as_os_str().as_bytes()).unwrap();
        let attr = CString::new("trusted.overlay.opaque").unwrap();
        // SAFETY: NUL-terminated strings and a one-byte value with its length.
        let opaque =
            unsafe { libc::lsetxattr(srv.as_ptr(), attr.as_ptr(), b"y".as_ptr().cast(), 1, 0) }
                == 0;
        if !(made && opaque) {
            eprintln!("skipped: creating whiteouts needs root (CAP_MKNOD, CAP_SYS_ADMIN)");
            return;
        }
        let tree = OverlayTree::new(vec![low, high]);
        assert_eq!(tree.read("etc/gone").unwrap(), None);
        assert_eq!(tree.list_dir("etc").unwrap(), ["kept"]);
        assert_eq!(tree.list_dir("srv").unwrap(), ["new"]);
        assert_eq!(tree.read("srv/old").unwrap(), None);
    }
}
