//! A fanotify watcher: every file opened or executed on the watched filesystems since
//! the watcher started, with the process that did it.
//!
//! A `/proc` snapshot only shows what is mapped or open at the moment it is taken. An
//! interpreter closes a Python module or a Node file as soon as it has read it, and a
//! short-lived process is gone before any snapshot sees it; both still load code. The
//! watcher keeps that evidence by recording `FAN_OPEN` and `FAN_OPEN_EXEC` events.
//!
//! Why fanotify:
//! - not eBPF: it needs no compiler, no kernel headers, no BTF and no verifier-friendly
//!   code per kernel version, and an event already carries an open file descriptor from
//!   which the path is read;
//! - not inotify: inotify does not say which process opened a file, and it needs one
//!   watch per directory, whereas one fanotify mark covers a whole filesystem.
//!
//! Notification class only (`FAN_CLASS_NOTIF`): the watcher never blocks or delays the
//! processes it observes. The price is that events are read after the fact (within
//! about 20 ms), so the process's root and command name are read from `/proc` when the
//! event is handled; a process that already exited by then keeps what was last read
//! for its pid, or `/` and an empty command when nothing was. A file a chrooted
//! process opened is then recorded as a host path. A process at `/` in another mount
//! namespace than the watcher's (a container) is recorded with that namespace
//! (`mnt:[4026532…]`) as its root, so its files are never taken for the host's.
//!
//! Paths are what the kernel prints for the event's descriptor when the event is read:
//! a file renamed in between shows its new name, one deleted in between ends in
//! ` (deleted)`; bytes that are not UTF-8 are replaced.
//!
//! Cost (the budget is under 1% of a core at 1,000 opens a second): events are read
//! in batches of up to 64 KiB (bounded by the open-file limit, since every event
//! arrives with its own descriptor) about every 20 ms rather than one wake-up per
//! open; the path of a file opened again is taken from a short-lived cache keyed by
//! `statx` (mount, inode, change time) instead of `readlink`; the table is looked up
//! by borrowed strings, so a file seen before costs no allocation; `/proc/<pid>` is
//! read at most once a second per process, and after each exec.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::{Access, FileUse};

/// Most distinct (root, path, access) entries kept; further new files count as dropped.
const MAX_ENTRIES: usize = 1_000_000;
/// One `read` returns as many queued events as fit (24 bytes each without extra info).
const MAX_READ_BYTES: usize = 64 * 1024;
/// The smallest batch, whatever the open-file limit.
const MIN_EVENTS_PER_READ: usize = 64;
/// How long a file's path is trusted without reading it again: the longest time a
/// file is reported under its old path after a directory above it was renamed.
const PATH_CACHE_TTL: Duration = Duration::from_secs(2);
/// Paths remembered; beyond this stale ones are forgotten.
const MAX_CACHED_PATHS: usize = 65_536;
/// How long a process's root and command are trusted before `/proc` is read again.
const PROCESS_INFO_TTL: Duration = Duration::from_secs(1);
/// Processes whose root and command are cached; beyond this stale ones are forgotten.
const MAX_CACHED_PROCESSES: usize = 65_536;
/// How often stale process entries are swept even when the cache is small.
const PROCESS_SWEEP_INTERVAL: Duration = Duration::from_secs(10);
/// When stopping, at most this many further reads drain what is already queued, so a
/// busy machine cannot keep `stop` from returning.
const MAX_DRAIN_READS: usize = 16;
/// After a batch, wait this long before reading again, so that a steady trickle of
/// opens is read in batches instead of one wake-up per open (a wake-up costs as much
/// as several events). It is also how late `/proc/<pid>` may be read after an event:
/// a process that lives shorter than this may be recorded without its root and name.
const BATCH_PAUSE: Duration = Duration::from_millis(20);
/// `struct fanotify_event_metadata`: event_len u32, vers u8, reserved u8,
/// metadata_len u16, mask u64, fd i32, pid i32.
const METADATA_LEN: usize = 24;
/// `PATH_MAX`, plus one byte to tell a full-length path from a truncated one.
const PATH_BUFFER_BYTES: usize = 4096 + 1;
/// Report "could not open the file" as an event with a negative fd instead of failing
/// a later read (Linux 6.13; not yet in the libc crate).
const FAN_REPORT_FD_ERROR: libc::c_uint = 0x0000_2000;

/// Why the watcher could not start. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "fanotify is not permitted ({action}: {source}); it needs CAP_SYS_ADMIN: run as root, \
         or in-use detection falls back to /proc snapshots"
    )]
    NotPermitted { action: String, source: io::Error },
    #[error(
        "fanotify cannot watch here ({action}: {source}); it needs Linux 5.0 or later built with \
         CONFIG_FANOTIFY, otherwise in-use detection falls back to /proc snapshots"
    )]
    Unsupported { action: String, source: io::Error },
    #[error("{action}: {source}")]
    Io { action: String, source: io::Error },
}

impl WatchError {
    fn from_errno(action: String, source: io::Error) -> WatchError {
        match source.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => WatchError::NotPermitted { action, source },
            Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => {
                WatchError::Unsupported { action, source }
            }
            _ => WatchError::Io { action, source },
        }
    }
}

