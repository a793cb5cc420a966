//! Forwards samples to a Prometheus-compatible remote_write endpoint: a bounded queue
//! (full means the caller is told, never unbounded memory), batches cut by sample count
//! or age, and retries with exponential backoff on 5xx, 429 and network errors — not on
//! other 4xx, which a retry cannot fix.

use super::encode_write_request;
use crate::http;
use postwatch_model::metrics::{AppendOutcome, MetricsError, Rejection, SampleSink, Series};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

/// A running sender; drop it or call [`RemoteWriteSender::shutdown`] to stop.
pub struct RemoteWriteSender {
    queue: mpsc::Sender<Series>,
    stats: Arc<SenderStats>,
    task: JoinHandle<()>,
}

impl RemoteWriteSender {
    /// Starts the sending task on the current tokio runtime.
    pub fn spawn(config: SenderConfig) -> Self {
        let (queue, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let stats = Arc::new(SenderStats::default());
        let task = tokio::spawn(run(config, receiver, Arc::clone(&stats)));
        RemoteWriteSender { queue, stats, task }
    }

    /// Queues one series; gives it back when the queue is full or the sender stopped.
    pub fn try_enqueue(&self, series: Series) -> Result<(), Series> {
        self.queue.try_send(series).map_err(|error| {
            self.stats.series_refused.fetch_add(1, Ordering::Relaxed);
            match error {
                mpsc::error::TrySendError::Full(series)
                | mpsc::error::TrySendError::Closed(series) => series,
            }
        })
    }

    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// Stops accepting, sends what is queued (with its retries) and waits for that.
    pub async fn shutdown(self) -> Arc<SenderStats> {
        drop(self.queue);
        let _ = self.task.await;
        self.stats
    }
}

/// The sender as a sink: accepted means queued (not yet stored remotely).
impl SampleSink for RemoteWriteSender {
    fn append(&self, batch: &[Series]) -> Result<AppendOutcome, MetricsError> {
        let mut outcome = AppendOutcome::default();
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
    let headers = [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ("User-Agent", "postwatch"),
    ];
    let mut backoff = config.min_backoff;
    let mut attempt = 0u32;
    loop {
        let result = http::request_with_tls(
            &config.url,
            &headers,
            Some(body.clone()),
            config.timeout,
            64 << 10,
            config.tls.as_ref(),
        )
        .await;
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
