//! Forwards samples to a Prometheus-compatible remote_write endpoint, with the
//! endpoint's credentials (bearer token, basic auth, extra headers) and TLS roots.
//!
//! Two queues: in memory ([`RemoteWriteSender::spawn`]: bounded, full means the
//! caller is told, batches cut by sample count or age, a batch dropped after
//! `max_retries`) or on disk ([`RemoteWriteSender::spawn_spooled`], see [`spool`]:
//! survives restarts and destination outages, retried until it is delivered or the
//! spool's bounds drop it). Both retry with exponential backoff on 5xx, 429 and
//! network errors — not on other 4xx, which a retry cannot fix.

pub mod spool;

use super::encode_write_request;
use crate::http;
use postwatch_model::metrics::{AppendOutcome, MetricsError, Rejection, SampleSink, Series};
use spool::{Spool, SpoolOptions, SpoolRecord};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// How the sender authenticates to the endpoint. Files are read at every send, so a
/// rotated token or password is picked up without a restart.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Bearer TOKEN`.
    Bearer(Secret),
    /// `Authorization: Basic base64(USERNAME:PASSWORD)`.
    Basic { username: String, password: Secret },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(…)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, …)"),
        }
    }
}

/// A secret given inline or in a file (whose content, without the trailing newline,
/// is the secret).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    /// The secret now; an error names the file that cannot be read.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Secret::Inline(value) => Ok(value.clone()),
            Secret::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
        }
    }
}

impl Auth {
    /// The `Authorization` header value, if any.
    pub fn header(&self) -> Result<Option<String>, String> {
        use base64::Engine as _;
        match self {
            Auth::None => Ok(None),
            Auth::Bearer(token) => Ok(Some(format!("Bearer {}", token.read()?))),
            Auth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.read()?);
                Ok(Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )))
            }
        }
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// `http://host:port/api/v1/write`.
    pub url: String,
    /// Series waiting to be sent before new ones are refused.
    pub queue_capacity: usize,
    /// Samples in one request at most.
    pub max_samples_per_send: usize,
    /// A batch is sent at the latest this long after its first series arrived.
    pub batch_deadline: Duration,
    /// Deadline of one HTTP request.
    pub timeout: Duration,
    /// First retry delay; doubled per retry up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Retries of one batch before it is dropped (and counted).
    pub max_retries: u32,
    /// TLS client for an `https` URL (`None`: the public web roots).
    pub tls: Option<http::TlsClient>,
    pub auth: Auth,
    /// Extra request headers (a tenant id, say).
    pub headers: Vec<(String, String)>,
}

impl SenderConfig {
    pub fn new(url: impl Into<String>) -> Self {
        SenderConfig {
            url: url.into(),
            queue_capacity: 10_000,
            max_samples_per_send: 2_000,
            batch_deadline: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            max_retries: 10,
            tls: None,
            auth: Auth::None,
            headers: Vec::new(),
        }
    }
}

/// Counters of what the sender did.
#[derive(Debug, Default)]
pub struct SenderStats {
    /// Samples the endpoint accepted.
    pub samples_sent: AtomicU64,
    /// Requests that were retried.
    pub retries: AtomicU64,
    /// Samples dropped: refused with a 4xx or out of retries.
    pub samples_dropped: AtomicU64,
    /// Series refused because the queue was full.
    pub series_refused: AtomicU64,
}

/// Where queued series wait.
enum Queue {
    Memory(mpsc::Sender<Series>),
    Spool(SpoolParts),
}

/// A spooled sender's queue side.
struct SpoolParts {
    spool: Arc<Spool>,
    /// Wakes the sending task when a record was appended (or on shutdown).
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    /// fsyncs the spool every second.
    syncer: JoinHandle<()>,
}

impl Drop for SpoolParts {
    /// However the sender ends, what was appended is made durable.
    fn drop(&mut self) {
        self.syncer.abort();
        if let Err(e) = self.spool.sync() {
            eprintln!("postwatch: remote_write spool: {e}");
        }
    }
}

/// A running sender; drop it or call [`RemoteWriteSender::shutdown`] to stop.
pub struct RemoteWriteSender {
    queue: Queue,
    stats: Arc<SenderStats>,
    task: JoinHandle<()>,
}