/// Records the files opened and executed on some filesystems, from `start` until
/// `stop` (or drop). A reader thread owns the fanotify descriptor.
pub struct Watcher {
    shared: Arc<Shared>,
    stop_signal: Arc<OwnedFd>,
    reader: Option<JoinHandle<()>>,
}

/// What the reader thread and the `Watcher` handle share.
struct Shared {
    table: Mutex<Table>,
    dropped: AtomicU64,
    events_read: AtomicU64,
    stopping: AtomicBool,
    /// The reader thread's kernel thread id, for measuring its CPU time; 0 until known.
    reader_tid: AtomicI32,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent between statements, so a poisoned lock is usable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Watcher {
    /// Watches the filesystems holding `paths` (every file on them, not only below the
    /// paths; `/` when `paths` is empty). Each filesystem gets a `FAN_MARK_FILESYSTEM`
    /// mark; when the kernel refuses that (`EXDEV`/`EINVAL` on some overlay setups) the
    /// mount holding the path is watched instead.
    pub fn start(paths: &[&Path]) -> Result<Watcher, WatchError> {
        let fanotify = init_fanotify()?;
        let whole_root = [Path::new("/")];
        let paths = if paths.is_empty() {
            &whole_root[..]
        } else {
            paths
        };
        for path in paths {
            mark(&fanotify, path)?;
        }
        let proc_dir = open_directory(c"/proc")?;
        let own_fds = open_directory(c"/proc/self/fd")?;
        let stop_signal = Arc::new(new_eventfd()?);
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::new(MAX_ENTRIES)),
            dropped: AtomicU64::new(0),
            events_read: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            reader_tid: AtomicI32::new(0),
        });
        let reader = Reader {
            fanotify,
            stop_signal: Arc::clone(&stop_signal),
            shared: Arc::clone(&shared),
            // SAFETY: getpid has no preconditions.
            own_pid: unsafe { libc::getpid() },
            events: vec![0u8; event_buffer_bytes()],
            paths: PathCache::new(own_fds),
            processes: ProcessCache::new(proc_dir),
            slash: Arc::from("/"),
        };
        let reader = std::thread::Builder::new()
            .name("pw-fanotify".into())
            .spawn(move || reader.run())
            .map_err(|source| WatchError::Io {
                action: "starting the fanotify reader thread".into(),
                source,
            })?;
        Ok(Watcher {
            shared,
            stop_signal,
            reader: Some(reader),
        })
    }

    /// Files seen so far: one entry per (root, path, access) with the pid and command
    /// of the last process seen using it. Sorted by root, path, access.
    pub fn opened(&self) -> Vec<FileUse> {
        self.shared.table().to_file_uses()
    }

    /// Events lost: kernel queue overflows (each may stand for many events), events
    /// whose path could not be read, new files beyond the table's limit. Non-zero means
    /// the evidence is incomplete.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stops the reader thread (after it has read what is already queued) and returns
    /// the final table.
    pub fn stop(mut self) -> Vec<FileUse> {
        self.stop_reader();
        self.shared.table().to_file_uses()
    }

    /// Events read from the kernel, including those skipped (our own opens). For the
    /// cost benchmark.
    #[doc(hidden)]
    pub fn events_read(&self) -> u64 {
        self.shared.events_read.load(Ordering::Relaxed)
    }

    /// CPU time (user + system) the reader thread has used so far. For the cost
    /// benchmark; zero when it cannot be read.
    #[doc(hidden)]
    pub fn reader_cpu(&self) -> Duration {
        match self.shared.reader_tid.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            tid => thread_cpu_time(tid).unwrap_or(Duration::ZERO),
        }
    }

    fn stop_reader(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd we own. A failure can only
        // mean the counter is saturated, in which case the reader is already woken.
        unsafe {
            libc::write(
                self.stop_signal.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if let Some(reader) = self.reader.take() {
            // The reader does not panic by design; if it did, the table is still usable.
            let _ = reader.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop_reader();
    }
}

fn init_fanotify() -> Result<OwnedFd, WatchError> {
    let flags = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;
    let event_file_flags = libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC;
    // SAFETY: plain syscall with integer arguments.
    let mut fd = unsafe {
        libc::fanotify_init(
            flags | FAN_REPORT_FD_ERROR,
            event_file_flags as libc::c_uint,
        )
    };
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Kernels before 6.13 do not know FAN_REPORT_FD_ERROR.
        // SAFETY: plain syscall with integer arguments.
        fd = unsafe { libc::fanotify_init(flags, event_file_flags as libc::c_uint) };
    }
    if fd < 0 {
        let source = io::Error::last_os_error();
        if source.raw_os_error() == Some(libc::EMFILE) {
            return Err(WatchError::Io {
                action: "creating a fanotify group (too many groups: see \
                         /proc/sys/fs/fanotify/max_user_groups, or too many open files)"
                    .into(),
                source,
            });
        }
        return Err(WatchError::from_errno(
            "creating a fanotify group".into(),
            source,
        ));
    }
    // SAFETY: fanotify_init returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn mark(fanotify: &OwnedFd, path: &Path) -> Result<(), WatchError> {
    let action = |scope: &str| format!("watching the {scope} holding {}", path.display());
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| WatchError::Io {
        action: action("filesystem"),
        source: io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte"),
    })?;
    let events = libc::FAN_OPEN | libc::FAN_OPEN_EXEC;
    let add_mark = |scope_flag: libc::c_uint| {
        // SAFETY: c_path is a NUL-terminated string that outlives the call; the
        // descriptor is a live fanotify group.
        let result = unsafe {
            libc::fanotify_mark(
                fanotify.as_raw_fd(),
                libc::FAN_MARK_ADD | scope_flag,
                events,
                libc::AT_FDCWD,
                c_path.as_ptr(),
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    match add_mark(libc::FAN_MARK_FILESYSTEM) {
        Ok(()) => return Ok(()),
        // Filesystem marks are refused on some overlay and btrfs-subvolume setups;
        // the mount is the next best scope.
        Err(error)
            if matches!(
                error.raw_os_error(),
                Some(libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP | libc::ENODEV)
            ) => {}
        Err(error) => return Err(WatchError::from_errno(action("filesystem"), error)),
    }
    add_mark(libc::FAN_MARK_MOUNT).map_err(|error| WatchError::from_errno(action("mount"), error))
}

fn open_directory(path: &std::ffi::CStr) -> Result<OwnedFd, WatchError> {
    // SAFETY: path is NUL-terminated and lives across the call.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(WatchError::Io {
            action: format!(
                "opening {} (the watcher reads paths and processes from /proc)",
                path.to_string_lossy()
            ),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn new_eventfd() -> Result<OwnedFd, WatchError> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(WatchError::Io {
            action: "creating the watcher's stop signal (eventfd)".into(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: eventfd returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// CPU time of one of our threads, from `/proc/self/task/<tid>/schedstat` (nanoseconds)
/// or, when the kernel lacks schedstat, `stat` (clock ticks).
fn thread_cpu_time(tid: i32) -> Option<Duration> {
    let task = format!("/proc/self/task/{tid}");
    if let Ok(schedstat) = std::fs::read_to_string(format!("{task}/schedstat")) {
        let nanos = schedstat.split_whitespace().next()?.parse().ok()?;
        return Some(Duration::from_nanos(nanos));
    }
    let stat = std::fs::read_to_string(format!("{task}/stat")).ok()?;
    // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
    let after_command = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_command.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&ticks| ticks > 0)?;
    Some(Duration::from_nanos(
        (user + system).saturating_mul(1_000_000_000 / ticks_per_second),
    ))
}

/// The reader thread's state.
struct Reader {
    fanotify: OwnedFd,
    stop_signal: Arc<OwnedFd>,
    shared: Arc<Shared>,
    own_pid: i32,
    events: Vec<u8>,
    paths: PathCache,
    processes: ProcessCache,
    slash: Arc<str>,
}

enum Wake {
    Events,
    Stop,
}

impl Reader {
    fn run(mut self) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        self.shared.reader_tid.store(tid, Ordering::Relaxed);
        let mut idle = true;
        loop {
            if idle {
                if let Wake::Stop = self.wait() {
                    break;
                }
            }
            let mut read_any = false;
            // A full buffer (no room for one more record) means more is waiting.
            while let Some(filled) = self.read_batch() {
                read_any = true;
                if filled + METADATA_LEN <= self.events.len() {
                    break;
                }
            }
            // After a batch, let events gather for a moment and read them without
            // polling; only an empty queue sends the thread back to sleep in poll.
            idle = !read_any;
            if read_any {
                if let Wake::Stop = self.pause(BATCH_PAUSE) {
                    break;
                }
            }
        }
        for _ in 0..MAX_DRAIN_READS {
            if self.read_batch().is_none() {
                break;
            }
        }
    }

    /// Waits until events are queued or stop is requested.
    fn wait(&self) -> Wake {
        loop {
            if self.shared.stopping.load(Ordering::Relaxed) {
                return Wake::Stop;
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.fanotify.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.stop_signal.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: fds is a live array of two pollfd structures for descriptors we own.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if ready < 0 {
                if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    // Not expected; avoid spinning and let the stop flag end the loop.
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            if fds[1].revents != 0 {
                return Wake::Stop;
            }
            if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                // The group is unusable; say the evidence is incomplete and stop.
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return Wake::Stop;
            }
            if fds[0].revents != 0 {
                return Wake::Events;
            }
        }
    }

    /// Sleeps for `pause` unless stop is requested first.
    fn pause(&self, pause: Duration) -> Wake {
        let millis = libc::c_int::try_from(pause.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut stop = libc::pollfd {
            fd: self.stop_signal.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd for a descriptor we own.
        let ready = unsafe { libc::poll(&mut stop, 1, millis) };
        if ready > 0 || self.shared.stopping.load(Ordering::Relaxed) {
            Wake::Stop
        } else {
            Wake::Events
        }
    }

    /// Reads one batch of events and records them. Returns the bytes read, or `None`
    /// when nothing was queued.
    fn read_batch(&mut self) -> Option<usize> {
        // SAFETY: events is a live, writable buffer of events.len() bytes.
        let read = unsafe {
            libc::read(
                self.fanotify.as_raw_fd(),
                self.events.as_mut_ptr().cast(),
                self.events.len(),
            )
        };
        let filled = match usize::try_from(read) {
            Ok(0) => return None,
            Ok(filled) => filled.min(self.events.len()),
            Err(_) => {
                return match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR) => None,
                    // Without FAN_REPORT_FD_ERROR, a file the kernel could not open for
                    // us (e.g. EMFILE) fails the read: that event is lost, the queue
                    // goes on.
                    _ => {
                        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                        Some(0)
                    }
                };
            }
        };
        let events = std::mem::take(&mut self.events);
        self.record_batch(&events[..filled]);
        self.events = events;
        Some(filled)
    }

    fn record_batch(&mut self, mut bytes: &[u8]) {
        let now = SystemTime::now();
        let clock = Instant::now();
        let mut events = 0u64;
        let mut dropped = 0u64;
        let mut table = self.shared.table();
        while !bytes.is_empty() {
            let Some((event, rest)) = next_event(bytes) else {
                // A malformed record: the rest of the batch cannot be located.
                dropped += 1;
                break;
            };
            bytes = rest;
            events += 1;
            if event.fd < 0 {
                // FAN_NOFD with FAN_Q_OVERFLOW, or (with FAN_REPORT_FD_ERROR) the
                // kernel could not open the file for us: either way, evidence lost.
                dropped += 1;
                continue;
            }
            // SAFETY: the kernel installed this descriptor for us in this read; we are
            // its only owner and it is closed when `file` drops below.
            let file = unsafe { OwnedFd::from_raw_fd(event.fd) };
            if event.pid == self.own_pid {
                continue;
            }
            let path = self.paths.resolve(&file, clock);
            drop(file);
            let Some(path) = path else {
                dropped += 1;
                continue;
            };
            let access = if event.mask & libc::FAN_OPEN_EXEC != 0 {
                Access::Exec
            } else {
                Access::Opened
            };
            let exec_path = (access == Access::Exec).then_some(&*path);
            let process = self.processes.lookup(event.pid, exec_path, clock);
            let (root, path) = if process.root.starts_with("mnt:") {
                // A container's process: its paths are inside its own namespace.
                (process.root, &*path)
            } else {
                match split_root(process.root, &path) {
                    ("/", path) => (&self.slash, path),
                    (_, path) => (process.root, path),
                }
            };
            let pid = u32::try_from(event.pid).unwrap_or(0);
            if !table.record(root, path, access, pid, process.command, now) {
                dropped += 1;
            }
        }
        drop(table);
        self.shared.events_read.fetch_add(events, Ordering::Relaxed);
        if dropped > 0 {
            self.shared.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

/// How many bytes one read may return. Every event in a read arrives with its own open
/// descriptor, so a batch must fit well within the open-file limit: half of the soft
/// limit, at most 64 KiB.
fn event_buffer_bytes() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: limit is a valid out pointer for getrlimit.
    let soft_limit = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    let events = (soft_limit / 2).clamp(MIN_EVENTS_PER_READ, MAX_READ_BYTES / METADATA_LEN);
    events * METADATA_LEN
}

/// The fields of one event record the watcher uses.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    mask: u64,
    fd: i32,
    pid: i32,
}

/// Splits the first event record off `bytes`. `None` when the record is malformed or
/// of a metadata version we do not know.
fn next_event(bytes: &[u8]) -> Option<(Event, &[u8])> {
    let header = bytes.get(..METADATA_LEN)?;
    let event_len = u32::from_ne_bytes(header[0..4].try_into().ok()?) as usize;
    let version = header[4];
    let metadata_len = u16::from_ne_bytes(header[6..8].try_into().ok()?) as usize;
    if version != libc::FANOTIFY_METADATA_VERSION
        || metadata_len < METADATA_LEN
        || event_len < metadata_len
        || event_len > bytes.len()
    {
        return None;
    }
    let event = Event {
        mask: u64::from_ne_bytes(header[8..16].try_into().ok()?),
        fd: i32::from_ne_bytes(header[16..20].try_into().ok()?),
        pid: i32::from_ne_bytes(header[20..24].try_into().ok()?),
    };
    Some((event, &bytes[event_len..]))
}

/// What identifies an open file and changes when it is renamed, linked or unlinked:
/// the mount (so bind mounts of one file stay apart), the inode and its change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileKey {
    mount_id: u64,
    inode: u64,
    change_seconds: i64,
    change_nanos: u32,
}

struct CachedPath {
    path: Box<str>,
    resolved_at: Instant,
}

/// Paths of event descriptors. `readlink` of `/proc/self/fd/<fd>` is the costliest
/// step per event, so the path of a file with a single name is remembered for a short
/// while under its `FileKey` (one `statx`, a quarter of the cost). Files with several
/// hard links are always read, so each open is reported under the name it used.
struct PathCache {
    /// `/proc/self/fd`, so a path is one short `readlinkat` away.
    own_fds: OwnedFd,
    by_file: NumberMap<FileKey, CachedPath>,
    link_buffer: Vec<u8>,
}

impl PathCache {
    fn new(own_fds: OwnedFd) -> PathCache {
        PathCache {
            own_fds,
            by_file: NumberMap::default(),
            link_buffer: vec![0u8; PATH_BUFFER_BYTES],
        }
    }

    /// The path of `file` as we see it; `None` when it cannot be read.
    fn resolve(&mut self, file: &OwnedFd, now: Instant) -> Option<Cow<'_, str>> {
        let Some(key) = single_link_file_key(file) else {
            let path = read_fd_path(&self.own_fds, file.as_raw_fd(), &mut self.link_buffer)?;
            return Some(String::from_utf8_lossy(path));
        };
        if self.by_file.len() >= MAX_CACHED_PATHS {
            self.by_file
                .retain(|_, cached| now.duration_since(cached.resolved_at) < PATH_CACHE_TTL);
            // Mostly fresh: start over rather than sweep again a few events later.
            if self.by_file.len() >= MAX_CACHED_PATHS / 4 * 3 {
                self.by_file.clear();
            }
        }
        let cached = match self.by_file.entry(key) {
            Entry::Occupied(occupied)
                if now.duration_since(occupied.get().resolved_at) < PATH_CACHE_TTL =>
            {
                occupied.into_mut()
            }
            entry => {
                let path = read_fd_path(&self.own_fds, file.as_raw_fd(), &mut self.link_buffer)?;
                let fresh = CachedPath {
                    path: String::from_utf8_lossy(path).into(),
                    resolved_at: now,
                };
                match entry {
                    Entry::Occupied(mut occupied) => {
                        occupied.insert(fresh);
                        occupied.into_mut()
                    }
                    Entry::Vacant(vacant) => vacant.insert(fresh),
                }
            }
        };
        Some(Cow::Borrowed(&cached.path))
    }
}

/// The `FileKey` of a file with exactly one name; `None` for hard-linked files or when
/// the kernel does not report the mount id (before Linux 5.8).
fn single_link_file_key(file: &OwnedFd) -> Option<FileKey> {
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut status: libc::statx = unsafe { std::mem::zeroed() };
    let wanted = libc::STATX_INO | libc::STATX_CTIME | libc::STATX_NLINK | libc::STATX_MNT_ID;
    // SAFETY: the path is an empty NUL-terminated string (AT_EMPTY_PATH: the descriptor
    // itself); status is a valid out pointer.
    let result = unsafe {
        libc::statx(
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            wanted,
            &mut status,
        )
    };
    if result != 0 || status.stx_mask & wanted != wanted || status.stx_nlink != 1 {
        return None;
    }
    Some(FileKey {
        mount_id: status.stx_mnt_id,
        inode: status.stx_ino,
        change_seconds: status.stx_ctime.tv_sec,
        change_nanos: status.stx_ctime.tv_nsec,
    })
}

/// A map keyed by numbers no one can choose (mount ids, inode numbers, change times,
/// pids), hashed by a multiply-and-rotate mix: such keys do not need SipHash's
/// resistance to crafted collisions, and hashing runs for every event.
type NumberMap<K, V> = HashMap<K, V, BuildHasherDefault<NumberHasher>>;

#[derive(Default)]
struct NumberHasher(u64);

impl NumberHasher {
    fn mix(&mut self, number: u64) {
        self.0 = (self.0.rotate_left(26) ^ number).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl Hasher for NumberHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_ne_bytes(word));
        }
    }

    fn write_u32(&mut self, number: u32) {
        self.mix(u64::from(number));
    }

    fn write_u64(&mut self, number: u64) {
        self.mix(number);
    }

    fn write_i32(&mut self, number: i32) {
        self.mix(number as u64);
    }

    fn write_i64(&mut self, number: i64) {
        self.mix(number as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves its best bits high; fold them into the low bits that
        // pick the bucket.
        self.0 ^ (self.0 >> 29)
    }
}

/// The path of one of our descriptors, read from `/proc/self/fd/<fd>` into `buffer`.
/// `None` when it cannot be read or does not fit.
fn read_fd_path<'b>(own_fds: &OwnedFd, fd: RawFd, buffer: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut name = [0u8; 24];
    let name = decimal_name(u64::try_from(fd).ok()?, b"", &mut name)?;
    read_link_at(own_fds, name, buffer)
}

/// `readlinkat(dir, name)` into `buffer`; `name` must end with a NUL byte. `None` on
/// error or when the target may have been truncated.
fn read_link_at<'b>(dir: &OwnedFd, name: &[u8], buffer: &'b mut [u8]) -> Option<&'b [u8]> {
    if name.last() != Some(&0) {
        return None;
    }
    // SAFETY: name is NUL-terminated (checked above); buffer is writable for its length.
    let length = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr().cast(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    let length = usize::try_from(length).ok()?;
    if length >= buffer.len() {
        return None;
    }
    Some(&buffer[..length])
}

/// Writes `<number><suffix>\0` into `buffer` and returns that part, without allocating.
fn decimal_name<'b>(number: u64, suffix: &[u8], buffer: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = number;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = &digits[start..];
    let total = digits.len() + suffix.len() + 1;
    let out = buffer.get_mut(..total)?;
    out[..digits.len()].copy_from_slice(digits);
    out[digits.len()..total - 1].copy_from_slice(suffix);
    out[total - 1] = 0;
    Some(out)
}

/// Splits a path as we see it into (the process's root, the path inside that root).
/// A file outside the process's root (or a process at `/`) stays a host path.
fn split_root<'p>(root: &str, path: &'p str) -> (&'p str, &'p str) {
    if root != "/" {
        if let Some(inside) = path.strip_prefix(root) {
            if inside.starts_with('/') {
                return (&path[..root.len()], inside);
            }
            if inside.is_empty() {
                return (path, "/");
            }
        }
    }
    ("/", path)
}

