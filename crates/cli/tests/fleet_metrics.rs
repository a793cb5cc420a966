//! Host metrics end to end, every part a separate process: `postwatch server` and
//! `postwatch agent --metrics-interval 1s`. The server's Prometheus API answers with the
//! kernel's own numbers; the server is then stopped for several intervals and started
//! again on the same data directory, and the samples the agent took meanwhile arrive,
//! in order, with no gap. A last test stops `postwatch up` with SIGTERM.

mod common;

use common::postwatch;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A child process killed when the test ends, whatever happens; its stderr is echoed
/// and kept for assertions.
struct Process {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn spawn(mut command: std::process::Command, tag: &'static str) -> Process {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start postwatch");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[{tag}] {line}");
                kept.lock().unwrap().push(line);
            }
        });
        Process { child, stderr }
    }

    fn stderr_has(&self, text: &str) -> bool {
        self.stderr.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// Sends `signal` and waits for the exit status.
    fn stop(&mut self, signal: i32, within: Duration) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process {} did not stop within {within:?}", self.child.id());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/api/v1/query`; `None` while the server does not answer.
fn query(base: &str, token: &str, q: &str, at: Option<f64>) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut url = format!("{base}/api/v1/query?query={}", encode(q));
    if let Some(at) = at {
        url.push_str(&format!("&time={at:.3}"));
    }
    let mut response = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .ok()?;
    let status = response.status().as_u16();
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()?;
    assert_eq!(status, 200, "{q}: {body}");
    Some(body)
}

fn results(body: &Value) -> Vec<Value> {
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn token(data: &Path, enrolment: bool) -> String {
    let mut cmd = postwatch();
    cmd.args(["token", "--data", data.to_str().unwrap()]);
    if enrolment {
        cmd.arg("--enrolment");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn server(config: &Path) -> Process {
    let mut command = postwatch();
    command
        .env_remove("POSTWATCH_DB")
        .args(["server", "--config", config.to_str().unwrap()]);
    Process::spawn(command, "server")
}

fn wait_for<T>(what: &str, within: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn mem_total_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024.0
}

/// `cpuN` lines of /proc/stat.
fn cpus() -> usize {
    std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
}

/// The raw sample timestamps of one series over `[from, to]`, oldest first.
fn timestamps(base: &str, token: &str, selector: &str, from: f64, to: f64) -> Vec<f64> {
    let window = (to - from).ceil() as u64;
    let body = query(base, token, &format!("{selector}[{window}s]"), Some(to)).unwrap();
    let series = results(&body);
    assert_eq!(series.len(), 1, "{body}");
    series[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[0].as_f64().unwrap())
        .filter(|&t| t >= from)
        .collect()
}

#[test]
fn host_metrics_arrive_and_survive_a_server_outage() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\n", data),
    )
    .unwrap();
    let api = token(&data, false);
    let enrol = token(&data, true);
    let base = format!("http://127.0.0.1:{port}");

    let mut server_process = server(&config);
    wait_for("the server listens", Duration::from_secs(30), || {
        server_process
            .stderr_has("postwatch server listening on")
            .then_some(())
    });
    let state = dir.path().join("agent");
    let mut agent_command = postwatch();
    agent_command.args([
        "agent",
        "--server",
        &base,
        "--token",
        &enrol,
        "--name",
        "metrics-host",
        "--state",
        state.to_str().unwrap(),
        "--metrics-interval",
        "1s",
        "--no-in-use",
    ]);
    let agent = Process::spawn(agent_command, "agent");

    // Host metrics start at once, whatever the inventory of / is doing meanwhile.
    let started = Instant::now();
    let memory = wait_for("MemTotal from the agent", Duration::from_secs(30), || {
        let body = query(
            &base,
            &api,
            "node_memory_MemTotal_bytes{job=\"node\",instance=\"metrics-host\"}",
            None,
        )?;
        results(&body).first().cloned()
    });
    eprintln!("first host metrics after {:?}", started.elapsed());
    let value: f64 = memory["value"][1].as_str().unwrap().parse().unwrap();
    assert_eq!(value, mem_total_bytes(), "{memory}");
    // Every cpu × the eight modes of /proc/stat.
    let cpu = query(
        &base,
        &api,
        "count(node_cpu_seconds_total{instance=\"metrics-host\"})",
        None,
    )
    .unwrap();
    assert_eq!(
        results(&cpu)[0]["value"][1].as_str(),
        Some((cpus() * 8).to_string().as_str()),
        "{cpu}"
    );
    let modes = query(
        &base,
        &api,
        "count by (mode) (node_cpu_seconds_total{instance=\"metrics-host\"})",
        None,
    )
    .unwrap();
    let mut seen: Vec<String> = results(&modes)
        .iter()
        .map(|r| r["metric"]["mode"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]
    );

    // Some samples before the outage, then the server goes away for ~6 intervals.
    std::thread::sleep(Duration::from_secs(3));
    let before_outage = now_s() - 2.0;
    let stopped_at = now_s();
    let status = server_process.stop(15, Duration::from_secs(15));
    assert!(status.success(), "server exit status {status:?}");
    drop(server_process);
    std::thread::sleep(Duration::from_secs(6));
    wait_for("the agent queues", Duration::from_secs(10), || {
        agent.stderr_has("host metrics not delivered").then_some(())
    });
    let restarted_at = now_s();
    let server_process = server(&config);
    // Delivered in order: the newest sample arrives last, after the whole backlog.
    let caught_up = wait_for("the backlog is delivered", Duration::from_secs(60), || {
        let body = query(
            &base,
            &api,
            "timestamp(node_load1{instance=\"metrics-host\"})",
            None,
        )?;
        let newest = results(&body).first()?["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()?;
        (newest > restarted_at + 1.0).then_some(newest)
    });
    assert!(agent.stderr_has("host metrics are delivered again"));

    // Every interval of the window, the outage included, has its sample.
    let stamps = timestamps(
        &base,
        &api,
        "node_load1{instance=\"metrics-host\"}",
        before_outage,
        caught_up,
    );
    let in_outage = stamps
        .iter()
        .filter(|&&t| t > stopped_at && t < restarted_at)
        .count();
    assert!(
        in_outage as f64 >= (restarted_at - stopped_at).floor() - 1.0,
        "{in_outage} samples in the {:.1} s outage: {stamps:?}",
        restarted_at - stopped_at
    );
    eprintln!(
        "{} samples from {before_outage:.1} to {caught_up:.1}, {in_outage} in the {:.1} s outage",
        stamps.len(),
        restarted_at - stopped_at
    );
    for pair in stamps.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap > 0.0 && gap < 1.9,
            "a gap of {gap:.3} s between samples: {stamps:?}"
        );
    }
    // count_over_time sees exactly these samples.
    let window = (caught_up - before_outage).ceil() as u64;
    let counted = query(
        &base,
        &api,
        &format!("count_over_time(node_load1{{instance=\"metrics-host\"}}[{window}s])"),
        Some(caught_up),
    )
    .unwrap();
    let all = timestamps(
        &base,
        &api,
        "node_load1{instance=\"metrics-host\"}",
        caught_up - window as f64,
        caught_up,
    );
    assert_eq!(
        results(&counted)[0]["value"][1].as_str(),
        Some(all.len().to_string().as_str()),
        "{counted}"
    );
    drop(agent);
    drop(server_process);
}

