//! Helpers shared by the integration tests: free loopback ports, a collecting sink,
//! child processes killed on drop, polling with a deadline.

#![allow(dead_code)]

use postwatch_model::metrics::{AppendOutcome, MetricsError, SampleSink, Series};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local addr").port()
}

/// Keeps every appended series in order.
#[derive(Default)]
pub struct CollectingSink {
    pub series: Mutex<Vec<Series>>,
}

impl CollectingSink {
    pub fn snapshot(&self) -> Vec<Series> {
        self.series.lock().expect("sink lock").clone()
    }
}

impl SampleSink for CollectingSink {
    fn append(&self, batch: &[Series]) -> Result<AppendOutcome, MetricsError> {
        let accepted = batch.iter().map(|s| s.samples.len()).sum();
        self.series
            .lock()
            .expect("sink lock")
            .extend(batch.iter().cloned());
        Ok(AppendOutcome {
            accepted,
            rejected: Vec::new(),
        })
    }
}

/// A child process killed (and reaped) when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True under CI, where a missing peer must fail the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Starts node_exporter on a free loopback port and waits until it answers.
pub async fn start_node_exporter() -> Option<(KillOnDrop, u16)> {
    let exe = "/usr/bin/prometheus-node-exporter";
    if !std::path::Path::new(exe).exists() {
        assert!(
            !in_ci(),
            "{exe} is missing (apt-get install prometheus-node-exporter)"
        );
        println!("SKIPPED: {exe} is not installed");
        return None;
    }
    let port = free_port();
    let child = std::process::Command::new(exe)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let guard = KillOnDrop(child);
    let url = format!("http://127.0.0.1:{port}/metrics");
    for _ in 0..100 {
        if let Ok(response) =
            postwatch_metricsio::http::request(&url, &[], None, Duration::from_secs(5), 64 << 20)
                .await
        {
            if response.status == 200 {
                return Some((guard, port));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("node_exporter did not answer on {url}");
}