/// Root and command of recently seen processes, read from `/proc/<pid>`.
struct ProcessCache {
    proc_dir: OwnedFd,
    /// Our own mount namespace (`mnt:[…]`): a process at `/` in another one is in a
    /// container, and its paths are not the host's.
    own_mount_ns: Option<String>,
    by_pid: NumberMap<i32, ProcessInfo>,
    last_sweep: Instant,
    slash: Arc<str>,
    unknown_command: Arc<str>,
    link_buffer: Vec<u8>,
}

struct ProcessInfo {
    root: Arc<str>,
    command: Arc<str>,
    read_at: Instant,
    /// The name the latest exec gives the process, as the kernel names `comm`: the
    /// base name of the first file executed (not of its interpreter). Used for that
    /// exec's own events, whose `/proc` read races with the exec, and when the process
    /// is gone before its new `comm` could be read.
    exec_name: Option<Arc<str>>,
    /// The last event was an exec: the next one reads `/proc` again, because the name
    /// (and, after a chroot, the root) changes as the exec completes.
    in_exec: bool,
}

/// What the table records for one event.
struct ProcessView<'a> {
    root: &'a Arc<str>,
    command: &'a Arc<str>,
}

impl ProcessCache {
    fn new(proc_dir: OwnedFd) -> ProcessCache {
        let own_mount_ns = std::fs::read_link("/proc/self/ns/mnt")
            .ok()
            .map(|p| p.to_string_lossy().into_owned());
        ProcessCache {
            proc_dir,
            own_mount_ns,
            by_pid: NumberMap::default(),
            last_sweep: Instant::now(),
            slash: Arc::from("/"),
            unknown_command: Arc::from(""),
            link_buffer: vec![0u8; PATH_BUFFER_BYTES],
        }
    }

