//! remote_write with a real Prometheus as the sender, and our sender against a receiver
//! that fails on purpose.

mod common;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use common::{free_port, in_ci, start_node_exporter, wait_for, KillOnDrop};
use postwatch_metricsio::remote_write::sender::{RemoteWriteSender, SenderConfig};
use postwatch_metricsio::remote_write::{decode_write_request, DecodeLimits, DecodedWrite};
use postwatch_model::metrics::{Labels, Sample, Series};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A receiver answering with `statuses` in turn (then 204), keeping what it decoded.
async fn receiver(statuses: Vec<u16>) -> (u16, Arc<Mutex<Vec<DecodedWrite>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(statuses));
    let store = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/api/v1/write",
        post(move |body: Bytes| {
            let store = Arc::clone(&store);
            let script = Arc::clone(&script);
            async move {
                let decoded = match decode_write_request(&body, &DecodeLimits::default()) {
                    Ok(decoded) => decoded,
                    Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()),
                };
                store.lock().unwrap().push(decoded);
                let mut script = script.lock().unwrap();
                let status = if script.is_empty() {
                    204
                } else {
                    script.remove(0)
                };
                (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT),
                    String::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, received)
}

fn mem_total_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_remote_writes_node_exporter_metrics_to_our_decoder() {
    let prometheus = "/usr/bin/prometheus";
    if !std::path::Path::new(prometheus).exists() {
        assert!(
            !in_ci(),
            "{prometheus} is missing (apt-get install prometheus)"
        );
        println!("SKIPPED: {prometheus} is not installed");
        return;
    }
    let Some((_exporter, exporter_port)) = start_node_exporter().await else {
        return;
    };
    let (receiver_port, received) = receiver(Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n\
             remote_write:\n  - url: http://127.0.0.1:{receiver_port}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n    metadata_config:\n      send_interval: 1s\n"
        ),
    )
    .unwrap();
    let web_port = free_port();
    let child = std::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _prometheus = KillOnDrop(child);

    let expected_mem = mem_total_bytes();
    let found = wait_for(Duration::from_secs(90), || {
        let writes = received.lock().unwrap();
        let series: Vec<&Series> = writes.iter().flat_map(|w| w.series.iter()).collect();
        let mem = series.iter().find(|s| {
            s.labels.metric_name() == Some("node_memory_MemTotal_bytes")
                && s.labels.get("job") == Some("node")
        })?;
        let up = series.iter().find(|s| {
            s.labels.metric_name() == Some("up") && s.labels.get("job") == Some("node")
        })?;
        let cpu = series
            .iter()
            .find(|s| s.labels.metric_name() == Some("node_cpu_seconds_total"))?;
        let metadata = writes
            .iter()
            .flat_map(|w| w.metadata.iter())
            .find(|m| m.metric_family_name == "node_cpu_seconds_total")
            .cloned();
        Some(((*mem).clone(), (*up).clone(), (*cpu).clone(), metadata))
    })
    .await;
    let (mem, up, cpu, metadata) =
        found.expect("Prometheus did not remote_write node_exporter's metrics within 90 s");
    let instance = format!("127.0.0.1:{exporter_port}");
    assert_eq!(mem.labels.get("instance"), Some(instance.as_str()));
    assert_eq!(mem.samples[0].value, expected_mem);
    assert_eq!(up.samples[0].value, 1.0);
    assert!(cpu.samples[0].value >= 0.0 && cpu.labels.get("mode").is_some());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for series in [&mem, &up, &cpu] {
        let age = now_ms - series.samples[0].timestamp_ms;
        assert!((0..120_000).contains(&age), "sample {age} ms old");
    }
    if let Some(metadata) = metadata {
        assert_eq!(metadata.metric_type.as_str(), "counter");
    }
}

fn test_series(value: f64) -> Series {
    Series {
        labels: Labels::from_pairs([("__name__", "forwarded"), ("host", "a")]),
        samples: vec![Sample {
            timestamp_ms: 1_700_000_000_000,
            value,
        }],
    }
}

fn fast_config(port: u16) -> SenderConfig {
    let mut config = SenderConfig::new(format!("http://127.0.0.1:{port}/api/v1/write"));
    config.batch_deadline = Duration::from_millis(50);
    config.min_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(40);
    config.timeout = Duration::from_secs(5);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_retries_5xx_and_429_but_not_4xx() {
    let (port, received) = receiver(vec![500, 429]).await;
    let sender = RemoteWriteSender::spawn(fast_config(port));
    sender.try_enqueue(test_series(1.5)).unwrap();
    sender.try_enqueue(test_series(2.5)).unwrap();
    let stats = sender.shutdown().await;
    assert_eq!(stats.retries.load(Ordering::Relaxed), 2);
    assert_eq!(stats.samples_sent.load(Ordering::Relaxed), 2);
    assert_eq!(stats.samples_dropped.load(Ordering::Relaxed), 0);
    {
        let writes = received.lock().unwrap();
        assert_eq!(writes.len(), 3, "two failed attempts and one success");
        let last = writes.last().unwrap();
        let values: Vec<f64> = last.series.iter().map(|s| s.samples[0].value).collect();
        assert_eq!(values, [1.5, 2.5]);
    }

    let (port, received) = receiver(vec![400]).await;
    let sender = RemoteWriteSender::spawn(fast_config(port));
    sender.try_enqueue(test_series(3.0)).unwrap();
    let stats = sender.shutdown().await;
    assert_eq!(stats.retries.load(Ordering::Relaxed), 0);
    assert_eq!(stats.samples_dropped.load(Ordering::Relaxed), 1);
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_instead_of_growing() {
    // Nobody listens: every send is retried, so the queue fills.
    let mut config = fast_config(free_port());
    config.queue_capacity = 2;
    config.max_samples_per_send = 1;
    config.max_retries = 1000;
    config.min_backoff = Duration::from_secs(5);
    let sender = RemoteWriteSender::spawn(config);
    let mut refused = 0;
    for i in 0..10 {
        if sender.try_enqueue(test_series(f64::from(i))).is_err() {
            refused += 1;
        }
    }
    assert!(
        refused >= 7,
        "only {refused} of 10 refused with a queue of 2"
    );
    assert_eq!(
        sender.stats().series_refused.load(Ordering::Relaxed),
        refused as u64
    );
}
