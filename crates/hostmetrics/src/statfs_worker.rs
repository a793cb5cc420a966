//! `statfs` with a timeout. A hung network mount blocks `statfs` forever; the collection
//! must not hang with it. Calls go to one long-lived worker thread (spawned on first
//! use, not per collection) and the collector waits at most the mount timeout. A mount
//! that times out is marked stuck: it is reported with `device_error` 1 and not asked
//! again until the blocked call returns, as node_exporter does. The blocked worker is
//! abandoned and a fresh one serves the other mounts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sys::FsUsage;

type StatfsFn = fn(&Path) -> Result<FsUsage, String>;

struct Request {
    path: PathBuf,
    mount_point: String,
}

struct Worker {
    requests: Sender<Request>,
    replies: Receiver<Result<FsUsage, String>>,
}

/// The worker and the set of stuck mount points it shares with abandoned workers.
pub(crate) struct StatfsWorker {
    statfs: StatfsFn,
    timeout: Duration,
    worker: Option<Worker>,
    stuck: Arc<Mutex<HashSet<String>>>,
}

impl std::fmt::Debug for StatfsWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatfsWorker")
            .field("timeout", &self.timeout)
            .field("running", &self.worker.is_some())
            .finish()
    }
}

impl StatfsWorker {
    pub(crate) fn new(statfs: StatfsFn, timeout: Duration) -> Self {
        StatfsWorker {
            statfs,
            timeout,
            worker: None,
            stuck: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn is_stuck(&self, mount_point: &str) -> bool {
        self.stuck
            .lock()
            .map(|stuck| stuck.contains(mount_point))
            .unwrap_or(false)
    }

    fn spawn(&self) -> Result<Worker, String> {
        let (request_tx, request_rx) = channel::<Request>();
        let (reply_tx, reply_rx) = channel();
        let statfs = self.statfs;
        let stuck = Arc::clone(&self.stuck);
        std::thread::Builder::new()
            .name("hostmetrics-statfs".to_string())
            .spawn(move || {
                for request in request_rx {
                    let result = statfs(&request.path);
                    // A call that outlived its timeout has recovered: monitor it again.
                    if let Ok(mut stuck) = stuck.lock() {
                        stuck.remove(&request.mount_point);
                    }
                    if reply_tx.send(result).is_err() {
                        // The collector gave up on this worker; a new one serves it.
                        return;
                    }
                }
            })
            .map_err(|err| format!("cannot start the statfs thread: {err}"))?;
        Ok(Worker {
            requests: request_tx,
            replies: reply_rx,
        })
    }

    /// `statfs(path)` for `mount_point`, or an error saying it is stuck or timed out.
    pub(crate) fn statfs(&mut self, path: &Path, mount_point: &str) -> Result<FsUsage, String> {
        if self.is_stuck(mount_point) {
            return Err(format!(
                "statfs {}: mount point still unresponsive, skipped",
                path.display()
            ));
        }
        let worker = match self.worker.take() {
            Some(worker) => worker,
            None => self.spawn()?,
        };
        let request = Request {
            path: path.to_path_buf(),
            mount_point: mount_point.to_string(),
        };
        if worker.requests.send(request).is_err() {
            return Err(format!(
                "statfs {}: the statfs thread ended",
                path.display()
            ));
        }
        match worker.replies.recv_timeout(self.timeout) {
            Ok(result) => {
                self.worker = Some(worker);
                result
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Ok(mut stuck) = self.stuck.lock() {
                    stuck.insert(mount_point.to_string());
                }
                // The worker stays blocked in the kernel; dropping our ends lets it exit
                // once the call returns.
                Err(format!(
                    "statfs {}: no answer within {:?}; mount point marked unresponsive",
                    path.display(),
                    self.timeout
                ))
            }
            Err(RecvTimeoutError::Disconnected) => Err(format!(
                "statfs {}: the statfs thread ended",
                path.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_statfs(path: &Path) -> Result<FsUsage, String> {
        if path.to_string_lossy().contains("hang") {
            std::thread::sleep(Duration::from_millis(1500));
        }
        Ok(FsUsage {
            size_bytes: 1.0,
            free_bytes: 0.0,
            avail_bytes: 0.0,
            files: 0.0,
            files_free: 0.0,
        })
    }

    #[test]
    fn a_hung_mount_times_out_is_skipped_then_recovers() {
        let mut worker = StatfsWorker::new(fake_statfs, Duration::from_millis(100));
        assert!(worker.statfs(Path::new("/ok"), "/ok").is_ok());
        let err = worker
            .statfs(Path::new("/hang"), "/hang")
            .expect_err("times out");
        assert!(err.contains("no answer"), "{err}");
        // Other mounts are served by a fresh worker meanwhile.
        assert!(worker.statfs(Path::new("/ok"), "/ok").is_ok());
        let err = worker
            .statfs(Path::new("/hang"), "/hang")
            .expect_err("still stuck");
        assert!(err.contains("still unresponsive"), "{err}");
        // Once the blocked call returns, the mount is asked again (and hangs again here).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while worker.is_stuck("/hang") {
            assert!(std::time::Instant::now() < deadline, "never recovered");
            std::thread::sleep(Duration::from_millis(50));
        }
        let err = worker
            .statfs(Path::new("/hang"), "/hang")
            .expect_err("asked again");
        assert!(err.contains("no answer"), "{err}");
    }
}