    /// The process behind an event; `exec_path` is the file an exec event executed.
    fn lookup(&mut self, pid: i32, exec_path: Option<&str>, now: Instant) -> ProcessView<'_> {
        self.sweep(now);
        let mut new = false;
        let info = self.by_pid.entry(pid).or_insert_with(|| {
            new = true;
            ProcessInfo {
                root: Arc::clone(&self.slash),
                command: Arc::clone(&self.unknown_command),
                read_at: now,
                exec_name: None,
                in_exec: false,
            }
        });
        if let (Some(path), false) = (exec_path, info.in_exec) {
            info.exec_name = Some(Arc::from(comm_name(path)));
        }
        let stale = new
            || info.in_exec
            || exec_path.is_some()
            || now.duration_since(info.read_at) >= PROCESS_INFO_TTL;
        if stale {
            let command_read = refresh(
                &self.proc_dir,
                self.own_mount_ns.as_deref(),
                pid,
                info,
                &mut self.link_buffer,
            );
            if exec_path.is_none() {
                // The exec is complete: `comm` now names it, unless the process is gone.
                if let (false, Some(exec_name)) = (command_read, info.exec_name.take()) {
                    info.command = exec_name;
                }
            }
            info.read_at = now;
        }
        info.in_exec = exec_path.is_some();
        let command = match (exec_path, &info.exec_name) {
            (Some(_), Some(exec_name)) => exec_name,
            _ => &info.command,
        };
        ProcessView {
            root: &info.root,
            command,
        }
    }

    /// Forgets processes not seen for a while: exited pids must not pile up, and a pid
    /// reused by another process must not inherit the old one's root.
    fn sweep(&mut self, now: Instant) {
        let due = now.duration_since(self.last_sweep) >= PROCESS_SWEEP_INTERVAL;
        if !due && self.by_pid.len() < MAX_CACHED_PROCESSES {
            return;
        }
        self.by_pid
            .retain(|_, info| now.duration_since(info.read_at) < PROCESS_INFO_TTL);
        // Mostly fresh: start over rather than sweep again a few events later.
        if self.by_pid.len() >= MAX_CACHED_PROCESSES / 4 * 3 {
            self.by_pid.clear();
        }
        self.last_sweep = now;
    }
}