/// The WAL segments' record framing (`u32 length, u32 crc, payload`) ends exactly at
/// the end of each file: no record was cut short, and no zeroed space written ahead
/// for future records was left behind (a clean close trims it).
fn wal_is_whole(wal: &Path) -> Result<usize, String> {
    let mut records = 0;
    let mut segments: Vec<PathBuf> = std::fs::read_dir(wal)
        .map_err(|e| e.to_string())?
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    for segment in segments {
        let bytes = std::fs::read(&segment).map_err(|e| e.to_string())?;
        let mut at = 0usize;
        while at < bytes.len() {
            let header = bytes
                .get(at..at + 8)
                .ok_or_else(|| format!("{}: header cut at {at}", segment.display()))?;
            let length = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
            if length == 0 {
                return Err(format!(
                    "{}: an empty record at {at} (space written ahead, not trimmed)",
                    segment.display()
                ));
            }
            at += 8 + length;
            if at > bytes.len() {
                return Err(format!("{}: record cut short", segment.display()));
            }
            records += 1;
        }
    }
    Ok(records)
}

#[test]
fn postwatch_up_stops_promptly_on_sigterm_with_a_whole_wal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut command = postwatch();
    command.args([
        "up",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    let mut up = Process::spawn(command, "up");
    let base = format!("http://127.0.0.1:{port}");
    let api = wait_for("the API token", Duration::from_secs(30), || {
        std::fs::read_to_string(data.join("api-token"))
            .ok()
            .filter(|t| !t.trim().is_empty())
    });
    // The local agent's first host metrics: the store is being written to.
    wait_for(
        "host metrics from the local agent",
        Duration::from_secs(60),
        || {
            let body = query(&base, api.trim(), "node_memory_MemTotal_bytes", None)?;
            results(&body).first().cloned()
        },
    );
    let asked = Instant::now();
    let status = up.stop(15, Duration::from_secs(10));
    let took = asked.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    assert!(up.stderr_has("stopping"));
    let records = wal_is_whole(&data.join("metrics/wal")).unwrap();
    assert!(records > 0);
    // The data directory is free again (locks released) and keeps what was stored.
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\n", data),
    )
    .unwrap();
    let again = server(&config);
    let kept = wait_for(
        "the restarted server answers",
        Duration::from_secs(30),
        || {
            query(
                &base,
                api.trim(),
                "node_memory_MemTotal_bytes",
                Some(now_s()),
            )
        },
    );
    assert_eq!(
        results(&kept)[0]["value"][1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap(),
        mem_total_bytes()
    );
    drop(again);
}
