//! The fleet end to end, every part a separate process: `postwatch server`, agents
//! with `--root` on different test image root filesystems, CI uploads with
//! `scan --server`. Restarts, an outage with queued reports, and re-matching after an
//! advisory database update.

mod common;

use common::{images_dir, postwatch, testdata};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(config: &Path) -> Server {
        // The helper points POSTWATCH_DB nowhere; the environment would override the file.
        let mut child = postwatch()
            .env_remove("POSTWATCH_DB")
            .args(["server", "--config", config.to_str().unwrap()])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines.next().expect("server exited").expect("stderr");
            if let Some(rest) = line.strip_prefix("postwatch server listening on ") {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[server] {line}");
            }
        });
        Server { child, url }
    }

    fn stop(mut self) {
        // SIGINT: the server's graceful shutdown.
        unsafe_kill(self.child.id(), 2);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("server did not stop on SIGINT");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().expect("request");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
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

fn agent_once(
    url: &str,
    enrol: &str,
    root: &Path,
    name: &str,
    state: &Path,
) -> std::process::Output {
    postwatch()
        .args([
            "agent",
            "--server",
            url,
            "--token",
            enrol,
            "--root",
            root.to_str().unwrap(),
            "--name",
            name,
            "--state",
            state.to_str().unwrap(),
            "--once",
        ])
        .output()
        .unwrap()
}

fn truth(images: &Path, image: &str) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    for suffix in ["dpkg.tsv", "pypi.tsv"] {
        let Ok(text) = std::fs::read_to_string(images.join(format!("{image}.{suffix}"))) else {
            continue;
        };
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() >= 2 {
                set.insert((f[0].to_owned(), f[1].to_owned()));
            }
        }
    }
    set
}

fn asset_id(url: &str, tok: &str, name: &str) -> i64 {
    let (status, assets) = get(&format!("{url}/api/v1/assets?name={name}"), Some(tok));
    assert_eq!(status, 200, "{assets}");
    assets
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no asset {name}: {assets}"))["id"]
        .as_i64()
        .unwrap()
}