/// The name the kernel gives a process that executes `path`: its base name, cut to
/// `comm`'s 15 bytes.
fn comm_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    &base[..end]
}

/// Reads `/proc/<pid>/root` and `/proc/<pid>/comm`; what cannot be read (the process
/// exited) keeps its previous value. Allocates only when a value changed. Returns
/// whether `comm` was read. A process at `/` in another mount namespace than ours
/// (a container) gets its namespace (`mnt:[…]`) as its root, so that its files are
/// never taken for the host's.
fn refresh(
    proc_dir: &OwnedFd,
    own_mount_ns: Option<&str>,
    pid: i32,
    info: &mut ProcessInfo,
    buffer: &mut [u8],
) -> bool {
    let Ok(pid) = u64::try_from(pid) else {
        return false;
    };
    let mut name = [0u8; 32];
    if let Some(name) = decimal_name(pid, b"/root", &mut name) {
        if let Some(root) = read_link_at(proc_dir, name, buffer) {
            let mut root = String::from_utf8_lossy(root).into_owned();
            if root == "/" {
                let mut ns_name = [0u8; 32];
                let ns = decimal_name(pid, b"/ns/mnt", &mut ns_name)
                    .and_then(|n| read_link_at(proc_dir, n, buffer))
                    .map(|ns| String::from_utf8_lossy(ns).into_owned());
                if let (Some(ns), Some(own)) = (ns, own_mount_ns) {
                    if ns != own {
                        root = ns;
                    }
                }
            }
            if *info.root != *root {
                info.root = Arc::from(root.as_str());
            }
        }
    }
    let mut name = [0u8; 32];
    let Some(name) = decimal_name(pid, b"/comm", &mut name) else {
        return false;
    };
    let Some(command) = read_small_file_at(proc_dir, name, buffer) else {
        return false;
    };
    let command = String::from_utf8_lossy(command);
    let command = command.trim_end_matches('\n');
    if *info.command != *command {
        info.command = Arc::from(command);
    }
    true
}

