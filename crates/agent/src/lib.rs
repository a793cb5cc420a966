//! The building blocks of the postwatch agent: the process that runs on each host,
//! inventories it and its running containers, and ships the result to the postwatch
//! server. The agent's main loop (in the CLI) wires them together:
//!
//! ```text
//!  facts::host_facts ─┐
//!  inventory (scan) ──┼─► delta::diff against state::StateDir::last_ack
//!  containers ────────┘        │  (a Full report when there is no acknowledged base)
//!                              ▼
//!                     queue::Queue::push  (durable, bounded, survives restarts)
//!                              ▼
//!                     client::Client::send ──► server  (retry with client::Backoff)
//!                              ▼
//!          ack: queue::Queue::ack + state::StateDir::record_ack
//!  watch::DbWatcher: a package database changed → take a new inventory now
//! ```
//!
//! Modules:
//! - [`facts`]: hostname, OS, kernel, CPU, memory, cloud identity — from local files only.
//! - [`delta`]: what changed between two package lists ([`delta::diff`], [`delta::apply`]).
//! - [`queue`]: the on-disk FIFOs of reports and of host metrics collections waiting
//!   for the server.
//! - [`client`]: enrolment and report upload over HTTPS; retryable vs. fatal errors;
//!   the retry backoff.
//! - [`state`]: the agent's identity (id, credential), report ids, and per asset the
//!   last acknowledged report with the packages the server holds.
//! - [`containers`]: running containers from `/proc/*/cgroup` (or, for another root,
//!   the runtimes' records of running containers), with the runtimes' metadata.
//! - [`images`]: container images in docker's and containers/storage's stores: names,
//!   digests and layer directories; [`containerd`] the same from containerd's bolt
//!   databases and snapshotters; [`overlay`] reads layers as one tree.
//! - [`watch`]: inotify on the dpkg, apk and rpm databases.
//!
//! Owns: the agent's local files and its side of the wire protocol
//! (`postwatch_model::fleet`). Must not: collect packages itself (that is
//! `postwatch-inventory`), print, or run a loop of its own.

pub mod client;
pub mod containerd;
pub mod containers;
pub mod delta;
pub mod facts;
mod fsutil;
pub mod host_metrics;
pub mod images;
pub mod overlay;
pub mod queue;
pub mod state;
pub mod watch;

use std::path::PathBuf;

/// Errors of the agent's local files. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{action} {path}: {source}{}", io_hint(source))]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {why}")]
    Corrupt { path: PathBuf, why: String },
    #[error("{path} is locked by another running postwatch agent: stop it, or give this one another state directory")]
    Locked { path: PathBuf },
    #[error("the agent is not enrolled ({dir} holds no agent id): enrol it with the server's enrolment token first")]
    NotEnrolled { dir: PathBuf },
    #[error("cannot watch {path} for package changes: {why}")]
    Watch { path: PathBuf, why: String },
}

impl AgentError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> AgentError {
        AgentError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// Whether two references name the same asset: `(kind, name)` and the host a
/// container runs on. The image digest is an attribute (a tag moves to new digests).
pub fn same_asset(
    a: &postwatch_model::fleet::AssetRef,
    b: &postwatch_model::fleet::AssetRef,
) -> bool {
    a.kind == b.kind && a.name == b.name && a.host == b.host
}

fn io_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (run the agent as root, or give its user that directory)"
        }
        _ if e.raw_os_error() == Some(libc::ENOSPC) => " (the disk is full: free some space)",
        _ if e.raw_os_error() == Some(libc::EROFS) => {
            " (the filesystem is read-only: give the agent a writable state directory)"
        }
        _ => "",
    }
}

/// Makes every thread of this process allocate from one malloc arena. glibc gives each
/// thread that allocates an arena of its own, which keeps the memory that thread freed;
/// the agent's few threads wake a few times a minute, so sharing one costs nothing and
/// keeps its resting size down. Only for a process that is the agent alone (not
/// `postwatch up`, where the server's threads allocate in parallel).
pub fn use_one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tuning parameter; it takes no pointers.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Makes this process end when its parent does: for the agent's child processes
/// (inventory and reports, enrolment), so that a restarted agent never finds the
/// previous one's child still holding its report queue.
pub fn exit_with_parent() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number, no pointers; getppid
    // cannot fail.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        // The parent may have ended before the call: then init (or a subreaper)
        // adopted this process already.
        if libc::getppid() == 1 {
            std::process::exit(1);
        }
    }
}

/// Gives memory freed after an inventory back to the system, so that an agent idles
/// at its small resting size instead of its peak (glibc keeps freed heap otherwise).
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes no
    // pointers and is safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