/// How often a spool's appended records are fsynced.
const SPOOL_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Largest request built from spooled records, in compressed bytes.
const MAX_SPOOL_REQUEST_BYTES: usize = 4 << 20;

impl RemoteWriteSender {
    /// Starts the sending task on the current tokio runtime, with a queue in memory.
    pub fn spawn(config: SenderConfig) -> Self {
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let stats = Arc::new(SenderStats::default());
        let task = tokio::spawn(run(config, receiver, Arc::clone(&stats)));
        RemoteWriteSender {
            queue: Queue::Memory(queue),
            stats,
            task,
        }
    }

    /// Starts the sending task on the current tokio runtime, with its queue in a spool
    /// directory: what was appended and not yet delivered before a restart is sent
    /// first. Batches are retried until delivered (a 4xx other than 429 drops one).
    pub fn spawn_spooled(config: SenderConfig, options: SpoolOptions) -> std::io::Result<Self> {
        let spool = Arc::new(Spool::open(options)?);
        let stats = Arc::new(SenderStats::default());
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let syncer = {
            let spool = Arc::clone(&spool);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(SPOOL_SYNC_INTERVAL);
                loop {
                    tick.tick().await;
                    let spool = Arc::clone(&spool);
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || spool.sync()).await {
                        eprintln!("postwatch: remote_write spool: {e}");
                    }
                }
            })
        };
        let task = tokio::spawn(run_spooled(
            config,
            Arc::clone(&spool),
            Arc::clone(&wake),
            Arc::clone(&stop),
            Arc::clone(&stats),
        ));
        Ok(RemoteWriteSender {
            queue: Queue::Spool(SpoolParts {
                spool,
                wake,
                stop,
                syncer,
            }),
            stats,
            task,
        })
    }

    /// Queues one series; gives it back when the queue is full or the sender stopped
    /// (or, spooled, when the spool cannot be written).
    pub fn try_enqueue(&self, series: Series) -> Result<(), Series> {
        match &self.queue {
            Queue::Memory(queue) => queue.try_send(series).map_err(|error| {
                self.stats.series_refused.fetch_add(1, Ordering::Relaxed);
                match error {
                    mpsc::error::TrySendError::Full(series)
                    | mpsc::error::TrySendError::Closed(series) => series,
                }
            }),
            Queue::Spool(_) => match self.append_spooled(std::slice::from_ref(&series)) {
                Ok(()) => Ok(()),
                Err(_) => Err(series),
            },
        }
    }

    /// Appends a whole batch to the spool as one record.
    fn append_spooled(&self, batch: &[Series]) -> Result<(), String> {
        let Queue::Spool(SpoolParts { spool, wake, .. }) = &self.queue else {
            return Err("not a spooled sender".to_owned());
        };
        let samples: usize = batch.iter().map(|s| s.samples.len()).sum();
        if samples == 0 {
            return Ok(());
        }
        let body = encode_write_request(batch, &[]);
        match spool.append(&body, u32::try_from(samples).unwrap_or(u32::MAX)) {
            Ok(()) => {
                wake.notify_one();
                Ok(())
            }
            Err(e) => {
                self.stats
                    .series_refused
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                Err(format!("remote_write spool {}: {e}", spool.dir().display()))
            }
        }
    }

    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// The spool, when the queue is on disk.
    pub fn spool(&self) -> Option<&Spool> {
        match &self.queue {
            Queue::Spool(parts) => Some(&parts.spool),
            Queue::Memory(_) => None,
        }
    }

    /// Stops accepting and waits for the sending task: in memory, after sending what
    /// is queued (with its retries); spooled, after the request in flight (what is not
    /// delivered stays in the spool, fsynced, for the next start).
    pub async fn shutdown(self) -> Arc<SenderStats> {
        let RemoteWriteSender { queue, stats, task } = self;
        match queue {
            Queue::Memory(queue) => {
                drop(queue);
                let _ = task.await;
            }
            Queue::Spool(parts) => {
                parts.stop.store(true, Ordering::SeqCst);
                parts.wake.notify_one();
                let _ = task.await;
                // Dropping the parts fsyncs the spool.
                drop(parts);
            }
        }
        stats
    }
}