/// Reads a small file (up to `buffer.len()` bytes) relative to `dir`; `name` must end
/// with a NUL byte.
fn read_small_file_at<'b>(dir: &OwnedFd, name: &[u8], buffer: &'b mut [u8]) -> Option<&'b [u8]> {
    if name.last() != Some(&0) {
        return None;
    }
    // SAFETY: name is NUL-terminated (checked above); dir is a live directory descriptor.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: buffer is writable for its length; file is open for reading.
    let length = unsafe { libc::read(file.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
    let length = usize::try_from(length).ok()?;
    buffer.get(..length)
}

/// One file's uses, indexed by `Access`.
type Uses = [Option<Seen>; 3];

fn slot(access: Access) -> usize {
    match access {
        Access::Exec => 0,
        Access::Mapped => 1,
        Access::Opened => 2,
    }
}

const ACCESSES: [Access; 3] = [Access::Exec, Access::Mapped, Access::Opened];

struct Seen {
    pid: u32,
    command: Arc<str>,
    first_seen: SystemTime,
    last_seen: SystemTime,
}

/// Files seen, by root then path, so a lookup borrows the event's strings instead of
/// building an owned key.
struct Table {
    by_root: HashMap<Arc<str>, HashMap<Box<str>, Uses>>,
    entries: usize,
    max_entries: usize,
}

impl Table {
    fn new(max_entries: usize) -> Table {
        Table {
            by_root: HashMap::new(),
            entries: 0,
            max_entries,
        }
    }

    /// Records one use; `false` when it is a new entry and the table is full.
    fn record(
        &mut self,
        root: &Arc<str>,
        path: &str,
        access: Access,
        pid: u32,
        command: &Arc<str>,
        now: SystemTime,
    ) -> bool {
        let new_seen = || Seen {
            pid,
            command: Arc::clone(command),
            first_seen: now,
            last_seen: now,
        };
        if let Some(uses) = self
            .by_root
            .get_mut(&**root)
            .and_then(|paths| paths.get_mut(path))
        {
            match &mut uses[slot(access)] {
                Some(seen) => {
                    seen.pid = pid;
                    if !Arc::ptr_eq(&seen.command, command) {
                        seen.command = Arc::clone(command);
                    }
                    seen.last_seen = now;
                }
                empty @ None => {
                    if self.entries >= self.max_entries {
                        return false;
                    }
                    *empty = Some(new_seen());
                    self.entries += 1;
                }
            }
            return true;
        }
        if self.entries >= self.max_entries {
            return false;
        }
        let mut uses: Uses = [None, None, None];
        uses[slot(access)] = Some(new_seen());
        self.by_root
            .entry(Arc::clone(root))
            .or_default()
            .insert(path.into(), uses);
        self.entries += 1;
        true
    }

    fn to_file_uses(&self) -> Vec<FileUse> {
        let mut file_uses = Vec::with_capacity(self.entries);
        for (root, paths) in &self.by_root {
            for (path, uses) in paths {
                for (access, seen) in ACCESSES.iter().zip(uses) {
                    let Some(seen) = seen else { continue };
                    file_uses.push(FileUse {
                        path: path.to_string(),
                        root: root.to_string(),
                        access: *access,
                        pid: seen.pid,
                        command: seen.command.to_string(),
                        first_seen: seen.first_seen,
                        last_seen: seen.last_seen,
                    });
                }
            }
        }
        file_uses.sort_unstable_by(|a, b| {
            (&a.root, &a.path, a.access).cmp(&(&b.root, &b.path, b.access))
        });
        file_uses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_bytes(event_len: u32, version: u8, mask: u64, fd: i32, pid: i32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&event_len.to_ne_bytes());
        bytes.push(version);
        bytes.push(0);
        bytes.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        bytes.extend_from_slice(&mask.to_ne_bytes());
        bytes.extend_from_slice(&fd.to_ne_bytes());
        bytes.extend_from_slice(&pid.to_ne_bytes());
        bytes.resize(event_len as usize, 0);
        bytes
    }

    #[test]
    fn parses_consecutive_events_and_rejects_malformed_ones() {
        let version = libc::FANOTIFY_METADATA_VERSION;
        let mut bytes = record_bytes(24, version, libc::FAN_OPEN, 7, 42);
        bytes.extend(record_bytes(32, version, libc::FAN_OPEN_EXEC, 8, 43));
        let (first, rest) = next_event(&bytes).expect("first event");
        assert_eq!(
            first,
            Event {
                mask: libc::FAN_OPEN,
                fd: 7,
                pid: 42
            }
        );
        let (second, rest) = next_event(rest).expect("second event, with 8 bytes of info");
        assert_eq!(second.pid, 43);
        assert!(rest.is_empty());

        assert!(next_event(&bytes[..10]).is_none(), "short header");
        assert!(next_event(&record_bytes(24, version + 1, 0, -1, 1)).is_none());
        assert!(next_event(&record_bytes(16, version, 0, -1, 1)[..16]).is_none());
        let mut overlong = record_bytes(24, version, 0, -1, 1);
        overlong[0..4].copy_from_slice(&100u32.to_ne_bytes());
        assert!(next_event(&overlong).is_none(), "event_len past the buffer");
    }

    #[test]
    fn splits_paths_inside_a_process_root() {
        assert_eq!(split_root("/", "/usr/lib/x.so"), ("/", "/usr/lib/x.so"));
        assert_eq!(
            split_root("/srv/jail", "/srv/jail/etc/passwd"),
            ("/srv/jail", "/etc/passwd")
        );
        assert_eq!(split_root("/srv/jail", "/srv/jail"), ("/srv/jail", "/"));
        assert_eq!(
            split_root("/srv/jail", "/srv/jailbreak/x"),
            ("/", "/srv/jailbreak/x")
        );
        assert_eq!(split_root("/srv/jail", "/etc/hosts"), ("/", "/etc/hosts"));
    }

    #[test]
    fn writes_decimal_names_without_allocating() {
        let mut buffer = [0u8; 32];
        assert_eq!(decimal_name(0, b"", &mut buffer), Some(&b"0\0"[..]));
        let mut buffer = [0u8; 32];
        assert_eq!(
            decimal_name(4_194_304, b"/comm", &mut buffer),
            Some(&b"4194304/comm\0"[..])
        );
        let mut small = [0u8; 3];
        assert_eq!(decimal_name(1234, b"", &mut small), None);
    }

    #[test]
    fn exec_names_the_process_when_proc_cannot_tell() {
        let proc_dir = open_directory(c"/proc").expect("/proc");
        let mut processes = ProcessCache::new(proc_dir);
        let now = Instant::now();
        // Above any pid_max: behaves like a process that exited before we looked.
        let gone = i32::MAX;
        let first = processes.lookup(gone, None, now);
        assert_eq!((&**first.root, &**first.command), ("/", ""));

        let exec = processes.lookup(gone, Some("/usr/bin/python3.11"), now);
        assert_eq!(&**exec.command, "python3.11");
        let interpreter = processes.lookup(gone, Some("/lib64/ld-linux-x86-64.so.2"), now);
        assert_eq!(
            &**interpreter.command, "python3.11",
            "the interpreter is not the name"
        );
        let after = processes.lookup(gone, None, now);
        assert_eq!(&**after.command, "python3.11");

        let own_pid = i32::try_from(std::process::id()).expect("pid");
        let own_command = std::fs::read_to_string("/proc/self/comm").expect("comm");
        let own = processes.lookup(own_pid, None, now);
        assert_eq!(&**own.command, own_command.trim_end());
        assert_eq!(&**own.root, "/");
    }

    #[test]
    fn comm_names_are_base_names_cut_to_fifteen_bytes() {
        assert_eq!(comm_name("/usr/bin/python3.11"), "python3.11");
        assert_eq!(
            comm_name("/opt/x/a-very-long-program-name"),
            "a-very-long-pro"
        );
        assert_eq!(comm_name("/opt/ééééééééé"), "ééééééé");
        assert_eq!(comm_name("plain"), "plain");
    }

    #[test]
    fn table_dedupes_keeps_the_last_process_and_stops_at_its_limit() {
        let mut table = Table::new(3);
        let slash: Arc<str> = Arc::from("/");
        let jail: Arc<str> = Arc::from("/srv/jail");
        let python: Arc<str> = Arc::from("python3");
        let node: Arc<str> = Arc::from("node");
        let early = SystemTime::UNIX_EPOCH;
        let late = early + Duration::from_secs(5);

        assert!(table.record(&slash, "/a.py", Access::Opened, 10, &python, early));
        assert!(table.record(&slash, "/a.py", Access::Opened, 11, &node, late));
        assert!(table.record(&slash, "/a.py", Access::Exec, 12, &node, late));
        assert!(table.record(&jail, "/a.py", Access::Opened, 13, &node, late));
        assert!(!table.record(&slash, "/b.py", Access::Opened, 14, &node, late));
        assert!(table.record(&slash, "/a.py", Access::Opened, 15, &python, late));

        let uses = table.to_file_uses();
        let keys: Vec<_> = uses
            .iter()
            .map(|u| (u.root.as_str(), u.path.as_str(), u.access, u.pid))
            .collect();
        assert_eq!(
            keys,
            [
                ("/", "/a.py", Access::Exec, 12),
                ("/", "/a.py", Access::Opened, 15),
                ("/srv/jail", "/a.py", Access::Opened, 13),
            ]
        );
        assert_eq!(uses[1].command, "python3");
        assert_eq!((uses[1].first_seen, uses[1].last_seen), (early, late));
    }
}
