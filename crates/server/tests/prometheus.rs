//! The Prometheus-compatible edge with real peers: a real Prometheus scrapes a real
//! node_exporter and remote_writes to `postwatch server`; the query API then answers
//! with Prometheus' shapes (what Grafana's data source reads), the values equal what the
//! kernel says, the server also scrapes the node_exporter itself from its config, and
//! forwards what it stores to a second Prometheus (remote_write receiver).

use postwatch_server::{start, Config};
use serde_json::Value;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn have(path: &str) -> bool {
    let found = std::path::Path::new(path).exists();
    if !found {
        assert!(
            !in_ci(),
            "{path} is required under CI=true (scripts/test.sh installs it)"
        );
        eprintln!("SKIPPED: {path} not installed");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mem_total_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("MemTotal");
    kib * 1024.0
}

fn get(url: &str, auth: Option<&str>) -> (u16, Value) {
    let mut request = ureq::get(url);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    match request.config().http_status_as_error(false).build().call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn query(base: &str, auth: &str, q: &str, instance: &str) -> Value {
    let url = format!(
        "{base}/api/v1/query?query={}",
        form_urlencoded_like(&q.replace("INSTANCE", instance))
    );
    let (status, body) = get(&url, Some(auth));
    assert_eq!(status, 200, "{q}: {body}");
    body
}

fn form_urlencoded_like(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_remote_writes_and_the_query_api_answers_like_prometheus() {
    if !have("/usr/bin/prometheus") || !have("/usr/bin/prometheus-node-exporter") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exporter_port = free_port();
    let _exporter = Killed(
        Command::new("/usr/bin/prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter starts"),
    );

    // A second Prometheus only receives: the server forwards what it stores to it.
    let receiver_port = free_port();
    std::fs::write(dir.path().join("empty.yml"), "global: {}\n").unwrap();
    let _receiver = Killed(
        Command::new("/usr/bin/prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("empty.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("receiver").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{receiver_port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );

    // The server also scrapes the exporter itself, under its own job name.
    let config_text = format!(
        "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n[[metrics.scrape]]\njob_name = \"direct\"\ninterval_seconds = 1\nstatic_configs = [{{ targets = [\"127.0.0.1:{exporter_port}\"] }}]\n[[metrics.remote_write]]\nurl = \"http://127.0.0.1:{receiver_port}/api/v1/write\"\n",
        dir.path().join("data")
    );
    let config_path = dir.path().join("postwatch.toml");
    std::fs::write(&config_path, config_text).unwrap();
    let config = Config::from_file(&config_path).expect("config parses");
    let running = start(config).await.expect("server starts");
    let base = format!("http://{}", running.addr);
    let token = running.state.store.create_api_token("test").unwrap();
    let bearer = format!("Bearer {token}");

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\nremote_write:\n  - url: {base}/api/v1/write\n    authorization:\n      credentials: {token}\n    queue_config:\n      batch_send_deadline: 1s\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );

    let instance = format!("127.0.0.1:{exporter_port}");
    let base_for_wait = base.clone();
    let bearer_for_wait = bearer.clone();
    let instance_for_wait = instance.clone();
    // Wait (off the async threads) until both paths delivered memory samples.
    let (remote, direct) = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let remote = query(
                &base_for_wait,
                &bearer_for_wait,
                "node_memory_MemTotal_bytes{job=\"node\",instance=\"INSTANCE\"}",
                &instance_for_wait,
            );
            let direct = query(
                &base_for_wait,
                &bearer_for_wait,
                "node_memory_MemTotal_bytes{job=\"direct\",instance=\"INSTANCE\"}",
                &instance_for_wait,
            );
            let has = |v: &Value| {
                v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            };
            if has(&remote) && has(&direct) {
                return (remote, direct);
            }
            assert!(
                Instant::now() < deadline,
                "no samples after 90 s: remote_write {remote}, scrape {direct}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await
    .unwrap();

    let expected = mem_total_bytes();
    for (path, body) in [("remote_write", &remote), ("scrape", &direct)] {
        assert_eq!(body["status"], "success");
        assert_eq!(body["data"]["resultType"], "vector");
        let sample = &body["data"]["result"][0];
        assert_eq!(sample["metric"]["__name__"], "node_memory_MemTotal_bytes");
        let value: f64 = sample["value"][1].as_str().unwrap().parse().unwrap();
        assert_eq!(value, expected, "{path}: MemTotal");
    }

    let b = base.clone();
    let auth = bearer.clone();
    let inst = instance.clone();
    tokio::task::spawn_blocking(move || {
        // Grafana's health check.
        let one_plus_one = query(&b, &auth, "1+1", &inst);
        assert_eq!(one_plus_one["data"]["resultType"], "scalar");
        assert_eq!(one_plus_one["data"]["result"][1], "2");

        // `up` from the server's own scrape, and a range query over CPU rates.
        let up = query(&b, &auth, "up{job=\"direct\"}", &inst);
        assert_eq!(up["data"]["result"][0]["value"][1], "1");
        std::thread::sleep(Duration::from_secs(3));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (status, range) = get(
            &format!(
                "{b}/api/v1/query_range?query={}&start={}&end={now}&step=1",
                form_urlencoded_like(
                    "sum by (mode) (rate(node_cpu_seconds_total{job=\"node\"}[3s]))"
                ),
                now - 30
            ),
            Some(&auth),
        );
        assert_eq!(status, 200, "{range}");
        assert_eq!(range["data"]["resultType"], "matrix");
        let modes: Vec<&str> = range["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["metric"]["mode"].as_str())
            .collect();
        assert!(
            modes.contains(&"idle") && modes.contains(&"user"),
            "{range}"
        );

        // Metadata APIs.
        let (_, labels) = get(&format!("{b}/api/v1/labels"), Some(&auth));
        let names: Vec<&str> = labels["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        for expected in ["__name__", "instance", "job", "mode", "cpu"] {
            assert!(
                names.contains(&expected),
                "labels lack {expected}: {labels}"
            );
        }
        let (_, jobs) = get(&format!("{b}/api/v1/label/job/values"), Some(&auth));
        assert_eq!(jobs["data"], serde_json::json!(["direct", "node"]));
        let (_, series) = get(
            &format!(
                "{b}/api/v1/series?match[]={}",
                form_urlencoded_like("node_load1")
            ),
            Some(&auth),
        );
        assert_eq!(
            series["data"].as_array().map(|a| a.len()),
            Some(2),
            "{series}"
        );
        let (_, metadata) = get(
            &format!("{b}/api/v1/metadata?metric=node_load1"),
            Some(&auth),
        );
        assert_eq!(
            metadata["data"]["node_load1"][0]["type"], "gauge",
            "{metadata}"
        );
        let (status, build) = get(&format!("{b}/api/v1/status/buildinfo"), Some(&auth));
        assert_eq!(status, 200);
        assert!(build["data"]["version"].is_string());

        // Prometheus' error shape, and authentication.
        let (status, bad) = get(&format!("{b}/api/v1/query?query=sum(("), Some(&auth));
        assert_eq!(status, 400);
        assert_eq!(bad["status"], "error");
        assert_eq!(bad["errorType"], "bad_data");
        let (status, _) = get(&format!("{b}/api/v1/query?query=up"), None);
        assert_eq!(status, 401);
        use base64::Engine as _;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("grafana:{}", auth.trim_start_matches("Bearer ")))
        );
        let (status, _) = get(&format!("{b}/api/v1/query?query=up"), Some(&basic));
        assert_eq!(status, 200);

        // Forwarding: the receiving Prometheus has the server's own scrape.
        let receiver = format!("http://127.0.0.1:{receiver_port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, forwarded) = get(
                &format!(
                    "{receiver}/api/v1/query?query={}",
                    form_urlencoded_like("node_memory_MemTotal_bytes{job=\"direct\"}")
                ),
                None,
            );
            if let Some(value) = forwarded["data"]["result"][0]["value"][1].as_str() {
                assert_eq!(
                    value.parse::<f64>().unwrap(),
                    mem_total_bytes(),
                    "{forwarded}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nothing forwarded in 60 s: {forwarded}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await
    .unwrap();
    running.shutdown().await.unwrap();
}

/// bcrypt (cost 4) of `forward-s3cret`, made with Python's `crypt` module: the
/// receiving Prometheus' `--web.config.file` takes only hashes.
const FORWARD_PASSWORD_HASH: &str = "$2b$04$ILhED0LiNnzu3KnPZbN3MOv9QPLfPypgShAHgmhmaKGWRfuA3hdCK";
const PROXY_TOKEN: &str = "proxy-t0ken";

/// A CA and a certificate for 127.0.0.1 it signs, made with openssl in `dir`
/// (`ca.pem`, `cert.pem`, `key.pem`); `None` (a skip, outside CI) without openssl.
fn make_certificates(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
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
        &[
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
        &[
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
        let made = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !made.is_ok_and(|status| status.success()) {
            assert!(!in_ci(), "openssl is needed to make test certificates");
            eprintln!("SKIPPED: openssl could not make test certificates");
            return None;
        }
    }
    Some(dir.join("ca.pem"))
}

/// A server in a runtime of its own, so that dropping the runtime closes everything
/// the server opened (as a process exit would) and the data directory can be opened
/// again.
fn start_in_runtime(
    config: &std::path::Path,
) -> (tokio::runtime::Runtime, postwatch_server::Running) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config::from_file(config).expect("config parses");
    let running = runtime.block_on(start(config)).expect("server starts");
    (runtime, running)
}

fn stop_runtime(runtime: tokio::runtime::Runtime, running: postwatch_server::Running) {
    runtime.block_on(running.shutdown()).unwrap();
    runtime.shutdown_timeout(Duration::from_secs(5));
}

/// Writes `forward_probe` samples `values` (one a second, ending two minutes ago plus
/// the value) to the server's remote_write endpoint.
fn write_probe(base: &str, token: &str, start_ms: i64, values: std::ops::Range<i64>) {
    use postwatch_model::metrics::{Labels, Sample, Series};
    let series = Series {
        labels: Labels::from_pairs([("__name__", "forward_probe"), ("job", "probe")]),
        samples: values
            .map(|v| Sample {
                timestamp_ms: start_ms + v * 1000,
                value: v as f64,
            })
            .collect(),
    };
    let body = postwatch_metricsio::remote_write::encode_write_request(&[series], &[]);
    let response = ureq::post(&format!("{base}/api/v1/write"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .send(&body[..])
        .expect("remote_write to the server");
    assert_eq!(response.status().as_u16(), 204);
}

/// What the token proxy let through and refused.
#[derive(Default)]
struct ProxyLog {
    forwarded: usize,
    refused: usize,
    upstream_failures: usize,
}

/// A loopback proxy that admits only `Authorization: Bearer PROXY_TOKEN` with
/// `X-Scope-OrgID: team-a` and passes the request on to a Prometheus receiver.
fn start_token_proxy(
    runtime: &tokio::runtime::Runtime,
    port: u16,
    upstream: String,
) -> std::sync::Arc<std::sync::Mutex<ProxyLog>> {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};
    let log = Arc::new(Mutex::new(ProxyLog::default()));
    let kept = Arc::clone(&log);
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = Arc::clone(&kept);
            let upstream = upstream.clone();
            async move {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                if header("authorization") != Some(&format!("Bearer {PROXY_TOKEN}"))
                    || header("x-scope-orgid") != Some("team-a")
                {
                    log.lock().unwrap().refused += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let status = tokio::task::spawn_blocking(move || {
                    ureq::post(&upstream)
                        .header("Content-Encoding", "snappy")
                        .header("Content-Type", "application/x-protobuf")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                        .config()
                        .http_status_as_error(false)
                        .build()
                        .send(&body[..])
                        .map(|r| r.status().as_u16())
                        .unwrap_or(502)
                })
                .await
                .unwrap_or(502);
                let mut log = log.lock().unwrap();
                if (200..300).contains(&status) {
                    log.forwarded += 1;
                } else {
                    log.upstream_failures += 1;
                }
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .expect("proxy port");
    runtime.spawn(async move { axum::serve(listener, app).await });
    log
}

fn prometheus_receiver(
    dir: &std::path::Path,
    name: &str,
    port: u16,
    web_config: Option<&std::path::Path>,
) -> Killed {
    std::fs::write(dir.join("empty.yml"), "global: {}\n").unwrap();
    let mut command = Command::new("/usr/bin/prometheus");
    command
        .arg(format!("--config.file={}", dir.join("empty.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join(name).display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(web_config) = web_config {
        command.arg(format!("--web.config.file={}", web_config.display()));
    }
    Killed(command.spawn().expect("prometheus starts"))
}

/// A GET over http or https (trusting `ca`), with our own client: the status and the
/// JSON body, `None` while nothing answers.
fn fetch(url: &str, auth: Option<&str>, ca: Option<&std::path::Path>) -> Option<(u16, Value)> {
    use postwatch_metricsio::http::{request_with_tls, TlsClient, TlsOptions};
    let tls = ca.map(|ca| {
        TlsClient::new(&TlsOptions {
            ca_file: Some(ca.to_owned()),
            server_name: None,
        })
        .expect("the test CA loads")
    });
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime
        .block_on(request_with_tls(
            url,
            &headers,
            None,
            Duration::from_secs(10),
            1 << 20,
            tls.as_ref(),
        ))
        .ok()?;
    Some((
        response.status,
        serde_json::from_slice(&response.body).unwrap_or(Value::Null),
    ))
}

/// `count_over_time` and `sum_over_time` of the probe at a receiver, once it answers.
fn probe_at(
    receiver: &str,
    auth: Option<&str>,
    ca: Option<&std::path::Path>,
) -> Option<(f64, f64)> {
    let value = |q: &str| -> Option<f64> {
        let url = format!("{receiver}/api/v1/query?query={}", form_urlencoded_like(q));
        let (_, body) = fetch(&url, auth, ca)?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    };
    Some((
        value("count_over_time(forward_probe{job=\"probe\"}[15m])")?,
        value("sum_over_time(forward_probe{job=\"probe\"}[15m])")?,
    ))
}

#[test]
fn forwarding_is_authenticated_and_loses_nothing_across_an_outage_and_a_restart() {
    if !have("/usr/bin/prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(ca) = make_certificates(dir.path()) else {
        return;
    };
    let password_file = dir.path().join("forward-password");
    std::fs::write(&password_file, "forward-s3cret\n").unwrap();
    let token_file = dir.path().join("proxy-token");
    std::fs::write(&token_file, format!("{PROXY_TOKEN}\n")).unwrap();
    let (basic_port, plain_port, proxy_port) = (free_port(), free_port(), free_port());
    let config_path = dir.path().join("postwatch.toml");
    std::fs::write(
        &config_path,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n\
             [[metrics.remote_write]]\nurl = \"https://127.0.0.1:{basic_port}/api/v1/write\"\n\
             basic_auth = {{ username = \"forwarder\", password_file = {password_file:?} }}\n\
             tls = {{ ca_file = {ca:?} }}\n\
             [[metrics.remote_write]]\nurl = \"http://127.0.0.1:{proxy_port}/api/v1/write\"\n\
             bearer_token_file = {token_file:?}\nheaders = {{ \"X-Scope-OrgID\" = \"team-a\" }}\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 120_000;

    // Both destinations are down: the server stores and spools, then stops.
    let (runtime, running) = start_in_runtime(&config_path);
    let token = running.state.store.create_api_token("test").unwrap();
    write_probe(&format!("http://{}", running.addr), &token, start_ms, 0..30);
    std::thread::sleep(Duration::from_millis(500));
    stop_runtime(runtime, running);
    let spooled: u64 = std::fs::read_dir(dir.path().join("data/metrics-forward"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    assert!(spooled > 0, "nothing spooled for the absent destinations");

    // The destinations come up: one behind Prometheus' own basic auth, one behind a
    // token proxy. The restarted server delivers the backlog, then new samples.
    let web_config = dir.path().join("web.yml");
    std::fs::write(
        &web_config,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  forwarder: {FORWARD_PASSWORD_HASH}\n",
            dir.path().join("cert.pem").display(),
            dir.path().join("key.pem").display()
        ),
    )
    .unwrap();
    let _basic = prometheus_receiver(dir.path(), "basic", basic_port, Some(&web_config));
    let _plain = prometheus_receiver(dir.path(), "plain", plain_port, None);
    let proxy_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy_log = start_token_proxy(
        &proxy_runtime,
        proxy_port,
        format!("http://127.0.0.1:{plain_port}/api/v1/write"),
    );
    let (runtime, running) = start_in_runtime(&config_path);
    write_probe(
        &format!("http://{}", running.addr),
        &token,
        start_ms,
        30..60,
    );

    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("forwarder:forward-s3cret")
    );
    let expected = (60.0, (0..60).sum::<i64>() as f64);
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut at_basic, mut at_plain) = (None, None);
    while Instant::now() < deadline {
        at_basic = probe_at(
            &format!("https://127.0.0.1:{basic_port}"),
            Some(&basic),
            Some(&ca),
        );
        at_plain = probe_at(&format!("http://127.0.0.1:{plain_port}"), None, None);
        if at_basic == Some(expected) && at_plain == Some(expected) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Without credentials the receiver refuses: the samples below came with them.
    let unauthenticated = fetch(
        &format!("https://127.0.0.1:{basic_port}/api/v1/query?query=up"),
        None,
        Some(&ca),
    );
    assert_eq!(unauthenticated.map(|(status, _)| status), Some(401));
    assert_eq!(at_basic, Some(expected), "basic-auth destination");
    assert_eq!(at_plain, Some(expected), "token-proxy destination");
    {
        let log = proxy_log.lock().unwrap();
        assert!(log.forwarded > 0);
        // Every request carried the token and the tenant header. (Requests before
        // the upstream Prometheus listened got 502 and were retried.)
        assert_eq!(log.refused, 0);
    }
    stop_runtime(runtime, running);
    proxy_runtime.shutdown_timeout(Duration::from_secs(1));
}