/// The sender as a sink: accepted means queued (not yet stored remotely).
impl SampleSink for RemoteWriteSender {
    fn append(&self, batch: &[Series]) -> Result<AppendOutcome, MetricsError> {
        let mut outcome = AppendOutcome::default();
        if let Queue::Spool(_) = &self.queue {
            match self.append_spooled(batch) {
                Ok(()) => outcome.accepted = batch.iter().map(|s| s.samples.len()).sum(),
                Err(reason) => {
                    outcome.rejected = batch
                        .iter()
                        .map(|s| Rejection {
                            labels: s.labels.clone(),
                            reason: reason.clone(),
                        })
                        .collect()
                }
            }
            return Ok(outcome);
        }
        for series in batch {
            match self.try_enqueue(series.clone()) {
                Ok(()) => outcome.accepted += series.samples.len(),
                Err(series) => outcome.rejected.push(Rejection {
                    labels: series.labels,
                    reason: "remote_write queue is full".to_string(),
                }),
            }
        }
        Ok(outcome)
    }
}

/// Sends spooled records, oldest first, until stopped.
async fn run_spooled(
    config: SenderConfig,
    spool: Arc<Spool>,
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
    stats: Arc<SenderStats>,
) {
    let mut failing = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let reader = Arc::clone(&spool);
        let max_samples = config.max_samples_per_send;
        let read = tokio::task::spawn_blocking(move || {
            reader.read_batch(max_samples, MAX_SPOOL_REQUEST_BYTES)
        })
        .await;
        let (records, after) = match read {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => {
                eprintln!("postwatch: remote_write spool: {e}");
                tokio::time::sleep(config.max_backoff).await;
                continue;
            }
            Err(_) => return,
        };
        if records.is_empty() {
            // A damaged tail may have moved the position past it: keep that.
            let committer = Arc::clone(&spool);
            let _ = tokio::task::spawn_blocking(move || committer.commit(after)).await;
            // Nothing to send: wait for an append (or look again now and then).
            let _ = tokio::time::timeout(SPOOL_SYNC_INTERVAL, wake.notified()).await;
            continue;
        }
        let samples: u64 = records.iter().map(|r| u64::from(r.samples)).sum();
        let body = merge_records(&records);
        let mut backoff = config.min_backoff;
        loop {
            let result = send_once(&config, &body).await;
            match classify(&result) {
                Attempt::Done => {
                    stats.samples_sent.fetch_add(samples, Ordering::Relaxed);
                    if failing {
                        failing = false;
                        eprintln!(
                            "postwatch: remote_write to {} is delivering again",
                            config.url
                        );
                    }
                    break;
                }
                Attempt::Drop => {
                    stats.samples_dropped.fetch_add(samples, Ordering::Relaxed);
                    eprintln!(
                        "postwatch: remote_write to {} refused {samples} samples ({}); they are dropped",
                        config.url,
                        describe(&result)
                    );
                    break;
                }
                Attempt::Retry => {
                    if !failing {
                        failing = true;
                        eprintln!(
                            "postwatch: remote_write to {} failed ({}); samples stay in the spool {} and are retried",
                            config.url,
                            describe(&result),
                            spool.dir().display()
                        );
                    }
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let _ = tokio::time::timeout(backoff, wait_for_stop(&wake, &stop)).await;
                    backoff = (backoff * 2).min(config.max_backoff);
                }
            }
        }
        let committer = Arc::clone(&spool);
        match tokio::task::spawn_blocking(move || committer.commit(after)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("postwatch: remote_write spool: {e}"),
            Err(_) => return,
        }
    }
}

/// Resolves once `stop` is set (the waker is notified when it is).
async fn wait_for_stop(wake: &Notify, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        wake.notified().await;
    }
}

