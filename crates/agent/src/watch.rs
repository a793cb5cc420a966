//! Notices package installs, upgrades and removals as they happen, by watching the
//! package databases with inotify, so the agent can send a report at once instead of
//! at its next interval.
//!
//! Package managers replace their databases by writing a new file and renaming it
//! over the old one (dpkg's `status-new` → `status`, apk's `installed.new`), which
//! would end a watch on the file itself; the directory holding it is watched instead,
//! and only events naming the database count. rpm's database directories are watched
//! whole, less the files that change when rpm only reads (SQLite's shared-memory
//! index, Berkeley DB environment and lock files).

use crate::AgentError;
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use postwatch_target::{DirTree, FileTree};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the databases must stay quiet before a change is announced: one
/// `apt upgrade` rewrites dpkg's status many times.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(1);

/// The package databases, relative to the root: files whose directory is watched
/// for that name, and directories watched whole.
const DB_FILES: [&str; 2] = ["var/lib/dpkg/status", "lib/apk/db/installed"];
const DB_DIRS: [&str; 2] = ["var/lib/rpm", "usr/lib/sysimage/rpm"];

/// Which names in a watched directory count.
#[derive(Debug, Clone)]
enum Names {
    Only(String),
    /// Everything but files rpm touches when it only reads.
    RpmDb,
}

impl Names {
    fn counts(&self, name: &str) -> bool {
        match self {
            Names::Only(wanted) => name == wanted,
            Names::RpmDb => {
                !(name.ends_with("-shm")
                    || name.starts_with("__db.")
                    || name.ends_with(".lock")
                    || name.starts_with('.'))
            }
        }
    }
}

#[derive(Debug, Default)]
struct Pending {
    changed: bool,
    last_event: Option<Instant>,
}

/// Watches the package databases under a root. Dropping it stops the watch.
pub struct DbWatcher {
    pending: Arc<Mutex<Pending>>,
    debounce: Duration,
    watched: Vec<PathBuf>,
    _watcher: Option<RecommendedWatcher>,
}

impl std::fmt::Debug for DbWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbWatcher")
            .field("watched", &self.watched)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

impl DbWatcher {
    /// Watches whichever package databases exist under `root`, with
    /// [`DEFAULT_DEBOUNCE`].
    pub fn new(root: &Path) -> Result<DbWatcher, AgentError> {
        DbWatcher::with_debounce(root, DEFAULT_DEBOUNCE)
    }

    pub fn with_debounce(root: &Path, debounce: Duration) -> Result<DbWatcher, AgentError> {
        let tree = DirTree::new(root);
        // (absolute directory, names that count), symlinks resolved inside the root
        // (Fedora's var/lib/rpm → usr/lib/sysimage/rpm) and duplicates dropped.
        let mut targets: Vec<(PathBuf, Names)> = Vec::new();
        let resolve = |path: &str| -> Result<Option<String>, AgentError> {
            tree.canonical(path).map_err(|e| AgentError::Watch {
                path: root.join(path),
                why: e.to_string(),
            })
        };
        for file in DB_FILES {
            let Some(found) = resolve(file)? else {
                continue;
            };
            let (dir, name) = found.rsplit_once('/').unwrap_or(("", found.as_str()));
            targets.push((root.join(dir), Names::Only(name.to_owned())));
        }
        for dir in DB_DIRS {
            if let Some(found) = resolve(dir)? {
                let full = root.join(&found);
                if full.is_dir() && !targets.iter().any(|(d, _)| *d == full) {
                    targets.push((full, Names::RpmDb));
                }
            }
        }
        let pending = Arc::new(Mutex::new(Pending::default()));
        let watched: Vec<PathBuf> = targets.iter().map(|(d, _)| d.clone()).collect();
        if targets.is_empty() {
            return Ok(DbWatcher {
                pending,
                debounce,
                watched,
                _watcher: None,
            });
        }
        let shared = Arc::clone(&pending);
        let filters = targets.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            let counts = match &event {
                // Lost events (queue overflow) or a broken watch: assume a change, the
                // cost is one rescan.
                Err(_) => true,
                Ok(event) => event_counts(event, &filters),
            };
            if counts {
                let mut p = shared.lock().unwrap_or_else(|e| e.into_inner());
                p.changed = true;
                p.last_event = Some(Instant::now());
            }
        })
        .map_err(|e| watch_error(root, e))?;
        for (dir, _) in &targets {
            watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .map_err(|e| watch_error(dir, e))?;
        }
        Ok(DbWatcher {
            pending,
            debounce,
            watched,
            _watcher: Some(watcher),
        })
    }

    /// Whether a database changed and has been quiet for the debounce time since.
    /// Never blocks; answering `true` clears the flag.
    pub fn changed(&self) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let settled = !matches!(p.last_event, Some(last) if last.elapsed() < self.debounce);
        if p.changed && settled {
            p.changed = false;
            true
        } else {
            false
        }
    }

    /// The directories watched (empty when the root has no package database).
    pub fn watched(&self) -> &[PathBuf] {
        &self.watched
    }
}

