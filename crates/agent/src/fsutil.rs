//! Small file helpers shared by the queue and the state directory: atomic replacement
//! (temp file, fsync, rename, directory fsync) and bounded reads.

use crate::AgentError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temp files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Prefix of temp files: names starting with it are never items or state.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one,
/// whole: a temp file in the same directory (created with `mode`), fsync'd, renamed
/// over `path`, then the directory fsync'd so the rename itself is durable.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AgentError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        "{TEMP_PREFIX}{name}.{}.{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(|e| AgentError::io("creating", &temp, e))?;
        file.write_all(bytes)
            .map_err(|e| AgentError::io("writing", &temp, e))?;
        file.sync_all()
            .map_err(|e| AgentError::io("syncing", &temp, e))?;
        fs::rename(&temp, path).map_err(|e| AgentError::io("renaming into place", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_dir(dir)
}

/// Makes renames and removals in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AgentError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AgentError::io("syncing directory", dir, e))
}

/// Creates `dir` (and its parents) with `mode` when it does not exist.
pub(crate) fn create_dir(dir: &Path, mode: u32) -> Result<(), AgentError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| AgentError::io("creating directory", dir, e))
}

/// Reads at most `limit` bytes of `path`; `Ok(None)` when it does not exist, an error
/// when it is larger than `limit`.
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, AgentError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AgentError::io("opening", path, e)),
    };
    let mut buf = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| AgentError::io("reading", path, e))?;
    if buf.len() as u64 > limit {
        return Err(AgentError::Corrupt {
            path: path.to_owned(),
            why: format!("larger than the {limit} byte limit; move it aside"),
        });
    }
    Ok(Some(buf))
}

/// Reads a small text file, `None` when it is absent or unreadable (proc, sys).
pub(crate) fn read_text(path: &Path, limit: u64) -> Option<String> {
    let bytes = read_limited(path, limit).ok()??;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