/// One request from several spooled requests: protobuf messages concatenate into one
/// whose repeated fields are joined, so the bodies are decompressed, joined and
/// compressed again.
fn merge_records(records: &[SpoolRecord]) -> Vec<u8> {
    if let [only] = records {
        return only.body.clone();
    }
    let mut raw = Vec::new();
    for record in records {
        match snap::raw::Decoder::new().decompress_vec(&record.body) {
            Ok(bytes) => raw.extend_from_slice(&bytes),
            // Written by this process's own encoder and checksummed: cannot happen
            // short of a bug; the record is left out rather than poisoning the batch.
            Err(e) => eprintln!("postwatch: remote_write spool: a record does not decompress: {e}"),
        }
    }
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

fn describe(result: &Result<http::Response, http::HttpError>) -> String {
    match result {
        Ok(response) => {
            let text = String::from_utf8_lossy(&response.body);
            let text: String = text.trim().chars().take(200).collect();
            if text.is_empty() {
                format!("HTTP {}", response.status)
            } else {
                format!("HTTP {}: {text}", response.status)
            }
        }
        Err(e) => e.to_string(),
    }
}

/// One attempt with the configured headers and credentials.
async fn send_once(config: &SenderConfig, body: &[u8]) -> Result<http::Response, http::HttpError> {
    let authorization = match config.auth.header() {
        Ok(value) => value,
        // A credential file being rotated: retried like a network error.
        Err(why) => return Err(http::HttpError::Connect(format!("credentials: {why}"))),
    };
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ("User-Agent", "postwatch"),
    ];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value));
    }
    for (name, value) in &config.headers {
        headers.push((name, value));
    }
    http::request_with_tls(
        &config.url,
        &headers,
        Some(body.to_vec()),
        config.timeout,
        64 << 10,
        config.tls.as_ref(),
    )
    .await
}

async fn run(config: SenderConfig, mut receiver: mpsc::Receiver<Series>, stats: Arc<SenderStats>) {
    loop {
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut samples = first.samples.len();
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + config.batch_deadline;
        while samples < config.max_samples_per_send {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(series)) => {
                    samples += series.samples.len();
                    batch.push(series);
                }
                Ok(None) | Err(_) => break,
            }
        }
        send_with_retries(&config, &batch, samples, &stats).await;
    }
}

/// What to do after one attempt.
enum Attempt {
    Done,
    Retry,
    Drop,
}

fn classify(result: &Result<http::Response, http::HttpError>) -> Attempt {
    match result {
        Ok(response) if (200..300).contains(&response.status) => Attempt::Done,
        Ok(response) if response.status == 429 || response.status >= 500 => Attempt::Retry,
        Ok(_) => Attempt::Drop,
        Err(http::HttpError::InvalidUrl(_)) => Attempt::Drop,
        Err(_) => Attempt::Retry,
    }
}