fn event_counts(event: &Event, filters: &[(PathBuf, Names)]) -> bool {
    if event.need_rescan() {
        return true;
    }
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.iter().any(|path| {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let name = name.to_string_lossy();
        filters
            .iter()
            .any(|(watched, names)| watched == dir && names.counts(&name))
    })
}

fn watch_error(path: &Path, e: notify::Error) -> AgentError {
    let why = match e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            "the inotify watch limit is reached: raise fs.inotify.max_user_watches (sysctl)"
                .to_owned()
        }
        _ => e.to_string(),
    };
    AgentError::Watch {
        path: path.to_owned(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn becomes_true(w: &DbWatcher, within: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < within {
            if w.changed() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    #[test]
    fn touching_dpkg_status_is_noticed_within_two_seconds() {
        let root = tempfile::tempdir().unwrap();
        let dpkg = root.path().join("var/lib/dpkg");
        fs::create_dir_all(&dpkg).unwrap();
        fs::write(
            dpkg.join("status"),
            "Package: bash\nStatus: install ok installed\n",
        )
        .unwrap();
        let w = DbWatcher::new(root.path()).unwrap();
        assert_eq!(w.watched(), std::slice::from_ref(&dpkg));
        assert!(!w.changed());
        // touch(1): only the times change.
        fs::File::options()
            .append(true)
            .open(dpkg.join("status"))
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        assert!(becomes_true(&w, Duration::from_secs(2)));
        // Answered once, then cleared.
        assert!(!w.changed());
        // dpkg's own way: write status-new, rename it over status.
        fs::write(dpkg.join("status-new"), "Package: bash\n").unwrap();
        fs::rename(dpkg.join("status-new"), dpkg.join("status")).unwrap();
        assert!(becomes_true(&w, Duration::from_secs(2)));
    }

    #[test]
    fn other_files_and_reads_do_not_count() {
        let root = tempfile::tempdir().unwrap();
        let dpkg = root.path().join("var/lib/dpkg");
        let rpm = root.path().join("usr/lib/sysimage/rpm");
        fs::create_dir_all(&dpkg).unwrap();
        fs::create_dir_all(&rpm).unwrap();
        fs::create_dir_all(root.path().join("var/lib")).unwrap();
        // Fedora: the old path is a link to the new one; watched once.
        std::os::unix::fs::symlink(
            "../../usr/lib/sysimage/rpm",
            root.path().join("var/lib/rpm"),
        )
        .unwrap();
        fs::write(dpkg.join("status"), "").unwrap();
        fs::write(rpm.join("rpmdb.sqlite"), "").unwrap();
        let w = DbWatcher::with_debounce(root.path(), Duration::from_millis(100)).unwrap();
        assert_eq!(w.watched(), [dpkg.clone(), rpm.clone()]);
        fs::write(dpkg.join("lock-frontend"), "").unwrap();
        fs::write(rpm.join("rpmdb.sqlite-shm"), "x").unwrap();
        fs::write(rpm.join(".rpm.lock"), "").unwrap();
        let _ = fs::read(dpkg.join("status")).unwrap();
        assert!(!becomes_true(&w, Duration::from_millis(800)));
        fs::write(rpm.join("rpmdb.sqlite-wal"), "x").unwrap();
        assert!(becomes_true(&w, Duration::from_secs(2)));
    }

    #[test]
    fn changes_are_announced_once_they_settle() {
        let root = tempfile::tempdir().unwrap();
        let apk = root.path().join("lib/apk/db");
        fs::create_dir_all(&apk).unwrap();
        fs::write(apk.join("installed"), "").unwrap();
        let debounce = Duration::from_millis(1500);
        let w = DbWatcher::with_debounce(root.path(), debounce).unwrap();
        let started = Instant::now();
        // A burst of writes 100 ms apart: nothing until the debounce after the last one.
        for n in 0..5 {
            fs::write(apk.join("installed.new"), format!("P:pkg{n}\n")).unwrap();
            fs::rename(apk.join("installed.new"), apk.join("installed")).unwrap();
            let written = Instant::now();
            let changed = w.changed();
            // Only a machine stalled for the whole debounce may see the burst settle.
            assert!(!changed || written.elapsed() >= debounce);
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(becomes_true(&w, Duration::from_secs(5)));
        assert!(started.elapsed() >= Duration::from_millis(400) + debounce);
        assert!(!w.changed());
    }

    #[test]
    fn a_root_without_databases_watches_nothing() {
        let root = tempfile::tempdir().unwrap();
        let w = DbWatcher::new(root.path()).unwrap();
        assert!(w.watched().is_empty());
        assert!(!w.changed());
    }
}
