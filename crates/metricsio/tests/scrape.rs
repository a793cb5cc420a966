//! Scraping real and hostile exporters over loopback.

mod common;

use axum::routing::get;
use common::{start_node_exporter, wait_for, CollectingSink};
use postwatch_metricsio::scrape::{spawn_scraper, FileSdConfig, ScrapeConfig, TargetGroup};
use postwatch_metricsio::{http, parse_text, ParseLimits};
use postwatch_model::metrics::{is_stale_marker, Labels, SampleSink, Series};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn named<'a>(series: &'a [Series], name: &'a str) -> impl Iterator<Item = &'a Series> + 'a {
    series
        .iter()
        .filter(move |s| s.labels.metric_name() == Some(name))
}

fn last_value(series: &[Series], name: &str, instance: &str) -> Option<f64> {
    named(series, name)
        .filter(|s| s.labels.get("instance") == Some(instance))
        .flat_map(|s| s.samples.iter())
        .last()
        .map(|s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_a_real_node_exporter_then_marks_it_down_and_stale() {
    let Some((mut exporter, port)) = start_node_exporter().await else {
        return;
    };
    let instance = format!("127.0.0.1:{port}");
    let sink = Arc::new(CollectingSink::default());
    let mut config = ScrapeConfig::new("node");
    config.interval_seconds = 0.5;
    config.timeout_seconds = 5.0;
    config.static_configs = vec![TargetGroup {
        targets: vec![instance.clone()],
        labels: BTreeMap::from([("env".to_string(), "test".to_string())]),
    }];
    let metadata_seen = Arc::new(Mutex::new(Vec::new()));
    let metadata_sink = Arc::clone(&metadata_seen);
    let handle = spawn_scraper(
        config,
        Arc::clone(&sink) as Arc<dyn SampleSink>,
        Some(Arc::new(move |m| metadata_sink.lock().unwrap().push(m))),
        ParseLimits::default(),
    );
    let up = wait_for(Duration::from_secs(20), || {
        last_value(&sink.snapshot(), "up", &instance)
    })
    .await;
    assert_eq!(up, Some(1.0), "no successful scrape of node_exporter");

    // What node_exporter serves right now, read independently of the scraper.
    let response = http::request(
        &format!("http://{instance}/metrics"),
        &[],
        None,
        Duration::from_secs(5),
        64 << 20,
    )
    .await
    .unwrap();
    let families = parse_text(&response.body, &ParseLimits::default()).unwrap();
    let served_memtotal = families
        .iter()
        .find(|f| f.name == "node_memory_MemTotal_bytes")
        .and_then(|f| f.samples.first())
        .map(|s| s.value)
        .expect("node_exporter serves node_memory_MemTotal_bytes");
    let served_cpu: BTreeSet<(String, String)> = families
        .iter()
        .filter(|f| f.name == "node_cpu_seconds_total")
        .flat_map(|f| f.samples.iter())
        .map(|s| {
            (
                s.labels.get("cpu").unwrap_or("").to_string(),
                s.labels.get("mode").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(!served_cpu.is_empty());

    let stored = sink.snapshot();
    let memtotal: Vec<&Series> = named(&stored, "node_memory_MemTotal_bytes").collect();
    assert!(!memtotal.is_empty());
    for series in &memtotal {
        assert_eq!(series.labels.get("job"), Some("node"));
        assert_eq!(series.labels.get("instance"), Some(instance.as_str()));
        assert_eq!(series.labels.get("env"), Some("test"));
        assert_eq!(series.samples[0].value, served_memtotal);
    }
    let stored_cpu: BTreeSet<(String, String)> = named(&stored, "node_cpu_seconds_total")
        .map(|s| {
            (
                s.labels.get("cpu").unwrap_or("").to_string(),
                s.labels.get("mode").unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(stored_cpu, served_cpu);
    let scraped = last_value(&stored, "scrape_samples_scraped", &instance).unwrap();
    assert!(scraped > 100.0, "only {scraped} samples scraped");
    assert!(last_value(&stored, "scrape_duration_seconds", &instance).unwrap() > 0.0);
    {
        let metadata = metadata_seen.lock().unwrap();
        let family = metadata[0]
            .families
            .iter()
            .find(|f| f.name == "node_cpu_seconds_total")
            .unwrap();
        assert_eq!(family.metric_type.as_str(), "counter");
        assert_eq!(metadata[0].job, "node");
    }

    // The exporter goes away: up 0 and staleness markers for its series.
    let before = sink.snapshot().len();
    let _ = exporter.0.kill();
    let _ = exporter.0.wait();
    let down = wait_for(Duration::from_secs(20), || {
        let after = sink.snapshot();
        let newer = after.get(before..).unwrap_or(&[]).to_vec();
        let up = last_value(&newer, "up", &instance)?;
        (up == 0.0).then_some(newer)
    })
    .await
    .expect("up did not become 0 after node_exporter was killed");
    let stale = named(&down, "node_memory_MemTotal_bytes")
        .any(|s| s.samples.iter().any(|x| is_stale_marker(x.value)));
    assert!(stale, "no staleness marker for node_memory_MemTotal_bytes");

    handle.stop().await;
    let after_stop = sink.snapshot();
    let up_stale = named(&after_stop, "up").last().unwrap();
    assert!(
        is_stale_marker(up_stale.samples[0].value),
        "up not marked stale at stop"
    );
}

/// Serves `body` with `content_type` on every path; records the Accept headers seen.
async fn serve(
    body: &'static str,
    content_type: &'static str,
    accepts: Arc<Mutex<Vec<String>>>,
) -> u16 {
    let app = axum::Router::new().route(
        "/metrics",
        get(move |headers: axum::http::HeaderMap| {
            let accepts = Arc::clone(&accepts);
            async move {
                if let Some(accept) = headers.get("accept").and_then(|v| v.to_str().ok()) {
                    accepts.lock().unwrap().push(accept.to_string());
                }
                ([("content-type", content_type)], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_changes_are_picked_up_and_removed_targets_go_stale() {
    let accepts = Arc::new(Mutex::new(Vec::new()));
    let port_a = serve(
        "# TYPE a_metric gauge\na_metric 1\n",
        "text/plain; version=0.0.4",
        Arc::clone(&accepts),
    )
    .await;
    let port_b = serve(
        "# TYPE b_metric counter\nb_metric_total 2 # {trace_id=\"x\"} 1\n# EOF\n",
        "application/openmetrics-text; version=1.0.0",
        Arc::clone(&accepts),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.json");
    let write_targets = |port: u16| {
        let staging = dir.path().join("staging.json");
        std::fs::write(
            &staging,
            format!(r#"[{{"targets":["127.0.0.1:{port}"],"labels":{{"team":"t{port}"}}}}]"#),
        )
        .unwrap();
        std::fs::rename(&staging, &file).unwrap();
    };
    write_targets(port_a);
    let sink = Arc::new(CollectingSink::default());
    let mut config = ScrapeConfig::new("sd");
    config.interval_seconds = 0.2;
    config.timeout_seconds = 2.0;
    config.file_sd_configs = vec![FileSdConfig {
        files: vec![file.clone()],
        refresh_interval_seconds: 0.1,
    }];
    let handle = spawn_scraper(
        config,
        Arc::clone(&sink) as Arc<dyn SampleSink>,
        None,
        ParseLimits::default(),
    );
    let instance_a = format!("127.0.0.1:{port_a}");
    let instance_b = format!("127.0.0.1:{port_b}");
    let got_a = wait_for(Duration::from_secs(10), || {
        last_value(&sink.snapshot(), "a_metric", &instance_a)
    })
    .await;
    assert_eq!(got_a, Some(1.0));
    let team = named(&sink.snapshot(), "a_metric")
        .next()
        .and_then(|s| s.labels.get("team").map(str::to_string));
    assert_eq!(team, Some(format!("t{port_a}")));

    tokio::time::sleep(Duration::from_millis(20)).await;
    write_targets(port_b);
    let got_b = wait_for(Duration::from_secs(10), || {
        last_value(&sink.snapshot(), "b_metric_total", &instance_b)
    })
    .await;
    assert_eq!(
        got_b,
        Some(2.0),
        "OpenMetrics target from the changed file not scraped"
    );
    let stored = sink.snapshot();
    let a_stale = last_value(&stored, "a_metric", &instance_a).is_some_and(is_stale_marker);
    let up_a_stale = last_value(&stored, "up", &instance_a).is_some_and(is_stale_marker);
    assert!(
        a_stale && up_a_stale,
        "removed target's series not marked stale"
    );
    handle.stop().await;
    let accepts = accepts.lock().unwrap();
    assert!(accepts
        .iter()
        .all(|a| a.starts_with("application/openmetrics-text")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_exporters_fail_the_scrape_not_the_scraper() {
    let huge: &'static str = Box::leak("big_metric 1\n".repeat(200_000).into_boxed_str());
    let app = axum::Router::new()
        .route("/huge", get(move || async move { huge }))
        .route(
            "/garbage",
            get(|| async { "{{{ this is not metrics \u{0}\u{1} ]]]\n" }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late 1\n"
            }),
        )
        .route(
            "/badom",
            get(|| async {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0",
                    )],
                    "# TYPE c counter\nc_total -5\n# EOF\n",
                )
            }),
        )
        .route("/fine", get(|| async { "fine_metric 7\n" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let group = |path: &str| TargetGroup {
        targets: vec![format!("127.0.0.1:{port}")],
        labels: BTreeMap::from([
            ("__metrics_path__".to_string(), format!("/{path}")),
            ("instance".to_string(), path.to_string()),
        ]),
    };
    let sink = Arc::new(CollectingSink::default());
    let mut config = ScrapeConfig::new("hostile");
    config.interval_seconds = 0.3;
    config.timeout_seconds = 0.5;
    config.body_limit_bytes = 1 << 20;
    config.static_configs = ["huge", "garbage", "slow", "badom", "fine"]
        .iter()
        .map(|p| group(p))
        .collect();
    let handle = spawn_scraper(
        config,
        Arc::clone(&sink) as Arc<dyn SampleSink>,
        None,
        ParseLimits::default(),
    );
    let all_seen = wait_for(Duration::from_secs(15), || {
        let stored = sink.snapshot();
        ["huge", "garbage", "slow", "badom", "fine"]
            .iter()
            .all(|i| last_value(&stored, "up", i).is_some())
            .then_some(stored)
    })
    .await
    .expect("every target reported up");
    for instance in ["huge", "garbage", "slow", "badom"] {
        assert_eq!(
            last_value(&all_seen, "up", instance),
            Some(0.0),
            "{instance}"
        );
        assert_eq!(
            last_value(&all_seen, "scrape_samples_scraped", instance),
            Some(0.0)
        );
    }
    let slow = last_value(&all_seen, "scrape_duration_seconds", "slow").unwrap();
    assert!((0.4..3.0).contains(&slow), "slow scrape took {slow}s");
    assert_eq!(last_value(&all_seen, "up", "fine"), Some(1.0));
    assert_eq!(last_value(&all_seen, "fine_metric", "fine"), Some(7.0));
    assert!(named(&all_seen, "big_metric").next().is_none());
    handle.stop().await;
    let _ = Labels::default();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_targets_are_verified_against_the_jobs_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    // A CA and a leaf it signs (a self-signed CA certificate cannot serve as a leaf).
    let path = |name: &str| dir.path().join(name);
    let (ca, cert, key) = (path("ca.pem"), path("cert.pem"), path("key.pem"));
    std::fs::write(
        path("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let steps: [Vec<&str>; 3] = [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=postwatch-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ],
        vec![
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    ];
    for args in steps {
        let made = std::process::Command::new("openssl")
            .args(&args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !made.is_ok_and(|status| status.success()) {
            assert!(
                !common::in_ci(),
                "openssl is needed to make test certificates"
            );
            println!("SKIPPED: openssl could not make test certificates");
            return;
        }
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
        .await
        .unwrap();
    let app = axum::Router::new().route("/metrics", get(|| async { "secure_metric 42\n" }));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum_server::from_tcp_rustls(listener, tls)
            .serve(app.into_make_service())
            .await
    });

    let job = |ca_file: Option<std::path::PathBuf>, instance: &str| {
        let mut config = ScrapeConfig::new("tls");
        config.scheme = "https".to_string();
        config.interval_seconds = 0.3;
        config.timeout_seconds = 3.0;
        config.tls.ca_file = ca_file;
        config.static_configs = vec![TargetGroup {
            targets: vec![format!("localhost:{port}")],
            labels: BTreeMap::from([("instance".to_string(), instance.to_string())]),
        }];
        config
    };
    let sink = Arc::new(CollectingSink::default());
    let trusted = spawn_scraper(
        job(Some(ca.clone()), "trusted"),
        Arc::clone(&sink) as Arc<dyn SampleSink>,
        None,
        ParseLimits::default(),
    );
    let untrusted = spawn_scraper(
        job(None, "untrusted"),
        Arc::clone(&sink) as Arc<dyn SampleSink>,
        None,
        ParseLimits::default(),
    );
    let seen = wait_for(Duration::from_secs(15), || {
        let stored = sink.snapshot();
        (last_value(&stored, "up", "trusted").is_some()
            && last_value(&stored, "up", "untrusted").is_some())
        .then_some(stored)
    })
    .await
    .expect("both https jobs reported up");
    assert_eq!(last_value(&seen, "up", "trusted"), Some(1.0));
    assert_eq!(last_value(&seen, "secure_metric", "trusted"), Some(42.0));
    assert_eq!(
        last_value(&seen, "up", "untrusted"),
        Some(0.0),
        "a self-signed certificate passed with the public roots"
    );
    trusted.stop().await;
    untrusted.stop().await;
}