async fn send_with_retries(
    config: &SenderConfig,
    batch: &[Series],
    samples: usize,
    stats: &SenderStats,
) {
    let body = encode_write_request(batch, &[]);
    let mut backoff = config.min_backoff;
    let mut attempt = 0u32;
    loop {
        let result = send_once(config, &body).await;
        match classify(&result) {
            Attempt::Done => {
                stats
                    .samples_sent
                    .fetch_add(samples as u64, Ordering::Relaxed);
                return;
            }
            Attempt::Retry if attempt < config.max_retries => {
                attempt += 1;
                stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_backoff);
            }
            Attempt::Retry | Attempt::Drop => {
                stats
                    .samples_dropped
                    .fetch_add(samples as u64, Ordering::Relaxed);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::{decode_write_request, DecodeLimits};
    use axum::http::{HeaderMap, StatusCode};
    use postwatch_model::metrics::{Labels, Sample};
    use std::sync::Mutex;

    type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>, Vec<f64>)>>>;

    /// A receiver that answers 401 unless the bearer token is right, and records each
    /// accepted request's `Authorization`, `X-Scope-OrgID` and sample values.
    async fn receiver(port: u16, token: &'static str) -> (Seen, JoinHandle<()>) {
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&seen);
        let app = axum::Router::new().route(
            "/api/v1/write",
            axum::routing::post(move |headers: HeaderMap, body: bytes::Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    if header("authorization").as_deref() != Some(&format!("Bearer {token}")) {
                        return StatusCode::UNAUTHORIZED;
                    }
                    let Ok(decoded) = decode_write_request(&body, &DecodeLimits::default()) else {
                        return StatusCode::BAD_REQUEST;
                    };
                    let values = decoded
                        .series
                        .iter()
                        .flat_map(|s| s.samples.iter().map(|x| x.value))
                        .collect();
                    kept.lock().unwrap().push((
                        header("authorization"),
                        header("x-scope-orgid"),
                        values,
                    ));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (seen, task)
    }

    fn series(value: f64) -> Series {
        Series {
            labels: Labels::from_pairs([("__name__", "forwarded"), ("n", "1")]),
            samples: vec![Sample {
                timestamp_ms: 1_700_000_000_000 + value as i64,
                value,
            }],
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn config(port: u16, token_file: &std::path::Path) -> SenderConfig {
        let mut config = SenderConfig::new(format!("http://127.0.0.1:{port}/api/v1/write"));
        config.min_backoff = Duration::from_millis(10);
        config.max_backoff = Duration::from_millis(50);
        config.auth = Auth::Bearer(Secret::File(token_file.to_owned()));
        config.headers = vec![("X-Scope-OrgID".into(), "team-a".into())];
        config
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spooled_sender_loses_nothing_across_an_outage_and_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "t0ken\n").unwrap();
        let options = SpoolOptions {
            dir: dir.path().join("spool"),
            max_bytes: 1 << 30,
            max_age: Duration::from_secs(3600),
        };
        let port = free_port();
        // The destination is down: appends are kept, retried, then the process stops.
        let sender =
            RemoteWriteSender::spawn_spooled(config(port, &token_file), options.clone()).unwrap();
        for n in 0..5 {
            let outcome = sender.append(&[series(f64::from(n))]).unwrap();
            assert_eq!(outcome.accepted, 1);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stats = sender.shutdown().await;
        assert!(stats.retries.load(Ordering::Relaxed) > 0);
        assert_eq!(stats.samples_sent.load(Ordering::Relaxed), 0);

        // Back up, behind a token: a fresh sender on the same spool delivers the
        // backlog first, then new samples, with the token and the extra header.
        let (seen, server) = receiver(port, "t0ken").await;
        let sender =
            RemoteWriteSender::spawn_spooled(config(port, &token_file), options.clone()).unwrap();
        for n in 5..8 {
            sender.append(&[series(f64::from(n))]).unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while sender.stats().samples_sent.load(Ordering::Relaxed) < 8 {
            assert!(tokio::time::Instant::now() < deadline, "not delivered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let values: Vec<f64> = seen
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, _, v)| v.clone())
            .collect();
        assert_eq!(values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        for (authorization, tenant, _) in seen.lock().unwrap().iter() {
            assert_eq!(authorization.as_deref(), Some("Bearer t0ken"));
            assert_eq!(tenant.as_deref(), Some("team-a"));
        }
        assert_eq!(sender.spool().unwrap().pending_bytes(), 0);

        // A wrong token (rotated in the file) is a 401: dropped, not retried forever.
        std::fs::write(&token_file, "wrong").unwrap();
        sender.append(&[series(8.0)]).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while sender.stats().samples_dropped.load(Ordering::Relaxed) < 1 {
            assert!(tokio::time::Instant::now() < deadline, "not refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sender.shutdown().await;
        // Wait until the aborted task dropped its listener: the port is bound again.
        server.abort();
        let _ = server.await;
        // Nothing is sent twice after a restart: the cursor was kept.
        let (seen_again, server) = receiver(port, "wrong").await;
        let sender = RemoteWriteSender::spawn_spooled(config(port, &token_file), options).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(seen_again.lock().unwrap().is_empty());
        sender.shutdown().await;
        server.abort();
    }

    #[test]
    fn basic_auth_reads_the_password_file_and_never_prints_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let auth = Auth::Basic {
            username: "forwarder".into(),
            password: Secret::File(file.clone()),
        };
        // base64("forwarder:s3cret")
        assert_eq!(
            auth.header().unwrap().as_deref(),
            Some("Basic Zm9yd2FyZGVyOnMzY3JldA==")
        );
        assert!(!format!("{auth:?}").contains("s3cret"));
        std::fs::remove_file(&file).unwrap();
        let error = auth.header().unwrap_err();
        assert!(error.contains("password"), "{error}");
    }
}