fn server_packages(url: &str, tok: &str, id: i64) -> BTreeSet<(String, String)> {
    let (status, inv) = get(&format!("{url}/api/v1/assets/{id}/packages"), Some(tok));
    assert_eq!(status, 200, "{inv}");
    inv["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn server_findings(url: &str, tok: &str, id: i64) -> BTreeSet<(String, String)> {
    let (status, list) = get(
        &format!("{url}/api/v1/findings?asset={id}&limit=10000"),
        Some(tok),
    );
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["finding"]["id"].as_str().unwrap().to_owned(),
                f["finding"]["package"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// What `postwatch scan` finds locally, to compare the server's matching with.
fn local_findings(root: &Path, db: &Path) -> BTreeSet<(String, String)> {
    let out = postwatch()
        .args([
            "scan",
            root.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "-f",
            "json",
            "-q",
            "--db-max-age",
            "1000000",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["package"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn import(db: &Path, paths: &[PathBuf]) {
    let out = postwatch()
        .args(["db", "import", "--db", db.to_str().unwrap()])
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Debian 12 root whose dpkg status the test edits between agent runs.
fn editable_root(dir: &Path) -> PathBuf {
    let root = dir.join("editable");
    let src = testdata("pkgdb/dpkg/debian-12-minbase-curl");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy(
        src.join("var/lib/dpkg/status"),
        root.join("var/lib/dpkg/status"),
    )
    .unwrap();
    std::fs::copy(src.join("usr/lib/os-release"), root.join("etc/os-release")).unwrap();
    root
}

fn stanza_names(status: &str) -> Vec<String> {
    status
        .lines()
        .filter_map(|l| l.strip_prefix("Package: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn agents_server_restart_outage_and_rematch() {
    let Some(images) = images_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = dir.path().join("advisories.db");
    import(
        &db,
        &[
            testdata("osv/PyPI/all.zip"),
            testdata("osv-built/Debian/all.zip"),
        ],
    );
    let config = dir.path().join("server.toml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nadvisory_db = \"{}\"\n[rematch]\ncheck_interval_secs = 1\n",
            data.display(),
            db.display()
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let url = server.url.clone();
    let user = token(&data, false);
    let enrol = token(&data, true);

    // Auth: health is open, everything else needs the right token.
    assert_eq!(get(&format!("{url}/healthz"), None).0, 200);
    assert_eq!(get(&format!("{url}/api/v1/assets"), None).0, 401);
    assert_eq!(
        get(&format!("{url}/api/v1/assets"), Some("pwu_nonsense")).0,
        401
    );
    let (status, openapi) = get(&format!("{url}/api/openapi.json"), Some(&user));
    assert_eq!(status, 200);
    assert_eq!(openapi["openapi"], "3.1.0");

    // Three agents at once, each a process with its own root and state.
    let hosts = ["bookworm-minbase", "bullseye-py", "bookworm-pyapp"];
    let children: Vec<_> = hosts
        .iter()
        .map(|image| {
            let root = images.join(format!("{image}.rootfs"));
            let state = dir.path().join(format!("agent-{image}"));
            let (url, enrol, image) = (url.clone(), enrol.clone(), image.to_string());
            std::thread::spawn(move || agent_once(&url, &enrol, &root, &image, &state))
        })
        .collect();
    for (image, child) in hosts.iter().zip(children) {
        let out = child.join().unwrap();
        assert!(
            out.status.success(),
            "agent {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut expected_findings = Vec::new();
    for image in hosts {
        let id = asset_id(&url, &user, image);
        assert_eq!(
            server_packages(&url, &user, id),
            truth(&images, image),
            "{image}"
        );
        let local = local_findings(&images.join(format!("{image}.rootfs")), &db);
        assert_eq!(server_findings(&url, &user, id), local, "{image}");
        expected_findings.push((image, id, local));
    }
    // An agent's credential reports but does not read the fleet.
    let credential =
        std::fs::read_to_string(dir.path().join("agent-bullseye-py/credential")).unwrap();
    assert_eq!(
        get(&format!("{url}/api/v1/assets"), Some(credential.trim())).0,
        403
    );
    let (_, summary) = get(&format!("{url}/api/v1/fleet/summary"), Some(&user));
    let total: u64 = expected_findings
        .iter()
        .map(|(_, _, f)| f.len() as u64)
        .sum();
    assert_eq!(summary["findings"]["total"]["total"], total, "{summary}");

    // Restart: everything is still there.
    server.stop();
    let server = Server::start(&config);
    for (image, id, local) in &expected_findings {
        assert_eq!(asset_id(&url, &user, image), *id);
        assert_eq!(server_packages(&url, &user, *id), truth(&images, image));
        assert_eq!(&server_findings(&url, &user, *id), local);
    }

    // Outage: the server is down while the host changes twice; the agent queues.
    let root = editable_root(dir.path());
    let state = dir.path().join("agent-editable");
    let out = agent_once(&url, &enrol, &root, "editable", &state);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
    let status_path = root.join("var/lib/dpkg/status");
    let status = std::fs::read_to_string(&status_path).unwrap();
    let names = stanza_names(&status);
    // First change: drop one package; second: drop another.
    for dropped in [&names[3], &names[7]] {
        let current = std::fs::read_to_string(&status_path).unwrap();
        let kept: Vec<&str> = current
            .split("\n\n")
            .filter(|s| !s.starts_with(&format!("Package: {dropped}\n")))
            .collect();
        std::fs::write(&status_path, kept.join("\n\n")).unwrap();
        let out = agent_once(&url, &enrol, &root, "editable", &state);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let queued = std::fs::read_dir(state.join("queue"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert_eq!(queued, 2, "both inventories wait in the queue");
    let server = Server::start(&config);
    let out = agent_once(&url, &enrol, &root, "editable", &state);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = asset_id(&url, &user, "editable");
    let now: BTreeSet<String> = server_packages(&url, &user, id)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let expected: BTreeSet<String> = stanza_names(&std::fs::read_to_string(&status_path).unwrap())
        .into_iter()
        .collect();
    assert_eq!(now, expected);
    assert_eq!(now.len(), names.len() - 2);
    assert!(!now.contains(&names[3]) && !now.contains(&names[7]));

    // A database update re-matches stored inventories without any agent.
    let minbase = expected_findings[0].1;
    let records = dir.path().join("new-records");
    std::fs::create_dir_all(&records).unwrap();
    let libc = truth(&images, "bookworm-minbase")
        .into_iter()
        .find(|(n, _)| n == "libc6")
        .unwrap()
        .1;
    std::fs::write(
        records.join("PW-REMATCH-1.json"),
        serde_json::json!({
            "id": "PW-REMATCH-1", "modified": "2026-11-27T00:00:00Z",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": format!("{libc}+pw1")}]}]}],
        })
        .to_string(),
    )
    .unwrap();
    import(&db, &[records]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = server_findings(&url, &user, minbase);
        if found.contains(&("PW-REMATCH-1".to_owned(), "libc6".to_owned())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no re-match within 20 s: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let (_, list) = get(
        &format!("{url}/api/v1/findings?asset={minbase}&id=PW-REMATCH-1"),
        Some(&user),
    );
    assert!(
        list[0]["first_seen"]
            .as_str()
            .is_some_and(|s| s.starts_with("20")),
        "{list}"
    );

    // CI: an image uploaded with scan --server joins the same fleet.
    let image = images.join("bookworm-py.docker.tar");
    let out = postwatch()
        .args([
            "scan",
            image.to_str().unwrap(),
            "--server",
            &url,
            "--token",
            &user,
            "--no-vulns",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, assets) = get(&format!("{url}/api/v1/assets?kind=image"), Some(&user));
    let uploaded = &assets.as_array().unwrap()[0];
    assert_eq!(uploaded["kind"], "image");
    let id = uploaded["id"].as_i64().unwrap();
    assert_eq!(
        server_packages(&url, &user, id),
        truth(&images, "bookworm-py")
    );
    server.stop();
}

/// The agent reads what processes use before its inventory and keeps only those owned
/// files: what a chrooted python3 loads must still reach the server as in-use packages.
#[test]
fn agent_reports_the_packages_chrooted_processes_load() {
    let Some(images) = images_dir() else { return };
    let root = images.join("bookworm-py.rootfs");
    let Some(_python) = common::chrooted_python(
        &root,
        "import ssl, sqlite3, time; print('ready', flush=True); time.sleep(120)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{}\"\ndata_dir = \"{}\"\n",
            free_port(),
            data.display()
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let url = server.url.clone();
    let out = agent_once(
        &url,
        &token(&data, true),
        &root,
        "py-host",
        &dir.path().join("agent"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user = token(&data, false);
    let id = asset_id(&url, &user, "py-host");
    let (status, inventory) = get(&format!("{url}/api/v1/assets/{id}/packages"), Some(&user));
    assert_eq!(status, 200);
    let in_use = &inventory["in_use"];
    assert_eq!(in_use["processes"], 1, "{in_use}");
    let loaded: BTreeSet<&str> = in_use["packages"]
        .as_array()
        .expect("in-use packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["libssl3", "libsqlite3-0", "python3.11-minimal", "libc6"] {
        assert!(loaded.contains(name), "{name} not in use: {loaded:?}");
    }
    for name in ["curl", "libcurl4", "apt"] {
        assert!(!loaded.contains(name), "{name} in use: {loaded:?}");
    }
    // The whole inventory still arrived.
    assert_eq!(
        server_packages(&url, &user, id),
        truth(&images, "bookworm-py")
    );
    server.stop();
}
