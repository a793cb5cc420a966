//! Evidence that code is loaded: which files running processes have mapped, executed
//! or opened, grouped by the container (or host) they run in.
//!
//! Owns: reading `/proc` (a snapshot of every process's executable, memory maps and
//! open files, resolved inside the process's own root), cgroup paths to container ids,
//! and the fanotify watcher that records files opened since it started. Must not: know
//! packages or advisories — turning files into packages is the caller's job, with the
//! ownership data from `postwatch-inventory`.

pub mod attribute;
pub mod container;
pub mod fanotify;
pub mod snapshot;

use std::time::SystemTime;

/// How a process used a file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// The process's executable (`/proc/<pid>/exe`) or an exec event.
    Exec,
    /// Mapped into memory (`/proc/<pid>/maps`): shared libraries, mapped jars.
    Mapped,
    /// Held open (`/proc/<pid>/fd`) or seen opened by the watcher.
    Opened,
}

/// One file a process used: the path as seen from the process's own root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileUse {
    /// Absolute path inside the process's root filesystem.
    pub path: String,
    /// The process's root as the scanner sees it (`/proc/<pid>/root` resolved): `/`
    /// for host processes, the chroot or container root otherwise.
    pub root: String,
    pub access: Access,
    pub pid: u32,
    /// The process's command name (`/proc/<pid>/comm`).
    pub command: String,
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
}
