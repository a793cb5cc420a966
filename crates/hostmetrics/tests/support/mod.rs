//! The real node_exporter as a test peer: start it on a free loopback port, scrape it,
//! read its CPU time and RSS from /proc, and parse its text exposition.

#![allow(dead_code)] // The test and the benchmark each use part of it.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Whether node_exporter can run here. Under `CI=true` its absence is a failure (the
/// comparison is the point of the test); elsewhere the caller prints SKIPPED.
pub fn node_exporter_available(what: &str) -> bool {
    if std::path::Path::new(NODE_EXPORTER).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{NODE_EXPORTER} is missing (apt-get install prometheus-node-exporter); CI must run {what}");
    }
    eprintln!("SKIPPED {what}: {NODE_EXPORTER} is not installed (apt-get install prometheus-node-exporter)");
    false
}

/// A running node_exporter, killed on drop.
pub struct NodeExporter {
    child: Child,
    pub address: String,
}

impl NodeExporter {
    /// Starts it with its default collectors plus `extra_args`, and waits until it answers.
    pub fn start(extra_args: &[&str]) -> NodeExporter {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(NODE_EXPORTER)
            .arg(format!("--web.listen-address={address}"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter starts");
        let exporter = NodeExporter { child, address };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&exporter.address).is_err() {
            assert!(
                Instant::now() < deadline,
                "node_exporter did not listen on {}",
                exporter.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        exporter
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One scrape of `/metrics`: the body.
    pub fn scrape(&self) -> String {
        let mut stream = TcpStream::connect(&self.address).expect("connect to node_exporter");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            stream,
            "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.address
        )
        .expect("send request");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("read response");
        let response = String::from_utf8(response).expect("UTF-8 exposition");
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP head and body");
        assert!(
            head.starts_with("HTTP/1.") && head.contains(" 200 "),
            "{head}"
        );
        body.to_string()
    }

    /// Its user + system CPU seconds so far, from /proc/PID/stat.
    pub fn cpu_seconds(&self) -> f64 {
        process_cpu_seconds(self.pid())
    }

    /// Its resident set in bytes, from /proc/PID/status.
    pub fn rss_bytes(&self) -> f64 {
        process_rss_bytes(self.pid())
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of `pid` in seconds (USER_HZ is 100 on Linux).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after_comm = &text[text.rfind(')').expect("comm") + 1..];
    let fields: Vec<&str> = after_comm.split_ascii_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5); fields[0] is field 3.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

/// VmRSS of `pid` in bytes.
pub fn process_rss_bytes(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = text
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: f64 = line
        .split_ascii_whitespace()
        .nth(1)
        .expect("value")
        .parse()
        .expect("number");
    kib * 1024.0
}

/// One parsed family of the text exposition.
#[derive(Debug, Default, Clone)]
pub struct ScrapedFamily {
    pub metric_type: String,
    /// (labels without empty values, value)
    pub samples: Vec<(BTreeMap<String, String>, f64)>,
}

/// Parses Prometheus' text exposition format 0.0.4 (the parts node_exporter writes:
/// `# TYPE`, samples with quoted, escaped label values, Go floats). Histogram and
/// summary children are filed under their own sample names.
pub fn parse_exposition(text: &str) -> HashMap<String, ScrapedFamily> {
    let mut families: HashMap<String, ScrapedFamily> = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, metric_type) = rest.split_once(' ').expect("TYPE line");
            families.entry(name.to_string()).or_default().metric_type = metric_type.to_string();
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("sample name");
        let name = &line[..name_end];
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(after_brace) = rest.strip_prefix('{') {
            let mut chars = after_brace.char_indices().peekable();
            let consumed;
            loop {
                while chars.peek().is_some_and(|(_, c)| *c == ',' || *c == ' ') {
                    chars.next();
                }
                match chars.peek() {
                    Some((i, '}')) => {
                        consumed = i + 1;
                        break;
                    }
                    None => panic!("unterminated labels in {line:?}"),
                    _ => {}
                }
                let mut label = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    label.push(c);
                }
                assert_eq!(
                    chars.next().map(|(_, c)| c),
                    Some('"'),
                    "quoted value in {line:?}"
                );
                let mut value = String::new();
                loop {
                    match chars.next().map(|(_, c)| c) {
                        Some('"') => break,
                        Some('\\') => match chars.next().map(|(_, c)| c) {
                            Some('n') => value.push('\n'),
                            Some(c) => value.push(c),
                            None => panic!("dangling escape in {line:?}"),
                        },
                        Some(c) => value.push(c),
                        None => panic!("unterminated value in {line:?}"),
                    }
                }
                if !value.is_empty() {
                    labels.insert(label, value);
                }
            }
            rest = &after_brace[consumed..];
        }
        let value_text = rest.split_ascii_whitespace().next().expect("sample value");
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        families
            .entry(name.to_string())
            .or_default()
            .samples
            .push((labels, value));
    }
    families
}

#[test]
fn exposition_parser_handles_escapes_and_empty_values() {
    let text =
        "# HELP x help\n# TYPE x gauge\nx{a=\"1,b=2\",c=\"q\\\"uote\",d=\"\"} 1.5e+09\ny 3\n";
    let families = parse_exposition(text);
    let x = &families["x"];
    assert_eq!(x.metric_type, "gauge");
    assert_eq!(x.samples[0].0.get("a").map(String::as_str), Some("1,b=2"));
    assert_eq!(x.samples[0].0.get("c").map(String::as_str), Some("q\"uote"));
    assert!(!x.samples[0].0.contains_key("d"));
    assert_eq!(x.samples[0].1, 1.5e9);
    assert_eq!(families["y"].samples[0].1, 3.0);
}
